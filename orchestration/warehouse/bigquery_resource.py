"""The BigQuery warehouse as a Dagster resource, on top of dagster-gcp's BigQueryResource.

Assets that need plain SQL keep using ``get_client()``; the extraction assets call
``get_warehouse()`` for the atomic raw loader. Credentials: Application Default
Credentials (GOOGLE_APPLICATION_CREDENTIALS or the workload's service account); the
inherited ``gcp_credentials`` field stays unset so no key passes through run config.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from dagster_gcp import BigQueryResource
from google.cloud import bigquery
from pydantic import Field

from orchestration.settings import Settings, load_settings
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse


class BigQueryWarehouseResource(BigQueryResource):
    dataset_prefix: str = Field(
        default="", description="Prefix of every dataset, e.g. 'dev_' (BIGQUERY_DATASET_PREFIX)."
    )
    api_endpoint: str | None = Field(
        default=None, description="REST endpoint override; set only for the BigQuery emulator."
    )
    storage_endpoint: str | None = Field(
        default=None, description="Storage Write API gRPC endpoint override (host:port); emulator only."
    )

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if self.api_endpoint is None:
            with super().get_client() as client:
                yield client
            return
        warehouse = self.get_warehouse()
        try:
            yield warehouse.client
        finally:
            warehouse.close()

    def get_warehouse(self) -> BigQueryWarehouse:
        if not self.project:
            raise ValueError("the BigQuery warehouse needs a project: set GCP_PROJECT")
        return BigQueryWarehouse(
            self.project,
            location=self.location or "US",
            dataset_prefix=self.dataset_prefix,
            api_endpoint=self.api_endpoint,
            storage_endpoint=self.storage_endpoint,
        )


def bigquery_warehouse_resource(settings: Settings | None = None) -> BigQueryWarehouseResource:
    """Production wiring. GCP_PROJECT and BIGQUERY_LOCATION are read when a run starts, and
    a missing one fails the run naming the variable; the dataset prefix (optional) comes
    from ``settings``, by default those of the environment now."""
    settings = settings or load_settings()
    return BigQueryWarehouseResource(
        project=dg.EnvVar("GCP_PROJECT"),
        location=dg.EnvVar("BIGQUERY_LOCATION"),
        dataset_prefix=settings.bigquery_dataset_prefix,
    )
