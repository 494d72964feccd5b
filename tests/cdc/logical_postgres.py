"""A PostgreSQL 15 of the tests' own, with ``wal_level=logical``, for the CDC tests.

The machine's server runs ``wal_level=replica`` and must stay that way (DESIGN.md §6), so the
CDC tests start one from the installed binaries on a free port, as the ``postgres`` user
(PostgreSQL refuses to run as root), and stop it when the session ends. Where the binaries
or ``runuser`` are missing, tests skip, or fail under CI (tests/servers.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from tests.servers import skip_or_fail

PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@contextlib.contextmanager
def logical_postgres(initdb_args: tuple[str, ...] = (), settings: str = "") -> Iterator[str]:
    """Yield the admin URL of a fresh server (trust auth, user postgres); stop it afterwards.

    ``initdb_args`` and ``settings`` (``-c name=value ...``) shape a server for one test module.
    """
    if not (PG_BIN / "initdb").exists() or (os.geteuid() == 0 and not shutil.which("runuser")):
        skip_or_fail(f"no PostgreSQL binaries at {PG_BIN} (TEST_PG_BIN) to start a wal_level=logical server")
    root = Path(tempfile.mkdtemp(prefix="cdc-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    started = False
    try:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", *initdb_args
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-p {port} -k {root} -c wal_level=logical -c listen_addresses=127.0.0.1 "
            "-c max_replication_slots=40 -c max_wal_senders=10 -c fsync=off -c shared_buffers=32MB "
            + settings
        )
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"
            ),
            check=True,
            capture_output=True,
        )
        started = True
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        _wait_ready(url)
        yield url
    except subprocess.CalledProcessError as exc:
        skip_or_fail(
            f"could not start a wal_level=logical PostgreSQL: {exc.stderr.decode(errors='replace')[-500:]}"
        )
    finally:
        if started:
            subprocess.run(
                _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, timeout_s: float = 20) -> None:
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect():
                    return
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


@contextlib.contextmanager
def database_on(admin_url: str) -> Iterator[str]:
    """A fresh database on that server; every replication slot in it is dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                    "where database = :db and not active"
                ),
                {"db": name},
            )
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
