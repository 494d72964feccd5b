"""A high-water mark that cannot pass rows still to come (docs/reliability.md).

Each test runs ``extract_table`` against a real PostgreSQL and MariaDB server, in a database
of its own, with no look-back and no clock tolerance, so only the mark guard stands between
the scenario and a lost row: each of them loses the row with a mark that simply follows the
newest cursor read.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.extract.mark_guard import NO_PROMISE
from orchestration.extract.pipeline import ExtractionOutcome, extract_table
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.servers import PG_ADMIN_URL, fresh_database

SERVERS = ["postgresql", "mariadb"]

# The writers' own stamp: PostgreSQL's is the transaction's start, MariaDB's the statement's.
NOW = {"postgresql": "(now() at time zone 'UTC')", "mariadb": "utc_timestamp(6)"}
TOMORROW = {
    "postgresql": "(now() at time zone 'UTC') + interval '1 day'",
    "mariadb": "utc_timestamp(6) + interval 1 day",
}
CREATE = {
    "postgresql": "create table events (id integer primary key, v varchar(50), updated_at timestamp(6){null})",
    "mariadb": "create table events (id int primary key, v varchar(50), updated_at datetime(6){null}) engine=innodb",
}


@pytest.fixture(params=SERVERS)
def server(request) -> tuple[str, str]:
    with fresh_database(request.param) as url:
        yield request.param, url


class Events:
    """One small source table and its raw copy in a DuckDB file."""

    def __init__(self, kind: str, url: str, tmp_path: Path, *, nullable_cursor: bool = False) -> None:
        self.kind, self.url, self.tmp_path = kind, url, tmp_path
        self.engine = sa.create_engine(url)
        self.warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", lock_timeout_s=60)
        self.runs = 0
        with self.engine.begin() as conn:
            conn.execute(sa.text(CREATE[kind].format(null="" if nullable_cursor else " not null")))

    def write(self, sql: str, conn: sa.Connection | None = None) -> None:
        sql = sql.replace("{now}", NOW[self.kind]).replace("{tomorrow}", TOMORROW[self.kind])
        if conn is not None:
            conn.execute(sa.text(sql))
            return
        with self.engine.begin() as own:
            own.execute(sa.text(sql))

    def extract(self, engine: sa.Engine | None = None) -> ExtractionOutcome:
        self.runs += 1
        return extract_table(
            engine or self.engine,
            self.warehouse,
            table="events",
            cursor_column="updated_at",
            raw_schema="raw_ops",
            landing_dir=self.tmp_path / "landing",
            batch_id=f"run{self.runs}:events",
            lookback=dt.timedelta(0),
            clock_tolerance=dt.timedelta(0),
        )

    def raw(
        self, query: str = "select id, v, updated_at from raw_ops.events order by id, _loaded_at"
    ) -> list:
        return self.warehouse.sql().rows(query)

    def raw_latest(self) -> dict[int, str]:
        rows = self.raw(
            "select id, v from (select id, v, row_number() over (partition by id order by updated_at desc "
            "nulls last, _loaded_at desc) as r from raw_ops.events) where r = 1"
        )
        return {int(k): v for k, v in rows}

    def source(self) -> dict[int, str]:
        with self.engine.connect() as conn:
            return {int(k): v for k, v in conn.execute(sa.text("select id, v from events"))}

    def close(self) -> None:
        self.engine.dispose()
        self.warehouse.close()


@pytest.fixture
def events(server, tmp_path) -> Events:
    kind, url = server
    table = Events(kind, url, tmp_path)
    yield table
    table.close()


def test_a_late_committing_transaction_reaches_raw(events: Events) -> None:
    events.write("insert into events values (1, 'a', {now}), (2, 'b', {now})")
    assert events.extract().load.rows_inserted == 2

    late = events.engine.connect()
    try:
        late.begin()
        events.write("insert into events values (100, 'late', {now})", late)  # stamped now, committed later
        (late_stamp,) = late.execute(sa.text("select updated_at from events where id = 100")).one()
        time.sleep(1.1)  # MariaDB shows a transaction's start to the second
        events.write("insert into events values (3, 'c', {now})")

        passed = events.extract()  # reads row 3, stamped after the open transaction's row
        assert passed.load.rows_inserted == 1
        assert passed.guard.oldest_open is not None
        assert passed.load.high_water_mark <= late_stamp, "the mark passed a row still to come"
        assert passed.held_back_s > 0
        assert passed.metadata()["mark_held_back_by"].startswith("oldest open transaction: session ")
        assert "insert into" not in passed.metadata()["oldest_open_transaction"].lower()  # never the query
        events.extract()  # the transaction is still open: nothing changes
        late.commit()
    finally:
        late.close()

    after = events.extract()
    assert after.guard.oldest_open is None
    assert events.raw_latest() == events.source() == {1: "a", 2: "b", 3: "c", 100: "late"}
    assert len(events.raw()) == 4, "a row was published twice"


def test_a_row_stamped_ahead_of_the_clock_does_not_hide_later_changes(events: Events) -> None:
    events.write("insert into events values (1, 'a', {now}), (2, 'b', {now})")
    events.extract()
    events.write("insert into events values (50, 'from a skewed clock', {tomorrow})")

    ahead = events.extract()
    assert ahead.load.rows_inserted == 1  # loaded like any other row
    assert ahead.future.rows == 1 and ahead.future.sample_keys == (50,)
    assert ahead.metadata()["future_stamped_keys"] == "50"
    assert ahead.load.high_water_mark <= ahead.guard.source_clock, "the mark followed the future row"

    events.write("update events set v = 'changed', updated_at = {now} where id = 1")
    events.write("insert into events values (3, 'c', {now})")
    later = events.extract()
    assert events.raw_latest() == events.source() == {1: "changed", 2: "b", 3: "c", 50: "from a skewed clock"}
    assert later.future.rows == 1  # still reported while it stays ahead of the clock
    assert len(events.raw()) == 5  # 1 twice, 2, 3 and 50 once: the future row is never doubled


def test_a_mark_already_in_the_future_comes_back_to_the_clock(events: Events) -> None:
    """An install upgraded with a mark a future row carried ahead recovers on its next run."""
    events.write("insert into events values (1, 'a', {now})")
    events.extract()
    future = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    events.warehouse.sql().transaction(
        [
            (
                "insert into raw_ops._loads values ('events', 'old', 'updated_at', $mark, 0, 0, now()::timestamp)",
                {"mark": future},
            )
        ]
    )
    events.write("update events set v = 'changed', updated_at = {now} where id = 1")
    outcome = events.extract()
    assert outcome.load.high_water_mark <= outcome.guard.source_clock
    events.write("update events set v = 'again', updated_at = {now} where id = 1")
    events.extract()
    assert events.raw_latest() == {1: "again"}


def test_rows_without_a_cursor_are_read_every_run_and_kept_once(server, tmp_path) -> None:
    kind, url = server
    events = Events(kind, url, tmp_path, nullable_cursor=True)
    try:
        events.write("insert into events values (1, 'a', {now}), (2, 'no cursor', null)")
        first = events.extract()
        assert first.future.null_cursors == 1
        events.write("insert into events values (3, 'no cursor either', null)")
        events.extract()
        assert events.raw_latest() == events.source()
        events.write("update events set v = 'changed' where id = 2")  # still no cursor
        events.extract()
        again = events.extract()
        assert again.load.rows_inserted == 0, "an unchanged row without a cursor was published again"
        assert events.raw_latest() == events.source() == {1: "a", 2: "changed", 3: "no cursor either"}
        assert [r[1] for r in events.raw() if r[0] == 2] == ["no cursor", "changed"]  # each version once
    finally:
        events.close()


def test_a_role_that_cannot_see_other_sessions_holds_the_mark(postgres_url, tmp_path) -> None:
    """Without pg_read_all_stats another role's open transaction is invisible: nothing is
    promised beyond the previous mark, and the check says what to grant."""
    role = f"extract_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"create role {role} login"))
    events = Events("postgresql", postgres_url, tmp_path)
    limited = sa.create_engine(sa.make_url(postgres_url).set(username=role))
    other = events.engine.connect()
    try:
        events.write(f"grant select on events to {role}")
        events.write("insert into events values (1, 'a', {now})")
        other.begin()
        other.execute(sa.text("select 1"))
        held = events.extract(limited)
        assert held.guard.hidden_sessions >= 1
        assert "pg_read_all_stats" in held.metadata()["mark_held_back_by"]
        assert held.load.high_water_mark == NO_PROMISE  # a first load promises nothing
        other.rollback()
        events.write("insert into events values (2, 'b', {now})")
        events.extract(limited)
        assert events.raw_latest() == {1: "a", 2: "b"} and len(events.raw()) == 2
    finally:
        other.close()
        limited.dispose()
        events.write(f"revoke all on events from {role}")
        events.close()
        with admin.connect() as conn:  # roles are the cluster's: leave none behind
            conn.execute(sa.text(f"drop role {role}"))
        admin.dispose()
