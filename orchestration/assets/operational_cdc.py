"""The raw asset of a ``mode: cdc`` table, and its replication slot's lag check.

Same asset key as a cursor-mode table (``raw_ops/<table>``), so staging and marts do not care
which mode fed raw; materializing it drains the table's slot (orchestration/cdc/sync.py).
The lag check reads only the source: it runs after each drain and on its own, and fails when
the slot holds more WAL than CDC_SLOT_LAG_MAX_BYTES, since a slot nobody drains fills the
source's disk.
"""

import dagster as dg

from orchestration.cdc import mariadb_binlog, postgres_slot
from orchestration.cdc.binlog_sync import binlog_read_position
from orchestration.cdc.sync import BINLOG_DIALECTS, CdcSourceError, sync_table
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
            f"replication or the MySQL/MariaDB binlog): every committed change, in commit order, into the append-only raw table "
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
                reader_server_id=ops_db.cdc_binlog_server_id,
            )
        except CdcSourceError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        context.log.info(
            f"{table}: {outcome.changes} changes in {outcome.batches} batches, position {outcome.position}"
        )
        return dg.MaterializeResult(metadata=outcome.metadata())

    return _drain


def build_slot_lag_check(
    sources: Sources, table: str, *, key: dg.AssetKey, raw_schema: str
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=SLOT_LAG_CHECK,
        description=(
            f"The replication slot of {table} exists, is valid and holds at most CDC_SLOT_LAG_MAX_BYTES "
            "of WAL on the source (a slot nobody drains fills the source's disk); on MySQL/MariaDB, the "
            "binlog after the drain's position is still there and at most CDC_SLOT_LAG_MAX_BYTES long."
        ),
    )
    def _lag(ops_db: OperationalDatabaseResource, warehouse: WarehouseResource) -> dg.AssetCheckResult:
        if ops_db.engine.dialect.name in BINLOG_DIALECTS:
            return _binlog_lag(ops_db, warehouse, table, raw_schema)
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


def _binlog_lag(
    ops_db: OperationalDatabaseResource, warehouse: WarehouseResource, table: str, raw_schema: str
) -> dg.AssetCheckResult:
    """The binlog has no consumer state: the lag is what was written after the position the
    warehouse recorded (the ledger's, or the read position past it), and a purge is fatal."""
    limit = ops_db.cdc_slot_lag_max_bytes
    position = binlog_read_position(warehouse.get(), table, raw_schema)
    if position is None:
        return dg.AssetCheckResult(
            passed=False,
            description=f"{table}: no binlog position recorded yet; the first drain takes the snapshot",
        )
    with ops_db.engine.connect() as conn:
        try:
            mariadb_binlog.check_not_purged(conn, table, position)
        except mariadb_binlog.BinlogPurgedError as exc:
            return dg.AssetCheckResult(
                passed=False, description=str(exc), metadata={"binlog_position": str(position)}
            )
        behind = mariadb_binlog.lag_bytes(conn, position)
    passed = behind <= limit
    why = (
        f"{table}: {behind} bytes of binlog after position {position} (limit {limit})"
        if passed
        else f"{table}: {behind} bytes of binlog after position {position}, more than "
        f"CDC_SLOT_LAG_MAX_BYTES={limit}: is the cdc_drain schedule running? (the server purges old binlogs "
        "after binlog_expire_logs_seconds whether they were read or not)"
    )
    return dg.AssetCheckResult(
        passed=passed,
        description=why,
        metadata={"binlog_position": str(position), "binlog_lag_bytes": behind, "max_lag_bytes": limit},
    )
