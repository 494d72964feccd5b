"""Spec items 1-2: token lifecycle, bad credentials, token only in the header, secret never shown."""

from __future__ import annotations

import logging
import socket
import time
import traceback
from datetime import timedelta

import pytest
import requests

from orchestration.demo.marketo_sandbox import SandboxConfig, start_sandbox
from orchestration.marketo import MarketoAuthError, MarketoClient

from .conftest import expected_activity_guids, make_client, make_runner, run_all


def test_token_is_reused_across_calls(sandbox, client):
    for _ in range(15):
        client.describe_leads()
    assert sandbox.stats.tokens_issued == 1
    assert client.token_requests == 1
    assert client.calls_used == 15


def test_token_is_refreshed_before_it_expires_without_a_602(sandbox_data):
    """Marketo hands back the same token until it expires; inside the refresh margin the
    client asks once, and once the token's time is up it gets a new one before calling."""
    config = SandboxConfig(rate_limit_calls=1_000_000, token_ttl_s=3.0)
    with start_sandbox(data=sandbox_data, config=config) as handle:
        client = make_client(handle, token_refresh_margin_s=1.5)
        started = time.monotonic()
        for _ in range(3):
            client.describe_leads()  # one token, reused
        assert (client.token_requests, handle.stats.tokens_issued) == (1, 1)
        time.sleep(max(0.0, started + 1.7 - time.monotonic()))
        client.describe_leads()  # inside the margin: asks, gets the same token back
        assert (client.token_requests, handle.stats.tokens_issued) == (2, 1)
        time.sleep(max(0.0, started + 3.2 - time.monotonic()))
        client.describe_leads()  # expired: a new token first, then the call
        assert (client.token_requests, handle.stats.tokens_issued) == (3, 2)
        assert handle.stats.errors_by_code.get("601", 0) == handle.stats.errors_by_code.get("602", 0) == 0
        assert client.calls_used == 5


def test_602_during_paging_refreshes_once_and_retries(sandbox, client):
    since = sandbox.data.end - timedelta(days=20)
    sandbox.faults.token_expire_after_calls = 4
    got = [a["marketoGUID"] for a in client.iter_activities(since, [1, 6, 7, 10])]
    assert len(got) == len(set(got))
    assert set(got) == expected_activity_guids(
        sandbox.data, since, sandbox.data.end + timedelta(1), {1, 6, 7, 10}
    )
    assert sandbox.stats.errors_by_code["602"] == 1
    assert sandbox.stats.tokens_issued == 2
    assert client.token_requests == 2


def test_602_during_polling_refreshes_once_and_retries(sandbox, client):
    sandbox.config.job_step_polls = 3
    end = sandbox.data.end
    runner = make_runner(client, entity="activities")
    sandbox.faults.token_expire_after_calls = 4  # create, enqueue, status, status, then 602
    results = run_all(runner, end - timedelta(days=5), end)
    assert {g for r in results for g in r.table.column("marketoGUID").to_pylist()} == expected_activity_guids(
        sandbox.data, end - timedelta(days=5), end
    )
    assert sandbox.stats.errors_by_code["602"] == 1
    assert sandbox.stats.tokens_issued == 2


def test_token_rejected_twice_is_an_auth_error(sandbox, client):
    sandbox.faults.next_errors = ["601", "601"]
    with pytest.raises(MarketoAuthError, match="rejected again after a refresh"):
        client.describe_leads()


def test_bad_credentials_give_a_clear_error_without_the_secret(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-secret-value-123"
    bad = MarketoClient(sandbox.url, sandbox.client_id, secret, max_retries=0)
    with pytest.raises(MarketoAuthError) as info:
        bad.describe_leads()
    text = "".join(traceback.format_exception(info.value))
    assert "invalid_client" in str(info.value)
    assert "Bad client credentials" in str(info.value)
    assert "MARKETO_CLIENT_SECRET" in str(info.value)
    assert secret not in text
    assert secret not in repr(bad) and secret not in str(vars(bad))
    assert secret not in caplog.text
    assert sandbox.stats.api_calls == 0


def test_unreachable_identity_error_does_not_leak_the_secret():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cr3t-should-not-leak"
    client = MarketoClient(f"http://127.0.0.1:{port}", "cid", secret, max_retries=1, backoff_base_s=0.01)
    with pytest.raises(MarketoAuthError) as info:
        client.describe_leads()
    assert secret not in "".join(traceback.format_exception(info.value))
    assert "identity" in str(info.value)


def test_token_only_travels_in_the_authorization_header(sandbox, client):
    end = sandbox.data.end
    client.describe_leads()
    list(client.iter_programs())
    run_all(make_runner(client, entity="activities"), end - timedelta(days=3), end)
    stats = sandbox.stats
    assert stats.query_token_calls == 0
    assert stats.header_token_calls == stats.api_calls > 5


def test_sandbox_rejects_the_access_token_query_parameter(sandbox, client):
    client.describe_leads()
    token = client._token
    body = requests.get(f"{sandbox.url}/rest/v1/leads/describe.json", params={"access_token": token}).json()
    assert body["success"] is False
    assert body["errors"][0]["code"] == "601"
