"""A MariaDB of our own with a row-based binlog, from the machine's installed binaries.

Binlog change data capture needs ``log_bin`` and ``binlog_format=ROW``; the server a machine
already runs may not have them (this one's runs ``log_bin=OFF``, and it is not ours to
reconfigure). The CDC tests and the CDC benchmark start one in a temporary directory, on a
free port on 127.0.0.1, and stop it by its pid file afterwards. A server that cannot start
raises ServerUnavailable with the reason (its log's tail).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
SERVER_ID = 1  # the server's own; the CDC reader registers with another (CDC_BINLOG_SERVER_ID)

CDC_SETTINGS = (
    "--binlog-format=ROW",
    "--binlog-row-image=FULL",
    "--binlog-row-metadata=FULL",
)


class ServerUnavailable(RuntimeError):
    """The binaries are missing or the server did not start; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def binlog_mariadb(settings: tuple[str, ...] = CDC_SETTINGS, log_bin: bool = True) -> Iterator[str]:
    """Yield the admin URL (root, no password) of a fresh server; stop it afterwards."""
    if not (Path(MARIADBD).exists() and Path(INSTALL_DB).exists()):
        raise ServerUnavailable(
            f"no MariaDB binaries ({MARIADBD}, {INSTALL_DB}) to start a server with a binlog"
        )
    root = Path(tempfile.mkdtemp(prefix="cdc-mariadb-"))
    data, pid_file = root / "data", root / "pid"
    user = ["--user=mysql"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        shutil.chown(root, "mysql", "mysql")
    port = _free_port()
    server = None
    try:
        subprocess.run(
            [
                INSTALL_DB,
                *user,
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                *user,
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={root / 'sock'}",
                f"--pid-file={pid_file}",
                f"--log-error={root / 'log'}",
                f"--server-id={SERVER_ID}",
                *([f"--log-bin={root / 'binlog'}"] if log_bin else []),
                *settings,
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
                "--sync-binlog=0",
                "--skip-name-resolve",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"mysql+pymysql://root@127.0.0.1:{port}/mysql"
        _wait_ready(url, server, root / "log")
        yield url
    except subprocess.CalledProcessError as exc:
        raise ServerUnavailable(
            f"could not initialise a MariaDB data directory: {exc.stderr.decode(errors='replace')[-500:]}"
        ) from exc
    finally:
        _stop(pid_file, server)
        shutil.rmtree(root, ignore_errors=True)


def _stop(pid_file: Path, server: subprocess.Popen | None) -> None:
    # By the pid file (the server's own record of itself), then waiting for our child.
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    if server is not None:
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def _wait_ready(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 30) -> None:
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect():
                    return
            except sa.exc.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                    raise ServerUnavailable(f"the MariaDB with a binlog did not start: {tail}") from None
                time.sleep(0.1)
    finally:
        engine.dispose()


@contextlib.contextmanager
def database_on(admin_url: str) -> Iterator[str]:
    """A fresh database on that server; dropped afterwards."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"create database `{name}` character set utf8mb4"))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop database if exists `{name}`"))
        admin.dispose()
