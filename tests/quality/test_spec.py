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


def _suite(entry: dict, **top) -> dict:
    return {"layer": "marts", "table": "t", "key": ["id"], "expectations": [entry], **top}


NOT_NULL = {"type": "expect_column_values_to_not_be_null", "class": "completeness", "severity": "error"}


def test_whole_table_scope_only_where_it_is_honoured() -> None:
    # A row rule runs on the batch: scope: table on it would be a promise the runner breaks.
    with pytest.raises(SuiteSpecError, match=r"expect_column_values_to_not_be_null.*scope: table"):
        parse_suite(_suite({**NOT_NULL, "scope": "table", "kwargs": {"column": "a"}}))
    row_count = {"type": "expect_table_row_count_to_be_between", "class": "volume", "severity": "error"}
    spec = parse_suite(_suite({**row_count, "scope": "table", "kwargs": {"min_value": 1}})).expectations[0]
    assert spec.runs_in_sql
    assert not parse_suite(_suite({**row_count, "kwargs": {"min_value": 1}})).expectations[0].runs_in_sql


def test_latest_value_batches_need_a_column_and_no_ledger_rules() -> None:
    with pytest.raises(SuiteSpecError, match="'batch_from: latest_value' needs a 'batch_column'"):
        parse_suite(_suite({**NOT_NULL, "kwargs": {"column": "a"}}, batch_from="latest_value"))
    with pytest.raises(SuiteSpecError, match="'batch_from' must be one of"):
        parse_suite(_suite({**NOT_NULL, "kwargs": {"column": "a"}}, batch_column="b", batch_from="newest"))
    ledger_rule = {"type": "expect_batch_row_count_to_match_ledger", "class": "volume", "severity": "error"}
    with pytest.raises(SuiteSpecError, match="batched by the load ledger"):
        parse_suite(_suite(ledger_rule, batch_column="_built_at", batch_from="latest_value"))
    suite = parse_suite(
        _suite({**NOT_NULL, "kwargs": {"column": "a"}}, batch_column="_built_at", batch_from="latest_value")
    )
    assert suite.is_batched and suite.batch_from == "latest_value"
