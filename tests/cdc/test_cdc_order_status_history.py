"""The order status history (stg_ops__order_status_changes, fact_order_status_changes) and
order_fulfilment built by dbt on the demo schema, once with orders fed by change data capture
and once by cursor extractions: the change stream keeps every committed transition at its
commit time (timing_precision 'exact'); two extractions miss the statuses between them
(timing_precision 'extraction', times as bounds)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.cdc.sync import sync_table
from orchestration.demo import schema
from orchestration.demo.generator import Scale, generate
from orchestration.extract.pipeline import extract_source
from orchestration.settings import DBT_PROJECT_DIR, DEFAULT_SOURCES_FILE
from orchestration.sources import Sources, load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import slot_prefix

pytestmark = pytest.mark.slow

END = dt.datetime(2026, 11, 30, 12, 0, 0)
PLACED = dt.datetime(2026, 11, 30, 13, 0, 0)
# The new order's lifecycle, one committed transaction per status: (status, updated_at).
LIFECYCLE = [
    ("pending", PLACED),
    ("confirmed", dt.datetime(2026, 11, 30, 14, 30, 0)),
    ("processing", dt.datetime(2026, 11, 30, 18, 0, 0)),
    ("shipped", dt.datetime(2026, 12, 1, 9, 0, 0)),
    ("delivered", dt.datetime(2026, 12, 3, 10, 0, 0)),
]


def _sources(tmp_path: Path, cdc: bool) -> Sources:
    text = DEFAULT_SOURCES_FILE.read_text()
    if cdc:
        text = text.replace("  orders:\n", "  orders:\n    mode: cdc\n", 1)
    path = tmp_path / ("sources-cdc.yml" if cdc else "sources-cursor.yml")
    path.write_text(text)
    return load_sources(path)


def _server_now(engine: sa.Engine) -> dt.datetime:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select cast(clock_timestamp() at time zone 'UTC' as timestamp)")
        ).scalar_one()


def _place_order(engine: sa.Engine) -> int:
    """A new pending order, a copy of an existing one's customer and amounts."""
    with engine.begin() as conn:
        template = (
            conn.execute(sa.select(schema.orders).order_by(schema.orders.c.id).limit(1)).mappings().one()
        )
        order_id = conn.execute(sa.select(sa.func.max(schema.orders.c.id))).scalar_one() + 1
        conn.execute(
            schema.orders.insert().values(
                {
                    **template,
                    "id": order_id,
                    "status": "pending",
                    "payment_status": "pending",
                    "order_date": PLACED.date(),
                    "created_at": PLACED,
                    "updated_at": PLACED,
                }
            )
        )
    return order_id


def _move(engine: sa.Engine, order_id: int, status: str, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            schema.orders.update().where(schema.orders.c.id == order_id).values(status=status, updated_at=at)
        )


def _build(warehouse_path: Path) -> None:
    """dbt builds order_fulfilment and everything upstream (models and the customer snapshot)."""
    with duckdb.connect(str(warehouse_path)) as con:  # the reconciliation's ledger, empty here
        con.execute(
            "create table if not exists raw_ops._deleted_keys (table_name varchar, id bigint, "
            "detected_at timestamp, batch_id varchar)"
        )
    env = {**os.environ, "DUCKDB_PATH": str(warehouse_path), "DBT_TARGET": "duckdb"}
    done = subprocess.run(
        [
            "dbt", "build", "--select", "+order_fulfilment", "--resource-type", "model",
            "--resource-type", "snapshot", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet",
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _history(warehouse_path: Path, order_id: int) -> list[tuple]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.execute(
            "select status_sequence, order_status, previous_status, captured_by, changed_at, "
            "earliest_changed_at, committed_at from marts.fact_order_status_changes "
            "where order_id = ? order by status_sequence",
            [order_id],
        ).fetchall()


def _fulfilment(warehouse_path: Path, order_id: int) -> dict:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        cursor = con.execute("select * from marts.order_fulfilment where order_id = ?", [order_id])
        names = [d[0] for d in cursor.description]
        (row,) = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def _prepare(url: str, tmp_path: Path, cdc: bool) -> tuple[sa.Engine, DuckDBWarehouse, Sources]:
    generate(url, Scale.named("tiny"), seed=7, end=END)
    sources = _sources(tmp_path, cdc)
    engine = sa.create_engine(url)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    for table in ("customers", "warehouses"):
        extract_source(
            engine, warehouse, sources, table, raw_schema="raw_ops", landing_dir=tmp_path, batch_id="b"
        )
    return engine, warehouse, sources


def _drainer(engine: sa.Engine, warehouse: DuckDBWarehouse, sources: Sources, tmp_path: Path) -> Callable:
    def drain(run: str):
        return sync_table(
            engine, warehouse, sources, "orders", raw_schema="raw_ops", landing_dir=tmp_path / "landing",
            batch_id=run, slot_prefix=slot_prefix(engine),
        )  # fmt: skip

    return drain


def test_change_stream_records_every_transition_at_its_commit(cdc_source_url, tmp_path):
    engine, warehouse, sources = _prepare(cdc_source_url, tmp_path, cdc=True)
    drain = _drainer(engine, warehouse, sources, tmp_path)
    try:
        drain("snapshot")
        before = _server_now(engine)
        order_id = _place_order(engine)
        windows = [(before, _server_now(engine))]  # the server's clock around each transaction
        for status, at in LIFECYCLE[1:]:
            before = _server_now(engine)
            _move(engine, order_id, status, at)
            windows.append((before, _server_now(engine)))
        assert drain("changes").changes == len(LIFECYCLE)
        _build(warehouse.path)

        history = _history(warehouse.path, order_id)
        assert [(seq, status, prev, by) for seq, status, prev, by, *_ in history] == [
            (1, "pending", None, "change_stream"),
            (2, "confirmed", "pending", "change_stream"),
            (3, "processing", "confirmed", "change_stream"),
            (4, "shipped", "processing", "change_stream"),
            (5, "delivered", "shipped", "change_stream"),
        ]
        # changed_at is the transaction's updated_at, exact: the lower bound equals it.
        assert [(changed, earliest) for *_, changed, earliest, _ in history] == [
            (at, at) for _, at in LIFECYCLE
        ]
        committed = [row[-1] for row in history]
        for at, (before, after) in zip(committed, windows, strict=True):
            assert before <= at <= after
        assert committed == sorted(committed) and len(set(committed)) == len(committed)

        fulfilment = _fulfilment(warehouse.path, order_id)
        assert fulfilment["timing_precision"] == "exact"
        assert fulfilment["order_status"] == "delivered"
        assert (fulfilment["placed_at"], fulfilment["confirmed_at"], fulfilment["shipped_at"]) == (
            PLACED,
            LIFECYCLE[1][1],
            LIFECYCLE[3][1],
        )
        assert fulfilment["delivered_at"] == LIFECYCLE[4][1] and fulfilment["cancelled_at"] is None
        assert float(fulfilment["hours_to_confirmation"]) == 1.5
        assert float(fulfilment["hours_to_shipping"]) == 20.0
        assert float(fulfilment["days_to_delivery"]) == round(
            (LIFECYCLE[4][1] - PLACED) / dt.timedelta(days=1), 2
        )
        # The snapshot's orders were read as images: not exact.
        with duckdb.connect(str(warehouse.path), read_only=True) as con:
            others = con.execute(
                "select distinct timing_precision from marts.order_fulfilment where order_id <> ?", [order_id]
            ).fetchall()
        assert others == [("extraction",)]
    finally:
        engine.dispose()


def test_two_extractions_miss_the_statuses_between_them(cdc_source_url, tmp_path):
    engine, warehouse, sources = _prepare(cdc_source_url, tmp_path, cdc=False)

    def extract(run: str):
        return extract_source(
            engine, warehouse, sources, "orders", raw_schema="raw_ops", landing_dir=tmp_path, batch_id=run
        )

    try:
        order_id = _place_order(engine)
        extract("first")
        for status, at in LIFECYCLE[1:4]:  # confirmed, processing, shipped: only shipped is seen
            _move(engine, order_id, status, at)
        extract("second")
        _build(warehouse.path)

        assert _history(warehouse.path, order_id) == [
            (1, "pending", None, "extraction", PLACED, PLACED, None),
            # shipped began after the pending version's updated_at, at the latest at its own
            (2, "shipped", "pending", "extraction", LIFECYCLE[3][1], PLACED, None),
        ]
        fulfilment = _fulfilment(warehouse.path, order_id)
        assert fulfilment["timing_precision"] == "extraction"
        assert (fulfilment["confirmed_at"], fulfilment["processing_at"]) == (None, None)
        assert fulfilment["hours_to_confirmation"] is None
        assert fulfilment["shipped_at"] == LIFECYCLE[3][1]
        assert float(fulfilment["hours_to_shipping"]) == 20.0
        assert (fulfilment["delivered_at"], fulfilment["is_on_time"]) == (None, None)
    finally:
        engine.dispose()
