"""Every suite file parses and builds into a Great Expectations suite (catches typos in review)."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.quality import SuiteSpecError, load_suites
from orchestration.quality.gx_suite import build_expectation_suite
from orchestration.quality.spec import parse_suite


def test_every_suite_builds_into_a_gx_suite() -> None:
    import great_expectations as gx

    gx.get_context(mode="ephemeral")
    suites = load_suites()
    assert {("marts", m) for m in ("fact_orders", "dim_customers", "dim_products", "customer_360")} <= set(
        suites
    )
    for suite in suites.values():
        batch_specs = [e for e in suite.expectations if not e.runs_in_sql]
        built = build_expectation_suite(suite, batch_specs, dt.datetime(2025, 1, 1))
        assert len(built.expectations) == len(batch_specs), suite.name


def test_severity_is_required() -> None:
    with pytest.raises(SuiteSpecError, match="severity"):
        parse_suite(
            {
                "layer": "raw_ops",
                "table": "t",
                "key": ["id"],
                "expectations": [{"type": "expect_column_values_to_not_be_null", "class": "completeness"}],
            }
        )


def test_columns_shorthand_expands_to_one_expectation_per_column() -> None:
    suite = parse_suite(
        {
            "layer": "raw_ops",
            "table": "t",
            "key": ["id"],
            "expectations": [
                {
                    "type": "expect_column_values_to_be_between",
                    "class": "validity",
                    "severity": "error",
                    "columns": ["a", "b"],
                    "kwargs": {"min_value": 0},
                }
            ],
        }
    )
    assert [e.kwargs for e in suite.expectations] == [
        {"column": "a", "min_value": 0},
        {"column": "b", "min_value": 0},
    ]
