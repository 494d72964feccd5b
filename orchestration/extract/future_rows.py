"""Rows stamped ahead of the source's clock, found in a landed batch.

They are loaded like any other row, but they do not carry the high-water mark past the
source's clock (mark_guard.py); this count and sample name them for the warn-level check
on the extraction asset, so a skewed writer is seen, not just survived.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SAMPLE_KEYS = 20


@dataclass(frozen=True)
class FutureRows:
    after: dt.datetime  # the source's clock plus the clock tolerance (naive UTC)
    rows: int = 0
    max_cursor: dt.datetime | None = None
    sample_keys: tuple = field(default_factory=tuple)
    null_cursors: int = 0  # rows without a cursor (read on every run, see readers.py)


def find_future_rows(landed: Path, key_column: str, cursor_column: str, after: dt.datetime) -> FutureRows:
    """Scan the landed file's key and cursor columns (bounded memory) for cursors > ``after``."""
    parquet = pq.ParquetFile(landed)
    cursor_type = parquet.schema_arrow.field(cursor_column).type
    if not pa.types.is_timestamp(cursor_type):
        # A date cursor is not compared with the clock's instant (a day is not "ahead" until
        # it has begun everywhere); its NULLs are still counted.
        nulls = sum(b.column(0).null_count for b in parquet.iter_batches(columns=[cursor_column]))
        return FutureRows(after, null_cursors=nulls)
    bound = pa.scalar(after.replace(tzinfo=dt.UTC) if cursor_type.tz else after, type=cursor_type)
    rows, newest, sample, nulls = 0, None, [], 0
    for batch in parquet.iter_batches(columns=[key_column, cursor_column], batch_size=65_536):
        nulls += batch.column(1).null_count
        ahead = batch.filter(pc.greater(batch.column(1), bound))
        if not ahead.num_rows:
            continue
        rows += ahead.num_rows
        batch_max = pc.max(ahead.column(1)).as_py()
        newest = batch_max if newest is None or batch_max > newest else newest
        if len(sample) < SAMPLE_KEYS:
            sample.extend(ahead.column(0).to_pylist()[: SAMPLE_KEYS - len(sample)])
    if newest is not None and newest.tzinfo is not None:
        newest = newest.astimezone(dt.UTC).replace(tzinfo=None)
    return FutureRows(after, rows, newest, tuple(sample), nulls)
