"""A MySQL/MariaDB table's changes from the server's row-based binlog (PyPI ``mysql-replication``).

Why binlog file and offset, not GTID, as the position: on one server ``(file number, offset)``
is a total order in commit order (the binlog is written at commit), so it makes the raw rows'
``_cdc_position`` directly (fixed-width hex, like PostgreSQL's LSN); ``START TRANSACTION WITH
CONSISTENT SNAPSHOT`` hands it over exactly (``Binlog_snapshot_file``/``_position``), and a
purged binlog shows as a file missing from ``SHOW BINARY LOGS``. A MariaDB GTID position
(``domain-server-seq`` per domain) survives a fail-over to a replica but has no total order
across domains. The cost: after a fail-over to another server the offsets mean nothing there;
re-snapshot the table (job cdc_resnapshot).

Unlike a PostgreSQL slot, the server keeps no consumer position: the warehouse's ledger is
the only record, written in the same transaction as the rows, so there is nothing to advance
at the source afterwards; and nothing stops the server from purging a binlog not yet read
(``binlog_expire_logs_seconds``): the drain checks the file is still there before reading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from orchestration.cdc.postgres_slot import CdcSourceError, SlotLostError

# The reader registers as a replica; its server_id must differ from every server and
# replica of the source. One per table (the base plus a hash), since two readers with one id
# disconnect each other.
DEFAULT_READER_SERVER_ID = 4_170_000_000
REQUIRED = {
    "log_bin": "ON",
    "binlog_format": "ROW",
    "binlog_row_image": "FULL",
    "binlog_row_metadata": "FULL",
}
MARIADB_GTID_STANDALONE = 0x01  # a GTID event's flag: no COMMIT/XID ends this transaction (DDL)


class BinlogPurgedError(SlotLostError):
    """The binlog file holding the next change was purged: changes are gone; a re-snapshot recovers."""


@dataclass(frozen=True, order=True)
class BinlogPosition:
    """A point in the binlog: ``binlog.000042:1234`` (MariaDB's own notation) in the ledger."""

    file_number: int
    offset: int
    file: str = field(compare=False)

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        file, _, offset = text.rpartition(":")
        match = re.fullmatch(r".*\.(\d+)", file)
        if not match or not offset.isdigit():
            raise CdcSourceError(f"{text!r} is not a binlog position (file.NNNNNN:offset)")
        return cls(int(match.group(1)), int(offset), file)

    @classmethod
    def of(cls, file: str, offset: int) -> BinlogPosition:
        return cls.parse(f"{file}:{offset}")

    def __str__(self) -> str:
        return f"{self.file}:{self.offset}"

    def raw_position(self, sequence: int) -> str:
        """The raw rows' ``_cdc_position``: text order is binlog order (offsets are 32-bit)."""
        return f"{self.file_number:08X}{self.offset:08X}:{sequence:08X}"


def reader_server_id(base: int, table: str) -> int:
    return base + zlib.crc32(table.encode()) % 1_000_000


def check_server(conn: sa.Connection, table: str) -> None:
    """The server writes a binlog a change reader can use. Fails naming the setting and the fix."""
    values = {
        name: str(value).upper()
        for name, value in conn.execute(
            sa.text(
                "show global variables where variable_name in "
                "('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata')"
            )
        ).all()
    }
    for name, wanted in REQUIRED.items():
        actual = values.get(name, "unset (MariaDB before 10.5 / MySQL before 8.0.14)")
        if actual != wanted:
            raise CdcSourceError(
                f"{table}: mode cdc needs the source MySQL/MariaDB at {name}={wanted}, it runs {name}={actual}. "
                f"{_fix(name, wanted)}, or set mode: cursor for this table (docs/operations.md, "
                '"Change data capture: MariaDB / MySQL")'
            )


def _fix(name: str, wanted: str) -> str:
    if name == "log_bin":
        return "Start the server with log_bin (e.g. log_bin = mysql-bin) and a server_id in my.cnf and restart it"
    return f"Set {name} = {wanted} in my.cnf (SET GLOBAL {name} = '{wanted}' for new sessions) and restart the server"


def binary_logs(conn: sa.Connection) -> list[tuple[str, int]]:
    """The binlog files the server still has, oldest first, with their sizes."""
    return [(row[0], int(row[1])) for row in conn.execute(sa.text("show binary logs")).all()]


def current_position(conn: sa.Connection) -> BinlogPosition:
    row = conn.execute(sa.text("show master status")).one_or_none()
    if row is None:
        raise CdcSourceError("the source has no binlog (log_bin=OFF)")
    return BinlogPosition.of(row[0], int(row[1]))


def check_not_purged(conn: sa.Connection, table: str, position: BinlogPosition) -> None:
    files = [name for name, _ in binary_logs(conn)]
    if position.file not in files:
        oldest = files[0] if files else "none"
        raise BinlogPurgedError(
            f"{table}: the binlog {position.file} holding the changes after {position} was purged from the "
            f"source (oldest binlog now {oldest}): changes since then are lost. Re-snapshot the table "
            "(job cdc_resnapshot), and keep binlogs longer than the drain interval (binlog_expire_logs_seconds)"
        )


def lag_bytes(conn: sa.Connection, position: BinlogPosition) -> int:
    """Binlog bytes written after ``position``: what the next drain has to read."""
    behind = 0
    for name, size in binary_logs(conn):
        number = BinlogPosition.of(name, 0).file_number
        if number == position.file_number:
            behind += max(size - position.offset, 0)
        elif number > position.file_number:
            behind += size
    return behind


class _SnapshotConnection:
    """A PyMySQL connection whose commit and rollback do nothing while a snapshot is read.

    SQLAlchemy ends each use of a connection with a rollback (its autobegun transaction);
    on this connection that would end the consistent snapshot halfway through the read.
    """

    def __init__(self, dbapi) -> None:
        self._dbapi = dbapi

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._dbapi, name)


@contextlib.contextmanager
def consistent_snapshot(engine: sa.Engine) -> Iterator[tuple[sa.Engine, BinlogPosition, dt.datetime]]:
    """An engine whose every statement reads one InnoDB snapshot, the binlog position it is
    consistent with (every transaction committed at or before it, none after), and the
    source clock when it began (the snapshot's "commit time")."""
    raw = engine.raw_connection()
    dbapi = raw.driver_connection
    raw.detach()  # ours now: closed below, never back in the pool mid-transaction
    bound = sa.create_engine(
        engine.url, creator=lambda: _SnapshotConnection(dbapi), poolclass=sa.pool.StaticPool
    )
    try:
        with bound.connect():  # the dialect's first-connect queries (and their rollback) first
            pass
        with dbapi.cursor() as cursor:
            cursor.execute("set session transaction isolation level repeatable read")
            cursor.execute("start transaction with consistent snapshot")
            # MariaDB: the binlog position of exactly this snapshot (no global read lock needed).
            cursor.execute("show status like 'binlog_snapshot_%%'")
            status = {name.lower(): value for name, value in cursor.fetchall()}
            cursor.execute("select utc_timestamp(6)")
            (read_at,) = cursor.fetchone()
        if "binlog_snapshot_file" not in status:
            raise CdcSourceError(
                "the source reports no Binlog_snapshot_file: a consistent snapshot's binlog position needs "
                "MariaDB (MySQL: not implemented yet)"
            )
        position = BinlogPosition.of(status["binlog_snapshot_file"], int(status["binlog_snapshot_position"]))
        yield bound, position, read_at
    finally:
        with contextlib.suppress(Exception):
            dbapi.rollback()
        bound.dispose()
        with contextlib.suppress(Exception):
            dbapi.close()


@dataclass
class Change:
    operation: str  # insert, update, delete, truncate
    values: dict[str, object]


@dataclass
class Transaction:
    end: BinlogPosition  # the position after its last event: resuming there starts the next one
    committed_at: dt.datetime
    changes: list[Change]


_TRUNCATE = re.compile(r"^\s*truncate\s+(?:table\s+)?(?:`?(\w+)`?\.)?`?(\w+)`?\s*;?\s*$", re.IGNORECASE)


def read_transactions(
    engine: sa.Engine,
    *,
    table: str,
    key_columns: tuple[str, ...],
    start: BinlogPosition,
    server_id: int,
    max_changes: int,
) -> Iterator[Transaction]:
    """Whole transactions committed after ``start``, in commit order, with ``table``'s row changes.

    Transactions that do not touch the table come back too, without changes: their end moves
    the position on. Stops at the end of the binlog (non-blocking) or after the transaction
    in which about ``max_changes`` changes were reached: a transaction is never split.
    """
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import (
        GtidEvent,
        MariadbGtidEvent,
        QueryEvent,
        RotateEvent,
        XidEvent,
    )
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    schema = engine.url.database
    url = engine.url
    settings = {"host": url.host or "127.0.0.1", "port": url.port or 3306, "user": url.username or "root"}
    settings["password"] = url.password or ""
    if "unix_socket" in url.query:
        settings["unix_socket"] = url.query["unix_socket"]
    stream = BinLogStreamReader(
        connection_settings=settings,
        server_id=server_id,
        resume_stream=True,
        log_file=start.file,
        log_pos=start.offset,
        blocking=False,
        only_events=[
            GtidEvent,
            MariadbGtidEvent,
            QueryEvent,
            XidEvent,
            RotateEvent,
            WriteRowsEvent,
            UpdateRowsEvent,
            DeleteRowsEvent,
        ],
        only_schemas=[schema],
        enable_logging=False,
    )
    changes: list[Change] = []
    in_transaction = standalone = False
    seen = 0
    try:
        for event in _events(stream, table, start):
            if isinstance(event, MariadbGtidEvent | GtidEvent):
                changes, in_transaction = [], True
                standalone = isinstance(event, MariadbGtidEvent) and bool(
                    event.flags & MARIADB_GTID_STANDALONE
                )
                continue
            ends = False
            if isinstance(event, XidEvent):
                ends = True
            elif isinstance(event, QueryEvent):
                query = event.query.strip()
                if query.upper() == "BEGIN":
                    changes, in_transaction, standalone = [], True, False
                    continue
                if query.upper() == "COMMIT":
                    ends = True
                else:
                    match = _TRUNCATE.match(query)
                    database = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                    if match and match.group(2) == table and (match.group(1) or database) == schema:
                        changes.append(Change("truncate", {}))
                    ends = standalone or not in_transaction  # DDL commits on its own
            elif isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
                if event.table != table:
                    continue
                changes.extend(_row_changes(event, key_columns))
                continue
            else:
                continue
            if ends:
                end = BinlogPosition.of(stream.log_file, stream.log_pos)
                committed = dt.datetime.fromtimestamp(event.timestamp, dt.UTC).replace(tzinfo=None)
                yield Transaction(end, committed, changes)
                seen += len(changes)
                changes, in_transaction, standalone = [], False, False
                if seen >= max_changes:
                    return
    finally:
        stream.close()


def _events(stream, table: str, start: BinlogPosition):
    import pymysql

    try:
        yield from stream
    except pymysql.err.OperationalError as exc:
        # 1236: the server cannot send from that position (the file was purged meanwhile).
        if exc.args and exc.args[0] == 1236:
            raise BinlogPurgedError(
                f"{table}: the source cannot send the binlog from {start} ({exc.args[1]}): changes since then "
                "are lost. Re-snapshot the table (job cdc_resnapshot), and keep binlogs longer than the "
                "drain interval (binlog_expire_logs_seconds)"
            ) from exc
        raise


def _row_changes(event, key_columns: tuple[str, ...]) -> list[Change]:
    from pymysqlreplication.row_event import DeleteRowsEvent, WriteRowsEvent

    out: list[Change] = []
    for row in event.rows:
        if isinstance(event, WriteRowsEvent):
            out.append(Change("insert", row["values"]))
        elif isinstance(event, DeleteRowsEvent):
            out.append(Change("delete", row["values"]))
        else:
            before, after = row["before_values"], row["after_values"]
            if any(before.get(k) != after.get(k) for k in key_columns):
                out.append(Change("delete", before))  # the key itself changed: the old key's row is gone
            out.append(Change("update", after))
    return out
