"""Dagster resources: the operational database, the warehouse, dbt."""
