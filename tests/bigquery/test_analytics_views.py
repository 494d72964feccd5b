"""The analytics dataset on the emulator: one authorized view per mart, personal columns left out.

Every mart of the real manifest gets its view (over a stand-in table holding the mart's
documented columns, so the test does not pay a build); what each view exposes, the rows it
returns, the authorizations on the marts dataset and the upkeep (idempotent, stale views
dropped, views made by others kept) are checked against the emulator.
"""

import json

import pytest

from orchestration.resources.dbt import dbt_project, dbt_target
from orchestration.settings import load_settings
from orchestration.warehouse.bigquery_analytics import (
    ANALYTICS,
    MARTS,
    analytics_views,
    publish_analytics_views,
)

pytestmark = pytest.mark.bigquery


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(dbt_project(dbt_target(load_settings({}))).manifest_path.read_text())


def test_each_mart_has_a_view_without_its_personal_columns(manifest):
    views = {v.mart: v.personal_columns for v in analytics_views(manifest)}
    marts = {
        n["name"]
        for n in manifest["nodes"].values()
        if n["config"].get("schema") == MARTS and n["resource_type"] == "model"
    }
    assert set(views) == marts and len(marts) >= 20
    assert set(views["dim_customers"]) == {"email_sha256", "phone_sha256"}
    assert views["fact_orders"] == ()
    for mart, personal in views.items():
        columns = manifest["nodes"][f"model.pharma.{mart}"]["columns"]
        documented_personal = {
            name for name, c in columns.items() if (c.get("config") or {}).get("meta", {}).get("contains_pii")
        }
        assert set(personal) == documented_personal, mart


def _stand_in(client, project: str, dataset: str, table: str, columns: list[str], rows: int = 2) -> None:
    values = ", ".join(f"concat('{c}-', cast(n as string)) as `{c}`" for c in columns)
    client.query(
        f"create table `{project}.{dataset}.{table}` as select {values} from unnest(generate_array(1, {rows})) as n"
    ).result()


def test_views_are_created_authorized_and_kept_in_step(warehouse, manifest):
    client, project = warehouse.client, warehouse.project
    marts_id, analytics_id = warehouse.dataset_id(MARTS), warehouse.dataset_id(ANALYTICS)
    client.create_dataset(marts_id)
    views = analytics_views(manifest)
    for view in views:
        columns = list(manifest["nodes"][f"model.pharma.{view.mart}"]["columns"])
        _stand_in(client, project, marts_id, view.mart, columns)

    published = publish_analytics_views(warehouse, views)
    assert published.views == tuple(v.mart for v in views) and published.authorized == len(views)
    for view in views:
        table = client.get_table(f"{project}.{analytics_id}.{view.mart}")
        assert table.table_type == "VIEW"
        exposed = [f.name for f in table.schema]
        documented = list(manifest["nodes"][f"model.pharma.{view.mart}"]["columns"])
        assert exposed == [c for c in documented if c not in view.personal_columns], view.mart
    rows = client.query(
        f"select * from `{project}.{analytics_id}.dim_customers` order by customer_id"
    ).result()
    assert [row["customer_id"] for row in rows] == ["customer_id-1", "customer_id-2"]
    authorized = {
        e.entity_id["tableId"]
        for e in client.get_dataset(marts_id).access_entries
        if e.entity_type == "view" and e.entity_id["datasetId"] == analytics_id
    }
    assert authorized == {v.mart for v in views}

    # Again: nothing new to authorize.
    assert publish_analytics_views(warehouse, views).authorized == 0

    # A mart gone: its managed view and authorization go; a view someone else made stays.
    client.query(f"create view `{project}.{analytics_id}.hand_made` as select 1 as n").result()
    kept = [v for v in views if v.mart != "rfm_segments"]
    again = publish_analytics_views(warehouse, kept)
    assert again.dropped == ("rfm_segments",)
    remaining = {t.table_id for t in client.list_tables(analytics_id)}
    assert remaining == {v.mart for v in kept} | {"hand_made"}
    authorized = {
        e.entity_id["tableId"]
        for e in client.get_dataset(marts_id).access_entries
        if e.entity_type == "view" and e.entity_id["datasetId"] == analytics_id
    }
    assert authorized == {v.mart for v in kept}
