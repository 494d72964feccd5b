"""dbt models, snapshots and tests as Dagster assets and asset checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from orchestration.assets.analytics_views import build_analytics_views_asset
from orchestration.assets.bi_copy import build_bi_copy_asset
from orchestration.assets.dbt_changes import record_build, source_fingerprint, unchanged_since_last_build
from orchestration.assets.dbt_failures import is_failed_not_null_check, name_null_columns, not_null_tests
from orchestration.assets.operational_db import WAREHOUSE_POOL
from orchestration.resources.dbt import dbt_project, dbt_target, prune_invocation_dirs, release_duckdb_adapter
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import Settings

RAW_SCHEMAS = ("raw_ops", "raw_marketo")

GROUPS_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marts": "marts",
    "snapshots": "snapshots",
}


class DbtConfig(dg.Config):
    full_refresh: bool = False
    as_of_date: str | None = None  # pin "today" for reproducible marts (YYYY-MM-DD)
    # Skip the build when nothing reached raw since the last one (the hourly job sets it):
    # see orchestration/assets/dbt_changes.py.
    skip_when_unchanged: bool = False
    # Row counts and column schemas (with column lineage) on every dbt asset in the UI.
    # On DuckDB dagster-dbt fetches them once dbt has released the file, so the build's
    # events arrive at its end; the cost is measured in docs/operations.md.
    fetch_metadata: bool = True
    column_lineage: bool = True  # with fetch_metadata: lineage through sqlglot, most of its cost


def dbt_vars(config: DbtConfig) -> dict[str, str]:
    """The --vars a run passes to dbt (unit-tested on its own)."""
    return {"as_of_date": config.as_of_date} if config.as_of_date else {}


def dbt_build_args(config: DbtConfig) -> list[str]:
    # Not the tests on sources: they are no asset checks here (see enable_source_tests_as_checks
    # below), the raw Great Expectations suites cover those columns before dbt starts, and dbt
    # would run them anyway through indirect selection, each logged as a stray observation.
    args = ["build", "--exclude", "source:*"]
    if config.full_refresh:
        args.append("--full-refresh")
    variables = dbt_vars(config)
    if variables:
        args += ["--vars", json.dumps(variables)]
    return args


class PharmaDbtTranslator(DagsterDbtTranslator):
    """One place that sets keys, groups, owners and kinds for every dbt node."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        meta_key = dbt_resource_props.get("meta", {}).get("dagster", {}).get("asset_key")
        if meta_key:
            return dg.AssetKey(meta_key)
        if dbt_resource_props["resource_type"] == "source":
            # source raw_ops.orders -> the extraction asset ["raw_ops", "orders"]
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        layer = self._layer(dbt_resource_props)
        return dg.AssetKey([layer, dbt_resource_props["name"]])

    def _layer(self, props: Mapping[str, Any]) -> str:
        if props["resource_type"] == "snapshot":
            return "snapshots"
        fqn = props.get("fqn", [])
        for part in fqn[1:-1]:
            if part in GROUPS_BY_FOLDER:
                return GROUPS_BY_FOLDER[part]
        return "marts"

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return None
        return self._layer(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        owner = dbt_resource_props.get("meta", {}).get("owner")
        return [owner] if owner else ["team:analytics-engineering"]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        tags["layer"] = self._layer(dbt_resource_props)
        return tags


def build_dbt_assets(settings: Settings) -> dg.AssetsDefinition:
    project = dbt_project(dbt_target(settings))
    if not project.manifest_path.exists():
        raise FileNotFoundError(
            f"dbt manifest missing at {project.manifest_path}: run `make prepare` "
            "(or `dbt parse` in dbt_project/) before loading the definitions"
        )

    not_null = not_null_tests(json.loads(project.manifest_path.read_text()))

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=PharmaDbtTranslator(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True,
                enable_code_references=True,
                # Not source tests: Dagster exempts an op that checks an asset from that asset's
                # blocking checks, so dbt would run past a failed raw Great Expectations suite
                # (which already covers the raw columns the source tests check).
                enable_source_tests_as_checks=False,
            )
        ),
        pool=WAREHOUSE_POOL if settings.warehouse == "duckdb" else None,
        name="dbt_models",
    )
    def dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtConfig,
    ):
        wh = warehouse.get(context, component="dbt")
        state_schema = RAW_SCHEMAS[0]
        fingerprint = source_fingerprint(wh, RAW_SCHEMAS, config.as_of_date)
        if (
            config.skip_when_unchanged
            and not config.full_refresh
            and unchanged_since_last_build(wh, state_schema, fingerprint)
        ):
            context.log.info(
                f"dbt build skipped: nothing reached raw since the last build ({fingerprint}); "
                "no model or test ran, every mart is as it was"
            )
            return
        # The dbt resource gives the subprocess the warehouse settings (resources/dbt.py).
        # On DuckDB it holds the file for the whole build: hold the warehouse lock meanwhile.
        held: list[dg.AssetCheckResult] = []  # failed not-null checks: named once dbt has exited
        dbt_failed: DagsterDbtCliRuntimeError | None = None
        with wh.locked():
            invocation = dbt.cli(dbt_build_args(config), context=context)
            events = invocation.stream()
            if config.fetch_metadata and settings.dbt_fetch_metadata:
                events = events.fetch_row_counts().fetch_column_metadata(
                    with_column_lineage=config.column_lineage
                )
            try:
                for event in events:
                    if is_failed_not_null_check(event, not_null):
                        held.append(event)
                    else:
                        yield event
            except DagsterDbtCliRuntimeError as exc:  # a test failed: report its checks first
                dbt_failed = exc
            finally:
                if settings.warehouse == "duckdb":
                    release_duckdb_adapter()
        # dbt has exited and the lock is released: the warehouse can be read.
        yield from name_null_columns(wh, held, not_null)
        if dbt_failed is not None:
            raise dbt_failed
        record_build(wh, state_schema, fingerprint)
        # dagster-dbt names the folder <op>-<run id[:7]>-<uuid[:7]>.
        folder = invocation.target_path
        prune_invocation_dirs(folder.parent, prefix=folder.name.rsplit("-", 2)[0])

    return dbt_models


def definitions(settings: Settings) -> dg.Definitions:
    models = build_dbt_assets(settings)
    assets = [models]
    marts = [k for k in models.keys if k.path[0] == "marts"]
    if settings.warehouse == "duckdb":
        assets.append(build_bi_copy_asset(settings, marts))
    else:  # BigQuery's BI users read the `analytics` dataset of authorized views
        manifest_path = dbt_project(dbt_target(settings)).manifest_path
        assets.append(build_analytics_views_asset(manifest_path, marts))
    return dg.Definitions(assets=assets)
