"""Quarantined rows on BigQuery: ``<dataset>._rejected_rows``, as on DuckDB.

A batch's rejected rows (quarantine.REJECT_SCHEMA, a small Parquet file) travel like its
good rows: staged through the Storage Write API into their own staging table, then
inserted by the same transaction that publishes the good rows and the ledger row
(``bigquery_publish.publish_script``), so the three appear together or not at all. A
problem seen again by a later batch (same table, key, column, cursor and value) is kept
once, under the batch that first found it; the high-water mark stops at the earliest
rejected cursor (base.next_high_water_mark) so the row is read again until it is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from orchestration.warehouse.base import REJECTED_ROWS, LoadRequest
from orchestration.warehouse.bigquery_types import quote, string_literal

if TYPE_CHECKING:
    from orchestration.warehouse.bigquery_clients import BigQueryClients
    from orchestration.warehouse.bigquery_sql import BigQuerySql

# The same columns as DuckDB's table (duckdb_warehouse._publish_rejected).
REJECTED_SCHEMA = (
    ("table_name", "STRING", "REQUIRED"),
    ("source_key", "STRING", "REQUIRED"),
    ("column_name", "STRING", "REQUIRED"),
    ("reason", "STRING", "REQUIRED"),
    ("raw_value", "STRING", "NULLABLE"),
    ("cursor_value", "TIMESTAMP", "NULLABLE"),
    ("batch_id", "STRING", "REQUIRED"),
    ("detected_at", "TIMESTAMP", "REQUIRED"),
)


@dataclass(frozen=True)
class StagedRejections:
    table_ref: str  # <dataset>._rejected_rows
    staging_ref: str  # this batch's rejected rows, staged


def rejected_request(request: LoadRequest) -> LoadRequest:
    """The batch's rejected-rows file as a request the staging step can stream."""
    assert request.rejected_file is not None
    return replace(
        request,
        table=f"{request.table}_rejected",
        landing_file=request.rejected_file,
        key_columns=("source_key",),
        cursor_column="cursor_value",
        # quarantine.REJECT_SCHEMA, read from the file (extraction is the layer above).
        arrow_schema=pq.read_schema(request.rejected_file),
        rejected_file=None,
    )


def ensure_rejected_table(clients: BigQueryClients, sql: BigQuerySql, dataset: str) -> str:
    from google.cloud import bigquery

    ref = sql.table_ref(dataset, REJECTED_ROWS)
    table = bigquery.Table(ref, schema=[bigquery.SchemaField(n, t, mode=m) for n, t, m in REJECTED_SCHEMA])
    table.description = (
        "Quarantined source rows: the column, the reason and the raw value (docs/reliability.md)."
    )
    clients.client.create_table(table, exists_ok=True)
    return ref


def rejected_keys(sql: BigQuerySql, dataset: str, table: str) -> set[str]:
    if not sql.table_exists(dataset, REJECTED_ROWS):
        return set()
    rows = sql.rows(
        f"select distinct source_key from {sql.relation(dataset, REJECTED_ROWS)} where table_name = $table",
        {"table": table},
    )
    return {key for (key,) in rows}


def earliest_rejected_cursor(staged: StagedRejections | None) -> str | None:
    """SQL for the earliest rejected cursor of the batch (None: nothing was rejected)."""
    if staged is None:
        return None
    return f"(select min(cursor_value) from {quote(staged.staging_ref)})"


def insert_statement(staged: StagedRejections, batch_id: str) -> str:
    r, s = quote(staged.table_ref), quote(staged.staging_ref)
    return f"""
insert into {r}
  (table_name, source_key, column_name, reason, raw_value, cursor_value, batch_id, detected_at)
select s.table_name, s.source_key, s.column_name, s.reason, s.raw_value, s.cursor_value,
  {string_literal(batch_id)}, current_timestamp()
from {s} as s
where not exists (
  select 1 from {r} as r
  where r.table_name = s.table_name and r.source_key = s.source_key and r.column_name = s.column_name
    and r.cursor_value is not distinct from s.cursor_value and r.raw_value is not distinct from s.raw_value
);
"""


def rejected_count(staged: StagedRejections | None) -> str:
    """SQL for the batch's rejected source rows (a row with two bad values counts once)."""
    if staged is None:
        return "0"
    return f"(select count(distinct source_key) from {quote(staged.staging_ref)})"
