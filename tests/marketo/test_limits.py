"""Spec items 4, 5 and 12: rate limit, concurrency, daily quotas, job queue limits."""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from orchestration.demo.marketo_sandbox import SandboxConfig, start_sandbox
from orchestration.marketo import (
    InMemoryStateStore,
    MarketoClient,
    MarketoExportQuotaExceeded,
    MarketoJobQueueFull,
    MarketoQuotaExceeded,
)
from orchestration.marketo.windows import iso

from .conftest import expected_activity_guids, ids, make_client, make_runner, run_all


def test_sliding_window_rate_limit_606_backs_off_then_succeeds(sandbox_data):
    config = SandboxConfig(rate_limit_calls=10, rate_limit_window_s=0.5)
    with start_sandbox(data=sandbox_data, config=config) as sandbox:
        client = make_client(sandbox, backoff_base_s=0.1, backoff_max_s=0.5, max_retries=10)
        for _ in range(30):
            assert client.describe_leads()
        assert sandbox.stats.errors_by_code["606"] > 0
        assert sandbox.stats.counted_calls == 30
        assert client.calls_used == 30


def test_injected_606_is_retried(sandbox, client):
    sandbox.faults.rate_limit_next_calls = 3
    assert client.activity_types()
    assert sandbox.stats.errors_by_code["606"] == 3
    assert client.retries == 3


def test_never_more_than_10_calls_in_flight(sandbox, client):
    sandbox.faults.latency_s = 0.03
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda _: len(client.activity_types()), range(80)))
    assert results == [9] * 80
    assert 5 <= sandbox.stats.max_concurrent <= 10
    assert sandbox.stats.errors_by_code["615"] == 0


def test_10_clients_in_one_process_share_the_instance_limit(sandbox):
    sandbox.faults.latency_s = 0.03
    clients = [make_client(sandbox) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=40) as pool:
        list(pool.map(lambda i: clients[i % 4].activity_types(), range(80)))
    assert sandbox.stats.max_concurrent <= 10
    assert sandbox.stats.errors_by_code["615"] == 0


def test_615_backs_off_and_succeeds(sandbox):
    client = make_client(sandbox, max_retries=40)  # 20 threads contend for 3 slots: many retries each
    sandbox.faults.latency_s = 0.02
    sandbox.faults.concurrency_limit = 3
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: len(client.activity_types()), range(40)))
    assert results == [9] * 40
    assert sandbox.stats.errors_by_code["615"] > 0
    assert sandbox.stats.max_concurrent <= 10


def test_607_stops_cleanly_and_the_rerun_resumes_the_same_export(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=40)
    store = InMemoryStateStore()
    runner = make_runner(client, store, entity="activities")
    loaded = []
    with pytest.raises(MarketoQuotaExceeded, match="Daily quota reached") as info:
        for result in runner.run(start, end):
            loaded.append(result)
            runner.commit(result)
            sandbox.faults.daily_quota_exhausted = True
    assert info.value.code == "607"
    state = store.get("activities")
    assert state["bookmark"] == iso(start + timedelta(days=31))
    pending = [job["exportId"] for job in state["jobs"].values()]
    assert len(pending) == 1  # the second window's job was already created: kept, not lost
    sandbox.faults.daily_quota_exhausted = False
    created_before = sandbox.stats.jobs_created
    rest = run_all(make_runner(make_client(sandbox), store, entity="activities"), start, end)
    assert [r.export_id for r in rest] == pending
    assert sandbox.stats.jobs_created == created_before
    assert set(ids(loaded + rest, "marketoGUID")) == expected_activity_guids(sandbox.data, start, end)


def test_export_daily_quota_stops_cleanly(sandbox, client):
    end = sandbox.data.end
    store = InMemoryStateStore()
    sandbox.faults.export_quota_exhausted = True
    with pytest.raises(MarketoExportQuotaExceeded, match="Export daily quota exceeded"):
        list(make_runner(client, store, entity="activities").run(end - timedelta(days=10), end))
    assert store.get("activities") is None or store.get("activities")["bookmark"] is None
    sandbox.faults.export_quota_exhausted = False
    results = run_all(make_runner(client, store, entity="activities"), end - timedelta(days=10), end)
    assert set(ids(results, "marketoGUID")) == expected_activity_guids(
        sandbox.data, end - timedelta(days=10), end
    )


def test_export_quota_running_out_mid_run_keeps_pending_jobs_and_the_rerun_finishes(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=80)  # three windows
    store = InMemoryStateStore()
    runner = make_runner(client, store, entity="activities")
    loaded = []
    with pytest.raises(MarketoExportQuotaExceeded, match="Export daily quota exceeded") as info:
        for result in runner.run(start, end):
            loaded.append(result)
            runner.commit(result)
            sandbox.faults.export_quota_exhausted = True  # the 500 MB/day are gone after the first file
    assert info.value.code == "1029"
    assert "resumes the same jobs" in str(info.value)
    assert len(loaded) in (1, 2)  # the second window's job may already have been enqueued
    state = store.get("activities")
    assert state["bookmark"] == iso(loaded[-1].window.end)
    pending = {job["exportId"] for job in state["jobs"].values() if job.get("exportId")}
    assert pending, "the jobs created before the quota ran out must be kept"
    sandbox.faults.export_quota_exhausted = False
    created_before = sandbox.stats.jobs_created
    rest = run_all(make_runner(make_client(sandbox), store, entity="activities"), start, end)
    assert pending <= {r.export_id for r in rest}  # resumed, not recreated
    assert sandbox.stats.jobs_created - created_before == len(rest) - len(pending)
    guids = ids(loaded + rest, "marketoGUID")
    assert len(guids) == len(set(guids))
    assert set(guids) == expected_activity_guids(sandbox.data, start, end)


def test_export_quota_in_bytes_is_enforced_by_the_sandbox(sandbox, client):
    sandbox.config.export_daily_quota_bytes = 1
    end = sandbox.data.end
    run_all(make_runner(client, entity="activities"), end - timedelta(days=2), end)  # the first job fits
    with pytest.raises(MarketoExportQuotaExceeded):
        list(make_runner(client, entity="activities", state_key="b").run(end - timedelta(days=2), end))


def test_too_many_jobs_in_queue_is_retried_later(sandbox, client):
    sandbox.faults.queue_full_next_enqueues = 3
    end = sandbox.data.end
    results = run_all(
        make_runner(client, entity="activities", queue_retry_s=0.01), end - timedelta(days=5), end
    )
    assert set(ids(results, "marketoGUID")) == expected_activity_guids(
        sandbox.data, end - timedelta(days=5), end
    )
    assert sandbox.stats.enqueue_rejected == 3
    assert sandbox.stats.jobs_created == 1


def test_sandbox_queue_holds_at_most_10_jobs(sandbox, client):
    sandbox.config.job_step_polls = None  # nothing moves on its own
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    jobs = [client.create_export("activities", filter=flt)["exportId"] for _ in range(11)]
    for export_id in jobs[:10]:
        client.enqueue_export("activities", export_id)
    with pytest.raises(MarketoJobQueueFull, match="Too many jobs in queue"):
        client.enqueue_export("activities", jobs[10])
    assert sandbox.stats.max_queued == 10
    assert sandbox.stats.max_jobs_in_flight == {sandbox.client_id: 10}  # the per-client stat sees them all


def test_at_most_2_processing_and_our_runners_stay_within_the_limits(sandbox):
    sandbox.config.job_step_polls = None
    sandbox.config.job_step_seconds = 0.05
    end = sandbox.data.end
    errors: list[BaseException] = []
    found: dict[str, set] = {}

    def run(entity: str, key: str) -> None:
        try:
            runner = make_runner(make_client(sandbox), entity=entity, state_key=key, fields=None)
            if entity == "leads":
                runner = make_runner(
                    make_client(sandbox), entity=entity, state_key=key, fields=["id", "email", "updatedAt"]
                )
            results = run_all(runner, end - timedelta(days=80), end)
            found[key] = set(ids(results, "id" if entity == "leads" else "marketoGUID"))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=("activities", "a1")),
        threading.Thread(target=run, args=("activities", "a2")),
        threading.Thread(target=run, args=("leads", "l1")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sandbox.stats.max_processing == 2
    assert sandbox.stats.max_queued <= 10
    assert found["a1"] == found["a2"] == expected_activity_guids(sandbox.data, end - timedelta(days=80), end)


def test_the_client_itself_keeps_at_most_2_jobs_queued_or_processing(sandbox, client):
    # Let the sandbox run and queue more than Marketo does, so only the client's own cap is tested.
    sandbox.config.max_processing_jobs = 10
    sandbox.config.max_queued_jobs = 10
    end = sandbox.data.end
    start = end - timedelta(days=155)
    results = run_all(make_runner(client, entity="activities"), start, end)
    assert [(r.window.end - r.window.start).days for r in results] == [31] * 5
    assert sandbox.stats.jobs_created == sandbox.stats.jobs_enqueued == 5
    # Pipelined (the next window's job runs while one is polled), but never more than 2 of ours.
    assert sandbox.stats.max_jobs_in_flight == {sandbox.client_id: 2}
    assert sandbox.stats.max_queued == 2
    assert sandbox.stats.max_processing <= 2
    assert sandbox.stats.enqueue_rejected == 0
    assert sandbox.stats.errors_by_code["1029"] == 0
    guids = ids(results, "marketoGUID")
    assert len(guids) == len(set(guids))
    assert set(guids) == expected_activity_guids(sandbox.data, start, end)


BACKOFF_BASE_S, BACKOFF_MAX_S = 1.0, 60.0  # the client's production defaults


def jitter_client(seed: int) -> MarketoClient:
    return MarketoClient(
        "http://127.0.0.1:9",  # never contacted: _backoff is pure
        "id",
        "secret",
        backoff_base_s=BACKOFF_BASE_S,
        backoff_max_s=BACKOFF_MAX_S,
        rng=random.Random(seed),
    )


def test_backoff_has_jitter_stays_within_the_cap_and_grows_with_the_attempt():
    client = jitter_client(1234)
    samples = {attempt: [client._backoff(attempt) for _ in range(400)] for attempt in range(12)}
    means = {}
    for attempt, delays in samples.items():
        step = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt)
        assert all(0 <= d <= step <= BACKOFF_MAX_S for d in delays), attempt
        assert len(set(delays)) == len(delays), attempt  # jitter: no two waits alike
        assert max(delays) - min(delays) > step / 4, attempt  # spread over a real range, not a nudge
        means[attempt] = statistics.fmean(delays)
    uncapped = [a for a in samples if BACKOFF_BASE_S * 2**a <= BACKOFF_MAX_S]  # attempts 0..5
    assert uncapped == [0, 1, 2, 3, 4, 5]
    assert all(means[a + 1] > 1.5 * means[a] for a in uncapped)  # roughly doubles until the cap
    assert all(BACKOFF_MAX_S / 2 <= means[a] <= BACKOFF_MAX_S for a in range(6, 12))
    # A seeded generator makes the jitter reproducible; another seed gives other waits.
    first, again, other = jitter_client(7), jitter_client(7), jitter_client(8)
    waits = [first._backoff(a) for a in range(6)]
    assert [again._backoff(a) for a in range(6)] == waits
    assert [other._backoff(a) for a in range(6)] != waits


def test_retries_sleep_the_jittered_backoff(sandbox):
    slept: list[float] = []
    client = make_client(sandbox, sleep=slept.append, rng=random.Random(5))
    sandbox.faults.rate_limit_next_calls = 4
    assert len(client.activity_types()) == 9
    twin = make_client(sandbox, rng=random.Random(5))
    assert slept == [twin._backoff(attempt) for attempt in range(4)]
    steps = [min(0.2, 0.01 * 2**attempt) for attempt in range(4)]  # conftest FAST base / cap
    assert all(0 <= s <= step for s, step in zip(slept, steps, strict=True))
    assert slept != steps  # jittered, not the bare exponential steps


def test_client_paces_itself_to_the_sliding_window_and_never_meets_a_606(sandbox_data):
    config = SandboxConfig(rate_limit_calls=10, rate_limit_window_s=0.5)
    with start_sandbox(data=sandbox_data, config=config) as sandbox:
        # Two clients of one instance share one window, as they share the concurrency limit.
        clients = [make_client(sandbox, rate_limit_calls=10, rate_limit_window_s=0.5) for _ in range(2)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda i: len(clients[i % 2].activity_types()), range(30)))
        assert results == [9] * 30
        assert sandbox.stats.errors_by_code["606"] == 0
        assert sandbox.stats.counted_calls == 30
        assert sum(c.retries for c in clients) == 0
        # 30 calls at 10 per 0.5 s: the later ones waited for the window, not for a 606.
        assert sum(c.rate_limit_wait_s for c in clients) > 0


def test_call_window_counts_a_call_from_its_end_and_calls_in_flight():
    """Marketo counts a call when it answers it: a call still running holds its place, and
    a finished one keeps it for the whole window after its end, not after its start."""
    from orchestration.marketo.pacing import CallWindow

    window = CallWindow(calls=2, window_s=0.3)
    ended: list[float] = []
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if not ended:  # both calls were in flight: the first one ends now
            window.release()
            ended.append(time.monotonic())
        time.sleep(seconds)

    assert window.acquire(sleep) == 0.0
    assert window.acquire(sleep) == 0.0  # two in flight: the window is full
    waited = window.acquire(sleep)
    started = time.monotonic()
    assert waits and waited == pytest.approx(sum(waits))
    # The third call started a full window after the first call ended.
    assert started - ended[0] >= 0.3
