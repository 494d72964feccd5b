"""Binlog change data capture apply throughput: our drain of MariaDB's row-based binlog into raw
against ``mariadb-binlog`` reading the same events from the server to /dev/null, side by side.

A MariaDB of the benchmark's own with ``log_bin`` and ``binlog_format=ROW``
(``orchestration.demo.binlog_mariadb``: the machine's server stays as it is). Each repeat gets a
fresh database: our drain snapshots the table into DuckDB (recording the binlog position of its
snapshot), the changes are written (inserts, then one update of each inserted row, in
transactions of ``TRANSACTION_ROWS``), and both read them, in alternating order: our drain
(``orchestration/cdc/binlog_sync.py``: python-mysql-replication decodes the row events, each
batch is landed and published with its end position in one DuckDB transaction) and
``mariadb-binlog --read-from-remote-server --verbose`` (C: the same replication protocol, row
events decoded into pseudo-SQL, written to /dev/null) between the same two positions. The
drain's raw rows are checked against what was written (count, ``sum(total)``, ``sum(id)``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from benchmarks.cdc import SOURCES, TABLE, TRANSACTION_ROWS
from benchmarks.measure import run_worker
from benchmarks.results import CdcResult, PathSummary

# What the workers are told (environment): the snapshot's warehouse, the sources file, and the
# floor's binlog file and start and stop offsets.
WAREHOUSE_ENV, SOURCES_ENV = "BENCHMARK_CDC_WAREHOUSE", "BENCHMARK_CDC_SOURCES"
BINLOG_FILE_ENV, START_ENV, STOP_ENV = (
    "BENCHMARK_BINLOG_FILE",
    "BENCHMARK_BINLOG_START",
    "BENCHMARK_BINLOG_STOP",
)

CREATE = f"""
create table {TABLE} (
    id bigint primary key,
    status varchar(20) not null,
    total decimal(12, 2) not null,
    updated_at datetime(6) not null default current_timestamp(6)
)
"""


def _write_changes(engine: sa.Engine, inserted: int) -> tuple[int, Decimal, int]:
    """Insert ``inserted`` rows, then update each once; the change rows' (count, sum(total),
    sum(id)) as raw must hold them."""
    insert = (
        f"insert into {TABLE} (id, status, total) select seq, 'pending', (seq % 1000) + 0.25 "
        "from seq_1_to_{high} where seq >= {low}"
    )
    update = f"update {TABLE} set status = 'confirmed', total = total + 1 where id between :low and :high"
    for low in range(1, inserted + 1, TRANSACTION_ROWS):
        high = min(inserted, low + TRANSACTION_ROWS - 1)
        with engine.begin() as conn:  # MariaDB's sequence engine: seq_1_to_N
            conn.execute(sa.text(insert.format(high=high, low=low)))
    for low in range(1, inserted + 1, TRANSACTION_ROWS):
        with engine.begin() as conn:
            conn.execute(sa.text(update), {"low": low, "high": min(inserted, low + TRANSACTION_ROWS - 1)})
    ids = range(1, inserted + 1)
    total = sum(Decimal(i % 1000) + Decimal("0.25") for i in ids) * 2 + inserted
    return 2 * inserted, total, 2 * sum(ids)


def _prepare(url: str, work_dir: Path, inserted: int) -> tuple[dict[str, str], tuple[int, Decimal, int]]:
    from orchestration.cdc import mariadb_binlog
    from orchestration.cdc.sync import sync_table
    from orchestration.sources import load_sources
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(CREATE))
            conn.execute(sa.text(f"insert into {TABLE} (id, status, total) values (0, 'seed', 0)"))
        sources_path = work_dir / "sources.yml"
        sources_path.write_text(SOURCES)
        warehouse_path = work_dir / "raw.duckdb"
        outcome = sync_table(
            engine, DuckDBWarehouse(warehouse_path), load_sources(sources_path), TABLE, raw_schema="raw_ops",
            landing_dir=work_dir / "landing", batch_id="snapshot",
        )  # fmt: skip
        assert outcome.snapshot is not None
        with engine.connect() as conn:
            start = mariadb_binlog.current_position(conn)
        expected = _write_changes(engine, inserted)
        with engine.connect() as conn:
            stop = mariadb_binlog.current_position(conn)
    finally:
        engine.dispose()
    if stop.file != start.file:
        raise RuntimeError(
            f"the binlog rotated during the benchmark ({start} to {stop}): write fewer changes"
        )
    env = {
        **os.environ,
        WAREHOUSE_ENV: str(warehouse_path),
        SOURCES_ENV: str(sources_path),
        BINLOG_FILE_ENV: start.file,
        START_ENV: str(start.offset),
        STOP_ENV: str(stop.offset),
    }
    return env, expected


def measure_cdc_mariadb(changes: int, repeats: int, log: Callable[[str], None]) -> CdcResult:
    from orchestration.demo.binlog_mariadb import binlog_mariadb, database_on

    inserted = max(1, changes // 2)
    root = Path(tempfile.mkdtemp(prefix="bench-cdc-mariadb-"))
    ours = PathSummary("cdc_drain_mariadb", [], 2 * inserted, None, None)
    floor = PathSummary("cdc_mariadb_binlog", [], None, None, None)
    log(f"[cdc] mariadb with a row-based binlog, {2 * inserted:,} changes per repeat")
    try:
        with binlog_mariadb() as admin_url:
            for repeat in range(repeats):
                work_dir = root / f"repeat{repeat}"
                work_dir.mkdir()
                with database_on(admin_url) as url:
                    env, (rows, total, ids) = _prepare(url, work_dir, inserted)
                    ours.expected_sum_total, ours.expected_sum_id = f"{total:.2f}", ids
                    order = [("cdc_drain_mariadb", ours), ("cdc_mariadb_binlog", floor)]
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
