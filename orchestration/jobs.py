"""Jobs and schedules: an hourly incremental run, a daily full build and the daily Marketo run."""

from __future__ import annotations

import dagster as dg

from orchestration.assets.bigquery_costs import COSTS_TAG
from orchestration.assets.completeness import completeness_check_keys
from orchestration.assets.marketo import GROUP as MARKETO_GROUP
from orchestration.assets.marketo import activities_partitions
from orchestration.assets.operational_cdc import SLOT_LAG_CHECK
from orchestration.assets.operational_db import GROUP as OPS_GROUP
from orchestration.assets.operational_db import cdc_tables, raw_asset_key
from orchestration.settings import Settings
from orchestration.sources import Sources, load_sources


def hourly_incremental_job(sources: Sources) -> dg.UnresolvedAssetJobDefinition:
    # Everything downstream of the sources, incremental models doing incremental work; the
    # completeness checks (a full comparison with the source) run daily, not hourly.
    selection = dg.AssetSelection.groups(OPS_GROUP).downstream() - dg.AssetSelection.checks(
        *completeness_check_keys(sources)
    )
    return dg.define_asset_job(
        name="hourly_incremental",
        selection=selection,
        description=(
            "Extract what changed in the operational database since the last high-water mark, "
            "then dbt build: incremental facts merge only the affected rows. With nothing new in "
            "raw since the last build, dbt is skipped."
        ),
        # Column lineage changes only with the models: the daily build records it, the hourly
        # runs keep the row counts and schemas and skip its cost (docs/operations.md).
        config={"ops": {"dbt_models": {"config": {"skip_when_unchanged": True, "column_lineage": False}}}},
        tags={"schedule": "hourly"},
    )


daily_full_build_job = dg.define_asset_job(
    name="daily_full_build",
    # Marketo has its own job (marketo_daily: daily activity partitions, which cannot share a job
    # with unpartitioned assets here, and an outage there must not hold back the operational marts).
    # dbt builds the Marketo models too, from whatever raw_marketo holds.
    # The BigQuery cost report has its own job (assets/bigquery_costs.py).
    selection=dg.AssetSelection.all()
    - dg.AssetSelection.groups(MARKETO_GROUP)
    - dg.AssetSelection.tag(*next(iter(COSTS_TAG.items()))),
    description=(
        "Every asset but the Marketo extracts (job marketo_daily): operational sources, dbt build with "
        "a full refresh of incremental models."
    ),
    config={"ops": {"dbt_models": {"config": {"full_refresh": True}}}},
    tags={"schedule": "daily"},
)


daily_schedule = dg.ScheduleDefinition(
    job=daily_full_build_job,
    cron_schedule="30 3 * * *",
    execution_timezone="America/Sao_Paulo",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


def marketo_daily_job(partitions_def: dg.PartitionsDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        name="marketo_daily",
        # The Marketo extracts, then every dbt model that reads them (staging, marketing marts,
        # customer_360), so the engagement columns are fresh after each run.
        selection=dg.AssetSelection.groups(MARKETO_GROUP).downstream(),
        partitions_def=partitions_def,
        description=(
            "Marketo: leads, programs and activity types since their bookmarks, the activities of the "
            "selected day(s), then the dbt models downstream of them."
        ),
        tags={"schedule": "daily", "source": "marketo"},
    )


def cdc_jobs(settings: Settings, sources: Sources) -> tuple[list, list]:
    """cdc_drain (on CDC_DRAIN_CRON) and cdc_resnapshot, when a table is in mode cdc.

    The drain selects only the CDC raw assets (and their slot lag checks): their pool,
    warehouse_writer, queues it behind any other DuckDB writer. The hourly and daily jobs
    materialize the same assets, which then drain too.
    """
    tables = cdc_tables(sources)
    if not tables:
        return [], []
    keys = [raw_asset_key(t) for t in tables]
    drain = dg.define_asset_job(
        name="cdc_drain",
        # Only the slot lag checks: the raw suites (Great Expectations, ~10 s to import) run with
        # the hourly job, not every minute.
        selection=dg.AssetSelection.assets(*keys).without_checks()
        | dg.AssetSelection.checks(*(dg.AssetCheckKey(key, SLOT_LAG_CHECK) for key in keys)),
        description="Drain the replication slot of every table in mode cdc into raw, exactly once.",
        tags={"schedule": "cdc"},
    )
    resnapshot = dg.define_asset_job(
        name="cdc_resnapshot",
        selection=dg.AssetSelection.assets(*keys).without_checks(),
        description=(
            "Recover from a dropped or invalidated replication slot: a new slot and a new snapshot per "
            "table (edit the selection in the launchpad for one table). Keys gone meanwhile end in staging."
        ),
        config={"ops": {key.to_python_identifier(): {"config": {"resnapshot": True}} for key in keys}},
    )
    schedule = dg.ScheduleDefinition(
        job=drain,
        cron_schedule=settings.cdc_drain_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return [drain, resnapshot], [schedule]


def definitions(settings: Settings) -> dg.Definitions:
    # Built per call: the activities' partitions start at MARKETO_ACTIVITIES_START_DATE.
    marketo_job = marketo_daily_job(activities_partitions(settings))
    marketo_schedule = dg.build_schedule_from_partitioned_job(
        marketo_job,
        # Yesterday's activities (UTC) after the day has closed; before the daily full build.
        hour_of_day=5,
        minute_of_hour=0,
        name="marketo_daily_schedule",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    hourly_job = hourly_incremental_job(load_sources(settings.sources_file))
    hourly_schedule = dg.ScheduleDefinition(
        job=hourly_job,
        cron_schedule="15 * * * *",
        execution_timezone="America/Sao_Paulo",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    cdc_job_list, cdc_schedules = cdc_jobs(settings, load_sources(settings.sources_file))
    return dg.Definitions(
        jobs=[hourly_job, daily_full_build_job, marketo_job, *cdc_job_list],
        schedules=[hourly_schedule, daily_schedule, marketo_schedule, *cdc_schedules],
    )
