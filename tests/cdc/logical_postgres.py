"""A PostgreSQL of the tests' own, with ``wal_level=logical``, for the CDC tests.

The machine's server runs ``wal_level=replica`` and must stay that way (DESIGN.md §6), so the
CDC tests start one with the demo's starter (``orchestration/demo/logical_postgres.py``:
PyPI's pgserver, a Unix socket in a temporary directory), and stop and remove it when the
session ends. If it cannot start, tests skip, or fail under CI (tests/servers.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from orchestration.demo.logical_postgres import logical_postgres as start_logical_postgres
from orchestration.demo.logical_postgres import scratch_database
from tests.servers import skip_or_fail

# A test server's data is thrown away: no fsync, little memory.
TEST_SETTINGS = {"fsync": "off", "shared_buffers": "32MB"}


@contextlib.contextmanager
def logical_postgres(settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """Yield the admin URL of a fresh server (trust auth, user postgres); stop it afterwards.

    ``settings`` (name -> value as SHOW prints it) shape a server for one test module.
    """
    root = Path(tempfile.mkdtemp(prefix="cdc-pg-"))
    try:
        with contextlib.ExitStack() as stack:
            try:
                url = stack.enter_context(
                    start_logical_postgres(root / "data", {**TEST_SETTINGS, **(settings or {})})
                )
            except Exception as exc:
                skip_or_fail(f"could not start a wal_level=logical PostgreSQL: {type(exc).__name__}: {exc}")
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_on(admin_url: str) -> contextlib.AbstractContextManager[str]:
    """A fresh database on that server; every replication slot in it is dropped afterwards."""
    return scratch_database(admin_url, "t_")
