"""One wal_level=logical PostgreSQL and one row-binlog MariaDB for the whole CDC test session
(each started on first use); a database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cdc.binlog_mariadb import binlog_mariadb
from tests.cdc.binlog_mariadb import database_on as mariadb_database_on
from tests.cdc.logical_postgres import database_on, logical_postgres


@pytest.fixture(scope="session")
def logical_pg_admin() -> Iterator[str]:
    with logical_postgres() as url:
        yield url


@pytest.fixture
def cdc_source_url(logical_pg_admin: str) -> Iterator[str]:
    with database_on(logical_pg_admin) as url:
        yield url


@pytest.fixture(scope="session")
def binlog_mariadb_admin() -> Iterator[str]:
    with binlog_mariadb() as url:
        yield url


@pytest.fixture
def cdc_mariadb_url(binlog_mariadb_admin: str) -> Iterator[str]:
    with mariadb_database_on(binlog_mariadb_admin) as url:
        yield url
