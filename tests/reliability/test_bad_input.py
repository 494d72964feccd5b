"""Malformed source values are quarantined with their reason, never dropped or coerced.

SQLite accepts anything in any column; MariaDB in a lax sql_mode stores zero dates that
the driver returns as text. Bad rows go to ``raw_ops._rejected_rows`` in the same publish
as the good rows, are counted in ``rows_rejected``, hold the high-water mark back so they
are read again, and load normally once fixed at the source.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.generator import Scale, generate
from orchestration.extract.quarantine import Quarantine, TooManyRejectedRows
from tests.reliability.helpers import DEMO_END, TABLES, compare_raw_with_source, extract_all

BUMPED = DEMO_END + dt.timedelta(days=1)
LIMITS = {"max_field_chars": 1000, "max_rejected_fraction": 0.05}


def _execute(url: str, *statements: tuple[str, dict], lax_mysql: bool = False) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if lax_mysql:
            conn.execute(sa.text("SET SESSION sql_mode = ''"))
        for sql, params in statements:
            conn.execute(sa.text(sql), params)
    engine.dispose()


def _rejected(duckdb_path) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(
            "select table_name, source_key, column_name, reason, raw_value, cursor_value, batch_id "
            "from raw_ops._rejected_rows order by table_name, source_key, column_name"
        ).fetchall()


def _mark(duckdb_path, table: str):
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(
            "select max(high_water_mark) from raw_ops._loads where table_name = ?", [table]
        ).fetchone()[0]


def _raw_ids(duckdb_path, table: str) -> set[int]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return {r[0] for r in con.execute(f"select distinct id from raw_ops.{table}").fetchall()}


def test_sqlite_bad_values_are_quarantined_then_loaded_once_fixed(sqlite_url, tmp_path, monkeypatch):
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    cursor_11 = dt.datetime(2026, 5, 1, 8, 0, 0)
    _execute(
        sqlite_url,
        # Text in a numeric column, on the row with the highest cursor of its table.
        ("UPDATE orders SET total = 'abc', updated_at = :at WHERE id = 10", {"at": BUMPED}),
        ("UPDATE orders SET order_date = '2026-13-45', updated_at = :at WHERE id = 11", {"at": cursor_11}),
        (
            "UPDATE customers SET name = CAST(X'4661726D61C328' AS TEXT) WHERE id = 7",
            {},
        ),  # 'Farma\xc3(' bad UTF-8
        ("UPDATE customers SET contact_name = :big WHERE id = 8", {"big": "Maria " * 400}),  # 2400 chars
    )
    duckdb_path, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    outcomes = extract_all(sqlite_url, duckdb_path, landing, "first", **LIMITS)

    assert outcomes["orders"].metadata()["rows_rejected"] == 2
    assert outcomes["customers"].metadata()["rows_rejected"] == 2
    assert all(o.load.rows_rejected == 0 for t, o in outcomes.items() if t not in ("orders", "customers"))
    rejected = {(r[0], r[1], r[2]): r for r in _rejected(duckdb_path)}
    assert set(rejected) == {
        ("customers", "7", "name"),
        ("customers", "8", "contact_name"),
        ("orders", "10", "total"),
        ("orders", "11", "order_date"),
    }
    assert rejected[("orders", "10", "total")][3].startswith("cannot convert to decimal128(18, 2)")
    assert rejected[("orders", "10", "total")][4] == "abc"
    assert rejected[("orders", "10", "total")][5] == BUMPED
    assert rejected[("orders", "11", "order_date")][4] == "2026-13-45"
    assert rejected[("customers", "7", "name")][3] == "invalid UTF-8"
    assert "\\xc3" in rejected[("customers", "7", "name")][4]
    assert "exceeds max_field_chars=1000" in rejected[("customers", "8", "contact_name")][3]
    assert len(rejected[("customers", "8", "contact_name")][4]) <= 201  # truncated raw value
    assert all(r[6] == f"first:{r[0]}" for r in rejected.values())
    # Rejected rows are not in raw, not coerced: every other row is, exactly.
    assert {10, 11}.isdisjoint(_raw_ids(duckdb_path, "orders"))
    assert {7, 8}.isdisjoint(_raw_ids(duckdb_path, "customers"))
    # The mark never passes the earliest rejected row, although a rejected row has the highest cursor.
    assert _mark(duckdb_path, "orders") == cursor_11
    assert _mark(duckdb_path, "orders") < BUMPED

    # Unfixed: the next run sees them again but records each problem once.
    again = extract_all(sqlite_url, duckdb_path, landing, "again", **LIMITS)
    assert again["orders"].load.rows_rejected == 2 and again["orders"].load.rows_inserted == 0
    assert len(_rejected(duckdb_path)) == 4

    # Fixed at the source without touching updated_at: picked up because the mark waited.
    _execute(
        sqlite_url,
        ("UPDATE orders SET total = 100.5 WHERE id = 10", {}),
        ("UPDATE orders SET order_date = '2026-04-30' WHERE id = 11", {}),
        ("UPDATE customers SET name = 'Farma Boa', updated_at = :at WHERE id = 7", {"at": BUMPED}),
        ("UPDATE customers SET contact_name = 'Maria', updated_at = :at WHERE id = 8", {"at": BUMPED}),
    )
    calls = {"isolate": 0}
    original_isolate = Quarantine.isolate

    def counting_isolate(self, rows, schema):
        calls["isolate"] += 1
        return original_isolate(self, rows, schema)

    monkeypatch.setattr(Quarantine, "isolate", counting_isolate)
    fixed = extract_all(sqlite_url, duckdb_path, landing, "fixed", **LIMITS)
    assert calls["isolate"] == 0, "clean chunks must take the fast path"
    assert fixed["orders"].load.rows_inserted == 2 and fixed["orders"].load.rows_rejected == 0
    assert _mark(duckdb_path, "orders") == BUMPED
    result = compare_raw_with_source(sqlite_url, duckdb_path)
    assert not result.differences, result.differences[:5]


def test_too_many_rejected_rows_fail_before_publishing(sqlite_url, tmp_path):
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    duckdb_path, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    extract_all(sqlite_url, duckdb_path, landing, "first")
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        before = con.execute("select count(*) from raw_ops.orders").fetchone()[0]
        ledger_before = con.execute("select count(*) from raw_ops._loads").fetchone()[0]
    _execute(
        sqlite_url,
        ("UPDATE orders SET subtotal = 'n/a', updated_at = :at WHERE id <= 3", {"at": BUMPED}),
        ("UPDATE orders SET updated_at = :at WHERE id between 4 and 10", {"at": BUMPED}),
    )
    orders = [t for t in TABLES if t[0] == "orders"]
    with pytest.raises(
        TooManyRejectedRows,
        match=r"orders: 3 of \d+ rows read .* newly rejected, more than max_rejected_fraction=1\.00%",
    ) as e:
        extract_all(sqlite_url, duckdb_path, landing, "second", tables=orders, max_rejected_fraction=0.01)
    assert "column 'subtotal'" in str(e.value) and "'n/a'" in str(e.value)
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        assert con.execute("select count(*) from raw_ops.orders").fetchone()[0] == before
        assert con.execute("select count(*) from raw_ops._loads").fetchone()[0] == ledger_before
        assert not con.execute(
            "select count(*) from information_schema.tables where table_name = '_rejected_rows'"
        ).fetchone()[0]
    assert not [p for p in landing.rglob("*") if p.is_file()]


def test_mariadb_zero_dates_and_oversized_text_are_quarantined(mariadb_url, tmp_path):
    generate(mariadb_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    _execute(
        mariadb_url,
        ("UPDATE orders SET order_date = '0000-00-00' WHERE id = 5", {}),
        ("UPDATE orders SET notes = :big WHERE id = 6", {"big": "é" * 1500}),
        lax_mysql=True,
    )
    duckdb_path, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    orders = [t for t in TABLES if t[0] == "orders"]
    outcome = extract_all(mariadb_url, duckdb_path, landing, "first", tables=orders, **LIMITS)["orders"]
    assert outcome.metadata()["rows_rejected"] == 2
    rejected = {(r[1], r[2]): r for r in _rejected(duckdb_path)}
    assert set(rejected) == {("5", "order_date"), ("6", "notes")}
    assert rejected[("5", "order_date")][4] == "0000-00-00"
    assert "date32" in rejected[("5", "order_date")][3]
    assert "1500 characters" in rejected[("6", "notes")][3]
    assert {5, 6}.isdisjoint(_raw_ids(duckdb_path, "orders"))
    assert len(_raw_ids(duckdb_path, "orders")) == 598
