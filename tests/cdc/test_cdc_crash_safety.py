"""SIGKILL the drain at many points; the next run publishes every change exactly once.

The drain runs in a forked child that kills itself right before or after its N-th warehouse
statement (so inside the publish transaction, after the ledger row, after the commit), right
after a peek (changes read, nothing published) or right before the slot's advance (the
warehouse has committed, the slot does not know). After every kill raw holds no change
twice; after the following clean run raw's live rows equal the source and every change made
at the source is in raw exactly once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import RAW, live_raw, make_source, slot_prefix, source_rows, sync

# (where, n): die at the n-th occurrence. Odd statement numbers die before the statement,
# even ones right after it.
KILLS = [
    ("statement", 3),
    ("statement", 8),
    ("statement", 13),
    ("statement", 16),
    ("statement", 21),
    ("peek", 2),
    ("advance", 1),
    ("advance", 2),
]
MAX_CHANGES = 4  # several batches per run, so kills land between batches too


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _child(url: str, warehouse_path: str, tmp: str, where: str, n: int) -> None:
    from orchestration.cdc import postgres_slot
    from orchestration.cdc import sync as sync_module

    calls = {"statement": 0, "peek": 0, "advance": 0}
    if where == "statement":
        original = DuckDBWarehouse.connect

        class _Conn:
            def __init__(self, con):
                self._con = con

            def execute(self, *args, **kwargs):
                calls["statement"] += 1
                if calls["statement"] == n and n % 2:
                    _die()
                out = self._con.execute(*args, **kwargs)
                if calls["statement"] == n:
                    _die()
                return out

            def __getattr__(self, name):
                return getattr(self._con, name)

        @contextlib.contextmanager
        def connect(self, *, read_only: bool = False):
            with original(self, read_only=read_only) as con:
                yield _Conn(con)

        DuckDBWarehouse.connect = connect
    else:
        original_fn = getattr(postgres_slot, f"{where}_slot" if where == "advance" else "peek_changes")

        def instrumented(*args, **kwargs):
            calls[where] += 1
            if where == "advance" and calls[where] == n:
                _die()  # the warehouse committed; the slot never hears of it
            out = original_fn(*args, **kwargs)
            if where == "peek" and calls[where] == n:
                _die()  # changes read, nothing published
            return out

        setattr(sync_module.slots, "advance_slot" if where == "advance" else "peek_changes", instrumented)
    engine = sa.create_engine(url)
    sync(
        engine, DuckDBWarehouse(warehouse_path), Path(tmp), run=f"killed-{where}-{n}", max_changes=MAX_CHANGES
    )


def _change_source(engine: sa.Engine, round_no: int) -> int:
    """Three transactions of inserts, updates and deletes; returns how many row changes they made."""
    base = 100 * (round_no + 1)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"insert into orders (id, status) select {base} + i, 'new' from generate_series(1, 3) i")
        )
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"update orders set status = 'r{round_no}' where id in ({base + 1}, {base + 2}, 1)")
        )
        conn.execute(sa.text(f"update orders set status = 'r{round_no}b' where id = {base + 1}"))
    with engine.begin() as conn:
        conn.execute(sa.text(f"delete from orders where id = {base + 3}"))
        conn.execute(sa.text(f"insert into orders (id, status) values ({base + 3}, 'again')"))
    return 3 + 3 + 1 + 2


def _doubled(warehouse_path: Path) -> int:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.execute(
            f"select count(*) - count(distinct (id, _cdc_position)) from {RAW}.orders where _cdc_position is not null"
        ).fetchone()[0]


def _changes_in_raw(warehouse_path: Path) -> int:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.execute(
            f"select count(*) from {RAW}.orders where _cdc_operation <> 'snapshot'"
        ).fetchone()[0]


def _wait_slot_released(engine: sa.Engine) -> None:
    # The killed child's backend ends when PostgreSQL notices the closed socket.
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while conn.execute(
            sa.text("select count(*) from pg_replication_slots where active and slot_name like :p"),
            {"p": f"{slot_prefix(engine)}%"},
        ).scalar_one():
            assert time.monotonic() < deadline, "the killed drain's slot stayed active"
            time.sleep(0.1)
            conn.rollback()


@pytest.mark.slow
def test_sigkill_anywhere_in_the_drain_loses_nothing_and_doubles_nothing(cdc_source_url, tmp_path):
    engine = make_source(cdc_source_url, rows=3)
    warehouse_path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(warehouse_path)
    sync(engine, warehouse, tmp_path, run="snapshot")
    made = 0
    killed = 0
    context = multiprocessing.get_context("fork")
    try:
        for round_no, (where, n) in enumerate(KILLS):
            made += _change_source(engine, round_no)
            child = context.Process(
                target=_child, args=(cdc_source_url, str(warehouse_path), str(tmp_path), where, n)
            )
            child.start()
            child.join(60)
            assert child.exitcode in (0, -signal.SIGKILL), f"{where} {n}: exit {child.exitcode}"
            killed += child.exitcode == -signal.SIGKILL
            assert _doubled(warehouse_path) == 0, f"a change was published twice after a kill at {where} {n}"
            _wait_slot_released(engine)
            sync(engine, warehouse, tmp_path, run=f"clean-{round_no}", max_changes=MAX_CHANGES)
            assert _doubled(warehouse_path) == 0, f"after the clean run following {where} {n}"
            assert _changes_in_raw(warehouse_path) == made, f"a change was lost after a kill at {where} {n}"
            assert live_raw(warehouse_path) == source_rows(engine)
        assert killed >= len(KILLS) - 1  # the kills did happen
    finally:
        engine.dispose()
