"""The Marketo assets report what they did, and the leads asset survives 1035 at scale.

Materialized in process against the sandbox, into a temporary DuckDB file: activities for a
partition range (each partition's own figures), leads under the 1035 fallback (second run,
an update between runs, a run that dies part-way through the sweep).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
import pytest

from orchestration.assets import marketo as marketo_assets
from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, SandboxHandle, start_sandbox
from orchestration.resources.marketo import MarketoResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import load_settings
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

from .conftest import FAST, expected_activity_guids, utc


@pytest.fixture
def assets(tmp_path, monkeypatch) -> dict[dg.AssetKey, dg.AssetsDefinition]:
    monkeypatch.setattr(marketo_assets, "DATA_DIR", tmp_path)  # Parquet landing files stay in tmp
    settings = load_settings({"WAREHOUSE": "duckdb", "DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    return {a.key: a for a in marketo_assets.build_assets(settings)}


def resources(handle: SandboxHandle, tmp_path) -> dict:
    marketo = MarketoResource(
        base_url=handle.url,
        client_id=handle.client_id,
        client_secret=handle.client_secret,
        poll_interval_s=FAST["poll_interval_s"],
        backoff_base_s=FAST["backoff_base_s"],
        backoff_max_s=FAST["backoff_max_s"],
        rate_limit_calls=0,
        history_start=(handle.data.end - timedelta(days=3 * 365 + 1)).date().isoformat(),
    )
    return {
        "marketo": marketo,
        "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "w.duckdb")),
    }


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Each materialization's metadata values, by partition (``""`` when unpartitioned)."""
    return {
        e.event_specific_data.materialization.partition or "": {
            k: v.value for k, v in e.event_specific_data.materialization.metadata.items()
        }
        for e in result.get_asset_materialization_events()
    }


def test_each_activities_partition_carries_its_own_figures_and_they_add_up_to_the_run(
    sandbox, assets, tmp_path
):
    last = (sandbox.data.end - timedelta(days=5)).date()
    first = last - timedelta(days=39)  # 40 daily partitions: windows of 31 and 9 days
    # Marketo lands like every source: a killed run's files are swept, published ones deleted.
    landing = tmp_path / "landing" / "raw_marketo" / "activities"
    landing.mkdir(parents=True)
    (landing / "killed-run.parquet.partial").write_bytes(b"half a file")
    result = dg.materialize(
        [assets[marketo_assets.ACTIVITIES]],
        resources=resources(sandbox, tmp_path),
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert result.success
    assert list(landing.iterdir()) == []
    days = [(first + timedelta(days=i)).isoformat() for i in range(40)]
    metas = metadata(result)
    assert sorted(metas) == days

    jobs = sorted(sandbox.sandbox.jobs.values(), key=lambda job: job.order)
    assert [job.status for job in jobs] == ["Completed", "Completed"]
    run = metas[days[0]]  # the run's totals, named as such on every partition
    assert all(
        {k: v for k, v in m.items() if k.startswith("run_")}
        == {k: v for k, v in run.items() if k.startswith("run_")}
        for m in metas.values()
    )
    assert run["run_export_ids"] == [job.export_id for job in jobs]
    assert (
        run["run_bytes_downloaded"] == sum(len(job.file) for job in jobs) == sandbox.stats.export_bytes_used
    )
    assert run["run_api_calls_used"] == sandbox.stats.counted_calls  # identity calls excluded on both sides
    assert run["run_windows"] == 2 and run["partition_range"] == f"{first}..{last}"
    start, end = utc(first.isoformat()), utc(last.isoformat()) + timedelta(days=1)
    expected = expected_activity_guids(sandbox.data, start, end)
    assert run["run_rows_landed"] == run["run_rows_inserted"] == len(expected)

    # Each partition: its own rows, the export they came from, its share of bytes and calls.
    per_day = Counter(a["activityDate"][:10] for a in sandbox.data.activities if a["marketoGUID"] in expected)
    assert {d: metas[d]["rows_landed"] for d in days} == {d: per_day[d] for d in days}
    assert all(metas[d]["export_ids"] == [jobs[0].export_id] for d in days[:31])
    assert all(metas[d]["export_ids"] == [jobs[1].export_id] for d in days[31:])
    for name, window, total in (
        ("bytes_downloaded", days[:31], len(jobs[0].file)),
        ("bytes_downloaded", days[31:], len(jobs[1].file)),
    ):
        assert sum(metas[d][name] for d in window) == total
    assert sum(m["bytes_downloaded"] for m in metas.values()) == run["run_bytes_downloaded"]
    assert sum(m["api_calls_used"] for m in metas.values()) == run["run_api_calls_used"]
    assert len({m["bytes_downloaded"] for m in metas.values()}) > 10  # not one figure copied 40 times
    assert all(m["bytes_downloaded"] < run["run_bytes_downloaded"] / 10 for m in metas.values())
    with DuckDBWarehouse(tmp_path / "w.duckdb").connect(read_only=True) as con:
        guids = {r[0] for r in con.execute("select marketoGUID from raw_marketo.activities").fetchall()}
    assert guids == expected


@pytest.fixture
def small() -> Iterator[SandboxHandle]:
    """A Marketo instance of its own (its leads change) without the updatedAt lead filter."""
    data = SandboxData.build(11, n_leads=300, activities_per_lead=1.0)
    with start_sandbox(data=data, config=SandboxConfig(rate_limit_calls=1_000_000)) as handle:
        handle.faults.lead_updated_at_filter_unsupported = True
        yield handle


def raw_leads(tmp_path) -> list[tuple]:
    with DuckDBWarehouse(tmp_path / "w.duckdb").connect(read_only=True) as con:
        return con.execute(
            "select id, leadStatus, updatedAt from raw_marketo.leads order by id, updatedAt"
        ).fetchall()


def test_leads_under_1035_sweep_once_then_cost_near_zero_quota_and_still_carry_updates(
    small, assets, tmp_path
):
    leads = assets[marketo_assets.LEADS]
    first = dg.materialize([leads], resources=resources(small, tmp_path))
    assert first.success
    swept = small.stats.export_bytes_by_day[small.sandbox.quota_day()]
    meta = metadata(first)[""]
    assert meta["fallback_used"] == "createdAt_full_sweep" and meta["windows"] == 36
    assert meta["bytes_downloaded"] == swept
    assert len(raw_leads(tmp_path)) == len({r[0] for r in raw_leads(tmp_path)}) == 300

    lead = min(small.data.leads, key=lambda row: row["createdAt"])  # created three years ago
    status_before = lead["leadStatus"]
    small.sandbox.update_lead(lead["id"], {"leadStatus": "Requalified"})
    second = dg.materialize([leads], resources=resources(small, tmp_path))
    assert second.success
    meta = metadata(second)[""]
    spent = small.stats.export_bytes_by_day[small.sandbox.quota_day()] - swept
    assert spent == meta["bytes_downloaded"] < swept / 100  # one header-only window of new leads
    assert meta["windows"] == 2 and meta["rows_inserted"] == 1
    assert meta["fallback_leads_reread_by_id"] >= 1
    assert meta["fallback_lead_change_activity_types"] == ["Change Data Value", "New Lead"]
    assert meta["fallback_resweep_period_days"] == 28
    assert meta["fallback_complete_for_unlogged_changes_before"] <= meta["fallback_changes_since"]
    (check,) = second.get_asset_check_evaluations()
    assert (check.check_name, check.passed) == ("lead_changes_covered", True)
    assert check.metadata["complete_for_unlogged_changes_before"].value.startswith(str(small.data.end.year))
    versions = [r for r in raw_leads(tmp_path) if r[0] == str(lead["id"])]
    assert [v[1] for v in versions] == [status_before, "Requalified"]
    assert versions[-1][2] > versions[0][2]


def test_a_leads_run_dying_mid_sweep_reruns_without_exporting_a_completed_window(small, assets, tmp_path):
    leads = assets[marketo_assets.LEADS]
    small.faults.fail_after_downloads = 5  # the run dies when it asks for anything after the 5th file
    failed = dg.materialize([leads], resources=resources(small, tmp_path), raise_on_error=False)
    assert not failed.success
    state = DuckDBWarehouse(tmp_path / "w.duckdb").read_state("raw_marketo", "leads")
    done = sorted(small.sandbox.jobs.values(), key=lambda job: job.order)[:5]
    assert state["sweep"]["cursor"] == done[-1].filter["createdAt"]["endAt"]  # five windows published
    assert len(raw_leads(tmp_path)) == sum(job.num_records for job in done)

    small.faults.fail_after_downloads = None
    rerun = dg.materialize([leads], resources=resources(small, tmp_path))
    assert rerun.success
    windows = [tuple(job.filter["createdAt"].values()) for job in small.sandbox.jobs.values()]
    assert len(windows) == len(set(windows))  # no window exported twice, across both runs
    assert len(windows) == 36 + 1  # the history, then one window of leads created since
    rows = raw_leads(tmp_path)
    assert len(rows) == len({r[0] for r in rows}) == 300


def test_lead_changes_check_warns_when_the_resweep_falls_behind_and_names_the_setting():
    period = timedelta(days=28)
    now = utc("2026-06-30")
    status = {"complete_for_unlogged_changes_before": "2026-05-10T00:00:00Z"}  # 51 days: within two periods
    assert marketo_assets.lead_changes_check(status, now, period).passed
    status = {"complete_for_unlogged_changes_before": "2026-05-01T00:00:00Z"}  # 60 days: behind
    behind = marketo_assets.lead_changes_check(status, now, period)
    assert not behind.passed and behind.severity == dg.AssetCheckSeverity.WARN
    assert "raw_marketo.leads" in behind.description and "MARKETO_LEADS_RESWEEP_DAYS=28" in behind.description
    assert "2026-05-01 00:00 UTC, 60 days ago" in behind.description
    assert behind.metadata["days_since"].value == 60
    assert marketo_assets.lead_changes_check(None, now, period).passed  # the updatedAt filter: nothing waits
