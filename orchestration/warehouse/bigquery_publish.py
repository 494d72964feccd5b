"""Steps 2 and 3 of a BigQuery publish: one transaction, then the staging table goes.

2. One multi-statement transaction appends the load-ledger row and then inserts into the
   raw table the staged rows not already present (same key and cursor value). Both
   statements read the same staging table, so the ledger's high-water mark and row
   counts describe exactly the rows published; a failure anywhere rolls both back.
3. The staging table is dropped (it also carries an expiration, so a crashed run's
   staging table disappears by itself).

BigQuery forbids DDL on permanent tables inside a transaction, so creating the raw
table and adding columns happen before step 2. Both are harmless on their own: a new
nullable column holds NULL for old rows, and a retried run finds it already there.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa

from orchestration.warehouse import bigquery_rejected
from orchestration.warehouse.base import LOAD_LEDGER, LoadRequest, latest_mark_sql
from orchestration.warehouse.bigquery_emulator_gaps import emulator_ddl_type, emulator_sync_catalog
from orchestration.warehouse.bigquery_rejected import StagedRejections
from orchestration.warehouse.bigquery_staging import BatchStats
from orchestration.warehouse.bigquery_types import (
    bigquery_type,
    cursor_literal,
    naive_utc,
    quote,
    string_literal,
)

if TYPE_CHECKING:
    from orchestration.warehouse.bigquery_clients import BigQueryClients
    from orchestration.warehouse.bigquery_sql import BigQuerySql

MAX_CLUSTERING_FIELDS = 4
# Added to the ledger by the first positioned (CDC) batch only, as on DuckDB: a ledger fed only
# by cursor loads keeps its seven columns.
SOURCE_POSITION = "source_position"

LEDGER_SCHEMA = (
    ("table_name", "STRING", "REQUIRED"),
    ("batch_id", "STRING", "REQUIRED"),
    ("cursor_column", "STRING", "NULLABLE"),
    ("high_water_mark", "TIMESTAMP", "NULLABLE"),
    ("rows_landed", "INT64", "NULLABLE"),
    ("rows_inserted", "INT64", "NULLABLE"),
    ("loaded_at", "TIMESTAMP", "NULLABLE"),
)


def ledger_high_water_mark(sql: BigQuerySql, dataset: str, table: str) -> dt.datetime | None:
    if not sql.table_exists(dataset, LOAD_LEDGER):
        return None
    rows = sql.rows(latest_mark_sql(sql.relation(dataset, LOAD_LEDGER)), {"table": table})
    return naive_utc(rows[0][0]) if rows else None


def ledger_source_position(sql: BigQuerySql, dataset: str, table: str) -> str | None:
    """The position the table's latest positioned (CDC) batch recorded, or None."""
    ledger = sql.get_table(dataset, LOAD_LEDGER)
    if ledger is None or SOURCE_POSITION not in {f.name for f in ledger.schema}:
        return None
    rows = sql.rows(
        f"select {SOURCE_POSITION} from {sql.relation(dataset, LOAD_LEDGER)} where table_name = $table "
        f"and {SOURCE_POSITION} is not null order by loaded_at desc limit 1",
        {"table": table},
    )
    return rows[0][0] if rows else None


# -- DDL (outside the transaction: BigQuery allows no DDL on permanent tables in one) -----


def ensure_dataset(clients: BigQueryClients, sql: BigQuerySql, dataset: str) -> None:
    from google.cloud import bigquery

    created = bigquery.Dataset(f"{clients.project}.{sql.dataset(dataset)}")
    created.location = clients.location
    clients.client.create_dataset(created, exists_ok=True)


def ensure_ledger(clients: BigQueryClients, sql: BigQuerySql, dataset: str) -> str:
    from google.cloud import bigquery

    ledger = sql.table_ref(dataset, LOAD_LEDGER)
    table = bigquery.Table(ledger, schema=[bigquery.SchemaField(n, t, mode=m) for n, t, m in LEDGER_SCHEMA])
    table.description = "Load ledger: one row per published batch, with the table's high-water mark."
    clients.client.create_table(table, exists_ok=True)
    return ledger


def ensure_ledger_positions(clients: BigQueryClients, sql: BigQuerySql, ledger_ref: str) -> None:
    """The ledger's source_position column, added before the first positioned batch's transaction."""
    if SOURCE_POSITION not in {f.name for f in clients.client.get_table(ledger_ref).schema}:
        evolve_raw_table(clients, sql, ledger_ref, [pa.field(SOURCE_POSITION, pa.string())], [])


def create_raw_table(clients: BigQueryClients, table_ref: str, request: LoadRequest) -> None:
    from google.cloud import bigquery

    fields = [bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in request.arrow_schema]
    fields += [
        bigquery.SchemaField("_batch_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("_loaded_at", "TIMESTAMP", mode="REQUIRED"),
    ]
    table = bigquery.Table(table_ref, schema=fields)
    cursor_type = request.arrow_schema.field(request.cursor_column).type
    # Partitioning by the cursor lets the duplicate check read only the partitions the
    # batch touches; clustering by the key makes the per-row lookup cheap.
    if pa.types.is_timestamp(cursor_type) or pa.types.is_date(cursor_type):
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.MONTH, field=request.cursor_column
        )
    table.clustering_fields = list(request.key_columns[:MAX_CLUSTERING_FIELDS]) or None
    table.description = f"Raw, append-only copy of source table {request.table}."
    clients.client.create_table(table, exists_ok=True)


def evolve_raw_table(
    clients: BigQueryClients,
    sql: BigQuerySql,
    table_ref: str,
    to_add: list[pa.Field],
    to_widen: list[pa.Field],
) -> None:
    if not to_add and not to_widen:
        return

    def ddl_type(field: pa.Field) -> str:
        bq_type = bigquery_type(field.type)
        return emulator_ddl_type(bq_type) if clients.is_emulator else bq_type

    statements = [
        f"alter table {quote(table_ref)} add column if not exists {quote(f.name)} {ddl_type(f)}"
        for f in to_add
    ]
    statements += [
        f"alter table {quote(table_ref)} alter column {quote(f.name)} set data type {ddl_type(f)}"
        for f in to_widen
    ]
    for statement in statements:
        sql.ddl(statement)
    if clients.is_emulator:
        emulator_sync_catalog(clients.client, table_ref, to_add, to_widen)


# -- the atomic publish ------------------------------------------------------------------------


def publish_script(
    request: LoadRequest,
    *,
    raw_ref: str,
    ledger_ref: str,
    staging_ref: str,
    stats: BatchStats,
    rejected: StagedRejections | None = None,
) -> str:
    """The one transaction that publishes a staged batch (ledger row first, then rows, then
    the batch's rejected rows into _rejected_rows).

    Values are inlined as literals because the emulator drops query parameters inside
    multi-statement scripts; every literal goes through an escaping helper.
    """
    names = request.arrow_schema.names
    cursor = quote(request.cursor_column)
    # Already in raw = a version with the same key and the same value in every column (NULL
    # matching NULL): a re-read adds nothing, a row changed without its cursor is a new version.
    key_match = " and ".join(
        [f"r.{quote(c)} = s.{quote(c)}" for c in request.key_columns]
        + [f"r.{quote(n)} is not distinct from s.{quote(n)}" for n in names if n not in request.key_columns]
    )
    if stats.cursor_min is not None and not stats.cursor_has_nulls:
        # A literal bound lets BigQuery prune the raw table's older partitions.
        key_match = f"r.{cursor} >= {cursor_literal(stats.cursor_min)} and {key_match}"
    is_new = f"not exists (select 1 from {quote(raw_ref)} as r where {key_match})"
    table_name = string_literal(request.table)
    batch_id = string_literal(request.batch_id)
    # The latest batch's mark (see base.latest_mark_sql), moved on by this batch's newest
    # cursor but not past its earliest rejected one, never past the ceiling
    # (base.next_high_water_mark: the same rule, and why the mark may come down).
    candidate = f"(select cast(max(s.{cursor}) as timestamp) from {quote(staging_ref)} as s)"
    min_rejected = bigquery_rejected.earliest_rejected_cursor(rejected)
    if min_rejected is not None:
        # least() is NULL when either side is: a batch of only rejected rows still holds the mark.
        candidate = f"coalesce(least({candidate}, {min_rejected}), {candidate}, {min_rejected})"
    new_mark = f"""(select max(mark) from (
     select (select high_water_mark from {quote(ledger_ref)} where table_name = {table_name}
             order by loaded_at desc, high_water_mark desc limit 1) as mark
     union all
     select {candidate}
  ))"""
    if request.mark_ceiling is not None:
        new_mark = f"least({new_mark}, {cursor_literal(request.mark_ceiling)})"
    # Change data capture: the batch's end position commits with its rows (cdc/publish.py).
    positioned = request.source_position is not None
    position_column = f", {SOURCE_POSITION}" if positioned else ""
    position_value = f",\n  {string_literal(request.source_position)}" if positioned else ""
    return f"""
begin transaction;

insert into {quote(ledger_ref)}
  (table_name, batch_id, cursor_column, high_water_mark, rows_landed, rows_inserted, loaded_at{position_column})
select
  {table_name},
  {batch_id},
  {string_literal(request.cursor_column)},
  {new_mark},
  (select count(*) from {quote(staging_ref)}),
  (select count(*) from {quote(staging_ref)} as s where {is_new}),
  current_timestamp(){position_value};

insert into {quote(raw_ref)} ({", ".join(quote(n) for n in names)}, _batch_id, _loaded_at)
select {", ".join("s." + quote(n) for n in names)}, {batch_id}, current_timestamp()
from {quote(staging_ref)} as s
where {is_new};
{bigquery_rejected.insert_statement(rejected, request.batch_id) if rejected else ""}
commit transaction;

select rows_landed, rows_inserted, high_water_mark, {bigquery_rejected.rejected_count(rejected)}
from {quote(ledger_ref)}
where table_name = {table_name} and batch_id = {batch_id}
order by loaded_at desc
limit 1;
"""
