"""A test-only code location for tests/ops/test_production_instance.py, served over gRPC.

A tiny asset with a check on a schedule that fires every minute, a job that always fails on
the same schedule, and the platform's real alert sensors (checked every few seconds).
"""

from __future__ import annotations

import dagster as dg

from orchestration.alerts.channels import AlertChannels
from orchestration.alerts.sensors import RESOURCE_KEY, build_alert_sensors
from orchestration.settings import load_alert_settings


@dg.asset(group_name="ops_test")
def heartbeat() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"beats": 1})


@dg.asset_check(asset=heartbeat, blocking=True)
def heartbeat_beats() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"checked": True})


@dg.asset(group_name="ops_test")
def broken_feed() -> None:
    raise RuntimeError("the supplier feed answered HTTP 503")


heartbeat_job = dg.define_asset_job("heartbeat_job", selection=[heartbeat])
broken_job = dg.define_asset_job("broken_feed_job", selection=[broken_feed])

alerts = load_alert_settings()
defs = dg.Definitions(
    assets=[heartbeat, broken_feed],
    asset_checks=[heartbeat_beats],
    jobs=[heartbeat_job, broken_job],
    schedules=[
        dg.ScheduleDefinition(name="heartbeat_every_minute", job=heartbeat_job, cron_schedule="* * * * *"),
        dg.ScheduleDefinition(name="broken_every_minute", job=broken_job, cron_schedule="* * * * *"),
    ],
    sensors=build_alert_sensors(alerts, minimum_interval_seconds=5),
    resources={RESOURCE_KEY: AlertChannels.from_settings(alerts)},
)
