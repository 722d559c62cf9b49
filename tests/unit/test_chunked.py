"""Tables read and written chunk by chunk give back what pandas would, whatever the chunks hold."""

import pandas as pd
import pyarrow as pa
import pytest

from pipeline.chunked import ArrowChunks, ChunkedParquetWriter, read_columns
from pipeline.engine import chunk_bounds


def test_arrow_chunks_are_the_slices_of_the_table(tmp_path):
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "nps": pd.array([9, None, 3, 10, None], dtype="Int64"),
            "date": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-04", "2026-01-05"]),
        }
    )
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    chunks = ArrowChunks(tmp_path / "t.parquet")
    assert len(chunks) == 5
    pd.testing.assert_frame_equal(chunks.rows(2, 4), frame.iloc[2:4])
    pd.testing.assert_frame_equal(chunks.take([4, 0]), frame.iloc[[4, 0]].reset_index(drop=True))
    assert list(ArrowChunks(tmp_path / "t.parquet", columns=["nps", "absent"]).table.column_names) == ["nps"]
    assert list(chunk_bounds(5, 2)) == [(0, 2), (2, 4), (4, 5)]
    assert list(chunk_bounds(0, 2)) == [(0, 0)]  # an empty table is still one (empty) chunk


def test_written_chunks_join_into_the_concatenated_table(tmp_path):
    parts = [
        pd.DataFrame({"id": ["a", "b"], "label": [None, None], "n": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"id": ["c"], "label": ["x"], "n": pd.array([3], dtype="Int64"), "late": [1.5]}),
        pd.DataFrame({"id": pd.Series([], dtype=str), "label": pd.Series([], dtype=object)}),
    ]
    with ChunkedParquetWriter(tmp_path / "out.parquet") as writer:
        for part in parts:
            writer.write(part)
        assert writer.finish(lambda first, n: {"flag": pa.array([first + i == 1 for i in range(n)])}) == 3
    got = pd.read_parquet(tmp_path / "out.parquet")
    expected = pd.concat(parts, ignore_index=True)
    expected["flag"] = [False, True, False]
    assert got["n"].dtype == "Int64"  # pandas dtypes survive
    pd.testing.assert_frame_equal(got.drop(columns="label"), expected.drop(columns="label"), check_dtype=False)
    # the all-missing "label" of the first part takes the type of the others
    assert got["label"].isna().tolist() == [True, True, False] and got["label"][2] == "x"
    assert list(got.columns) == ["id", "label", "n", "late", "flag"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # the parts are gone


def test_a_failed_write_leaves_no_output_and_no_parts(tmp_path):
    with pytest.raises(RuntimeError), ChunkedParquetWriter(tmp_path / "out.parquet") as writer:
        writer.write(pd.DataFrame({"id": ["a"]}))
        raise RuntimeError("the stage failed")
    assert list(tmp_path.iterdir()) == []


def test_read_columns_reads_only_the_columns_asked_that_the_file_has(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "other": [1, 2]}).to_parquet(path)
    frame = read_columns(path, ["text", "id", "missing", "text"])
    assert list(frame.columns) == ["text", "id"]
    assert list(frame["id"]) == ["a", "b"]
