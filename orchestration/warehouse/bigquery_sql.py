"""The SQL layer (orchestration/warehouse/sql.py) on BigQuery.

``$name`` parameters become BigQuery's ``@name`` query parameters; relations are
```project.<prefix><dataset>.table```. The dataset prefix is added in :meth:`BigQuerySql.dataset`
and nowhere else: every name the loader, the quality checks and the lifecycle jobs use
passes through it, logical in, physical out, always prefixed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from orchestration.warehouse.bigquery_emulator_gaps import emulator_inline_parameters
from orchestration.warehouse.bigquery_types import query_parameter, quote
from orchestration.warehouse.row_hash import BigQueryHash
from orchestration.warehouse.sql import PARAMETER, ColumnType, Params, Statement, used_params

if TYPE_CHECKING:
    from google.cloud import bigquery

    from orchestration.warehouse.bigquery_clients import BigQueryClients


def naive_utc_arrow(table: pa.Table) -> pa.Table:
    """TIMESTAMP columns as naive UTC, as the DuckDB warehouse stores them."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            column = column.cast(pa.timestamp(column.type.unit))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def arrow_to_pandas_like_duckdb(table: pa.Table) -> pd.DataFrame:
    """The DataFrame DuckDB's ``.df()`` gives for the same rows: NUMERIC as float64, DATE as
    datetime64, nullable integers as Int64, so the batch expectations see the same values
    on both backends."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("batch", naive_utc_arrow(table))
        return con.execute("select * from batch").df()


class BigQuerySql:
    def __init__(self, clients: BigQueryClients, dataset_prefix: str = "") -> None:
        from google.api_core.exceptions import GoogleAPICallError

        self.clients = clients
        self.project = clients.project
        self.dataset_prefix = dataset_prefix
        self.location = f"project {clients.project}"
        self.errors: tuple[type[Exception], ...] = (GoogleAPICallError,)

    @contextlib.contextmanager
    def reading(self, memory_limit: str | None = None) -> Iterator[BigQuerySql]:
        yield self  # BigQuery runs every query on its own servers: no memory to bound here

    # -- names -------------------------------------------------------------------------

    def dataset(self, logical: str) -> str:
        """The one place the dataset prefix is applied: raw_ops -> <prefix>raw_ops, always."""
        return f"{self.dataset_prefix}{logical}"

    def table_ref(self, dataset: str, table: str) -> str:
        """``project.<prefix>dataset.table``, unquoted, as the client API takes it."""
        return f"{self.project}.{self.dataset(dataset)}.{table}"

    def quote(self, identifier: str) -> str:
        return quote(identifier)

    def relation(self, dataset: str, table: str) -> str:
        return quote(self.table_ref(dataset, table))

    def get_table(self, dataset: str, table: str) -> bigquery.Table | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.clients.client.get_table(self.table_ref(dataset, table))
        except NotFound:
            return None

    def table_exists(self, dataset: str, table: str) -> bool:
        return self.get_table(dataset, table) is not None

    def list_tables(self, dataset: str) -> list[bigquery.table.TableListItem]:
        from google.api_core.exceptions import NotFound

        try:
            return list(self.clients.client.list_tables(f"{self.project}.{self.dataset(dataset)}"))
        except NotFound:
            return []

    def tables(self, dataset: str) -> list[str]:
        return sorted(t.table_id for t in self.list_tables(dataset) if t.table_type == "TABLE")

    def columns(self, dataset: str, table: str) -> dict[str, str]:
        found = self.get_table(dataset, table)
        if found is None:
            raise LookupError(f"{self.table_ref(dataset, table)} does not exist")
        return {f.name: f.field_type.upper() for f in found.schema}

    # -- running -----------------------------------------------------------------------

    def _job(self, sql: str, params: Params | None) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[query_parameter(k, v) for k, v in used_params(sql, params).items()]
        )
        return self.clients.client.query(PARAMETER.sub(r"@\1", sql), job_config=config)

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self._job(sql, params).result()]

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        # The REST download: batches are one load's rows, and it needs no extra IAM role
        # (the Storage Read API would need bigquery.readsessions.create).
        table = self._job(sql, params).result().to_arrow(create_bqstorage_client=False)
        return arrow_to_pandas_like_duckdb(table)

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        """One multi-statement transaction; each statement's parameters get their own names."""
        if len(statements) == 1:  # one DML statement is atomic by itself: no script needed
            sql, params = statements[0]
            job = self._job(sql, params)
            job.result()
            return [job.num_dml_affected_rows or 0]
        merged: dict[str, Any] = {}
        renamed: list[str] = []
        for n, (sql, params) in enumerate(statements):
            merged.update({f"{k}_s{n}": v for k, v in used_params(sql, params).items()})
            renamed.append(PARAMETER.sub(lambda m, n=n: f"${m.group(1)}_s{n}", sql))
        script = "begin transaction;\n" + ";\n".join(renamed) + ";\ncommit transaction;"
        if self.clients.is_emulator:
            script, merged = emulator_inline_parameters(script, merged), {}
        job = self._job(script, merged)
        job.result()
        client = self.clients.client
        children = sorted(client.list_jobs(parent_job=job.job_id), key=lambda c: c.created)
        return [
            c.num_dml_affected_rows or 0
            for c in children
            if c.statement_type not in ("BEGIN_TRANSACTION", "COMMIT_TRANSACTION", None)
        ]

    def ddl(self, sql: str) -> None:
        self.clients.client.query(sql).result()

    def create_dataset(self, dataset: str) -> None:
        self.ddl(f"create schema if not exists {quote(self.project, self.dataset(dataset))}")

    # -- dialect -----------------------------------------------------------------------

    def sha256_hex(self, expr: str) -> str:
        return f"to_hex(sha256({expr}))"

    def in_array(self, expr: str, parameter: str) -> str:
        return f"{expr} in unnest(${parameter})"

    def unnest(self, parameter: str, column: str) -> str:
        return f"unnest(${parameter}) as {quote(column)}"

    def row_hash(self) -> BigQueryHash:
        return BigQueryHash()

    def column_type(self, kind: ColumnType) -> str:
        return kind
