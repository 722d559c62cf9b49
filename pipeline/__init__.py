"""voix: a text-mining pipeline for customer verbatims (French first, English too).

Each DVC stage is one module of this package (`pipeline.ingest`, `pipeline.consolidate`, ...),
with a pure core and a thin CLI. `pipeline.cli` gathers them under the `voix` command.
"""

import os

# No model may be fetched from a hub at run time: a missing model must fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__version__ = "0.1.0"
