"""Marketo extraction assets (group ``marketo``), their job and schedule.

- ``raw_marketo/leads``: bulk lead exports by ``updatedAt`` windows (<= 31 days) from the
  bookmark; a 1035 falls back to the documented full ``createdAt`` sweep (see
  ``orchestration.marketo.bulk``).
- ``raw_marketo/activities``: daily partitions, backfillable from the UI; a range runs as
  one run (``BackfillPolicy.single_run``) with one bulk export per <= 31-day window.
- ``raw_marketo/programs``: Asset API paging from the high-water mark (minus a day).
- ``raw_marketo/activity_types``: a snapshot of the type catalogue per run (Marketo gives
  types no update time; staging keeps the newest snapshot).

Every window is landed as Parquet and published atomically and idempotently (dedup on
``id`` / ``marketoGUID`` plus the cursor); the runner's export state lives in the
warehouse (``raw_marketo._state``) and its bookmark advances only after the publish, so a
failed run resumes the same export jobs next time and never skips a window.

Concurrency: every Marketo asset is in one pool, ``marketo``, so one Marketo extraction
runs at a time (the client also caps in-flight calls at Marketo's 10 and paces itself to
its 100 calls / 20 s). It is not the DuckDB writer pool: a Marketo run waits on the API far
longer than it writes. On DuckDB its writes queue on the warehouse file lock instead.
"""

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from typing import Any

import dagster as dg
import pyarrow as pa

from orchestration.marketo import SWEEP_FALLBACK, ExportJobRunner, ExportResult, MarketoClient
from orchestration.marketo.bulk import parse_ts
from orchestration.resources.marketo import MarketoResource, WarehouseStateStore
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR, Settings
from orchestration.warehouse.base import LoadRequest, LoadResult, Warehouse
from orchestration.warehouse.landing import land_batches

GROUP = "marketo"
RAW_SCHEMA = "raw_marketo"
MARKETO_POOL = "marketo_api"
ACTIVITIES_START_DEFAULT = "2025-01-01"
PROGRAMS_LOOKBACK = dt.timedelta(days=1)
# Marketo's documented daily allowance; every extraction reports its share of it.
DAILY_API_QUOTA = 50_000

LEADS = dg.AssetKey([RAW_SCHEMA, "leads"])
ACTIVITIES = dg.AssetKey([RAW_SCHEMA, "activities"])
PROGRAMS = dg.AssetKey([RAW_SCHEMA, "programs"])
ACTIVITY_TYPES = dg.AssetKey([RAW_SCHEMA, "activity_types"])


def activities_partitions() -> dg.DailyPartitionsDefinition:
    start = os.environ.get("MARKETO_ACTIVITIES_START_DATE") or ACTIVITIES_START_DEFAULT
    return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC")


def pool_for(settings: Settings) -> str:
    # Its own pool on every warehouse: most of a Marketo extraction is waiting on the API (its
    # 100 calls / 20 s), and holding the DuckDB writer pool meanwhile would stall the hourly
    # operational runs behind a Marketo backfill. DuckDB writes still go one at a time: each
    # publish takes the warehouse file lock, which the dbt step holds for its whole build.
    del settings
    return MARKETO_POOL


# -- typing and publishing -------------------------------------------------------------------


def to_timestamps(table: pa.Table, columns: Iterable[str]) -> pa.Table:
    """Marketo ISO-8601 strings to naive UTC ``timestamp[us]`` (like the other raw tables)."""
    for name in columns:
        if name not in table.column_names:
            continue
        values = [
            None if v is None else parse_ts(v).replace(tzinfo=None) for v in table.column(name).to_pylist()
        ]
        index = table.column_names.index(name)
        table = table.set_column(index, name, pa.array(values, type=pa.timestamp("us")))
    return table


def records_table(records: list[dict[str, Any]], timestamp_columns: tuple[str, ...]) -> pa.Table:
    """REST records to strings (nested values as JSON), timestamps typed; columns in first-seen order."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    data = {
        name: [
            None
            if (v := r.get(name)) is None
            else v
            if isinstance(v, str)
            else json.dumps(v, ensure_ascii=False, sort_keys=True)
            if isinstance(v, dict | list)
            else str(v).lower()
            if isinstance(v, bool)
            else str(v)
            for r in records
        ]
        for name in columns
    }
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in data.items()})
    return to_timestamps(table, timestamp_columns)


def publish_table(
    warehouse: Warehouse,
    *,
    schema: str,
    table_name: str,
    table: pa.Table,
    key_columns: tuple[str, ...],
    cursor_column: str,
    batch_id: str,
) -> LoadResult:
    landing_dir = DATA_DIR / "landing" / "marketo"
    landing_dir.mkdir(parents=True, exist_ok=True)
    safe = hashlib.sha1(batch_id.encode()).hexdigest()[:16]
    path = landing_dir / f"{table_name}-{safe}.parquet"
    try:
        land_batches(table.to_batches(), table.schema, path, cursor_column)
        return warehouse.publish(
            LoadRequest(
                dataset=schema,
                table=table_name,
                landing_file=path,
                key_columns=key_columns,
                cursor_column=cursor_column,
                batch_id=batch_id,
                arrow_schema=table.schema,
            )
        )
    finally:
        path.unlink(missing_ok=True)


class ExtractionStats:
    """What one asset run did, reported as materialization metadata."""

    def __init__(self, client: MarketoClient) -> None:
        self.client = client
        self.rows_landed = 0
        self.rows_inserted = 0
        self.windows: list[str] = []
        self.export_ids: list[str] = []
        self.bytes_downloaded = 0
        self.download_resumes = 0
        self.job_attempts = 0
        self.fallback: str | None = None

    def add_export(self, result: ExportResult, load: LoadResult) -> None:
        self.windows.append(result.window.key)
        self.export_ids.append(result.export_id)
        self.bytes_downloaded += result.file_size
        self.download_resumes += result.download_resumed
        self.job_attempts += result.attempts
        self.fallback = self.fallback or result.fallback
        self.add_load(load)

    def add_load(self, load: LoadResult) -> None:
        self.rows_landed += load.rows_landed
        self.rows_inserted += load.rows_inserted

    def metadata(self, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "rows_landed": self.rows_landed,
            "rows_inserted": self.rows_inserted,
            "api_calls_used": self.client.calls_used,
            "api_calls_sent": self.client.calls_made,
            "api_retries": self.client.retries,
            "api_rate_limit_wait_s": round(self.client.rate_limit_wait_s, 1),
            "token_requests": self.client.token_requests,
            "daily_quota_share_pct": dg.FloatMetadataValue(
                round(100 * self.client.calls_used / DAILY_API_QUOTA, 3)
            ),
        }
        if self.windows:
            meta.update(
                windows=len(self.windows),
                window_list=dg.MetadataValue.json(self.windows),
                export_ids=dg.MetadataValue.json(self.export_ids),
                bytes_downloaded=self.bytes_downloaded,
                download_resumes=self.download_resumes,
                export_job_attempts=self.job_attempts,
                fallback_used=self.fallback or "none",
            )
        meta.update(extra)
        return meta


def run_exports(
    context: dg.AssetExecutionContext,
    runner: ExportJobRunner,
    warehouse: Warehouse,
    stats: ExtractionStats,
    *,
    schema: str,
    table_name: str,
    start: dt.datetime,
    end: dt.datetime | None,
    cursor_column: str,
) -> None:
    """Publish every window of ``runner.run`` and commit its bookmark only after the publish."""
    for result in runner.run(start, end):
        table = to_timestamps(result.table, ("createdAt", "updatedAt", "activityDate"))
        load = publish_table(
            warehouse,
            schema=schema,
            table_name=table_name,
            table=table,
            key_columns=(runner.key_column,),
            cursor_column=cursor_column,
            batch_id=f"{context.run_id}:{table_name}:{result.export_id}",
        )
        runner.commit(result)
        stats.add_export(result, load)
        if result.fallback == SWEEP_FALLBACK and stats.windows[-1:] == [result.window.key]:
            context.log.warning(f"{table_name}: lead updatedAt filter unsupported (1035), createdAt sweep")
        context.log.info(
            f"{table_name} {result.window.key}: export {result.export_id}, {load.rows_landed} rows, "
            f"{load.rows_inserted} new"
        )


# -- assets ----------------------------------------------------------------------------------

COMMON = {
    "group_name": GROUP,
    "kinds": {"marketo", "python"},
    "owners": ["team:data-engineering"],
    "tags": {"layer": "raw", "source": "marketo"},
}


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    pool = pool_for(settings)

    @dg.asset(
        key=LEADS,
        description=(
            "Marketo leads (people), bulk-exported by `updatedAt` windows of at most 31 days since the "
            "bookmark kept in `raw_marketo._state`; append-only raw copy with load metadata (PII)."
        ),
        pool=pool,
        **COMMON,
    )
    def leads(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = marketo.client()
        wh = warehouse.get()
        schema = warehouse.schema_name(RAW_SCHEMA)
        stats = ExtractionStats(client)
        with tempfile.TemporaryDirectory(prefix="marketo-leads-") as work_dir:
            runner = ExportJobRunner(
                client, WarehouseStateStore(wh, schema), entity="leads", state_key="leads", work_dir=work_dir
            )
            run_exports(
                context,
                runner,
                wh,
                stats,
                schema=schema,
                table_name="leads",
                start=marketo.history_start_at(),
                end=None,
                cursor_column="updatedAt",
            )
            bookmark = runner.bookmark
        return dg.MaterializeResult(
            metadata=stats.metadata(bookmark=bookmark.isoformat() if bookmark else "none")
        )

    @dg.asset(
        key=ACTIVITIES,
        description=(
            "Marketo activities (web visits, form fills, e-mail sends/deliveries/opens/clicks, score "
            "changes...), one daily partition per activity date (UTC); a backfill of a range runs as one "
            "run with one bulk export per 31-day window."
        ),
        partitions_def=activities_partitions(),
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=pool,
        **COMMON,
    )
    def activities(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = marketo.client()
        wh = warehouse.get()
        schema = warehouse.schema_name(RAW_SCHEMA)
        window = context.partition_time_window
        start = window.start.astimezone(dt.UTC)
        end = window.end.astimezone(dt.UTC)
        # One state entry per partition range: a failed run of the same range resumes its exports.
        state_key = f"activities:{start:%Y-%m-%d}/{end:%Y-%m-%d}"
        store = WarehouseStateStore(wh, schema)
        stats = ExtractionStats(client)
        with tempfile.TemporaryDirectory(prefix="marketo-activities-") as work_dir:
            runner = ExportJobRunner(
                client, store, entity="activities", state_key=state_key, work_dir=work_dir
            )
            run_exports(
                context,
                runner,
                wh,
                stats,
                schema=schema,
                table_name="activities",
                start=start,
                end=end,
                cursor_column="activityDate",
            )
        # The range is in the warehouse: forget it, so that materializing it again re-extracts it.
        store.put(state_key, {"bookmark": None, "jobs": {}, "sweep": None})
        return dg.MaterializeResult(
            metadata=stats.metadata(
                partition_range=f"{context.partition_key_range.start}..{context.partition_key_range.end}"
            )
        )

    @dg.asset(
        key=PROGRAMS,
        description=(
            "Marketo programs (campaigns: e-mail, event, webinar, nurture) from the Asset API, "
            "incrementally by `updatedAt` from the high-water mark minus a day."
        ),
        pool=pool,
        **COMMON,
    )
    def programs(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = marketo.client()
        wh = warehouse.get()
        schema = warehouse.schema_name(RAW_SCHEMA)
        stats = ExtractionStats(client)
        mark = wh.high_water_mark(schema, "programs")
        since = (mark.replace(tzinfo=dt.UTC) - PROGRAMS_LOOKBACK) if mark else None
        records = list(client.iter_programs(earliest_updated_at=since))
        if records:
            table = records_table(records, ("createdAt", "updatedAt"))
            stats.add_load(
                publish_table(
                    wh,
                    schema=schema,
                    table_name="programs",
                    table=table,
                    key_columns=("id",),
                    cursor_column="updatedAt",
                    batch_id=f"{context.run_id}:programs",
                )
            )
        return dg.MaterializeResult(
            metadata=stats.metadata(updated_since=since.isoformat() if since else "beginning")
        )

    @dg.asset(
        key=ACTIVITY_TYPES,
        description=(
            "The Marketo activity type catalogue (ids, names, attributes), one snapshot per run "
            "(types carry no update time); staging keeps the newest."
        ),
        pool=pool,
        **COMMON,
    )
    def activity_types(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        client = marketo.client()
        wh = warehouse.get()
        schema = warehouse.schema_name(RAW_SCHEMA)
        stats = ExtractionStats(client)
        extracted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        table = records_table(client.activity_types(), ())
        table = table.append_column(
            "_extracted_at", pa.array([extracted_at] * table.num_rows, type=pa.timestamp("us"))
        )
        stats.add_load(
            publish_table(
                wh,
                schema=schema,
                table_name="activity_types",
                table=table,
                key_columns=("id",),
                cursor_column="_extracted_at",
                batch_id=f"{context.run_id}:activity_types",
            )
        )
        return dg.MaterializeResult(metadata=stats.metadata(types=table.num_rows))

    return [leads, activities, programs, activity_types]


# -- job and schedule --------------------------------------------------------------------------


def marketo_selection() -> dg.AssetSelection:
    return dg.AssetSelection.groups(GROUP)


def build_job(partitions_def: dg.PartitionsDefinition):
    return dg.define_asset_job(
        name="marketo_daily",
        # The Marketo extracts, then every dbt model that reads them (staging, marketing marts,
        # customer_360), so the engagement columns are fresh after each run.
        selection=marketo_selection().downstream(),
        partitions_def=partitions_def,
        description=(
            "Marketo: leads, programs and activity types since their bookmarks, the activities of the "
            "selected day(s), then the dbt models downstream of them."
        ),
        tags={"schedule": "daily", "source": "marketo"},
    )


def definitions(settings: Settings) -> dg.Definitions:
    assets = build_assets(settings)
    partitions_def = next(a.partitions_def for a in assets if a.partitions_def is not None)
    job = build_job(partitions_def)
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        # Yesterday's activities (UTC) after the day has closed; before the daily full build.
        hour_of_day=5,
        minute_of_hour=0,
        name="marketo_daily_schedule",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(assets=assets, jobs=[job], schedules=[schedule])
