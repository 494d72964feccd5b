"""The DuckDB warehouse: one local file, one writing process at a time.

DuckDB lets a single process open a file for writing. Dagster runs the assets that
write it in one pool (limit 1) and, locally, with the in-process executor; on top of
that every connection here is short-lived and taken under an advisory file lock, so
two of our own processes queue instead of failing with "Could not set lock on file".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.warehouse.base import (
    LOAD_LEDGER,
    REJECTED_ROWS,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    latest_mark_sql,
    next_high_water_mark,
    plan_schema_change,
)
from orchestration.warehouse.duckdb_sql import DuckDBSql
from orchestration.warehouse.duckdb_sql import quote as _q


def duckdb_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE"
    if pa.types.is_decimal(arrow_type):
        return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "VARCHAR"
    raise TypeError(f"no DuckDB type for Arrow type {arrow_type}")


class WarehouseLockTimeout(TimeoutError):
    pass


class DuckDBWarehouse:
    kind = "duckdb"
    stores_source_positions = True

    def __init__(self, path: Path | str, *, lock_timeout_s: float = 600, memory_limit: str = "2GB") -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.memory_limit = memory_limit

    def sql(self) -> DuckDBSql:
        return DuckDBSql(self.connect, str(self.path))

    def close(self) -> None:
        """Nothing to release: every connection is closed when its call ends."""

    @contextlib.contextmanager
    def locked(self, *, shared: bool = False) -> Iterator[None]:
        """Hold the warehouse's advisory file lock: exclusive for a writer, shared for readers.

        ``connect`` takes it for every connection of ours. The dbt step holds it exclusively
        for the whole build, because dbt-duckdb keeps the file open throughout: any other of
        our writers (a Marketo extraction in another run) then waits here instead of failing
        on DuckDB's own lock.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as lock_file:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            deadline = time.monotonic() + self.lock_timeout_s
            while True:
                try:
                    fcntl.flock(lock_file, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseLockTimeout(
                            f"DuckDB warehouse {self.path} (DUCKDB_PATH) stayed locked by another process "
                            f"for {self.lock_timeout_s:.0f} s"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if read_only and not self.path.exists():
            read_only = False  # nothing to read yet; create the file
        with self.locked(shared=read_only):
            try:
                con = duckdb.connect(
                    str(self.path),
                    read_only=read_only,
                    config={"memory_limit": self.memory_limit, "preserve_insertion_order": False},
                )
            except duckdb.IOException as exc:
                raise duckdb.IOException(
                    f"cannot open the DuckDB warehouse {self.path} (DUCKDB_PATH): {exc}"
                ) from exc
            try:
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()

    # -- reads ---------------------------------------------------------------------------

    def _table_schema(self, con: duckdb.DuckDBPyConnection, dataset: str, table: str) -> pa.Schema | None:
        exists = con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [dataset, table],
        ).fetchone()[0]
        if not exists:
            return None
        return con.execute(f"select * from {_q(dataset)}.{_q(table)} limit 0").arrow().schema

    def high_water_mark(self, dataset: str, table: str) -> dt.datetime | None:
        with self.sql().reading() as sql:
            if not sql.table_exists(dataset, LOAD_LEDGER):
                return None
            rows = sql.rows(latest_mark_sql(sql.relation(dataset, LOAD_LEDGER)), {"table": table})
            return rows[0][0] if rows else None

    def source_position(self, dataset: str, table: str) -> str | None:
        with self.connect(read_only=True) as con:
            if not self._has_column(con, dataset, LOAD_LEDGER, "source_position"):
                return None
            found = con.execute(
                f"select source_position from {_q(dataset)}.{_q(LOAD_LEDGER)} where table_name = ? "
                "and source_position is not null order by loaded_at desc limit 1",
                [table],
            ).fetchone()
        return found[0] if found else None

    def _has_column(self, con: duckdb.DuckDBPyConnection, dataset: str, table: str, column: str) -> bool:
        return bool(
            con.execute(
                "select count(*) from information_schema.columns "
                "where table_schema = ? and table_name = ? and column_name = ?",
                [dataset, table, column],
            ).fetchone()[0]
        )

    def row_count(self, dataset: str, table: str) -> int:
        sql = self.sql()
        return sql.rows(f"select count(*) from {sql.relation(dataset, table)}")[0][0]

    def list_tables(self, dataset: str) -> list[str]:
        rows = self.sql().rows(
            "select table_name from information_schema.tables where table_schema = $dataset order by 1",
            {"dataset": dataset},
        )
        return [name for (name,) in rows]

    def rejected_keys(self, dataset: str, table: str) -> set[str]:
        """Source keys of a table already in the quarantine (<dataset>._rejected_rows)."""
        with self.sql().reading() as sql:
            if not sql.table_exists(dataset, REJECTED_ROWS):
                return set()
            rows = sql.rows(
                f"select distinct source_key from {sql.relation(dataset, REJECTED_ROWS)} where table_name = $table",
                {"table": table},
            )
        return {key for (key,) in rows}

    def check_schema(self, dataset: str, table: str, arrow_schema: pa.Schema) -> list[str]:
        with self.connect(read_only=True) as con:
            existing = self._table_schema(con, dataset, table)
        to_add, _ = plan_schema_change(f"{dataset}.{table}", existing, arrow_schema)
        return [f.name for f in to_add]

    # -- the atomic publish ----------------------------------------------------------------

    def publish(self, request: LoadRequest) -> LoadResult:
        dataset, table = request.dataset, request.table
        target = f"{_q(dataset)}.{_q(table)}"
        landed = f"read_parquet('{request.landing_file.as_posix()}')"
        with self.connect() as con:
            con.execute(f"create schema if not exists {_q(dataset)}")
            con.execute(
                f"create table if not exists {_q(dataset)}.{_q(LOAD_LEDGER)} ("
                "table_name varchar not null, batch_id varchar not null, cursor_column varchar, "
                "high_water_mark timestamp, rows_landed bigint, rows_inserted bigint, loaded_at timestamp)"
            )
            if request.source_position is not None:
                # Added by the first positioned (CDC) batch only: a ledger fed only by cursor
                # loads keeps its seven columns.
                con.execute(
                    f"alter table {_q(dataset)}.{_q(LOAD_LEDGER)} add column if not exists source_position varchar"
                )
            found = con.execute(
                latest_mark_sql(f"{_q(dataset)}.{_q(LOAD_LEDGER)}", "$table"), {"table": table}
            ).fetchone()
            previous = found[0] if found else None
            existing = self._table_schema(con, dataset, table)
            to_add, to_widen = plan_schema_change(f"{dataset}.{table}", existing, request.arrow_schema)

            con.execute("begin transaction")
            try:
                if existing is None:
                    columns_sql = ", ".join(
                        f"{_q(f.name)} {duckdb_type(f.type)}" for f in request.arrow_schema
                    )
                    con.execute(
                        f"create table {target} ({columns_sql}, _batch_id varchar not null, "
                        "_loaded_at timestamp not null)"
                    )
                for f in to_add:
                    con.execute(f"alter table {target} add column {_q(f.name)} {duckdb_type(f.type)}")
                for f in to_widen:
                    con.execute(f"alter table {target} alter column {_q(f.name)} type {duckdb_type(f.type)}")
                cursor = _q(request.cursor_column)
                stats = con.execute(
                    f"select count(*), max({cursor}), min({cursor}), count(*) - count({cursor}) from {landed}"
                ).fetchone()
                rows_landed, batch_max, batch_min, null_cursors = stats
                names = request.arrow_schema.names
                column_list = ", ".join(_q(n) for n in names)
                # A landed row is already in raw when a version with the same key holds the same
                # value in every column: a re-read (lookback, retry, repair) adds nothing, while a
                # row changed without touching its cursor is a new version. NULLs match NULLs.
                key_match = " and ".join(
                    [f"r.{_q(c)} = s.{_q(c)}" for c in request.key_columns]
                    + [
                        f"r.{_q(n)} is not distinct from s.{_q(n)}"
                        for n in names
                        if n not in request.key_columns
                    ]
                )
                select_landed = (
                    f"insert into {target} ({column_list}, _batch_id, _loaded_at) "
                    f"select {', '.join('s.' + _q(n) for n in names)}, ?, now()::timestamp from {landed} s"
                )
                raw_max = None
                if existing is not None:
                    raw_max = con.execute(
                        f"select max({_q(request.cursor_column)}) from {target}"
                    ).fetchone()[0]
                if (
                    existing is None
                    or rows_landed == 0
                    or (not null_cursors and (raw_max is None or batch_min > raw_max))
                ):
                    # A duplicate needs the same cursor; every landed cursor is past the newest
                    # raw one (a first load, or no lookback overlap), so nothing can match.
                    # Skipping the anti-join saves its hash table, the largest memory of a big load.
                    inserted = con.execute(select_landed, [request.batch_id]).fetchone()[0]
                else:
                    # Only raw rows at or after the batch's lowest cursor (or without one) can be
                    # duplicates, and DuckDB's zone maps skip the rest, so the anti-join costs what
                    # the batch costs.
                    window = f"r.{cursor} >= ? or r.{cursor} is null" if batch_min is not None else "true"
                    params = [request.batch_id] + ([batch_min] if batch_min is not None else [])
                    inserted = con.execute(
                        f"{select_landed} where not exists (select 1 from {target} r "
                        f"where ({window}) and {key_match})",
                        params,
                    ).fetchone()[0]
                rows_rejected, min_rejected = self._publish_rejected(con, request)
                new_mark = next_high_water_mark(previous, batch_max, min_rejected, request.mark_ceiling)
                ledger_columns = (
                    "table_name, batch_id, cursor_column, high_water_mark, rows_landed, rows_inserted"
                )
                ledger_values = [
                    table,
                    request.batch_id,
                    request.cursor_column,
                    new_mark,
                    rows_landed,
                    inserted,
                ]
                if request.source_position is not None:
                    ledger_columns += ", source_position"
                    ledger_values.append(request.source_position)
                placeholders = ", ".join("?" for _ in ledger_values)
                con.execute(
                    f"insert into {_q(dataset)}.{_q(LOAD_LEDGER)} ({ledger_columns}, loaded_at) "
                    f"values ({placeholders}, now()::timestamp)",
                    ledger_values,
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        return LoadResult(
            rows_landed=rows_landed,
            rows_inserted=inserted,
            high_water_mark=new_mark,
            previous_high_water_mark=previous,
            columns_added=tuple(f.name for f in to_add),
            rows_rejected=rows_rejected,
        )

    def _publish_rejected(
        self, con: duckdb.DuckDBPyConnection, request: LoadRequest
    ) -> tuple[int, dt.datetime | None]:
        """Insert the batch's quarantined rows (inside the publish transaction).

        Returns (rejected source rows in this batch, earliest rejected cursor). A problem
        seen again by a later batch (same table, key, column, cursor and value) is kept
        once, under the batch that first found it.
        """
        if request.rejected_file is None:
            return 0, None
        rejected = f"{_q(request.dataset)}.{_q(REJECTED_ROWS)}"
        con.execute(
            f"create table if not exists {rejected} (table_name varchar not null, source_key varchar not null, "
            "column_name varchar not null, reason varchar not null, raw_value varchar, cursor_value timestamp, "
            "batch_id varchar not null, detected_at timestamp not null)"
        )
        landed = f"read_parquet('{request.rejected_file.as_posix()}')"
        rows, min_cursor = con.execute(
            f"select count(distinct source_key), min(cursor_value) from {landed}"
        ).fetchone()
        con.execute(
            f"insert into {rejected} select s.table_name, s.source_key, s.column_name, s.reason, s.raw_value, "
            f"s.cursor_value, ?, now()::timestamp from {landed} s where not exists (select 1 from {rejected} r "
            "where r.table_name = s.table_name and r.source_key = s.source_key and r.column_name = s.column_name "
            "and r.cursor_value is not distinct from s.cursor_value and r.raw_value is not distinct from s.raw_value)",
            [request.batch_id],
        )
        return rows, min_cursor

    # -- small JSON state (e.g. Marketo export jobs and bookmarks) -------------------------

    def read_state(self, dataset: str, key: str) -> dict | None:
        """The JSON value stored under ``key`` in ``<dataset>._state``, or None."""
        with self.sql().reading() as sql:
            if not sql.table_exists(dataset, STATE_TABLE):
                return None
            rows = sql.rows(
                f"select value from {sql.relation(dataset, STATE_TABLE)} where key = $key", {"key": key}
            )
        return json.loads(rows[0][0]) if rows else None

    def write_state(self, dataset: str, key: str, value: dict) -> None:
        """Replace the value under ``key`` in one transaction."""
        with self.connect() as con:
            con.execute(f"create schema if not exists {_q(dataset)}")
            con.execute(
                f"create table if not exists {_q(dataset)}.{_q(STATE_TABLE)} ("
                "key varchar primary key, value json not null, updated_at timestamp not null)"
            )
            con.execute(
                f"insert or replace into {_q(dataset)}.{_q(STATE_TABLE)} values (?, ?, now()::timestamp)",
                [key, json.dumps(value, sort_keys=True)],
            )
