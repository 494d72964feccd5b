"""Warehouse backends (DuckDB locally, BigQuery in production) behind one interface.

``base.Warehouse`` is what loading needs; ``sql.WarehouseSql`` (from ``Warehouse.sql()``)
is the one SQL layer that loading, quality and the lifecycle jobs write through.
"""

from orchestration.warehouse.base import LoadResult, SchemaDriftError, Warehouse
from orchestration.warehouse.sql import WarehouseSql

__all__ = ["LoadResult", "SchemaDriftError", "Warehouse", "WarehouseSql"]
