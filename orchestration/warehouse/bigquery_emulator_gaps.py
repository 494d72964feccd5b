"""Every workaround for a gap of the BigQuery emulator, in one place.

Each function here is called only when the warehouse talks to the emulator
(``BigQueryClients.is_emulator``: an ``api_endpoint`` is set) and changes nothing that
runs on real BigQuery. The gaps themselves are listed in docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from orchestration.warehouse.bigquery_types import bigquery_type, string_literal, timestamp_literal
from orchestration.warehouse.sql import PARAMETER

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery


def emulator_credentials() -> Credentials:
    """The emulator takes no credentials; Application Default Credentials may not exist."""
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def emulator_write_transport(storage_endpoint: str) -> Any:
    """The emulator's Storage Write API speaks plaintext gRPC and takes no credentials."""
    import grpc
    from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
        BigQueryWriteGrpcTransport,
    )

    return BigQueryWriteGrpcTransport(channel=grpc.insecure_channel(storage_endpoint))


def emulator_ddl_type(bq_type: str) -> str:
    """Emulator gap: a bare NUMERIC/BIGNUMERIC in DDL becomes DuckDB's DECIMAL(18, 3).

    Spelling out BigQuery's own precision keeps the emulator's values exact; BigQuery
    itself gets the bare names.
    """
    return {"NUMERIC": "NUMERIC(38, 9)", "BIGNUMERIC": "BIGNUMERIC(76, 38)"}.get(bq_type, bq_type)


def emulator_sync_catalog(
    client: bigquery.Client, table_ref: str, to_add: list[pa.Field], to_widen: list[pa.Field]
) -> None:
    """Emulator gap: ALTER TABLE changes the stored table but not the schema the API reports.

    Patch the reported schema to match, so that get_table (and the Storage Write API,
    which reads it) see the new columns, as they would on BigQuery.
    """
    from google.cloud import bigquery

    table = client.get_table(table_ref)
    widened = {f.name: bigquery_type(f.type) for f in to_widen}
    fields = [
        bigquery.SchemaField(
            f.name, widened.get(f.name, f.field_type), mode=f.mode, description=f.description
        )
        for f in table.schema
    ]
    known = {f.name for f in fields}
    fields += [bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in to_add if f.name not in known]
    table.schema = fields
    client.update_table(table, ["schema"])


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return timestamp_literal(value)
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return f"[{', '.join(_literal(v) for v in value)}]" if value else "ARRAY<STRING>[]"
    return string_literal(str(value))


def emulator_inline_parameters(script: str, params: Mapping[str, Any]) -> str:
    """Emulator gap: query parameters inside a multi-statement script reach no statement.

    The ``$name`` parameters of a transaction script become escaped literals instead.
    Real BigQuery binds them as parameters (see BigQuerySql.transaction).
    """
    return PARAMETER.sub(lambda m: _literal(params[m.group(1)]), script)
