"""Spec item 3: errors arrive in HTTP 200 bodies and are classified by their string code."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestration.marketo import (
    MarketoAccessDenied,
    MarketoNotFound,
    MarketoQuotaExceeded,
    MarketoRequestError,
    MarketoRetryableError,
)
from orchestration.marketo.errors import classify, next_quota_reset
from orchestration.marketo.windows import iso

from .conftest import make_client


@pytest.mark.parametrize(
    ("code", "cls", "hint"),
    [
        ("603", MarketoAccessDenied, "role lacks a permission this call needs (Read-Only Lead"),
        ("607", MarketoQuotaExceeded, "resets at midnight US Central"),
        ("609", MarketoRequestError, "Content-Type is wrong"),
        ("610", MarketoNotFound, "Check MARKETO_BASE_URL"),
        ("612", MarketoRequestError, "Content-Type is wrong"),
    ],
)
def test_fatal_codes_raise_their_class_without_retry(sandbox, client, code, cls, hint):
    sandbox.faults.next_errors = [code]
    with pytest.raises(cls) as info:
        client.describe_leads()
    assert info.value.code == code
    assert f"Marketo error {code}" in str(info.value)
    assert hint in str(info.value)
    assert info.value.request_id
    assert sandbox.stats.api_calls == 1  # not retried
    assert client.calls_used == 0


def test_transient_codes_are_retried_until_success(sandbox, client):
    sandbox.faults.next_errors = ["604", "608", "611", "713", "502"]
    assert client.describe_leads()
    assert {c: sandbox.stats.errors_by_code[c] for c in ("604", "608", "611", "713", "502")} == dict.fromkeys(
        ("604", "608", "611", "713", "502"), 1
    )
    assert client.retries == 5
    assert client.calls_used == 1


def test_retryable_error_gives_up_after_max_retries(sandbox):
    client = make_client(sandbox, max_retries=2)
    sandbox.faults.next_errors = ["604"] * 5
    with pytest.raises(MarketoRetryableError):
        client.describe_leads()
    assert sandbox.stats.api_calls == 3


def test_1003_invalid_fields_fails_with_marketos_message(sandbox, client):
    end = sandbox.data.end
    flt = {"updatedAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    with pytest.raises(MarketoRequestError, match="Invalid fields: notAField") as info:
        client.create_export("leads", filter=flt, fields=["id", "notAField"])
    assert info.value.code == "1003"
    assert "not valid for this subscription" in str(info.value)


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        ("2026-11-29T07:00:00+00:00", "2026-11-30T06:00:00+00:00"),  # CST, UTC-6
        ("2026-07-01T12:00:00+00:00", "2026-07-02T05:00:00+00:00"),  # CDT, UTC-5
        ("2026-07-02T04:59:00+00:00", "2026-07-02T05:00:00+00:00"),  # one minute before it
    ],
)
def test_quota_errors_name_the_next_reset_in_utc(now, reset):
    assert next_quota_reset(datetime.fromisoformat(now)) == datetime.fromisoformat(reset)
    error = classify("607", "Daily quota reached")
    assert isinstance(error, MarketoQuotaExceeded)
    assert f"({next_quota_reset():%Y-%m-%d %H:%M} UTC)" in str(error)
    assert "resumes the same jobs" in str(error)


def test_sandbox_answers_701_for_a_reversed_range(sandbox, client):
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end), "endAt": iso(end - timedelta(days=1))}}
    with pytest.raises(MarketoRequestError) as info:
        client.create_export("activities", filter=flt)
    assert info.value.code == "701"


def test_sandbox_rejects_ranges_over_31_days(sandbox, client):
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=32)), "endAt": iso(end)}}
    with pytest.raises(MarketoRequestError, match="exceeds 31 days"):
        client.create_export("activities", filter=flt)


def test_uri_over_8kb_is_414(sandbox, client):
    emails = [f"someone{i}@example-pharmacy.com.br" for i in range(300)]
    with pytest.raises(MarketoRequestError) as info:
        list(client.get_leads("email", emails))
    assert info.value.code == "414"


def test_body_over_1mb_is_413(sandbox, client):
    end = sandbox.data.end
    flt = {"createdAt": {"startAt": iso(end - timedelta(days=1)), "endAt": iso(end)}}
    with pytest.raises(MarketoRequestError) as info:
        client.create_export("leads", filter=flt, fields=["x" * 1000] * 1100)
    assert info.value.code == "413"
