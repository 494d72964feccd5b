"""The quality domain in the code location: checks, sensor, jobs and blocking wiring."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
from dagster._core.execution.api import create_execution_plan

from orchestration.quality import CHECK_NAME
from orchestration.quality.freshness import FRESHNESS_CHECK_NAME, SENSOR_NAME
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import DBT_PROJECT_DIR, PROJECT_ROOT, load_settings
from orchestration.sources import load_sources

RAW_KEYS = {dg.AssetKey(["raw_ops", t]) for t in load_sources().names} | {
    dg.AssetKey(["raw_marketo", t]) for t in ("leads", "activities", "programs", "activity_types")
}
# Every dbt mart has a suite (expectations/marts/<model>.yml).
MART_SUITES = {dg.AssetKey(["marts", p.stem]) for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")}


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    prepare_manifest(load_settings({}))
    from orchestration.definitions import build_definitions

    return build_definitions(load_settings({}))


def test_every_raw_table_and_checked_mart_has_a_blocking_suite_check(defs):
    graph = defs.resolve_asset_graph()
    suites = {k.asset_key: k for k in graph.asset_check_keys if k.name == CHECK_NAME}
    assert set(suites) == RAW_KEYS | MART_SUITES
    for key in RAW_KEYS:
        assert graph.get_check_spec(suites[key]).blocking, key


def test_freshness_checks_and_sensor_are_defined(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    fresh = {c.asset_key for c in checks if c.name == FRESHNESS_CHECK_NAME}
    assert fresh >= RAW_KEYS - {
        dg.AssetKey(["raw_marketo", t]) for t in ("leads", "programs", "activity_types")
    }
    assert dg.AssetKey(["marts", "fact_orders"]) in fresh
    assert defs.resolve_sensor_def(SENSOR_NAME)


@pytest.mark.parametrize("job_name", ["hourly_incremental", "daily_full_build"])
def test_jobs_run_the_raw_suites_before_one_dbt_step(defs, job_name):
    """The whole dbt build waits for every raw suite, so a failed one skips it.

    Guards against Dagster's rule that an op checking an asset is exempt from that asset's
    blocking checks (dbt source tests as checks would do that) and against a split dbt op.
    """
    plan = create_execution_plan(defs.resolve_job_def(job_name))
    dbt_steps = [s for s in plan.steps if s.key.startswith("dbt_models")]
    assert [s.key for s in dbt_steps] == ["dbt_models"]
    upstream = set(dbt_steps[0].get_execution_dependency_keys())
    assert {f"raw_ops__{t}_great_expectations" for t in load_sources().names} <= upstream
    keys = {s.key for s in plan.steps}
    assert "marts__fact_orders_great_expectations" in keys
    assert any(k.startswith("freshness_check") for k in keys)


def test_loading_the_definitions_does_not_import_great_expectations(defs):
    code = (
        "import sys\n"
        "from orchestration.definitions import build_definitions\n"
        "defs = build_definitions()\n"
        "assert defs.resolve_asset_graph().asset_check_keys\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("WAREHOUSE", "DUCKDB_PATH")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_suite_check_on_an_unknown_warehouse_fails_naming_it():
    from orchestration.quality import build_quality_checks

    class Snowflake:
        kind = "snowflake"

    (check,) = [
        c
        for c in build_quality_checks(layers={"raw_ops"}, warehouse_for=lambda context: Snowflake())
        if dg.AssetCheckKey(dg.AssetKey(["raw_ops", "orders"]), CHECK_NAME) in c.check_keys
    ]
    defs = dg.Definitions(
        assets=[dg.AssetSpec(["raw_ops", "orders"])],
        asset_checks=[check],
        jobs=[dg.define_asset_job("check", selection=dg.AssetSelection.checks(check))],
    )
    with pytest.raises(TypeError, match="no quality checks for warehouse Snowflake"):
        defs.resolve_job_def("check").execute_in_process()
