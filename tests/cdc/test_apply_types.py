"""Change rows typed by the raw table's Arrow schema (orchestration/cdc/apply.py, to_arrow):
pgoutput's text through Arrow's cast, the binlog's Python values and every bad value by value."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest

from orchestration.cdc.apply import CDC_FIELDS, CdcApplyError, to_arrow

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("paid", pa.bool_()),
        ("total", pa.decimal128(12, 2)),
        ("ratio", pa.float64()),
        ("at", pa.timestamp("us")),
        ("day", pa.date32()),
        ("note", pa.string()),
        *CDC_FIELDS,
    ]
)
CDC = {"_cdc_operation": "insert", "_cdc_committed_at": dt.datetime(2026, 12, 1), "_cdc_position": "0:1"}


def test_pgoutput_text_is_typed_by_the_raw_schema():
    rows = [
        {"id": "1", "paid": "t", "total": "12.50", "ratio": "NaN", "at": "2026-01-01 10:00:00.5",
         "day": "2026-01-02", "note": "12", **CDC},
        {"id": "2", "paid": "f", "total": "-0.5", "ratio": "1.25", "at": "2026-01-01 23:00:00",
         "day": None, "note": None, **CDC},
        {"id": "3", "paid": None, "total": None, "ratio": None, "at": None, "day": None, "note": "x", **CDC},
    ]  # fmt: skip
    table = to_arrow(rows, SCHEMA, "orders").to_pylist()
    assert [r["id"] for r in table] == [1, 2, 3]
    assert [r["paid"] for r in table] == [True, False, None]
    assert [r["total"] for r in table] == [Decimal("12.50"), Decimal("-0.50"), None]
    assert math.isnan(table[0]["ratio"]) and table[1]["ratio"] == 1.25
    assert [r["at"] for r in table] == [
        dt.datetime(2026, 1, 1, 10, 0, 0, 500000),
        dt.datetime(2026, 1, 1, 23),
        None,
    ]
    assert [r["day"] for r in table] == [dt.date(2026, 1, 2), None, None]
    assert [r["note"] for r in table] == ["12", None, "x"]
    assert table[0]["_cdc_position"] == "0:1"


def test_a_timestamptz_text_is_converted_to_utc():
    rows = [
        {"id": "1", "at": "2026-01-01 10:00:00-03", **CDC},
        {"id": "2", "at": "2026-01-01 10:00:00+00", **CDC},
    ]
    table = to_arrow(rows, SCHEMA, "orders").to_pylist()
    assert [r["at"] for r in table] == [dt.datetime(2026, 1, 1, 13), dt.datetime(2026, 1, 1, 10)]


def test_binlog_python_values_pass_as_they_are():
    rows = [{"id": 7, "paid": 1, "total": Decimal("3.10"), "ratio": 0.5, "at": dt.datetime(2026, 1, 1),
             "day": dt.date(2026, 1, 1), "note": b"bytes", **CDC}]  # fmt: skip
    (row,) = to_arrow(rows, SCHEMA, "orders").to_pylist()
    assert (row["id"], row["paid"], row["total"], row["note"]) == (7, True, Decimal("3.10"), "bytes")


@pytest.mark.parametrize(("column", "value"), [("id", "12x"), ("at", "yesterday"), ("day", "2026-13-01")])
def test_a_bad_value_names_the_table_the_column_and_the_value(column, value):
    rows = (
        [{"id": "1", **CDC}, {"id": "2", column: value, **CDC}] if column != "id" else [{"id": value, **CDC}]
    )
    with pytest.raises(CdcApplyError, match=rf"orders\.{column}: value '{value}' is not a valid"):
        to_arrow(rows, SCHEMA, "orders")


def test_a_column_nobody_reflected_stops_the_batch_naming_it():
    with pytest.raises(CdcApplyError, match=r"orders\.channel: a column the extraction did not reflect"):
        to_arrow([{"id": "1", "channel": "web", **CDC}], SCHEMA, "orders")
