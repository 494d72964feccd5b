"""``python -m benchmarks --smoke`` end to end: every path loads exactly the source's rows.

Timings are never asserted (they depend on the machine); correctness is: each extraction
path's row count, ``sum(total)`` and ``sum(id)`` equal the source, and the pipeline's full
and incremental runs pass every check and carry every source row into raw.
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks.cli import SNAPSHOT_PATHS, parse_args, run_benchmarks
from benchmarks.report import render
from tests.servers import skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_smoke_benchmark_every_path_equals_the_source(tmp_path):
    if shutil.which("psql") is None:
        skip_or_fail("the benchmarks need the psql client")
    options = parse_args(["--smoke", "--output", str(tmp_path / "benchmarks.md")])
    try:
        results = run_benchmarks(options)
    except Exception as exc:
        if "Connection refused" in str(exc):
            skip_or_fail(f"PostgreSQL is not reachable: {exc}")
        raise

    completeness = results.completeness
    assert completeness.clean.correct and completeness.one_stale.correct, completeness  # found 0, then 1
    assert completeness.first.correct and completeness.first.rows == completeness.order_items
    assert completeness.clean.rows == completeness.order_items > 0
    cdc = results.cdc  # the drain published exactly the changes written, the floor read them too
    assert cdc.ours.correct and cdc.ours.rows == cdc.changes > 0, cdc.ours.runs
    assert cdc.floor.correct is None and cdc.floor.seconds > 0
    binlog = results.cdc_mariadb  # the same on MariaDB's binlog, beside mariadb-binlog
    assert binlog.ours.correct and binlog.ours.rows == binlog.changes > 0, binlog.ours.runs
    assert binlog.floor.correct is None and binlog.floor.seconds > 0
    postgres = next(e for e in results.extraction if e.dialect == "postgresql")
    assert set(postgres.paths) == {"copy_psql", "ours", "ours_psycopg", "dlt_pyarrow", "pandas_read_sql"}
    for name, summary in postgres.paths.items():
        if name == "copy_psql":
            assert summary.correct is None  # the floor writes to /dev/null: nothing to compare
            continue
        assert summary.correct, (name, summary.runs, summary.expected_rows, summary.expected_sum_total)
        assert summary.rows == postgres.order_items > 0

    snapshot = results.snapshot  # reading PostgreSQL without psql, the extension alone beside it
    assert set(snapshot.paths) == set(SNAPSHOT_PATHS)
    for name, summary in snapshot.paths.items():
        if name != "copy_psql":
            assert summary.correct and summary.rows == snapshot.order_items > 0, (name, summary.runs)

    for extraction in results.extraction:
        for summary in extraction.paths.values():
            assert summary.correct is not False, (extraction.dialect, summary.path)

    (pipeline,) = results.pipeline
    assert pipeline.checks > 0
    assert pipeline.checks_failed == 0
    assert pipeline.raw_order_items >= pipeline.expected_raw_order_items
    assert pipeline.idle_hourly_s is not None and pipeline.idle_hourly_s > 0  # the idle hourly run ran

    report = (tmp_path / "benchmarks.md").read_text()
    assert report == render(results)
    assert "| target | measured | met |" in report
