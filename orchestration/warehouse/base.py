"""What every warehouse backend provides to the extraction assets.

A batch is first landed as a Parquet file (streamed, bounded memory, no warehouse lock
held while the source is read), then published in one atomic step that also records
the new high-water mark in the load ledger. A crash before the publish commits leaves
the warehouse exactly as it was; publishing the same rows twice inserts them once,
because rows already present with the same key and cursor value are skipped.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from orchestration.warehouse.sql import WarehouseSql

# The warehouse's own tables, next to the raw tables of each dataset.
LOAD_LEDGER = "_loads"  # one row per published batch, with the table's high-water mark
STATE_TABLE = "_state"  # small JSON values by key, e.g. resumable export state
REJECTED_ROWS = "_rejected_rows"  # quarantined source rows (orchestration/extract/quarantine.py)
METADATA_COLUMNS = ("_batch_id", "_loaded_at")
# What change data capture adds to a raw row (orchestration/cdc/): the operation (snapshot,
# insert, update, delete, truncate), the source's commit time and a position that orders a
# key's versions (sortable text). A cursor-mode batch may lack them, like METADATA_COLUMNS.
CDC_COLUMNS = ("_cdc_operation", "_cdc_committed_at", "_cdc_position")


class SchemaDriftError(RuntimeError):
    """The source schema changed in a way the raw table cannot absorb safely."""


@dataclass(frozen=True)
class LoadRequest:
    dataset: str  # logical dataset (schema), e.g. raw_ops; BigQuery adds its prefix itself
    table: str
    landing_file: Path
    key_columns: tuple[str, ...]
    cursor_column: str
    batch_id: str
    arrow_schema: pa.Schema
    # Rows quarantined by extraction (quarantine.REJECT_SCHEMA), published in the same
    # transaction into <dataset>._rejected_rows. The high-water mark stops at the earliest
    # rejected cursor so a rejected row is read again until it is fixed at the source.
    rejected_file: Path | None = None
    # The highest mark this batch may publish (orchestration/extract/mark_guard.py): the
    # source's clock or its oldest open transaction, whichever is earlier. None = no cap.
    mark_ceiling: dt.datetime | None = None
    # Change data capture: the source position (a PostgreSQL LSN, ``16/B374D848``) this batch
    # brings the table up to, recorded in the ledger in the same transaction as the rows.
    source_position: str | None = None


@dataclass(frozen=True)
class LoadResult:
    rows_landed: int
    rows_inserted: int
    high_water_mark: dt.datetime | None
    previous_high_water_mark: dt.datetime | None
    columns_added: tuple[str, ...] = field(default_factory=tuple)
    rows_rejected: int = 0


@runtime_checkable
class Warehouse(Protocol):
    """A warehouse backend. Every dataset argument is logical (``raw_ops``); a backend
    that prefixes datasets (BigQuery) does so itself, through its SQL layer."""

    kind: str  # "duckdb" | "bigquery": for messages; behaviour differs through methods, not this
    stores_source_positions: bool  # whether publish() takes a LoadRequest.source_position (CDC)

    def sql(self) -> WarehouseSql:
        """The shared SQL layer on this warehouse (orchestration/warehouse/sql.py)."""
        ...

    def locked(self, *, shared: bool = False) -> AbstractContextManager[None]:
        """Hold the warehouse against our other writers (DuckDB's file lock); a no-op where
        the warehouse takes concurrent writers (BigQuery)."""
        ...

    def high_water_mark(self, dataset: str, table: str) -> dt.datetime | None: ...

    def source_position(self, dataset: str, table: str) -> str | None:
        """The source position the table's latest positioned batch recorded (CDC), or None."""
        ...

    def check_schema(self, dataset: str, table: str, arrow_schema: pa.Schema) -> list[str]:
        """Raise SchemaDriftError for incompatible drift; return the columns that would be added."""
        ...

    def publish(self, request: LoadRequest) -> LoadResult: ...

    def rejected_keys(self, dataset: str, table: str) -> set[str]:
        """Source keys of ``table`` already quarantined in ``<dataset>._rejected_rows``."""
        ...

    def read_state(self, dataset: str, key: str) -> dict | None:
        """The JSON value stored under ``key`` in ``<dataset>._state``, or None."""
        ...

    def write_state(self, dataset: str, key: str, value: dict) -> None:
        """Replace the JSON value under ``key`` (one atomic statement)."""
        ...

    def row_count(self, dataset: str, table: str) -> int: ...

    def list_tables(self, dataset: str) -> list[str]:
        """Names of the tables and views in a dataset, sorted; [] if it does not exist."""
        ...

    def close(self) -> None:
        """Release clients or connections; the warehouse may be used again afterwards."""
        ...


# Widening a column keeps every existing value representable; anything else is refused.
def is_compatible_change(old: pa.DataType, new: pa.DataType) -> bool:
    if old == new:
        return True
    if pa.types.is_integer(old) and pa.types.is_integer(new):
        return new.bit_width >= old.bit_width
    if pa.types.is_decimal(old) and pa.types.is_decimal(new):
        return new.scale == old.scale and new.precision >= old.precision
    if pa.types.is_integer(old) and pa.types.is_decimal(new):
        return new.precision - new.scale >= 19
    return False


def next_high_water_mark(
    previous: dt.datetime | None,
    batch_max: dt.datetime | None,
    min_rejected: dt.datetime | None,
    ceiling: dt.datetime | None = None,
) -> dt.datetime | None:
    """The mark after a publish: never past the ceiling, nor past the earliest rejected row.

    A rejected row must not be skipped forever: while one is outstanding the mark stays at
    or below its cursor, so the next run (which reads from mark - lookback) sees it again.
    The mark does not go backwards, except down to the ceiling: a mark that a future-stamped
    row carried ahead of the source's clock (before the ceiling existed, or after the clock
    was set back) comes back to what can be promised. A lower mark only means re-reading
    rows that the publish then skips.
    """
    candidate = batch_max
    if min_rejected is not None:
        candidate = min_rejected if candidate is None else min(candidate, min_rejected)
    mark = max(filter(None, (previous, candidate)), default=None)
    if ceiling is not None and mark is not None and mark > ceiling:
        mark = ceiling
    return mark


# The table's mark is the one its latest batch published (not the maximum ever published:
# a mark may come back down to its ceiling, see next_high_water_mark).
def latest_mark_sql(ledger: str, table_param: str = "$table") -> str:
    return (
        f"select high_water_mark from {ledger} where table_name = {table_param} "
        "order by loaded_at desc, high_water_mark desc limit 1"
    )


def plan_schema_change(
    qualified_table: str, existing: pa.Schema | None, incoming: pa.Schema
) -> tuple[list[pa.Field], list[pa.Field]]:
    """Compare a raw table with an incoming batch: (fields to add, fields to widen).

    Raises SchemaDriftError naming the table, column and change for a dropped/renamed
    column or an incompatible type change, before anything is written.
    """
    if existing is None:
        return [], []
    problems: list[str] = []
    to_add: list[pa.Field] = []
    to_widen: list[pa.Field] = []
    incoming_by_name = {f.name: f for f in incoming}
    for old in existing:
        if old.name in METADATA_COLUMNS or old.name in CDC_COLUMNS:
            continue
        new = incoming_by_name.get(old.name)
        if new is None:
            candidates = [f.name for f in incoming if f.name not in existing.names and f.type == old.type]
            hint = f" (renamed to {' or '.join(map(repr, candidates))}?)" if candidates else ""
            problems.append(
                f"column {old.name!r} ({old.type}) is missing from the source: dropped or renamed{hint}. "
                "Raw history keeps it; restore the column or migrate the raw table deliberately"
            )
        elif new.type != old.type:
            if is_compatible_change(old.type, new.type):
                to_widen.append(new)
            else:
                problems.append(f"column {old.name!r} changed type from {old.type} to {new.type}")
    existing_names = set(existing.names)
    to_add = [f for f in incoming if f.name not in existing_names]
    if problems:
        raise SchemaDriftError(
            f"schema drift in {qualified_table}: " + "; ".join(problems) + ". Nothing was written."
        )
    return to_add, to_widen
