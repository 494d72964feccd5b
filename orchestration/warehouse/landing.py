"""Land a stream of Arrow batches as one Parquet file, without holding it in memory."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """Writer options that make landing cheap; the file lives for one publish.

    Measured on order_items (docs/benchmarks.md), these halve the writer's CPU against
    pyarrow's defaults: dictionary encoding is tried only on text (ids, money and
    timestamps are nearly unique, so the dictionary is built and then thrown away),
    DECIMAL(<=18) is stored as INT64 instead of 16-byte binary, and zstd at level 1
    compresses about as well as the default level on this data for less CPU.
    """
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    return {
        "compression": "zstd",
        "compression_level": 1,
        "use_dictionary": text,
        "store_decimal_as_integer": True,
    }


@dataclass(frozen=True)
class LandedBatch:
    path: Path
    rows: int
    bytes: int
    max_cursor: dt.datetime | None


def land_batches(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, cursor_column: str
) -> LandedBatch:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.partial")
    rows = 0
    max_cursor = None
    with pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as writer:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            writer.write_batch(batch, row_group_size=batch.num_rows)
            rows += batch.num_rows
            batch_max = pc.max(batch.column(cursor_column)).as_py()
            if batch_max is not None and (max_cursor is None or batch_max > max_cursor):
                max_cursor = batch_max
    tmp.replace(path)  # a half-written file never looks like a landed batch
    return LandedBatch(path=path, rows=rows, bytes=path.stat().st_size, max_cursor=max_cursor)
