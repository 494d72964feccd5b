"""A thin SQL layer over the two warehouses for the lifecycle jobs.

Statements are written once with BigQuery's ``@name`` parameters and `{t:schema.table}`
placeholders; DuckDB gets ``$name`` and double-quoted identifiers. Everything a lifecycle
job changes in one table happens in one transaction, so a crash leaves the table as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from orchestration.warehouse.base import Warehouse

_TABLE = re.compile(r"\{t:([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\}")
_PARAM = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")

STRING_TYPES = ("VARCHAR", "STRING", "TEXT")


class LifecycleSql(Protocol):
    kind: str

    def schema_name(self, base: str) -> str: ...

    def tables(self, schema: str) -> list[str]: ...

    def columns(self, schema: str, table: str) -> dict[str, str]: ...

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]: ...

    def transaction(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[int]: ...

    def sha256(self, expr: str) -> str:
        """SQL for the lower-case hex SHA-256 of a string expression."""
        ...

    def ddl(self, sql: str) -> None:
        """One DDL statement, outside any transaction."""
        ...


def for_warehouse(warehouse: Warehouse, dataset_prefix: str = "") -> LifecycleSql:
    if warehouse.kind == "duckdb":
        return DuckDBSql(warehouse)
    return BigQuerySql(warehouse, dataset_prefix)


class DuckDBSql:
    kind = "duckdb"

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse

    def schema_name(self, base: str) -> str:
        return base

    def sha256(self, expr: str) -> str:
        return f"sha256({expr})"

    def ddl(self, sql: str) -> None:
        with self._connect(read_only=False) as con:
            con.execute(self._render(sql))

    def _render(self, sql: str) -> str:
        sql = _TABLE.sub(lambda m: f'"{m.group(1)}"."{m.group(2)}"', sql)
        return _PARAM.sub(lambda m: f"${m.group(1)}", sql)

    @contextlib.contextmanager
    def _connect(self, read_only: bool) -> Iterator[Any]:
        with self.warehouse.connect(read_only=read_only) as con:
            yield con

    def tables(self, schema: str) -> list[str]:
        rows = self.query(
            "select table_name from information_schema.tables "
            "where table_schema = @schema and table_type = 'BASE TABLE' order by 1",
            {"schema": schema},
        )
        return [r[0] for r in rows]

    def columns(self, schema: str, table: str) -> dict[str, str]:
        rows = self.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = @schema and table_name = @table order by ordinal_position",
            {"schema": schema, "table": table},
        )
        return {name: dtype.upper() for name, dtype in rows}

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        with self._connect(read_only=True) as con:
            return con.execute(self._render(sql), _used(sql, params)).fetchall()

    def transaction(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        counts: list[int] = []
        with self._connect(read_only=False) as con:
            con.execute("begin transaction")
            try:
                for sql, params in statements:
                    result = con.execute(self._render(sql), _used(sql, params)).fetchall()
                    counts.append(int(result[0][0]) if result and isinstance(result[0][0], int) else 0)
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        return counts


class BigQuerySql:
    kind = "bigquery"

    def __init__(self, warehouse: Any, dataset_prefix: str) -> None:
        self.warehouse = warehouse
        self.dataset_prefix = dataset_prefix

    def schema_name(self, base: str) -> str:
        return self.warehouse.dataset_id(base)

    def sha256(self, expr: str) -> str:
        return f"to_hex(sha256({expr}))"

    def ddl(self, sql: str) -> None:
        self.warehouse.client.query(self._render(sql)).result()

    def _render(self, sql: str) -> str:
        project = self.warehouse.project
        return _TABLE.sub(lambda m: f"`{project}.{m.group(1)}.{m.group(2)}`", sql)

    def _config(self, params: dict[str, Any] | None):
        from google.cloud import bigquery

        query_params = []
        for name, value in (params or {}).items():
            if isinstance(value, list | tuple):
                kind = _bq_type(value[0]) if value else "STRING"
                query_params.append(bigquery.ArrayQueryParameter(name, kind, list(value)))
            else:
                query_params.append(bigquery.ScalarQueryParameter(name, _bq_type(value), value))
        return bigquery.QueryJobConfig(query_parameters=query_params)

    def tables(self, schema: str) -> list[str]:
        dataset = f"{self.warehouse.project}.{schema}"
        return sorted(
            t.table_id for t in self.warehouse.client.list_tables(dataset) if t.table_type == "TABLE"
        )

    def columns(self, schema: str, table: str) -> dict[str, str]:
        ref = f"{self.warehouse.project}.{schema}.{table}"
        return {f.name: f.field_type.upper() for f in self.warehouse.client.get_table(ref).schema}

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        job = self.warehouse.client.query(self._render(sql), job_config=self._config(_used(sql, params)))
        return [tuple(row) for row in job.result()]

    def transaction(self, statements: Sequence[tuple[str, dict[str, Any]]]) -> list[int]:
        """One multi-statement transaction; each statement's parameters get their own names."""
        if len(statements) == 1:  # one DML statement is atomic by itself: no script needed
            sql, params = statements[0]
            job = self.warehouse.client.query(self._render(sql), job_config=self._config(_used(sql, params)))
            job.result()
            return [job.num_dml_affected_rows or 0]
        merged: dict[str, Any] = {}
        rendered: list[str] = []
        for n, (sql, params) in enumerate(statements):
            used = _used(sql, params)
            merged.update({f"{k}_s{n}": v for k, v in used.items()})
            rendered.append(self._render(_PARAM.sub(lambda m, n=n: f"@{m.group(1)}_s{n}", sql)))
        script = "begin transaction;\n" + ";\n".join(rendered) + ";\ncommit transaction;"
        client = self.warehouse.client
        job = client.query(script, job_config=self._config(merged))
        job.result()
        children = sorted(client.list_jobs(parent_job=job.job_id), key=lambda c: c.created)
        return [
            c.num_dml_affected_rows or 0
            for c in children
            if c.statement_type not in ("BEGIN_TRANSACTION", "COMMIT_TRANSACTION", None)
        ]


def _used(sql: str, params: dict[str, Any] | None) -> dict[str, Any]:
    names = set(_PARAM.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in names}


def _bq_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    return "STRING"


def is_string_type(data_type: str) -> bool:
    return data_type.upper().startswith(STRING_TYPES)
