"""The ``analytics`` dataset: one authorized view per mart, without its personal columns.

BI users get ``roles/bigquery.dataViewer`` on ``<prefix>analytics`` only, never on
``<prefix>marts``: each view selects its mart ``* except`` the columns documented as personal
(``meta: {contains_pii: true}``, hashed ones included: a hash still identifies a person), and
is authorized on the marts dataset, so it reads the mart with the view's rights rather than
the reader's (BigQuery's authorized views). docs/operations.md has the IAM roles.

Why here and not one dbt model per mart with dbt-bigquery's ``grant_access_to``: the views
follow from the marts and their documented columns; 25 hand-written models would have to be
kept in step with both, and a mart without its view would go unnoticed. The views are
derived from the manifest at every build instead, and a stale one (its mart gone) dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud import bigquery

from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse

ANALYTICS = "analytics"
MARTS = "marts"
# Views this module manages carry the label, so a view someone else made is never dropped.
MANAGED_LABEL = {"managed_by": "pharma-analytics-views"}


@dataclass(frozen=True)
class AnalyticsView:
    mart: str
    personal_columns: tuple[str, ...]  # left out of the view


def is_personal(column: Mapping[str, Any]) -> bool:
    config = column.get("config") or {}
    meta = {**(column.get("meta") or {}), **(config.get("meta") or {})}
    tags = {*(column.get("tags") or ()), *(config.get("tags") or ())}
    return bool(meta.get("contains_pii")) or "pii" in tags


def analytics_views(manifest: Mapping[str, Any]) -> list[AnalyticsView]:
    """One view per model in the marts schema, in name order."""
    views = []
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["config"].get("schema") != MARTS:
            continue
        personal = tuple(name for name, column in node["columns"].items() if is_personal(column))
        views.append(AnalyticsView(node.get("alias") or node["name"], personal))
    return sorted(views, key=lambda v: v.mart)


def view_sql(warehouse: BigQueryWarehouse, view: AnalyticsView) -> str:
    sql = warehouse.sql()
    except_ = (
        f" except ({', '.join(sql.quote(c) for c in view.personal_columns)})" if view.personal_columns else ""
    )
    return f"create or replace view {sql.relation(ANALYTICS, view.mart)} as select *{except_} from {sql.relation(MARTS, view.mart)}"


@dataclass(frozen=True)
class PublishedViews:
    views: tuple[str, ...]
    dropped: tuple[str, ...]
    authorized: int  # view entries added to the marts dataset's access list


def publish_analytics_views(warehouse: BigQueryWarehouse, views: Sequence[AnalyticsView]) -> PublishedViews:
    """Create or replace the views, drop managed views whose mart is gone, and authorize
    the views on the marts dataset (existing access entries are kept)."""
    client, project = warehouse.client, warehouse.project
    analytics_id, marts_id = warehouse.dataset_id(ANALYTICS), warehouse.dataset_id(MARTS)
    dataset = bigquery.Dataset(f"{project}.{analytics_id}")
    dataset.location = warehouse.location
    client.create_dataset(dataset, exists_ok=True)
    for view in views:
        client.query(view_sql(warehouse, view)).result()
        # Labelled through the API: the emulator keeps no labels from DDL `options`, and a
        # `create or replace` drops the ones set before on both.
        table = client.get_table(f"{project}.{analytics_id}.{view.mart}")
        table.labels = MANAGED_LABEL
        client.update_table(table, ["labels"])

    wanted = {v.mart for v in views}
    dropped = []
    for table in client.list_tables(analytics_id):
        if table.table_type == "VIEW" and table.table_id not in wanted:
            labels = client.get_table(table.reference).labels or {}
            if all(labels.get(k) == v for k, v in MANAGED_LABEL.items()):
                # DDL, not the tables API: the emulator answers 500 to a view's DELETE.
                client.query(
                    f"drop view if exists {warehouse.sql().relation(ANALYTICS, table.table_id)}"
                ).result()
                dropped.append(table.table_id)

    marts = client.get_dataset(marts_id)
    entries = [
        entry
        for entry in marts.access_entries
        # Stale authorizations of our own views go with the views.
        if not (
            entry.entity_type == "view"
            and entry.entity_id.get("datasetId") == analytics_id
            and entry.entity_id.get("tableId") not in wanted
        )
    ]
    present = {
        entry.entity_id.get("tableId")
        for entry in entries
        if entry.entity_type == "view" and entry.entity_id.get("datasetId") == analytics_id
    }
    missing = sorted(wanted - present)
    entries += [
        bigquery.AccessEntry(None, "view", {"projectId": project, "datasetId": analytics_id, "tableId": mart})
        for mart in missing
    ]
    if missing or len(entries) != len(marts.access_entries):
        marts.access_entries = entries
        client.update_dataset(marts, ["access_entries"])
    return PublishedViews(tuple(sorted(wanted)), tuple(sorted(dropped)), len(missing))
