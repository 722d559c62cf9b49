"""The `voix` command: every stage's CLI under one name, plus the tools users run by hand.

`voix ingest SOURCE ...` is the same as `python -m pipeline.ingest SOURCE ...`. Errors that voix
anticipates (a missing column, an unreadable file) print one clear message and exit with code 2,
without a traceback.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.errors import VoixError

_app = typer.Typer(
    help="voix: customer verbatims in, tone, themes, irritants, routing and a report out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def setup_logging() -> None:
    """Log what is read and what is dropped, one line per step."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a stage, turning a `VoixError` into a clean message and exit code 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        setup_logging()
        try:
            return func(*args, **kwargs)
        except VoixError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2) from None

    return wrapper


def run_stage(main: Callable[..., Any]) -> None:
    """Expose a stage's `main` as a command line (`python -m pipeline.<stage> ...`)."""
    command = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    command.command()(_guard(main))
    command(prog_name=f"python -m {main.__module__}")


def _register() -> typer.Typer:
    """The `voix` app with its commands. Registered on first use, not at import: importing the
    stages pulls in scikit-learn and SciPy (~3 s), which a stage importing `run_stage` never needs."""
    if not _app.registered_commands:
        from pipeline import consolidate, embed, ingest, predict, train

        stages = (("ingest", ingest), ("consolidate", consolidate), ("embed", embed), ("train-stage", train))
        for name, module in stages:
            _app.command(name, help=module.main.__doc__)(_guard(module.main))
        _app.command("train", help=predict.train_command.__doc__)(_guard(_train))
        _app.command("predict", help=predict.predict_command.__doc__)(_guard(predict.predict_command))
    return _app


def __getattr__(name: str) -> Any:
    """`from pipeline.cli import app`: the app, its commands registered."""
    if name == "app":
        return _register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _train(
    labels: Annotated[Path, typer.Option(help="CSV / XLSX / JSONL with a text column and a label column")],
    target: Annotated[str, typer.Option(help="the label column")],
    model_dir: Annotated[Path, typer.Option(help="where to save the model")],
    text_column: Annotated[str, typer.Option(help="the text column")] = "text",
    params_file: Annotated[Path, typer.Option(help="embedding and classifier settings")] = Path("params.yaml"),
) -> None:
    """Fit a classifier on any label set and print its held-out accuracy."""
    from pipeline.predict import train_command

    train_command(labels, target, model_dir, text_column, params_file)


def main() -> None:  # pragma: no cover - console entry point
    """Entry point of the `voix` console script."""
    _register()(prog_name="voix")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
