"""The single naming rule of the SQL layer: logical dataset in, physical quoted name out.

No server is needed: naming happens before any client is built.
"""

from __future__ import annotations

from orchestration.resources.warehouse import WarehouseResource
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse


def test_bigquery_prefix_is_always_applied_even_when_the_name_starts_with_it():
    # The prefix raw_ is itself the start of raw_ops: every logical name still gets it, once.
    sql = BigQueryWarehouse("acme-data", dataset_prefix="raw_").sql()
    assert sql.dataset("raw_ops") == "raw_raw_ops"
    assert sql.dataset("raw_marketo") == "raw_raw_marketo"
    assert sql.dataset("marts") == "raw_marts"
    assert sql.dataset("audit") == "raw_audit"
    assert sql.relation("raw_ops", "customers") == "`acme-data.raw_raw_ops.customers`"
    assert sql.relation("raw_ops", "_rejected_rows") == "`acme-data.raw_raw_ops._rejected_rows`"


def test_without_a_prefix_bigquery_names_are_the_logical_ones():
    sql = BigQueryWarehouse("acme-data").sql()
    assert sql.relation("raw_ops", "orders") == "`acme-data.raw_ops.orders`"


def test_the_warehouse_and_its_sql_layer_share_the_rule():
    warehouse = BigQueryWarehouse("acme-data", dataset_prefix="raw_")
    assert warehouse.dataset_id("raw_ops") == warehouse.sql().dataset("raw_ops") == "raw_raw_ops"
    assert warehouse.table_ref("raw_ops", "_loads") == "acme-data.raw_raw_ops._loads"


def test_the_resource_passes_logical_names_and_the_warehouse_prefixes_them():
    resource = WarehouseResource(kind="bigquery", gcp_project="acme-data", bigquery_dataset_prefix="raw_")
    warehouse = resource.get()
    assert isinstance(warehouse, BigQueryWarehouse)
    assert warehouse.sql().relation("raw_ops", "orders") == "`acme-data.raw_raw_ops.orders`"


def test_duckdb_names_are_the_logical_ones_double_quoted(tmp_path):
    sql = DuckDBWarehouse(tmp_path / "w.duckdb").sql()
    assert sql.dataset("raw_ops") == "raw_ops"
    assert sql.relation("raw_ops", 'odd"name') == '"raw_ops"."odd""name"'
