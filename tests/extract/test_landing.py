"""The landing writer: batches written on a background thread, errors raised in the caller."""

from __future__ import annotations

import datetime as dt
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.extract.landing import discard_landing_file, land_batches, prepare_landing_file

SCHEMA = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us"))])


def _batch(start: int, n: int) -> pa.RecordBatch:
    ids = list(range(start, start + n))
    times = [dt.datetime(2026, 1, 1) + dt.timedelta(seconds=i) for i in ids]
    return pa.record_batch([pa.array(ids), pa.array(times, pa.timestamp("us"))], schema=SCHEMA)


def test_every_batch_lands_in_order_with_the_newest_cursor(tmp_path):
    landed = land_batches(
        (_batch(i * 1000, 1000) for i in range(25)), SCHEMA, tmp_path / "t.parquet", "updated_at"
    )
    table = pq.read_table(landed.path)
    assert landed.rows == table.num_rows == 25_000
    assert table.column("id").to_pylist() == list(range(25_000))
    assert landed.max_cursor == dt.datetime(2026, 1, 1) + dt.timedelta(seconds=24_999)


def test_a_write_error_reaches_the_caller_and_no_file_is_landed(tmp_path):
    wrong = pa.record_batch(
        [pa.array(["x"]), pa.array([None], pa.timestamp("us"))], names=["id", "updated_at"]
    )
    with pytest.raises(ValueError, match="schema does not match"):
        land_batches(
            iter([_batch(0, 10), wrong, _batch(10, 10)]), SCHEMA, tmp_path / "t.parquet", "updated_at"
        )
    assert not (tmp_path / "t.parquet").exists()
    assert not [t for t in threading.enumerate() if t.name == "landing-writer"]


def test_a_read_error_stops_the_writer_thread(tmp_path):
    def batches():
        yield _batch(0, 10)
        raise RuntimeError("COPY of 'orders' through psql failed")

    with pytest.raises(RuntimeError, match="orders"):
        land_batches(batches(), SCHEMA, tmp_path / "t.parquet", "updated_at")
    assert not (tmp_path / "t.parquet").exists()
    assert not [t for t in threading.enumerate() if t.name == "landing-writer"]


def test_a_batch_lands_under_its_table_after_a_killed_runs_files_are_swept(tmp_path):
    table_dir = tmp_path / "raw_ops" / "orders"
    table_dir.mkdir(parents=True)
    for leftover in ("killed.parquet", "killed.parquet.partial", "killed.rejected.parquet"):
        (table_dir / leftover).write_bytes(b"half a file")
    (table_dir / "README.txt").write_text("not a landing file")
    path = prepare_landing_file(tmp_path, "raw_ops", "orders", "run 1:orders/2")
    assert path == table_dir / "run_1_orders_2.parquet"
    assert sorted(p.name for p in table_dir.iterdir()) == ["README.txt"]
    land_batches(iter([_batch(0, 10)]), SCHEMA, path, "updated_at")
    path.with_suffix(".parquet.partial").write_bytes(b"x")
    discard_landing_file(path)
    assert sorted(p.name for p in table_dir.iterdir()) == ["README.txt"]
