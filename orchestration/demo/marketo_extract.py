"""Run the Marketo job in-process over a range of activity days (the demo and the tests).

The same thing as launching a backfill of ``marketo_daily`` in the UI: one run for the
whole range (``BackfillPolicy.single_run``), one bulk export per 31-day window.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import dagster as dg

from orchestration.settings import Settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def marketo_configured() -> bool:
    return bool(os.environ.get("MARKETO_BASE_URL"))


def activity_days_range(days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last ``days`` complete UTC days: (first, last)."""
    last = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=1)
    return last - dt.timedelta(days=days - 1), last


def extract_marketo(
    settings: Settings,
    first_day: dt.date,
    last_day: dt.date,
    *,
    with_dbt: bool = False,
    run_config: dict[str, Any] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize the Marketo assets with activities for ``first_day..last_day`` in one run.

    ``with_dbt`` also builds the dbt models downstream of Marketo (what the scheduled job does).
    """
    from orchestration.assets.marketo import GROUP
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def("marketo_daily")
    graph = defs.resolve_asset_graph()
    selection = dg.AssetSelection.groups(GROUP)
    if with_dbt:
        selection = selection.downstream()
    keys = selection.resolve(graph)
    if instance is None:
        instance = (
            dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
        )
    config = dict(run_config or {})
    if not with_dbt:
        config.get("ops", {}).pop("dbt_models", None)
    return job.execute_in_process(
        instance=instance,
        asset_selection=list(keys),
        run_config=config or None,
        tags={RANGE_START_TAG: first_day.isoformat(), RANGE_END_TAG: last_day.isoformat()},
        raise_on_error=False,
    )
