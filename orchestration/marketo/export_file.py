"""A Completed export's file: downloaded (resumed when cut), parsed, cut to its window, deduplicated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from .client import MarketoClient
from .csv_reader import CsvBatchReader
from .windows import Window, iso, parse_ts

# How a lead row was obtained under the 1035 fallback (``orchestration.marketo.bulk``).
SWEEP_FALLBACK = "createdAt_full_sweep"  # the one full sweep
CREATED_FALLBACK = "createdAt_new_leads"  # createdAt windows since the sweep
CHANGES_FALLBACK = "lead_change_activities"  # leads re-read by id after a lead-change activity
RESWEEP_FALLBACK = "createdAt_resweep"  # the rolling re-sweep


@dataclass
class ExportResult:
    """One window's rows (strings, deduplicated, inside the window) and how they were obtained."""

    window: Window  # the export window (createdAt windows during a sweep)
    filter_field: str
    table: pa.Table
    export_id: str
    rows_in_file: int
    file_size: int
    download_resumed: int
    attempts: int
    nul_bytes_stripped: int
    fallback: str | None = None
    target_window: Window | None = None  # during a sweep: the updatedAt range being extracted
    _commit: tuple[str, str] = field(default=("window", ""), repr=False)
    committed: bool = False

    @property
    def batch_label(self) -> str:
        """What names the batch in ``_batch_id``: the export id, or the REST re-read and its end."""
        return self.export_id or f"{self.fallback or self.filter_field}:{iso(self.window.end)}"

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "window_start": iso(self.window.start),
            "window_end": iso(self.window.end),
            "filter": self.filter_field,
            "export_id": self.export_id,
            "rows": self.table.num_rows,
            "rows_in_file": self.rows_in_file,
            "file_size": self.file_size,
            "download_resumed": self.download_resumed,
            "job_attempts": self.attempts,
            "nul_bytes_stripped": self.nul_bytes_stripped,
        }
        if self.fallback:
            meta["fallback"] = self.fallback
            if self.target_window:
                meta["updated_at_start"] = iso(self.target_window.start)
                meta["updated_at_end"] = iso(self.target_window.end)
        return meta


def fetch_export(
    client: MarketoClient,
    *,
    entity: str,
    key_column: str,
    work_dir: Path,
    window: Window,
    key: str,
    entry: dict[str, Any],
    status: dict[str, Any],
    filter_field: str,
    updated_in: Window | None,
) -> ExportResult:
    """Download a Completed export, parse it and keep each key's last row inside the window(s)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f"{entry['exportId']}.csv"
    try:
        download = client.download_export(
            entity,
            entry["exportId"],
            path,
            expected_size=status.get("fileSize"),
            expected_checksum=status.get("fileChecksum"),
        )
        with path.open("rb") as fh:
            reader = CsvBatchReader(fh, name=f"export {entry['exportId']} ({key})")
            table = reader.read_all()
    finally:
        path.unlink(missing_ok=True)
    rows_in_file = table.num_rows
    boundary_col = "activityDate" if entity == "activities" else filter_field
    table = _filter_window(table, boundary_col, window)
    if updated_in is not None:
        table = _filter_window(table, "updatedAt", updated_in)
    table = _dedup_last(table, key_column)
    return ExportResult(
        window=window,
        filter_field=filter_field,
        table=table,
        export_id=entry["exportId"],
        rows_in_file=rows_in_file,
        file_size=download.size,
        download_resumed=download.resumed,
        attempts=entry.get("attempts", 1),
        nul_bytes_stripped=reader.nul_bytes_stripped,
        fallback=SWEEP_FALLBACK if updated_in is not None else None,
        target_window=updated_in,
        _commit=("sweep" if updated_in is not None else "window", key),
    )


def _filter_window(table: pa.Table, column: str, window: Window) -> pa.Table:
    if column not in table.column_names or table.num_rows == 0:
        return table
    values = table.column(column).to_pylist()
    mask = [v is None or window.contains(parse_ts(v)) for v in values]
    return table.filter(pa.array(mask, type=pa.bool_()))


def _dedup_last(table: pa.Table, key: str) -> pa.Table:
    """Keep the last row for each key (re-reading a window must be harmless)."""
    if key not in table.column_names or table.num_rows == 0:
        return table
    last: dict[Any, int] = {}
    for i, k in enumerate(table.column(key).to_pylist()):
        last[k] = i
    if len(last) == table.num_rows:
        return table
    return table.take(pa.array(sorted(last.values()), type=pa.int64()))
