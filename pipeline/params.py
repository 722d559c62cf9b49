"""Reading `params.yaml`, the single place where voix is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import VoixError

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    """Load the YAML parameters file.

    Args:
        path: path of the parameters file.

    Returns:
        The parsed parameters as nested dicts.
    """
    path = Path(path)
    if not path.exists():
        raise VoixError(f"{path}: parameters file not found (run voix from the project root).")
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise VoixError(f"{path} is not valid YAML: {exc}") from None
