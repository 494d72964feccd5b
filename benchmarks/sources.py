"""Fresh operational databases filled by the demo generator, and their checksums."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "BENCHMARK_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get("BENCHMARK_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
DEMO_END = dt.datetime(2026, 6, 30, 12, 0, 0)  # fixed, so every run generates the same data
TABLE = "order_items"


@dataclass(frozen=True)
class SourceChecksum:
    rows: int
    sum_total: str
    sum_id: int
    csv_bytes: int | None = None


@dataclass(frozen=True)
class GeneratedSource:
    url: str
    dialect: str
    order_items: int
    orders: int
    generate_s: float
    checksum: SourceChecksum


def scale_for_items(order_items: int):
    """The demo scale with enough history for about ``order_items`` order lines."""
    from orchestration.demo.generator import Scale

    demo = Scale.demo()
    return demo.times(order_items / (demo.orders * demo.avg_items_per_order))


@contextlib.contextmanager
def fresh_database(dialect: str) -> Iterator[str]:
    """A new, empty database on the local server; dropped (forcibly) on exit."""
    admin_url = PG_ADMIN_URL if dialect == "postgresql" else MARIADB_ADMIN_URL
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        if dialect == "postgresql":
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if dialect == "postgresql":
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def source_checksum(url: str) -> SourceChecksum:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows, total, ids = conn.execute(
                sa.text(f"select count(*), sum(total), sum(id) from {TABLE}")
            ).one()
            csv_bytes = None
            if engine.dialect.name == "postgresql":
                # Analyse so the planner and the benchmarks see a settled table.
                conn.execute(sa.text(f"analyze {TABLE}"))
                conn.commit()
    finally:
        engine.dispose()
    return SourceChecksum(int(rows), f"{Decimal(total):.2f}", int(ids), csv_bytes)


def generate_source(url: str, scale, *, log=print) -> GeneratedSource:
    from orchestration.demo.generator import generate

    started = time.perf_counter()
    summary = generate(url, scale, seed=42, end=DEMO_END)
    seconds = time.perf_counter() - started
    checksum = source_checksum(url)
    log(
        f"  generated {summary.rows.get(TABLE, 0):,} order_items ({summary.rows.get('orders', 0):,} orders) "
        f"in {seconds:.1f} s"
    )
    return GeneratedSource(
        url=url,
        dialect=sa.make_url(url).get_backend_name(),
        order_items=summary.rows.get(TABLE, checksum.rows),
        orders=summary.rows.get("orders", 0),
        generate_s=seconds,
        checksum=checksum,
    )
