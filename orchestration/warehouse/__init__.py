"""Warehouse backends (DuckDB locally, BigQuery in production) behind one small interface."""

from orchestration.warehouse.base import LoadResult, SchemaDriftError, Warehouse

__all__ = ["LoadResult", "SchemaDriftError", "Warehouse"]
