"""Keep one ``mode: cdc`` table's raw table in step with its MySQL/MariaDB binlog, exactly once.

The same steps as sync.py's PostgreSQL path, without a slot:

1. First run (or a re-snapshot): ``START TRANSACTION WITH CONSISTENT SNAPSHOT``, the binlog
   position of exactly that snapshot read inside it, the table read through the bulk path
   (extract_table) in that transaction, and published with the position in the ledger.
2. Every run: read whole transactions from the binlog after the ledger's position, skip any
   at or below it, publish the rest with their end position in ONE warehouse transaction.

The ledger's position, committed with the rows, is the only record of how far raw has come:
a crash before the warehouse commit leaves both as they were and the next run reads the same
transactions again; a crash after it leaves nothing to catch up on the source side. A
run that read past the ledger's position through other tables' transactions only records
that read position in the warehouse's state, after its commits; the next run starts at the
later of the two, so a quiet table on a busy server neither re-reads the same binlog nor
trips the purge check, and the ledger gains no row per drain.

TRUNCATE is written to the binlog as a statement (a query event), not as row deletes: it
becomes one ``truncate`` row, which ends every earlier version (staging's macros), as for
PostgreSQL. Other DDL (ALTER TABLE ... ADD COLUMN) needs nothing here: the row events after
it carry the new column by name (binlog_row_metadata=FULL) and the next run reflects it.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from orchestration.cdc import mariadb_binlog as binlog
from orchestration.cdc.apply import CDC_FIELDS, COMMITTED_AT, OPERATION, POSITION, to_arrow
from orchestration.cdc.mariadb_binlog import BinlogPosition
from orchestration.cdc.outcome import CdcOutcome
from orchestration.cdc.publish import publish_changes
from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.pipeline import ExtractionOutcome, extract_table
from orchestration.sources import Sources, SourceTable, check_table_against_source
from orchestration.warehouse.base import Warehouse


def sync_binlog_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    table: str,
    *,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    reader_server_id: int,
    max_changes: int,
    max_batches: int,
    chunk_rows: int | None,
    resnapshot: bool,
    started: float,
) -> CdcOutcome:
    """``resnapshot``: read the table again at a new position, whatever the ledger holds: the
    recovery from a purged binlog. Every key absent from the new snapshot ends."""
    source = sources.table(table)
    check_table_against_source(sources, source, sa.inspect(engine))
    server_id = binlog.reader_server_id(reader_server_id, table)
    with engine.connect() as conn:
        binlog.check_server(conn, table)
    text = warehouse.source_position(raw_schema, table)
    recorded = BinlogPosition.parse(text) if text and not resnapshot else None
    snapshot = None
    if recorded is None:
        snapshot, recorded = _snapshot(
            engine, warehouse, source, raw_schema, landing_dir, batch_id, chunk_rows
        )
    read = warehouse.read_state(raw_schema, _read_key(table))
    # Past the ledger's position only through transactions of other tables (see above).
    read_from = max(recorded, BinlogPosition.parse(read["position"])) if read and not snapshot else recorded
    with engine.connect() as conn:
        binlog.check_not_purged(conn, table, read_from)
    schema = reflect_arrow_schema(engine, table)
    for column in source.exclude:
        schema = schema.remove(schema.get_field_index(column))
    for f in CDC_FIELDS:
        schema = schema.append(f)
    batches = changes = skipped = 0
    for _ in range(max_batches):
        transactions = list(
            binlog.read_transactions(
                engine,
                table=table,
                key_columns=source.key_columns,
                start=read_from,
                server_id=server_id,
                max_changes=max_changes,
            )
        )
        fresh = [t for t in transactions if t.end > recorded]
        skipped += len(transactions) - len(fresh)
        rows = _rows(fresh)
        if rows:
            end = max(t.end for t in fresh if t.changes)
            rows_table = to_arrow(rows, schema, table, source.exclude)
            changes += publish_changes(
                warehouse, rows_table, source, raw_schema, landing_dir, batch_id, str(end)
            )
            recorded = end  # committed with the rows: the only record there is
            batches += 1
        if transactions:
            read_from = max(read_from, transactions[-1].end)
        if sum(len(t.changes) for t in transactions) < max_changes:
            break
    if read_from > recorded:  # after every warehouse commit of this run
        warehouse.write_state(raw_schema, _read_key(table), {"position": str(read_from)})
    with engine.connect() as conn:
        lag = binlog.lag_bytes(conn, read_from)
    return CdcOutcome(
        table=table,
        slot=f"server_id {server_id}",
        snapshot=snapshot,
        batches=batches,
        changes=changes,
        transactions_skipped=skipped,
        position=str(recorded),
        retained_bytes=lag,
        duration_s=time.perf_counter() - started,
        source_kind="binlog",
    )


def binlog_read_position(warehouse: Warehouse, table: str, raw_schema: str) -> BinlogPosition | None:
    """Where the next drain of ``table`` starts reading: the later of the ledger's position and
    the read position recorded past it; None before the first snapshot."""
    text = warehouse.source_position(raw_schema, table)
    if not text:
        return None
    recorded = BinlogPosition.parse(text)
    read = warehouse.read_state(raw_schema, _read_key(table))
    return max(recorded, BinlogPosition.parse(read["position"])) if read else recorded


def _read_key(table: str) -> str:
    return f"cdc_binlog_read:{table}"


def _rows(transactions: list[binlog.Transaction]) -> list[dict[str, object]]:
    rows = []
    for transaction in transactions:
        for sequence, change in enumerate(transaction.changes, start=1):
            row = dict(change.values)
            row[OPERATION] = change.operation
            row[COMMITTED_AT] = transaction.committed_at
            row[POSITION] = transaction.end.raw_position(sequence)
            rows.append(row)
    return rows


def _snapshot(
    engine: sa.Engine,
    warehouse: Warehouse,
    source: SourceTable,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    chunk_rows: int | None,
) -> tuple[ExtractionOutcome, BinlogPosition]:
    """The whole table as of one consistent snapshot, published with that snapshot's position:
    every transaction at or before it is in the rows, every one after it comes from the binlog."""
    operation, committed_at, position_field = CDC_FIELDS
    options = {"chunk_rows": chunk_rows} if chunk_rows else {}
    with binlog.consistent_snapshot(engine) as (snapshot_engine, position, read_at):
        outcome = extract_table(
            snapshot_engine,
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
                (position_field, position.raw_position(0)),
            ),
            source_position=str(position),
            **options,
        )
    return outcome, position


__all__ = ["sync_binlog_table"]
