"""Read and write tables chunk by chunk, so that a stage never holds a million rows as pandas objects.

- `read_columns`: only the columns a stage uses of a Parquet file.
- `ArrowChunks`: a Parquet file held as Arrow columns (compact: no Python object per cell), handed
  out as pandas slices of `size` rows with the same dtypes and index as `pd.read_parquet(...).iloc`.
- `ChunkedParquetWriter`: each chunk goes to a part file as it comes; `finish` joins the parts into
  one Parquet file (one row group per chunk), with column types unified across parts (a chunk whose
  column is all missing does not fix its type) and, optionally, columns computed once every chunk is
  known (`score`'s repeat complainers need every customer's earlier complaints).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def present_columns(path: Path | str, columns: list[str]) -> list[str]:
    """Those of `columns` the Parquet file has, in that order, each once (only its schema is read)."""
    present = set(pq.read_schema(path).names)
    return [c for c in dict.fromkeys(columns) if c in present]


def read_columns(path: Path | str, columns: list[str]) -> pd.DataFrame:
    """Only these columns of a Parquet file (those it has): a stage that uses 5 of the scored
    table's ~55 columns reads 5, which at a million verbatims is gigabytes less."""
    return pd.read_parquet(path, columns=present_columns(path, columns))


class ArrowChunks:
    """A Parquet file read once into Arrow memory, served as pandas chunks."""

    def __init__(self, path: Path | str, columns: list[str] | None = None) -> None:
        self.table = pq.read_table(path, columns=present_columns(path, columns) if columns is not None else None)

    def __len__(self) -> int:
        return self.table.num_rows

    def column(self, name: str) -> pd.Series:
        return self.table.column(name).to_pandas()

    def rows(self, start: int, stop: int) -> pd.DataFrame:
        """Rows `start:stop` as pandas, indexed `start..stop-1` like `frame.iloc[start:stop]`."""
        frame = self.table.slice(start, max(0, stop - start)).to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        return frame

    def take(self, positions) -> pd.DataFrame:
        """The rows at `positions` (in that order) as pandas, indexed 0..n-1."""
        return self.table.take(pa.array(positions, type=pa.int64())).to_pandas()


class ChunkedParquetWriter:
    """Write pandas chunks to one Parquet file without holding them all; use as a context manager.

    Parts live in a temporary folder beside `path` and are removed whether or not `finish` ran, so
    a failed stage leaves no half-written output behind.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self._parts: list[tuple[Path, int, int]] = []  # (file, first row, rows)
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        part = self._dir / f"part-{len(self._parts):05d}.parquet"
        frame.to_parquet(part, index=False)
        self._parts.append((part, self.rows, len(frame)))
        self.rows += len(frame)

    def finish(self, extra: Callable[[int, int], dict[str, pa.Array]] | None = None) -> int:
        """Join the parts into `path`; `extra(first_row, n_rows)` adds columns to each part (last).

        Returns the number of rows written.
        """
        part_schemas = [pq.read_schema(part) for part, _, _ in self._parts]
        if not part_schemas:
            raise ValueError("no chunk was written")
        extras = [extra(first, n) if extra else {} for _, first, n in self._parts]
        extra_schemas = [pa.schema([(name, values.type) for name, values in columns.items()]) for columns in extras]
        schema = pa.unify_schemas(part_schemas + extra_schemas, promote_options="permissive")
        # pandas metadata (Int64 and other pandas dtypes) from a part that has every column, if any
        names = set().union(*(s.names for s in part_schemas))
        complete = [s for s in part_schemas if set(s.names) == names]
        schema = schema.with_metadata((complete or part_schemas)[0].metadata)
        with pq.ParquetWriter(self.path, schema) as writer:
            for (part, _, _), columns in zip(self._parts, extras, strict=True):
                table = pq.read_table(part)
                table = table.drop_columns([name for name in columns if name in table.column_names])
                for name, values in columns.items():
                    table = table.append_column(name, values)
                for field in schema:
                    if field.name not in table.column_names:
                        table = table.append_column(field.name, pa.nulls(table.num_rows, field.type))
                writer.write_table(table.select(schema.names).cast(schema))
        return self.rows

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> ChunkedParquetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
