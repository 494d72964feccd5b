"""Data quality: Great Expectations suites and freshness SLAs as asset checks.

- Raw suites (``expectations/raw_ops/*.yml``, ``expectations/raw_marketo/*.yml``) are blocking
  checks on ``["raw_ops", table]`` / ``["raw_marketo", table]``.
  Jobs include the checks of the assets they select, so the hourly and daily runs
  validate each new batch right after its extraction; a failed error-severity
  expectation fails the check step, and Dagster skips every step downstream of it.
  All dbt models are one op (``dbt_models``), so one bad raw batch skips the whole dbt
  build of that run, not only the models that read the bad table.
- Mart suites (``expectations/marts/*.yml``) check ``["marts", table]`` after dbt.
- Freshness SLAs (``expectations/freshness.yml``) are last-update freshness checks,
  evaluated by every run that materializes the table and by ``freshness_checks_sensor``.

Building all this parses YAML only; great_expectations is imported when a check runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from orchestration.assets.operational_db import WAREHOUSE_POOL
from orchestration.quality.checks import build_quality_checks
from orchestration.quality.freshness import build_freshness_checks, build_freshness_sensor, load_slas
from orchestration.quality.spec import SuiteSpec
from orchestration.settings import Settings

SUITE_LAYERS = ("raw_ops", "raw_marketo", "marts")


def warehouse_from_resource(context: dg.AssetCheckExecutionContext):
    """The warehouse the run writes to, from the ``warehouse`` resource."""
    return context.resources.warehouse.get(context, component="quality")


def suite_asset_key(suite: SuiteSpec) -> dg.AssetKey:
    # Same convention as the extraction assets and the dbt translator: [layer, table].
    return dg.AssetKey([suite.layer, suite.table])


def defined_asset_keys(domains: Sequence[dg.Definitions]) -> set[dg.AssetKey]:
    keys: set[dg.AssetKey] = set()
    for domain in domains:
        for asset in domain.assets or []:
            keys.update([asset.key] if isinstance(asset, dg.AssetSpec) else asset.keys)
    return keys


def definitions(settings: Settings, guarded: Sequence[dg.Definitions] | None = None) -> dg.Definitions:
    """The quality checks for the assets of the code location.

    ``guarded``: the other domains' definitions; suites and SLAs for assets they do not
    define (yet) are left out instead of inventing stub assets. ``None``: keep them all.
    """
    defined_keys = None if guarded is None else defined_asset_keys(guarded)
    suite_checks = build_quality_checks(
        layers=SUITE_LAYERS,
        asset_key_for=suite_asset_key,
        warehouse_for=warehouse_from_resource,
        required_resource_keys={"warehouse"},
        # A DuckDB reader cannot open the file while another process writes it.
        pool=WAREHOUSE_POOL if settings.warehouse == "duckdb" else None,
    )
    if defined_keys is not None:
        suite_checks = [c for c in suite_checks if {k.asset_key for k in c.check_keys} <= set(defined_keys)]
    freshness_checks = build_freshness_checks(load_slas(), defined_keys)
    return dg.Definitions(
        asset_checks=[*suite_checks, *freshness_checks],
        sensors=[build_freshness_sensor(freshness_checks)] if freshness_checks else [],
    )
