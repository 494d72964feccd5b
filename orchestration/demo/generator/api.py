"""The two entry points: fill an empty database with history, or advance one that holds it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.bulk import BulkWriter, bulk_load_mode
from orchestration.demo.generator.clock import AdvanceStep
from orchestration.demo.generator.common import max_timestamp, normalise_end, safe_url, to_dt
from orchestration.demo.generator.scale import Scale
from orchestration.demo.generator.seed import Generation


@dataclass(frozen=True)
class GenerationSummary:
    url: str
    scale: Scale
    seed: int
    start: datetime
    end: datetime
    rows: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class AdvanceSummary:
    url: str
    seed: int
    previous_end: datetime  # the max timestamp before advancing: every change is strictly after it
    end: datetime
    inserted: dict[str, list[int]]
    updated: dict[str, list[int]]
    seconds: float
    rows: dict[str, int] = field(init=False)  # inserted rows per table
    updated_rows: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", {t: len(ids) for t, ids in self.inserted.items()})
        object.__setattr__(self, "updated_rows", {t: len(ids) for t, ids in self.updated.items()})


def generate(url: str, scale: Scale, *, seed: int = 42, end: datetime | None = None) -> GenerationSummary:
    """Create the schema if needed and fill an empty database with ``scale`` worth of history."""
    started = time.perf_counter()
    end = normalise_end(end)
    engine = sa.create_engine(url)
    try:
        schema.create_schema(engine)
        _refuse_if_not_empty(engine, url)
        gen = Generation(scale, seed, end)
        with engine.begin() as conn, bulk_load_mode(conn):
            writer = BulkWriter(conn)
            gen.write(writer)
        return GenerationSummary(
            url=safe_url(url),
            scale=scale,
            seed=seed,
            start=to_dt(gen.start_s),
            end=end,
            rows=dict(writer.rows),
            seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        engine.dispose()


def advance(url: str, *, days: int = 1, seed: int = 42) -> AdvanceSummary:
    """Move the data ``days`` forward from its latest timestamp: new rows and updates to old ones."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    started = time.perf_counter()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            previous = max_timestamp(conn)
            if previous is None:
                raise ValueError(f"{safe_url(url)} holds no demo data to advance: run generate() first")
            adv = AdvanceStep(conn, seed, previous, days)
            adv.run()
        return AdvanceSummary(
            url=safe_url(url),
            seed=seed,
            previous_end=previous,
            end=to_dt(adv.hi_s),
            inserted={t.name: adv.inserted.get(t.name, []) for t in schema.TABLES},
            updated={t.name: adv.updated.get(t.name, []) for t in schema.TABLES},
            seconds=round(time.perf_counter() - started, 2),
        )
    finally:
        engine.dispose()


def _refuse_if_not_empty(engine: sa.Engine, url: str) -> None:
    with engine.connect() as conn:
        for table in schema.TABLES:
            if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first():
                raise ValueError(
                    f"{safe_url(url)} already holds data (table {table.name!r} is not empty); "
                    "generate() only fills an empty database: drop it or use advance()"
                )
