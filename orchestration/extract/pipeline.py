"""Extract one source table incrementally and publish it into the warehouse's raw layer.

:func:`extract_source` is what the extraction assets run: a table as declared in the
sources file (orchestration/sources.yml), checked against the live source, then
:func:`extract_table`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.future_rows import FutureRows, find_future_rows
from orchestration.extract.landing import discard_landing_file, land_batches, prepare_landing_file
from orchestration.extract.limits import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_FIELD_CHARS
from orchestration.extract.mark_guard import DEFAULT_CLOCK_TOLERANCE, NO_PROMISE, MarkGuard, read_mark_guard
from orchestration.extract.quarantine import Quarantine
from orchestration.extract.readers import ExtractRequest, stream_changed_rows
from orchestration.sources import Sources, check_table_against_source
from orchestration.warehouse.base import LoadRequest, LoadResult, Warehouse

DEFAULT_LOOKBACK = dt.timedelta(minutes=5)
DEFAULT_MAX_REJECTED_FRACTION = 0.01


@dataclass(frozen=True)
class ExtractionOutcome:
    table: str
    dialect: str
    since: dt.datetime | None
    load: LoadResult
    landed_bytes: int
    duration_s: float
    guard: MarkGuard | None = None  # None for a targeted re-read (repair)
    future: FutureRows | None = None
    batch_max_cursor: dt.datetime | None = None
    keys_requested: int | None = None  # a targeted re-read: how many keys were asked for

    @property
    def held_back_s(self) -> float:
        """How far the new mark stays behind the newest cursor read (0 when it is not)."""
        mark, newest = self.load.high_water_mark, self.batch_max_cursor
        if mark is None or newest is None or newest <= mark:
            return 0.0
        return (newest - mark).total_seconds()

    def metadata(self) -> dict[str, object]:
        metadata: dict[str, object] = {
            "rows_extracted": self.load.rows_landed,
            "rows_inserted": self.load.rows_inserted,
            "rows_rejected": self.load.rows_rejected,
            "high_water_mark": _iso(self.load.high_water_mark),
            "previous_high_water_mark": _iso(self.load.previous_high_water_mark),
            "extracted_since": _iso(self.since),
            "source_dialect": self.dialect,
            "landed_bytes": self.landed_bytes,
            "columns_added": ", ".join(self.load.columns_added) or "none",
            "duration_s": round(self.duration_s, 3),
        }
        if self.keys_requested is not None:
            metadata["keys_requested"] = self.keys_requested
        if self.guard is not None:
            oldest = self.guard.oldest_open
            metadata |= {
                "source_clock": _iso(self.guard.source_clock),
                "mark_guard": self.guard.method,
                "mark_held_back_s": round(self.held_back_s, 3),
                "mark_held_back_by": self.guard.held_back_by() if self.held_back_s else "nothing",
                "oldest_open_transaction": oldest.describe() if oldest else "none",
                "oldest_open_transaction_age_s": round(oldest.age_s, 1) if oldest else 0.0,
                "hidden_sessions": self.guard.hidden_sessions,
            }
        if self.future is not None:
            metadata |= {
                "rows_future_stamped": self.future.rows,
                "future_stamped_keys": ", ".join(map(str, self.future.sample_keys)) or "none",
                "rows_null_cursor": self.future.null_cursors,
            }
        return metadata


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat(sep=" ") if value else "none"


def primary_key(engine: sa.Engine, table: str) -> tuple[str, ...]:
    pk = tuple(sa.inspect(engine).get_pk_constraint(table).get("constrained_columns") or ())
    if not pk:
        raise ValueError(f"source table {table!r} has no primary key; extraction needs one to deduplicate")
    return pk


def extract_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    *,
    table: str,
    cursor_column: str,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    full_refresh: bool = False,
    max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    key_columns: tuple[str, ...] | None = None,
    exclude_columns: tuple[str, ...] = (),
    clock_tolerance: dt.timedelta = DEFAULT_CLOCK_TOLERANCE,
    keys: tuple[int, ...] | None = None,
    constant_columns: tuple[tuple[pa.Field, object], ...] = (),
    source_position: str | None = None,
) -> ExtractionOutcome:
    """``key_columns`` None = the source's primary key; ``exclude_columns`` are never selected.

    ``keys``: re-read exactly these keys (completeness repair) instead of what changed since
    the mark; such a batch publishes through the same atomic path but never moves the mark,
    since it did not read everything up to it.
    """
    started = time.perf_counter()
    landing_file = prepare_landing_file(landing_dir, raw_schema, table, batch_id)
    arrow_schema = reflect_arrow_schema(engine, table)
    for column in exclude_columns:
        if column in arrow_schema.names:
            arrow_schema = arrow_schema.remove(arrow_schema.get_field_index(column))
    if cursor_column not in arrow_schema.names:
        raise ValueError(f"source table {table!r} has no cursor column {cursor_column!r}")
    source_schema = arrow_schema
    for field, _ in constant_columns:
        arrow_schema = arrow_schema.append(field)
    # Fail on incompatible drift before reading a single row.
    warehouse.check_schema(raw_schema, table, arrow_schema)
    previous = warehouse.high_water_mark(raw_schema, table)
    # Read before the data: see mark_guard.py for why that order makes the ceiling safe.
    guard = read_mark_guard(engine, clock_tolerance) if keys is None else None
    # A targeted re-read promises nothing beyond the mark it found (none: nothing at all).
    ceiling = guard.ceiling(previous) if guard is not None else (previous or NO_PROMISE)
    mark = None if full_refresh else previous
    # Re-read a short window before the mark: a writer whose clock trails the server's is
    # still caught, and the publish skips rows already loaded.
    since = mark - lookback if mark is not None else None
    key_columns = key_columns or primary_key(engine, table)
    quarantine = Quarantine(
        table=table,
        key_columns=key_columns,
        cursor_column=cursor_column,
        path=landing_file.with_suffix(".rejected.parquet"),
        max_field_chars=max_field_chars,
    )
    request = ExtractRequest(
        table=table,
        schema=source_schema,
        cursor_column=cursor_column,
        since=since,
        chunk_rows=chunk_rows,
        quarantine=quarantine,
        key_column=key_columns[0],
        keys=keys,
    )
    future = None
    try:
        batches = stream_changed_rows(engine, request)
        if constant_columns:
            batches = _with_constants(batches, constant_columns)
        landed = land_batches(batches, arrow_schema, landing_file, cursor_column)
        rejected_file = quarantine.close()
        if rejected_file is not None:
            quarantine.enforce(landed.rows, max_rejected_fraction, warehouse.rejected_keys(raw_schema, table))
        if guard is not None:
            future = find_future_rows(
                landed.path, key_columns[0], cursor_column, guard.source_clock + clock_tolerance
            )
        load = warehouse.publish(
            LoadRequest(
                dataset=raw_schema,
                table=table,
                landing_file=landed.path,
                key_columns=key_columns,
                cursor_column=cursor_column,
                batch_id=batch_id,
                arrow_schema=arrow_schema,
                rejected_file=rejected_file,
                mark_ceiling=ceiling,
                source_position=source_position,
            )
        )
    finally:
        discard_landing_file(landing_file)
        quarantine.discard()
    return ExtractionOutcome(
        table=table,
        dialect=engine.dialect.name,
        since=since,
        load=load,
        landed_bytes=landed.bytes,
        duration_s=time.perf_counter() - started,
        guard=guard,
        future=future,
        batch_max_cursor=landed.max_cursor,
        keys_requested=len(keys) if keys is not None else None,
    )


def _with_constants(
    batches: Iterator[pa.RecordBatch], constants: tuple[tuple[pa.Field, object], ...]
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        arrays = list(batch.columns)
        fields = list(batch.schema)
        for field, value in constants:
            arrays.append(pa.array([value] * batch.num_rows, type=field.type))
            fields.append(field)
        yield pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def extract_source(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    table: str,
    *,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    **options,
) -> ExtractionOutcome:
    """Extract ``table`` as ``sources`` declares it (key, cursor, excluded columns).

    ``options`` are :func:`extract_table`'s tuning arguments (lookback, chunk_rows, ...).
    """
    source = sources.table(table)
    check_table_against_source(sources, source, sa.inspect(engine))
    return extract_table(
        engine,
        warehouse,
        table=source.name,
        cursor_column=source.cursor_column,
        raw_schema=raw_schema,
        landing_dir=landing_dir,
        batch_id=batch_id,
        key_columns=source.key_columns,
        exclude_columns=source.exclude,
        **options,
    )
