"""Rejected rows on BigQuery, as on DuckDB (tests/reliability/test_bad_input.py, same cases).

Bad values go to ``<prefix>raw_ops._rejected_rows`` in the publish's one transaction, with
the same columns, reasons and raw values; they are counted in ``rows_rejected``, hold the
high-water mark back so they are read again, are recorded once however often they are
read, and load normally once fixed. Past ``max_rejected_fraction`` nothing is published.
Only orders and customers are extracted: the two tables the bad values are in.
"""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration.demo.generator import Scale, generate
from orchestration.extract.quarantine import TooManyRejectedRows
from orchestration.warehouse.base import LOAD_LEDGER, REJECTED_ROWS
from orchestration.warehouse.bigquery_types import naive_utc
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from tests.reliability.helpers import DEMO_END, TABLES, extract_all
from tests.reliability.test_bad_input import BUMPED, LIMITS, _execute

pytestmark = [pytest.mark.bigquery, pytest.mark.slow]

BAD_TABLES = [t for t in TABLES if t[0] in ("orders", "customers")]
ORDERS = [t for t in TABLES if t[0] == "orders"]


def _rejected(wh: BigQueryWarehouse) -> dict[tuple[str, str, str], tuple]:
    sql = wh.sql()
    rows = sql.rows(
        "select table_name, source_key, column_name, reason, raw_value, cursor_value, batch_id "
        f"from {sql.relation('raw_ops', REJECTED_ROWS)}"
    )
    return {(r[0], r[1], r[2]): r for r in rows}


def _raw_ids(wh: BigQueryWarehouse, table: str) -> set[int]:
    sql = wh.sql()
    return {r[0] for r in sql.rows(f"select distinct id from {sql.relation('raw_ops', table)}")}


def _count(wh: BigQueryWarehouse, table: str) -> int:
    return wh.row_count("raw_ops", table)


def test_bad_values_are_quarantined_on_bigquery_then_loaded_once_fixed(sqlite_url, tmp_path, warehouse):
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    cursor_11 = dt.datetime(2026, 5, 1, 8, 0, 0)
    _execute(
        sqlite_url,
        ("UPDATE orders SET total = 'abc', updated_at = :at WHERE id = 10", {"at": BUMPED}),
        ("UPDATE orders SET order_date = '2026-13-45', updated_at = :at WHERE id = 11", {"at": cursor_11}),
        ("UPDATE customers SET name = CAST(X'4661726D61C328' AS TEXT) WHERE id = 7", {}),
        ("UPDATE customers SET contact_name = :big WHERE id = 8", {"big": "Maria " * 400}),
    )
    landing = tmp_path / "landing"

    def extract(tag: str):
        return extract_all(sqlite_url, None, landing, tag, tables=BAD_TABLES, warehouse=warehouse, **LIMITS)

    first = extract("first")
    assert first["orders"].metadata()["rows_rejected"] == 2
    assert first["customers"].metadata()["rows_rejected"] == 2
    rejected = _rejected(warehouse)
    assert set(rejected) == {
        ("customers", "7", "name"),
        ("customers", "8", "contact_name"),
        ("orders", "10", "total"),
        ("orders", "11", "order_date"),
    }
    assert rejected[("orders", "10", "total")][3].startswith("cannot convert to decimal128(18, 2)")
    assert rejected[("orders", "10", "total")][4] == "abc"
    assert naive_utc(rejected[("orders", "10", "total")][5]) == BUMPED
    assert rejected[("orders", "11", "order_date")][4] == "2026-13-45"
    assert rejected[("customers", "7", "name")][3] == "invalid UTF-8"
    assert "exceeds max_field_chars=1000" in rejected[("customers", "8", "contact_name")][3]
    assert all(r[6] == f"first:{r[0]}" for r in rejected.values())
    assert {10, 11}.isdisjoint(_raw_ids(warehouse, "orders"))
    assert {7, 8}.isdisjoint(_raw_ids(warehouse, "customers"))
    # The mark never passes the earliest rejected row, although a rejected row has the highest cursor.
    assert warehouse.high_water_mark("raw_ops", "orders") == cursor_11
    assert warehouse.rejected_keys("raw_ops", "orders") == {"10", "11"}

    again = extract("again")
    assert again["orders"].load.rows_rejected == 2 and again["orders"].load.rows_inserted == 0
    assert len(_rejected(warehouse)) == 4, "a problem read again is recorded once"

    _execute(
        sqlite_url,
        ("UPDATE orders SET total = 100.5 WHERE id = 10", {}),
        ("UPDATE orders SET order_date = '2026-04-30' WHERE id = 11", {}),
        ("UPDATE customers SET name = 'Farma Boa', updated_at = :at WHERE id = 7", {"at": BUMPED}),
        ("UPDATE customers SET contact_name = 'Maria', updated_at = :at WHERE id = 8", {"at": BUMPED}),
    )
    fixed = extract("fixed")
    assert fixed["orders"].load.rows_inserted == 2 and fixed["orders"].load.rows_rejected == 0
    assert warehouse.high_water_mark("raw_ops", "orders") == BUMPED
    assert {10, 11} <= _raw_ids(warehouse, "orders") and {7, 8} <= _raw_ids(warehouse, "customers")


def test_too_many_rejected_rows_publish_nothing_on_bigquery(sqlite_url, tmp_path, warehouse):
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    landing = tmp_path / "landing"
    extract_all(sqlite_url, None, landing, "first", tables=ORDERS, warehouse=warehouse)
    before, ledger_before = _count(warehouse, "orders"), _count(warehouse, LOAD_LEDGER)
    _execute(
        sqlite_url,
        ("UPDATE orders SET subtotal = 'n/a', updated_at = :at WHERE id <= 3", {"at": BUMPED}),
        ("UPDATE orders SET updated_at = :at WHERE id between 4 and 10", {"at": BUMPED}),
    )
    with pytest.raises(
        TooManyRejectedRows, match=r"orders: 3 of \d+ rows read .* max_rejected_fraction=1\.00%"
    ):
        extract_all(
            sqlite_url,
            None,
            landing,
            "second",
            tables=ORDERS,
            warehouse=warehouse,
            max_rejected_fraction=0.01,
        )
    assert _count(warehouse, "orders") == before
    assert _count(warehouse, LOAD_LEDGER) == ledger_before
    assert REJECTED_ROWS not in warehouse.list_tables("raw_ops")
