"""Each pharmacy's replenishment rhythm: a fixed reorder cycle and the regular lines it reorders.

A pharmacy places a regular order every ``reorder_days(id)`` days (4 to 28, a fixed function
of the customer id, like ``product_elasticity``, so tests and the demo can read it back) on the
epoch days where ``(day + reorder_offset(id)) % cycle == 0``. A slot may slip a day either way
(a fixed function of the customer and the day), and a slot on a closed day (a Saturday, a
holiday, an optional day such as Carnival) moves back to the last working day before it:
pharmacies stock up before the shop closes; a Sunday's waits for Monday. Each regular
order carries the customer's two regular lines (its staples), each with probability
``STAPLE_SHARE``; the other orders are ad-hoc top-ups with random lines.

Everything here is deterministic in the customer id and the day, so the seed (the whole
history) and the clock (a few days at a time) place the same customer's slots on the same
days: a step never loses or repeats a slot at its window's edges.
"""

from __future__ import annotations

import numpy as np

from orchestration.demo.generator.common import DAY, HOUR, calendar_weights

REORDER_DAYS_MIN, REORDER_DAYS_MAX = 4, 28
STAPLES = 2  # regular lines per customer
STAPLE_SHARE = 0.85  # chance that a regular order carries a given staple
WORKING_DAY_WEIGHT = 0.9  # a day of at least this calendar weight takes a regular order
MAX_SLIP = 5  # the longest run of closed days (Carnival's Saturday to Tuesday) plus a slip
STAPLE_CONSTANTS = (0.41421356237309503, 0.7320508075688772)  # sqrt(2) - 1, sqrt(3) - 1
SLOT_OPENS = 11 * HOUR  # a regular order is placed in business hours, 11:00-22:00 UTC


def _fraction(values: np.ndarray, constant: float) -> np.ndarray:
    return np.mod(np.asarray(values, dtype=np.float64) * constant, 1.0)


def reorder_days(customer_ids: np.ndarray) -> np.ndarray:
    """Each customer's reorder cycle in whole days, REORDER_DAYS_MIN to REORDER_DAYS_MAX."""
    span = REORDER_DAYS_MAX - REORDER_DAYS_MIN + 1
    return REORDER_DAYS_MIN + np.floor(span * _fraction(customer_ids, 0.7548776662466927)).astype(np.int64)


def reorder_offset(customer_ids: np.ndarray) -> np.ndarray:
    """Where each customer's cycle starts, 0 to cycle - 1."""
    return np.floor(reorder_days(customer_ids) * _fraction(customer_ids, 0.5698402909980532)).astype(np.int64)


def _slip(customer_ids: np.ndarray, days: np.ndarray) -> np.ndarray:
    """-1, 0 or +1 day: a fixed function of the customer and the slot (one slot in five each way)."""
    u = _fraction(np.asarray(customer_ids, dtype=np.float64) * 7.0 + days, 0.6180339887498949)
    return np.select([u < 0.2, u >= 0.8], [-1, 1], 0)


def regular_order_days(
    customer_ids: np.ndarray, first_day: np.ndarray, end_day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Regular orders of each customer (positions into ``customer_ids``) with the epoch day each
    lands on, for slots whose day falls in [first_day, end_day) after slipping and moving off
    closed days. Sorted by customer, then day."""
    ids = np.asarray(customer_ids, dtype=np.int64)
    cycle, offset = reorder_days(ids), reorder_offset(ids)
    # Slots from a few days either side of the window, so one that moves into it is kept.
    lo = np.asarray(first_day, dtype=np.int64) - 1 - MAX_SLIP
    hi = np.asarray(end_day, dtype=np.int64) + 1 + MAX_SLIP
    first_slot = lo + np.mod(-(lo + offset), cycle)
    count = np.maximum(0, -(-(hi - first_slot) // cycle))
    pos = np.repeat(np.arange(len(ids)), count)
    step = np.arange(len(pos)) - np.repeat(np.cumsum(count) - count, count)
    slot = first_slot[pos] + step * cycle[pos]
    day = slot + _slip(ids[pos], slot)
    # A Sunday's order waits for Monday; any other closed day's is placed the day before.
    direction = np.where((day + 3) % 7 == 6, 1, -1)
    for _ in range(MAX_SLIP):
        closed = calendar_weights(day) < WORKING_DAY_WEIGHT
        if not closed.any():
            break
        day = np.where(closed, day + direction, day)
    # Two slots moved onto one day (a slot either side of Easter) are one order.
    _, first = np.unique(pos * (1 << 32) + day, return_index=True)
    pos, day = pos[first], day[first]
    keep = (day >= np.asarray(first_day)[pos]) & (day < np.asarray(end_day)[pos])
    return pos[keep], day[keep]


def regular_order_times(rng: np.random.Generator, days: np.ndarray, lo_s: int, hi_s: int) -> np.ndarray:
    """Epoch seconds in business hours (11:00-22:00 UTC, 8:00-19:00 in Brasília) on ``days``,
    clamped to (lo_s, hi_s]."""
    t = days * DAY + SLOT_OPENS + rng.integers(0, 11 * HOUR, len(days))
    return np.clip(t, lo_s + 1, hi_s).astype(np.int64)


def staple_products(customer_ids: np.ndarray, sellable: np.ndarray) -> np.ndarray:
    """[n, STAPLES] positions into the catalogue (``sellable`` is its active mask, in product-id
    order) of each customer's regular lines: fixed functions of the customer id spread evenly
    over the catalogue, each moved on to the next sellable product not taken yet; -1 where the
    catalogue has fewer sellable products than STAPLES."""
    ids = np.asarray(customer_ids, dtype=np.int64)
    sellable = np.asarray(sellable, dtype=bool)
    staples = np.full((len(ids), STAPLES), -1, dtype=np.int64)
    n_products, n_sellable = len(sellable), int(sellable.sum())
    if n_sellable == 0:
        return staples
    # next_sellable[p]: the first sellable position at or after p, wrapping around.
    order = np.flatnonzero(sellable)
    next_sellable = order[np.searchsorted(order, np.arange(n_products)) % len(order)]
    rank = {int(p): k for k, p in enumerate(order.tolist())}
    for k, constant in enumerate(STAPLE_CONSTANTS[: min(STAPLES, n_sellable)]):
        pick = next_sellable[np.floor(n_products * _fraction(ids, constant)).astype(np.int64)]
        for j in range(k):
            clash = pick == staples[:, j]
            # the next sellable product after the one taken (the catalogue has k + 1 of them)
            pick[clash] = [order[(rank[int(p)] + 1) % len(order)] for p in pick[clash].tolist()]
        staples[:, k] = pick
    return staples
