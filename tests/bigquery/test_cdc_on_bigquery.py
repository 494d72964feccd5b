"""Change data capture into BigQuery (the emulator): a PostgreSQL slot drained into raw with
each batch's end position committed in the same transaction as its rows, and staging's version
macros (dbt, the bigquery-emulator target) reading the change events back to the source's state."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.cdc.sync import sync_table
from orchestration.demo import schema
from orchestration.demo.generator import Scale, generate
from orchestration.resources.dbt import dbt_env
from orchestration.settings import DBT_PROJECT_DIR, DEFAULT_SOURCES_FILE, load_settings
from orchestration.sources import load_sources
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from tests.cdc.helpers import LIVE_SQL, RAW, make_source, slot_prefix, source_rows, sync
from tests.cdc.logical_postgres import database_on, logical_postgres

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

STAGED = "{{ latest_version_with_deletes(source('ops', 'orders'), 'id', 'updated_at') }}"


@pytest.fixture(scope="module")
def logical_pg() -> Iterator[str]:
    with logical_postgres() as url:
        yield url


@pytest.fixture
def source_url(logical_pg: str) -> Iterator[str]:
    with database_on(logical_pg) as url:
        yield url


def _live_raw(warehouse: BigQueryWarehouse) -> list[tuple]:
    """The tests' oracle for the newest live version per key (tests/cdc/helpers.py), on BigQuery."""
    sql = LIVE_SQL.replace(f"{RAW}.orders", warehouse.sql().relation(RAW, "orders"))
    return sorted(tuple(row) for row in warehouse.sql().rows(sql))


def _raw_count(warehouse: BigQueryWarehouse) -> int:
    return warehouse.row_count(RAW, "orders")


def _dbt_show_staged(emulator, warehouse: BigQueryWarehouse) -> dict[int, tuple[str, bool]]:
    settings = load_settings({**emulator.environment(), "BIGQUERY_DATASET_PREFIX": warehouse.dataset_prefix})
    done = subprocess.run(
        [
            "dbt", "show", "--inline",
            f"select id, status, _hard_deleted_at from ({STAGED}) as staged order by id",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--limit", "-1", "--output", "json", "--quiet",
        ],
        env={**os.environ, **dbt_env(settings), "DBT_TARGET_PATH": "target/cdc_bigquery"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout[done.stdout.index("{") :])["show"]
    return {int(row["id"]): (row["status"], row["_hard_deleted_at"] is not None) for row in shown}


def test_a_slot_drained_into_bigquery_equals_the_source_exactly_once(
    bigquery_emulator, warehouse: BigQueryWarehouse, source_url: str, tmp_path: Path
):
    engine = make_source(source_url, rows=5)
    try:
        first = sync(engine, warehouse, tmp_path, "snapshot")
        assert first.snapshot is not None and first.snapshot.load.rows_inserted == 5
        snapshot_position = warehouse.source_position(RAW, "orders")
        assert snapshot_position is not None
        with engine.begin() as conn:  # several updates of one row in one transaction
            for status in ("confirmed", "shipped", "delivered"):
                conn.execute(sa.text("update orders set status = :s where id = 1"), {"s": status})
        with engine.begin() as conn:
            conn.execute(sa.text("delete from orders where id = 2"))
            conn.execute(sa.text("insert into orders (id, status, total) values (6, 'pending', 1.25)"))
        with engine.begin() as conn:  # a key deleted and re-inserted
            conn.execute(sa.text("delete from orders where id = 3"))
        with engine.begin() as conn:
            conn.execute(sa.text("insert into orders (id, status) values (3, 'back')"))
        changes = sync(engine, warehouse, tmp_path, "changes")
        assert changes.changes == 7
        assert _live_raw(warehouse) == sorted(source_rows(engine))
        # Every change is a raw version, each update of the one transaction included.
        assert _raw_count(warehouse) == 5 + 7
        position = warehouse.source_position(RAW, "orders")
        assert position is not None and position > snapshot_position

        # Nothing to read: no batch, nothing doubled, the position stays.
        again = sync(engine, warehouse, tmp_path, "again")
        assert again.changes == 0
        assert _raw_count(warehouse) == 12
        assert warehouse.source_position(RAW, "orders") == position

        # Staging's macros on BigQuery: the newest live version by position, deletes from the events.
        warehouse.sql().ddl(
            f"create table {warehouse.sql().relation(RAW, '_deleted_keys')} "
            "(table_name string, id int64, detected_at timestamp, batch_id string)"
        )
        with engine.begin() as conn:
            conn.execute(sa.text("truncate orders"))
        with engine.begin() as conn:
            conn.execute(sa.text("insert into orders (id, status) values (7, 'after truncate')"))
        sync(engine, warehouse, tmp_path, "truncate")
        staged = _dbt_show_staged(bigquery_emulator, warehouse)
        assert staged == {
            1: ("delivered", True),
            2: ("pending", True),
            3: ("back", True),
            4: ("pending", True),
            5: ("pending", True),
            6: ("pending", True),
            7: ("after truncate", False),
        }
    finally:
        engine.dispose()


def _dbt_build(emulator, warehouse: BigQueryWarehouse, *select: str) -> None:
    settings = load_settings({**emulator.environment(), "BIGQUERY_DATASET_PREFIX": warehouse.dataset_prefix})
    done = subprocess.run(
        [
            "dbt", "build", "--select", *select, "--resource-type", "model",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR), "--quiet",
        ],
        env={**os.environ, **dbt_env(settings), "DBT_TARGET_PATH": "target/cdc_bigquery"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_inventory_movements_from_the_change_stream_on_bigquery(
    bigquery_emulator, warehouse: BigQueryWarehouse, source_url: str, tmp_path: Path
):
    """The demo schema's inventory in mode cdc, drained into BigQuery and modelled there: a
    sale in one transaction, a deleted position; each position's movements sum to its stock."""
    path = tmp_path / "sources.yml"
    path.write_text(
        DEFAULT_SOURCES_FILE.read_text().replace("  inventory:\n", "  inventory:\n    mode: cdc\n", 1)
    )
    sources = load_sources(path)
    generate(source_url, Scale.named("tiny"), seed=11, end=dt.datetime(2026, 11, 30, 12))
    engine = sa.create_engine(source_url)
    inventory = schema.inventory

    def drain(run: str):
        return sync_table(
            engine, warehouse, sources, "inventory", raw_schema=RAW, landing_dir=tmp_path / "landing",
            batch_id=run, slot_prefix=slot_prefix(engine),
        )  # fmt: skip

    try:
        drain("snapshot")
        with engine.connect() as conn:
            sold, gone = (
                conn.execute(sa.select(inventory.c.id).order_by(inventory.c.id).limit(2)).scalars().all()
            )
        with engine.begin() as conn:
            conn.execute(
                inventory.update()
                .where(inventory.c.id == sold)
                .values(quantity_available=inventory.c.quantity_available - 2)
            )
            conn.execute(
                inventory.update()
                .where(inventory.c.id == sold)
                .values(quantity_reserved=inventory.c.quantity_reserved + 1)
            )
        with engine.begin() as conn:
            conn.execute(inventory.delete().where(inventory.c.id == gone))
        assert drain("changes").changes == 3
        _dbt_build(bigquery_emulator, warehouse, "stg_ops__inventory_versions", "fact_inventory_movements")

        movements = warehouse.sql().relation("marts", "fact_inventory_movements")
        summed = dict(
            warehouse.sql().rows(
                f"select inventory_id, sum(quantity_on_hand_change) from {movements} group by inventory_id"
            )
        )
        with engine.connect() as conn:
            source = dict(
                conn.execute(
                    sa.select(inventory.c.id, inventory.c.quantity_available + inventory.c.quantity_reserved)
                ).all()
            )
        assert summed == {**source, gone: 0}
        streamed = sorted(
            tuple(row)
            for row in warehouse.sql().rows(
                f"select inventory_id, movement_type, quantity_available_change, quantity_reserved_change "
                f"from {movements} where captured_by = 'change_stream'"
            )
        )
        # both changes of the one transaction, each its own movement
        assert [row for row in streamed if row[0] == sold] == sorted(
            [(sold, "change", -2, 0), (sold, "change", 0, 1)]
        )
        assert [(key, kind) for key, kind, *_ in streamed if key == gone] == [(gone, "removal")]
    finally:
        engine.dispose()
