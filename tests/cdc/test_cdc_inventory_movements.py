"""Inventory movements and daily snapshots built by dbt from inventory fed by change data
capture (PostgreSQL): every committed change is a movement at its commit time, several in one
transaction included, a change that leaves the cursor alone too; a delete removes the position
(its stock leaves the day's snapshot) and a re-insert of the key opens it again; each position's
movements sum to its stock at the source."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.cdc.sync import sync_table
from orchestration.demo import schema
from orchestration.demo.generator import Scale, generate
from orchestration.extract.pipeline import extract_source
from orchestration.settings import DBT_PROJECT_DIR, DEFAULT_SOURCES_FILE
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import slot_prefix

pytestmark = pytest.mark.slow

END = dt.datetime(2026, 11, 30, 12, 0, 0)
inv = schema.inventory


def _server_now(engine: sa.Engine) -> dt.datetime:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("select cast(clock_timestamp() at time zone 'UTC' as timestamp)")
        ).scalar_one()


def _build(warehouse_path: Path, as_of: dt.date) -> None:
    with duckdb.connect(str(warehouse_path)) as con:  # the reconciliation's ledger, empty here
        con.execute(
            "create table if not exists raw_ops._deleted_keys (table_name varchar, id bigint, "
            "detected_at timestamp, batch_id varchar)"
        )
    env = {**os.environ, "DUCKDB_PATH": str(warehouse_path), "DBT_TARGET": "duckdb"}
    done = subprocess.run(
        [
            "dbt", "build", "--select", "+fact_inventory_movements", "+fact_inventory_snapshots",
            "--resource-type", "model", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet", "--vars", f"{{as_of_date: '{as_of}'}}",
        ],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _query(warehouse_path: Path, sql: str, *params) -> list[tuple]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_change_stream_inventory_movements_and_snapshots(cdc_source_url, tmp_path):
    generate(cdc_source_url, Scale.named("tiny"), seed=7, end=END)
    path = tmp_path / "sources.yml"
    path.write_text(
        DEFAULT_SOURCES_FILE.read_text().replace("  inventory:\n", "  inventory:\n    mode: cdc\n", 1)
    )
    sources = load_sources(path)
    engine = sa.create_engine(cdc_source_url)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")

    def drain(run: str):
        return sync_table(
            engine, warehouse, sources, "inventory", raw_schema="raw_ops", landing_dir=tmp_path / "landing",
            batch_id=run, slot_prefix=slot_prefix(engine),
        )  # fmt: skip

    try:
        for table in ("products", "warehouses"):
            extract_source(
                engine, warehouse, sources, table, raw_schema="raw_ops", landing_dir=tmp_path, batch_id="b"
            )
        drain("snapshot")
        with engine.connect() as conn:
            (sold, sold_before), (gone, gone_before), (moved, moved_before) = [
                (row.id, row) for row in conn.execute(sa.select(inv).order_by(inv.c.id).limit(3)).all()
            ]
        before = _server_now(engine)
        with engine.begin() as conn:  # a sale and its reservation, one transaction, cursor untouched
            conn.execute(
                inv.update().where(inv.c.id == sold).values(quantity_available=inv.c.quantity_available - 3)
            )
            conn.execute(
                inv.update().where(inv.c.id == sold).values(quantity_reserved=inv.c.quantity_reserved + 2)
            )
        with engine.begin() as conn:
            conn.execute(inv.delete().where(inv.c.id == gone))
        with engine.begin() as conn:  # deleted, then the same key re-created with new stock
            conn.execute(inv.delete().where(inv.c.id == moved))
        with engine.begin() as conn:
            conn.execute(
                inv.insert().values(
                    {
                        **moved_before._mapping,
                        "quantity_available": 40,
                        "quantity_reserved": 0,
                        "last_updated": END,
                    }
                )
            )
        after = _server_now(engine)
        assert drain("changes").changes == 5
        today = after.date()
        _build(warehouse.path, today)

        movements = _query(
            warehouse.path,
            "select inventory_id, movement_sequence, movement_type, captured_by, quantity_available_change, "
            "quantity_reserved_change, quantity_on_hand_change, quantity_on_hand, moved_at, committed_at "
            "from marts.fact_inventory_movements where inventory_id in (?, ?, ?) "
            "order by inventory_id, movement_sequence",
            sold, gone, moved,
        )  # fmt: skip
        stock = {
            row.id: row.quantity_available + row.quantity_reserved
            for row in (sold_before, gone_before, moved_before)
        }
        shape = [row[:8] for row in movements]
        assert shape == sorted(
            [
                (sold, 1, "opening", "extraction", sold_before.quantity_available, sold_before.quantity_reserved,
                 stock[sold], stock[sold]),
                (sold, 2, "change", "change_stream", -3, 0, -3, stock[sold] - 3),
                (sold, 3, "change", "change_stream", 0, 2, 2, stock[sold] - 1),
                (gone, 1, "opening", "extraction", gone_before.quantity_available, gone_before.quantity_reserved,
                 stock[gone], stock[gone]),
                (gone, 2, "removal", "change_stream", -gone_before.quantity_available,
                 -gone_before.quantity_reserved, -stock[gone], 0),
                (moved, 1, "opening", "extraction", moved_before.quantity_available,
                 moved_before.quantity_reserved, stock[moved], stock[moved]),
                (moved, 2, "removal", "change_stream", -moved_before.quantity_available,
                 -moved_before.quantity_reserved, -stock[moved], 0),
                (moved, 3, "opening", "change_stream", 40, 0, 40, 40),
            ]
        )  # fmt: skip
        # The change stream's movements are at their commits, in commit order, not at the cursor.
        streamed = [(row[0], row[8], row[9]) for row in movements if row[3] == "change_stream"]
        assert len(streamed) == 5
        assert all(
            before <= committed <= after and moved_at == committed for _, moved_at, committed in streamed
        )
        for position in (sold, gone, moved):
            times = [committed for key, _, committed in streamed if key == position]
            assert times == sorted(times), position
        # both changes of the sale's one transaction carry its one commit time
        assert len({committed for key, _, committed in streamed if key == sold}) == 1

        # Every position's movements sum to its stock at the source (zero once removed).
        with engine.connect() as conn:
            source = dict(
                conn.execute(sa.select(inv.c.id, inv.c.quantity_available + inv.c.quantity_reserved)).all()
            )
        summed = dict(
            _query(
                warehouse.path,
                "select inventory_id, sum(quantity_on_hand_change) from marts.fact_inventory_movements group by 1",
            )
        )
        assert summed == {**source, gone: 0}

        # Today's snapshot: the sale's state, the removed position gone, the re-created one's new stock;
        # the day before still holds the removed position as it was.
        snapshots = dict(
            _query(
                warehouse.path,
                "select inventory_id, quantity_on_hand from marts.fact_inventory_snapshots where snapshot_date = ?",
                today,
            )
        )
        assert snapshots == source
        yesterday = dict(
            _query(
                warehouse.path,
                "select inventory_id, quantity_on_hand from marts.fact_inventory_snapshots where snapshot_date = ?",
                today - dt.timedelta(days=1),
            )
        )
        assert yesterday == {**source, sold: stock[sold], gone: stock[gone], moved: stock[moved]}
    finally:
        engine.dispose()
