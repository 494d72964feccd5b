"""The raw asset of a ``mode: cdc`` table, and its replication slot's lag check.

Same asset key as a cursor-mode table (``raw_ops/<table>``), so staging and marts do not care
which mode fed raw; materializing it drains the table's slot (orchestration/cdc/sync.py).
The lag check reads only the source: it runs after each drain and on its own, and fails when
the slot holds more WAL than CDC_SLOT_LAG_MAX_BYTES, since a slot nobody drains fills the
source's disk.
"""

import dagster as dg

from orchestration.cdc import postgres_slot
from orchestration.cdc.sync import CdcSourceError, sync_table
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DATA_DIR
from orchestration.sources import Sources

SLOT_LAG_CHECK = "replication_slot_lag"


class CdcConfig(dg.Config):
    # Drop the table's slot, create a new one and read the table again (job cdc_resnapshot):
    # the recovery from a dropped or invalidated slot.
    resnapshot: bool = False


def build_cdc_asset(
    sources: Sources, table: str, *, key: dg.AssetKey, group: str, pool: str, raw_schema: str
) -> dg.AssetsDefinition:
    source = sources.table(table)

    @dg.asset(
        key=key,
        group_name=group,
        description=(
            f"{source.description} Captured from the source's log (mode cdc: PostgreSQL logical "
            f"replication): every committed change, in commit order, into the append-only raw table "
            f"`{raw_schema}.{table}`."
        ),
        kinds={"sql", "python"},
        owners=["team:data-engineering"],
        tags={"layer": "raw", "source": "operational_db", "mode": "cdc"},
        pool=pool,
    )
    def _drain(
        context: dg.AssetExecutionContext,
        config: CdcConfig,
        ops_db: OperationalDatabaseResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        try:
            outcome = sync_table(
                ops_db.engine,
                warehouse.get(),
                sources,
                table,
                raw_schema=raw_schema,
                landing_dir=DATA_DIR / "landing",
                batch_id=f"{context.run.run_id}:{table}",
                slot_prefix=ops_db.cdc_slot_prefix,
                max_changes=ops_db.cdc_max_changes,
                chunk_rows=ops_db.chunk_rows,
                resnapshot=config.resnapshot,
            )
        except CdcSourceError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        context.log.info(
            f"{table}: {outcome.changes} changes in {outcome.batches} batches, position {outcome.position}"
        )
        return dg.MaterializeResult(metadata=outcome.metadata())

    return _drain


def build_slot_lag_check(sources: Sources, table: str, *, key: dg.AssetKey) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=SLOT_LAG_CHECK,
        description=(
            f"The replication slot of {table} exists, is valid and holds at most CDC_SLOT_LAG_MAX_BYTES "
            "of WAL on the source (a slot nobody drains fills the source's disk)."
        ),
    )
    def _lag(ops_db: OperationalDatabaseResource) -> dg.AssetCheckResult:
        slot = postgres_slot.slot_name(ops_db.cdc_slot_prefix, table)
        limit = ops_db.cdc_slot_lag_max_bytes
        with ops_db.engine.connect() as conn:
            state = postgres_slot.read_slot(conn, slot)
        if state is None:
            return dg.AssetCheckResult(
                passed=False,
                description=(
                    f"{table}: replication slot {slot!r} does not exist. Before the first drain that is "
                    "expected; after it, changes are being lost: run job cdc_resnapshot"
                ),
                metadata={"replication_slot": slot},
            )
        lost = state.wal_status == "lost"
        passed = not lost and state.retained_bytes <= limit
        if lost:
            why = f"{table}: slot {slot!r} was invalidated (wal_status=lost); run job cdc_resnapshot"
        elif passed:
            why = f"{table}: slot {slot!r} retains {state.retained_bytes} bytes of WAL (limit {limit})"
        else:
            why = (
                f"{table}: slot {slot!r} retains {state.retained_bytes} bytes of WAL, more than "
                f"CDC_SLOT_LAG_MAX_BYTES={limit}: is the cdc_drain schedule running?"
            )
        return dg.AssetCheckResult(
            passed=passed,
            description=why,
            metadata={
                "replication_slot": slot,
                "retained_wal_bytes": state.retained_bytes,
                "max_retained_wal_bytes": limit,
                "wal_status": state.wal_status or "unknown",
            },
        )

    return _lag
