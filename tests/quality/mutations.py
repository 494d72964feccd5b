"""Derive, from an expectation alone, the defect that must make it fail.

``defect_for(spec)`` reads an expectation's type and arguments and returns how to break
it: a change to one row (``RowDefect``: a SQL expression per column), a duplicated row,
a change to the table's columns, a change to the load ledger (raw batches), or an emptied
table (``TableDefect``: marts, whose row count covers the whole table). The tests apply each defect to a clean
warehouse and require that exact expectation to fail, so a new suite entry is covered the
day it is written, and an entry that cannot fail is found.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any

from orchestration.quality.gx_expectations import expression_columns
from orchestration.quality.spec import ExpectationSpec, SuiteSpec

NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "DOUBLE", "FLOAT", "DECIMAL")


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"timestamp '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"date '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def column_types(con: Any, suite: SuiteSpec) -> dict[str, str]:
    """The suite's table columns and their DuckDB types."""
    return dict(
        con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [suite.layer, suite.table],
        ).fetchall()
    )


def is_numeric(sql_type: str) -> bool:
    return sql_type.upper().startswith(NUMERIC_TYPES)


def is_temporal(sql_type: str) -> bool:
    return sql_type.upper().startswith(("TIMESTAMP", "DATE"))


@dataclass(frozen=True)
class RowDefect:
    """Set columns of one row to SQL expressions over that row's own values."""

    assignments: dict[str, str]
    needs_not_null: tuple[str, ...] = ()  # pick a row where these columns have values
    duplicate: bool = False  # the changed row twice (same key, same cursor)
    copy_from_other_row: tuple[str, ...] = ()  # natural-key clash: take these columns from another row
    where: str = "true"  # pick a row matching this SQL condition (the expectation's row_condition)
    every_row: bool = False  # the entry tolerates some bad rows (mostly): change every row it sees


@dataclass(frozen=True)
class SchemaDefect:
    drop: str | None = None
    add: str | None = None


@dataclass(frozen=True)
class LedgerDefect:
    """Batched tables: the ledger row claims other counts, or history makes the batch an outlier."""

    rows_inserted_delta: int = 0
    history_rows_landed: tuple[int, ...] = ()
    rows_landed: int | None = None


@dataclass(frozen=True)
class TableDefect:
    """Marts (their row count covers the whole table): every row deleted."""

    delete_all: bool = True


@dataclass(frozen=True)
class Defect:
    kind: RowDefect | SchemaDefect | LedgerDefect | TableDefect
    sample_key_expected: bool = field(default=True)


def _out_of_range(spec: ExpectationSpec, column: str, sql_type: str, now: dt.datetime) -> str:
    kwargs = spec.kwargs
    high, low = kwargs.get("max_value"), kwargs.get("min_value")
    if high is not None:
        if high in ("$now", "$today"):
            return f"cast({_literal(now + dt.timedelta(days=2))} as {sql_type})"
        if is_temporal(sql_type):
            return f"cast({_literal(str(high))} as {sql_type}) + interval 1 day"
        return (
            f"cast({high} as {sql_type}) + 1"
            if not kwargs.get("strict_max")
            else f"cast({high} as {sql_type})"
        )
    assert low is not None, f"{spec.label}: between with neither bound"
    if is_temporal(sql_type):
        base = (
            f"cast({_literal(now)} as {sql_type})"
            if low in ("$now", "$today")
            else f"cast({_literal(str(low))} as {sql_type})"
        )
        return base if kwargs.get("strict_min") else f"{base} - interval 1 day"
    return f"cast({low} as {sql_type})" if kwargs.get("strict_min") else f"cast({low} as {sql_type}) - 1"


def sql_condition(row_condition: str) -> str:
    """A pandas ``row_condition`` of a suite ('is_current == True', 'a >= 30 and a < 60') as SQL."""
    sql = row_condition.replace("==", "=").replace("!=", "<>")
    return re.sub(r"\b(True|False)\b", lambda m: m.group(1).lower(), sql)


def defect_for(suite: SuiteSpec, spec: ExpectationSpec, types: dict[str, str], now: dt.datetime) -> Defect:
    """How to make ``spec`` fail; ``types`` maps the table's columns to their SQL types.

    An entry with a ``row_condition`` only sees the rows matching it: a row defect is planted
    in such a row."""
    defect = _defect_for(suite, spec, types, now)
    if not isinstance(defect.kind, RowDefect):
        return defect
    condition = spec.kwargs.get("row_condition")
    if condition:
        assert spec.kwargs.get("condition_parser") == "pandas", f"{spec.label}: only pandas row conditions"
        defect = replace(defect, kind=replace(defect.kind, where=sql_condition(condition)))
    if spec.kwargs.get("mostly", 1) < 1:
        # Which of many bad rows the samples name is GE's choice.
        defect = replace(defect, kind=replace(defect.kind, every_row=True), sample_key_expected=False)
    return defect


def _defect_for(suite: SuiteSpec, spec: ExpectationSpec, types: dict[str, str], now: dt.datetime) -> Defect:
    kind, kwargs = spec.type, spec.kwargs
    column = kwargs.get("column")
    if kind == "expect_table_columns_to_match_set":
        if kwargs.get("exact_match"):
            return Defect(SchemaDefect(add="zz_unexpected_column"), sample_key_expected=False)
        droppable = [c for c in kwargs["column_set"] if c not in suite.key and not c.startswith("_")]
        return Defect(SchemaDefect(drop=droppable[-1]), sample_key_expected=False)
    if kind == "expect_table_row_count_to_be_between" and (
        not suite.is_batched or suite.batch_from == "latest_value"
    ):
        if not kwargs.get("min_value"):
            raise NotImplementedError(f"{spec.label}: only a minimum row count is known to break")
        return Defect(TableDefect(), sample_key_expected=False)
    if kind == "expect_column_values_to_not_be_null":
        return Defect(RowDefect({column: "null"}))
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        columns = list(spec.columns)
        if tuple(columns) == suite.key or spec.scope in ("batch", "table"):
            return Defect(RowDefect({}, needs_not_null=tuple(columns), duplicate=True))
        return Defect(RowDefect({}, needs_not_null=tuple(columns), copy_from_other_row=tuple(columns)))
    if kind == "expect_column_values_to_be_between":
        return Defect(RowDefect({column: _out_of_range(spec, column, types[column], now)}))
    if kind == "expect_column_values_to_be_in_set":
        values = list(kwargs["value_set"])
        if all(isinstance(v, str) for v in values):
            return Defect(RowDefect({column: "'zz_not_in_set'"}))
        return Defect(RowDefect({column: repr(max(values) + 1000)}))
    if kind == "expect_column_values_to_match_regex":
        return Defect(RowDefect({column: "'!! not a match !!'"}))
    if kind == "expect_column_values_to_be_json_parseable":
        return Defect(RowDefect({column: "'{\"attributes\": [truncated'"}))
    if kind == "expect_table_row_count_to_be_between" and suite.is_batched:
        # A batch that landed nothing: the ledger row alone.
        return Defect(LedgerDefect(), sample_key_expected=False)
    if kind == "expect_column_values_to_be_valid_cnpj":
        # A real CNPJ with its last check digit moved by one.
        last = f"cast((cast(right({column}, 1) as integer) + 1) % 10 as varchar)"
        return Defect(RowDefect({column: f"left({column}, 13) || {last}"}, needs_not_null=(column,)))
    if kind == "expect_column_values_to_equal_expression":
        others = tuple(expression_columns(kwargs["expression"]))
        bump = float(kwargs.get("tolerance", 0)) + 1
        return Defect(RowDefect({column: f"{column} + {bump}"}, needs_not_null=(column, *others)))
    if kind == "expect_column_values_to_not_exceed_expression":
        others = tuple(expression_columns(kwargs["expression"]))
        return Defect(RowDefect({column: f"{column} + 1000000"}, needs_not_null=(column, *others)))
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kwargs["column_A"], kwargs["column_B"]
        step = "interval 1 day" if is_temporal(types[a]) else "1"
        return Defect(RowDefect({a: f"{b} - {step}"}, needs_not_null=(b,)))
    if kind == "expect_column_values_to_exist_in_table":
        missing = "-987654321" if is_numeric(types[column]) else "'zz-missing-key'"
        if is_temporal(types[column]):
            missing = f"cast('1001-01-01' as {types[column]})"
        return Defect(RowDefect({column: missing}, needs_not_null=(column,)))
    if kind == "expect_batch_row_count_to_match_ledger":
        return Defect(LedgerDefect(rows_inserted_delta=1), sample_key_expected=False)
    if kind == "expect_batch_row_count_to_be_within_ratio_of_previous_loads":
        # Enough planted history to fill the whole lookback (+1: the oldest load is skipped).
        history = max(int(kwargs.get("min_history", 3)), int(kwargs.get("lookback_loads", 10))) + 1
        if kwargs.get("max_ratio") is not None:
            landed = int(kwargs["max_ratio"] * 10) + 10
            return Defect(
                LedgerDefect(history_rows_landed=(10,) * history, rows_landed=landed),
                sample_key_expected=False,
            )
        landed = 1
        return Defect(
            LedgerDefect(
                history_rows_landed=(int(10 / kwargs["min_ratio"]) + 10,) * history, rows_landed=landed
            ),
            sample_key_expected=False,
        )
    raise NotImplementedError(f"no defect known for {spec.label}: teach tests/quality/mutations.py")
