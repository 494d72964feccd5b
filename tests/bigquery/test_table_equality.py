"""The engine-equality comparison catches planted divergences and ignores engine noise (fast)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.bigquery.table_equality import Table, compare_tables

COLUMNS = ("order_id", "customer_name", "total", "margin_ratio", "ordered_at", "is_paid")


def _reference() -> Table:
    return Table(
        COLUMNS,
        [
            (1, "Drogaria São João", Decimal("10.50"), 0.1, dt.datetime(2026, 6, 30, 12), True),
            (2, "Farmácia Popular", Decimal("99.99"), 1 / 3, dt.datetime(2026, 6, 29, 23, 59), False),
            (3, None, None, None, None, None),
        ],
    )


def _as_bigquery_returns_it() -> Table:
    """The same content as the emulator hands it back: other order, NUMERIC scale 9, aware UTC,
    floats summed in another order."""
    utc = dt.UTC
    return Table(
        COLUMNS,
        [
            (3, None, None, None, None, None),
            (2, "Farmácia Popular", Decimal("99.990000000"), 0.3333333333333333 + 1e-17, dt.datetime(2026, 6, 29, 23, 59, tzinfo=utc), False),
            (1, "Drogaria São João", Decimal("10.500000000"), 0.1, dt.datetime(2026, 6, 30, 9, tzinfo=dt.timezone(dt.timedelta(hours=-3))), True),
        ],
    )  # fmt: skip


@pytest.mark.parametrize("key", [("order_id",), ()])
def test_equal_content_from_two_engines_compares_equal(key):
    assert compare_tables("fact", _reference(), _as_bigquery_returns_it(), key) == []


def _plant(change) -> Table:
    candidate = _as_bigquery_returns_it()
    rows = [list(r) for r in candidate.rows]
    change(rows)
    return Table(candidate.columns, [tuple(r) for r in rows])


@pytest.mark.parametrize("key", [("order_id",), ()])
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda rows: rows[1].__setitem__(2, Decimal("99.98")), "total"),  # a changed decimal
        (lambda rows: rows[1].__setitem__(2, Decimal("99.9900001")), "total"),  # beyond the scale
        (lambda rows: rows[1].__setitem__(2, 99.99), "total"),  # money came back as FLOAT64
        (lambda rows: rows[1].__setitem__(3, 0.3334), "margin_ratio"),  # a float beyond tolerance
        (lambda rows: rows[2].__setitem__(4, dt.datetime(2026, 6, 30, 9)), "ordered_at"),  # not UTC
        (lambda rows: rows[0].__setitem__(1, ""), "customer_name"),  # NULL became empty
        (lambda rows: rows[2].__setitem__(5, 1), "is_paid"),  # bool became int
        (lambda rows: rows.pop(0), "rows"),  # a missing row
        (lambda rows: rows.append([4, "x", Decimal(1), 1.0, None, True]), "rows"),  # an extra row
    ],
)
def test_a_planted_divergence_is_reported(key, change, expected):
    problems = compare_tables("fact", _reference(), _plant(change), key)
    assert problems, "the divergence went unnoticed"
    assert any(expected in p for p in problems), problems


def test_missing_and_extra_rows_are_named_by_key():
    problems = compare_tables(
        "fact",
        _reference(),
        _plant(lambda rows: rows.__setitem__(0, [7, None, None, None, None, None])),
        ("order_id",),
    )
    assert "fact: row {'order_id': 3} missing" in problems
    assert "fact: row {'order_id': 7} extra" in problems


def test_an_extra_column_is_reported():
    reference = _reference()
    candidate = Table((*COLUMNS, "_loaded_at"), [(*r, None) for r in _as_bigquery_returns_it().rows])
    [problem] = compare_tables("fact", reference, candidate, ("order_id",))
    assert "extra ['_loaded_at']" in problem


def test_column_order_matters():
    reference = Table(("a", "b"), [(1, 2)])
    candidate = Table(("b", "a"), [(2, 1)])
    assert "other order" in compare_tables("t", reference, candidate)[0]


def test_a_duplicated_key_is_reported():
    reference = Table(("id", "v"), [(1, 1), (2, 2)])
    candidate = Table(("id", "v"), [(1, 1), (1, 1)])
    problems = compare_tables("t", reference, candidate, ("id",))
    assert any("not unique" in p for p in problems)
    assert any("{'id': 2} missing" in p for p in problems)


def test_a_tolerance_applies_to_its_column_only():
    reference = Table(("id", "rate", "total"), [(1, Decimal("0.2677"), Decimal("10.50"))])
    rounded = Table(("id", "rate", "total"), [(1, Decimal("0.268"), Decimal("10.50"))])
    assert compare_tables("t", reference, rounded, ("id",), {"rate": Decimal("0.0005")}) == []
    assert compare_tables("t", reference, rounded, ("id",), {"total": Decimal("0.0005")})
    too_far = Table(("id", "rate", "total"), [(1, Decimal("0.269"), Decimal("10.50"))])
    assert compare_tables("t", reference, too_far, ("id",), {"rate": Decimal("0.0005")})
