"""How far a high-water mark may safely advance: the source's clock and its open transactions.

A cursor mark is a promise that no row with an older cursor is still to come. Two ordinary
things break that promise if the mark simply follows the newest cursor read:

* a transaction stamps ``updated_at`` when it runs (PostgreSQL's ``now()`` is the
  transaction's start) and commits after an extraction already read past that stamp;
* a row stamped ahead of the clock (a skewed application server, a bad import) carries
  the mark into the future, and every genuine change until then is skipped.

So, before the data is read, the guard reads the source's own clock and the start of the
oldest transaction open at that moment; the new mark never passes either, minus a clock
tolerance for writers whose clocks trail the server's. Reading the guard *before* the
data's snapshot is what makes the argument hold: any transaction that commits after the
snapshot was either open when the guard looked (it started at or after the oldest start
seen) or began later (its stamps are at or after the clock seen). Either way its rows have
cursors at or above the ceiling, so every row below the ceiling was committed before the
data was read and is in it. docs/reliability.md states the rule and its limits.

Per dialect:

* PostgreSQL: ``pg_stat_activity.xact_start`` of the client sessions in this database (a
  transaction with no write yet is counted too: it may write later, stamped with its start).
  Other roles' sessions are visible only to a superuser or a member of ``pg_read_all_stats``;
  a session whose start is hidden makes the guard hold the mark where it is (and say so).
* MySQL/MariaDB: ``information_schema.innodb_trx.trx_started`` (needs the PROCESS
  privilege; without it the mark is held the same way). Its value is in the server's system
  time zone, whole seconds (rounded down, so never later than the real start).
* SQLite: one writer at a time and no view of it; the guard is the clock alone.

Only who holds the mark back is recorded (session id, user, application, state, age),
never a query's text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

# Extraction's own sessions (psql COPY sets it) are read-only and never hold the mark back.
EXTRACT_APPLICATION_NAME = "pharma-extract"
DEFAULT_CLOCK_TOLERANCE = dt.timedelta(seconds=60)
DEFAULT_HOLD_WARN = dt.timedelta(hours=1)
# The mark published when nothing can be promised yet: the next run reads everything again.
NO_PROMISE = dt.datetime(1970, 1, 1)


@dataclass(frozen=True)
class OpenTransaction:
    session: str  # pid (PostgreSQL) or thread id (MySQL/MariaDB)
    user: str | None
    application: str | None  # application_name (PostgreSQL) or client host (MySQL)
    state: str | None
    started: dt.datetime  # naive UTC
    age_s: float

    def describe(self) -> str:
        parts = [f"session {self.session}"]
        if self.user:
            parts.append(f"user {self.user}")
        if self.application:
            parts.append(f"application {self.application}")
        if self.state:
            parts.append(f"state {self.state}")
        parts.append(f"open {self.age_s:.0f} s since {self.started.isoformat(sep=' ')} UTC")
        return ", ".join(parts)


@dataclass(frozen=True)
class MarkGuard:
    method: str  # how the source was asked: pg_stat_activity | innodb_trx | clock
    source_clock: dt.datetime  # naive UTC, read before the data
    oldest_open: OpenTransaction | None
    hidden_sessions: int  # sessions whose transaction start this role cannot see
    hidden_reason: str | None
    tolerance: dt.timedelta

    @property
    def bound(self) -> dt.datetime:
        """The clock or the oldest open transaction's start, whichever is earlier."""
        if self.oldest_open is not None and self.oldest_open.started < self.source_clock:
            return self.oldest_open.started
        return self.source_clock

    def ceiling(self, previous_mark: dt.datetime | None) -> dt.datetime | None:
        """The highest mark this extraction may publish.

        With sessions hidden from view nothing can be promised beyond what was already
        promised: the mark stays at ``previous_mark`` (None on a first load: no mark).
        """
        if self.hidden_sessions:
            return previous_mark if previous_mark is not None else NO_PROMISE
        return self.bound - self.tolerance

    def held_back_by(self) -> str:
        if self.hidden_sessions:
            return f"{self.hidden_sessions} session(s) not visible to this role ({self.hidden_reason})"
        if self.oldest_open is not None and self.oldest_open.started < self.source_clock:
            return f"oldest open transaction: {self.oldest_open.describe()}"
        return "source clock"


def read_mark_guard(engine: sa.Engine, tolerance: dt.timedelta = DEFAULT_CLOCK_TOLERANCE) -> MarkGuard:
    """The guard for one extraction of one table; call it before the data is read."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        if dialect == "postgresql":
            return _postgres(conn, tolerance)
        if dialect in ("mysql", "mariadb"):
            return _mysql(conn, tolerance)
        if dialect == "sqlite":
            (clock,) = conn.execute(sa.text("select strftime('%Y-%m-%d %H:%M:%f', 'now')")).one()
            return MarkGuard("clock", dt.datetime.fromisoformat(clock), None, 0, None, tolerance)
        # Not a supported source: the process clock is the best bound there is.
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return MarkGuard("clock (client)", now, None, 0, None, tolerance)


def _postgres(conn: sa.Connection, tolerance: dt.timedelta) -> MarkGuard:
    (clock,) = conn.execute(sa.text("select (statement_timestamp() at time zone 'UTC')::timestamp")).one()
    rows = conn.execute(
        sa.text(
            "select pid, usename, application_name, state, "
            "(xact_start at time zone 'UTC')::timestamp as started "
            "from pg_stat_activity "
            # Another role's session shows datname but hides backend_type, state and times.
            "where datname = current_database() and coalesce(backend_type, 'client backend') = 'client backend' "
            "and pid <> pg_backend_pid() and coalesce(application_name, '') <> :own "
            "and (xact_start is not null or state is null)"
        ),
        {"own": EXTRACT_APPLICATION_NAME},
    ).all()
    conn.rollback()
    # A session of another role shows state NULL unless this role may read all statistics.
    hidden = sum(1 for r in rows if r.state is None)
    visible = [r for r in rows if r.state is not None and r.started is not None]
    oldest = None
    if visible:
        r = min(visible, key=lambda v: v.started)
        oldest = OpenTransaction(
            str(r.pid), r.usename, r.application_name, r.state, r.started, (clock - r.started).total_seconds()
        )
    reason = "grant pg_read_all_stats (or pg_monitor) to the extraction role" if hidden else None
    return MarkGuard("pg_stat_activity", clock, oldest, hidden, reason, tolerance)


def _mysql(conn: sa.Connection, tolerance: dt.timedelta) -> MarkGuard:
    # innodb_trx shows trx_started in the server's system time zone: read both it and the
    # clock as epoch seconds in that zone.
    conn.execute(sa.text("set time_zone = 'SYSTEM'"))
    (clock_epoch,) = conn.execute(sa.text("select unix_timestamp(now(6))")).one()
    clock = _from_epoch(clock_epoch)
    try:
        rows = conn.execute(
            sa.text(
                "select t.trx_mysql_thread_id as session, p.user, p.host, t.trx_state as state, "
                "unix_timestamp(t.trx_started) as started "
                "from information_schema.innodb_trx t "
                "left join information_schema.processlist p on p.id = t.trx_mysql_thread_id "
                "where t.trx_mysql_thread_id <> connection_id()"
            )
        ).all()
    except sa.exc.DBAPIError as exc:
        if "PROCESS" not in str(exc.orig) and "denied" not in str(exc.orig).lower():
            raise
        conn.rollback()
        return MarkGuard("innodb_trx", clock, None, 1, "grant PROCESS to the extraction user", tolerance)
    conn.rollback()
    oldest = None
    if rows:
        r = min(rows, key=lambda v: v.started)
        started = _from_epoch(r.started)
        oldest = OpenTransaction(
            str(r.session), r.user, r.host, r.state, started, (clock - started).total_seconds()
        )
    return MarkGuard("innodb_trx", clock, oldest, 0, None, tolerance)


def _from_epoch(value) -> dt.datetime:
    # Decimal seconds from the server: exact to the microsecond, unlike a float.
    return NO_PROMISE + dt.timedelta(microseconds=int(Decimal(value) * 1_000_000))
