"""The bigquery_costs asset: its query, where it is defined, and what it does on the emulator.

The emulator has no INFORMATION_SCHEMA.JOBS and keeps no labels (docs/operations.md, "Cost
attribution"): the query is checked as BigQuery SQL that groups by the dagster_asset label
and day over top-level jobs, and on the emulator the asset fails saying why.
"""

import dagster as dg
import pytest
import sqlglot
from sqlglot import exp

from orchestration.assets import bigquery_costs
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import load_settings


def test_costs_query_sums_bytes_billed_of_top_level_jobs_per_asset_and_day():
    sql = bigquery_costs.costs_sql("my-project", "southamerica-east1", days=7)
    tree = sqlglot.parse_one(sql, read="bigquery")
    table = tree.find(exp.Table)
    assert (table.catalog, table.db, table.name) == (
        "my-project",
        "region-southamerica-east1",
        "INFORMATION_SCHEMA.JOBS",
    )
    assert "parent_job_id is null" in sql and "key = 'dagster_asset'" in sql
    assert [g.alias_or_name for g in tree.args["group"].expressions] == ["asset", "day"]
    assert "interval 6 day" in sql, "7 days: today and the 6 before"
    with pytest.raises(ValueError, match="days=0"):
        bigquery_costs.costs_sql("p", "US", days=0)


def test_the_costs_asset_and_its_job_exist_on_bigquery_only():
    settings = load_settings({"WAREHOUSE": "bigquery", "GCP_PROJECT": "p"})
    on_bigquery = dg.Definitions.merge(
        bigquery_costs.definitions(settings),
        dg.Definitions(resources={"warehouse": WarehouseResource.from_settings(settings)}),
    )
    assert [a.key for a in on_bigquery.assets] == [bigquery_costs.COSTS_KEY]
    assert on_bigquery.resolve_job_def("bigquery_costs_daily")
    assert not bigquery_costs.definitions(load_settings({})).assets


@pytest.mark.bigquery
def test_on_the_emulator_the_costs_asset_fails_naming_the_gap(bigquery_emulator):
    settings = load_settings(bigquery_emulator.environment())
    result = dg.materialize(
        [bigquery_costs.build_costs_asset(settings)],
        resources={"warehouse": WarehouseResource.from_settings(settings)},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "INFORMATION_SCHEMA.JOBS" in str(failure.step_failure_data.error.message)
