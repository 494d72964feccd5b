"""Dagster asset checks from the suites in ``expectations/``: one check per suite.

Building the checks parses YAML only; great_expectations is imported when a check
runs. A check finds the table's latest batch itself (from the load ledger), so it
needs no input from the asset, and it is blocking when any of its expectations has
severity ``error``: such a failure reports ``AssetCheckSeverity.ERROR`` and stops
downstream assets; warnings report ``WARN`` and let them run.
"""

# No `from __future__ import annotations`: Dagster inspects the check function's context annotation.
import json
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.quality.outcome import SuiteOutcome
from orchestration.quality.runner import SuiteNotFoundError, default_data_docs_dir, run_suite_spec
from orchestration.quality.spec import SuiteSpec, load_suites
from orchestration.settings import EXPECTATIONS_DIR, load_settings
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

CHECK_NAME = "great_expectations"

AssetKeyFor = Callable[[SuiteSpec], dg.AssetKey]
WarehouseFor = Callable[[dg.AssetCheckExecutionContext], Any]  # a DuckDB or BigQuery warehouse


def default_asset_key(suite: SuiteSpec) -> dg.AssetKey:
    """raw_ops.orders -> ["raw_ops", "orders"]; marts.fact_orders -> ["marts", "fact_orders"]."""
    return dg.AssetKey([suite.layer, suite.table])


def default_warehouse(context: dg.AssetCheckExecutionContext) -> DuckDBWarehouse:
    return DuckDBWarehouse(load_settings().duckdb_path)


def _markdown_table(outcome: SuiteOutcome) -> str:
    lines = [
        "| severity | expectation | columns | unexpected | % | sample keys |",
        "|---|---|---|---|---|---|",
    ]
    for r in outcome.failures:
        percent = "" if r.unexpected_percent is None else f"{r.unexpected_percent:.3f}"
        detail = r.error or json.dumps(list(r.sample_keys), default=str)
        if r.observed_value is not None and not r.sample_keys:
            detail = json.dumps(r.observed_value, default=str)
        lines.append(
            f"| {r.severity} | {r.expectation_type} | {', '.join(r.columns)} | "
            f"{'' if r.unexpected_count is None else r.unexpected_count} | {percent} | {detail} |"
        )
    return "\n".join(lines)


def check_metadata(outcome: SuiteOutcome) -> dict[str, Any]:
    failures = outcome.failures
    metadata: dict[str, Any] = {
        "relation": outcome.relation,
        "batch_id": outcome.batch_id or "whole table",
        "rows_validated": dg.MetadataValue.int(outcome.rows_validated),
        "expectations_evaluated": dg.MetadataValue.int(len(outcome.results)),
        "failed_errors": dg.MetadataValue.int(len(outcome.errors)),
        "failed_warnings": dg.MetadataValue.int(len(failures) - len(outcome.errors)),
        "failing_columns": ", ".join(sorted({c for r in failures for c in r.columns})) or "none",
        "duration_s": dg.MetadataValue.float(round(outcome.duration_s, 3)),
        "failing_expectations": dg.MetadataValue.md(_markdown_table(outcome)) if failures else "none",
        "failures": dg.MetadataValue.json(
            json.loads(json.dumps([r.summary() for r in failures], default=str))
        ),
    }
    if outcome.data_docs_url:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.data_docs_url)
    if outcome.notes:
        metadata["notes"] = "; ".join(outcome.notes)
    return metadata


def not_validated(reason: str) -> dg.AssetCheckResult:
    """A visible, non-blocking warning: the suite could not run (never a silent pass)."""
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=reason,
        metadata={"not_validated": reason},
    )


def check_result(outcome: SuiteOutcome) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if outcome.blocking_failure else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(passed=outcome.success, severity=severity, metadata=check_metadata(outcome))


def _build_check(
    suite: SuiteSpec,
    *,
    asset_key: dg.AssetKey,
    warehouse_for: WarehouseFor,
    data_docs_dir: Path | None,
    required_resource_keys: set[str] | None,
    pool: str | None,
) -> dg.AssetChecksDefinition:
    counts = {s: sum(e.severity == s for e in suite.expectations) for s in ("error", "warn")}
    description = (
        f"Great Expectations suite {suite.source.name if suite.source else suite.name} "
        f"({counts['error']} blocking, {counts['warn']} warning expectations)"
        + (
            " on the whole table."
            if not suite.is_batched
            else " on the latest extraction batch."
            if suite.batch_from == "ledger"
            else " on the rows the latest dbt build merged (every row after a full refresh)."
        )
    )

    @dg.asset_check(
        asset=asset_key,
        name=CHECK_NAME,
        description=description,
        blocking=suite.has_blocking_expectations,
        required_resource_keys=required_resource_keys,
        pool=pool,
        metadata={"suite": str(suite.source or suite.name)},
    )
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        warehouse = warehouse_for(context)
        try:
            outcome = run_suite_spec(warehouse, suite, data_docs_dir=data_docs_dir)
        except SuiteNotFoundError as exc:
            return not_validated(str(exc))
        context.log.info(
            f"{suite.name}: {len(outcome.results)} expectations on {outcome.rows_validated} rows, "
            f"{len(outcome.errors)} blocking and {len(outcome.failures) - len(outcome.errors)} warning failures"
        )
        return check_result(outcome)

    return _check


def build_quality_checks(
    *,
    expectations_dir: Path = EXPECTATIONS_DIR,
    layers: Collection[str] | None = None,
    asset_key_for: AssetKeyFor = default_asset_key,
    warehouse_for: WarehouseFor = default_warehouse,
    data_docs_dir: Path | None | bool = True,
    required_resource_keys: set[str] | None = None,
    pool: str | None = None,
) -> list[dg.AssetChecksDefinition]:
    """One blocking-or-warning asset check per suite file under ``expectations_dir``.

    ``layers`` restricts to some layers (e.g. ``{"raw_ops"}``); ``asset_key_for`` maps a
    suite to the asset it guards; ``warehouse_for`` gets the warehouse from the check's
    context (a resource, with ``required_resource_keys``); ``data_docs_dir=True`` writes
    Data Docs under QUALITY_DATA_DOCS_DIR (default data/quality/data_docs), ``None``/``False``
    skips them.
    """
    docs_dir = default_data_docs_dir() if data_docs_dir is True else (data_docs_dir or None)
    return [
        _build_check(
            suite,
            asset_key=asset_key_for(suite),
            warehouse_for=warehouse_for,
            data_docs_dir=docs_dir,
            required_resource_keys=required_resource_keys,
            pool=pool,
        )
        for (layer, _), suite in load_suites(expectations_dir).items()
        if layers is None or layer in layers
    ]
