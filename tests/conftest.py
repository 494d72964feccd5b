"""Shared fixtures: real database servers, each test getting its own database.

Tests that need a server skip with a reason when it is not reachable, except under
CI (``CI=true`` or ``REQUIRE_SERVERS=1``), where a missing server is a failure.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

# Before anything imports orchestration.settings (which reads PLATFORM_DATA_DIR once): each
# test process, and each pytest-xdist worker (`make test` runs two), gets its own data
# directory (landing files, Data Docs, default paths) and its own dbt target and log
# directories, so parallel workers never overwrite each other's files, nor the demo's.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_TEST_DATA = tempfile.mkdtemp(prefix=f"pharma-tests-{_WORKER}-")
atexit.register(shutil.rmtree, _TEST_DATA, ignore_errors=True)
os.environ["PLATFORM_DATA_DIR"] = os.path.join(_TEST_DATA, "data")
os.environ["DBT_TARGET_PATH"] = os.path.join(_TEST_DATA, "dbt-target")
os.environ["DBT_LOG_PATH"] = os.path.join(_TEST_DATA, "dbt-logs")
os.environ.pop("QUALITY_DATA_DOCS_DIR", None)
# The dbt metadata fetch (16-40 s a build) is proven once, on tests/pipeline/test_end_to_end.py's
# SQLite build, which turns it back on; every other build in the suite leaves it out.
os.environ["DBT_FETCH_METADATA"] = "false"
# Start from the manifest `make prepare` parsed (tests that need a fresh one parse again).
_PREPARED = os.path.join(os.path.dirname(__file__), os.pardir, "dbt_project", "target")
for _artifact in ("manifest.json", "partial_parse.msgpack"):
    if os.path.exists(os.path.join(_PREPARED, _artifact)):
        os.makedirs(os.environ["DBT_TARGET_PATH"], exist_ok=True)
        shutil.copy(os.path.join(_PREPARED, _artifact), os.environ["DBT_TARGET_PATH"])

from tests.servers import (  # noqa: E402 (after the environment above is set)
    MARIADB_ADMIN_URL,
    PG_ADMIN_URL,
    fresh_database,
    servers_required,
    skip_or_fail,
)

__all__ = ["MARIADB_ADMIN_URL", "PG_ADMIN_URL", "servers_required", "skip_or_fail"]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    with fresh_database("postgresql") as url:
        yield url


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A fresh, empty MariaDB database; dropped afterwards."""
    with fresh_database("mariadb") as url:
        yield url


@pytest.fixture(scope="session")
def tiny_demo_daily(tmp_path_factory: pytest.TempPathFactory):
    """The tiny demo after one clean daily_full_build, built once per run (tests/built_demo.py);
    ``.copy_to(directory, monkeypatch)`` gives a test its own copy to carry on from."""
    from tests.built_demo import built_tiny_demo

    return built_tiny_demo(tmp_path_factory)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ops.db'}"


@pytest.hookimpl(optionalhook=True)  # xdist's hook; absent under -p no:xdist
def pytest_xdist_make_scheduler(config, log):
    """Files sharing a costly fixture go to one worker, heaviest first (tests/xdist_units.py)."""
    if config.getoption("dist") != "loadfile":
        return None
    from tests.xdist_units import SharedFixtureScheduling

    return SharedFixtureScheduling(config, log)
