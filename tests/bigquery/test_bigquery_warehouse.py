"""BigQueryWarehouse against the BigQuery emulator: types, idempotency, atomicity, drift."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.extract.landing import land_batches
from orchestration.warehouse.base import LOAD_LEDGER, LoadRequest, SchemaDriftError
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse

pytestmark = pytest.mark.bigquery

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("credit_limit", pa.decimal128(18, 2)),
        pa.field("first_order_date", pa.date32()),
        pa.field("updated_at", pa.timestamp("us")),
        pa.field("is_active", pa.bool_()),
        pa.field("score", pa.float64()),
    ]
)
T0 = dt.datetime(2024, 3, 1, 12, 0, 0, 123456)


def customers(ids: range, *, updated_at: dt.datetime = T0, schema: pa.Schema = SCHEMA) -> pa.Table:
    n = len(ids)
    columns = {
        "id": list(ids),
        "name": [f"Farmácia {i} 'Ltda'" if i % 5 else None for i in ids],
        "credit_limit": [Decimal(f"{i * 1000}.25") for i in ids],
        "first_order_date": [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in ids],
        "updated_at": [updated_at + dt.timedelta(seconds=i) for i in ids],
        "is_active": [i % 2 == 0 for i in ids],
        "score": [i / 3 for i in ids],
        "segment": ["gold"] * n,
    }
    return pa.table({name: columns[name] for name in schema.names}, schema=schema)


def land(tmp_path: Path, table: pa.Table, batch_id: str, *, name: str = "customers") -> LoadRequest:
    landed = land_batches(
        table.to_batches(max_chunksize=7), table.schema, tmp_path / f"{batch_id}.parquet", "updated_at"
    )
    return LoadRequest(
        dataset="raw_ops",
        table=name,
        landing_file=landed.path,
        key_columns=("id",),
        cursor_column="updated_at",
        batch_id=batch_id,
        arrow_schema=table.schema,
    )


def raw_rows(warehouse: BigQueryWarehouse, table: str = "customers") -> list[dict]:
    rows = warehouse.client.query(
        f"select * from `{warehouse.table_ref('raw_ops', table)}` order by id, updated_at"
    )
    return [dict(row) for row in rows.result()]


def test_publish_loads_every_type_and_records_the_high_water_mark(warehouse, tmp_path):
    assert warehouse.high_water_mark("raw_ops", "customers") is None
    batch = customers(range(1, 21))

    result = warehouse.publish(land(tmp_path, batch, "b1"))

    assert (result.rows_landed, result.rows_inserted) == (20, 20)
    assert result.previous_high_water_mark is None
    assert result.high_water_mark == T0 + dt.timedelta(seconds=20)
    assert warehouse.high_water_mark("raw_ops", "customers") == T0 + dt.timedelta(seconds=20)
    assert warehouse.row_count("raw_ops", "customers") == 20

    table = warehouse.client.get_table(warehouse.table_ref("raw_ops", "customers"))
    # BigQuery reports legacy type names (INTEGER, FLOAT, BOOLEAN); the emulator does not.
    legacy = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
    assert [(f.name, legacy.get(f.field_type, f.field_type)) for f in table.schema] == [
        ("id", "INT64"),
        ("name", "STRING"),
        ("credit_limit", "NUMERIC"),
        ("first_order_date", "DATE"),
        ("updated_at", "TIMESTAMP"),
        ("is_active", "BOOL"),
        ("score", "FLOAT64"),
        ("_batch_id", "STRING"),
        ("_loaded_at", "TIMESTAMP"),
    ]
    rows = raw_rows(warehouse)
    first, fifth = rows[0], rows[4]
    assert first["name"] == "Farmácia 1 'Ltda'" and fifth["name"] is None
    assert first["credit_limit"] == Decimal("1000.25")
    assert first["first_order_date"] == dt.date(2023, 1, 2)
    assert first["updated_at"] == (T0 + dt.timedelta(seconds=1)).replace(tzinfo=dt.UTC)
    assert (first["is_active"], rows[1]["is_active"]) == (False, True)
    assert first["score"] == pytest.approx(1 / 3)
    assert {r["_batch_id"] for r in rows} == {"b1"}
    assert all(isinstance(r["_loaded_at"], dt.datetime) for r in rows)


def test_publishing_the_same_batch_twice_adds_nothing(warehouse, tmp_path):
    batch = customers(range(1, 11))
    warehouse.publish(land(tmp_path, batch, "b1"))

    again = warehouse.publish(land(tmp_path, batch, "b1-retry"))

    assert (again.rows_landed, again.rows_inserted) == (10, 0)
    assert warehouse.row_count("raw_ops", "customers") == 10
    assert again.high_water_mark == again.previous_high_water_mark == T0 + dt.timedelta(seconds=10)


def test_an_overlapping_batch_adds_only_new_versions(warehouse, tmp_path):
    warehouse.publish(land(tmp_path, customers(range(1, 11)), "b1"))
    later = T0 + dt.timedelta(hours=1)
    overlap = pa.concat_tables([customers(range(6, 11)), customers(range(1, 4), updated_at=later)])

    result = warehouse.publish(land(tmp_path, overlap, "b2"))

    assert result.rows_inserted == 3
    assert warehouse.row_count("raw_ops", "customers") == 13
    assert warehouse.high_water_mark("raw_ops", "customers") == later + dt.timedelta(seconds=3)


def test_a_failing_publish_leaves_raw_table_and_ledger_unchanged(warehouse, tmp_path, monkeypatch):
    warehouse.publish(land(tmp_path, customers(range(1, 6)), "b1"))
    mark = warehouse.high_water_mark("raw_ops", "customers")
    original = BigQueryWarehouse.publish_script

    def failing_between_ledger_and_rows(self, request, **kwargs):
        script = original(self, request, **kwargs)
        # Staging is committed by now: fail after the ledger insert, before the row insert.
        raw_insert = f"insert into `{kwargs['raw_ref']}`"
        assert raw_insert in script
        return script.replace(raw_insert, "select error('injected failure');\n" + raw_insert)

    monkeypatch.setattr(BigQueryWarehouse, "publish_script", failing_between_ledger_and_rows)
    later = T0 + dt.timedelta(days=1)
    with pytest.raises(Exception, match="injected failure"):
        warehouse.publish(land(tmp_path, customers(range(1, 11), updated_at=later), "b2"))

    assert warehouse.row_count("raw_ops", "customers") == 5
    assert warehouse.high_water_mark("raw_ops", "customers") == mark
    ledger = warehouse.client.query(f"select batch_id from `{warehouse.table_ref('raw_ops', LOAD_LEDGER)}`")
    assert [row.batch_id for row in ledger.result()] == ["b1"]
    leftovers = [t.table_id for t in warehouse.client.list_tables(warehouse.dataset_id("raw_ops"))]
    assert not [t for t in leftovers if t.startswith("_stage_")]


def test_an_added_column_is_added(warehouse, tmp_path):
    warehouse.publish(land(tmp_path, customers(range(1, 6)), "b1"))
    wider = SCHEMA.append(pa.field("segment", pa.string()))
    batch = customers(range(6, 9), schema=wider)

    assert warehouse.check_schema("raw_ops", "customers", wider) == ["segment"]
    result = warehouse.publish(land(tmp_path, batch, "b2"))

    assert result.columns_added == ("segment",)
    rows = raw_rows(warehouse)
    assert [r["segment"] for r in rows] == [None] * 5 + ["gold"] * 3
    assert warehouse.check_schema("raw_ops", "customers", wider) == []


def test_a_dropped_column_is_refused_naming_table_and_column(warehouse, tmp_path):
    warehouse.publish(land(tmp_path, customers(range(1, 6)), "b1"))
    narrower = pa.schema([f for f in SCHEMA if f.name != "credit_limit"])

    with pytest.raises(SchemaDriftError, match=r"raw_ops\.customers.*'credit_limit'"):
        warehouse.check_schema("raw_ops", "customers", narrower)
    with pytest.raises(SchemaDriftError, match=r"raw_ops\.customers.*'credit_limit'"):
        warehouse.publish(land(tmp_path, customers(range(6, 9), schema=narrower), "b2"))
    assert warehouse.row_count("raw_ops", "customers") == 5


def test_an_empty_batch_publishes_nothing_and_keeps_the_mark(warehouse, tmp_path):
    warehouse.publish(land(tmp_path, customers(range(1, 4)), "b1"))

    result = warehouse.publish(land(tmp_path, customers(range(0)), "b2"))

    assert (result.rows_landed, result.rows_inserted) == (0, 0)
    assert result.high_water_mark == T0 + dt.timedelta(seconds=3)
    assert warehouse.row_count("raw_ops", "customers") == 3


def test_dataset_prefix_is_applied_once(warehouse):
    # Names are logical: a name that happens to start with the prefix is prefixed all the same.
    assert warehouse.dataset_id("raw_ops") == f"{warehouse.dataset_prefix}raw_ops"
    prefixed = f"{warehouse.dataset_prefix}raw_ops"
    assert warehouse.dataset_id(prefixed) == f"{warehouse.dataset_prefix}{prefixed}"
