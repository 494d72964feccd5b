"""Leads under the 1035 fallback at production scale: the history is swept once, later runs
read only new leads, leads named by lead-change activities and a rolling re-sweep.

Each test runs its own small sandbox (it changes leads), against the runner over HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, SandboxHandle, start_sandbox
from orchestration.marketo import (
    CHANGES_FALLBACK,
    CREATED_FALLBACK,
    RESWEEP_FALLBACK,
    SWEEP_FALLBACK,
    InMemoryStateStore,
)
from orchestration.marketo.windows import iso, parse_ts

from .conftest import ids, make_client, make_runner, run_all

FIELDS = ["id", "email", "leadStatus", "createdAt", "updatedAt"]


@pytest.fixture
def small() -> Iterator[SandboxHandle]:
    data = SandboxData.build(7, n_leads=300, activities_per_lead=1.0)
    config = SandboxConfig(rate_limit_calls=1_000_000)
    with start_sandbox(data=data, config=config) as handle:
        handle.faults.lead_updated_at_filter_unsupported = True
        yield handle


def history_start(handle: SandboxHandle) -> datetime:
    return handle.data.end - timedelta(days=3 * 365 + 1)


def runner(handle: SandboxHandle, store, **kwargs):
    kwargs.setdefault("resweep_period", timedelta(days=28))
    return make_runner(
        make_client(handle),
        store,
        entity="leads",
        fields=FIELDS,
        lead_history_start=history_start(handle),
        **kwargs,
    )


def windows_created(handle: SandboxHandle) -> list[str]:
    """The createdAt windows of every lead export the sandbox ever created, in order."""
    jobs = sorted(handle.sandbox.jobs.values(), key=lambda job: job.order)
    return [f"{j.filter['createdAt']['startAt']}/{j.filter['createdAt']['endAt']}" for j in jobs]


def old_lead(handle: SandboxHandle) -> dict:
    """A lead created more than two years ago: only a createdAt window of 2024 holds it."""
    cutoff = iso(handle.data.end - timedelta(days=730))
    return next(lead for lead in handle.data.leads if lead["createdAt"] < cutoff)


def test_second_run_reads_no_history_and_costs_near_zero_export_quota(small):
    store = InMemoryStateStore()
    first = run_all(runner(small, store), history_start(small), small.data.end)
    day = small.sandbox.quota_day()
    swept_bytes = small.stats.export_bytes_by_day[day]
    n_windows = math.ceil((small.data.end - history_start(small)) / timedelta(days=31))
    assert [r.fallback for r in first] == [SWEEP_FALLBACK] * n_windows
    assert set(ids(first, "id")) == {str(lead["id"]) for lead in small.data.leads}
    assert swept_bytes == small.stats.export_bytes_used > 20_000

    second = run_all(runner(small, store), history_start(small), None)
    spent = small.stats.export_bytes_by_day[day] - swept_bytes
    # one createdAt window since the sweep (header only: no lead is newer) and the change read
    assert [r.fallback for r in second] == [CREATED_FALLBACK, CHANGES_FALLBACK]
    assert second[0].window.start == small.data.end and second[0].table.num_rows == 0
    assert spent == second[0].file_size == len(",".join(FIELDS)) + 1
    assert spent < swept_bytes / 500  # 40 bytes against the history's 31 kB
    # no window of the first run was exported again, and the 1035 was met once per run only
    assert len(windows_created(small)) == n_windows + 1
    assert len(set(windows_created(small))) == len(windows_created(small))
    assert small.stats.errors_by_code["1035"] == 2


def test_an_old_lead_updated_between_runs_reaches_the_next_run_by_its_change_activity(small):
    store = InMemoryStateStore()
    run_all(runner(small, store), history_start(small), None)
    lead = old_lead(small)
    before = dict(lead)
    small.sandbox.update_lead(lead["id"], {"leadStatus": "Requalified"})
    leads_calls = small.stats.calls_by_path["/rest/v1/leads.json"]

    second = run_all(runner(small, store), history_start(small), None)
    (changes,) = [r for r in second if r.fallback == CHANGES_FALLBACK]
    rows = changes.table.to_pylist()
    assert [(r["id"], r["leadStatus"]) for r in rows] == [(str(lead["id"]), "Requalified")]
    assert rows[0]["createdAt"] == before["createdAt"] < rows[0]["updatedAt"]
    assert small.stats.calls_by_path["/rest/v1/leads.json"] - leads_calls == 1
    # its createdAt window was not exported again: the id read is all it cost
    created = parse_ts(before["createdAt"])
    assert not any(r.window.contains(created) for r in second if r.fallback != CHANGES_FALLBACK)
    assert store.get("leads")["fallback"]["changes_since"] >= iso(changes.window.end)


def test_a_change_with_no_activity_is_caught_by_the_rolling_resweep_within_the_period(small):
    store = InMemoryStateStore()
    t0 = datetime.now(UTC)
    run_all(runner(small, store, clock=lambda: t0), history_start(small), None)
    lead = old_lead(small)
    small.sandbox.update_lead(lead["id"], {"leadStatus": "Silently changed"}, log_activity=False)
    n_history = math.ceil((t0 - history_start(small)) / timedelta(days=31))

    def reswept(results) -> list:
        return [r for r in results if r.fallback == RESWEEP_FALLBACK]

    # a quarter of the period later: a quarter of the history, from its start
    quarter = run_all(runner(small, store, clock=lambda: t0 + timedelta(days=7)), history_start(small), None)
    assert len(reswept(quarter)) == math.floor(n_history / 4)
    assert reswept(quarter)[0].window.start == history_start(small)
    status = runner(small, store).fallback_status()
    assert status["complete_for_unlogged_changes_before"] == iso(t0)  # the pass is not complete yet
    assert status["resweep_cursor"] == iso(reswept(quarter)[-1].window.end)

    # a whole period after the sweep: the rest of the pass, the change is in it, the bound moves
    rest = run_all(runner(small, store, clock=lambda: t0 + timedelta(days=28)), history_start(small), None)
    windows = [r.window for r in reswept(quarter) + reswept(rest)]
    assert len(windows) == n_history
    assert all(a.end == b.start for a, b in pairwise(windows))
    found = {row["id"]: row["leadStatus"] for r in reswept(quarter + rest) for row in r.table.to_pylist()}
    assert found[str(lead["id"])] == "Silently changed"
    status = runner(small, store).fallback_status()
    assert status["complete_for_unlogged_changes_before"] == iso(t0 + timedelta(days=7))
    assert store.get("leads")["bookmark"] == iso(t0 + timedelta(days=7))


def test_a_crash_after_some_sweep_windows_reexports_no_completed_window(small):
    store = InMemoryStateStore()
    done = []
    sweep = runner(small, store)
    with pytest.raises(RuntimeError, match="publish failed"):
        for result in sweep.run(history_start(small), None):
            if len(done) == 5:  # the sixth window dies between download and publish
                raise RuntimeError("publish failed")
            done.append(result)
            sweep.commit(result)
    assert store.get("leads")["sweep"]["cursor"] == iso(done[-1].window.end)
    in_flight = {job["exportId"] for job in store.get("leads")["jobs"].values()}
    assert len(in_flight) == 2  # the window that died and the one started ahead of it
    created_before = small.stats.jobs_created

    rest = [
        r for r in run_all(runner(small, store), history_start(small), None) if r.fallback == SWEEP_FALLBACK
    ]
    assert rest[0].window.start == done[-1].window.end
    assert in_flight <= {r.export_id for r in rest}  # resumed by export id, not created again
    # the rest of the sweep, then the run goes on: one createdAt window of new leads
    assert small.stats.jobs_created - created_before == len(rest) - len(in_flight) + 1
    assert len(set(windows_created(small))) == len(windows_created(small))
    got = ids(done + rest, "id")
    assert sorted(got) == sorted(str(lead["id"]) for lead in small.data.leads)


def test_sandbox_export_quota_is_per_quota_day(small):
    now = [datetime(2026, 1, 10, 5, 30, tzinfo=UTC)]  # 23:30 on the 9th in US Central
    small.config.clock = lambda: now[0]
    small.config.export_daily_quota_bytes = 1
    store = InMemoryStateStore()
    end = small.data.end
    run_all(make_runner(make_client(small), store, entity="activities"), end - timedelta(days=1), end)
    assert small.stats.export_bytes_by_day == {"2026-01-09": small.stats.export_bytes_used}
    with pytest.raises(Exception, match="Export daily quota exceeded"):
        list(
            make_runner(make_client(small), entity="activities", state_key="b").run(
                end - timedelta(days=2), end
            )
        )
    now[0] += timedelta(hours=1)  # past midnight in Chicago: a new quota day
    (result,) = run_all(
        make_runner(make_client(small), entity="activities", state_key="b"), end - timedelta(days=2), end
    )
    assert small.stats.export_bytes_by_day["2026-01-10"] == result.file_size > 0
