"""The BI copy of the marts (local DuckDB warehouse): published after each successful build.

Downstream of every mart, so it runs only when the build and the marts' blocking checks
passed, and is skipped when dbt skipped (nothing changed: the copy is still current).
BI tools open the copy, never the warehouse file (docs/operations.md, "Connecting a BI tool").
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from orchestration.assets.operational_db import WAREHOUSE_POOL
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import Settings
from orchestration.warehouse.bi_copy import BI_SCHEMAS, publish_bi_copy

BI_COPY_KEY = dg.AssetKey(["bi", "marts_copy"])


def build_bi_copy_asset(settings: Settings, marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    copy_path = settings.duckdb_bi_path

    @dg.asset(
        key=BI_COPY_KEY,
        deps=list(marts),
        group_name="marts",
        owners=["team:data-engineering"],
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            f"Read-only copy of the {', '.join(BI_SCHEMAS)} schema for BI tools ({copy_path}, "
            "DUCKDB_BI_PATH), replaced atomically: a BI tool holding it open never blocks a run."
        ),
    )
    def marts_bi_copy(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        wh = warehouse.get()
        # Shared: other readers may go on; the writers (extraction, dbt) wait.
        with wh.locked(shared=True):
            copy = publish_bi_copy(Path(warehouse.duckdb_path), copy_path)
        context.log.info(f"published {len(copy.tables)} tables to {copy.path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(copy.path)),
                "tables": len(copy.tables),
                "rows": sum(copy.tables.values()),
                "published_at": copy.published_at.isoformat(),
            }
        )

    return marts_bi_copy
