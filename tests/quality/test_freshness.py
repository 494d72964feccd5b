"""Freshness SLAs: a controlled clock proves stale tables fail naming the lag, fresh ones pass;
and the SLA file is the only place that declares freshness."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml
from dagster._core.test_utils import freeze_time  # Dagster's own clock patch for its time helpers

from orchestration.quality.freshness import (
    FRESHNESS_CHECK_NAME,
    FreshnessSlaError,
    build_freshness_checks,
    load_slas,
)
from orchestration.settings import DBT_PROJECT_DIR
from orchestration.sources import load_sources

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ORDERS = dg.AssetKey(["raw_ops", "orders"])
CUSTOMERS = dg.AssetKey(["raw_ops", "customers"])
FACT_ORDERS = dg.AssetKey(["marts", "fact_orders"])


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """June 2026 in Sao Paulo: the 1st is a Monday, the 6th a Saturday, the 7th a Sunday."""
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=SAO_PAULO)


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def materialize_at(instance: dg.DagsterInstance, key: dg.AssetKey, when: dt.datetime) -> None:
    with freeze_time(when):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))


def evaluate_at(
    instance: dg.DagsterInstance, when: dt.datetime
) -> dict[dg.AssetKey, dg.AssetCheckEvaluation]:
    """Run every SLA's freshness checks at ``when``, as the sensor would."""
    checks = build_freshness_checks(load_slas())
    keys = {k.asset_key for c in checks for k in c.check_keys}
    defs = dg.Definitions(
        assets=[dg.AssetSpec(k) for k in keys],
        asset_checks=checks,
        jobs=[dg.define_asset_job("freshness", selection=dg.AssetSelection.checks(*checks))],
    )
    with freeze_time(when):
        result = defs.resolve_job_def("freshness").execute_in_process(instance=instance)
    return {e.asset_key: e for e in result.get_asset_check_evaluations()}


def test_transactional_table_older_than_two_hours_in_business_hours_fails_naming_the_lag(instance):
    materialize_at(instance, ORDERS, at(2, 9, 0))  # Tuesday 09:00

    fresh = evaluate_at(instance, at(2, 11, 30))[ORDERS]  # deadline 11:00: loaded since 09:00
    assert fresh.passed and fresh.check_name == FRESHNESS_CHECK_NAME

    stale = evaluate_at(instance, at(2, 12, 10))[ORDERS]  # deadline 12:00: nothing since 10:00
    assert not stale.passed
    assert stale.severity == dg.AssetCheckSeverity.ERROR
    assert stale.asset_key.to_user_string() == "raw_ops/orders"
    assert "The last update was 3 hours, 10 minutes ago" in stale.description
    assert stale.metadata["dagster/last_updated_timestamp"].value == at(2, 9, 0).timestamp()


def test_transactional_sla_only_applies_in_business_hours(instance):
    materialize_at(instance, ORDERS, at(6, 19, 0))  # Saturday 19:00, the last load of the week
    # Sunday afternoon: the reference is Saturday 20:00's tick, so 20 hours old is fine.
    assert evaluate_at(instance, at(7, 15, 0))[ORDERS].passed
    # Monday 08:00's tick asks for a load since 06:00 again.
    assert not evaluate_at(instance, at(8, 8, 5))[ORDERS].passed


def test_dimensions_allow_a_day_and_marts_26_hours(instance):
    materialize_at(instance, CUSTOMERS, at(2, 3, 40))
    materialize_at(instance, FACT_ORDERS, at(2, 3, 45))  # the daily full build

    next_day = evaluate_at(instance, at(3, 3, 30))
    assert next_day[CUSTOMERS].passed and next_day[FACT_ORDERS].passed

    late = evaluate_at(instance, at(3, 5, 0))  # 25 h 20 min after the customers load
    assert not late[CUSTOMERS].passed
    assert late[CUSTOMERS].severity == dg.AssetCheckSeverity.WARN
    assert late[FACT_ORDERS].passed  # 25 h 15 min: inside the 26 h

    missed = evaluate_at(instance, at(3, 6, 0))[FACT_ORDERS]
    assert not missed.passed and missed.severity == dg.AssetCheckSeverity.ERROR
    assert "The last update was 1 day, 2 hours, 15 minutes ago" in missed.description


def test_never_materialized_table_fails(instance):
    evaluation = evaluate_at(instance, at(2, 12, 0))[ORDERS]
    assert not evaluation.passed
    assert "never been observed/materialized" in evaluation.description


def test_every_operational_table_and_mart_has_one_sla():
    assigned = [k for sla in load_slas() for k in sla.assets]
    assert len(assigned) == len(set(assigned))
    raw = {k.path[1] for k in assigned if k.path[0] == "raw_ops"}
    assert raw == set(load_sources().names)
    marts = {k.path[1] for k in assigned if k.path[0] == "marts"}
    mart_models = {p.stem for p in (DBT_PROJECT_DIR / "models" / "marts").rglob("*.sql")}
    assert marts == mart_models


def test_dbt_sources_leave_freshness_to_the_sla_file():
    """expectations/freshness.yml is the one place for freshness: no dbt source declares its own."""
    declaring = [
        f"{path.name}: {source['name']}.{table['name']}"
        for path in (DBT_PROJECT_DIR / "models").rglob("_*__sources.yml")
        for source in yaml.safe_load(path.read_text())["sources"]
        for table in [source, *source.get("tables", [])]
        if "freshness" in table or "freshness" in (table.get("config") or {})
    ]
    assert declaring == []


def test_optional_sla_for_undefined_assets_is_skipped_and_a_typo_is_an_error(tmp_path: Path):
    slas = load_slas()
    defined = {k for sla in slas if not sla.optional for k in sla.assets}
    checks = build_freshness_checks(slas, defined)
    checked = {k.asset_key for c in checks for k in c.check_keys}
    assert checked == defined  # the Marketo hook is left out, nothing else
    assert dg.AssetKey(["raw_marketo", "activities"]) not in checked

    with pytest.raises(FreshnessSlaError, match="raw_ops/orders"):
        build_freshness_checks(slas, defined - {ORDERS})
    bad = tmp_path / "freshness.yml"
    bad.write_text("slas:\n  - {name: x, max_lag_hours: 1, assets: [orders]}\n")
    with pytest.raises(FreshnessSlaError, match=r"<layer>\.<table>"):
        load_slas(bad)
