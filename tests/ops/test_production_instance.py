"""The production instance (deploy/dagster.yaml) for real: PostgreSQL storage, the daemon
launching scheduled runs from a code location served over gRPC, the webserver, an alert.

A fresh database of the local PostgreSQL server holds the instance. The test turns two
every-minute schedules on with the `dagster schedule start` CLI, waits for the daemon to
launch them (cron granularity is a minute: up to ~70 s), then asserts in PostgreSQL that the
heartbeat run succeeded with its materialization and check, and that the run failure of the
other job reached the Teams stand-in exactly once. Every process is stopped in all cases.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.ops.standins import WebhookStandIn, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCATION = "ops_test_location"


def _restore_sigint() -> None:
    # A child started from a script inherits SIGINT as ignored and then ignores SIGTERM too
    # (shared/DESIGN.md): restore the default so that SIGTERM stops it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Processes:
    def __init__(self, env: dict[str, str], logs: Path):
        self.env, self.logs, self.started = env, logs, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(
            args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_restore_sigint, start_new_session=True,
        )  # fmt: skip
        self.started.append((name, proc, log))
        return proc

    def stop(self) -> None:
        for _, proc, _ in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for _, proc, log in reversed(self.started):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            log.close()

    def tail(self) -> str:
        return "\n".join(
            f"--- {n}\n{(self.logs / f'{n}.log').read_text()[-3000:]}" for n, _, _ in self.started
        )


def _wait(what: str, predicate, timeout: float, processes: Processes, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc, _ in processes.started:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited ({proc.returncode}) while waiting for {what}\n{processes.tail()}")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{processes.tail()}")


@pytest.fixture
def production_home(tmp_path, postgres_url, monkeypatch) -> Iterator[tuple[Path, dict[str, str], str]]:
    url = sa.make_url(postgres_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")  # the production file itself
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database or "",
        "PGSSLMODE": "disable",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name in (
        "DAGSTER_PG_HOST",
        "DAGSTER_PG_PORT",
        "DAGSTER_PG_USER",
        "DAGSTER_PG_PASSWORD",
        "DAGSTER_PG_DB",
    ):
        monkeypatch.setenv(name, env[name])  # the test reads the same instance in-process
    yield home, env, postgres_url


def test_the_daemon_runs_a_schedule_on_postgres_and_a_failure_reaches_the_alert_channel(
    tmp_path, production_home
):
    home, env, postgres_url = production_home
    grpc_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        f"      location_name: {LOCATION}\n"
    )
    workspace = str(tmp_path / "workspace.yaml")
    with WebhookStandIn() as teams:
        env = {
            **env,
            "ALERT_TEAMS_WEBHOOK_URL": f"{teams.url}/teams/webhookb2/SIGNATURE-SECRET-77",
            "DAGSTER_UI_BASE_URL": f"http://127.0.0.1:{web_port}",
        }
        logs = tmp_path / "logs"
        logs.mkdir()
        processes = Processes(env, logs)
        try:
            preflight = subprocess.run(
                [str(BIN / "python"), "-m", "orchestration.preflight"], cwd=ROOT, env=env,
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert preflight.returncode == 0, preflight.stdout + preflight.stderr
            processes.start(
                "grpc", str(BIN / "dagster"), "api", "grpc", "-m", "tests.ops.scheduled_location",
                "-h", "127.0.0.1", "-p", str(grpc_port), "--location-name", LOCATION,
            )  # fmt: skip
            _wait("the gRPC code server", lambda: _port_open(grpc_port), 90, processes)
            processes.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", workspace)
            processes.start(
                "webserver", str(BIN / "dagster-webserver"), "-w", workspace,
                "-h", "127.0.0.1", "-p", str(web_port),
            )  # fmt: skip
            for schedule in ("heartbeat_every_minute", "broken_every_minute"):
                started = subprocess.run(
                    [str(BIN / "dagster"), "schedule", "start", schedule, "-w", workspace],
                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                )  # fmt: skip
                assert started.returncode == 0, started.stdout + started.stderr

            with dg.DagsterInstance.from_config(str(home)) as instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"

                def finished(schedule: str):
                    runs = instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": schedule}))
                    return [r for r in runs if r.is_finished]

                (heartbeat_run, *_) = _wait(
                    "the scheduled heartbeat run", lambda: finished("heartbeat_every_minute"), 150, processes
                )
                assert heartbeat_run.status == dg.DagsterRunStatus.SUCCESS, processes.tail()
                materialization = instance.fetch_materializations(dg.AssetKey("heartbeat"), limit=1).records[
                    0
                ]
                assert materialization.run_id == heartbeat_run.run_id
                check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                    [dg.AssetCheckKey(dg.AssetKey("heartbeat"), "heartbeat_beats")]
                )
                (execution,) = check.values()
                assert execution.run_id == heartbeat_run.run_id
                assert execution.status.value == "SUCCEEDED"

                (broken_run, *_) = _wait(
                    "the scheduled failing run", lambda: finished("broken_every_minute"), 90, processes
                )
                assert broken_run.status == dg.DagsterRunStatus.FAILURE
                _wait("the run-failure alert", teams.teams, 90, processes)
                time.sleep(12)  # two more sensor ticks: no second message
                alerts = [r for r in teams.teams() if broken_run.run_id in r.body]
                assert len(alerts) == 1, [r.body for r in teams.teams()]
                body = alerts[0].body
                assert "broken_feed_job" in body and "HTTP 503" in body
                assert f"http://127.0.0.1:{web_port}/runs/{broken_run.run_id}" in body
                assert "SIGNATURE-SECRET-77" not in body

            # The same facts straight from PostgreSQL's tables.
            engine = sa.create_engine(postgres_url)
            try:
                with engine.connect() as conn:
                    statuses = dict(conn.execute(sa.text("select run_id, status from runs")).all())
                    assert statuses[heartbeat_run.run_id] == "SUCCESS"
                    assert statuses[broken_run.run_id] == "FAILURE"
                    stored = conn.execute(
                        sa.text("select count(*) from event_logs where run_id = :r and dagster_event_type = 'ASSET_MATERIALIZATION'"),
                        {"r": heartbeat_run.run_id},
                    ).scalar_one()  # fmt: skip
                    assert stored == 1
                    checks = conn.execute(
                        sa.text("select execution_status from asset_check_executions where run_id = :r"),
                        {"r": heartbeat_run.run_id},
                    ).scalars().all()  # fmt: skip
                    assert checks == ["SUCCEEDED"]
            finally:
                engine.dispose()

            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/server_info", timeout=10) as answer:
                assert answer.status == 200  # the webserver serves the same instance
        finally:
            processes.stop()
    assert all(proc.poll() is not None for _, proc, _ in processes.started)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
