"""One extraction asset per operational table (group ``operational_db``).

The tables, their keys, cursors and descriptions come from the sources file
(orchestration/sources.yml, see orchestration/sources.py).
"""

import datetime as dt

import dagster as dg

from orchestration.extract.faults import classify
from orchestration.extract.pipeline import extract_source
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR, Settings
from orchestration.sources import Sources, load_sources

GROUP = "operational_db"
RAW_SCHEMA = "raw_ops"
WAREHOUSE_POOL = "warehouse_writer"


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


def _build_extraction_asset(sources: Sources, table: str) -> dg.AssetsDefinition:
    source = sources.table(table)

    @dg.asset(
        key=raw_asset_key(table),
        group_name=GROUP,
        description=(
            f"{source.description} Extracted incrementally by `{source.cursor_column}` into the "
            f"append-only raw table `{RAW_SCHEMA}.{table}`."
        ),
        kinds={"sql", "python"},
        owners=["team:data-engineering"],
        tags={"layer": "raw", "source": "operational_db"},
        pool=WAREHOUSE_POOL,
        # No blanket RetryPolicy: _extract asks for a retry only for transient faults.
    )
    def _extract(
        context: dg.AssetExecutionContext,
        ops_db: OperationalDatabaseResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        try:
            outcome = extract_source(
                ops_db.engine,
                warehouse.get(),
                sources,
                table,
                raw_schema=warehouse.schema_name(RAW_SCHEMA),
                landing_dir=DATA_DIR / "landing",
                batch_id=f"{context.run_id}:{table}",
                lookback=dt.timedelta(seconds=ops_db.lookback_seconds),
                chunk_rows=ops_db.chunk_rows,
                max_rejected_fraction=ops_db.max_rejected_fraction,
                max_field_chars=ops_db.max_field_chars,
            )
        except Exception as exc:
            raise _retry_or_fail(context, ops_db, table, exc) from exc
        context.log.info(
            f"{table}: {outcome.load.rows_landed} rows read since {outcome.since}, "
            f"{outcome.load.rows_inserted} new versions published"
        )
        return dg.MaterializeResult(metadata=outcome.metadata())

    return _extract


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
    return [_build_extraction_asset(sources, table) for table in sources.names]


def definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=build_extraction_assets(load_sources(settings.sources_file)))
