"""The whole pipeline with Marketo (sandbox over HTTP -> Dagster assets -> DuckDB -> dbt) on tiny data.

An uninterrupted run is the reference; a run interrupted by injected faults (a failed export
job, truncated downloads, then the daily API quota running out part-way) and re-run must end
with exactly the same raw_marketo rows and marketing marts.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.demo.marketo_extract import extract_marketo
from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, SandboxHandle, start_sandbox
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import load_settings
from tests.pipeline.conftest import AS_OF_DATE, DEMO_END, PipelineHarness

pytestmark = pytest.mark.slow

SANDBOX_END = DEMO_END.replace(tzinfo=dt.UTC)
ACTIVITY_DAYS = 45
FIRST_DAY = SANDBOX_END.date() - dt.timedelta(days=ACTIVITY_DAYS)
LAST_DAY = SANDBOX_END.date()
# Marketo's documented limits: 50,000 calls a day, 100 per 20 s; the extraction must stay well inside.
DAILY_QUOTA = 50_000
DBT_CONFIG = {"ops": {"dbt_models": {"config": {"as_of_date": AS_OF_DATE}}}}

RAW_SQL = {
    "leads": "select * exclude (_batch_id, _loaded_at) from raw_marketo.leads order by id, updatedAt",
    "activities": (
        "select * exclude (_batch_id, _loaded_at) from raw_marketo.activities order by marketoGUID"
    ),
    "programs": "select * exclude (_batch_id, _loaded_at) from raw_marketo.programs order by id, updatedAt",
    "activity_types": (
        "select distinct * exclude (_batch_id, _loaded_at, _extracted_at) "
        "from raw_marketo.activity_types order by id"
    ),
}
MART_SQL = {
    # Not _built_at: when each run built the row, which differs between the two runs by design.
    "fact_marketing_activities": "select * exclude (_built_at) from marts.fact_marketing_activities order by activity_guid",
    "customer_360": (
        "select customer_id, has_marketo_lead, marketo_leads, lead_score, emails_delivered_30d, "
        "emails_delivered_90d, emails_opened_90d, emails_clicked_90d, web_visits_90d, form_fills_90d, "
        "marketing_programs_engaged, last_marketing_engagement_date from marts.customer_360 order by 1"
    ),
}


@pytest.fixture(scope="module")
def operational_base(tiny_demo_daily, tmp_path_factory) -> tuple[str, Path]:
    """The operational pipeline built (a copy of the run's shared build, tests/built_demo.py;
    Marketo models empty); tests copy its warehouse."""
    prepare_manifest(load_settings({}))
    with pytest.MonkeyPatch.context() as mp:
        harness = tiny_demo_daily.copy_to(tmp_path_factory.mktemp("operational"), mp)
    return harness.ops_url, harness.duckdb_path


def warehouse_copy(base: tuple[str, Path], directory: Path, monkeypatch) -> PipelineHarness:
    ops_url, duckdb_path = base
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "warehouse.duckdb"
    shutil.copyfile(duckdb_path, copy)
    monkeypatch.setenv("OPS_DATABASE_URL", ops_url)
    monkeypatch.setenv("DUCKDB_PATH", str(copy))
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return PipelineHarness(ops_url=ops_url, settings=load_settings(), duckdb_path=copy)


def customer_emails(ops_url: str) -> list[str]:
    with sa.create_engine(ops_url).connect() as conn:
        return [r[0] for r in conn.execute(sa.text("select email from customers order by id"))]


@contextmanager
def marketo_sandbox(harness: PipelineHarness, monkeypatch) -> Iterator[SandboxHandle]:
    data = SandboxData.build(
        42,
        end=SANDBOX_END,
        customer_emails=customer_emails(harness.ops_url),
        n_leads=120,
        n_programs=6,
        activity_days=ACTIVITY_DAYS,
        activities_per_lead=3.0,
    )
    # Jobs advance one state per status poll; the real rate limit stays on.
    with start_sandbox(data=data, config=SandboxConfig(job_step_polls=1)) as handle:
        monkeypatch.setenv("MARKETO_BASE_URL", handle.url)
        monkeypatch.setenv("MARKETO_CLIENT_ID", handle.client_id)
        monkeypatch.setenv("MARKETO_CLIENT_SECRET", handle.client_secret)
        monkeypatch.setenv("MARKETO_POLL_INTERVAL_S", "0.01")
        # Leads history: the sandbox creates leads over the 3 years before its end.
        monkeypatch.setenv(
            "MARKETO_HISTORY_START", (SANDBOX_END - dt.timedelta(days=3 * 365 + 2)).date().isoformat()
        )
        yield handle


def run_marketo(harness: PipelineHarness):
    return extract_marketo(harness.settings, FIRST_DAY, LAST_DAY, with_dbt=True, run_config=DBT_CONFIG)


def snapshot(harness: PipelineHarness) -> dict[str, list[tuple]]:
    with harness.warehouse() as con:
        return {name: con.execute(sql).fetchall() for name, sql in {**RAW_SQL, **MART_SQL}.items()}


def metadata_by_asset(result) -> dict[str, dict]:
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.path[-1]] = {k: v.value for k, v in mat.metadata.items()}
    return out


def failure_texts(result) -> Iterator[str]:
    """What failed steps raised, causes included (a step failure event's own message only
    says that the step failed)."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error is not None:
                yield error.message
                error = error.cause


def assert_success(result) -> None:
    failures = [str(e.message) for e in result.all_events if e.is_failure]
    assert result.success, "run failed:\n" + "\n".join(failures)


def test_marketo_end_to_end_matches_the_sandbox(operational_base, tmp_path, monkeypatch):
    harness = warehouse_copy(operational_base, tmp_path, monkeypatch)
    with marketo_sandbox(harness, monkeypatch) as sandbox:
        data = sandbox.data
        result = run_marketo(harness)
        assert_success(result)
        stats = sandbox.stats
        first = snapshot(harness)
        # The same range again: nothing new anywhere.
        again = run_marketo(harness)
        assert_success(again)
    assert snapshot(harness) == first
    again_meta = metadata_by_asset(again)
    assert again_meta["activities"]["run_rows_inserted"] == 0
    assert again_meta["leads"]["windows"] <= 1  # only the window since the bookmark
    meta = metadata_by_asset(result)
    with harness.warehouse() as con:
        leads = con.execute("select count(*) from staging.stg_marketo__leads").fetchone()[0]
        matched = con.execute(
            "select count(*) from intermediate.int_marketo_leads_matched where is_matched_to_customer"
        ).fetchone()[0]
        activities = con.execute("select count(*) from marts.fact_marketing_activities").fetchone()[0]
        engaged = con.execute("select count(*) from marts.customer_360 where has_marketo_lead").fetchone()[0]
        delivered = con.execute("select sum(emails_delivered_90d) from marts.customer_360").fetchone()[0]
    emails = {e.strip().lower() for e in customer_emails(harness.ops_url)}
    sandbox_matched = [lead for lead in data.leads if lead["email"].strip().lower() in emails]
    assert leads == len(data.leads)
    # The match rate equals the share of sandbox leads that were given a customer's e-mail.
    assert matched / leads == pytest.approx(len(sandbox_matched) / len(data.leads))
    assert matched > 0
    assert engaged == len({lead["email"].strip().lower() for lead in sandbox_matched})
    in_range = [
        a for a in data.activities if FIRST_DAY <= dt.date.fromisoformat(a["activityDate"][:10]) <= LAST_DAY
    ]
    assert activities == len(in_range)
    assert delivered > 0
    # API calls are reported per extraction and stay inside Marketo's documented limits.
    meta["activities"]["api_calls_used"] = meta["activities"]["run_api_calls_used"]  # one partition's share
    for name in ("leads", "activities", "programs", "activity_types"):
        assert meta[name]["api_calls_used"] > 0
        assert meta[name]["api_calls_used"] < DAILY_QUOTA
    assert meta["activities"]["run_windows"] == 2  # 46 days in windows of at most 31
    assert meta["leads"]["fallback_used"] == "none"
    assert stats.max_concurrent <= 10
    assert stats.max_processing <= 2


def test_interrupted_marketo_run_resumes_to_the_same_rows(operational_base, tmp_path, monkeypatch):
    reference_harness = warehouse_copy(operational_base, tmp_path / "reference", monkeypatch)
    with marketo_sandbox(reference_harness, monkeypatch):
        assert_success(run_marketo(reference_harness))
    reference = snapshot(reference_harness)

    harness = warehouse_copy(operational_base, tmp_path / "faulty", monkeypatch)
    with marketo_sandbox(harness, monkeypatch) as sandbox:
        sandbox.faults.fail_next_jobs = 1
        sandbox.faults.truncate_download_after_bytes = 200
        sandbox.faults.truncate_next_downloads = 2
        stop = threading.Event()

        def exhaust_quota_part_way() -> None:
            while not stop.is_set():
                if sandbox.stats.jobs_created >= 8:
                    sandbox.faults.daily_quota_exhausted = True
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=exhaust_quota_part_way, daemon=True)
        watcher.start()
        interrupted = run_marketo(harness)
        stop.set()
        watcher.join()
        assert not interrupted.success, "the 607 must stop the run"
        failures = " ".join(failure_texts(interrupted))
        assert "607" in failures or "quota" in failures.lower(), failures
        with harness.warehouse() as con:
            state = con.execute("select count(*) from raw_marketo._state").fetchone()[0]
        assert state >= 1, "the export state was kept for the next run"

        sandbox.faults.daily_quota_exhausted = False
        resumed = run_marketo(harness)
        assert_success(resumed)
        meta = metadata_by_asset(resumed)
    assert snapshot(harness) == reference
    assert meta["leads"]["api_calls_used"] < DAILY_QUOTA
    assert meta["activities"]["run_api_calls_used"] < DAILY_QUOTA
