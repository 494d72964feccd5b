"""The demo clock and what seeding and advancing share: constants, time conversion, sampling."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from orchestration.demo import schema

DAY = 86_400
HOUR = 3_600
NULL = np.iinfo(np.int64).min  # null marker in int64 columns (ids, epoch seconds, epoch days)
EPOCH = datetime(1970, 1, 1)
TIERS = schema.CUSTOMER_TIERS  # index 0..3; price column 0 = list price, 1..3 = silver/gold/platinum
ORDER_STAGES = ("pending", "confirmed", "processing", "shipped", "delivered")
ORDERS_PER_CHUNK = 40_000  # fixed, so output does not depend on where it is written
INTERACTIONS_PER_CHUNK = 200_000
FREE_SHIPPING_CENTS = 150_000
TAX_PERCENT = 12  # ICMS-like, on the net line value
# Demand is anchored at this multiple of unit cost: at a list price of 1.4 x cost a line's
# expected quantity is what it would be without price effects.
DEMAND_ANCHOR_MARKUP = 1.4


def product_elasticity(product_ids: np.ndarray) -> np.ndarray:
    """Each product's own-price elasticity of the quantity per order line, between -2.0 and
    -0.4: a fixed function of the product id (no random draw), so tests can read it back."""
    return -0.4 - 1.6 * np.mod(np.asarray(product_ids, dtype=np.float64) * 0.6180339887498949, 1.0)


def normalise_end(end: datetime | None) -> datetime:
    if end is None:
        return datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
    if end.tzinfo is not None:
        end = end.astimezone(UTC).replace(tzinfo=None)
    return end.replace(microsecond=0)


def safe_url(url: str) -> str:
    return sa.make_url(url).render_as_string(hide_password=True)


def to_s(value: datetime) -> int:
    return int((value - EPOCH).total_seconds())


def to_dt(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=int(seconds))


def date_to_day(value: date) -> int:
    return (value - EPOCH.date()).days


def max_timestamp(conn: sa.Connection) -> datetime | None:
    found = []
    existing = set(sa.inspect(conn).get_table_names())
    for table in schema.TABLES:
        if table.name not in existing:
            continue
        value = conn.execute(sa.select(sa.func.max(table.c[schema.cursor_column(table)]))).scalar()
        if value is not None:
            found.append(value)
    return max(found) if found else None


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_text.lower() if ch.isalnum())


def pick_from(
    rng: np.random.Generator, options: Sequence[Any], n: int, p: Sequence[float] | None = None
) -> list:
    idx = rng.choice(len(options), size=n, p=None if p is None else np.asarray(p) / np.sum(p))
    return [options[i] for i in idx.tolist()]


def round_cents(values: np.ndarray) -> np.ndarray:
    return np.rint(values).astype(np.int64)


# Brazil's national fixed-date holidays (month, day) and the movable days as offsets from Easter
# Sunday: Good Friday is national; Carnaval Monday and Tuesday and Corpus Christi are optional
# days on which much of the trade stops.
FIXED_HOLIDAYS = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25))
NATIONAL_EASTER_OFFSETS = (-2,)
OPTIONAL_EASTER_OFFSETS = (-48, -47, 60)
HOLIDAY_WEIGHT, OPTIONAL_HOLIDAY_WEIGHT, EVE_WEIGHT = 0.15, 0.5, 1.25


def easter_sunday(year: int) -> date:
    """The anonymous Gregorian algorithm."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * el) // 433
    month = (h + el - 7 * m + 90) // 25
    return date(year, month, (h + el - 7 * m + 33 * month + 19) % 32)


def holiday_days(first_day: int, last_day: int) -> tuple[set[int], set[int]]:
    """Epoch days of the national holidays and of the optional days between two epoch days."""
    national: set[int] = set()
    optional: set[int] = set()
    for year in range(to_dt(first_day * DAY).year, to_dt(last_day * DAY).year + 1):
        national |= {date_to_day(date(year, m, d)) for m, d in FIXED_HOLIDAYS}
        easter = date_to_day(easter_sunday(year))
        national |= {easter + k for k in NATIONAL_EASTER_OFFSETS}
        optional |= {easter + k for k in OPTIONAL_EASTER_OFFSETS}
    return national, optional - national


def calendar_weights(days: np.ndarray) -> np.ndarray:
    """Order intensity per epoch day from the calendar alone: weekdays heavier, holidays nearly
    idle, optional days half, and pharmacies stocking up the day before a holiday."""
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    by_weekday = np.array([1.1, 1.05, 1.0, 1.0, 0.95, 0.35, 0.08])[weekday]
    if len(days) == 0:
        return by_weekday
    national, optional = holiday_days(int(days.min()), int(days.max()) + 1)
    is_national = np.isin(days, np.fromiter(national, dtype=np.int64))
    is_optional = np.isin(days, np.fromiter(optional, dtype=np.int64))
    is_eve = np.isin(days + 1, np.fromiter(national, dtype=np.int64)) & ~is_national & ~is_optional
    calendar = np.select(
        [is_national, is_optional, is_eve], [HOLIDAY_WEIGHT, OPTIONAL_HOLIDAY_WEIGHT, EVE_WEIGHT], 1.0
    )
    return by_weekday * calendar


def _day_weights(days: np.ndarray) -> np.ndarray:
    """The calendar's weights with a mild winter (flu season) peak."""
    day_of_year = np.mod(days, 365.2425)
    season = 1.0 + 0.10 * np.cos(2 * np.pi * (day_of_year - 172) / 365.2425)
    return calendar_weights(days) * season


def sample_times(
    rng: np.random.Generator,
    lo_s: int,
    hi_s: int,
    n: int,
    *,
    row_lo: np.ndarray | None = None,
    row_hi: np.ndarray | None = None,
    growth: float = 0.0,
    business_share: float = 0.85,
) -> np.ndarray:
    """``n`` epoch seconds in (lo_s, hi_s], by day weight, mostly in Brazilian business hours.

    ``row_lo``/``row_hi`` restrict each row to day indices [row_lo, row_hi) of the window.
    """
    first_day, last_day = lo_s // DAY, (hi_s - 1) // DAY
    days = np.arange(first_day, last_day + 1)
    covered = (np.minimum((days + 1) * DAY, hi_s) - np.maximum(days * DAY, lo_s + 1)) / DAY
    weights = _day_weights(days) * np.clip(covered, 0, 1)
    if growth:
        weights = weights * (1 + growth * np.arange(len(days)) / max(1, len(days)))
    cdf = np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    lo = np.zeros(n, dtype=np.int64) if row_lo is None else row_lo
    hi = np.full(n, len(days), dtype=np.int64) if row_hi is None else row_hi
    u = cdf[lo] + rng.random(n) * (cdf[hi] - cdf[lo])
    idx = np.clip(np.searchsorted(cdf, u, side="right") - 1, lo, hi - 1)
    day_start = days[idx] * DAY
    business = rng.random(n) < business_share
    tod = np.where(business, 11 * HOUR + rng.integers(0, 11 * HOUR, n), rng.integers(0, DAY, n))
    t = day_start + tod
    window_lo = np.maximum(day_start, lo_s + 1)
    window_hi = np.minimum(day_start + DAY - 1, hi_s)
    outside = (t < window_lo) | (t > window_hi)
    span = np.maximum(window_hi - window_lo, 0)
    t = np.where(outside, window_lo + (rng.random(n) * (span + 1)).astype(np.int64), t)
    return np.minimum(t, window_hi).astype(np.int64)


def window_mass(lo_s: int, hi_s: int, growth: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Days of a window and the cumulative order intensity over them (for per-row windows)."""
    first_day, last_day = lo_s // DAY, (hi_s - 1) // DAY
    days = np.arange(first_day, last_day + 1)
    covered = (np.minimum((days + 1) * DAY, hi_s) - np.maximum(days * DAY, lo_s + 1)) / DAY
    weights = _day_weights(days) * np.clip(covered, 0, 1)
    if growth:
        weights = weights * (1 + growth * np.arange(len(days)) / max(1, len(days)))
    return days, np.concatenate([[0.0], np.cumsum(weights)])


@dataclass
class Customers:
    """What order and interaction generation needs to know about customers (index-aligned)."""

    ids: np.ndarray
    tier: np.ndarray  # 0..3
    terms_days: np.ndarray
    warehouse_id: np.ndarray
    distance: np.ndarray  # 0 same state as warehouse, 1 same region, 2 elsewhere
    address: list[str]
    staples: np.ndarray | None = None  # [n, STAPLES] product positions of the regular lines, -1 none


@dataclass
class PriceBook:
    """Prices in cents per product index: ``prices[p, period, column]``, periods split by change days."""

    product_ids: np.ndarray
    change_days: np.ndarray  # [P, K] epoch days, sorted, NULL-free: absent = a far-future day
    prices: np.ndarray  # [P, K + 1, 4]; column 0 list price, 1..3 silver/gold/platinum
    unit_cost: np.ndarray  # [P] cents: the anchor of the demand response

    def unit_price(self, product: np.ndarray, day: np.ndarray, tier: np.ndarray) -> np.ndarray:
        period = (self.change_days[product] <= day[:, None]).sum(axis=1)
        return self.prices[product, period, tier]  # tier 0 = bronze pays the list price

    def demand_multiplier(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        """(list price in force / anchor) ** elasticity: the factor on a line's expected quantity."""
        list_price = self.unit_price(product, day, np.zeros(len(product), dtype=np.int64))
        anchor = np.maximum(self.unit_cost[product] * DEMAND_ANCHOR_MARKUP, 1.0)
        return (list_price / anchor) ** product_elasticity(self.product_ids[product])
