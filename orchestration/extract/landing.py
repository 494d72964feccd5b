"""Land a stream of Arrow batches as one Parquet file, without holding it in memory.

Every source lands the same way: ``<landing_dir>/<raw_schema>/<table>/<batch>.parquet``,
written under a ``.partial`` name and renamed when complete, deleted once published or
failed, and swept at the start of the next run if a killed process left it behind.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def remove_stale_landing_files(directory: Path) -> None:
    """Delete what a killed run left in a table's landing folder.

    Landing files are named after their batch and deleted once published or failed, so
    anything found here belongs to a process that died (SIGKILL, OOM, power loss) and was
    never published: the warehouse did not change, and the new run reads those rows again.
    One extraction per table runs at a time (the warehouse_writer pool).
    """
    if not directory.is_dir():
        return
    for leftover in directory.iterdir():
        if leftover.is_file() and leftover.name.endswith((".parquet", ".partial")):
            leftover.unlink(missing_ok=True)


def _file_safe(batch_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in batch_id)


def prepare_landing_file(landing_dir: Path, raw_schema: str, table: str, batch_id: str) -> Path:
    """The file ``batch_id`` of ``raw_schema.table`` lands in, after sweeping the table's stale files."""
    directory = landing_dir / raw_schema / table
    remove_stale_landing_files(directory)
    return directory / f"{_file_safe(batch_id)}.parquet"


def discard_landing_file(path: Path) -> None:
    """Delete a landing file and its half-written form once it was published or failed."""
    path.unlink(missing_ok=True)
    path.with_suffix(".parquet.partial").unlink(missing_ok=True)


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


class _WriterThread:
    """Writes batches to a ParquetWriter on its own thread, so parsing the next batch (Arrow's
    CSV reader, psql, the server) overlaps with encoding and compressing this one.

    pyarrow releases the GIL in both, so on two cores the two stages run side by side. The
    queue holds at most ``depth`` batches: memory stays bounded by the batch size. An error
    on the writer thread is raised in the caller at its next ``put`` or at ``close``.
    """

    _DONE = object()

    def __init__(self, writer: pq.ParquetWriter, depth: int = 2) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="landing-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is self._DONE:
                return
            if self._error is not None:
                continue  # drain: the caller stops at its next put
            try:
                self._writer.write_batch(batch, row_group_size=batch.num_rows)
            except BaseException as exc:
                self._error = exc

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, batch: pa.RecordBatch) -> None:
        self._raise_error()
        self._queue.put(batch)

    def close(self) -> None:
        """Wait for every batch to be written; raise the writer's error if there was one."""
        self._queue.put(self._DONE)
        self._thread.join()
        self._raise_error()


def land_batches(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path, cursor_column: str
) -> LandedBatch:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.partial")
    rows = 0
    max_cursor = None
    with pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as writer:
        background = _WriterThread(writer)
        try:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                background.put(batch)
                rows += batch.num_rows
                batch_max = pc.max(batch.column(cursor_column)).as_py()
                if batch_max is not None and (max_cursor is None or batch_max > max_cursor):
                    max_cursor = batch_max
        finally:
            # On success this waits for the last write; on a failed read it stops the thread
            # before the writer closes (the partial file is deleted by the caller).
            background.close()
    tmp.replace(path)  # a half-written file never looks like a landed batch
    return LandedBatch(path=path, rows=rows, bytes=path.stat().st_size, max_cursor=max_cursor)
