"""The machine's database servers for tests: admin URLs, skip-or-fail, fresh databases.

A module of its own, not conftest.py: test modules import from here, and importing
conftest.py as ``tests.conftest`` would run its environment set-up a second time.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

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
