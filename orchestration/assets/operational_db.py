"""One extraction asset per operational table (group ``operational_db``)."""

import datetime as dt

import dagster as dg

from orchestration.demo import schema as ops_schema
from orchestration.extract.faults import classify
from orchestration.extract.pipeline import extract_table
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR, Settings

GROUP = "operational_db"
RAW_SCHEMA = "raw_ops"
WAREHOUSE_POOL = "warehouse_writer"

DESCRIPTIONS = {
    "categories": "Product categories (therapeutic classes) with their parent category.",
    "suppliers": "Manufacturers and distributors that supply the products, identified by CNPJ.",
    "warehouses": "Distribution centres that hold stock and ship orders.",
    "customers": "Pharmacies buying from the distributor: CNPJ, address, tier, credit terms.",
    "products": "Medicines and health products with their Anvisa registration code.",
    "inventory": "Stock per product and warehouse: available, reserved, incoming, reorder point.",
    "pricing": "List prices (tier NULL) and tier prices with their effective date ranges.",
    "orders": "Customer orders through their status lifecycle, with money totals in BRL.",
    "order_items": "Order lines: product, quantity, unit price, discount, tax, total.",
    "customer_interactions": "Support and sales contacts over WhatsApp, e-mail, phone and web.",
}


def raw_asset_key(table: str) -> dg.AssetKey:
    return dg.AssetKey([RAW_SCHEMA, table])


def _build_extraction_asset(table: str, cursor_column: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(table),
        group_name=GROUP,
        description=(
            f"{DESCRIPTIONS[table]} Extracted incrementally by `{cursor_column}` into the append-only "
            f"raw table `{RAW_SCHEMA}.{table}`."
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
            outcome = extract_table(
                ops_db.engine,
                warehouse.get(),
                table=table,
                cursor_column=cursor_column,
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


extraction_assets = [
    _build_extraction_asset(table.name, ops_schema.cursor_column(table)) for table in ops_schema.TABLES
]


def definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(assets=extraction_assets)
