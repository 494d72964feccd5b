"""Turn decoded pgoutput messages into raw rows: one row per change, in commit order.

Every row carries the table's columns plus base.CDC_COLUMNS: the operation, the commit time
and a position that orders a key's versions. The position is the transaction's commit end
LSN and the change's sequence inside it (``0000000001A2B3C8:00000003``, fixed-width hex, so
text order is position order in every engine): commit order, not the order in which the
changes were written, since transactions interleave (a change written early by a transaction
that commits late comes after everything committed before it). A snapshot's rows take
sequence 0 at the slot's consistent point, below every change the slot decodes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import pyarrow as pa
import pyarrow.compute as pc

from orchestration.cdc import pgoutput
from orchestration.warehouse.base import CDC_COLUMNS

OPERATION, COMMITTED_AT, POSITION = CDC_COLUMNS
CDC_FIELDS = (
    pa.field(OPERATION, pa.string()),
    pa.field(COMMITTED_AT, pa.timestamp("us")),
    pa.field(POSITION, pa.string()),
)


class CdcApplyError(ValueError):
    """A change cannot become a raw row; names the table, the column and the fix."""


def position(end_lsn: int, sequence: int) -> str:
    return f"{end_lsn:016X}:{sequence:08X}"


@dataclass
class ChangeBatch:
    """What one peek held for one table: its changes past ``resume_after``, in commit order."""

    rows: list[dict[str, object]] = field(default_factory=list)
    last_commit_end: int | None = None  # of every transaction seen, applied or skipped
    applied_end: int | None = None  # of the last transaction that contributed rows
    transactions: int = 0
    skipped_transactions: int = 0  # at or below the ledger's position: already published


def collect_changes(
    messages: Iterable[tuple[int, bytes]], *, table: str, key_columns: tuple[str, ...], resume_after: int
) -> ChangeBatch:
    """The rows for ``table`` from whole transactions, skipping those at or below ``resume_after``."""
    batch = ChangeBatch()
    relations: dict[int, pgoutput.Relation] = {}
    pending: list[tuple[str, dict[str, object]]] = []
    for _, data in messages:
        message = pgoutput.decode(data)
        if isinstance(message, pgoutput.Relation):
            relations[message.relation_id] = message
        elif isinstance(message, pgoutput.Begin):
            pending = []
        elif isinstance(message, pgoutput.Commit):
            batch.last_commit_end = message.end_lsn
            batch.transactions += 1
            if message.end_lsn <= resume_after:
                batch.skipped_transactions += 1
            elif pending:
                for sequence, (operation, values) in enumerate(pending, start=1):
                    row = dict(values)
                    row[OPERATION] = operation
                    row[COMMITTED_AT] = message.committed_at
                    row[POSITION] = position(message.end_lsn, sequence)
                    batch.rows.append(row)
                batch.applied_end = message.end_lsn
            pending = []
        elif isinstance(message, pgoutput.Truncate):
            if any(_is_table(relations, rid, table) for rid in message.relation_ids):
                pending.append(("truncate", {}))
        elif isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
            relation = relations.get(message.relation_id)
            if relation is None:
                raise CdcApplyError(f"{table}: a change arrived before its relation message")
            if relation.name != table:
                continue
            pending.extend(_row_changes(relation, message, key_columns))
    return batch


def _is_table(relations: dict[int, pgoutput.Relation], relation_id: int, table: str) -> bool:
    relation = relations.get(relation_id)
    return relation is not None and relation.name == table


def _row_changes(
    relation: pgoutput.Relation,
    message: pgoutput.Insert | pgoutput.Update | pgoutput.Delete,
    key_columns: tuple[str, ...],
) -> list[tuple[str, dict[str, object]]]:
    names = [c.name for c in relation.columns]
    if isinstance(message, pgoutput.Insert):
        return [("insert", _values(relation, names, message.new, None))]
    if isinstance(message, pgoutput.Delete):
        return [("delete", _values(relation, names, message.old, None))]
    new = _values(relation, names, message.new, message.old)
    changes = []
    if message.old is not None:
        old = dict(zip(names, message.old, strict=False))
        if any(
            old.get(k) not in (None, pgoutput.UNCHANGED_TOAST) and old.get(k) != new.get(k)
            for k in key_columns
        ):
            # The key itself changed: the old key's row is gone (REPLICA IDENTITY sends the old key).
            changes.append(("delete", _values(relation, names, message.old, None)))
    changes.append(("update", new))
    return changes


def _values(
    relation: pgoutput.Relation, names: list[str], values: pgoutput.Values, old: pgoutput.Values | None
) -> dict[str, object]:
    row: dict[str, object] = {}
    for i, (name, value) in enumerate(zip(names, values, strict=False)):
        if value is pgoutput.UNCHANGED_TOAST:
            previous = old[i] if old is not None and i < len(old) else pgoutput.UNCHANGED_TOAST
            if previous is pgoutput.UNCHANGED_TOAST:
                raise CdcApplyError(
                    f"{relation.name}.{name}: an update left this large (TOASTed) value out of the change; "
                    f'run ALTER TABLE "{relation.name}" REPLICA IDENTITY FULL at the source so changes carry it'
                )
            value = previous
        row[name] = value
    return row


def to_arrow(
    rows: list[dict[str, object]], schema: pa.Schema, table: str, exclude: tuple[str, ...] = ()
) -> pa.Table:
    """Rows of text values (as pgoutput sends them) typed by the raw table's Arrow schema.

    ``exclude``: the declared excluded columns. The publication sends every column, so their
    values reach this process in memory and are dropped here, never landed.
    """
    source_fields = [f for f in schema if f.name not in CDC_COLUMNS]
    allowed = {f.name for f in source_fields} | set(exclude) | set(CDC_COLUMNS)
    for row in rows:
        unknown = row.keys() - allowed
        if unknown and any(row[n] is not None for n in unknown):
            raise CdcApplyError(
                f"{table}.{sorted(unknown)[0]}: a column the extraction did not reflect arrived in a change "
                "(added at the source, or declared in exclude); nothing was published, the next run "
                "reflects the new schema"
            )
    arrays = {f.name: _column(table, f, [row.get(f.name) for row in rows]) for f in source_fields}
    for name in CDC_COLUMNS:
        arrays[name] = pa.array([row.get(name) for row in rows], type=schema.field(name).type)
    return pa.table({name: arrays[name] for name in schema.names})


def _column(table: str, f: pa.Field, values: list[object]) -> pa.Array:
    """One column typed by Arrow's own cast from text when every value is text (pgoutput), so the
    per-value conversion below (the binlog's Python values, and every error message naming the
    column and the value) runs only where the cast cannot: it is what a drain spends its CPU on."""
    kind = f.type
    if not pa.types.is_string(kind) and all(type(v) is str for v in values if v is not None):
        text = pa.array(values, type=pa.string())
        try:
            if pa.types.is_boolean(kind):
                return pc.equal(text, "t")
            if any(
                is_kind(kind)
                for is_kind in (
                    pa.types.is_integer,
                    pa.types.is_decimal,
                    pa.types.is_floating,
                    pa.types.is_date,
                )
            ):
                return text.cast(kind)
            if pa.types.is_timestamp(kind) and kind.tz is None and not any(_has_offset(v) for v in values):
                return text.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # the per-value path names the value
    return pa.array([_typed(v, f, table) for v in values], type=kind)


def _has_offset(value: object) -> bool:
    """A timestamptz's text (``...+00``): converted to UTC value by value."""
    return isinstance(value, str) and len(value) > 19 and ("+" in value[19:] or "-" in value[19:])


def _typed(value: object, f: pa.Field, table: str) -> object:
    if value is None:
        return None
    kind = f.type
    # The binlog reader hands over Python values already (pgoutput: text); bytes are text
    # in a column the reader had no character set for.
    if isinstance(value, bytes):
        value = value.decode()
    if pa.types.is_boolean(kind) and isinstance(value, int):
        return bool(value)  # MySQL's BOOLEAN is TINYINT(1)
    native = isinstance(value, dt.datetime | dt.date | Decimal | int | float) and not isinstance(value, bool)
    if native and not pa.types.is_string(kind):
        return value
    text = str(value)
    try:
        if pa.types.is_boolean(kind):
            return text == "t"
        if pa.types.is_integer(kind):
            return int(text)
        if pa.types.is_decimal(kind):
            return Decimal(text)
        if pa.types.is_floating(kind):
            return float(text)
        if pa.types.is_timestamp(kind):
            moment = dt.datetime.fromisoformat(text)
            if moment.tzinfo is not None:
                moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
            return moment
        if pa.types.is_date(kind):
            return dt.date.fromisoformat(text)
    except (ValueError, InvalidOperation) as exc:
        raise CdcApplyError(f"{table}.{f.name}: value {text[:60]!r} is not a valid {kind} ({exc})") from None
    return text
