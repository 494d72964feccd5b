"""Where a suite's queries run: the DuckDB warehouse or BigQuery, behind one small interface.

The pushed-down checks (orchestration/quality/sql_checks.py) are written once, in the SQL
both engines accept, with named parameters as ``$name``. An engine quotes identifiers,
names relations, binds parameters its own way, and hands the batch to Great Expectations
as a pandas DataFrame with the same dtypes on both engines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse

Params = Mapping[str, Any]


class QueryEngine(Protocol):
    name: str
    errors: tuple[type[Exception], ...]  # what a failing query raises

    def quote(self, identifier: str) -> str: ...

    def relation(self, schema: str, table: str) -> str:
        """The quoted, fully qualified relation of a logical ``schema.table``."""
        ...

    def table_exists(self, schema: str, table: str) -> bool: ...

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]: ...

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame: ...


class DuckDBQueries:
    name = "duckdb"
    errors = (duckdb.Error,)

    def __init__(self, con: duckdb.DuckDBPyConnection, location: str) -> None:
        self.con = con
        self.location = location  # for messages: the warehouse file

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def relation(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(
            self.con.execute(
                "select count(*) from information_schema.tables where table_schema = $s and table_name = $t",
                {"s": schema, "t": table},
            ).fetchone()[0]
        )

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, used_params(sql, params)).fetchall()

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        return self.con.execute(sql, used_params(sql, params)).df()


_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def used_params(sql: str, params: Params | None) -> dict[str, Any]:
    """The parameters ``sql`` names: DuckDB refuses a named parameter the query does not use,
    and a check's batch id is offered to whole-table queries too."""
    named = set(_PARAMETER.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in named}


def _bigquery_parameter(name: str, value: Any) -> Any:
    from google.cloud import bigquery

    if isinstance(value, bool):
        kind = "BOOL"
    elif isinstance(value, int):
        kind = "INT64"
    elif isinstance(value, float):
        kind = "FLOAT64"
    elif isinstance(value, dt.datetime):
        kind = "TIMESTAMP"
    elif isinstance(value, dt.date):
        kind = "DATE"
    else:
        kind = "STRING"
    return bigquery.ScalarQueryParameter(name, kind, value)


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
    on both engines."""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("batch", naive_utc_arrow(table))
        return con.execute("select * from batch").df()


class BigQueryQueries:
    name = "bigquery"

    def __init__(self, warehouse: BigQueryWarehouse) -> None:
        from google.api_core.exceptions import GoogleAPICallError

        self.warehouse = warehouse
        self.location = f"project {warehouse.project}"
        self.errors = (GoogleAPICallError,)

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "\\`") + "`"

    def relation(self, schema: str, table: str) -> str:
        return self.quote(self.warehouse.table_ref(schema, table))

    def table_exists(self, schema: str, table: str) -> bool:
        from google.api_core.exceptions import NotFound

        try:
            self.warehouse.client.get_table(self.warehouse.table_ref(schema, table))
        except NotFound:
            return False
        return True

    def _job(self, sql: str, params: Params | None) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[_bigquery_parameter(k, v) for k, v in used_params(sql, params).items()]
        )
        return self.warehouse.client.query(_PARAMETER.sub(r"@\1", sql), job_config=config)

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in self._job(sql, params).result()]

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        # The REST download: batches are one load's rows, and it needs no extra IAM role
        # (the Storage Read API would need bigquery.readsessions.create).
        table = self._job(sql, params).result().to_arrow(create_bqstorage_client=False)
        return arrow_to_pandas_like_duckdb(table)


@contextlib.contextmanager
def open_engine(warehouse: Any) -> Iterator[QueryEngine]:
    """A read-only query engine on the warehouse a run writes to."""
    from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    if isinstance(warehouse, DuckDBWarehouse):
        with warehouse.connect(read_only=True) as con:
            yield DuckDBQueries(con, str(warehouse.path))
    elif isinstance(warehouse, BigQueryWarehouse):
        yield BigQueryQueries(warehouse)
    else:
        raise TypeError(f"no quality engine for warehouse {type(warehouse).__name__}")


__all__ = ["BigQueryQueries", "DuckDBQueries", "QueryEngine", "open_engine"]
