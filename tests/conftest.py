"""Shared fixtures: real database servers, each test getting its own database.

Tests that need a server skip with a reason when it is not reachable, except under
CI (``CI=true`` or ``REQUIRE_SERVERS=1``), where a missing server is a failure.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

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
# Start from the manifest `make prepare` parsed (tests that need a fresh one parse again).
_PREPARED = os.path.join(os.path.dirname(__file__), os.pardir, "dbt_project", "target")
for _artifact in ("manifest.json", "partial_parse.msgpack"):
    if os.path.exists(os.path.join(_PREPARED, _artifact)):
        os.makedirs(os.environ["DBT_TARGET_PATH"], exist_ok=True)
        shutil.copy(os.path.join(_PREPARED, _artifact), os.environ["DBT_TARGET_PATH"])

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
MARIADB_ADMIN_URL = os.environ.get("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def servers_required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("REQUIRE_SERVERS") == "1"


def skip_or_fail(reason: str) -> None:
    if servers_required():
        pytest.fail(f"{reason} (servers are required under CI=true / REQUIRE_SERVERS=1)")
    pytest.skip(reason)


def _admin_engine(url: str, what: str) -> sa.Engine:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        engine.dispose()
        skip_or_fail(f"{what} is not reachable at {engine.url.render_as_string(hide_password=True)}: {exc}")
    return engine


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A fresh, empty database on the machine's PostgreSQL or MariaDB; dropped afterwards.

    For fixtures of any scope: a module that shares one built warehouse shares its source too.
    """
    if kind == "postgresql":
        admin = _admin_engine(PG_ADMIN_URL, "PostgreSQL")
        create, drop = 'CREATE DATABASE "{}"', 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)'
    elif kind == "mariadb":
        admin = _admin_engine(MARIADB_ADMIN_URL, "MariaDB")
        create, drop = "CREATE DATABASE `{}` CHARACTER SET utf8mb4", "DROP DATABASE IF EXISTS `{}`"
    else:
        raise ValueError(f"no such server kind: {kind!r}")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(create.format(name)))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(drop.format(name)))
        admin.dispose()


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


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ops.db'}"
