"""The BigQuery API clients: REST (queries, tables) and the Storage Write API (gRPC).

Credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud auth, or the workload's service account) unless given; no secret lives in code.
With ``api_endpoint`` set the clients talk to the BigQuery emulator instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.warehouse.bigquery_emulator_gaps import emulator_credentials, emulator_write_transport

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient


class BigQueryClients:
    """Built on first use, closed together."""

    def __init__(
        self,
        project: str,
        *,
        location: str,
        api_endpoint: str | None = None,
        storage_endpoint: str | None = None,
        credentials: Credentials | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.project = project
        # bigquery_labels.job_labels: on every query job this client starts.
        self.labels = dict(labels or {})
        self.location = location
        self.api_endpoint = api_endpoint
        self.storage_endpoint = storage_endpoint
        self._credentials = credentials
        self._client: bigquery.Client | None = None
        self._write_client: BigQueryWriteClient | None = None

    @property
    def is_emulator(self) -> bool:
        return self.api_endpoint is not None

    @property
    def client(self) -> bigquery.Client:
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud import bigquery

            credentials = self._credentials
            if credentials is None and self.is_emulator:
                credentials = emulator_credentials()
            options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
            # credentials=None means Application Default Credentials.
            self._client = bigquery.Client(
                project=self.project,
                location=self.location,
                credentials=credentials,
                client_options=options,
                default_query_job_config=bigquery.QueryJobConfig(labels=self.labels) if self.labels else None,
            )
        return self._client

    @property
    def write_client(self) -> BigQueryWriteClient:
        if self._write_client is None:
            from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

            if self.storage_endpoint and self.is_emulator:
                self._write_client = BigQueryWriteClient(
                    transport=emulator_write_transport(self.storage_endpoint)
                )
            else:
                from google.api_core.client_options import ClientOptions

                options = ClientOptions(api_endpoint=self.storage_endpoint) if self.storage_endpoint else None
                self._write_client = BigQueryWriteClient(
                    credentials=self._credentials, client_options=options
                )
        return self._write_client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._write_client is not None:
            self._write_client.transport.close()
            self._write_client = None
