"""The committed changes ``make demo-cdc`` makes at its PostgreSQL source once the pipeline
has run: an order walked through its remaining statuses, a stock position picked from and
restocked, and another position removed, each its own transaction, as the operational
system would commit them. What was done is returned, for the report and the tests to
compare with what change data capture shows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.common import ORDER_STAGES

# Each a committed transaction on one inventory position: picked for shipping, then restocked.
STOCK_CHANGES = (-12, 40)

_NOW = sa.text("(clock_timestamp() at time zone 'utc')")


@dataclass(frozen=True)
class SourceChanges:
    order_id: int
    statuses: tuple[str, ...]  # the order's status before, then each one committed after it
    inventory_id: int
    stock_changes: tuple[int, ...]  # quantity_available, one transaction each
    removed_inventory_id: int


def make_changes(url: str) -> SourceChanges:
    engine = sa.create_engine(url)
    try:
        order_id, first = _open_order(engine)
        later = ORDER_STAGES[ORDER_STAGES.index(first) + 1 :]
        for status in later:
            with engine.begin() as conn:
                conn.execute(
                    schema.orders.update()
                    .where(schema.orders.c.id == order_id)
                    .values(status=status, updated_at=_NOW)
                )
        inventory_id, removed_id = _two_positions(engine)
        inventory = schema.inventory
        for change in STOCK_CHANGES:
            with engine.begin() as conn:
                conn.execute(
                    inventory.update()
                    .where(inventory.c.id == inventory_id)
                    .values(quantity_available=inventory.c.quantity_available + change, last_updated=_NOW)
                )
        with engine.begin() as conn:
            conn.execute(inventory.delete().where(inventory.c.id == removed_id))
    finally:
        engine.dispose()
    return SourceChanges(order_id, (first, *later), inventory_id, STOCK_CHANGES, removed_id)


def _open_order(engine: sa.Engine) -> tuple[int, str]:
    """The newest pending order (else the newest not yet delivered nor cancelled), and its status."""
    orders = schema.orders
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(orders.c.id, orders.c.status)
            .where(orders.c.status.in_(ORDER_STAGES[:-1]))
            .order_by(orders.c.status != "pending", orders.c.order_date.desc(), orders.c.id.desc())
            .limit(1)
        ).one_or_none()
    if row is None:
        raise RuntimeError(f"orders: no order in status {', '.join(ORDER_STAGES[:-1])} to move along")
    return int(row.id), str(row.status)


def _two_positions(engine: sa.Engine) -> tuple[int, int]:
    """The position with the most stock available (enough for the pick) and the lowest id
    among the others (to remove)."""
    inventory = schema.inventory
    with engine.connect() as conn:
        changed = conn.execute(
            sa.select(inventory.c.id)
            .where(inventory.c.quantity_available >= -min(STOCK_CHANGES))
            .order_by(inventory.c.quantity_available.desc(), inventory.c.id)
            .limit(1)
        ).scalar_one_or_none()
        if changed is None:
            raise RuntimeError(f"inventory: no position with {-min(STOCK_CHANGES)} units available to pick")
        removed = conn.execute(
            sa.select(sa.func.min(inventory.c.id)).where(inventory.c.id != changed)
        ).scalar_one()
    return int(changed), int(removed)
