"""One history size of the whole pipeline, in its own process: full build, advance a day,
incremental, then the hourly job again with nothing new (dbt skipped).

    python -m benchmarks.pipeline_worker <ops url> <work dir>

The Dagster jobs are the ones the schedules run (``daily_full_build``, ``hourly_incremental``),
executed in process against a DuckDB file in ``work dir``; the dbt manifest must be prepared.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

AS_OF_DATE = "2026-07-01"


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Each step's wall time in the run (Dagster's own step stats): where the time went."""
    seconds = {
        stats.step_key: round(stats.end_time - stats.start_time, 2)
        for stats in instance.get_run_step_stats(run_id)
        if stats.start_time is not None and stats.end_time is not None
    }
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def _run(job: str) -> tuple[float, int, int, dict[str, float]]:
    import dagster as dg

    from orchestration.demo.run import run_pipeline
    from orchestration.settings import load_settings

    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    result = run_pipeline(load_settings(), job_name=job, as_of_date=AS_OF_DATE, instance=instance)
    seconds = time.perf_counter() - started
    if not result.success:
        failures = [str(e.message) for e in result.all_events if e.is_failure]
        raise RuntimeError(f"{job} failed:\n" + "\n".join(failures)[-4000:])
    checks = failed = 0
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            checks += 1
            failed += not event.event_specific_data.passed
    return seconds, checks, failed, step_seconds(instance, result.run_id)


def main() -> None:
    url, work_dir = sys.argv[1], Path(sys.argv[2])
    work_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        OPS_DATABASE_URL=url,
        DUCKDB_PATH=str(work_dir / "warehouse.duckdb"),
        WAREHOUSE="duckdb",
        PLATFORM_DATA_DIR=str(work_dir / "data"),
        GX_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    os.environ.pop("DAGSTER_HOME", None)
    from orchestration.demo.generator import advance

    full_s, full_checks, full_failed, _ = _run("daily_full_build")
    advanced = advance(url, days=1, seed=7)
    incr_s, incr_checks, incr_failed, incr_steps = _run("hourly_incremental")
    idle_s, _, idle_failed, idle_steps = _run("hourly_incremental")  # nothing new since: dbt is skipped
    import duckdb

    con = duckdb.connect(str(work_dir / "warehouse.duckdb"), read_only=True)
    try:
        raw_items = con.execute("select count(*) from raw_ops.order_items").fetchone()[0]
        fact_rows = con.execute(
            "select count(*) from information_schema.tables where table_schema like '%marts%'"
        ).fetchone()[0]
    finally:
        con.close()
    payload = {
        "full_s": full_s,
        "incremental_s": incr_s,
        "idle_hourly_s": idle_s,
        "advance_s": advanced.seconds,
        "advanced_rows": sum(advanced.rows.values()) + sum(advanced.updated_rows.values()),
        "checks": full_checks + incr_checks,
        "checks_failed": full_failed + incr_failed + idle_failed,
        "raw_order_items": raw_items,
        "mart_tables": fact_rows,
        "incremental_steps": incr_steps,
        "idle_steps": idle_steps,
    }
    print("BENCHMARK-RESULT " + json.dumps(payload), flush=True)


if __name__ == "__main__":
    main()
