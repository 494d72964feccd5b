"""One wal_level=logical PostgreSQL for the whole CDC test session; a database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cdc.logical_postgres import database_on, logical_postgres


@pytest.fixture(scope="session")
def logical_pg_admin() -> Iterator[str]:
    with logical_postgres() as url:
        yield url


@pytest.fixture
def cdc_source_url(logical_pg_admin: str) -> Iterator[str]:
    with database_on(logical_pg_admin) as url:
        yield url
