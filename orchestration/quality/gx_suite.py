"""Build Great Expectations 1.x suites from the specs and validate a pandas batch.

great_expectations is imported inside the functions: it costs about 10 s, and Dagster
must be able to load the definitions without paying it. Each validation uses an
ephemeral context (nothing on disk) unless Data Docs are wanted, in which case the
HTML site is written under ``data_docs_dir``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from orchestration.quality.outcome import ExpectationOutcome
from orchestration.quality.spec import ExpectationSpec, SuiteSpec

SAMPLE_SIZE = 5
DOCS_SITE = "quality"
KEEP_VALIDATION_PAGES = 20


@dataclass(frozen=True)
class GxValidation:
    results: tuple[ExpectationOutcome, ...]
    data_docs_url: str | None


def resolve_runtime_values(kwargs: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Replace ``$now`` / ``$today`` (naive UTC, like the warehouse) in expectation arguments."""
    values = {"$now": now, "$today": pd.Timestamp(now.date())}
    return {k: values.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}


def gx_kwargs(spec: ExpectationSpec, now: dt.datetime) -> dict[str, Any]:
    from orchestration.quality.gx_expectations import EXPRESSION_TYPES, expression_columns

    kwargs = resolve_runtime_values(spec.kwargs, now)
    if spec.type in EXPRESSION_TYPES:
        target = kwargs.pop("column")
        others = [c for c in expression_columns(kwargs["expression"]) if c != target]
        kwargs["column_list"] = [target, *others]
    return kwargs


def build_expectation_suite(suite: SuiteSpec, specs: Sequence[ExpectationSpec], now: dt.datetime) -> Any:
    """A GE ``ExpectationSuite`` for the given (batch-scoped) expectations of a suite."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # a switch for the GE library: written, not read
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl

    import orchestration.quality.gx_expectations  # noqa: F401 - registers the project's expectations

    gx_suite = gx.ExpectationSuite(name=suite.name, meta={"description": suite.description})
    for index, spec in enumerate(specs):
        try:
            impl = get_expectation_impl(spec.type)
            expectation = impl(
                **gx_kwargs(spec, now),
                meta={
                    "severity": spec.severity,
                    "class": spec.quality_class,
                    "description": spec.description,
                    "spec_index": index,
                },
            )
        except Exception as exc:
            raise ValueError(f"{suite.source or suite.name}: cannot build {spec.label}: {exc}") from exc
        gx_suite.add_expectation(expectation)
    return gx_suite


def _prune_validation_pages(docs_dir: Path, suite_name: str) -> None:
    runs = docs_dir / "validations" / suite_name
    pages = sorted((p for p in runs.glob("*/*") if p.is_dir()), key=lambda p: p.name)
    for old in pages[:-KEEP_VALIDATION_PAGES]:
        shutil.rmtree(old, ignore_errors=True)


def _json_safe(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT:  # before the datetime test: NaT is a datetime
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            return value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    return value


def nanosecond_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its datetime columns at nanosecond resolution where the values allow.

    GE compares datetime columns vectorized only when they are ``datetime64[ns]``; at the
    microsecond resolution DuckDB and Arrow hand over it maps a Python function over every
    value (about 20 s of the demo's 85 s of validation, on 500,000 order lines). Columns with
    values outside what nanoseconds can hold (years 1677-2262, e.g. a 9999-12-31 sentinel)
    are left as they are: slower, same result.
    """
    converted = {}
    for name, dtype in frame.dtypes.items():
        if not pd.api.types.is_datetime64_dtype(dtype) or pd.api.types.is_datetime64_ns_dtype(dtype):
            continue
        column = frame[name]
        low, high = column.min(), column.max()
        if (pd.isna(low) or low >= pd.Timestamp.min) and (pd.isna(high) or high <= pd.Timestamp.max):
            converted[name] = column.astype("datetime64[ns]")
    return frame.assign(**converted) if converted else frame


def validate_dataframe(
    suite: SuiteSpec,
    specs: Sequence[ExpectationSpec],
    frame: pd.DataFrame,
    *,
    now: dt.datetime,
    data_docs_dir: Path | None = None,
) -> GxValidation:
    """Validate ``frame`` against the batch-scoped expectations with GE's pandas datasource."""
    if not specs:
        return GxValidation(results=(), data_docs_url=None)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # a switch for the GE library: written, not read
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    from orchestration.quality.docs_views import view_config

    # No default docs site: GE would otherwise point one at a fresh temporary directory.
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = {"globally": False}
    asset = context.data_sources.add_pandas("warehouse").add_dataframe_asset(suite.name)
    batch_definition = asset.add_batch_definition_whole_dataframe("batch")
    gx_suite = context.suites.add(build_expectation_suite(suite, specs, now))
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    actions = []
    if data_docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(data_docs_dir),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "view": view_config(index=True),
                },
                # Templates compiled once per process (docs_views.py explains why).
                "site_section_builders": {
                    "expectations": {"view": view_config()},
                    "validations": {"view": view_config()},
                    "profiling": {"view": view_config()},
                },
            },
        )
        actions.append(UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE]))
    key_columns = [c for c in suite.key if c in frame.columns]
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{suite.name}_checkpoint",
            validation_definitions=[validation],
            actions=actions,
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": key_columns,
                "partial_unexpected_count": SAMPLE_SIZE,
            },
        )
    )
    checkpoint_result = checkpoint.run(batch_parameters={"dataframe": nanosecond_datetimes(frame)})
    (identifier, validation_result), *_ = checkpoint_result.run_results.items()

    docs_url = None
    if data_docs_dir is not None:
        urls = context.get_docs_sites_urls(resource_identifier=identifier, site_name=DOCS_SITE)
        docs_url = urls[0]["site_url"] if urls else None
        _prune_validation_pages(data_docs_dir, suite.name)

    results = []
    # GE reorders results (table-level first); pair them with their specs through meta.
    for result in sorted(validation_result.results, key=lambda r: r.expectation_config.meta["spec_index"]):
        spec = specs[result.expectation_config.meta["spec_index"]]
        details = result.result or {}
        index_list = details.get("partial_unexpected_index_list") or []
        sample_keys = tuple(
            {k: _json_safe(row.get(k)) for k in key_columns} for row in index_list[:SAMPLE_SIZE]
        )
        exception = result.exception_info or {}
        error = exception.get("exception_message") if exception.get("raised_exception") else None
        results.append(
            ExpectationOutcome(
                spec=spec,
                success=bool(result.success),
                validator="gx",
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                sample_keys=sample_keys,
                sample_values=tuple(
                    _json_safe(v) for v in (details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
                ),
                observed_value=_json_safe(details.get("observed_value")),
                error=error,
            )
        )
    return GxValidation(results=tuple(results), data_docs_url=docs_url)
