"""With BIGQUERY_DATASET_PREFIX=raw_, loading, forgetting, retention and quality all reach
``raw_raw_ops`` and never the unprefixed ``raw_ops`` (which a prefix-skipping guard used to
pick because ``raw_ops`` starts with ``raw_``). Runs on the emulator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.extract.landing import land_batches
from orchestration.lifecycle import forget, retention
from orchestration.quality.runner import latest_batch_id
from orchestration.warehouse.base import LoadRequest
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from tests.bigquery.conftest import emulator_warehouse

pytestmark = pytest.mark.bigquery

T0 = dt.datetime(2020, 1, 1, 12, 0, 0)
CUSTOMERS = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("updated_at", pa.timestamp("us")),
    ]
)


def _publish(warehouse: BigQueryWarehouse, tmp_path: Path, batch_id: str) -> None:
    table = pa.table(
        {
            "id": [1, 2],
            "name": ["Farmácia Um", "Farmácia Dois"],
            "email": ["um@example.com", "dois@example.com"],
            "updated_at": [T0, T0 + dt.timedelta(days=400)],
        },
        schema=CUSTOMERS,
    )
    landed = land_batches(table.to_batches(), CUSTOMERS, tmp_path / f"{batch_id}.parquet", "updated_at")
    warehouse.publish(
        LoadRequest(
            dataset="raw_ops",
            table="customers",
            landing_file=landed.path,
            key_columns=("id",),
            cursor_column="updated_at",
            batch_id=batch_id,
            arrow_schema=CUSTOMERS,
        )
    )


def _names(warehouse: BigQueryWarehouse, dataset: str) -> list[tuple]:
    return warehouse.sql().rows(
        f"select id, name from {warehouse.sql().relation(dataset, 'customers')} order by id"
    )


@pytest.fixture
def prefixed_and_decoy(bigquery_emulator, tmp_path):
    prefixed = emulator_warehouse(bigquery_emulator, "raw_")
    decoy = emulator_warehouse(bigquery_emulator, "")  # the unprefixed raw_ops: must stay untouched
    _publish(prefixed, tmp_path, "prefixed")
    _publish(decoy, tmp_path, "decoy")
    try:
        yield prefixed, decoy
    finally:
        prefixed.close()
        decoy.close()


def test_prefix_raw_reaches_the_prefixed_datasets_only(prefixed_and_decoy):
    prefixed, decoy = prefixed_and_decoy
    assert "customers" in [t.table_id for t in prefixed.client.list_tables("raw_raw_ops")]
    untouched = _names(decoy, "raw_ops")

    # Quality: the ledger lookup reads raw_raw_ops._loads.
    assert latest_batch_id(prefixed.sql(), "raw_ops", "customers") == "prefixed"

    # Forget: customer 1 is anonymised in raw_raw_ops, and the audit lands in raw_audit.
    # (Per-table counts are not compared: the emulator lists no child jobs of a script.)
    forget.forget_subject(prefixed.sql(), customer_id=1, request_id="r-1")
    assert _names(prefixed, "raw_ops") == [(1, forget.FORGOTTEN_NAME), (2, "Farmácia Dois")]
    audit = prefixed.sql().rows(
        f"select request_id from {prefixed.sql().relation('audit', 'data_subject_requests')}"
    )
    assert audit == [("r-1",)]
    assert prefixed.client.get_table(f"{prefixed.project}.raw_audit.data_subject_requests")

    # Retention: rows older than a year go from raw_raw_ops.customers.
    rule = retention.RetentionRule("raw_ops", "customers", "age", "updated_at", 365)
    (done,) = retention.enforce(prefixed.sql(), T0 + dt.timedelta(days=500), rules=(rule,))
    assert done.skipped is None and done.rows_deleted == 1
    assert _names(prefixed, "raw_ops") == [(2, "Farmácia Dois")]

    # The unprefixed dataset the old guard would have picked is exactly as it was.
    assert _names(decoy, "raw_ops") == untouched == [(1, "Farmácia Um"), (2, "Farmácia Dois")]
