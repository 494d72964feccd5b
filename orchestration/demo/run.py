"""Run the whole platform once on the embedded default and print a summary of the marts.

``make demo`` calls this: the demo operational database (SQLite, generated on first
use), the local Marketo sandbox and the DuckDB warehouse, driven by the same Dagster
jobs the schedules run: ``marketo_daily`` alongside the operational extraction of
``daily_full_build``, then the rest of ``daily_full_build`` (see ``run_demo``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence

import dagster as dg

from orchestration.settings import DATA_DIR, Settings, SettingsError, default_ops_database_url, load_settings


@contextlib.contextmanager
def marketo_sandbox_for_demo(settings: Settings, *, end: dt.datetime | None = None) -> Iterator[None]:
    """Start the Marketo sandbox unless MARKETO_BASE_URL points at a real instance.

    ``end``: where the sandbox's data ends (default: now)."""
    if os.environ.get("MARKETO_BASE_URL"):
        yield
        return
    try:
        from orchestration.demo.marketo_sandbox.launch import sandbox_environment
    except ImportError:  # the Marketo source is optional for the operational pipeline
        yield
        return
    with sandbox_environment(settings, end=end):
        yield


def job_part(defs: dg.Definitions, job: dg.JobDefinition, part: str) -> list[dg.AssetKey]:
    """The asset keys of ``job`` in ``part``: ``sources`` (the operational extraction) or ``rest``."""
    from orchestration.assets.operational_db import GROUP as OPS_GROUP

    if part not in ("sources", "rest"):
        raise ValueError(f"part must be all, sources or rest, got {part!r}")
    job_keys = set(job.asset_layer.executable_asset_keys)
    sources = dg.AssetSelection.groups(OPS_GROUP).resolve(defs.resolve_asset_graph()) & job_keys
    return sorted(sources if part == "sources" else job_keys - sources)


def run_pipeline(
    settings: Settings,
    *,
    job_name: str = "daily_full_build",
    as_of_date: str | None = None,
    log_level: str = "INFO",
    part: str = "all",
    instance: dg.DagsterInstance | None = None,
    upstream_of: Sequence[dg.AssetKey] = (),
):
    """Execute a job in process. ``part``: ``all`` of it, only its ``sources`` (the operational
    extraction and its checks), or the ``rest`` (what a ``sources`` run left out).
    ``upstream_of``: only those assets of it and what they are built from (a test's shorter run)."""
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(job_name)
    selection = None if part == "all" else job_part(defs, job, part)
    if upstream_of:
        needed = dg.AssetSelection.assets(*upstream_of).upstream().resolve(defs.resolve_asset_graph())
        selection = sorted(needed & set(selection or job.asset_layer.executable_asset_keys))
    # The jobs' own dbt config (run_config replaces it): a full refresh daily, skip-if-unchanged hourly.
    dbt_config: dict[str, object] = {
        "full_refresh": job_name == "daily_full_build",
        "skip_when_unchanged": job_name == "hourly_incremental",
    }
    if as_of_date:
        dbt_config["as_of_date"] = as_of_date
    run_config: dict[str, object] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if job.graph.has_node_named("dbt_models"):  # not in cdc_drain, which only drains raw
        run_config["ops"] = {"dbt_models": {"config": dbt_config}}
    instance = instance or demo_instance()
    return job.execute_in_process(
        instance=instance, run_config=run_config, asset_selection=selection, raise_on_error=False
    )


@contextlib.contextmanager
def unsynced_run_history(instance_dir: str | None) -> Iterator[None]:
    """Dagster's SQLite files under ``instance_dir`` (DAGSTER_HOME) written without fsync meanwhile.

    Every Dagster event is its own SQLite transaction, synced twice (the commit, then the WAL
    checkpoint when its connection closes): a demo writes about 2,800 of them (a planned event
    and a result per dbt test, a materialization per Marketo activity day), and on a busy disk
    those syncs were a large part of its wall time. The same events are written; only their
    durability against an operating-system crash or power loss during the demo is given up
    (SQLite's ``synchronous = off``: a crash of the demo itself loses nothing; `make clean`
    resets a damaged history). The warehouse (DuckDB) and the operational database are other
    files and keep their settings.
    """
    if not instance_dir:
        yield
        return
    import sqlite3

    import sqlalchemy as sa

    root = os.path.join(os.path.realpath(instance_dir), "")

    def unsynced(dbapi_connection, _record) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        files = [row[2] for row in dbapi_connection.execute("pragma database_list")]
        if any(name and os.path.realpath(name).startswith(root) for name in files):
            dbapi_connection.execute("pragma synchronous = off")

    sa.event.listen(sa.pool.Pool, "connect", unsynced)
    try:
        yield
    finally:
        sa.event.remove(sa.pool.Pool, "connect", unsynced)


def demo_instance() -> dg.DagsterInstance:
    """The instance under DAGSTER_HOME (``make demo`` sets it), else an ephemeral one."""
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def run_demo(
    settings: Settings,
    *,
    job_name: str,
    as_of_date: str | None = None,
    log_level: str = "WARNING",
    timings: dict[str, float] | None = None,
    upstream_of: Sequence[dg.AssetKey] = (),
) -> tuple[dg.ExecuteInProcessResult | None, list[dg.ExecuteInProcessResult]]:
    """Marketo and the operational sources side by side, then the rest of the job.

    The Marketo extraction mostly waits on the API (its 100 calls / 20 s); the operational
    extraction and its suites keep the CPU busy. In production they are separate jobs too.
    dbt reads both, so the rest of the job (dbt build, mart checks) starts once both are in.
    Returns the Marketo run (None when Marketo is not configured) and the job's runs; each
    part's seconds go into ``timings``; ``upstream_of`` as in ``run_pipeline``.
    """
    timings = {} if timings is None else timings
    # One instance, made before the threads start: two threads creating the storage of a new
    # DAGSTER_HOME at once both wrote its schema version (alembic "more than one head").
    instance = demo_instance()
    from concurrent.futures import ThreadPoolExecutor

    def timed(label: str, fn, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            # Printed by the caller once the runs are over: Dagster captures the process's
            # output into a run's compute log while that run executes.
            timings[label] = time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="marketo") as pool:
        marketo_future = pool.submit(
            timed, "Marketo (marketo_daily)", extract_marketo_for_demo, settings, instance=instance
        )
        try:
            sources = timed(
                f"operational sources and their checks ({job_name})",
                run_pipeline,
                settings,
                job_name=job_name,
                as_of_date=as_of_date,
                log_level=log_level,
                part="sources",
                instance=instance,
                upstream_of=upstream_of,
            )
        finally:
            marketo = marketo_future.result()
    if not sources.success:
        return marketo, [sources]
    rest = timed(
        f"dbt build, marts and their checks ({job_name})",
        run_pipeline,
        settings,
        job_name=job_name,
        as_of_date=as_of_date,
        log_level=log_level,
        part="rest",
        instance=instance,
        upstream_of=upstream_of,
    )
    return marketo, [sources, rest]


def extract_marketo_for_demo(
    settings: Settings, *, days: int = 365, instance: dg.DagsterInstance | None = None
):
    """Marketo (the sandbox unless MARKETO_BASE_URL is set): leads, programs, types and the
    activities of the last ``days`` days in one run, before the main job builds the marts."""
    from orchestration.demo.marketo_extract import activity_days_range, extract_marketo, marketo_configured

    if not marketo_configured():
        return None
    first_day, last_day = activity_days_range(days)
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    return extract_marketo(settings, first_day, last_day, run_config=quiet, instance=instance)


def summarize(settings: Settings, result) -> str:
    """The marts, raw tables and checks after ``result`` (one run, or a list of runs)."""
    from orchestration.demo.signal import SIGNAL_MARTS, signal_lines
    from orchestration.resources.warehouse import WarehouseResource

    results = result if isinstance(result, list) else [result]
    checks = Counter()
    failed_checks: list[str] = []
    for event in (e for r in results for e in r.all_events):
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            # A failed WARN check (e.g. a suite not validated on this warehouse) blocks nothing:
            # count it apart so the summary does not call it a failure.
            outcome = (
                "passed"
                if evaluation.passed
                else "warned"
                if evaluation.severity == dg.AssetCheckSeverity.WARN
                else "failed"
            )
            checks[outcome] += 1
            if outcome != "passed":
                failed_checks.append(
                    f"{outcome.upper()} {evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
                )
    warehouse = WarehouseResource.from_settings(
        settings
    ).get()  # DuckDB file or BigQuery datasets, through the same calls
    marts, raw_ops = "marts", "raw_ops"
    lines = ["", f"Marts ({settings.warehouse})", "-----"]
    lines += [
        f"  {marts}.{table:<40} {warehouse.row_count(marts, table):>10,} rows"
        for table in warehouse.list_tables(marts)
    ]
    lines += ["", "Raw loads", "---------"]
    lines += [
        f"  {raw}.{table:<{45 - len(raw)}} {warehouse.row_count(raw, table):>10,} rows"
        for raw in (raw_ops, "raw_marketo")
        for table in warehouse.list_tables(raw)
        if not table.startswith("_")  # the load ledger, export state and staging tables
    ]
    if set(warehouse.list_tables(marts)) >= SIGNAL_MARTS:
        lines += signal_lines(warehouse.sql())
    warehouse.close()
    lines += ["", f"Checks: {checks['passed']} passed, {checks['failed']} failed, {checks['warned']} warned"]
    lines += [f"  {name}" for name in failed_checks]
    lines += [f"Run {'succeeded' if r.success else 'FAILED'}: {r.run_id}" for r in results]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--job", default="daily_full_build", choices=["daily_full_build", "hourly_incremental"]
    )
    parser.add_argument("--as-of-date", help="pin 'today' for the marts (YYYY-MM-DD)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        from orchestration.demo.database import ensure_demo_database
        from orchestration.resources.ops_database import connect_checked

        if settings.ops_database_url == default_ops_database_url():
            ensure_demo_database(settings.ops_database_url, "demo", log=None)
        connect_checked(settings.ops_database_url).dispose()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    log_path = DATA_DIR / "logs" / f"demo-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Running {args.job}; dbt output goes to {log_path}", flush=True)
    with (
        marketo_sandbox_for_demo(settings),
        unsynced_run_history(os.environ.get("DAGSTER_HOME")),
        open(log_path, "w") as log,
        contextlib.redirect_stdout(log),
    ):
        timings: dict[str, float] = {}
        marketo, results = run_demo(settings, job_name=args.job, as_of_date=args.as_of_date, timings=timings)
    # On stdout: under a persistent instance, Dagster's compute-log capture of the threaded
    # runs can leave stderr redirected into a run's log file.
    print("Parts")
    for label, seconds in timings.items():
        print(f"  {label}: {seconds:.1f} s", flush=True)
    if marketo is not None and not marketo.success:
        print(f"Marketo extraction FAILED (run {marketo.run_id}); the marts hold what raw_marketo had")
    print(summarize(settings, results))
    print(f"Pipeline wall time: {time.perf_counter() - started:.1f} s")
    succeeded = all(r.success for r in results) and len(results) == 2
    return 0 if succeeded and (marketo is None or marketo.success) else 1


if __name__ == "__main__":
    sys.exit(main())
