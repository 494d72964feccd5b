"""The one SQL layer over the two warehouses, used by loading, quality and lifecycle.

SQL above this layer is written once, in the common ground of DuckDB and GoogleSQL, with
named parameters as ``$name`` and relations named through :meth:`WarehouseSql.relation`:

    sql.rows(f"select count(*) from {sql.relation('raw_ops', 'orders')} where id = $id", {"id": 7})

``relation`` takes a *logical* dataset (``raw_ops``, ``marts``, ``audit``) and returns the
quoted physical name; on BigQuery the dataset prefix (BIGQUERY_DATASET_PREFIX) is added
there, by ``BigQueryWarehouse.dataset_id`` and nowhere else. Callers never add it.

The few places where the dialects differ in syntax (a SHA-256 in hex, membership in an
array parameter, a column type in DDL) are methods here too, so no caller asks which
backend it runs on. The backend is chosen once, when the warehouse is built
(``orchestration.resources.warehouse.WarehouseResource.get``); each warehouse hands out
its own SQL layer through ``Warehouse.sql()``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from orchestration.warehouse.row_hash import RowHashDialect

Params = Mapping[str, Any]
Statement = tuple[str, Params]
ColumnType = Literal["string", "int64", "timestamp"]

PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

STRING_TYPES = ("VARCHAR", "STRING", "TEXT")


def used_params(sql: str, params: Params | None) -> dict[str, Any]:
    """The parameters ``sql`` names: DuckDB refuses a named parameter the query does not use,
    and callers may offer one set of parameters to several queries (a batch id, say)."""
    named = set(PARAMETER.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in named}


def is_string_type(data_type: str) -> bool:
    """Whether a type name from :meth:`WarehouseSql.columns` is text, on either backend."""
    return data_type.upper().startswith(STRING_TYPES)


class WarehouseSql(Protocol):
    """SQL on one warehouse: naming, binding, running; see the module docstring."""

    location: str  # for messages: the DuckDB file, or the BigQuery project
    errors: tuple[type[Exception], ...]  # what a failing query raises

    def quote(self, identifier: str) -> str: ...

    def dataset(self, logical: str) -> str:
        """The physical dataset (schema) of a logical one, unquoted: for labels and messages."""
        ...

    def relation(self, dataset: str, table: str) -> str:
        """The quoted, fully qualified relation of logical ``dataset.table``."""
        ...

    def table_exists(self, dataset: str, table: str) -> bool:
        """Whether the table or view exists."""
        ...

    def tables(self, dataset: str) -> list[str]:
        """Base tables (no views) of a dataset, sorted; [] when the dataset does not exist."""
        ...

    def columns(self, dataset: str, table: str) -> dict[str, str]:
        """Column name -> upper-case type name, in table order."""
        ...

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]: ...

    def frame(self, sql: str, params: Params | None = None) -> pd.DataFrame:
        """The result as pandas, with the dtypes DuckDB gives on both backends."""
        ...

    def transaction(self, statements: Sequence[Statement]) -> list[int]:
        """Run DML statements in one transaction; the rows each one affected."""
        ...

    def ddl(self, sql: str) -> None:
        """One DDL statement, outside any transaction (BigQuery allows none inside one)."""
        ...

    def create_dataset(self, dataset: str) -> None:
        """Create the logical dataset (schema) when it is missing."""
        ...

    def reading(self, memory_limit: str | None = None) -> AbstractContextManager[WarehouseSql]:
        """The same layer on one read-only session for a series of reads (DuckDB holds
        one connection and its shared lock); on BigQuery the layer itself. ``memory_limit``
        (e.g. ``"256MB"``) bounds what DuckDB may hold in memory in that session."""
        ...

    # -- where the dialects differ ------------------------------------------------------

    def sha256_hex(self, expr: str) -> str:
        """SQL for the lower-case hex SHA-256 of a string expression."""
        ...

    def in_array(self, expr: str, parameter: str) -> str:
        """SQL that is true when ``expr`` is an element of the array parameter ``$parameter``."""
        ...

    def unnest(self, parameter: str, column: str) -> str:
        """A FROM item with one row per element of the array parameter, as ``column``."""
        ...

    def column_type(self, kind: ColumnType) -> str:
        """The DDL type name for a column of ``kind``."""
        ...

    def row_hash(self) -> RowHashDialect:
        """The canonical row hash's SQL on this warehouse (orchestration/warehouse/row_hash.py)."""
        ...


__all__ = ["PARAMETER", "Params", "Statement", "WarehouseSql", "is_string_type", "used_params"]
