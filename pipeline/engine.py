"""Where the per-verbatim work runs: in this process (`local`) or on a Dask cluster (`dask`).

The per-verbatim stages (ingest redaction, nlp, embed, score) cut their table into chunks of
`engine.chunk_rows` rows and hand each chunk to a *pure* function: a module-level function of the
chunk and of plain, picklable settings, that loads the models it needs through a per-process cache
(`worker_cache`). The local engine calls that function chunk after chunk in this process; the
Dask engine sends the same calls to the workers of a `dask.distributed` cluster and returns the
results in chunk order. Same function, same chunks, same order: the outputs are identical, which
`tests/test_engine.py` checks on a local cluster of 2 worker processes.

params.yaml:

    engine:
      name: dask
      scheduler: tcp://scheduler.example:8786   # null: start a local cluster of n_workers processes
      n_workers: 2
      chunk_rows: 20000

What never leaves the node that runs `dvc repro`: reading and writing the Parquet files, training,
topic fitting, KPIs, alerts and the report.

Within one process, `map_forked` spreads batches over forked processes (spaCy NER and analysis):
the workers inherit the loaded model and send back plain rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.errors import VoixError

log = logging.getLogger("voix.engine")

_CACHE: dict[tuple, Any] = {}


def worker_cache(key: tuple, build: Callable[[], Any]) -> Any:
    """One instance per process of what `build` makes (a spaCy pipeline, an embedder, models).

    Dask workers keep it between tasks, so each worker loads a model once, not once per chunk.
    """
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


@dataclass
class EngineConfig:
    """The `engine` section of params.yaml."""

    name: str = "local"
    scheduler: str | None = None
    n_workers: int = 2
    chunk_rows: int = 20000

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> EngineConfig:
        section = dict((params or {}).get("engine") or {})
        config = cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})
        if config.name not in ("local", "dask"):
            raise VoixError(f"engine.name is {config.name!r}: use `local` or `dask`.")
        if int(config.chunk_rows) < 1:
            raise VoixError("engine.chunk_rows must be at least 1.")
        return config


def chunk_bounds(n_rows: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive chunks of at most `size` rows; one empty chunk when there is no
    row, so that a stage run on an empty table still writes every column."""
    size = max(1, size)
    if n_rows == 0:
        yield 0, 0
    for start in range(0, n_rows, size):
        yield start, min(n_rows, start + size)


def chunks(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    """Consecutive slices of at most `size` rows (at least one slice, even for an empty frame)."""
    for start, stop in chunk_bounds(len(frame), size):
        yield frame.iloc[start:stop]


class Engine:
    """Maps a pure function over chunks, locally or on Dask; use as a context manager."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.client = None
        self._cluster = None
        if self.config.name == "dask":
            self._connect()

    @property
    def name(self) -> str:
        return self.config.name

    def _connect(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise VoixError(
                "engine.name is dask but dask.distributed is not installed: `pip install distributed`."
            ) from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if self.config.scheduler:
            try:
                self.client = Client(self.config.scheduler, timeout="30s")
            except OSError as exc:
                raise VoixError(f"cannot reach the Dask scheduler {self.config.scheduler!r}: {exc}") from None
            log.info(
                "Dask scheduler %s: %d workers", self.config.scheduler, len(self.client.scheduler_info()["workers"])
            )
        else:
            self._cluster = LocalCluster(
                n_workers=int(self.config.n_workers),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.WARNING,
                env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
            )
            self.client = Client(self._cluster)
            log.info("Dask local cluster: %d worker processes", int(self.config.n_workers))

    def split(self, frame: pd.DataFrame) -> list[pd.DataFrame]:
        """The parts a stage hands to `map`: the whole table locally (the stage may use its own
        processes), chunks of `chunk_rows` on Dask."""
        if self.client is None:
            return [frame]
        return list(chunks(frame, int(self.config.chunk_rows)))

    def map(self, func: Callable[..., Any], parts: Iterable[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """`func(part, *args, **kwargs)` for every part, results in the parts' order.

        On Dask at most two tasks per worker are in flight, so a large table is never all in the
        scheduler's memory at once.
        """
        if self.client is None:
            for part in parts:
                yield func(part, *args, **kwargs)
            return
        window = max(2, 2 * len(self.client.scheduler_info()["workers"]))
        pending: deque = deque()
        for part in parts:
            pending.append(self.client.submit(func, part, *args, pure=False, **kwargs))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def share(self, value: Any) -> Any:
        """`value` sent once to every worker (trained models), to pass to `map` as an argument."""
        if self.client is None:
            return value
        return self.client.scatter(value, broadcast=True, hash=False)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_engine(params: dict[str, Any] | None) -> Engine:
    return Engine(EngineConfig.from_params(params))


_FORKED: dict[str, Callable[[Any], Any]] = {}


def _call_forked(item: Any) -> Any:
    return _FORKED["func"](item)


def _set_forked(func: Callable[[Any], Any]) -> None:
    _FORKED["func"] = func


def map_forked(
    func: Callable[[Any], Any], items: Sequence[Any], n_process: int = 1, desc: str | None = None
) -> list[Any]:
    """`[func(item) for item in items]`, on `n_process` forked processes when more than one.

    Forked workers inherit `func` and what it holds (a loaded spaCy pipeline) without pickling;
    only the items and the results travel, so return plain Python data. `desc` names a progress bar.
    """
    from tqdm.auto import tqdm

    progress = {"total": len(items), "desc": desc, "disable": desc is None or len(items) < 20, "mininterval": 5}
    if n_process <= 1 or len(items) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return [func(item) for item in tqdm(items, **progress)]
    context = multiprocessing.get_context("fork")
    with context.Pool(min(n_process, len(items)), initializer=_set_forked, initargs=(func,)) as pool:
        return list(tqdm(pool.imap(_call_forked, items), **progress))
