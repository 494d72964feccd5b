"""The project's own Great Expectations expectations, for what GE 1.x lacks.

Importing this module imports great_expectations (about 10 s) and registers the
expectations in GE's global registry, so only ``gx_suite`` imports it, inside functions.
All run on GE's pandas engine against the batch DataFrame:

- ``expect_column_values_to_be_valid_cnpj``: 14 digits with correct mod-11 check digits.
- ``expect_column_values_to_equal_expression``: e.g. total = subtotal - discount + tax
  + shipping_cost, within ``tolerance`` (money arrives as float64 from DuckDB).
- ``expect_column_values_to_not_exceed_expression``: e.g. discount <= quantity * unit_price.
"""

from __future__ import annotations

import re

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation, MulticolumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial
from great_expectations.expectations.metrics.map_metric_provider import (
    MulticolumnMapMetricProvider,
    multicolumn_condition_partial,
)

from orchestration.brazil import is_valid_cnpj

# Float noise on values that are exact cents in the warehouse.
_EPSILON = 1e-6
_NOT_COLUMNS = frozenset({"abs", "and", "or", "not", "True", "False"})


def expression_columns(expression: str) -> list[str]:
    """The column names an arithmetic expression reads, in order of appearance."""
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expression)
    return list(dict.fromkeys(n for n in names if n not in _NOT_COLUMNS))


def _evaluate(frame: pd.DataFrame, expression: str) -> pd.Series:
    return frame.astype("float64").eval(expression, engine="python")


class ColumnValuesAreValidCnpj(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_cnpj"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: object) -> pd.Series:
        return column.map(lambda value: isinstance(value, str) and is_valid_cnpj(value))


class ExpectColumnValuesToBeValidCnpj(ColumnMapExpectation):
    """Values are 14-digit CNPJs whose two mod-11 check digits are right."""

    map_metric = "column_values.valid_cnpj"
    success_keys = ("mostly",)


class MulticolumnValuesEqualExpression(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.equal_expression"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("expression", "tolerance")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column_list: pd.DataFrame, expression: str, tolerance: float, **kwargs: object
    ) -> pd.Series:
        target = column_list.iloc[:, 0].astype("float64")
        return (target - _evaluate(column_list, expression)).abs() <= tolerance + _EPSILON


class ExpectColumnValuesToEqualExpression(MulticolumnMapExpectation):
    """The first column of ``column_list`` equals ``expression`` over the others, within ``tolerance``."""

    expression: str
    tolerance: float = 0.0
    ignore_row_if: str = "any_value_is_missing"
    map_metric = "multicolumn_values.equal_expression"
    success_keys = ("expression", "tolerance", "mostly")


class MulticolumnValuesNotExceedExpression(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.not_exceed_expression"
    condition_domain_keys = MulticolumnValuesEqualExpression.condition_domain_keys
    condition_value_keys = ("expression", "tolerance")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column_list: pd.DataFrame, expression: str, tolerance: float, **kwargs: object
    ) -> pd.Series:
        target = column_list.iloc[:, 0].astype("float64")
        return target <= _evaluate(column_list, expression) + tolerance + _EPSILON


class ExpectColumnValuesToNotExceedExpression(MulticolumnMapExpectation):
    """The first column of ``column_list`` is at most ``expression`` over the others (+ ``tolerance``)."""

    expression: str
    tolerance: float = 0.0
    ignore_row_if: str = "any_value_is_missing"
    map_metric = "multicolumn_values.not_exceed_expression"
    success_keys = ("expression", "tolerance", "mostly")


EXPRESSION_TYPES = frozenset(
    {"expect_column_values_to_equal_expression", "expect_column_values_to_not_exceed_expression"}
)
