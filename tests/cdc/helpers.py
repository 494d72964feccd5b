"""Shared pieces of the CDC tests: a small source table, its sources file, raw read back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import sqlalchemy as sa

from orchestration.cdc.sync import CdcOutcome, sync_table
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

RAW = "raw_ops"

SOURCES = """tables:
  orders:
    description: Orders.
    primary_key: id
    cursor: updated_at
    mode: cdc
"""

CREATE = """
create table orders (
    id bigint primary key,
    status text not null,
    total numeric(12, 2),
    is_paid boolean,
    order_date date,
    notes text,
    updated_at timestamp not null default (now() at time zone 'utc')
)
"""


def make_source(url: str, rows: int = 5) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(CREATE))
        conn.execute(
            sa.text(
                "insert into orders (id, status, total, is_paid, order_date, notes) "
                "select i, 'pending', i * 10.5, i % 2 = 0, date '2026-01-01' + i, 'note ' || i "
                "from generate_series(1, :n) as i"
            ),
            {"n": rows},
        )
    return engine


def sources_file(tmp_path: Path, text: str = SOURCES) -> Path:
    # Named by content: load_sources caches by path.
    path = tmp_path / f"sources-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yml"
    path.write_text(text)
    return path


def sync(
    engine: sa.Engine,
    warehouse: DuckDBWarehouse,
    tmp_path: Path,
    run: str = "run",
    sources: str = SOURCES,
    **options,
) -> CdcOutcome:
    return sync_table(
        engine,
        warehouse,
        load_sources(sources_file(tmp_path, sources)),
        "orders",
        raw_schema=RAW,
        landing_dir=tmp_path / "landing",
        batch_id=run,
        slot_prefix=slot_prefix(engine),
        **options,
    )


def slot_prefix(engine: sa.Engine) -> str:
    return f"cdc_{engine.url.database}"


# The test's own oracle for "the latest live version per key" (what staging's latest_version
# macros compute in dbt): order by position; a key is gone when its newest version is a
# delete, or a truncate or a snapshot without it came after it (a snapshot is a full image).
LIVE_SQL = f"""
with ranked as (
    select *, row_number() over (partition by id order by _cdc_position desc) as rank
    from {RAW}.orders where id is not null
),
reset as (
    select max(_cdc_position) as position from {RAW}.orders where _cdc_operation in ('truncate', 'snapshot')
)
select id, status, total, is_paid, order_date, notes from ranked
where rank = 1 and _cdc_operation <> 'delete' and _cdc_position >= (select position from reset)
order by id
"""


def live_raw(warehouse_path: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return [tuple(r) for r in con.execute(LIVE_SQL).fetchall()]


def source_rows(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text("select id, status, total, is_paid, order_date, notes from orders order by id")
            )
        ]


def raw_versions(warehouse_path: Path, key: int | None = None) -> list[tuple]:
    where = "" if key is None else f"where id = {int(key)}"
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return [
            tuple(r)
            for r in con.execute(
                f"select id, status, _cdc_operation, _cdc_position from {RAW}.orders {where} order by _cdc_position, id"
            ).fetchall()
        ]
