"""The ``analytics`` dataset of authorized views on BigQuery: what BI users read.

Downstream of every mart, like the DuckDB BI copy (bi_copy.py), so it runs only when the
build and the marts' blocking checks passed. The views and why they are built here, not
as dbt models: orchestration/warehouse/bigquery_analytics.py.
"""

import json
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from orchestration.resources.warehouse import WarehouseResource
from orchestration.warehouse.bigquery_analytics import analytics_views, publish_analytics_views

ANALYTICS_VIEWS_KEY = dg.AssetKey(["analytics", "views"])


def build_analytics_views_asset(manifest_path: Path, marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    views = analytics_views(json.loads(manifest_path.read_text()))

    @dg.asset(
        key=ANALYTICS_VIEWS_KEY,
        deps=list(marts),
        group_name="marts",
        owners=["team:data-engineering"],
        kinds={"bigquery"},
        description=(
            f"{len(views)} authorized views in the analytics dataset, one per mart without its "
            "personal columns: the only dataset BI users can read (docs/operations.md)."
        ),
    )
    def analytics_authorized_views(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get(context, component="analytics")
        try:
            published = publish_analytics_views(wh, views)
        finally:
            wh.close()
        context.log.info(
            f"{len(published.views)} analytics views; {published.authorized} newly authorized on the "
            f"marts dataset; dropped {list(published.dropped) or 'none'}"
        )
        return dg.MaterializeResult(
            metadata={
                "views": len(published.views),
                "newly_authorized": published.authorized,
                "dropped": dg.MetadataValue.json(list(published.dropped)),
                "personal_columns_left_out": dg.MetadataValue.json(
                    {v.mart: list(v.personal_columns) for v in views if v.personal_columns}
                ),
            }
        )

    return analytics_authorized_views
