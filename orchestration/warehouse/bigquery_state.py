"""Small JSON state by key in ``<dataset>._state`` on BigQuery (e.g. Marketo export jobs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orchestration.warehouse.base import STATE_TABLE
from orchestration.warehouse.bigquery_publish import ensure_dataset
from orchestration.warehouse.bigquery_types import string_literal

if TYPE_CHECKING:
    from orchestration.warehouse.bigquery_clients import BigQueryClients
    from orchestration.warehouse.bigquery_sql import BigQuerySql


def read_state(sql: BigQuerySql, dataset: str, key: str) -> dict | None:
    """The JSON value stored under ``key`` in ``<dataset>._state``, or None."""
    if not sql.table_exists(dataset, STATE_TABLE):
        return None
    rows = sql.rows(
        f"select value from {sql.relation(dataset, STATE_TABLE)} where key = $key order by updated_at desc limit 1",
        {"key": key},
    )
    return json.loads(rows[0][0]) if rows else None


def write_state(clients: BigQueryClients, sql: BigQuerySql, dataset: str, key: str, value: dict) -> None:
    """Replace the value under ``key`` with one MERGE (atomic on its own)."""
    from google.cloud import bigquery

    ensure_dataset(clients, sql, dataset)
    table = bigquery.Table(
        sql.table_ref(dataset, STATE_TABLE),
        schema=[
            bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("value", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("updated_at", "TIMESTAMP", mode="REQUIRED"),
        ],
    )
    table.description = "Small JSON state by key, e.g. resumable Marketo export jobs and bookmarks."
    clients.client.create_table(table, exists_ok=True)
    # Literals, not parameters, as in the publish script; columns are listed in the INSERT
    # because the emulator ignores `INSERT ROW`.
    key_sql = string_literal(key)
    value_sql = string_literal(json.dumps(value, sort_keys=True))
    sql.rows(
        f"merge {sql.relation(dataset, STATE_TABLE)} as t using (select {key_sql} as key) as s on t.key = s.key "
        f"when matched then update set value = {value_sql}, updated_at = current_timestamp() "
        f"when not matched then insert (key, value, updated_at) "
        f"values ({key_sql}, {value_sql}, current_timestamp())"
    )
