"""Keep one ``mode: cdc`` table's raw table in step with its PostgreSQL source, exactly once.

:func:`sync_table` is what the table's raw asset runs:

1. First run: create the publication and the slot, then read the snapshot through the bulk
   path (extract_table), its rows at the slot's consistent point, the ledger recording it.
   A snapshot is a full image: a key absent from the latest one has ended (staging's macros).
2. Every run: peek whole transactions from the slot, skip those at or below the ledger's
   position (already published: a crash came between the warehouse commit and the advance),
   publish the rest with their end position in ONE warehouse transaction, and only then
   advance the slot. Repeat until the slot is drained or ``max_batches`` is reached.

A crash before the warehouse commit leaves raw and the ledger as they were and the slot
unadvanced: the next run reads the same changes again. A crash after the commit but before
the advance: the next run reads them again and skips them by the ledger's position.

A MySQL/MariaDB source takes the same steps from its binlog (binlog_sync.py), with no slot
to advance: the ledger's position is the only record of how far raw has come.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from orchestration.cdc import binlog_sync
from orchestration.cdc import postgres_slot as slots
from orchestration.cdc.apply import CDC_FIELDS, collect_changes, position, to_arrow
from orchestration.cdc.mariadb_binlog import DEFAULT_READER_SERVER_ID, BinlogPurgedError
from orchestration.cdc.outcome import CdcOutcome
from orchestration.cdc.pgoutput import format_lsn, parse_lsn
from orchestration.cdc.postgres_slot import CdcSourceError, SlotLostError
from orchestration.cdc.publish import publish_changes
from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.pipeline import ExtractionOutcome, extract_table
from orchestration.sources import Sources, SourceTable, check_table_against_source
from orchestration.warehouse.base import Warehouse

DEFAULT_SLOT_PREFIX = "pharma_cdc"
DEFAULT_MAX_CHANGES = 10_000  # messages per peek; a transaction is never split
DEFAULT_MAX_BATCHES = 100  # per run, so one run ends even while the source keeps writing
BINLOG_DIALECTS = ("mysql", "mariadb")


def require_cdc_source(engine: sa.Engine, warehouse: Warehouse, source: SourceTable) -> None:
    """Refuse, naming the table and the setting, what cannot run in cdc mode (yet)."""
    if engine.dialect.name not in ("postgresql", *BINLOG_DIALECTS):
        raise CdcSourceError(
            f"table {source.name!r}: mode cdc needs a PostgreSQL or MySQL/MariaDB source (OPS_DATABASE_URL is "
            f"{engine.dialect.name}, which has no change log). Set mode: cursor for this table in the sources "
            "file (SOURCES_FILE)"
        )
    if not warehouse.stores_source_positions:
        raise CdcSourceError(
            f"table {source.name!r}: mode cdc cannot publish into the {warehouse.kind} warehouse yet "
            "(WAREHOUSE); use WAREHOUSE=duckdb or mode: cursor"
        )


def sync_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    table: str,
    *,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    slot_prefix: str = DEFAULT_SLOT_PREFIX,
    max_changes: int = DEFAULT_MAX_CHANGES,
    max_batches: int = DEFAULT_MAX_BATCHES,
    chunk_rows: int | None = None,
    resnapshot: bool = False,
    reader_server_id: int = DEFAULT_READER_SERVER_ID,
) -> CdcOutcome:
    """``reader_server_id``: the binlog reader's base server_id (MySQL/MariaDB, mariadb_binlog.py).

    ``resnapshot``: drop the slot (if any), create a new one and read the table again: the
    recovery from a lost slot. Every key absent from the new snapshot ends (staging's macros)."""
    started = time.perf_counter()
    source = sources.table(table)
    if source.mode != "cdc":
        raise CdcSourceError(f"table {table!r} is declared with mode {source.mode!r}, not cdc")
    require_cdc_source(engine, warehouse, source)
    if engine.dialect.name in BINLOG_DIALECTS:
        return binlog_sync.sync_binlog_table(
            engine,
            warehouse,
            sources,
            table,
            raw_schema=raw_schema,
            landing_dir=landing_dir,
            batch_id=batch_id,
            reader_server_id=reader_server_id,
            max_changes=max_changes,
            max_batches=max_batches,
            chunk_rows=chunk_rows,
            resnapshot=resnapshot,
            started=started,
        )
    check_table_against_source(sources, source, sa.inspect(engine))
    slot = slots.slot_name(slot_prefix, table)
    publication = slots.publication_name(slot_prefix, table)
    snapshot = None
    with engine.connect() as conn:
        # pgoutput prints values in the decoding session's formats: pin the ones apply.py parses.
        conn.execute(sa.text("set timezone = 'UTC'"))
        conn.execute(sa.text("set datestyle = 'ISO, YMD'"))
        slots.check_server(conn, table)
        state = slots.read_slot(conn, slot)
        recorded = warehouse.source_position(raw_schema, table)
        if resnapshot:
            _start_resnapshot(conn, warehouse, raw_schema, table, slot, state)
            state, recorded = None, None
        elif warehouse.read_state(raw_schema, _resnapshot_key(table)):
            raise SlotLostError(
                f"{table}: a re-snapshot of {raw_schema}.{table} was interrupted before it published; "
                "run it again (job cdc_resnapshot)"
            )
        if state is None and recorded is not None:
            raise SlotLostError(
                f"{table}: replication slot {slot!r} is gone, but {raw_schema}.{table} was fed from it up to "
                f"{recorded}: changes since then may be lost. Re-snapshot the table (job cdc_resnapshot) "
                "to recover; it creates a new slot and re-reads the table"
            )
        if state is not None and state.wal_status == "lost":
            raise SlotLostError(
                f"{table}: replication slot {slot!r} was invalidated (wal_status=lost: the source removed WAL "
                "it still needed, see max_slot_wal_keep_size). Re-snapshot the table (job cdc_resnapshot)"
            )
        if recorded is None:
            if state is None:
                slots.check_replica_identity(conn, table)
                slots.ensure_publication(conn, publication, table)
                consistent = slots.create_slot(conn, slot)
            else:  # a crash came after the slot's creation and before the snapshot's publish
                consistent = state.confirmed_flush_lsn
            conn.commit()  # hold no transaction at the source while the snapshot is read
            snapshot = _snapshot(
                engine, warehouse, source, consistent, raw_schema, landing_dir, batch_id, chunk_rows
            )
            recorded = format_lsn(consistent)
            if resnapshot:
                warehouse.write_state(raw_schema, _resnapshot_key(table), {})
        batches = changes = skipped = 0
        schema = reflect_arrow_schema(engine, table)
        for column in source.exclude:
            schema = schema.remove(schema.get_field_index(column))
        for field in CDC_FIELDS:
            schema = schema.append(field)
        for _ in range(max_batches):
            messages = slots.peek_changes(conn, slot, publication, max_changes)
            if not messages:
                break
            batch = collect_changes(
                messages, table=table, key_columns=source.key_columns, resume_after=parse_lsn(recorded)
            )
            skipped += batch.skipped_transactions
            if batch.rows:
                rows = to_arrow(batch.rows, schema, table, source.exclude)
                inserted = publish_changes(
                    warehouse, rows, source, raw_schema, landing_dir, batch_id, format_lsn(batch.applied_end)
                )
                recorded = format_lsn(batch.applied_end)
                batches += 1
                changes += inserted
            if batch.last_commit_end is not None:
                slots.advance_slot(conn, slot, batch.last_commit_end)  # after the warehouse commit
            if len(messages) < max_changes:
                break
        final = slots.read_slot(conn, slot)
    return CdcOutcome(
        table=table,
        slot=slot,
        snapshot=snapshot,
        batches=batches,
        changes=changes,
        transactions_skipped=skipped,
        position=recorded,
        retained_bytes=final.retained_bytes if final else 0,
        duration_s=time.perf_counter() - started,
    )


def _resnapshot_key(table: str) -> str:
    return f"cdc_resnapshot:{table}"


def _start_resnapshot(conn, warehouse: Warehouse, raw_schema: str, table: str, slot: str, state) -> None:
    # Marked before the old slot goes: until the new snapshot has published, a drain must not
    # read the new slot from the old slot's position (changes in between would be lost).
    warehouse.write_state(raw_schema, _resnapshot_key(table), {"pending": True, "slot": slot})
    if state is not None:
        if state.active:
            raise CdcSourceError(
                f"{table}: replication slot {slot!r} is in use by another session; not dropped"
            )
        slots.drop_slot(conn, slot)


def _snapshot(
    engine: sa.Engine,
    warehouse: Warehouse,
    source: SourceTable,
    consistent_lsn: int,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    chunk_rows: int | None,
) -> ExtractionOutcome:
    """The whole table, read after the slot's creation committed (docs/reliability.md says why
    changes between the consistent point and this read are applied again harmlessly)."""
    operation, committed_at, position_field = CDC_FIELDS
    with engine.connect() as conn:  # a snapshot's "commit time": when it was read, by the source's clock
        read_at = conn.execute(sa.text("select cast(now() at time zone 'UTC' as timestamp)")).scalar_one()
    options = {"chunk_rows": chunk_rows} if chunk_rows else {}
    return extract_table(
        engine,
        warehouse,
        table=source.name,
        cursor_column=source.cursor_column,
        raw_schema=raw_schema,
        landing_dir=landing_dir,
        batch_id=f"{batch_id}:snapshot",
        full_refresh=True,
        key_columns=source.key_columns,
        exclude_columns=source.exclude,
        constant_columns=(
            (operation, "snapshot"),
            (committed_at, read_at),
            (position_field, position(consistent_lsn, 0)),
        ),
        source_position=format_lsn(consistent_lsn),
        **options,
    )


__all__ = [
    "BinlogPurgedError",
    "CdcOutcome",
    "CdcSourceError",
    "SlotLostError",
    "require_cdc_source",
    "sync_table",
]
