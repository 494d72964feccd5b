"""A new operational table reaches staging with one sources entry and one staging model.

No Python is edited: the table is declared in a copy of orchestration/sources.yml
(named by SOURCES_FILE), the real extraction assets built from it load it, and a copy of
the dbt project with one staging model (and its source entry) builds the view.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from orchestration.assets import operational_db
from orchestration.demo import schema as demo_schema
from orchestration.resources.dbt import dbt_env, dbt_executable
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DBT_PROJECT_DIR, DEFAULT_SOURCES_FILE, load_settings

RETURNS_ENTRY = """\
  returns:
    description: Goods sent back by a pharmacy, with the refund granted.
    primary_key: id
    cursor: updated_at
    exclude: [internal_note]
    retention: {superseded_days: 180}
"""

RETURNS_DBT_SOURCE = """\
      - name: returns
        description: "Goods sent back by a pharmacy. Append-only raw copy with load metadata."
        config:
          meta:
            dagster:
              asset_key: ["raw_ops", "returns"]
        columns:
          - name: id
            data_tests: [not_null]
"""

STAGING_MODEL = """\
with

latest as (
    {{ latest_version(source('ops', 'returns'), 'id', 'updated_at') }}
),

renamed as (
    select
        cast(id as bigint) as return_id,
        cast(order_id as bigint) as order_id,
        cast(reason as string) as return_reason,
        cast(refund as decimal(14, 2)) as refund_amount,
        cast(updated_at as timestamp) as updated_at
    from latest
)

select * from renamed
"""


@pytest.mark.slow
@pytest.mark.postgres
def test_a_table_declared_in_configuration_reaches_staging(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    demo_schema.create_schema(engine)  # the shipped tables (empty): the resource checks them all
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "create table returns (id integer primary key, order_id integer not null, "
                "reason varchar(200), refund numeric(14, 2) not null, internal_note text, "
                "updated_at timestamp not null)"
            )
        )
        conn.execute(
            sa.text(
                "insert into returns values "
                "(1, 10, 'damaged box', 125.50, 'called the carrier', '2026-06-01 09:00'), "
                "(2, 11, null, 40.00, 'customer is upset', '2026-06-02 15:30')"
            )
        )
        # A second version of return 1: staging keeps the latest.
        conn.execute(
            sa.text("update returns set refund = 120.00, updated_at = '2026-06-03 08:00' where id = 1")
        )
    engine.dispose()

    sources_file = tmp_path / "sources.yml"
    sources_file.write_text(DEFAULT_SOURCES_FILE.read_text() + RETURNS_ENTRY)
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    staging = project / "models" / "staging" / "ops"
    with open(staging / "_ops__sources.yml", "a") as sources_yml:  # the ops source's tables end the file
        sources_yml.write(RETURNS_DBT_SOURCE)
    (staging / "stg_ops__returns.sql").write_text(STAGING_MODEL)

    warehouse_path = tmp_path / "warehouse.duckdb"
    settings = load_settings(
        {
            "WAREHOUSE": "duckdb",
            "DUCKDB_PATH": str(warehouse_path),
            "OPS_DATABASE_URL": postgres_url,
            "SOURCES_FILE": str(sources_file),
        }
    )
    assets = operational_db.definitions(settings).assets
    result = dg.materialize(
        assets,
        selection=[operational_db.raw_asset_key("returns")],
        resources={
            "ops_db": OperationalDatabaseResource(url=postgres_url),
            "warehouse": WarehouseResource.from_settings(settings),
        },
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_ops__returns")
    assert materialization.metadata["rows_inserted"].value == 2

    env = {
        **os.environ,
        **dbt_env(settings),
        "DBT_TARGET_PATH": str(project / "target"),
        "DBT_LOG_PATH": str(project / "logs"),
    }
    dbt = subprocess.run(
        [dbt_executable(), "run", "--select", "stg_ops__returns", "--project-dir", str(project),
         "--profiles-dir", str(project)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert dbt.returncode == 0, dbt.stdout[-3000:]

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        raw_columns = {r[0] for r in con.execute("describe raw_ops.returns").fetchall()}
        rows = con.execute(
            "select return_id, order_id, return_reason, refund_amount, updated_at "
            "from staging.stg_ops__returns order by return_id"
        ).fetchall()
    assert "internal_note" not in raw_columns  # excluded in the sources entry: never extracted
    assert rows == [
        (1, 10, "damaged box", Decimal("120.00"), dt.datetime(2026, 6, 3, 8, 0)),
        (2, 11, None, Decimal("40.00"), dt.datetime(2026, 6, 2, 15, 30)),
    ]
