"""One extraction asset per operational table (group ``operational_db``).

The tables, their keys, cursors and descriptions come from the sources file
(orchestration/sources.yml, see orchestration/sources.py).
"""

import datetime as dt

import dagster as dg

from orchestration.assets.operational_cdc import build_cdc_asset, build_slot_lag_check
from orchestration.extract.faults import classify
from orchestration.extract.pipeline import ExtractionOutcome, extract_source
from orchestration.lifecycle.completeness import check_table, repair_table
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR, Settings
from orchestration.sources import Sources, load_sources

GROUP = "operational_db"
RAW_SCHEMA = "raw_ops"
WAREHOUSE_POOL = "warehouse_writer"


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


# Warn-level checks the extraction asset reports on every run (docs/reliability.md).
FUTURE_CHECK = "cursor_not_ahead_of_clock"
HELD_BACK_CHECK = "mark_not_held_back"


class ExtractionConfig(dg.Config):
    # After the incremental read, compare the table with raw (the completeness check) and
    # re-read exactly the keys that differ; keys gone from the source are recorded as deleted.
    # Job ops_repair sets it for every table.
    repair: bool = False


def _build_extraction_asset(sources: Sources, table: str) -> dg.AssetsDefinition:
    source = sources.table(table)
    key = raw_asset_key(table)

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=(
            f"{source.description} Extracted incrementally by `{source.cursor_column}` into the "
            f"append-only raw table `{RAW_SCHEMA}.{table}`."
        ),
        kinds={"sql", "python"},
        owners=["team:data-engineering"],
        tags={"layer": "raw", "source": "operational_db"},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec(
                FUTURE_CHECK,
                asset=key,
                description=(
                    f"No row of {table} is stamped ahead of the source's clock. Such rows are loaded, but "
                    "they do not carry the high-water mark past the clock; a failure names their keys."
                ),
            ),
            dg.AssetCheckSpec(
                HELD_BACK_CHECK,
                asset=key,
                description=(
                    "No open transaction at the source has held the high-water mark back for longer than "
                    "the operational database's mark_hold_warn_seconds (a forgotten session stalls freshness)."
                ),
            ),
        ],
        # No blanket RetryPolicy: _extract asks for a retry only for transient faults.
    )
    def _extract(
        context: dg.AssetExecutionContext,
        config: ExtractionConfig,
        ops_db: OperationalDatabaseResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        options = {
            "lookback": dt.timedelta(seconds=ops_db.lookback_seconds),
            "chunk_rows": ops_db.chunk_rows,
            "max_rejected_fraction": ops_db.max_rejected_fraction,
            "max_field_chars": ops_db.max_field_chars,
            "clock_tolerance": dt.timedelta(seconds=ops_db.clock_tolerance_seconds),
        }
        wh = warehouse.get(context)
        try:
            outcome = extract_source(
                ops_db.engine,
                wh,
                sources,
                table,
                raw_schema=RAW_SCHEMA,
                landing_dir=DATA_DIR / "landing",
                batch_id=f"{context.run_id}:{table}",
                **options,
            )
            metadata = outcome.metadata()
            if config.repair:
                metadata |= _repair(context, ops_db, wh, sources, table, options)
        except Exception as exc:
            raise _retry_or_fail(context, ops_db, table, exc) from exc
        context.log.info(
            f"{table}: {outcome.load.rows_landed} rows read since {outcome.since}, "
            f"{outcome.load.rows_inserted} new versions published"
        )
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=_mark_checks(outcome, dt.timedelta(seconds=ops_db.mark_hold_warn_seconds)),
        )

    return _extract


def _repair(context, ops_db, wh, sources: Sources, table: str, options: dict) -> dict[str, object]:
    divergence = check_table(ops_db.engine, wh, sources, table, raw_schema=RAW_SCHEMA)
    context.log.info(f"repair: {divergence.summary()}")
    repaired = repair_table(
        ops_db.engine,
        wh,
        sources,
        divergence,
        raw_schema=RAW_SCHEMA,
        landing_dir=DATA_DIR / "landing",
        batch_id=f"{context.run_id}:{table}",
        **options,
    )
    found = {f"found_{k}": v for k, v in divergence.metadata().items() if k in ("missing", "extra", "stale")}
    return found | repaired.metadata()


def _mark_checks(outcome: ExtractionOutcome, hold_warn: dt.timedelta) -> list[dg.AssetCheckResult]:
    """The two warn-level checks, from what the extraction saw (see mark_guard.py)."""
    table, guard, future = outcome.table, outcome.guard, outcome.future
    warn = dg.AssetCheckSeverity.WARN
    if future is None or guard is None:  # not an incremental read: nothing to judge
        return [
            dg.AssetCheckResult(check_name=FUTURE_CHECK, passed=True, severity=warn),
            dg.AssetCheckResult(check_name=HELD_BACK_CHECK, passed=True, severity=warn),
        ]
    future_result = dg.AssetCheckResult(
        check_name=FUTURE_CHECK,
        passed=future.rows == 0,
        severity=warn,
        description=(
            f"{table}: {future.rows} rows stamped after the source's clock "
            f"({guard.source_clock.isoformat(sep=' ')} UTC + {guard.tolerance.total_seconds():.0f} s tolerance), "
            f"keys {', '.join(map(str, future.sample_keys))}; the high-water mark stays at the clock"
            if future.rows
            else f"{table}: no row stamped ahead of the source's clock"
        ),
        metadata={
            "rows_future_stamped": future.rows,
            "future_stamped_keys": ", ".join(map(str, future.sample_keys)) or "none",
            "newest_future_cursor": future.max_cursor.isoformat(sep=" ") if future.max_cursor else "none",
            "source_clock": guard.source_clock.isoformat(sep=" "),
        },
    )
    oldest = guard.oldest_open
    stalled = guard.hidden_sessions > 0 or (oldest is not None and oldest.age_s > hold_warn.total_seconds())
    if guard.hidden_sessions:
        why = f"{table}: the high-water mark is held where it was: {guard.held_back_by()}"
    elif stalled:
        why = (
            f"{table}: an open transaction has held the high-water mark back for more than "
            f"{hold_warn.total_seconds():.0f} s: {oldest.describe()}"
        )
    else:
        why = (
            f"{table}: no transaction has held the mark back for more than {hold_warn.total_seconds():.0f} s"
        )
    held_result = dg.AssetCheckResult(
        check_name=HELD_BACK_CHECK,
        passed=not stalled,
        severity=warn,
        description=why,
        metadata={
            "oldest_open_transaction": oldest.describe() if oldest else "none",
            "oldest_open_transaction_age_s": round(oldest.age_s, 1) if oldest else 0.0,
            "hidden_sessions": guard.hidden_sessions,
            "mark_held_back_s": round(outcome.held_back_s, 3),
        },
    )
    return [future_result, held_result]


def _retry_or_fail(
    context: dg.AssetExecutionContext, ops_db: OperationalDatabaseResource, table: str, exc: Exception
) -> Exception:
    """Retry a transient fault with exponential backoff; fail anything else at once."""
    fault = classify(exc)
    attempt = context.retry_number + 1
    detail = f"{type(exc).__name__}: {str(exc).strip()[:2000]}"
    if fault.transient and context.retry_number < ops_db.max_retries:
        wait = ops_db.retry_base_delay_s * 2**context.retry_number
        context.log.warning(
            f"{table}: transient fault ({fault.reason}) on attempt {attempt}; retrying in {wait:.1f} s. {detail}"
        )
        return dg.RetryRequested(max_retries=ops_db.max_retries, seconds_to_wait=wait)
    if fault.transient:
        why = f"transient fault ({fault.reason}) persisted through {attempt} attempts"
    else:
        why = f"permanent error ({fault.reason}), not retried"
    return dg.Failure(description=f"extraction of {table} failed: {why}. {detail}", allow_retries=False)


def build_extraction_assets(sources: Sources) -> list[dg.AssetsDefinition]:
    return [
        build_cdc_asset(
            sources,
            t.name,
            key=raw_asset_key(t.name),
            group=GROUP,
            pool=WAREHOUSE_POOL,
            raw_schema=RAW_SCHEMA,
        )
        if t.mode == "cdc"
        else _build_extraction_asset(sources, t.name)
        for t in sources
    ]


def cdc_tables(sources: Sources) -> tuple[str, ...]:
    return tuple(t.name for t in sources if t.mode == "cdc")


def definitions(settings: Settings) -> dg.Definitions:
    sources = load_sources(settings.sources_file)
    return dg.Definitions(
        assets=build_extraction_assets(sources),
        asset_checks=[
            build_slot_lag_check(sources, t, key=raw_asset_key(t), raw_schema=RAW_SCHEMA)
            for t in cdc_tables(sources)
        ],
    )
