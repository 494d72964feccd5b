"""The Dagster resource builds a working BigQuery warehouse from its configuration."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.warehouse.bigquery_resource import BigQueryWarehouseResource, bigquery_warehouse_resource

pytestmark = pytest.mark.bigquery


def test_resource_reads_project_and_location_from_the_environment(monkeypatch):
    monkeypatch.setenv("GCP_PROJECT", "acme-data")
    monkeypatch.setenv("BIGQUERY_LOCATION", "southamerica-east1")

    @dg.asset
    def probe(warehouse: BigQueryWarehouseResource) -> dict:
        wh = warehouse.get_warehouse()
        return {"project": wh.project, "location": wh.location}

    result = dg.materialize([probe], resources={"warehouse": bigquery_warehouse_resource()})

    assert result.output_for_node("probe") == {"project": "acme-data", "location": "southamerica-east1"}


def test_resource_talks_to_the_emulator(bigquery_emulator, dataset_suffix):
    resource = BigQueryWarehouseResource(
        project=bigquery_emulator.project,
        location="US",
        dataset_prefix=f"r{dataset_suffix}_",
        api_endpoint=bigquery_emulator.rest_url,
        storage_endpoint=bigquery_emulator.grpc_endpoint,
    )

    with resource.get_client() as client:
        assert [tuple(row) for row in client.query("select 1 + 1").result()] == [(2,)]
    assert resource.get_warehouse().high_water_mark("raw_ops", "customers") is None
