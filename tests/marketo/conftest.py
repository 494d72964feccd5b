"""Fixtures: a real sandbox server on a free port per test, and a fast-polling client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, SandboxHandle, start_sandbox
from orchestration.marketo import InMemoryStateStore, MarketoClient
from orchestration.marketo.bulk import ExportJobRunner
from orchestration.marketo.windows import parse_ts

FAST = {
    "poll_interval_s": 0.005,
    "poll_timeout_s": 20.0,
    "max_retries": 8,
    "backoff_base_s": 0.01,
    "backoff_max_s": 0.2,
    # No client-side pacing: the sandboxes here raise their limit, and the 606 tests need the
    # client to run into the server's limit. Pacing has its own test in test_limits.
    "rate_limit_calls": 0,
}


@pytest.fixture(scope="session")
def sandbox_data() -> SandboxData:
    return SandboxData.build(42)


@pytest.fixture
def sandbox(sandbox_data: SandboxData) -> Iterator[SandboxHandle]:
    # The real 100 calls / 20 s limit is exercised in test_limits; elsewhere it would only slow tests.
    with start_sandbox(data=sandbox_data, config=SandboxConfig(rate_limit_calls=1_000_000)) as handle:
        yield handle


def make_client(handle: SandboxHandle, **overrides) -> MarketoClient:
    return MarketoClient(handle.url, handle.client_id, handle.client_secret, **{**FAST, **overrides})


@pytest.fixture
def client(sandbox: SandboxHandle) -> MarketoClient:
    return make_client(sandbox)


def make_runner(client: MarketoClient, store=None, **kwargs) -> ExportJobRunner:
    kwargs.setdefault("state_key", kwargs["entity"])
    return ExportJobRunner(client, store if store is not None else InMemoryStateStore(), **kwargs)


def run_all(runner: ExportJobRunner, start: datetime, end: datetime) -> list:
    results = []
    for result in runner.run(start, end):
        results.append(result)
        runner.commit(result)
    return results


def ids(results, column: str) -> list:
    return [v for r in results for v in r.table.column(column).to_pylist()]


def expected_activity_guids(data: SandboxData, start: datetime, end: datetime, types=None) -> set[str]:
    return {
        a["marketoGUID"]
        for a in data.activities
        if start <= parse_ts(a["activityDate"]) < end and (types is None or a["activityTypeId"] in types)
    }


def expected_lead_ids(data: SandboxData, field: str, start: datetime, end: datetime) -> set[str]:
    return {str(lead["id"]) for lead in data.leads if start <= parse_ts(lead[field]) < end}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
