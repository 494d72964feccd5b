"""SIGKILL the binlog drain inside and right after its warehouse commits; the next run
publishes every change exactly once.

The drain runs in a forked child that kills itself right before or after its N-th warehouse
statement (inside the publish transaction, after the ledger row, after the commit) or right
after a publish returned (the warehouse committed, the run recorded nothing else: its read
position, its outcome). After each kill raw holds no change twice; after the next clean run
raw's live rows equal the source and every change made at the source is in raw exactly once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import RAW, live_raw, sync
from tests.cdc.test_mariadb_cdc import make_source, source_rows

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

KILLS = [("statement", 3), ("statement", 12), ("statement", 17), ("published", 1), ("published", 2)]
MAX_CHANGES = 4  # several batches per run, so kills land between batches too


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _child(url: str, warehouse_path: str, tmp: str, where: str, n: int) -> None:
    from orchestration.cdc import binlog_sync

    calls = {"statement": 0, "published": 0}
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
        publish = binlog_sync.publish_changes

        def published(*args, **kwargs):
            out = publish(*args, **kwargs)
            calls["published"] += 1
            if calls["published"] == n:
                _die()  # the warehouse committed; nothing after it ran
            return out

        binlog_sync.publish_changes = published
    engine = sa.create_engine(url)
    sync(
        engine, DuckDBWarehouse(warehouse_path), Path(tmp), run=f"killed-{where}-{n}", max_changes=MAX_CHANGES
    )


def _change_source(engine: sa.Engine, round_no: int) -> int:
    """Three transactions of inserts, updates and deletes; returns how many row changes they made."""
    base = 100 * (round_no + 1)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"insert into orders (id, status) values ({base + 1}, 'new'), ({base + 2}, 'new'), ({base + 3}, 'new')"
            )
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
            f"select count(*) - count(distinct (id, _cdc_operation, _cdc_position)) from {RAW}.orders"
        ).fetchone()[0]


def _changes_in_raw(warehouse_path: Path) -> int:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        return con.execute(
            f"select count(*) from {RAW}.orders where _cdc_operation <> 'snapshot'"
        ).fetchone()[0]


def test_sigkill_in_and_after_the_warehouse_commit_loses_nothing_and_doubles_nothing(
    cdc_mariadb_url, tmp_path
):
    engine = make_source(cdc_mariadb_url, rows=3)
    warehouse_path = tmp_path / "warehouse.duckdb"
    warehouse = DuckDBWarehouse(warehouse_path)
    sync(engine, warehouse, tmp_path, run="snapshot")
    made = killed = 0
    context = multiprocessing.get_context("fork")
    try:
        for round_no, (where, n) in enumerate(KILLS):
            made += _change_source(engine, round_no)
            child = context.Process(
                target=_child, args=(cdc_mariadb_url, str(warehouse_path), str(tmp_path), where, n)
            )
            child.start()
            child.join(60)
            assert child.exitcode in (0, -signal.SIGKILL), f"{where} {n}: exit {child.exitcode}"
            killed += child.exitcode == -signal.SIGKILL
            assert _doubled(warehouse_path) == 0, f"a change was published twice after a kill at {where} {n}"
            sync(engine, warehouse, tmp_path, run=f"clean-{round_no}", max_changes=MAX_CHANGES)
            assert _doubled(warehouse_path) == 0, f"after the clean run following {where} {n}"
            assert _changes_in_raw(warehouse_path) == made, f"a change was lost after a kill at {where} {n}"
            assert live_raw(warehouse_path) == source_rows(engine)
        assert killed == len(KILLS)  # every kill did happen
    finally:
        engine.dispose()
