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
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from benchmarks.cdc import TABLE, TRANSACTION_ROWS, expected_changes, measure_apply, snapshot_table
from benchmarks.results import CdcResult

# What the floor's worker is told (environment): the binlog file, the start and stop offsets.
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
    return expected_changes(inserted)


def _prepare(url: str, work_dir: Path, inserted: int) -> tuple[dict[str, str], tuple[int, Decimal, int]]:
    from orchestration.cdc import mariadb_binlog

    engine = sa.create_engine(url)
    try:
        snapshot_env = snapshot_table(engine, work_dir, CREATE)
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
        **snapshot_env,
        BINLOG_FILE_ENV: start.file,
        START_ENV: str(start.offset),
        STOP_ENV: str(stop.offset),
    }
    return env, expected


def measure_cdc_mariadb(changes: int, repeats: int, log: Callable[[str], None]) -> CdcResult:
    from orchestration.demo.binlog_mariadb import binlog_mariadb, database_on

    log(f"[cdc] mariadb with a row-based binlog, {2 * max(1, changes // 2):,} changes per repeat")
    return measure_apply(
        lambda _root: binlog_mariadb(),
        database_on,
        _prepare,
        ("cdc_drain_mariadb", "cdc_mariadb_binlog"),
        changes,
        repeats,
        log,
    )
