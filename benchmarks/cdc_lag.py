"""Change data capture end-to-end lag: commit at the source to visible in raw, under a steady
write load, with the drain on its production interval.

A writer process commits ``rate`` inserts per second (ten transactions a second) for
``seconds``; this process drains the slot every ``drain_interval`` seconds, as the
``cdc_drain`` schedule does, and records its own RSS after each drain (memory must stay flat).
A change's lag is its raw row's ``_loaded_at`` (the publish transaction) minus its
``_cdc_committed_at`` (the source's commit): both clocks are this machine's.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import sqlalchemy as sa

from benchmarks import cdc
from benchmarks.results import CdcLagResult

TICKS_PER_SECOND = 10


def _write(url: str, rate: int, seconds: float, done) -> None:
    """Commit ``rate`` rows a second in ``TICKS_PER_SECOND`` transactions, on schedule."""
    engine = sa.create_engine(url)
    per_tick, next_id, tick = max(1, rate // TICKS_PER_SECOND), 1, 1 / TICKS_PER_SECOND
    started = time.monotonic()
    insert = sa.text(
        f"insert into {cdc.TABLE} (id, status, total) "
        "select i, 'pending', 1.50 from generate_series(cast(:low as bigint), cast(:high as bigint)) as i"
    )
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            with engine.begin() as conn:
                conn.execute(insert, {"low": next_id, "high": next_id + per_tick - 1})
            next_id += per_tick
            time.sleep(max(0.0, tick - (time.monotonic() - started - elapsed)))
    finally:
        engine.dispose()
        done.set()


def measure_cdc_lag(
    rate: int, seconds: float, drain_interval: float, log: Callable[[str], None]
) -> CdcLagResult:
    import duckdb

    from orchestration.cdc.sync import sync_table
    from orchestration.demo.logical_postgres import logical_postgres, scratch_database
    from orchestration.sources import load_sources
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    root = Path(tempfile.mkdtemp(prefix="bench-cdc-lag-"))
    log(f"[cdc lag] {rate:,} changes/s for {seconds:.0f} s, a drain every {drain_interval:.0f} s")
    process = psutil.Process()
    rss: list[float] = []
    try:
        with logical_postgres(root / "pgdata") as admin_url, scratch_database(admin_url, "bench_cdc_") as url:
            engine = sa.create_engine(url)
            with engine.begin() as conn:
                conn.execute(sa.text(cdc.CREATE))
            sources_path = root / "sources.yml"
            sources_path.write_text(cdc.SOURCES)
            warehouse = DuckDBWarehouse(root / "raw.duckdb")
            sources = load_sources(sources_path)

            def drain(run: str) -> None:
                sync_table(
                    engine, warehouse, sources, cdc.TABLE, raw_schema="raw_ops", landing_dir=root / "landing",
                    batch_id=run, slot_prefix=cdc.SLOT_PREFIX,
                )  # fmt: skip
                rss.append(process.memory_info().rss / 2**20)

            drain("snapshot")
            spawn = multiprocessing.get_context("spawn")  # a fresh interpreter, no inherited connections
            done = spawn.Event()
            writer = spawn.Process(target=_write, args=(url, rate, seconds, done))
            writer.start()
            runs = 0
            while not done.is_set():
                done.wait(drain_interval)
                runs += 1
                drain(f"drain-{runs}")
                log(f"  drain {runs}: RSS {rss[-1]:,.0f} MB")
            writer.join()
            drain("final")
            with engine.connect() as conn:
                written = conn.execute(sa.text(f"select count(*) from {cdc.TABLE}")).scalar_one()
            engine.dispose()
        with duckdb.connect(str(root / "raw.duckdb"), read_only=True) as con:
            changes, p50, p95, worst = con.execute(
                "select count(*), quantile_cont(lag, 0.5), quantile_cont(lag, 0.95), max(lag) from ("
                "select epoch(_loaded_at) - epoch(_cdc_committed_at) as lag "
                f"from raw_ops.{cdc.TABLE} where _cdc_operation = 'insert')"
            ).fetchone()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return CdcLagResult(
        rate=rate,
        seconds=seconds,
        drain_interval_s=drain_interval,
        changes=int(changes),
        written=int(written),
        p50_s=float(p50),
        p95_s=float(p95),
        max_s=float(worst),
        rss_mb=rss,
    )
