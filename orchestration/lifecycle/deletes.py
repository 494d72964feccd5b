"""Hard-delete detection by key reconciliation.

Raw tables are append-only and extraction is incremental by ``updated_at``, so a row
deleted in the operational database leaves no trace in a change feed: it simply stops
being there. Reconciliation streams every primary key of the source table and every live
key of the raw table, both in key order, and walks them side by side (memory stays flat
whatever the table size). Keys in raw but no longer in the source are recorded in
``raw_ops._deleted_keys`` in one statement, with the run's batch id.

A key counts as live in raw while no deletion was recorded after its newest load, so a
row re-inserted in the source with the same id (a new version loaded later) is live again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from orchestration.extract.pipeline import primary_key
from orchestration.warehouse.sql import WarehouseSql

DELETED_KEYS = "_deleted_keys"
STREAM_ROWS = 50_000


class SuspiciousDeletionError(RuntimeError):
    """Reconciliation would mark too many rows deleted: a wrong database or an emptied table."""


@dataclass(frozen=True)
class ReconciliationResult:
    table: str
    source_keys: int
    raw_live_keys: int
    deleted_keys: list[int]

    @property
    def deleted(self) -> int:
        return len(self.deleted_keys)


def ensure_deleted_keys_table(sql: WarehouseSql, raw_schema: str) -> None:
    if DELETED_KEYS in sql.tables(raw_schema):
        return
    string, int64, timestamp = (sql.column_type(k) for k in ("string", "int64", "timestamp"))
    # DDL outside any transaction: BigQuery allows none on permanent tables inside one.
    sql.ddl(
        f"create table if not exists {sql.relation(raw_schema, DELETED_KEYS)} ("
        f"table_name {string} not null, id {int64} not null, "
        f"detected_at {timestamp} not null, batch_id {string} not null)"
    )


def stream_source_keys(engine: sa.Engine, table: str, key_column: str | None = None) -> Iterator[int]:
    """Every primary key of a source table, ascending, through a server-side cursor.

    ``key_column``: the declared key (orchestration/sources.yml); None = the source's own.
    """
    pk = (key_column,) if key_column else primary_key(engine, table)
    if len(pk) != 1:
        raise ValueError(f"source table {table!r}: key reconciliation needs a single-column key, got {pk}")
    column = sa.column(pk[0])
    stmt = sa.select(column).select_from(sa.table(table)).order_by(column)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=STREAM_ROWS).execute(stmt)
        for (key,) in result:
            yield int(key)


def raw_live_keys(sql: WarehouseSql, raw_schema: str, table: str) -> list[int]:
    # Key lists are ints (8 bytes each in the warehouse, a Python int here); the raw side
    # is read in one query because both warehouses return it in pages anyway.
    rows = sql.rows(
        f"select r.id from {sql.relation(raw_schema, table)} r "
        f"left join (select id, max(detected_at) as detected_at from {sql.relation(raw_schema, DELETED_KEYS)} "
        f"where table_name = $table_name group by id) d on d.id = r.id "
        "group by r.id having max(d.detected_at) is null or max(d.detected_at) < max(r._loaded_at) "
        "order by r.id",
        {"table_name": table},
    )
    return [int(r[0]) for r in rows]


def missing_from_source(raw_keys: Iterable[int], source_keys: Iterable[int]) -> Iterator[int]:
    """Keys of ``raw_keys`` absent from ``source_keys``; both ascending (a merge walk)."""
    source = iter(source_keys)
    current = next(source, None)
    for key in raw_keys:
        while current is not None and current < key:
            current = next(source, None)
        if current != key:
            yield key


def reconcile_table(
    engine: sa.Engine,
    sql: WarehouseSql,
    *,
    table: str,
    raw_schema: str,
    batch_id: str,
    detected_at: dt.datetime,
    max_deleted_fraction: float = 0.5,
    key_column: str | None = None,
) -> ReconciliationResult:
    if table not in sql.tables(raw_schema):
        return ReconciliationResult(table, 0, 0, [])
    raw_keys = raw_live_keys(sql, raw_schema, table)
    counted = _Counter(stream_source_keys(engine, table, key_column))
    deleted = list(missing_from_source(raw_keys, counted))
    for _ in counted:  # drain: the count covers every source key
        pass
    if raw_keys and len(deleted) > max(10, max_deleted_fraction * len(raw_keys)):
        raise SuspiciousDeletionError(
            f"{table}: {len(deleted)} of {len(raw_keys)} raw keys are missing from the source; "
            f"refusing to record more than {max_deleted_fraction:.0%} as deleted. Check OPS_DATABASE_URL "
            "points at the right database; raise max_deleted_fraction for a deliberate mass delete"
        )
    record_deleted_keys(sql, raw_schema, table, deleted, batch_id=batch_id, detected_at=detected_at)
    return ReconciliationResult(table, counted.count, len(raw_keys), deleted)


def record_deleted_keys(
    sql: WarehouseSql,
    raw_schema: str,
    table: str,
    keys: list[int],
    *,
    batch_id: str,
    detected_at: dt.datetime,
) -> None:
    """Record ``keys`` of ``table`` as hard-deleted at the source, in one statement."""
    if not keys:
        return
    ensure_deleted_keys_table(sql, raw_schema)
    sql.transaction(
        [
            (
                f"insert into {sql.relation(raw_schema, DELETED_KEYS)} (table_name, id, detected_at, batch_id) "
                f"select $table_name, id, $detected_at, $batch_id from {sql.unnest('ids', 'id')}",
                {"table_name": table, "detected_at": detected_at, "batch_id": batch_id, "ids": keys},
            )
        ]
    )


class _Counter:
    def __init__(self, keys: Iterator[int]) -> None:
        self._keys = keys
        self.count = 0

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        key = next(self._keys)
        self.count += 1
        return key
