"""Compare one table as two engines built it: same columns, same rows, same values.

Values are normalised before they are compared, so that only real differences count:

- decimals are compared exactly (``Decimal`` equality: 12.50 == 12.500000000, 12.50 != 12.51):
  the reference (DuckDB, contracts enforced) carries the declared scale, so a digit beyond
  it or a rounding at another scale is a difference;
- floats within a relative/absolute tolerance (engines sum in different orders);
- timestamps as UTC: a naive value is UTC by the project's convention, an aware one is
  converted;
- each column must hold the same kind of value on both sides (int, Decimal, float, str,
  bool, date, datetime): a money column that came back as FLOAT64 is a difference even
  when the numbers are close.

Rows are matched by the table's key when it has one (missing and extra keys are reported
by value), otherwise by position after sorting whole rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FLOAT_REL_TOL = 1e-9
FLOAT_ABS_TOL = 1e-9
MAX_REPORTED = 10


@dataclass(frozen=True)
class Table:
    """A table read into memory: column names in order, rows as tuples."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def normalise(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _utc(value)
    return value


def values_equal(reference: Any, candidate: Any) -> bool:
    reference, candidate = normalise(reference), normalise(candidate)
    if reference is None or candidate is None:
        return reference is None and candidate is None
    if isinstance(reference, bool) or isinstance(candidate, bool):
        return type(reference) is type(candidate) and reference == candidate
    if isinstance(reference, float) or isinstance(candidate, float):
        if not isinstance(reference, int | float | Decimal) or not isinstance(
            candidate, int | float | Decimal
        ):
            return False
        a, b = float(reference), float(candidate)
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=FLOAT_REL_TOL, abs_tol=FLOAT_ABS_TOL)
    if isinstance(reference, Decimal | int) and isinstance(candidate, Decimal | int):
        return Decimal(reference) == Decimal(candidate)
    if type(reference) is not type(candidate) and not (
        isinstance(reference, dt.date) and isinstance(candidate, dt.date)
    ):
        return False
    return reference == candidate


def within(reference: Any, candidate: Any, tolerance: Decimal | None) -> bool:
    if tolerance is None or not isinstance(reference, Decimal) or not isinstance(candidate, Decimal):
        return False
    return abs(reference - candidate) <= tolerance


def _sort_key(row: Sequence[Any]) -> tuple:
    # None first, then by type name so mixed types never raise, then by value.
    return tuple(
        (v is not None, type(v).__name__, normalise(v)) if v is not None else (False, "", 0) for v in row
    )


def _kinds(rows: list[tuple[Any, ...]], position: int) -> set[str]:
    return {type(row[position]).__name__ for row in rows if row[position] is not None}


def compare_tables(
    name: str,
    reference: Table,
    candidate: Table,
    key: Sequence[str] = (),
    tolerances: Mapping[str, Decimal] | None = None,
) -> list[str]:
    """Every difference between two builds of one table, as readable lines; [] if equal.

    ``tolerances`` (column -> absolute tolerance) relaxes exact decimal equality for named
    columns only: for a documented engine gap, never as a default.
    """
    tolerances = tolerances or {}
    if reference.columns != candidate.columns:
        missing = [c for c in reference.columns if c not in candidate.columns]
        extra = [c for c in candidate.columns if c not in reference.columns]
        detail = f"missing {missing}, extra {extra}" if missing or extra else "same names, other order"
        return [f"{name}: columns differ ({detail}): {reference.columns} vs {candidate.columns}"]
    problems: list[str] = []
    if len(reference.rows) != len(candidate.rows):
        problems.append(f"{name}: {len(reference.rows)} rows vs {len(candidate.rows)} rows")
    columns = reference.columns
    for i, column in enumerate(columns):
        ref_kinds, cand_kinds = _kinds(reference.rows, i), _kinds(candidate.rows, i)
        if ref_kinds and cand_kinds and ref_kinds != cand_kinds:
            problems.append(f"{name}: column {column} holds {sorted(ref_kinds)} vs {sorted(cand_kinds)}")

    def differences(label: str, ref_row: Sequence[Any], cand_row: Sequence[Any]) -> list[str]:
        return [
            f"{name} {label}: {col} = {ref!r} vs {cand!r}"
            for col, ref, cand in zip(columns, ref_row, cand_row, strict=True)
            if not values_equal(ref, cand) and not within(ref, cand, tolerances.get(col))
        ]

    if key:
        positions = [columns.index(k) for k in key]

        def keyed(table: Table) -> dict[tuple, tuple]:
            out: dict[tuple, tuple] = {}
            for row in table.rows:
                k = tuple(normalise(row[i]) for i in positions)
                if k in out:
                    problems.append(f"{name}: key {dict(zip(key, k, strict=True))} is not unique")
                out[k] = row
            return out

        ref_rows, cand_rows = keyed(reference), keyed(candidate)
        missing = sorted(set(ref_rows) - set(cand_rows), key=_sort_key)
        extra = sorted(set(cand_rows) - set(ref_rows), key=_sort_key)
        problems += [f"{name}: row {dict(zip(key, k, strict=True))} missing" for k in missing[:MAX_REPORTED]]
        problems += [f"{name}: row {dict(zip(key, k, strict=True))} extra" for k in extra[:MAX_REPORTED]]
        for k in sorted(set(ref_rows) & set(cand_rows), key=_sort_key):
            problems += differences(str(dict(zip(key, k, strict=True))), ref_rows[k], cand_rows[k])
    elif not problems:
        for i, (ref_row, cand_row) in enumerate(
            zip(sorted(reference.rows, key=_sort_key), sorted(candidate.rows, key=_sort_key), strict=True)
        ):
            problems += differences(f"sorted row {i}", ref_row, cand_row)
    if len(problems) > 3 * MAX_REPORTED:
        problems = [*problems[: 3 * MAX_REPORTED], f"{name}: ... {len(problems) - 3 * MAX_REPORTED} more"]
    return problems
