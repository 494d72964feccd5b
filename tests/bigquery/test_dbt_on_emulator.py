"""dbt-bigquery runs against the emulator with the project's real `bigquery-emulator` profile.

A throwaway dbt project (the real models are tested elsewhere) reads a raw table that
BigQueryWarehouse published, builds a table, an incremental merge model and a view,
runs their tests, and is run twice so the incremental path is taken.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.extract.landing import land_batches
from orchestration.resources.dbt import PharmaDbtCliResource, dbt_env, dbt_executable, dbt_target
from orchestration.settings import DBT_PROJECT_DIR, Settings, load_settings
from orchestration.warehouse.base import LoadRequest

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

MODELS = {
    "sources.yml": """
        version: 2
        sources:
          - name: ops
            schema: "{{ env_var('BIGQUERY_DATASET_PREFIX') }}raw_ops"
            tables: [{name: orders}]
        models:
          - name: orders_latest
            columns:
              - name: order_id
                data_tests: [unique, not_null]
    """,
    "orders_latest.sql": """
        {{ config(materialized='table') }}
        with ranked as (
            select *, row_number() over (partition by id order by updated_at desc) as version_rank
            from {{ source('ops', 'orders') }}
        )
        select
            id as order_id,
            cast(total as {{ dbt.type_numeric() }}) as total,
            cast('123456789012345678.123456' as {{ dbt.type_numeric() }}) as wide_amount,
            order_date,
            updated_at,
            is_paid,
            _batch_id as batch_id
        from ranked
        where version_rank = 1
    """,
    "orders_merged.sql": """
        {{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge') }}
        select order_id, total, updated_at from {{ ref('orders_latest') }}
        {% if is_incremental() %}
        where updated_at >= (select max(updated_at) from {{ this }})
        {% endif %}
    """,
    "paid_orders.sql": """
        select order_id, total from {{ ref('orders_latest') }} where is_paid
    """,
}


def _write_project(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "macros").mkdir()
    (root / "dbt_project.yml").write_text("name: smoke\nversion: '1.0'\nconfig-version: 2\nprofile: pharma\n")
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", root / "profiles.yml")
    shutil.copy(DBT_PROJECT_DIR / "macros" / "emulator_workarounds.sql", root / "macros")
    for name, body in MODELS.items():
        (root / "models" / name).write_text(textwrap.dedent(body))
    return root


def _dbt_resource(project: Path, settings: Settings) -> PharmaDbtCliResource:
    """The product's dbt resource on the throwaway project, with the environment and target
    the emulator settings give (one instance: dagster-dbt asks dbt its version once)."""
    return PharmaDbtCliResource(
        project_dir=str(project),
        profiles_dir=str(project),
        target=dbt_target(settings),
        dbt_executable=dbt_executable(),
        environment=dbt_env(settings),
    )


def _dbt(dbt: PharmaDbtCliResource, project: Path, *args: str) -> str:
    """Run dbt the way the product runs it; returns dbt's log messages."""
    invocation = dbt.cli(list(args), raise_on_error=False, target_path=project / "target")
    output = "\n".join(str(e.raw_event["info"].get("msg", "")) for e in invocation.stream_raw_events())
    if not invocation.is_successful():
        pytest.fail(f"dbt {' '.join(args)} failed:\n{output[-6000:]}")
    return output


def test_dbt_builds_models_on_the_emulator_from_a_published_raw_table(bigquery_emulator, warehouse, tmp_path):
    orders = pa.table(
        {
            "id": [1, 2, 3, 1],
            "total": [Decimal("10.50"), Decimal("99.99"), Decimal("0.01"), Decimal("12.00")],
            "order_date": [dt.date(2024, 5, d) for d in (1, 2, 3, 1)],
            "updated_at": [dt.datetime(2024, 5, d, 8) for d in (1, 2, 3, 4)],
            "is_paid": [True, False, True, True],
        },
        schema=pa.schema(
            [
                ("id", pa.int64()),
                ("total", pa.decimal128(14, 2)),
                ("order_date", pa.date32()),
                ("updated_at", pa.timestamp("us")),
                ("is_paid", pa.bool_()),
            ]
        ),
    )
    landed = land_batches(orders.to_batches(), orders.schema, tmp_path / "orders.parquet", "updated_at")
    warehouse.publish(
        LoadRequest("raw_ops", "orders", landed.path, ("id",), "updated_at", "b1", orders.schema)
    )
    project = _write_project(tmp_path / "dbt")
    settings = load_settings(
        {
            **bigquery_emulator.environment(),
            "BIGQUERY_DATASET_PREFIX": warehouse.dataset_prefix,
            "BIGQUERY_LOCATION": "US",
        }
    )
    assert dbt_target(settings) == "bigquery-emulator"

    dbt = _dbt_resource(project, settings)
    assert "All checks passed" in _dbt(dbt, project, "debug")
    _dbt(dbt, project, "build")
    second = _dbt(dbt, project, "build")

    assert "MERGE" in second  # the incremental model took the merge path
    client = bigquery_emulator.client()
    analytics = f"{warehouse.dataset_prefix}analytics"
    latest = {r.order_id: r for r in client.query(f"select * from `{analytics}.orders_latest`").result()}
    assert sorted(latest) == [1, 2, 3]
    assert latest[1].total == Decimal("12.00") and latest[1].batch_id == "b1"
    assert latest[1].wide_amount == Decimal("123456789012345678.123456")
    assert latest[1].updated_at == dt.datetime(2024, 5, 4, 8, tzinfo=dt.UTC)
    merged = list(client.query(f"select count(*) as n from `{analytics}.orders_merged`").result())
    assert merged[0].n == 3
    paid = sorted(
        r.order_id for r in client.query(f"select order_id from `{analytics}.paid_orders`").result()
    )
    assert paid == [1, 3]
