"""Quarantine source rows that cannot be loaded faithfully, instead of dropping or coercing them.

Typed servers mostly guarantee clean values, but SQLite stores anything in any column,
MariaDB in a lax ``sql_mode`` keeps zero dates (``0000-00-00``) that the driver hands
back as text, and any text column can hold a field far larger than anyone meant.

The fast path is untouched: a chunk is converted to Arrow in one go. Only when that
fails is the chunk converted row by row and value by value, so the bad rows are found
and set aside with the column, the reason and the raw value; the good rows of the same
chunk still load. Oversized text is screened on every batch with one vectorised
length check per text column.

Rejected rows are written to a small Parquet file next to the landing file and
published into ``<raw schema>._rejected_rows`` in the same transaction as the good rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.extract.arrow_types import to_arrow
from orchestration.extract.limits import DEFAULT_MAX_FIELD_CHARS

RAW_VALUE_CHARS = 200  # how much of a rejected value is kept (a huge field is the problem)
SAMPLE_SIZE = 5

REJECT_SCHEMA = pa.schema(
    [
        pa.field("table_name", pa.string(), nullable=False),
        pa.field("source_key", pa.string(), nullable=False),
        pa.field("column_name", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_value", pa.string()),
        # The row's cursor, when it could be read: the high-water mark stops below it.
        pa.field("cursor_value", pa.timestamp("us")),
    ]
)


class TooManyRejectedRows(RuntimeError):
    """More of a batch was rejected than the configured fraction allows."""


@dataclass(frozen=True)
class Rejection:
    source_key: str
    column: str
    reason: str
    raw_value: str | None
    cursor_value: dt.datetime | None


def render_raw(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Undecodable bytes were kept as surrogates: show them as bytes.
            value = repr(value.encode("utf-8", "surrogateescape"))
    elif isinstance(value, bytes):
        value = repr(value)
    text = str(value)
    return text if len(text) <= RAW_VALUE_CHARS else text[:RAW_VALUE_CHARS] + "…"


@dataclass
class Quarantine:
    """Finds and collects the rejected rows of one extraction (one table, one batch)."""

    table: str
    key_columns: tuple[str, ...]
    cursor_column: str
    path: Path
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS
    rows: int = 0  # rejected source rows (a row with two bad values counts once)
    min_cursor: dt.datetime | None = None
    samples: list[Rejection] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    _writer: pq.ParquetWriter | None = None

    # -- finding bad rows -----------------------------------------------------------------

    def isolate(self, rows: Sequence[tuple], schema: pa.Schema) -> pa.RecordBatch:
        """Convert a chunk that failed as a whole row by row; set aside the rows that fail."""
        good: list[tuple] = []
        rejected: list[Rejection] = []
        for row in rows:
            problems = []
            for i, f in enumerate(schema):
                try:
                    to_arrow([row[i]], f.type)
                except Exception as exc:  # every conversion failure is a reason
                    problems.append((f.name, row[i], _reason(exc, f.type)))
            if problems:
                key, cursor = self._key_and_cursor(row, schema)
                rejected += [Rejection(key, col, why, render_raw(v), cursor) for col, v, why in problems]
                self._count_row(key, cursor)
            else:
                good.append(row)
        self._write(rejected)
        arrays = [to_arrow([r[i] for r in good], f.type) for i, f in enumerate(schema)]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def screen(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Reject rows with a text field longer than ``max_field_chars``."""
        oversized = None
        for i, f in enumerate(batch.schema):
            if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
                continue
            column = batch.column(i)
            longest = pc.max(pc.binary_length(column)).as_py()
            if longest is None or longest <= self.max_field_chars:
                continue  # no value has more bytes than the limit has characters
            mask = pc.fill_null(pc.greater(pc.utf8_length(column), self.max_field_chars), False)
            oversized = mask if oversized is None else pc.or_(oversized, mask)
        if oversized is None or not pc.any(oversized).as_py():
            return batch
        bad = batch.filter(oversized).to_pylist()
        rejected = []
        for row in bad:
            key = _key(row, self.key_columns)
            cursor = row.get(self.cursor_column)
            for f in batch.schema:
                value = row[f.name]
                if isinstance(value, str) and len(value) > self.max_field_chars:
                    reason = f"text of {len(value)} characters exceeds max_field_chars={self.max_field_chars}"
                    rejected.append(Rejection(key, f.name, reason, render_raw(value), cursor))
            self._count_row(key, cursor)
        self._write(rejected)
        return batch.filter(pc.invert(oversized))

    def _key_and_cursor(self, row: tuple, schema: pa.Schema) -> tuple[str, dt.datetime | None]:
        names = schema.names
        key = _key(dict(zip(names, row, strict=True)), self.key_columns)
        raw_cursor = row[names.index(self.cursor_column)]
        try:
            cursor = _to_timestamp(raw_cursor)
        except Exception:  # an unreadable cursor cannot bound the mark
            cursor = None
        return key, cursor

    def _count_row(self, key: str, cursor: dt.datetime | None) -> None:
        self.rows += 1
        self.keys.add(key)
        if cursor is not None and (self.min_cursor is None or cursor < self.min_cursor):
            self.min_cursor = cursor

    # -- collecting them ------------------------------------------------------------------

    def _write(self, rejected: list[Rejection]) -> None:
        if not rejected:
            return
        room = SAMPLE_SIZE - len(self.samples)
        self.samples += rejected[: max(room, 0)]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, REJECT_SCHEMA, compression="zstd")
        self._writer.write_table(
            pa.Table.from_pylist(
                [
                    {
                        "table_name": self.table,
                        "source_key": r.source_key,
                        "column_name": r.column,
                        "reason": r.reason,
                        "raw_value": r.raw_value,
                        "cursor_value": r.cursor_value,
                    }
                    for r in rejected
                ],
                schema=REJECT_SCHEMA,
            )
        )

    def close(self) -> Path | None:
        """The Parquet file of rejected rows, or None when every row was good."""
        if self._writer is None:
            return None
        self._writer.close()
        self._writer = None
        return self.path

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)

    def enforce(
        self, good_rows: int, max_fraction: float, known_keys: set[str] | frozenset = frozenset()
    ) -> None:
        """Fail the batch, before anything is published, when too much of it was rejected.

        Rows already quarantined by an earlier batch (``known_keys``) do not count again: the
        mark waits for them, so every later run reads them, and they were accepted once.
        """
        total = good_rows + self.rows
        new = len(self.keys - known_keys)
        if not new or new <= max_fraction * total:
            return
        examples = "; ".join(
            f"key {s.source_key} column {s.column!r}: {s.reason} (value {s.raw_value!r})"
            for s in self.samples
        )
        raise TooManyRejectedRows(
            f"{self.table}: {new} of {total} rows read ({new / total:.1%}) were newly rejected, more than "
            f"max_rejected_fraction={max_fraction:.2%} of the ops_db resource allows. Nothing was published. "
            f"First problems: {examples}. Fix the source rows (or raise the threshold) and re-run."
        )


def _key(row: dict, key_columns: Sequence[str]) -> str:
    values = [row.get(c) for c in key_columns]
    return json.dumps(values[0] if len(values) == 1 else values, default=str, ensure_ascii=False)


def _to_timestamp(value: object) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return pa.array([str(value)]).cast(pa.timestamp("us"))[0].as_py()


def _reason(exc: BaseException, arrow_type: pa.DataType) -> str:
    if isinstance(exc, UnicodeError):
        return "invalid UTF-8"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot convert to {arrow_type}: {message}"[:500]
