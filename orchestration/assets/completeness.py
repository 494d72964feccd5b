"""The completeness check on every operational raw table, and the job that repairs divergence.

``completeness`` (one per raw_ops table, ERROR when it fails) compares the source table with
raw's latest non-deleted version of each key (orchestration/lifecycle/completeness/): counts
and per-key-range hash sums in each database's SQL, keys read only where ranges differ. It
runs in the daily job after the hard-delete reconciliation, and can be launched from the UI.
A failure lists how many keys are missing, extra or stale, with sample keys, and names the
next step: job ``ops_repair``, which re-reads exactly those keys through the normal publish.
"""

from __future__ import annotations

import dagster as dg

from orchestration.assets.operational_db import RAW_SCHEMA, WAREHOUSE_POOL, raw_asset_key
from orchestration.lifecycle import deletes
from orchestration.lifecycle.completeness import check_table
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import Settings
from orchestration.sources import Sources, load_sources

CHECK_NAME = "completeness"
REPAIR_JOB = "ops_repair"


def _cursor_tables(sources: Sources) -> list[str]:
    # Mode cdc is exact by construction (every change, exactly once) and its raw rows carry
    # delete events the comparison does not read: checked and repaired only in cursor mode.
    return [t.name for t in sources if t.mode == "cursor"]


def completeness_check_keys(sources: Sources) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(raw_asset_key(t), CHECK_NAME) for t in _cursor_tables(sources)]


def _build_check(sources: Sources, table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_asset_key(table),
        name=CHECK_NAME,
        description=(
            f"Raw's latest version of every {table} key equals the source row: none missing, none "
            "extra (deleted at the source, not yet recorded), none stale. Compared by per-key-range "
            f"hash sums; on failure launch job {REPAIR_JOB}."
        ),
        # After the key reconciliation has recorded the day's hard deletes.
        additional_deps=[raw_asset_key(deletes.DELETED_KEYS)],
        pool=WAREHOUSE_POOL,
    )
    def _completeness(
        context,
        ops_db: OperationalDatabaseResource,
        warehouse: WarehouseResource,
    ) -> dg.AssetCheckResult:
        divergence = check_table(
            ops_db.engine, warehouse.get(context, component="quality"), sources, table, raw_schema=RAW_SCHEMA
        )
        description = divergence.summary()
        if not divergence.ok:
            description += f". Launch job {REPAIR_JOB} to re-read exactly these keys."
        return dg.AssetCheckResult(
            passed=divergence.ok,
            severity=dg.AssetCheckSeverity.ERROR,
            description=description,
            metadata=divergence.metadata(),
        )

    return _completeness


def repair_job(sources: Sources) -> dg.UnresolvedAssetJobDefinition:
    assets = [raw_asset_key(t) for t in _cursor_tables(sources)]
    return dg.define_asset_job(
        name=REPAIR_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description=(
            "Make raw equal the source without a full reload: each table is extracted as usual, "
            "compared with raw, and exactly its missing and stale keys are re-read and published; "
            "keys gone from the source are recorded as hard-deleted. The completeness checks then "
            "run again on the result."
        ),
        config={"ops": {"__".join(key.path): {"config": {"repair": True}} for key in assets}},
        tags={"purpose": "repair"},
    )


def definitions(settings: Settings) -> dg.Definitions:
    sources = load_sources(settings.sources_file)
    return dg.Definitions(
        asset_checks=[_build_check(sources, t) for t in _cursor_tables(sources)],
        jobs=[repair_job(sources)],
    )
