"""``python -m benchmarks``: measure, then write docs/benchmarks.md.

    python -m benchmarks [--scale-items 1000000,10000000] [--repeats 3]
                         [--pipeline-history 1,4,16] [--completeness-items 10000000] [--smoke]
    python -m benchmarks completeness   # only the completeness check; other figures kept
    python -m benchmarks cdc            # only change data capture apply (PostgreSQL, MariaDB); other figures kept
    python -m benchmarks snapshot       # only PostgreSQL reads without psql; other figures kept

Heavy measurements run one at a time (the reference machine has two cores): each path
in its own subprocess, paths interleaved within a repeat so background load hits all of
them alike, the median of the repeats reported. Every source database is dropped as
soon as its measurements are done.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import sources
from benchmarks.cdc import measure_cdc
from benchmarks.cdc_lag import measure_cdc_lag
from benchmarks.cdc_mariadb import measure_cdc_mariadb
from benchmarks.environment import describe
from benchmarks.measure import PROJECT_ROOT, Measurement, run_worker
from benchmarks.report import write_report
from benchmarks.results import (
    CdcLagResult,
    CdcResult,
    CompletenessResult,
    DemoResult,
    ExtractionResult,
    PathSummary,
    PipelineResult,
    Results,
)

CDC_LAG_RATE = 1_000  # changes per second (issue #17)
CDC_DRAIN_INTERVAL_S = 60  # the cdc_drain schedule's default interval
PG_PATHS = ("copy_psql", "ours", "ours_psycopg", "dlt_pyarrow", "pandas_read_sql")
# Reading PostgreSQL without psql (issue #17 item 11): the COPY floor, DuckDB's postgres
# extension alone as the peer, and our extraction through each client.
SNAPSHOT_PATHS = ("copy_psql", "duckdb_postgres_ext", "ours_duckdb", "ours", "ours_psycopg")


@dataclass
class Options:
    scale_items: list[int]
    repeats: int
    pipeline_history: list[int]
    pipeline_base: float  # history 1x = the demo scale times this; 0 = the tiny scale (smoke)
    mariadb_items: int
    pandas_max_items: int
    demo: bool
    smoke: bool
    output: Path | None
    json_output: Path | None
    command: str
    render: Path | None = None
    completeness_items: int = 0
    only_completeness: bool = False
    cdc_changes: int = 0
    only_cdc: bool = False
    cdc_mariadb_changes: int = 0
    snapshot_items: int = 0
    only_snapshot: bool = False
    cdc_lag_seconds: float = 0


def _log(message: str) -> None:
    print(message, flush=True)


def _mariadb_reachable() -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(sources.MARIADB_ADMIN_URL)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


def measure_extraction(
    dialect: str, items: int, paths: tuple[str, ...], repeats: int, *, profile: bool = False
) -> ExtractionResult:
    _log(f"[extraction] {dialect}, ~{items:,} order_items")
    with sources.fresh_database(dialect) as url:
        source = sources.generate_source(url, sources.scale_for_items(items), log=_log)
        result = ExtractionResult(dialect, source.order_items, source.orders, source.generate_s)
        check = source.checksum
        for path in paths:
            result.paths[path] = PathSummary(path, [], check.rows, check.sum_total, check.sum_id)
        for repeat in range(repeats):
            for path in paths:
                m = run_worker(path, url)
                result.paths[path].runs.append(m)
                _log(
                    f"  [{repeat + 1}/{repeats}] {path:<16} {m.seconds:8.2f} s  cpu {m.cpu_s:7.2f} s  "
                    f"peak {m.peak_rss_mb:7.0f} MB  rows {m.rows}"
                )
        if profile:
            profile_file = Path(tempfile.mkstemp(suffix=".txt")[1])
            try:
                run_worker(
                    "ours_profiled", url, env={**os.environ, "BENCHMARK_PROFILE_OUT": str(profile_file)}
                )
                result.profile = profile_file.read_text()
            finally:
                profile_file.unlink(missing_ok=True)
    return result


def measure_pipeline(history: int, base: float) -> PipelineResult:
    from orchestration.demo.generator import Scale

    # History grows in time, not in density: 16x is sixteen times the months at the same daily
    # volume, so the day that advance() adds is the same size at every history length.
    scale = (Scale.demo().times(base) if base else Scale.tiny()).longer(history)
    items = round(scale.orders * scale.avg_items_per_order)
    _log(
        f"[pipeline] history {history}x ({scale.months} months, {scale.orders:,} orders, ~{items:,} order_items)"
    )
    with sources.fresh_database("postgresql") as url:
        source = sources.generate_source(url, scale, log=_log)
        work_dir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "benchmarks.pipeline_worker", url, str(work_dir)],
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
            )
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHMARK-RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"pipeline benchmark failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
        data = json.loads(lines[-1].removeprefix("BENCHMARK-RESULT "))
        expected = sources.source_checksum(url).rows
    result = PipelineResult(
        history=history,
        order_items=source.order_items,
        generate_s=source.generate_s,
        full_s=data["full_s"],
        incremental_s=data["incremental_s"],
        idle_hourly_s=data.get("idle_hourly_s"),
        incremental_steps=data.get("incremental_steps", {}),
        idle_steps=data.get("idle_steps", {}),
        advanced_rows=data["advanced_rows"],
        checks=data["checks"],
        checks_failed=data["checks_failed"],
        raw_order_items=data["raw_order_items"],
        expected_raw_order_items=expected,
    )
    _log(
        f"  full {result.full_s:.1f} s, incremental {result.incremental_s:.1f} s, "
        f"idle hourly {result.idle_hourly_s or 0:.1f} s, "
        f"checks {result.checks} ({result.checks_failed} failed)"
    )
    return result


def measure_completeness(items: int, repeats: int) -> CompletenessResult:
    """The completeness check of order_items against one COPY of the table, side by side."""
    import sqlalchemy as sa

    from benchmarks.workers import COLD_ENV, WAREHOUSE_ENV

    _log(f"[completeness] postgresql, ~{items:,} order_items")
    with sources.fresh_database("postgresql") as url:
        source = sources.generate_source(url, sources.scale_for_items(items), log=_log)
        work_dir = Path(tempfile.mkdtemp(prefix="bench-completeness-"))
        env = {**os.environ, WAREHOUSE_ENV: str(work_dir / "raw.duckdb")}
        try:
            built = run_worker("build_raw", url, env=env)
            _log(f"  raw built in {built.seconds:.1f} s ({built.rows:,} rows)")
            copy = PathSummary("copy_psql", [], None, None, None)
            first = PathSummary("completeness", [], source.order_items, None, 0)
            clean = PathSummary("completeness", [], source.order_items, None, 0)
            stale = PathSummary("completeness", [], source.order_items, None, 1)
            cold_env = {**env, COLD_ENV: "1"}
            for repeat in range(repeats):
                # The first check of a table (nothing stored) right before a later one (raw's
                # sums stored by it), each next to a COPY.
                for summary, path, label, path_env in (
                    (copy, "copy_psql", "copy", None),
                    (first, "completeness", "first check", cold_env),
                    (clean, "completeness", "later check", env),
                ):
                    m = run_worker(path, url, env=path_env)
                    summary.runs.append(m)
                    _log(
                        f"  [{repeat + 1}/{repeats}] {label:<14} {m.seconds:8.2f} s  peak {m.peak_rss_mb:6.0f} MB"
                    )
            engine = sa.create_engine(url)
            with engine.begin() as conn:  # one row changed without its cursor, mid-table
                conn.execute(sa.text(
                    "update order_items set quantity = quantity + 1 "
                    "where id = (select (min(id) + max(id)) / 2 from order_items)"
                ))  # fmt: skip
            engine.dispose()
            for repeat in range(repeats):
                m = run_worker("completeness", url, env=env)
                stale.runs.append(m)
                _log(
                    f"  [{repeat + 1}/{repeats}] one stale row  {m.seconds:8.2f} s  peak {m.peak_rss_mb:6.0f} MB"
                )
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)
    return CompletenessResult(source.order_items, source.generate_s, built.seconds, copy, clean, stale, first)


def measure_demo() -> DemoResult:
    """``python -m orchestration.demo`` from nothing: generate the SQLite demo data, run, summarise."""
    _log("[demo] python -m orchestration.demo in an empty data directory")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = {
        k: v for k, v in os.environ.items() if k not in ("OPS_DATABASE_URL", "DUCKDB_PATH", "DAGSTER_HOME")
    }
    env.update(PLATFORM_DATA_DIR=str(data_dir), WAREHOUSE="duckdb", GX_ANALYTICS_ENABLED="false")
    try:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "orchestration.demo"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    _log(f"  {seconds:.1f} s, exit {proc.returncode}")
    if proc.returncode != 0:
        _log(proc.stdout[-2000:] + proc.stderr[-2000:])
    parts = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"^  (.+): ([0-9.]+) s$", proc.stdout, re.MULTILINE)
    }
    return DemoResult(seconds, proc.returncode == 0, parts)


def run_benchmarks(options: Options) -> Results:
    from orchestration.resources.dbt import prepare_manifest
    from orchestration.settings import load_settings

    results = Results(
        started_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command=options.command,
        environment=describe(sources.PG_ADMIN_URL, sources.MARIADB_ADMIN_URL),
        smoke=options.smoke,
    )
    if shutil.which("psql") is None:
        raise SystemExit(
            "the benchmarks need the psql client (the raw COPY baseline): apt-get install postgresql-client"
        )
    for items in options.scale_items:
        paths = tuple(p for p in PG_PATHS if p != "pandas_read_sql" or items <= options.pandas_max_items)
        if "pandas_read_sql" not in paths:
            results.notes.append(
                f"pandas.read_sql was skipped at {items:,} rows (--pandas-max-items {options.pandas_max_items:,}): "
                "it fetches the whole result client-side and takes minutes."
            )
        profile = not options.smoke and items == max(options.scale_items)
        results.extraction.append(
            measure_extraction("postgresql", items, paths, options.repeats, profile=profile)
        )
    if options.mariadb_items:
        if _mariadb_reachable():
            results.extraction.append(
                measure_extraction("mariadb", options.mariadb_items, ("ours_mariadb",), options.repeats)
            )
        else:
            results.notes.append("MariaDB was not reachable: its path was not measured.")
    if options.pipeline_history:
        prepare_manifest(load_settings({}))
        for history in options.pipeline_history:
            results.pipeline.append(measure_pipeline(history, options.pipeline_base))
    if options.demo:
        results.demo = measure_demo()
    if options.completeness_items:
        results.completeness = measure_completeness(options.completeness_items, options.repeats)
    if options.cdc_changes:
        results.cdc = measure_cdc(options.cdc_changes, options.repeats, _log)
    if options.cdc_mariadb_changes:
        results.cdc_mariadb = measure_cdc_mariadb(options.cdc_mariadb_changes, options.repeats, _log)
    if options.cdc_lag_seconds:
        results.cdc_lag = measure_cdc_lag(CDC_LAG_RATE, options.cdc_lag_seconds, CDC_DRAIN_INTERVAL_S, _log)
    if options.snapshot_items:
        results.snapshot = measure_extraction(
            "postgresql", options.snapshot_items, SNAPSHOT_PATHS, options.repeats
        )
    if options.output:
        write_report(results, options.output)
        _log(f"wrote {options.output}")
    if options.json_output:
        options.json_output.parent.mkdir(parents=True, exist_ok=True)
        options.json_output.write_text(json.dumps(asdict(results), indent=2, default=str))
    return results


def _extraction_from_json(e: dict) -> ExtractionResult:
    paths = {
        name: PathSummary(
            path=p["path"],
            runs=[Measurement(**m) for m in p["runs"]],
            expected_rows=p["expected_rows"],
            expected_sum_total=p["expected_sum_total"],
            expected_sum_id=p["expected_sum_id"],
        )
        for name, p in e["paths"].items()
    }
    return ExtractionResult(**{**e, "paths": paths})


def results_from_json(data: dict) -> Results:
    """Rebuild a run's results from ``--json`` output (to re-render the report)."""
    extraction = [_extraction_from_json(e) for e in data["extraction"]]
    return Results(
        **{
            **data,
            "extraction": extraction,
            "pipeline": [PipelineResult(**p) for p in data["pipeline"]],
            "demo": DemoResult(**data["demo"]) if data.get("demo") else None,
            "completeness": _completeness_from_json(data.get("completeness")),
            "cdc": _cdc_from_json(data.get("cdc")),
            "cdc_mariadb": _cdc_from_json(data.get("cdc_mariadb")),
            "cdc_lag": CdcLagResult(**data["cdc_lag"]) if data.get("cdc_lag") else None,
            "snapshot": _extraction_from_json(data["snapshot"]) if data.get("snapshot") else None,
        }
    )


def _summary_from_json(p: dict) -> PathSummary:
    return PathSummary(**{**p, "runs": [Measurement(**m) for m in p["runs"]]})


def _cdc_from_json(data: dict | None) -> CdcResult | None:
    if not data:
        return None
    return CdcResult(
        **{**data, "ours": _summary_from_json(data["ours"]), "floor": _summary_from_json(data["floor"])}
    )


def _completeness_from_json(data: dict | None) -> CompletenessResult | None:
    if not data:
        return None

    paths = ("copy", "clean", "one_stale", "first")
    return CompletenessResult(**{**data, **{k: _summary_from_json(data[k]) for k in paths if data.get(k)}})


def run_one_section(options: Options) -> Results:
    """Measure one section (completeness, cdc or snapshot) alone and merge it into the last full
    run's results."""
    json_path = options.json_output or PROJECT_ROOT / "docs" / "benchmarks.json"
    results = results_from_json(json.loads(json_path.read_text()))
    parts: list[str] = []  # the report's sections this run measured again
    if options.only_snapshot:
        parts.append("PostgreSQL reads without psql")
        results.snapshot = measure_extraction(
            "postgresql", options.snapshot_items, SNAPSHOT_PATHS, options.repeats
        )
    elif options.only_cdc:
        if options.cdc_changes:
            parts.append("PostgreSQL CDC apply")
            results.cdc = measure_cdc(options.cdc_changes, options.repeats, _log)
        if options.cdc_mariadb_changes:
            parts.append("MariaDB CDC apply")
            results.cdc_mariadb = measure_cdc_mariadb(options.cdc_mariadb_changes, options.repeats, _log)
        if options.cdc_lag_seconds:
            parts.append("CDC lag")
            results.cdc_lag = measure_cdc_lag(
                CDC_LAG_RATE, options.cdc_lag_seconds, CDC_DRAIN_INTERVAL_S, _log
            )
    else:
        parts.append("completeness")
        results.completeness = measure_completeness(options.completeness_items, options.repeats)
    for part in parts:
        results.notes = [n for n in results.notes if not n.startswith(f"The {part} section was measured")]
        results.notes.append(
            f"The {part} section was measured on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by "
            f"`{options.command}`; the other sections come from the run dated above."
        )
    json_path.write_text(json.dumps(asdict(results), indent=2, default=str))
    write_report(results, options.output or PROJECT_ROOT / "docs" / "benchmarks.md")
    return results


def _ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scale-items", type=_ints, default=[1_000_000, 10_000_000], help="order_items sizes"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline-history", type=_ints, default=[1, 4, 16], help="history multiples")
    parser.add_argument(
        "--pipeline-base",
        type=float,
        default=0.25,
        help="history 1x = the demo scale times this (0.25: ~125k lines)",
    )
    parser.add_argument(
        "only", nargs="?", choices=["completeness", "cdc", "snapshot"], help="measure only this part"
    )
    parser.add_argument(
        "--snapshot-items", type=int, default=1_000_000, help="order_items rows read without psql; 0 to skip"
    )
    parser.add_argument("--mariadb-items", type=int, default=1_000_000, help="0 to skip MariaDB")
    parser.add_argument(
        "--completeness-items", type=int, default=10_000_000, help="order_items rows; 0 to skip"
    )
    parser.add_argument(
        "--cdc-changes", type=int, default=200_000, help="changes per CDC apply repeat; 0 to skip"
    )
    parser.add_argument(
        "--cdc-mariadb-changes", type=int, default=200_000, help="changes per binlog apply repeat; 0 to skip"
    )
    parser.add_argument(
        "--cdc-lag-seconds", type=float, default=300, help="how long the CDC lag load runs; 0 to skip"
    )
    parser.add_argument("--pandas-max-items", type=int, default=1_000_000)
    parser.add_argument("--no-demo", action="store_true", help="skip the default demo end-to-end timing")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat: correctness only")
    parser.add_argument(
        "--output", type=Path, default=None, help="default docs/benchmarks.md (none with --smoke)"
    )
    parser.add_argument("--json", type=Path, default=None, dest="json_output", help="also save raw results")
    parser.add_argument(
        "--render", type=Path, default=None, help="only re-render the report from --json output"
    )
    args = parser.parse_args(argv)
    command = "python -m benchmarks" + ("" if not argv else " " + shlex.join(argv))
    if args.smoke:
        return Options(
            scale_items=[20_000],
            repeats=1,
            pipeline_history=[1],
            pipeline_base=0,
            mariadb_items=5_000,
            pandas_max_items=20_000,
            demo=False,
            smoke=True,
            output=args.output,
            json_output=args.json_output,
            command=command,
            completeness_items=20_000,
            cdc_changes=2_000,
            cdc_mariadb_changes=2_000,
            snapshot_items=20_000,
        )
    if args.render:
        return Options([], 0, [], 0, 0, 0, False, False, args.output, None, command, render=args.render)
    return Options(
        scale_items=args.scale_items,
        repeats=args.repeats,
        pipeline_history=args.pipeline_history,
        pipeline_base=args.pipeline_base,
        mariadb_items=args.mariadb_items,
        pandas_max_items=args.pandas_max_items,
        demo=not args.no_demo,
        smoke=False,
        output=args.output or PROJECT_ROOT / "docs" / "benchmarks.md",
        json_output=args.json_output,
        command=command,
        completeness_items=args.completeness_items,
        only_completeness=args.only == "completeness",
        cdc_changes=args.cdc_changes,
        cdc_mariadb_changes=args.cdc_mariadb_changes,
        only_cdc=args.only == "cdc",
        cdc_lag_seconds=args.cdc_lag_seconds,
        snapshot_items=args.snapshot_items,
        only_snapshot=args.only == "snapshot",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    if options.render:
        results = results_from_json(json.loads(options.render.read_text()))
        write_report(results, options.output or PROJECT_ROOT / "docs" / "benchmarks.md")
        return 0
    only = options.only_completeness or options.only_cdc or options.only_snapshot
    results = run_one_section(options) if only else run_benchmarks(options)
    failed = [
        f"{e.dialect}/{p.path}" for e in results.extraction for p in e.paths.values() if p.correct is False
    ]
    failed += [f"pipeline {p.history}x" for p in results.pipeline if p.checks_failed]
    if results.completeness:
        c = results.completeness
        failed += [
            f"completeness {name}"
            for name, p in (("clean", c.clean), ("stale", c.one_stale))
            if not p.correct
        ]
    if results.cdc and not results.cdc.ours.correct:
        failed.append("cdc apply")
    if results.cdc_mariadb and not results.cdc_mariadb.ours.correct:
        failed.append("cdc apply (mariadb)")
    if results.snapshot:
        failed += [f"snapshot/{p.path}" for p in results.snapshot.paths.values() if p.correct is False]
    if failed:
        print("correctness FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
