"""A person's view: `dagster dev` serves the asset graph, and a materialization launched
from the UI in headless Chromium succeeds."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration.settings import PROJECT_ROOT
from tests.servers import skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _restore_sigint() -> None:
    # Started from a script, dagster dev inherits SIGINT ignored and then ignores SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def dagster_dev(tmp_path, sqlite_url):
    from orchestration.demo.generator import Scale, generate
    from orchestration.resources.dbt import prepare_manifest
    from orchestration.settings import load_settings

    generate(sqlite_url, Scale.named("tiny"), seed=42)
    prepare_manifest(load_settings({}))
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "OPS_DATABASE_URL": sqlite_url,
        "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        "WAREHOUSE": "duckdb",
    }
    log = open(tmp_path / "dagster-dev.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-p", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_restore_sigint,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "dagster dev did not start:\n" + (tmp_path / "dagster-dev.log").read_text()[-3000:]
                    ) from None
                time.sleep(1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _dismiss_welcome_dialog(page) -> None:
    # A first visit may show a "Join the Dagster community" dialog over the page.
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.get_by_role("button", name="Skip").click(timeout=5_000)


def test_ui_shows_the_graph_and_a_launched_materialization_succeeds(dagster_dev, tmp_path):
    if not Path(CHROMIUM).exists():
        skip_or_fail("Debian chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    port = dagster_dev
    base = f"http://127.0.0.1:{port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(90_000)

        # The global lineage shows every group; expanded, operational_db shows its assets.
        page.goto(f"{base}/asset-groups/?expanded=global%40global%3Aoperational_db")
        _dismiss_welcome_dialog(page)
        for name in ("order_items", "customers", "staging", "marts", "snapshots"):
            page.get_by_text(name, exact=True).first.wait_for()
        page.screenshot(path=str(tmp_path / "asset-graph.png"))

        # Launch a materialization of one asset from its page.
        page.goto(f"{base}/assets/raw_ops/categories")
        _dismiss_welcome_dialog(page)
        page.get_by_text("Materialize", exact=True).first.click()
        page.get_by_text("Launched run", exact=False).first.wait_for()

        # The run page shows success.
        page.goto(f"{base}/runs")
        page.get_by_text("Success", exact=True).first.wait_for(timeout=150_000)
        page.screenshot(path=str(tmp_path / "runs.png"))
        browser.close()

    runs = _graphql(
        port,
        "{ runsOrError { ... on Runs { results { status assetSelection { path } } } } }",
    )["data"]["runsOrError"]["results"]
    assert [r["status"] for r in runs] == ["SUCCESS"]
    assert runs[0]["assetSelection"] == [{"path": ["raw_ops", "categories"]}]
