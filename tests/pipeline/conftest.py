"""Run the real pipeline (Dagster job → extraction → DuckDB → dbt build) on tiny demo data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.generator import Scale, advance, generate
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import Settings, load_settings

# A fixed "now" so mart figures are exact and reproducible.
DEMO_END = dt.datetime(2026, 6, 30, 12, 0, 0)
AS_OF_DATE = "2026-06-30"


@dataclass
class PipelineHarness:
    ops_url: str
    settings: Settings
    duckdb_path: Path

    def run(self, job: str = "daily_full_build"):
        from orchestration.demo.run import run_pipeline

        result = run_pipeline(self.settings, job_name=job, as_of_date=AS_OF_DATE)
        failures = [e.message for e in result.all_events if e.is_failure]
        assert result.success, "pipeline failed:\n" + "\n".join(str(f) for f in failures)
        return result

    def warehouse(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.duckdb_path), read_only=True)

    def source(self) -> sa.Engine:
        return sa.create_engine(self.ops_url)

    def advance(self, days: int = 1):
        return advance(self.ops_url, days=days, seed=7)


@pytest.fixture(scope="session", autouse=True)
def _dbt_manifest() -> None:
    prepare_manifest(load_settings({}))


def make_harness(ops_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineHarness:
    duckdb_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("OPS_DATABASE_URL", ops_url)
    monkeypatch.setenv("DUCKDB_PATH", str(duckdb_path))
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    generate(ops_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    return PipelineHarness(ops_url=ops_url, settings=load_settings(), duckdb_path=duckdb_path)
