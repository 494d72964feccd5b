"""Marketo extraction assets (group ``marketo``); their job and schedule are in ``orchestration.jobs``.

- ``raw_marketo/leads``: bulk lead exports by ``updatedAt`` windows (<= 31 days) from the
  bookmark; a 1035 falls back to one ``createdAt`` sweep of the history, then to new leads,
  leads named by lead-change activities and a rolling re-sweep (``orchestration.marketo.bulk``).
- ``raw_marketo/activities``: daily partitions, backfillable from the UI; a range runs as
  one run (``BackfillPolicy.single_run``) with one bulk export per <= 31-day window. Each
  partition's materialization carries its own figures (rows, the export it came from, its
  share of that export's bytes and API calls); the run's totals are the ``run_*`` entries.
- ``raw_marketo/programs``: Asset API paging from the high-water mark (minus a day).
- ``raw_marketo/activity_types``: a snapshot of the type catalogue per run (Marketo gives
  types no update time; staging keeps the newest snapshot).

Every window is landed as Parquet (through ``orchestration.extract.landing``, like every
source) and published atomically and idempotently (dedup on
``id`` / ``marketoGUID`` plus the cursor); the runner's export state lives in the
warehouse (``raw_marketo._state``) and its bookmark advances only after the publish, so a
failed run resumes the same export jobs next time and never skips a window.

Concurrency: every Marketo asset is in one pool, ``marketo``, so one Marketo extraction
runs at a time (the client also caps in-flight calls at Marketo's 10 and paces itself to
its 100 calls / 20 s). It is not the DuckDB writer pool: a Marketo run waits on the API far
longer than it writes. On DuckDB its writes queue on the warehouse file lock instead.
"""

import datetime as dt
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Self

import dagster as dg
import pyarrow as pa

from orchestration.extract.publish import publish_arrow_table
from orchestration.marketo import SWEEP_FALLBACK, ExportJobRunner, ExportResult, MarketoClient
from orchestration.marketo.arrow import records_table, to_timestamps
from orchestration.marketo.windows import parse_ts
from orchestration.resources.marketo import MarketoResource, WarehouseStateStore
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR, Settings
from orchestration.warehouse.base import LoadResult, Warehouse

GROUP = "marketo"
RAW_SCHEMA = "raw_marketo"
# Its own pool on every warehouse: most of a Marketo extraction is waiting on the API (its
# 100 calls / 20 s), and holding the DuckDB writer pool meanwhile would stall the hourly
# operational runs behind a Marketo backfill. DuckDB writes still go one at a time: each
# publish takes the warehouse file lock, which the dbt step holds for its whole build.
MARKETO_POOL = "marketo_api"
PROGRAMS_LOOKBACK = dt.timedelta(days=1)
# Marketo's documented daily allowance; every extraction reports its share of it.
DAILY_API_QUOTA = 50_000

LEADS = dg.AssetKey([RAW_SCHEMA, "leads"])
ACTIVITIES = dg.AssetKey([RAW_SCHEMA, "activities"])
PROGRAMS = dg.AssetKey([RAW_SCHEMA, "programs"])
ACTIVITY_TYPES = dg.AssetKey([RAW_SCHEMA, "activity_types"])
EXPORT_TIMESTAMPS = ("createdAt", "updatedAt", "activityDate")


LEAD_CHANGES_CHECK = "lead_changes_covered"


def lead_changes_check(
    status: dict[str, Any] | None, now: dt.datetime, period: dt.timedelta
) -> dg.AssetCheckResult:
    """Whether raw_marketo.leads can be missing a lead change, and since when.

    With the ``updatedAt`` filter nothing can be (the bookmark covers every change). Under the
    1035 fallback a change Marketo logs no activity for is only read by the rolling re-sweep:
    raw holds every change made before the start of the last complete pass, and a pass takes
    one period, so that start is at most two periods old unless the re-sweep is falling behind
    (export quota used up, failing runs, runs stopped)."""
    severity = dg.AssetCheckSeverity.WARN
    if status is None:
        return dg.AssetCheckResult(
            check_name=LEAD_CHANGES_CHECK,
            passed=True,
            severity=severity,
            metadata={"mode": "updatedAt filter: every change is read by its update time"},
        )
    complete_before = parse_ts(status["complete_for_unlogged_changes_before"])
    lag = now - complete_before
    passed = lag <= 2 * period
    text = (
        "raw_marketo.leads (1035 fallback): changes Marketo logged as activities are read every run; "
        f"changes it logged no activity for are complete up to {complete_before:%Y-%m-%d %H:%M} UTC"
    )
    if not passed:
        text += (
            f", {lag.days} days ago, more than twice MARKETO_LEADS_RESWEEP_DAYS={period.days}: the re-sweep "
            "is behind (export quota used up by other exports, failing or paused runs); lead changes "
            "without an activity after that date may be missing from raw"
        )
    return dg.AssetCheckResult(
        check_name=LEAD_CHANGES_CHECK,
        passed=passed,
        severity=severity,
        description=text,
        metadata={
            "mode": "1035 fallback: createdAt windows, lead-change activities, rolling re-sweep",
            "complete_for_unlogged_changes_before": complete_before.isoformat(),
            "days_since": round(lag / dt.timedelta(days=1), 2),
            "resweep_period_days": round(period / dt.timedelta(days=1), 3),
        },
    )


def activities_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """Daily from MARKETO_ACTIVITIES_START_DATE (default 2025-01-01), UTC."""
    return dg.DailyPartitionsDefinition(start_date=settings.marketo_activities_start_date, timezone="UTC")


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
        if result.export_id:  # a REST re-read of changed leads has none
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


def apportion(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (all equal when they sum to 0), in whole
    numbers that add up to ``total`` exactly (largest remainders get the odd units)."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    exact = [total * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


@dataclass
class PartitionFigures:
    """Each daily activities partition's own figures in a run over a range.

    An export window (<= 31 days) serves several partitions: a partition gets its own rows
    (by ``activityDate``), the id of the export they came from, and its share of that export's
    bytes and of the API calls spent on it, in proportion to its rows; the shares of a window
    add up to the window's figures, and the partitions' to the run's totals."""

    client: MarketoClient
    partition_keys: list[str]
    calls_mark: int = 0
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.calls_mark = self.client.calls_used
        self.figures = {
            key: {"rows_landed": 0, "export_ids": [], "bytes_downloaded": 0, "api_calls_used": 0}
            for key in self.partition_keys
        }

    def add(self, result: ExportResult) -> None:
        calls, self.calls_mark = self.client.calls_used - self.calls_mark, self.client.calls_used
        keys = [
            k
            for k in self.partition_keys
            if result.window.contains(dt.datetime.fromisoformat(k).replace(tzinfo=dt.UTC))
        ]
        days = Counter(value[:10] for value in result.table.column("activityDate").to_pylist() if value)
        rows = [days.get(k, 0) for k in keys]
        for key, n, size, used in zip(
            keys, rows, apportion(result.file_size, rows), apportion(calls, rows), strict=True
        ):
            part = self.figures[key]
            part["rows_landed"] += n
            part["export_ids"].append(result.export_id)
            part["bytes_downloaded"] += size
            part["api_calls_used"] += used

    def metadata(self, key: str) -> dict[str, Any]:
        part = self.figures[key]
        return {**part, "export_ids": dg.MetadataValue.json(part["export_ids"])}


@dataclass
class MarketoRun:
    """What every Marketo asset starts from, and the one way each of them publishes."""

    context: dg.AssetExecutionContext
    client: MarketoClient
    warehouse: Warehouse
    schema: str
    stats: ExtractionStats

    @classmethod
    def start(
        cls, context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> Self:
        client = marketo.client()
        return cls(context, client, warehouse.get(context), RAW_SCHEMA, ExtractionStats(client))

    def state_store(self) -> WarehouseStateStore:
        return WarehouseStateStore(self.warehouse, self.schema)

    def publish(
        self,
        table_name: str,
        table: pa.Table,
        *,
        key_columns: tuple[str, ...],
        cursor_column: str,
        export_id: str | None = None,
    ) -> LoadResult:
        """Land and publish one batch, identified by the run, the table and the export job if any."""
        batch_id = ":".join([self.context.run.run_id, table_name, *([export_id] if export_id else [])])
        return publish_arrow_table(
            self.warehouse,
            table,
            landing_dir=DATA_DIR / "landing",
            raw_schema=self.schema,
            table_name=table_name,
            key_columns=key_columns,
            cursor_column=cursor_column,
            batch_id=batch_id,
        )

    def export(
        self,
        entity: str,
        *,
        state_key: str,
        start: dt.datetime,
        end: dt.datetime | None,
        cursor_column: str,
        partitions: PartitionFigures | None = None,
        **runner_options: Any,
    ) -> ExportJobRunner:
        """Publish every window of a bulk export and commit its bookmark only after the publish."""
        with tempfile.TemporaryDirectory(prefix=f"marketo-{entity}-") as work_dir:
            runner = ExportJobRunner(
                self.client,
                self.state_store(),
                entity=entity,
                state_key=state_key,
                work_dir=work_dir,
                **runner_options,
            )
            for result in runner.run(start, end):
                self._publish_export(runner, entity, result, cursor_column)
                if partitions is not None:
                    partitions.add(result)
        return runner

    def _publish_export(
        self, runner: ExportJobRunner, table_name: str, result: ExportResult, cursor_column: str
    ) -> None:
        load = self.publish(
            table_name,
            to_timestamps(result.table, EXPORT_TIMESTAMPS),
            key_columns=(runner.key_column,),
            cursor_column=cursor_column,
            export_id=result.batch_label,
        )
        runner.commit(result)
        self.stats.add_export(result, load)
        if result.fallback == SWEEP_FALLBACK and self.stats.windows[-1:] == [result.window.key]:
            self.context.log.warning(
                f"{table_name}: lead updatedAt filter unsupported (1035), createdAt sweep"
            )
        self.context.log.info(
            f"{table_name} {result.window.key}: {result.batch_label}, {load.rows_landed} rows, "
            f"{load.rows_inserted} new"
        )


# -- assets ----------------------------------------------------------------------------------


def marketo_asset(key: dg.AssetKey, description: str, **extra: Any):
    """``dg.asset`` with what every Marketo asset shares: group, kinds, owners, tags and pool."""
    return dg.asset(
        key=key,
        description=description,
        group_name=GROUP,
        kinds={"marketo", "python"},
        owners=["team:data-engineering"],
        tags={"layer": "raw", "source": "marketo"},
        pool=MARKETO_POOL,
        **extra,
    )


def build_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    # The same assets and pool on every warehouse; the activities' first day is a setting.
    @marketo_asset(
        LEADS,
        "Marketo leads (people), bulk-exported by `updatedAt` windows of at most 31 days since the "
        "bookmark kept in `raw_marketo._state`; append-only raw copy with load metadata (PII).",
        check_specs=[
            dg.AssetCheckSpec(
                LEAD_CHANGES_CHECK,
                asset=LEADS,
                description=(
                    "No lead change can be missing from raw for long: with Marketo's updatedAt filter "
                    "none can; under the 1035 fallback, changes Marketo logs no activity for wait for the "
                    "rolling re-sweep, and this warns when it is more than two MARKETO_LEADS_RESWEEP_DAYS "
                    "periods behind."
                ),
            )
        ],
    )
    def leads(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        run = MarketoRun.start(context, marketo, warehouse)
        history_start = marketo.history_start_at()
        runner = run.export(
            "leads",
            state_key="leads",
            start=history_start,
            end=None,
            cursor_column="updatedAt",
            lead_history_start=history_start,
            resweep_period=dt.timedelta(days=marketo.leads_resweep_days),
        )
        status = runner.fallback_status()
        bookmark = runner.bookmark
        extra: dict[str, Any] = {"bookmark": bookmark.isoformat() if bookmark else "none"}
        if status:
            # The 1035 fallback: say up to when raw holds every change, logged as an activity or not.
            extra.update({f"fallback_{k}": v for k, v in status.items()})
            extra["fallback_lead_change_activity_types"] = dg.MetadataValue.json(
                status["lead_change_activity_types"]
            )
        period = dt.timedelta(days=marketo.leads_resweep_days)
        return dg.MaterializeResult(
            metadata=run.stats.metadata(**extra),
            check_results=[lead_changes_check(status, dt.datetime.now(dt.UTC), period)],
        )

    @marketo_asset(
        ACTIVITIES,
        "Marketo activities (web visits, form fills, e-mail sends/deliveries/opens/clicks, score "
        "changes...), one daily partition per activity date (UTC); a backfill of a range runs as one "
        "run with one bulk export per 31-day window.",
        partitions_def=activities_partitions(settings),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def activities(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        run = MarketoRun.start(context, marketo, warehouse)
        window = context.partition_time_window
        start = window.start.astimezone(dt.UTC)
        end = window.end.astimezone(dt.UTC)
        # One state entry per partition range: a failed run of the same range resumes its exports.
        state_key = f"activities:{start:%Y-%m-%d}/{end:%Y-%m-%d}"
        partitions = PartitionFigures(run.client, list(context.partition_keys))
        run.export(
            "activities",
            state_key=state_key,
            start=start,
            end=end,
            cursor_column="activityDate",
            partitions=partitions,
        )
        # The range is in the warehouse: forget it, so that materializing it again re-extracts it.
        run.state_store().put(state_key, {"bookmark": None, "jobs": {}, "sweep": None})
        for key in partitions.partition_keys:
            context.add_asset_metadata(partitions.metadata(key), partition_key=key)
        # On every partition of the run, named as the run's: its totals, never one partition's.
        totals = {f"run_{k}": v for k, v in run.stats.metadata().items()}
        return dg.MaterializeResult(
            metadata={
                **totals,
                "partition_range": f"{context.partition_key_range.start}..{context.partition_key_range.end}",
            }
        )

    @marketo_asset(
        PROGRAMS,
        "Marketo programs (campaigns: e-mail, event, webinar, nurture) from the Asset API, "
        "incrementally by `updatedAt` from the high-water mark minus a day.",
    )
    def programs(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        run = MarketoRun.start(context, marketo, warehouse)
        mark = run.warehouse.high_water_mark(run.schema, "programs")
        since = (mark.replace(tzinfo=dt.UTC) - PROGRAMS_LOOKBACK) if mark else None
        records = list(run.client.iter_programs(earliest_updated_at=since))
        if records:
            table = records_table(records, ("createdAt", "updatedAt"))
            run.stats.add_load(run.publish("programs", table, key_columns=("id",), cursor_column="updatedAt"))
        return dg.MaterializeResult(
            metadata=run.stats.metadata(updated_since=since.isoformat() if since else "beginning")
        )

    @marketo_asset(
        ACTIVITY_TYPES,
        "The Marketo activity type catalogue (ids, names, attributes), one snapshot per run "
        "(types carry no update time); staging keeps the newest.",
    )
    def activity_types(
        context: dg.AssetExecutionContext, marketo: MarketoResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        run = MarketoRun.start(context, marketo, warehouse)
        extracted_at = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        table = records_table(run.client.activity_types(), ())
        table = table.append_column(
            "_extracted_at", pa.array([extracted_at] * table.num_rows, type=pa.timestamp("us"))
        )
        run.stats.add_load(
            run.publish("activity_types", table, key_columns=("id",), cursor_column="_extracted_at")
        )
        return dg.MaterializeResult(metadata=run.stats.metadata(types=table.num_rows))

    return [leads, activities, programs, activity_types]


def definitions(settings: Settings) -> dg.Definitions:
    # The job and schedule that run these assets are in orchestration/jobs.py with the others.
    return dg.Definitions(assets=build_assets(settings))
