"""The BigQuery warehouse: production raw datasets, loaded atomically and idempotently.

A landed Parquet batch is published in three steps: its rows are staged through the
Storage Write API (``bigquery_staging``), one transaction appends the ledger row and the
new rows (``bigquery_publish``), and the staging table is dropped. The pieces:

- ``bigquery_types``: Arrow <-> BigQuery types, quoting, literals, query parameters;
- ``bigquery_clients``: the REST and Storage Write API clients;
- ``bigquery_sql``: the shared SQL layer on BigQuery, where the dataset prefix is applied;
- ``bigquery_staging`` / ``bigquery_publish`` / ``bigquery_state``: the jobs of this class;
- ``bigquery_emulator_gaps``: every workaround for the BigQuery emulator, active only there.

Credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud auth, or the workload's service account); no secret lives in code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestration.warehouse import bigquery_publish, bigquery_rejected, bigquery_state
from orchestration.warehouse.base import LoadRequest, LoadResult, plan_schema_change
from orchestration.warehouse.bigquery_clients import BigQueryClients
from orchestration.warehouse.bigquery_rejected import StagedRejections
from orchestration.warehouse.bigquery_sql import BigQuerySql
from orchestration.warehouse.bigquery_staging import (
    BatchStats,
    BigQueryLoadError,
    create_staging_table,
    stage_rows,
)
from orchestration.warehouse.bigquery_types import (
    bigquery_type,
    canonical_arrow_type,
    canonical_schema,
    naive_utc,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

    from orchestration.settings import Settings

# Under the 10 MB AppendRows request limit, with room for the request envelope.
APPEND_REQUEST_BYTES = 8 * 1024 * 1024
STAGING_EXPIRATION = dt.timedelta(hours=12)


class BigQueryWarehouse:
    kind = "bigquery"
    # Change data capture publishes into DuckDB only so far (orchestration/cdc/).
    stores_source_positions = True

    def __init__(
        self,
        project: str,
        *,
        location: str = "US",
        dataset_prefix: str = "",
        api_endpoint: str | None = None,
        storage_endpoint: str | None = None,
        credentials: Credentials | None = None,
        staging_expiration: dt.timedelta = STAGING_EXPIRATION,
        append_request_bytes: int = APPEND_REQUEST_BYTES,
        labels: dict[str, str] | None = None,
    ) -> None:
        if not project:
            raise ValueError("BigQueryWarehouse needs a project: set GCP_PROJECT")
        self.project = project
        self.location = location
        self.dataset_prefix = dataset_prefix
        self.staging_expiration = staging_expiration
        self.append_request_bytes = append_request_bytes
        self.clients = BigQueryClients(
            project,
            location=location,
            api_endpoint=api_endpoint,
            storage_endpoint=storage_endpoint,
            credentials=credentials,
            labels=labels,
        )
        self._sql = BigQuerySql(self.clients, dataset_prefix)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BigQueryWarehouse:
        if not settings.gcp_project:
            raise ValueError("WAREHOUSE=bigquery needs GCP_PROJECT (the project that holds the datasets)")
        return cls(
            settings.gcp_project,
            location=settings.bigquery_location,
            dataset_prefix=settings.bigquery_dataset_prefix,
            **overrides,
        )

    # -- clients and SQL ---------------------------------------------------------------

    @property
    def api_endpoint(self) -> str | None:
        return self.clients.api_endpoint

    @property
    def storage_endpoint(self) -> str | None:
        return self.clients.storage_endpoint

    @property
    def is_emulator(self) -> bool:
        return self.clients.is_emulator

    @property
    def client(self) -> bigquery.Client:
        return self.clients.client

    @property
    def write_client(self) -> BigQueryWriteClient:
        return self.clients.write_client

    def close(self) -> None:
        self.clients.close()

    def sql(self) -> BigQuerySql:
        return self._sql

    @contextlib.contextmanager
    def locked(self, *, shared: bool = False) -> Iterator[None]:
        """Nothing to hold: BigQuery takes concurrent writers."""
        yield

    # -- names (the prefix rule itself lives in BigQuerySql.dataset) -----------------------

    def dataset_id(self, dataset: str) -> str:
        """The physical dataset of a logical one: raw_ops -> <prefix>raw_ops."""
        return self._sql.dataset(dataset)

    def table_ref(self, dataset: str, table: str) -> str:
        return self._sql.table_ref(dataset, table)

    # -- reads ---------------------------------------------------------------------------

    def _existing_schema(self, dataset: str, table: str) -> pa.Schema | None:
        found = self._sql.get_table(dataset, table)
        if found is None:
            return None
        return pa.schema(pa.field(f.name, canonical_arrow_type(f.field_type)) for f in found.schema)

    def high_water_mark(self, dataset: str, table: str) -> dt.datetime | None:
        return bigquery_publish.ledger_high_water_mark(self._sql, dataset, table)

    def row_count(self, dataset: str, table: str) -> int:
        return self._sql.rows(f"select count(*) from {self._sql.relation(dataset, table)}")[0][0]

    def list_tables(self, dataset: str) -> list[str]:
        """Tables and views of a dataset, by name; none if the dataset does not exist yet."""
        return sorted(t.table_id for t in self._sql.list_tables(dataset))

    def source_position(self, dataset: str, table: str) -> str | None:
        return bigquery_publish.ledger_source_position(self._sql, dataset, table)

    def rejected_keys(self, dataset: str, table: str) -> set[str]:
        """Source keys of ``table`` already quarantined in ``<dataset>._rejected_rows``."""
        return bigquery_rejected.rejected_keys(self._sql, dataset, table)

    def check_schema(self, dataset: str, table: str, arrow_schema: pa.Schema) -> list[str]:
        to_add, _ = plan_schema_change(
            f"{self.dataset_id(dataset)}.{table}",
            self._existing_schema(dataset, table),
            canonical_schema(arrow_schema),
        )
        return [f.name for f in to_add]

    # -- the atomic publish ----------------------------------------------------------------

    def publish_script(
        self,
        request: LoadRequest,
        *,
        raw_ref: str,
        ledger_ref: str,
        staging_ref: str,
        stats: BatchStats,
        rejected: StagedRejections | None = None,
    ) -> str:
        return bigquery_publish.publish_script(
            request,
            raw_ref=raw_ref,
            ledger_ref=ledger_ref,
            staging_ref=staging_ref,
            stats=stats,
            rejected=rejected,
        )

    def publish(self, request: LoadRequest) -> LoadResult:
        dataset, clients, sql = request.dataset, self.clients, self._sql
        raw_ref = self.table_ref(dataset, request.table)
        # Refuse incompatible drift before anything is created or written.
        existing = self._existing_schema(dataset, request.table)
        to_add, to_widen = plan_schema_change(
            f"{self.dataset_id(dataset)}.{request.table}", existing, canonical_schema(request.arrow_schema)
        )
        bigquery_publish.ensure_dataset(clients, sql, dataset)
        ledger_ref = bigquery_publish.ensure_ledger(clients, sql, dataset)
        if request.source_position is not None:
            bigquery_publish.ensure_ledger_positions(clients, sql, ledger_ref)
        previous = self.high_water_mark(dataset, request.table)
        if existing is None:
            bigquery_publish.create_raw_table(clients, raw_ref, request)
        bigquery_publish.evolve_raw_table(clients, sql, raw_ref, to_add, to_widen)

        staged = [create_staging_table(clients, self.dataset_id(dataset), request, self.staging_expiration)]
        try:
            stats = stage_rows(clients, staged[0], request, request_bytes=self.append_request_bytes)
            rejected = None
            if request.rejected_file is not None:
                quarantined = bigquery_rejected.rejected_request(request)
                staged.append(
                    create_staging_table(
                        clients, self.dataset_id(dataset), quarantined, self.staging_expiration
                    )
                )
                stage_rows(clients, staged[1], quarantined, request_bytes=self.append_request_bytes)
                rejected = StagedRejections(
                    bigquery_rejected.ensure_rejected_table(clients, sql, dataset), staged[1]
                )
            script = self.publish_script(
                request,
                raw_ref=raw_ref,
                ledger_ref=ledger_ref,
                staging_ref=staged[0],
                stats=stats,
                rejected=rejected,
            )
            rows = sql.rows(script)
        finally:
            for staging_ref in staged:
                clients.client.delete_table(staging_ref, not_found_ok=True)
        rows_landed, rows_inserted, new_mark, rows_rejected = rows[0]
        return LoadResult(
            rows_landed=rows_landed,
            rows_inserted=rows_inserted,
            high_water_mark=naive_utc(new_mark),
            previous_high_water_mark=previous,
            columns_added=tuple(f.name for f in to_add),
            rows_rejected=rows_rejected,
        )

    # -- small JSON state (e.g. Marketo export jobs and bookmarks) -------------------------

    def read_state(self, dataset: str, key: str) -> dict | None:
        return bigquery_state.read_state(self._sql, dataset, key)

    def write_state(self, dataset: str, key: str, value: dict) -> None:
        bigquery_state.write_state(self.clients, self._sql, dataset, key, value)


__all__ = [
    "BigQueryLoadError",
    "BigQueryWarehouse",
    "bigquery_type",
    "canonical_arrow_type",
]
