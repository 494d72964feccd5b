"""The tiny demo after one clean ``daily_full_build``, built once per test run and copied.

Several modules start from exactly that state (the defect-planting quality tests, the
marts recomputed from the source) and each paid a full build for it, on every worker that
ran one of them. This fixture builds it once for the whole run: under pytest-xdist the
first worker to ask builds it in a directory the workers share, under a file lock, and the
others wait for it and reuse it. Each test gets its own copy of the files (the operational
SQLite database and the DuckDB warehouse) and carries on from there with the real jobs.

The build itself is the product's: the demo generator, then ``daily_full_build`` through
``run_pipeline``. What each consumer needs of its run (that every check passed, which
suites ran) is kept beside the files as the list of check outcomes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.settings import load_settings
from tests.pipeline.conftest import AS_OF_DATE, PipelineHarness, make_harness

# Under these names: dbt's views name their relations by the DuckDB file's catalog
# (``warehouse.staging...``), so a copy under another name would break them.
FILES = ("ops.db", "warehouse.duckdb")


@dataclass(frozen=True)
class CheckOutcome:
    asset: str  # "marts/fact_orders"
    check: str
    passed: bool


@dataclass(frozen=True)
class BuiltDemo:
    directory: Path
    checks: tuple[CheckOutcome, ...]

    def failed_checks(self) -> list[str]:
        return sorted(f"{c.asset}:{c.check}" for c in self.checks if not c.passed)

    def assets_with_check(self, check: str) -> set[str]:
        return {c.asset for c in self.checks if c.check == check}

    def copy_to(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineHarness:
        """A harness on a private copy of the built files in ``directory``, with the
        environment make_harness sets (the source is not generated again)."""
        directory.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            shutil.copy(self.directory / name, directory / name)
        wal = self.directory / "warehouse.duckdb.wal"  # none once DuckDB checkpointed on close
        if wal.exists():
            shutil.copy(wal, directory / wal.name)
        ops_url = f"sqlite:///{directory / 'ops.db'}"
        duckdb_path = directory / "warehouse.duckdb"
        monkeypatch.setenv("OPS_DATABASE_URL", ops_url)
        monkeypatch.setenv("DUCKDB_PATH", str(duckdb_path))
        monkeypatch.setenv("WAREHOUSE", "duckdb")
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        return PipelineHarness(ops_url=ops_url, settings=load_settings(), duckdb_path=duckdb_path)


def _build(directory: Path) -> tuple[CheckOutcome, ...]:
    from orchestration.assets import operational_db
    from orchestration.demo.run import run_pipeline
    from orchestration.resources.dbt import prepare_manifest

    prepare_manifest(load_settings({}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("QUALITY_DATA_DOCS_DIR", str(directory / "data_docs"))
        env.setattr(operational_db, "DATA_DIR", directory / "data")  # landing files stay here
        harness = make_harness(f"sqlite:///{directory / 'ops.db'}", directory, env)
        result = run_pipeline(
            harness.settings, job_name="daily_full_build", as_of_date=AS_OF_DATE, log_level="WARNING"
        )
    assert result.success, [str(e.message) for e in result.all_events if e.is_failure]
    return tuple(
        CheckOutcome(e.asset_key.to_user_string(), e.check_name, e.passed)
        for e in result.get_asset_check_evaluations()
    )


def shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory every xdist worker of this run sees (the workers' base temp's parent);
    the process's own base temp without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> BuiltDemo:
    shared = shared_directory(tmp_path_factory)
    directory, outcomes = shared / "tiny-demo-daily", shared / "tiny-demo-daily.json"
    with open(shared / "tiny-demo-daily.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not outcomes.exists():
            building = shared / "tiny-demo-daily.building"
            shutil.rmtree(building, ignore_errors=True)
            building.mkdir()
            checks = _build(building)
            shutil.rmtree(directory, ignore_errors=True)
            building.rename(directory)
            outcomes.write_text(json.dumps([c.__dict__ for c in checks]))
    checks = tuple(CheckOutcome(**c) for c in json.loads(outcomes.read_text()))
    return BuiltDemo(directory=directory, checks=checks)
