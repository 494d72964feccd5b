"""Bulk writing with each backend's fastest path: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.common import EPOCH, NULL, to_dt


@contextlib.contextmanager
def bulk_load_mode(conn: sa.Connection) -> Iterator[None]:
    """Check foreign keys and build secondary indexes once after the load, not once per row.

    PostgreSQL: foreign keys and non-unique indexes are dropped and re-created from
    their own definitions inside the load transaction (as pg_restore does), so a
    failure leaves the schema untouched and re-adding a key validates all rows at
    once. MariaDB: the session's foreign-key and unique checks are switched off.
    """
    tables = [t.name for t in schema.TABLES]
    if conn.dialect.name == "postgresql":
        fks = conn.execute(
            sa.text(
                "select cl.relname, con.conname, pg_get_constraintdef(con.oid) from pg_constraint con "
                "join pg_class cl on cl.oid = con.conrelid join pg_namespace ns on ns.oid = cl.relnamespace "
                "where con.contype = 'f' and ns.nspname = current_schema() and cl.relname = any(:t) "
                "order by cl.relname, con.conname"
            ),
            {"t": tables},
        ).all()
        indexes = conn.execute(
            sa.text(
                "select i.indexname, i.indexdef from pg_indexes i where i.schemaname = current_schema() "
                "and i.tablename = any(:t) and not exists "
                "(select 1 from pg_constraint c where c.conname = i.indexname) order by i.indexname"
            ),
            {"t": tables},
        ).all()
        for table, name, _ in fks:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        yield
        for _, definition in indexes:
            conn.exec_driver_sql(definition)
        for table, name, definition in fks:
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    elif conn.dialect.name in ("mysql", "mariadb"):
        conn.exec_driver_sql("SET foreign_key_checks = 0, unique_checks = 0")
        try:
            yield
        finally:
            conn.exec_driver_sql("SET foreign_key_checks = 1, unique_checks = 1")
    else:
        yield


def _kind(column: sa.Column) -> str:
    t = column.type
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.DateTime):
        return "datetime"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Integer | sa.Float):
        return "money"
    if isinstance(t, sa.Integer):
        return "int"
    return "str"


_CENTS = np.array([f"{i:02d}" for i in range(100)])


def _as_text(kind: str, values: Any) -> tuple[list, np.ndarray | None]:
    """Column values as text (for COPY and pymysql) and the null mask, if any."""
    if kind == "str":
        values = list(values)
        return values, None
    arr = np.asarray(values)
    if kind == "bool":
        return np.where(arr, "1", "0").tolist(), None
    nulls = arr == NULL
    if kind == "int":
        text = arr.astype(np.int64).astype(str)
    elif kind == "money":
        cents = np.abs(arr.astype(np.int64))
        text = np.strings.add(np.strings.add((cents // 100).astype(str), "."), _CENTS[cents % 100])
        text = np.where(arr < 0, np.strings.add("-", text), text)
    elif kind == "datetime":
        text = np.strings.replace(
            np.datetime_as_string(np.where(nulls, 0, arr).astype("datetime64[s]")), "T", " "
        )
    else:  # date, as epoch days
        text = np.datetime_as_string(np.where(nulls, 0, arr).astype("datetime64[D]"))
    return text.tolist(), (nulls if nulls.any() else None)


def _with_nulls(values: list, nulls: np.ndarray | None, null: Any) -> list:
    if nulls is not None:
        for i in np.flatnonzero(nulls).tolist():
            values[i] = null
    return values


class BulkWriter:
    """Appends column chunks to tables with each backend's fastest bulk path, in the caller's transaction."""

    MYSQL_ROWS_PER_CALL = 20_000

    def __init__(self, conn: sa.Connection, *, tune_sqlite: bool = True) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        self.driver = conn.dialect.driver
        self.dbapi = conn.connection.dbapi_connection
        self.rows: dict[str, int] = {t.name: 0 for t in schema.TABLES}
        if self.dialect == "sqlite" and tune_sqlite:  # a fresh load: nothing to lose if the process dies
            cur = self.dbapi.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=OFF")
            cur.close()

    def write(self, table: sa.Table, columns: Mapping[str, Any]) -> int:
        names_ = [c.name for c in table.columns]
        missing = set(names_) - set(columns)
        if missing:
            raise ValueError(f"rows for {table.name} lack columns {sorted(missing)}")
        n = len(columns["id"])
        if n == 0:
            return 0
        if self.dialect == "postgresql" and self.driver in ("psycopg", "psycopg2"):
            self._copy(table, names_, columns)
        elif self.dialect == "sqlite":
            self._executemany(table, names_, columns, "?", sqlite=True, chunk=n)
        elif self.dialect in ("mysql", "mariadb") and self.driver in ("pymysql", "mysqldb"):
            self._executemany(table, names_, columns, "%s", sqlite=False, chunk=self.MYSQL_ROWS_PER_CALL)
        else:
            self._generic(table, names_, columns, n)
        self.rows[table.name] += n
        return n

    def _copy(self, table: sa.Table, cols: list[str], columns: Mapping[str, Any]) -> None:
        texts = []
        for c in cols:
            kind = _kind(table.c[c])
            values, nulls = _as_text(kind, columns[c])
            if kind == "bool":
                values = ["t" if v == "1" else "f" for v in values]
            if kind == "str":
                values = ["" if v is None else '"' + v.replace('"', '""') + '"' for v in values]
            texts.append(_with_nulls(values, nulls, ""))
        body = "\n".join(map(",".join, zip(*texts, strict=True))) + "\n"
        sql = f"COPY {table.name} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"
        cur = self.dbapi.cursor()
        try:
            if self.driver == "psycopg":
                with cur.copy(sql) as copy:
                    copy.write(body.encode())
            else:
                cur.copy_expert(sql, io.StringIO(body))
        finally:
            cur.close()

    def _executemany(
        self,
        table: sa.Table,
        cols: list[str],
        columns: Mapping[str, Any],
        mark: str,
        *,
        sqlite: bool,
        chunk: int,
    ) -> None:
        lists = []
        for c in cols:
            kind = _kind(table.c[c])
            if kind in ("int", "bool"):
                arr = np.asarray(columns[c]).astype(np.int64)
                values, nulls = arr.tolist(), (arr == NULL)
                nulls = nulls if nulls.any() else None
            else:
                values, nulls = _as_text(kind, columns[c])
                if sqlite and kind == "datetime":  # SQLAlchemy's SQLite storage format, so comparisons match
                    values = [v + ".000000" for v in values]
            lists.append(_with_nulls(values, nulls, None))
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
        rows = list(zip(*lists, strict=True))
        cur = self.dbapi.cursor()
        try:
            for lo in range(0, len(rows), chunk):
                cur.executemany(sql, rows[lo : lo + chunk])
        finally:
            cur.close()

    def _generic(self, table: sa.Table, cols: list[str], columns: Mapping[str, Any], n: int) -> None:
        converted = []
        for c in cols:
            kind = _kind(table.c[c])
            values = columns[c]
            if kind == "str":
                converted.append(list(values))
                continue
            arr = np.asarray(values).astype(np.int64)
            if kind == "bool":
                converted.append([bool(v) for v in arr.tolist()])
            elif kind == "int":
                converted.append([None if v == NULL else v for v in arr.tolist()])
            elif kind == "money":
                converted.append([Decimal(v).scaleb(-2) for v in arr.tolist()])
            elif kind == "datetime":
                converted.append([None if v == NULL else to_dt(v) for v in arr.tolist()])
            else:
                converted.append(
                    [None if v == NULL else EPOCH.date() + timedelta(days=v) for v in arr.tolist()]
                )
        self.conn.execute(
            table.insert(), [dict(zip(cols, row, strict=True)) for row in zip(*converted, strict=True)]
        )
