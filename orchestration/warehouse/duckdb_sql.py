"""The SQL layer (orchestration/warehouse/sql.py) on the DuckDB warehouse file.

``$name`` parameters are DuckDB's own; identifiers are double-quoted. Every call takes a
short-lived connection under the warehouse's file lock, unless the layer was opened with
:meth:`DuckDBSql.reading`, which holds one read-only connection for a series of reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import duckdb
import pandas as pd

from orchestration.warehouse.row_hash import DuckDBHash
from orchestration.warehouse.sql import ColumnType, Params, Statement, used_params

Connect = Callable[..., AbstractContextManager[duckdb.DuckDBPyConnection]]

_COLUMN_TYPES: dict[str, str] = {"string": "varchar", "int64": "bigint", "timestamp": "timestamp"}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class DuckDBSql:
    errors: tuple[type[Exception], ...] = (duckdb.Error,)

    def __init__(self, connect: Connect, location: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
        """``connect(read_only=...)``: the warehouse's locked connection factory."""
        self._connect = connect
        self.location = location
        self._con = con

    @contextlib.contextmanager
    def reading(self, memory_limit: str | None = None) -> Iterator[DuckDBSql]:
        if self._con is not None:
            yield self
            return
        with self._connect(read_only=True) as con:
            if memory_limit:  # DuckDB spills to its temporary directory beyond it
                con.execute(f"set memory_limit = '{memory_limit}'")
            yield DuckDBSql(self._connect, self.location, con)

    @contextlib.contextmanager
    def _connection(self, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._con is not None:
            yield self._con
            return
        with self._connect(read_only=read_only) as con:
            yield con

    # -- names -------------------------------------------------------------------------

    def quote(self, identifier: str) -> str:
        return quote(identifier)

    def dataset(self, logical: str) -> str:
        return logical

    def relation(self, dataset: str, table: str) -> str:
        return f"{quote(dataset)}.{quote(table)}"

    def table_exists(self, dataset: str, table: str) -> bool:
        return bool(
            self.rows(
                "select count(*) from information_schema.tables where table_schema = $s and table_name = $t",
                {"s": dataset, "t": table},
            )[0][0]
        )

    def tables(self, dataset: str) -> list[str]:
        rows = self.rows(
            "select table_name from information_schema.tables "
            "where table_schema = $s and table_type = 'BASE TABLE' order by 1",
            {"s": dataset},
        )
        return [r[0] for r in rows]

    def columns(self, dataset: str, table: str) -> dict[str, str]:
        rows = self.rows(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = $s and table_name = $t order by ordinal_position",
            {"s": dataset, "t": table},
        )
        return {name: data_type.upper() for name, data_type in rows}

    # -- running -----------------------------------------------------------------------

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        with self._connection(read_only=True) as con:
            return con.execute(sql, used_params(sql, params)).fetchall()

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        with self._connection(read_only=True) as con:
            return con.execute(sql, used_params(sql, params)).df()

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        counts: list[int] = []
        with self._connection(read_only=False) as con:
            con.execute("begin transaction")
            try:
                for sql, params in statements:
                    result = con.execute(sql, used_params(sql, params)).fetchall()
                    counts.append(int(result[0][0]) if result and isinstance(result[0][0], int) else 0)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        return counts

    def ddl(self, sql: str) -> None:
        with self._connection(read_only=False) as con:
            con.execute(sql)

    def create_dataset(self, dataset: str) -> None:
        self.ddl(f"create schema if not exists {quote(dataset)}")

    # -- dialect -----------------------------------------------------------------------

    def sha256_hex(self, expr: str) -> str:
        return f"sha256({expr})"

    def in_array(self, expr: str, parameter: str) -> str:
        return f"list_contains(${parameter}, {expr})"

    def unnest(self, parameter: str, column: str) -> str:
        return f"unnest(${parameter}) as _unnested({quote(column)})"

    def row_hash(self) -> DuckDBHash:
        return DuckDBHash()

    def column_type(self, kind: ColumnType) -> str:
        return _COLUMN_TYPES[kind]
