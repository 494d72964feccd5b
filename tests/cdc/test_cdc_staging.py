"""Staging's version macros on a CDC-fed raw table: newest live version by position, deletes
and truncates from the change events, compared with the source (dbt show, on DuckDB)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.settings import DBT_PROJECT_DIR
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import make_source, sync

MACRO = "{{ latest_version_with_deletes(source('ops', 'orders'), 'id', 'updated_at') }}"


def _dbt_show(warehouse_path: Path) -> list[dict]:
    env = {**os.environ, "DUCKDB_PATH": str(warehouse_path), "DBT_TARGET": "duckdb"}
    done = subprocess.run(
        [
            "dbt",
            "show",
            "--inline",
            f"select id, status, _hard_deleted_at from ({MACRO}) as staged order by id",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--limit",
            "-1",
            "--output",
            "json",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout[done.stdout.index("{") :])["show"]


@pytest.mark.slow
def test_staging_keeps_the_newest_live_version_and_marks_cdc_deletes(cdc_source_url, tmp_path):
    engine = make_source(cdc_source_url, rows=4)
    warehouse_path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(warehouse_path)
    try:
        sync(engine, warehouse, tmp_path)
        with engine.begin() as conn:
            # A cursor that goes backwards: only the position can order these versions.
            conn.execute(
                sa.text("update orders set status = 'shipped', updated_at = '2000-01-01' where id = 1")
            )
            conn.execute(sa.text("delete from orders where id = 2"))
            conn.execute(sa.text("delete from orders where id = 3"))
        with engine.begin() as conn:
            conn.execute(sa.text("insert into orders (id, status) values (3, 'back')"))
        with engine.begin() as conn:
            conn.execute(sa.text("truncate orders"))
        with engine.begin() as conn:
            conn.execute(sa.text("insert into orders (id, status) values (4, 'after truncate')"))
        sync(engine, warehouse, tmp_path)
        with duckdb.connect(str(warehouse_path)) as con:  # the reconciliation's ledger, empty here
            con.execute(
                "create table raw_ops._deleted_keys (table_name varchar, id bigint, detected_at timestamp, "
                "batch_id varchar)"
            )
        staged = {
            row["id"]: (row["status"], row["_hard_deleted_at"] is not None)
            for row in _dbt_show(warehouse_path)
        }
        # 1: the newest version by position, though its cursor went back; gone with the truncate.
        assert staged == {
            1: ("shipped", True),
            2: ("pending", True),
            3: ("back", True),
            4: ("after truncate", False),
        }
    finally:
        engine.dispose()
