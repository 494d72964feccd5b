"""Tell a transient fault (retry it) from a permanent one (fail at once).

A dropped connection, a server restart, a lock or statement timeout, a deadlock: the
same extraction run a few seconds later succeeds, so the asset asks Dagster for a
retry with backoff. A wrong password, a missing table, a permission error, schema
drift or too many rejected rows will fail the same way every time: retrying only
delays the alert, so those fail immediately. Anything not recognised is permanent:
an unknown error retried in a loop hides a bug.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

# MySQL/MariaDB client and server error codes that mean "try again".
MYSQL_TRANSIENT_CODES = {
    1040,  # too many connections
    1053,  # server shutdown in progress
    1205,  # lock wait timeout
    1213,  # deadlock
    2003,  # can't connect (server restarting)
    2006,  # server has gone away
    2013,  # lost connection during query
    2055,  # lost connection at handshake
    3024,  # max_execution_time exceeded
}
# PostgreSQL SQLSTATE classes/codes that mean "try again".
POSTGRES_TRANSIENT_PREFIXES = ("08",)  # connection exceptions
POSTGRES_TRANSIENT_CODES = {
    "40001",  # serialization failure
    "40P01",  # deadlock
    "53300",  # too many connections
    "55P03",  # lock not available
    "57014",  # statement timeout / query cancelled
    "57P01",  # admin shutdown
    "57P02",  # crash shutdown
    "57P03",  # cannot connect now (starting up)
}
# psycopg reports a dropped socket without a SQLSTATE; these phrases identify it.
DISCONNECT_PHRASES = (
    "server closed the connection",
    "connection refused",
    "consuming input failed",
    "connection is closed",
    "connection timed out",
    "terminating connection",
    "the database system is",
    "ssl syscall error",
    "lost synchronization",
    "connection reset",
    "broken pipe",
    "connection to server was lost",
    "could not connect to server",
    "could not receive data from server",
    "lost connection to mysql server",
    "mysql server has gone away",
)


@dataclass(frozen=True)
class FaultClass:
    transient: bool
    reason: str


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def classify(exc: BaseException) -> FaultClass:
    """Transient or permanent, with a short reason for the log."""
    from orchestration.warehouse.base import SchemaDriftError

    chain = list(_chain(exc))
    # Permanent by nature, whatever wraps them.
    for e in chain:
        if isinstance(e, SchemaDriftError):
            return FaultClass(False, "schema drift")
        if type(e).__name__ in (
            "TooManyRejectedRows",
            "SettingsError",
            "SourcesError",
            "UnsupportedColumnType",
        ):
            return FaultClass(False, type(e).__name__)
        if isinstance(e, LookupError):
            return FaultClass(False, "missing object")
    for e in chain:
        verdict = _classify_one(e)
        if verdict is not None:
            return verdict
    # A client that reports through text only (the psql COPY client's stderr, wrapped in a
    # RuntimeError) is recognised by the server's disconnect wording.
    if any(_mentions_disconnect(e) for e in chain):
        return FaultClass(True, "connection lost")
    return FaultClass(False, f"unrecognised error {type(exc).__name__}")


def _classify_one(e: BaseException) -> FaultClass | None:
    import sqlalchemy as sa

    if isinstance(e, sa.exc.DBAPIError) and e.connection_invalidated:
        return FaultClass(True, "connection invalidated")
    module = type(e).__module__ or ""
    if module.startswith("psycopg"):
        sqlstate = getattr(e, "sqlstate", None)
        if sqlstate:
            transient = sqlstate in POSTGRES_TRANSIENT_CODES or sqlstate.startswith(
                POSTGRES_TRANSIENT_PREFIXES
            )
            return FaultClass(transient, f"PostgreSQL SQLSTATE {sqlstate}")
        import psycopg

        if isinstance(e, psycopg.OperationalError | psycopg.InterfaceError) and _mentions_disconnect(e):
            return FaultClass(True, "PostgreSQL connection lost")
        return None
    if module.startswith("pymysql"):
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        if code is not None:
            return FaultClass(code in MYSQL_TRANSIENT_CODES, f"MySQL error {code}")
        return None
    if isinstance(e, sqlite3.OperationalError):
        message = str(e).lower()
        if "locked" in message or "busy" in message:
            return FaultClass(True, "SQLite database locked")
        return FaultClass(False, "SQLite error")
    if isinstance(e, TimeoutError | socket.timeout):
        return FaultClass(True, "timeout")
    if isinstance(e, ConnectionError):  # reset, refused, aborted, broken pipe
        return FaultClass(True, "connection error")
    return None


def _mentions_disconnect(e: BaseException) -> bool:
    message = str(e).lower()
    return any(phrase in message for phrase in DISCONNECT_PHRASES)
