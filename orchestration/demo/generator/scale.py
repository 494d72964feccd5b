"""How much demo data: master-data counts and how much history to generate."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Scale:
    customers: int
    products: int
    suppliers: int
    categories: int
    warehouses: int
    months: int
    orders: int
    avg_items_per_order: float
    interactions: int

    @classmethod
    def tiny(cls) -> Scale:
        return cls(60, 80, 8, 10, 3, 3, 600, 5.0, 300)

    @classmethod
    def demo(cls) -> Scale:
        return cls(2_000, 3_000, 40, 24, 5, 12, 100_000, 5.0, 30_000)

    @classmethod
    def named(cls, name: str) -> Scale:
        """``tiny``, ``demo``, or a number: the demo scale with that much history."""
        if name in ("tiny", "demo"):
            return getattr(cls, name)()
        try:
            factor = float(name)
        except ValueError:
            raise ValueError(f"unknown scale {name!r}: use tiny, demo or a multiplier of demo") from None
        return cls.demo().times(factor)

    def longer(self, factor: int) -> Scale:
        """``factor`` times the history at the same daily volume: months, orders and
        interactions grow together, so a day of new business is the same size at any factor."""
        if factor < 1:
            raise ValueError(f"history factor must be a whole number of at least 1, got {factor}")
        return replace(
            self,
            months=self.months * factor,
            orders=self.orders * factor,
            interactions=self.interactions * factor,
        )

    def times(self, factor: float) -> Scale:
        """The same master data with ``factor`` times the orders and interactions."""
        if factor <= 0:
            raise ValueError(f"scale factor must be positive, got {factor}")
        return replace(
            self,
            orders=max(1, round(self.orders * factor)),
            interactions=max(1, round(self.interactions * factor)),
        )
