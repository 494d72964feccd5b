"""Spec items 11, 13, 14, 15: CSV edge cases, lead updatedAt and the 1035 fallback, REST paging, re-runs."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from datetime import timedelta

import pyarrow as pa
import pytest

from orchestration.demo.marketo_sandbox import NASTY_VALUES, SandboxData, nasty_value_for
from orchestration.marketo import (
    SWEEP_FALLBACK,
    CsvBatchReader,
    CsvFormatError,
    InMemoryStateStore,
    Window,
    read_csv_table,
)
from orchestration.marketo.windows import iso, parse_ts

from .conftest import expected_activity_guids, expected_lead_ids, ids, make_runner, run_all

NASTY_FILE = (
    b'id,company,attributes\r\n'
    b'1,"line one\nline two","{""a"": 1}"\r\n'
    b'2,"crlf\r\ninside",null\r\n'
    b'3,"she said ""hi"", then left","{}"\r\n'
    b'4,"nul\x00byte",null\n'
    b'5,"ls\xe2\x80\xa8ps\xe2\x80\xa9end",null\n'
    b'6,null,null\n'
    b'7,"",null\n'
)  # fmt: skip


def test_csv_edge_cases_parse_to_exact_values():
    reader = CsvBatchReader(io.BytesIO(NASTY_FILE))
    table = reader.read_all()
    assert table.schema == pa.schema(
        [("id", pa.string()), ("company", pa.string()), ("attributes", pa.string())]
    )
    assert table.column("company").to_pylist() == [
        "line one\nline two",
        "crlf\r\ninside",
        'she said "hi", then left',
        "nulbyte",  # NUL stripped (documented)
        "ls\u2028ps\u2029end",
        None,  # literal null
        "",
    ]
    assert table.column("attributes").to_pylist()[:3] == ['{"a": 1}', None, "{}"]
    assert reader.nul_bytes_stripped == 1


def test_header_only_file_gives_an_empty_table_with_the_columns():
    table = read_csv_table(b"marketoGUID,leadId,activityDate\n")
    assert table.num_rows == 0
    assert table.column_names == ["marketoGUID", "leadId", "activityDate"]


def test_bom_is_dropped_and_batches_are_bounded():
    data = "\ufeffid\n" + "".join(f"{i}\n" for i in range(25))
    batches = list(CsvBatchReader(io.BytesIO(data.encode()), batch_rows=10))
    assert [b.num_rows for b in batches] == [10, 10, 5]
    assert batches[0].schema.names == ["id"]


def test_invalid_json_attributes_and_ragged_rows_are_errors():
    with pytest.raises(CsvFormatError, match="not valid JSON"):
        read_csv_table(b'id,attributes\n1,"{broken"\n')
    with pytest.raises(CsvFormatError, match="has 3 fields, the header has 2"):
        read_csv_table(b"id,company\n1,a,b\n")


def test_nasty_values_from_a_real_export_round_trip(sandbox, client):
    sandbox.faults.nasty_csv = True
    end = sandbox.data.end
    start = end - timedelta(days=30)
    runner = make_runner(client, entity="leads", fields=["id", "company", "updatedAt"])
    (result,) = run_all(runner, start, end)
    rows = {r["id"]: r["company"] for r in result.table.to_pylist()}
    in_file = sorted(
        (lead for lead in sandbox.data.leads if start <= parse_ts(lead["updatedAt"]) <= end),
        key=lambda x: x["id"],
    )
    assert set(rows) == {str(lead["id"]) for lead in in_file}
    for i, lead in enumerate(in_file):
        bad = nasty_value_for(i)
        assert rows[str(lead["id"])] == (bad.replace("\x00", "") if bad is not None else lead["company"])
    assert {v.replace("\x00", "") for v in NASTY_VALUES} <= set(rows.values())

    (acts,) = run_all(make_runner(client, entity="activities"), end - timedelta(days=3), end)
    notes = [json.loads(a).get("Note") for a in acts.table.column("attributes").to_pylist()]
    assert notes == [nasty_value_for(i) for i in range(len(notes))]  # JSON keeps an escaped NUL as \u0000
    values = acts.table.column("primaryAttributeValue").to_pylist()
    assert [v for i, v in enumerate(values) if i % 5 == 0] == [
        nasty_value_for(i).replace("\x00", "") for i in range(0, len(values), 5)
    ]


ACTIVITY_CSV_COLUMNS = [
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
    "attributes",
]  # the spec's bulk activity columns


def download_served_file(client, entity: str, flt: dict, dest, fields=None) -> tuple[dict, object]:
    """create -> enqueue -> poll -> client.download_export: the file exactly as the sandbox serves it."""
    export_id = client.create_export(entity, filter=flt, fields=fields)["exportId"]
    client.enqueue_export(entity, export_id)
    while (status := client.export_status(entity, export_id))["status"] != "Completed":
        pass
    download = client.download_export(
        entity, export_id, dest, expected_size=status["fileSize"], expected_checksum=status["fileChecksum"]
    )
    return status, download


def test_served_literal_null_becomes_a_real_null(sandbox, client, tmp_path):
    fields = ["id", "website", "annualRevenue", "dateOfBirth", "city", "createdAt", "updatedAt"]
    end = sandbox.data.end
    start = end - timedelta(days=30)
    in_range = sorted(
        (lead for lead in sandbox.data.leads if start <= parse_ts(lead["updatedAt"]) <= end),
        key=lambda lead: lead["id"],
    )
    expected = {
        str(lead["id"]): {f: None if lead[f] is None else str(lead[f]) for f in fields} for lead in in_range
    }
    expected_nulls = sum(v is None for row in expected.values() for v in row.values())
    assert expected_nulls > len(in_range)  # dateOfBirth is always empty, others sometimes
    assert not any(v == "null" for row in expected.values() for v in row.values())

    flt = {"updatedAt": {"startAt": iso(start), "endAt": iso(end)}}
    status, download = download_served_file(client, "leads", flt, tmp_path / "leads.csv", fields)
    raw = (tmp_path / "leads.csv").read_bytes()
    cells = [v for row in csv.reader(io.StringIO(raw.decode())) for v in row]
    assert cells.count("null") == expected_nulls  # the sandbox served the literal text
    assert download.size == status["fileSize"] == len(raw)
    table = read_csv_table(tmp_path / "leads.csv")
    assert {r["id"]: r for r in table.to_pylist()} == expected

    (result,) = run_all(make_runner(client, entity="leads", fields=fields), start, end)
    assert result.table.column_names == fields
    assert {r["id"]: r for r in result.table.to_pylist()} == expected


def test_served_crlf_file_parses_to_the_same_rows_as_lf(sandbox, client, tmp_path):
    sandbox.faults.nasty_csv = True  # embedded LF / CRLF / U+2028 inside values, with CRLF rows
    end = sandbox.data.end
    start = end - timedelta(days=3)
    (lf,) = run_all(make_runner(client, entity="activities", state_key="lf"), start, end)
    lf_file = sandbox.sandbox.jobs[lf.export_id].file
    assert b"\r\n" not in lf_file.replace(b"windows\r\nline break", b"")

    sandbox.faults.csv_line_terminator = "\r\n"
    flt = {"createdAt": {"startAt": iso(start), "endAt": iso(end)}}
    status, _ = download_served_file(client, "activities", flt, tmp_path / "crlf.csv")
    crlf_file = (tmp_path / "crlf.csv").read_bytes()
    assert crlf_file.startswith(",".join(ACTIVITY_CSV_COLUMNS).encode() + b"\r\n")
    assert crlf_file.endswith(b"\r\n")
    assert crlf_file.count(b"\r\n") >= status["numberOfRecords"] + 1
    assert len(crlf_file) > len(lf_file)
    served = read_csv_table(tmp_path / "crlf.csv")
    assert served.equals(read_csv_table(lf_file))
    assert served.num_rows == status["numberOfRecords"] == lf.rows_in_file
    assert not any(v.endswith("\r") for v in served.column("attributes").to_pylist())

    (crlf,) = run_all(make_runner(client, entity="activities", state_key="crlf"), start, end)
    assert sandbox.sandbox.jobs[crlf.export_id].file.count(b"\r\n") >= crlf.rows_in_file + 1
    assert crlf.table.equals(lf.table)
    values = crlf.table.column("primaryAttributeValue").to_pylist()
    assert values[0] == "line one\nline two" and values[5] == "windows\r\nline break"
    assert set(crlf.table.column("marketoGUID").to_pylist()) == expected_activity_guids(
        sandbox.data, start, end
    )


@pytest.mark.parametrize("terminator", ["\n", "\r\n"])
def test_header_only_window_gives_no_rows_the_columns_and_advances_the_bookmark(sandbox, client, terminator):
    sandbox.faults.csv_line_terminator = terminator
    end = sandbox.data.end
    start, stop = end - timedelta(days=420), end - timedelta(days=400)  # activities cover 365 days
    assert expected_activity_guids(sandbox.data, start, stop) == set()
    store = InMemoryStateStore()
    (result,) = run_all(make_runner(client, store, entity="activities"), start, stop)
    assert (
        sandbox.sandbox.jobs[result.export_id].file == (",".join(ACTIVITY_CSV_COLUMNS) + terminator).encode()
    )
    assert result.table.num_rows == 0 and result.rows_in_file == 0
    assert result.table.column_names == ACTIVITY_CSV_COLUMNS
    assert result.file_size == len(",".join(ACTIVITY_CSV_COLUMNS)) + len(terminator)
    assert result.window == Window(start, stop)
    assert store.get("activities") == {"bookmark": iso(stop), "jobs": {}, "sweep": None}


def test_lead_export_uses_updated_at_so_old_leads_updated_recently_are_found(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=30)
    results = run_all(
        make_runner(client, entity="leads", fields=["id", "email", "createdAt", "updatedAt"]), start, end
    )
    got = ids(results, "id")
    assert len(got) == len(set(got))
    assert set(got) == expected_lead_ids(sandbox.data, "updatedAt", start, end)
    created_before = set(got) - expected_lead_ids(sandbox.data, "createdAt", start, end)
    assert len(created_before) > 100  # a createdAt filter would have missed all of these
    assert all(r.fallback is None for r in results)


def test_1035_falls_back_to_a_full_created_at_sweep_without_losing_updates(sandbox, client, caplog):
    caplog.set_level(logging.WARNING)
    sandbox.faults.lead_updated_at_filter_unsupported = True
    end = sandbox.data.end
    start = end - timedelta(days=30)
    history = end - timedelta(days=3 * 365 + 1)
    store = InMemoryStateStore()
    runner = make_runner(client, store, entity="leads", fields=["id", "email"], lead_history_start=history)
    results = run_all(runner, start, end)
    got = ids(results, "id")
    assert len(got) == len(set(got))
    assert set(got) == expected_lead_ids(sandbox.data, "updatedAt", start, end)
    assert all(r.fallback == SWEEP_FALLBACK and r.metadata["fallback"] == SWEEP_FALLBACK for r in results)
    assert all(r.filter_field == "createdAt" for r in results)
    assert len(results) == math.ceil((end - history) / timedelta(days=31))
    assert "full createdAt sweep" in caplog.text
    state = store.get("leads")
    assert (state["bookmark"], state["jobs"], state["sweep"]) == (iso(end), {}, None)
    # the 1035 is remembered: later runs read only new leads and changed leads
    assert state["fallback"]["created_through"] == state["fallback"]["changes_since"] == iso(end)
    assert sandbox.stats.errors_by_code["1035"] == 1


def test_interrupted_sweep_resumes_where_it_stopped(sandbox, client):
    sandbox.faults.lead_updated_at_filter_unsupported = True
    end = sandbox.data.end
    start = end - timedelta(days=30)
    history = end - timedelta(days=3 * 365 + 1)
    store = InMemoryStateStore()
    first = []
    runner = make_runner(client, store, entity="leads", fields=["id"], lead_history_start=history)
    for result in runner.run(start, end):
        first.append(result)
        runner.commit(result)
        if len(first) == 10:
            break
    assert store.get("leads")["sweep"]["cursor"] == iso(first[-1].window.end)
    rest = run_all(
        make_runner(client, store, entity="leads", fields=["id"], lead_history_start=history), start, end
    )
    assert rest[0].window.start == first[-1].window.end
    assert set(ids(first + rest, "id")) == expected_lead_ids(sandbox.data, "updatedAt", start, end)


def test_activity_paging_continues_through_short_and_empty_pages(sandbox, client):
    end = sandbox.data.end
    since = end - timedelta(days=60)
    got = list(client.iter_activities(since, [9], batch_size=50))
    assert {a["marketoGUID"] for a in got} == expected_activity_guids(sandbox.data, since, end, {9})
    scanned = sum(1 for a in sandbox.data.activities if parse_ts(a["activityDate"]) >= since)
    pages = sandbox.stats.calls_by_path["/rest/v1/activities.json"]
    assert pages == math.ceil(scanned / 50)
    assert len(got) < pages  # most pages were empty, yet paging went on while moreResult was true
    assert all(isinstance(a["attributes"], list) for a in got)


def test_more_than_10_activity_types_are_split_into_calls_of_10(sandbox, client):
    end = sandbox.data.end
    since = end - timedelta(days=2)
    types = [1, 2, 6, 7, 9, 10, 11, 12, 13, 14, 15]  # 14 and 15 do not exist here: nothing for them
    got = list(client.iter_activities(since, types))
    assert {a["marketoGUID"] for a in got} == expected_activity_guids(sandbox.data, since, end)


def test_programs_page_until_the_no_assets_warning(sandbox, client):
    programs = list(client.iter_programs(max_return=7))
    assert [p["id"] for p in programs] == [p["id"] for p in sandbox.data.programs]
    assert sandbox.stats.calls_by_path["/rest/asset/v1/programs.json"] == 6  # 7+7+7+7+2, then the warning


def test_describe_types_and_leads_by_email(sandbox, client):
    names = client.lead_rest_fields()
    assert {"id", "email", "updatedAt", "createdAt", "company"} <= set(names)
    assert len(names) == len(client.describe_leads()) - 2  # fields without `rest` are unusable
    assert [t["id"] for t in client.activity_types()] == [1, 2, 6, 7, 9, 10, 11, 12, 13]
    wanted = [lead["id"] for lead in sandbox.data.leads[:450]]
    found = list(client.get_leads("id", wanted, ["id", "email"], batch_size=100))
    assert sorted(x["id"] for x in found) == wanted
    assert sandbox.stats.calls_by_path["/rest/v1/leads.json"] == 5  # 300 ids: 3 pages of 100, then 150: 2
    emails = [lead["email"] for lead in sandbox.data.leads[:20]]
    assert [x["email"] for x in client.get_leads("email", emails, ["email"])] == emails


def test_rerun_after_a_partial_failure_leaves_the_same_warehouse_rows(sandbox, client):
    end = sandbox.data.end
    start = end - timedelta(days=70)

    def load(warehouse: dict, raw: list, result) -> None:
        raw.extend(result.table.to_pylist())  # raw is append-only
        for row in result.table.to_pylist():  # staging keeps the latest version per key
            warehouse[row["marketoGUID"]] = row

    clean: dict = {}
    runner = make_runner(client, entity="activities", state_key="clean")
    for result in runner.run(start, end):
        load(clean, [], result)
        runner.commit(result)

    store = InMemoryStateStore()
    crashed: dict = {}
    raw: list = []
    runner = make_runner(client, store, entity="activities", state_key="crashy")
    for n, result in enumerate(runner.run(start, end)):
        load(crashed, raw, result)
        if n == 1:
            break  # the process dies after loading window 2, before committing it
        runner.commit(result)
    sandbox.faults.fail_next_jobs = 1
    runner = make_runner(client, store, entity="activities", state_key="crashy")
    for result in runner.run(start, end):
        load(crashed, raw, result)
        runner.commit(result)
    assert len(raw) > len(crashed)  # window 2 was read twice
    assert crashed == clean
    assert set(clean) == expected_activity_guids(sandbox.data, start, end)


def test_sandbox_data_is_deterministic_and_joins_customer_emails():
    emails = [f"compras{i}@farmacia{i}.com.br" for i in range(5000)]
    a = SandboxData.build(7, parse_ts("2025-06-01T00:00:00Z"), customer_emails=emails, n_leads=500)
    b = SandboxData.build(7, parse_ts("2025-06-01T00:00:00Z"), customer_emails=emails, n_leads=500)
    assert a.leads == b.leads and a.activities == b.activities and a.programs == b.programs
    matched = sum(lead["email"] in set(emails) for lead in a.leads)
    assert matched == 300  # 60 %
    assert all(lead["updatedAt"] >= lead["createdAt"] for lead in a.leads)
    long_after = [
        lead
        for lead in a.leads
        if parse_ts(lead["updatedAt"]) - parse_ts(lead["createdAt"]) > timedelta(days=180)
    ]
    assert len(long_after) > 50
    assert {t["activityTypeId"] for t in a.activities} == {1, 2, 6, 7, 9, 10, 11, 12, 13}
    few = SandboxData.build(7, parse_ts("2025-06-01T00:00:00Z"), customer_emails=emails[:10], n_leads=500)
    assert sum(lead["email"] in set(emails) for lead in few.leads) == 10


def test_sandbox_runs_standalone_from_the_command_line(tmp_path):
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration.demo.marketo_sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}/identity/oauth/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
        }
        deadline = time.monotonic() + 10
        while True:
            try:
                body = requests.post(url, data=form, timeout=2).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert body["token_type"] == "bearer" and 3590 <= body["expires_in"] <= 3600
    finally:
        proc.terminate()
        proc.wait(10)
