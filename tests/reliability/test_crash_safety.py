"""SIGKILL the extraction at many points; a re-run always converges to exactly the source.

The extraction of all ten tables runs in a forked child process that the test kills
with SIGKILL, either after a random delay (spread over the measured duration of a
clean run) or from inside, right before or after its N-th warehouse statement, so
kills land inside the publish transaction too (after the insert, after the ledger
row, after the commit). After every kill the warehouse must hold no half batch, no
duplicate version and no high-water mark ahead of its data; after each round a clean
run must make raw equal to the source. The source moves forward (``advance``) between
rounds, so kills hit full loads and incremental loads alike.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from orchestration.demo.generator import Scale, advance, generate
from tests.reliability.helpers import (
    DEMO_END,
    Comparison,
    compare_raw_with_source,
    extract_all,
    warehouse_invariants,
)

ROUNDS = 3  # the initial full load, then two advance() steps
TIMED_KILLS_PER_ROUND = 7
STATEMENT_KILLS_PER_ROUND = 4
CHUNK_ROWS = 400  # many chunks per table, so kills also land mid-stream


def _child(
    ops_url: str, duckdb_path: str, landing: str, tag: str, kill_at: int | None, counter: str | None
) -> None:
    """Run the extraction; with kill_at, SIGKILL itself around the kill_at-th warehouse statement."""
    if kill_at is not None or counter is not None:
        _instrument_warehouse(kill_at, counter)
    extract_all(ops_url, Path(duckdb_path), Path(landing), tag, chunk_rows=CHUNK_ROWS)


def _instrument_warehouse(kill_at: int | None, counter: str | None) -> None:
    import contextlib

    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    calls = {"n": 0}
    original = DuckDBWarehouse.connect

    class _Conn:
        def __init__(self, con):
            self._con = con

        def execute(self, *args, **kwargs):
            calls["n"] += 1
            # Odd statement numbers die before the statement runs, even ones right after it.
            if kill_at is not None and calls["n"] == kill_at and kill_at % 2:
                os.kill(os.getpid(), signal.SIGKILL)
            out = self._con.execute(*args, **kwargs)
            if kill_at is not None and calls["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if counter:
                Path(counter).write_text(str(calls["n"]))
            return out

        def __getattr__(self, name):
            return getattr(self._con, name)

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False):
        with original(self, read_only=read_only) as con:
            yield _Conn(con)

    DuckDBWarehouse.connect = connect


def _run(ctx, args, *, kill_after: float | None = None) -> tuple[int, float]:
    started = time.perf_counter()
    proc = ctx.Process(target=_child, args=args)
    proc.start()
    if kill_after is not None:
        proc.join(kill_after)
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
    proc.join(120)
    assert proc.exitcode is not None, "extraction child hung"
    return proc.exitcode, time.perf_counter() - started


@pytest.mark.slow
def test_sigkill_at_any_point_then_rerun_converges_to_the_source(sqlite_url, tmp_path):
    rng = random.Random(20260630)
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    duckdb_path, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    ctx = multiprocessing.get_context("fork")
    kills = 0
    kills_in_publish = 0
    total = Comparison()
    started = time.perf_counter()
    for round_no in range(ROUNDS):
        # Measure a clean run on a copy: its duration and its number of warehouse statements.
        probe_db, counter = tmp_path / "probe.duckdb", tmp_path / "statements"
        if duckdb_path.exists():
            shutil.copy(duckdb_path, probe_db)
        code, duration = _run(
            ctx, (sqlite_url, str(probe_db), str(tmp_path / "probe_landing"), "probe", None, str(counter))
        )
        assert code == 0
        statements = int(counter.read_text())
        probe_db.unlink(missing_ok=True)

        # Statement kills at seeded positions; timed kills until enough have landed. A run
        # that finishes before its kill time becomes the new estimate of the run's length
        # (earlier kills leave less work), so later delays stay inside the run.
        plan = [("statement", rng.randint(1, statements)) for _ in range(STATEMENT_KILLS_PER_ROUND)]
        plan += [("time", None)] * TIMED_KILLS_PER_ROUND
        rng.shuffle(plan)
        landed_timed, attempts = 0, 0
        while plan:
            kind, at = plan.pop(0)
            attempts += 1
            tag = f"r{round_no}k{attempts}"
            if kind == "time":
                at = rng.uniform(0.02, 0.9 * duration)
                code, took = _run(
                    ctx, (sqlite_url, str(duckdb_path), str(landing), tag, None, None), kill_after=at
                )
                if code == 0:
                    duration = took
                    if attempts < 4 * (TIMED_KILLS_PER_ROUND + STATEMENT_KILLS_PER_ROUND):
                        plan.append(("time", None))  # finished first: try again with the shorter estimate
                else:
                    landed_timed += 1
            else:
                code, _ = _run(ctx, (sqlite_url, str(duckdb_path), str(landing), tag, at, None))
            if code == -signal.SIGKILL:
                kills += 1
                kills_in_publish += kind == "statement"
            problems = warehouse_invariants(duckdb_path)
            assert not problems, f"after kill {tag} ({kind} {at}): {problems}"

        code, _ = _run(ctx, (sqlite_url, str(duckdb_path), str(landing), f"r{round_no}done", None, None))
        assert code == 0, "the re-run after the kills failed"
        assert not warehouse_invariants(duckdb_path)
        leftovers = [p for p in landing.rglob("*") if p.is_file()]
        assert not leftovers, f"stale landing files after a clean run: {leftovers}"
        result = compare_raw_with_source(sqlite_url, duckdb_path)
        assert not result.differences, (
            f"round {round_no}: raw differs from the source: {result.differences[:10]}"
        )
        total.rows_compared += result.rows_compared
        if round_no < ROUNDS - 1:
            advance(sqlite_url, days=1, seed=100 + round_no)

    elapsed = time.perf_counter() - started
    print(
        f"\ncrash safety: {kills} SIGKILLs delivered ({kills_in_publish} at warehouse statements, "
        f"{kills - kills_in_publish} at random times) over {ROUNDS} source states; "
        f"{total.rows_compared} source rows compared, {len(total.differences)} differences; {elapsed:.1f} s"
    )
    assert kills >= 30, f"only {kills} kills landed; the run finished before the others"
