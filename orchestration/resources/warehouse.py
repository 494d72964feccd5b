"""The warehouse resource: DuckDB (local default) or BigQuery (production)."""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings
from orchestration.warehouse.base import Warehouse
from orchestration.warehouse.bigquery_labels import job_labels

RunContext = dg.AssetExecutionContext | dg.AssetCheckExecutionContext | dg.OpExecutionContext


def context_labels(context: RunContext, component: str) -> dict[str, str]:
    """The job labels of the step ``context`` runs: its job, run id and asset (the checked
    asset for a check; the op's name for a step that materializes several assets, like dbt's)."""
    if isinstance(context, dg.AssetCheckExecutionContext):
        asset = context.check_specs[0].asset_key.to_user_string() if context.check_specs else None
    elif isinstance(context, dg.AssetExecutionContext) and len(context.selected_asset_keys) == 1:
        asset = next(iter(context.selected_asset_keys)).to_user_string()
    else:
        asset = context.op_def.name
    # context.run: an asset check's context has no job_name of its own.
    return job_labels(component=component, job=context.run.job_name, asset=asset, run_id=context.run.run_id)


class WarehouseResource(dg.ConfigurableResource):
    kind: str = "duckdb"
    duckdb_path: str = ""
    gcp_project: str | None = None
    bigquery_location: str = "US"
    bigquery_dataset_prefix: str = ""
    # Set only for the BigQuery emulator: its REST URL and its Storage Write API host:port.
    bigquery_api_endpoint: str | None = None
    bigquery_storage_endpoint: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> WarehouseResource:
        return cls(
            kind=settings.warehouse,
            duckdb_path=str(settings.duckdb_path),
            gcp_project=settings.gcp_project,
            bigquery_location=settings.bigquery_location,
            bigquery_dataset_prefix=settings.bigquery_dataset_prefix,
            bigquery_api_endpoint=settings.bigquery_emulator_host,
            bigquery_storage_endpoint=settings.bigquery_storage_emulator_host,
        )

    def get(self, context: RunContext | None = None, component: str = "loader") -> Warehouse:
        """The one place the backend is chosen. With the step's ``context``, every BigQuery job
        it starts is labelled with its job, asset and run id (bigquery_labels.py)."""
        if self.kind == "duckdb":
            from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

            return DuckDBWarehouse(self.duckdb_path)
        from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse

        if not self.gcp_project:
            raise ValueError("WAREHOUSE=bigquery needs GCP_PROJECT (the project that holds the datasets)")
        return BigQueryWarehouse(
            self.gcp_project,
            location=self.bigquery_location or "US",
            dataset_prefix=self.bigquery_dataset_prefix or "",
            api_endpoint=self.bigquery_api_endpoint,
            # The emulator's Storage Write API listens on its own gRPC port.
            storage_endpoint=self.bigquery_storage_endpoint,
            labels=context_labels(context, component) if context is not None else None,
        )
