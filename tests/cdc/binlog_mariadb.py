"""A MariaDB of the tests' own with a row-based binlog, for the binlog CDC tests.

The machine's server runs with ``log_bin=OFF`` and must stay that way (DESIGN.md §6), so
these tests start one with orchestration/demo/binlog_mariadb.py (the installed binaries, a
temporary directory, a free port) and stop it when the session ends. Where it cannot start,
tests skip, or fail under CI (tests/servers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from orchestration.demo import binlog_mariadb as server
from orchestration.demo.binlog_mariadb import CDC_SETTINGS, SERVER_ID, database_on
from tests.servers import skip_or_fail

__all__ = ["CDC_SETTINGS", "SERVER_ID", "binlog_mariadb", "database_on"]


@contextlib.contextmanager
def binlog_mariadb(settings: tuple[str, ...] = CDC_SETTINGS, log_bin: bool = True) -> Iterator[str]:
    """Yield the admin URL (root, no password) of a fresh server; stop it afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(server.binlog_mariadb(settings, log_bin))
        except server.ServerUnavailable as exc:
            skip_or_fail(str(exc))
        yield url
