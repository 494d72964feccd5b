"""Change data capture apply throughput: our drain of a replication slot into raw against
``pg_recvlogical`` decoding the same changes to /dev/null (the floor), side by side.

A PostgreSQL of the benchmark's own with ``wal_level=logical`` (``orchestration.demo.
logical_postgres``: the machine's server stays as it is). Each repeat gets a fresh database:
the table is snapshotted into DuckDB by our drain (which creates its slot and publication), a
second slot for the floor is created on the same publication, then the changes are written
(inserts, then one update of each inserted row, in transactions of ``TRANSACTION_ROWS``), and
both read the same changes, in alternating order. The drain publishes each peek in one
warehouse transaction and advances its slot after the commit, as production does; its raw
rows are checked against what was written (count, ``sum(total)``, ``sum(id)``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from benchmarks.measure import run_worker
from benchmarks.results import CdcResult, PathSummary

TABLE = "orders"
TRANSACTION_ROWS = 1_000
SLOT_PREFIX = "bench_cdc"
FLOOR_SLOT = "bench_cdc_floor"
# What the workers are told (environment): the warehouse the snapshot created, the sources
# file, the floor's slot, publication and end position.
WAREHOUSE_ENV, SOURCES_ENV = "BENCHMARK_CDC_WAREHOUSE", "BENCHMARK_CDC_SOURCES"
SLOT_ENV, PUBLICATION_ENV, END_ENV = (
    "BENCHMARK_CDC_SLOT",
    "BENCHMARK_CDC_PUBLICATION",
    "BENCHMARK_CDC_END_LSN",
)

SOURCES = f"""tables:
  {TABLE}:
    description: Orders (benchmark).
    primary_key: id
    cursor: updated_at
    mode: cdc
"""
CREATE = f"""
create table {TABLE} (
    id bigint primary key,
    status text not null,
    total numeric(12, 2) not null,
    updated_at timestamp not null default (now() at time zone 'utc')
)
"""


def _write_changes(engine: sa.Engine, inserted: int) -> tuple[int, Decimal, int]:
    """Insert ``inserted`` rows, then update each once; returns the change rows' (count,
    sum(total), sum(id)) as raw must hold them."""
    insert = (
        f"insert into {TABLE} (id, status, total) select i, 'pending', (i % 1000) + 0.25 "
        "from generate_series(cast(:low as bigint), cast(:high as bigint)) as i"
    )
    update = f"update {TABLE} set status = 'confirmed', total = total + 1 where id between :low and :high"
    for statement in (insert, update):
        for low in range(1, inserted + 1, TRANSACTION_ROWS):
            with engine.begin() as conn:
                conn.execute(
                    sa.text(statement), {"low": low, "high": min(inserted, low + TRANSACTION_ROWS - 1)}
                )
    return expected_changes(inserted)


def expected_changes(inserted: int) -> tuple[int, Decimal, int]:
    """What raw must hold after ``inserted`` inserts of ``(i % 1000) + 0.25`` and one update of
    each adding 1: the change rows' count, sum(total) and sum(id)."""
    ids = range(1, inserted + 1)
    total = sum(Decimal(i % 1000) + Decimal("0.25") for i in ids) * 2 + inserted
    return 2 * inserted, total, 2 * sum(ids)


def snapshot_table(engine: sa.Engine, work_dir: Path, create: str) -> dict[str, str]:
    """Create and seed the table with ``create``, then snapshot it into a DuckDB raw with our
    drain (on PostgreSQL that creates its slot and publication); the workers' environment."""
    from orchestration.cdc.sync import sync_table
    from orchestration.sources import load_sources
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    with engine.begin() as conn:
        conn.execute(sa.text(create))
        conn.execute(sa.text(f"insert into {TABLE} (id, status, total) values (0, 'seed', 0)"))
    sources_path = work_dir / "sources.yml"
    sources_path.write_text(SOURCES)
    warehouse_path = work_dir / "raw.duckdb"
    outcome = sync_table(
        engine, DuckDBWarehouse(warehouse_path), load_sources(sources_path), TABLE, raw_schema="raw_ops",
        landing_dir=work_dir / "landing", batch_id="snapshot", slot_prefix=SLOT_PREFIX,
    )  # fmt: skip
    assert outcome.snapshot is not None
    return {WAREHOUSE_ENV: str(warehouse_path), SOURCES_ENV: str(sources_path)}


def _prepare(url: str, work_dir: Path, inserted: int) -> tuple[dict[str, str], tuple[int, Decimal, int]]:
    """Snapshot the table with our drain (its slot), add the floor's slot, write the changes."""
    engine = sa.create_engine(url)
    try:
        snapshot_env = snapshot_table(engine, work_dir, CREATE)
        publication = f"{SLOT_PREFIX}_{TABLE}"
        with engine.begin() as conn:
            conn.execute(
                sa.text("select pg_create_logical_replication_slot(:s, 'pgoutput')"), {"s": FLOOR_SLOT}
            )
        expected = _write_changes(engine, inserted)
        with engine.connect() as conn:
            end = conn.execute(sa.text("select pg_current_wal_lsn()::text")).scalar_one()
    finally:
        engine.dispose()
    env = {
        **os.environ,
        **snapshot_env,
        SLOT_ENV: FLOOR_SLOT,
        PUBLICATION_ENV: publication,
        END_ENV: end,
    }
    return env, expected


def measure_cdc(changes: int, repeats: int, log: Callable[[str], None]) -> CdcResult:
    from orchestration.demo.logical_postgres import logical_postgres, scratch_database

    log(f"[cdc] postgresql with wal_level=logical, {2 * max(1, changes // 2):,} changes per repeat")
    return measure_apply(
        lambda root: logical_postgres(root / "pgdata"),
        lambda admin_url: scratch_database(admin_url, "bench_cdc_"),
        _prepare,
        ("cdc_drain", "cdc_recvlogical"),
        changes,
        repeats,
        log,
    )


def measure_apply(
    server: Callable[[Path], AbstractContextManager[str]],
    database: Callable[[str], AbstractContextManager[str]],
    prepare: Callable[[str, Path, int], tuple[dict[str, str], tuple[int, Decimal, int]]],
    paths: tuple[str, str],
    changes: int,
    repeats: int,
    log: Callable[[str], None],
) -> CdcResult:
    """Per repeat a fresh database on ``server`` (its admin URL) that ``prepare`` fills; then our
    drain and the floor (``paths``), in alternating order."""
    inserted = max(1, changes // 2)
    root = Path(tempfile.mkdtemp(prefix="bench-cdc-"))
    ours_path, floor_path = paths
    ours = PathSummary(ours_path, [], 2 * inserted, None, None)
    floor = PathSummary(floor_path, [], None, None, None)
    try:
        with server(root) as admin_url:
            for repeat in range(repeats):
                work_dir = root / f"repeat{repeat}"
                work_dir.mkdir()
                with database(admin_url) as url:
                    env, (rows, total, ids) = prepare(url, work_dir, inserted)
                    ours.expected_sum_total, ours.expected_sum_id = f"{total:.2f}", ids
                    order = [(ours_path, ours), (floor_path, floor)]
                    for path, summary in order if repeat % 2 == 0 else order[::-1]:
                        m = run_worker(path, url, env=env)
                        summary.runs.append(m)
                        log(
                            f"  [{repeat + 1}/{repeats}] {path:<18} {m.seconds:8.2f} s  "
                            f"{rows / m.seconds:10,.0f} changes/s  peak {m.peak_rss_mb:6.0f} MB"
                        )
                shutil.rmtree(work_dir, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return CdcResult(changes=2 * inserted, transaction_rows=TRANSACTION_ROWS, ours=ours, floor=floor)
