"""Spec items 6-10: windows, recreated jobs, resume, polling interval and timeout, Range downloads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from orchestration.marketo import (
    FileStateStore,
    InMemoryStateStore,
    MarketoExportError,
    MarketoExportTimeout,
    MarketoNotFound,
    Window,
    split_windows,
)
from orchestration.marketo.windows import iso, parse_ts

from .conftest import expected_activity_guids, ids, make_client, make_runner, run_all

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_split_windows_has_no_gap_no_overlap_and_31_day_maximum():
    windows = split_windows(T0, T0 + timedelta(days=100), now=T0 + timedelta(days=365))
    assert [(w.end - w.start).days for w in windows] == [31, 31, 31, 7]
    assert windows[0].start == T0 and windows[-1].end == T0 + timedelta(days=100)
    assert all(a.end == b.start for a, b in pairwise(windows))


def test_split_windows_caps_at_now_and_never_reaches_the_future():
    now = T0 + timedelta(days=40, hours=5)
    windows = split_windows(T0, T0 + timedelta(days=400), now=now)
    assert windows == [Window(T0, T0 + timedelta(days=31)), Window(T0 + timedelta(days=31), now)]
    assert split_windows(now + timedelta(days=1), now + timedelta(days=90), now=now) == []
    assert split_windows(T0, T0, now=now) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        split_windows(datetime(2024, 1, 1), T0, now=now)


def test_runner_creates_no_job_for_future_windows(sandbox, client):
    end = sandbox.data.end
    now = end
    runner = make_runner(client, entity="activities", clock=lambda: now)
    results = run_all(runner, end - timedelta(days=40), end + timedelta(days=90))
    assert [r.window for r in results] == split_windows(end - timedelta(days=40), end, now=now)
    assert sandbox.stats.jobs_created == 2
    assert all(r.window.end <= now for r in results)
    assert runner.bookmark == now


def test_a_record_on_a_window_boundary_is_loaded_exactly_once(sandbox, client):
    act = sandbox.data.activities[len(sandbox.data.activities) // 2]
    boundary = parse_ts(act["activityDate"])
    start, end = boundary - timedelta(days=31), boundary + timedelta(days=3)
    results = run_all(make_runner(client, entity="activities"), start, end)
    assert results[0].window.end == boundary  # the sandbox's filter includes both ends
    guids = ids(results, "marketoGUID")
    assert guids.count(act["marketoGUID"]) == 1
    assert len(guids) == len(set(guids))
    assert set(guids) == expected_activity_guids(sandbox.data, start, end)


def test_activity_type_filter_is_sent(sandbox, client):
    end = sandbox.data.end
    results = run_all(
        make_runner(client, entity="activities", activity_type_ids=[6, 7]), end - timedelta(days=9), end
    )
    assert set(ids(results, "activityTypeId")) == {"6", "7"}
    assert set(ids(results, "marketoGUID")) == expected_activity_guids(
        sandbox.data, end - timedelta(days=9), end, {6, 7}
    )


@pytest.mark.parametrize(
    ("fault", "spelling"), [("fail", "Failed"), ("cancel", "Cancelled"), ("cancel", "Canceled")]
)
def test_failed_or_cancelled_job_is_recreated_not_skipped(sandbox, client, fault, spelling):
    end = sandbox.data.end
    start = end - timedelta(days=5)
    sandbox.faults.cancelled_spelling = spelling
    setattr(sandbox.faults, f"{fault}_next_jobs", 1)
    results = run_all(make_runner(client, entity="activities"), start, end)
    assert len(results) == 1 and results[0].attempts == 2
    assert sandbox.stats.jobs_created == 2
    assert set(ids(results, "marketoGUID")) == expected_activity_guids(sandbox.data, start, end)


def test_a_job_failing_every_time_stops_the_run_and_the_bookmark_stays(sandbox, client):
    end = sandbox.data.end
    store = InMemoryStateStore()
    sandbox.faults.fail_next_jobs = 10
    with pytest.raises(MarketoExportError, match="ended Failed 3 times"):
        list(
            make_runner(client, store, entity="activities", max_job_attempts=3).run(
                end - timedelta(days=5), end
            )
        )
    assert store.get("activities")["bookmark"] is None
    assert sandbox.stats.jobs_created == 3


def test_poll_timeout_keeps_the_export_id_and_the_next_run_resumes_it(sandbox, tmp_path):
    end = sandbox.data.end
    start = end - timedelta(days=5)
    store = FileStateStore(tmp_path / "state")
    sandbox.config.job_step_polls = 10_000  # the job never finishes during the first run
    runner = make_runner(
        make_client(sandbox), store, entity="activities", poll_timeout_s=0.3, poll_interval_s=0.05
    )
    with pytest.raises(MarketoExportTimeout, match="the next run resumes it"):
        list(runner.run(start, end))
    (job,) = store.get("activities")["jobs"].values()
    assert job["status"] in ("Queued", "Processing")
    sandbox.config.job_step_polls = 1
    resumed = run_all(
        make_runner(make_client(sandbox), FileStateStore(tmp_path / "state"), entity="activities"), start, end
    )
    assert [r.export_id for r in resumed] == [job["exportId"]]
    assert sandbox.stats.jobs_created == 1
    assert set(ids(resumed, "marketoGUID")) == expected_activity_guids(sandbox.data, start, end)
    assert store.get("activities") == {"bookmark": iso(end), "jobs": {}, "sweep": None}


def test_poll_interval_is_respected(sandbox):
    sandbox.config.job_step_polls = 3
    end = sandbox.data.end
    runner = make_runner(make_client(sandbox), entity="activities", poll_interval_s=0.1)
    (result,) = run_all(runner, end - timedelta(days=2), end)
    polls = sandbox.stats.status_polls[result.export_id]
    assert len(polls) == 6
    assert min(b - a for a, b in pairwise(polls)) >= 0.095


def test_completed_but_404_is_recreated(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=3)
    sandbox.faults.file_gone_next_jobs = 1
    (result,) = run_all(make_runner(client, entity="activities"), start, end)
    assert result.attempts == 2 and sandbox.stats.jobs_created == 2
    assert set(ids([result], "marketoGUID")) == expected_activity_guids(sandbox.data, start, end)


def test_stored_completed_job_whose_file_expired_is_recreated_on_resume(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=3)
    store = InMemoryStateStore()
    runner = make_runner(client, store, entity="activities")
    first = next(runner.run(start, end))  # interrupted before commit: the export id stays stored
    sandbox.sandbox.jobs[first.export_id].file_gone = True  # 7-day retention ran out meanwhile
    (again,) = run_all(make_runner(client, store, entity="activities"), start, end)
    assert again.export_id != first.export_id
    assert set(ids([again], "marketoGUID")) == set(ids([first], "marketoGUID"))


def test_resume_reuses_a_stored_completed_export_without_a_new_job(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=3)
    store = InMemoryStateStore()
    first = next(make_runner(client, store, entity="activities").run(start, end))
    (again,) = run_all(make_runner(client, store, entity="activities"), start, end)
    assert again.export_id == first.export_id and sandbox.stats.jobs_created == 1


def test_unknown_stored_export_id_is_recreated(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=3)
    store = InMemoryStateStore()
    window = Window(start, end)
    store.put(
        "activities",
        {
            "bookmark": None,
            "sweep": None,
            "jobs": {window.key: {"start": iso(start), "end": iso(end), "filter": "createdAt",
                                  "exportId": "00000000-0000-0000-0000-000000000000", "status": "Queued",
                                  "attempts": 1}},
        },
    )  # fmt: skip
    (result,) = run_all(make_runner(client, store, entity="activities"), start, end)
    assert result.export_id != "00000000-0000-0000-0000-000000000000"


def test_jobs_are_visible_only_to_the_api_user_that_created_them(sandbox, client):
    sandbox.config.clients["other-user"] = "other-secret"
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    export_id = client.create_export("activities", filter=flt)["exportId"]
    other = make_client(sandbox)
    other.client_id, other._secret = "other-user", type(other._secret)("other-secret")
    assert other.list_exports("activities") == []
    with pytest.raises(MarketoNotFound):
        other.export_status("activities", export_id)
    assert [j["exportId"] for j in client.list_exports("activities")] == [export_id]


def test_cut_download_resumes_with_range_and_matches_the_checksum(sandbox, client, tmp_path):
    end = sandbox.data.end
    sandbox.faults.truncate_download_after_bytes = 5000
    sandbox.faults.truncate_next_downloads = 3
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=10)), "endAt": iso(end)}}
    export_id = client.create_export("activities", filter=flt)["exportId"]
    client.enqueue_export("activities", export_id)
    while (status := client.export_status("activities", export_id))["status"] != "Completed":
        pass
    result = client.download_export(
        "activities", export_id, tmp_path / "f.csv",
        expected_size=status["fileSize"], expected_checksum=status["fileChecksum"],
    )  # fmt: skip
    assert result.resumed == 3
    assert result.sha256 == status["fileChecksum"]
    assert (tmp_path / "f.csv").read_bytes() == sandbox.sandbox.jobs[export_id].file
    assert sandbox.stats.range_downloads == 3 and sandbox.stats.truncated_downloads == 3


def test_runner_download_cut_off_still_gives_exact_rows(sandbox, client):
    end = sandbox.data.end
    sandbox.faults.truncate_download_after_bytes = 20_000
    sandbox.faults.truncate_next_downloads = 2
    (result,) = run_all(make_runner(client, entity="activities"), end - timedelta(days=10), end)
    assert result.download_resumed == 2
    assert set(ids([result], "marketoGUID")) == expected_activity_guids(
        sandbox.data, end - timedelta(days=10), end
    )


def test_checksum_mismatch_is_an_error(sandbox, client, tmp_path):
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    export_id = client.create_export("activities", filter=flt)["exportId"]
    client.enqueue_export("activities", export_id)
    while client.export_status("activities", export_id)["status"] != "Completed":
        pass
    with pytest.raises(MarketoExportError, match="checksum mismatch"):
        client.download_export("activities", export_id, tmp_path / "f.csv", expected_checksum="sha256:00")


def test_file_of_an_incomplete_job_is_a_plain_404(sandbox, client, tmp_path):
    import requests

    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    export_id = client.create_export("activities", filter=flt)["exportId"]
    client.describe_leads()
    resp = requests.get(
        f"{sandbox.url}/bulk/v1/activities/export/{export_id}/file.json",
        headers={"Authorization": f"Bearer {client._token}"},
    )
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("text/plain")
