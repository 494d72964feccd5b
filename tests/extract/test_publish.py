"""The DuckDB publish stays atomic and idempotent on both of its paths.

A batch whose cursors are all past the newest raw row is inserted without the anti-join
(nothing can be a duplicate); a batch that overlaps raw goes through the anti-join.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from orchestration.extract.landing import land_batches, parquet_options
from orchestration.warehouse.base import LoadRequest
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("total", pa.decimal128(18, 2)),
        pa.field("note", pa.string()),
        pa.field("updated_at", pa.timestamp("us"), nullable=False),
    ]
)
T0 = dt.datetime(2026, 1, 1)


def _rows(ids: range, *, minutes: int = 0) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(
        [
            {
                "id": i,
                "total": Decimal(f"{i}.25"),
                "note": f"n{i % 3}",
                "updated_at": T0 + dt.timedelta(minutes=i + minutes),
            }
            for i in ids
        ],
        schema=SCHEMA,
    )


def _publish(wh: DuckDBWarehouse, tmp_path: Path, batch_id: str, *batches: pa.RecordBatch):
    landed = land_batches(batches, SCHEMA, tmp_path / f"{batch_id}.parquet", "updated_at")
    return wh.publish(
        LoadRequest(
            dataset="raw_ops",
            table="items",
            landing_file=landed.path,
            key_columns=("id",),
            cursor_column="updated_at",
            batch_id=batch_id,
            arrow_schema=SCHEMA,
        )
    )


def _raw(wh: DuckDBWarehouse) -> list[tuple]:
    with wh.connect(read_only=True) as con:
        return con.execute(
            "select id, total, updated_at, _batch_id from raw_ops.items order by all"
        ).fetchall()


def test_first_load_inserts_everything_and_records_the_mark(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    result = _publish(wh, tmp_path, "b1", _rows(range(1, 101)))
    assert (result.rows_landed, result.rows_inserted) == (100, 100)
    assert result.high_water_mark == T0 + dt.timedelta(minutes=100)
    assert wh.high_water_mark("raw_ops", "items") == result.high_water_mark


def test_republishing_the_same_rows_adds_nothing(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    _publish(wh, tmp_path, "b1", _rows(range(1, 101)))
    before = _raw(wh)
    again = _publish(wh, tmp_path, "b2", _rows(range(1, 101)))
    assert again.rows_inserted == 0
    assert _raw(wh) == before


def test_an_overlapping_batch_inserts_only_new_versions(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    _publish(wh, tmp_path, "b1", _rows(range(1, 101)))
    # Rows 91-100 again (the lookback window), 91-95 also in a later version, 101-110 new.
    overlap = _publish(wh, tmp_path, "b2", _rows(range(91, 111)), _rows(range(91, 96), minutes=1000))
    assert overlap.rows_landed == 25
    assert overlap.rows_inserted == 15
    with wh.connect(read_only=True) as con:
        assert con.execute(
            "select count(*), count(distinct (id, updated_at)) from raw_ops.items"
        ).fetchone() == (
            115,
            115,
        )


def test_a_batch_past_the_newest_raw_row_is_appended_whole(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    _publish(wh, tmp_path, "b1", _rows(range(1, 11)))
    later = _publish(wh, tmp_path, "b2", _rows(range(1, 11), minutes=60))
    assert later.rows_inserted == 10
    assert len(_raw(wh)) == 20


def test_a_failed_publish_leaves_raw_and_the_ledger_unchanged(tmp_path, monkeypatch):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    _publish(wh, tmp_path, "b1", _rows(range(1, 11)))
    before = _raw(wh)
    mark = wh.high_water_mark("raw_ops", "items")

    real_execute = duckdb.DuckDBPyConnection.execute

    def fail_on_ledger(self, query, *args, **kwargs):
        if "insert into" in query and '"_loads"' in query:
            raise RuntimeError("crash between the rows and the ledger")
        return real_execute(self, query, *args, **kwargs)

    original_connect = wh.connect

    class _Proxy:
        def __init__(self, con):
            self._con = con

        def execute(self, query, *args, **kwargs):
            return fail_on_ledger(self._con, query, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._con, name)

    from contextlib import contextmanager

    @contextmanager
    def connect(*, read_only=False):
        with original_connect(read_only=read_only) as con:
            yield _Proxy(con)

    monkeypatch.setattr(wh, "connect", connect)
    with pytest.raises(RuntimeError, match="crash between"):
        _publish(wh, tmp_path, "b2", _rows(range(11, 21)))
    monkeypatch.undo()
    assert _raw(wh) == before
    assert wh.high_water_mark("raw_ops", "items") == mark


def test_landing_options_dictionary_encode_text_only():
    options = parquet_options(SCHEMA)
    assert options["use_dictionary"] == ["note"]
    assert options["store_decimal_as_integer"] is True


def test_a_landed_file_reads_back_with_exact_types(tmp_path):
    landed = land_batches([_rows(range(1, 6))], SCHEMA, tmp_path / "x.parquet", "updated_at")
    import pyarrow.parquet as pq

    table = pq.read_table(landed.path)
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.column("total").to_pylist()[0] == Decimal("1.25")
    assert landed.max_cursor == T0 + dt.timedelta(minutes=5)
