"""Change data capture from a MariaDB row-based binlog into DuckDB raw, case by case.

Each test has its own database on the session's own server (conftest.py, binlog_mariadb.py);
raw's latest live versions are compared with the source by value after every drain.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.cdc.mariadb_binlog import BinlogPosition
from orchestration.cdc.sync import BinlogPurgedError, CdcSourceError
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import RAW, live_raw, raw_versions, sync

pytestmark = pytest.mark.mariadb

CREATE = """
create table orders (
    id bigint primary key,
    status varchar(40) not null,
    total decimal(12, 2),
    is_paid boolean,
    order_date date,
    notes text,
    updated_at datetime(6) not null default current_timestamp(6)
)
"""


def make_source(url: str, rows: int = 5) -> sa.Engine:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(CREATE))
        for i in range(1, rows + 1):
            conn.execute(
                sa.text(
                    "insert into orders (id, status, total, is_paid, order_date, notes) "
                    "values (:i, 'pending', :i * 10.5, :i % 2 = 0, date '2026-01-01' + interval :i day, "
                    "concat('note ', :i))"
                ),
                {"i": i},
            )
    return engine


def source_rows(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            (i, s, t, None if p is None else bool(p), d, n)
            for i, s, t, p, d, n in conn.execute(
                sa.text("select id, status, total, is_paid, order_date, notes from orders order by id")
            )
        ]


def run(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:  # one transaction
        for statement in statements:
            conn.execute(sa.text(statement))


def purge_binlogs(engine: sa.Engine) -> None:
    """Rotate and purge every older binlog; MariaDB keeps a file until InnoDB has checkpointed
    the transactions in it (binlog checkpoint), so the purge is retried until it took."""
    with engine.connect() as conn:
        conn.execute(sa.text("flush binary logs"))
        (current,) = conn.execute(sa.text("show master status")).one()[:1]
        deadline = time.monotonic() + 20
        while len(conn.execute(sa.text("show binary logs")).all()) > 1:
            assert time.monotonic() < deadline, "the test server kept its old binlogs"
            conn.execute(sa.text(f"purge binary logs to '{current}'"))
            time.sleep(0.1)


@pytest.fixture
def source(cdc_mariadb_url):
    engine = make_source(cdc_mariadb_url)
    yield engine
    engine.dispose()


@pytest.fixture
def warehouse(tmp_path):
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


def test_snapshot_then_inserts_updates_deletes_arrive_once_with_their_values(source, warehouse, tmp_path):
    first = sync(source, warehouse, tmp_path)
    assert first.snapshot is not None and first.snapshot.load.rows_inserted == 5
    assert live_raw(warehouse.path) == source_rows(source)
    assert BinlogPosition.parse(first.position).file.startswith("binlog.")

    run(
        source,
        "update orders set status = 'shipped', total = 1234567890.99, is_paid = true where id = 1",
        "delete from orders where id = 2",
        "insert into orders (id, status, total, notes, order_date) values (6, 'pending', null, 'é \"q\"', null)",
        "update orders set notes = null, total = 0.01 where id = 3",
    )
    second = sync(source, warehouse, tmp_path)
    assert second.snapshot is None and (second.batches, second.changes) == (1, 4)
    live = live_raw(warehouse.path)
    assert live == source_rows(source)
    assert live[0][:4] == (1, "shipped", Decimal("1234567890.99"), True)
    assert live[4] == (6, "pending", None, None, None, 'é "q"')
    assert [op for _, _, op, _ in raw_versions(warehouse.path, 2)] == ["snapshot", "delete"]

    again = sync(source, warehouse, tmp_path)  # resumes from the ledger's position: nothing twice
    assert (again.batches, again.changes) == (0, 0) and again.position == second.position
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        (doubled,) = con.execute(
            f"select count(*) - count(distinct (id, _cdc_position)) from {RAW}.orders"
        ).fetchone()
        committed = con.execute(
            f"select distinct _cdc_committed_at from {RAW}.orders where _cdc_operation = 'update'"
        ).fetchall()
    assert doubled == 0
    assert len(committed) == 1 and abs(committed[0][0] - dt.datetime.utcnow()) < dt.timedelta(minutes=5)


def test_many_updates_of_one_row_and_a_changed_key_keep_every_version_in_order(source, warehouse, tmp_path):
    sync(source, warehouse, tmp_path)
    statuses = ["confirmed", "processing", "shipped", "delivered"]
    run(source, *(f"update orders set status = '{s}' where id = 1" for s in statuses))
    run(source, "update orders set id = 20 where id = 2")
    sync(source, warehouse, tmp_path, max_changes=2)  # whole transactions, several reads
    versions = raw_versions(warehouse.path, 1)
    assert [status for _, status, _, _ in versions] == ["pending", *statuses]
    assert len({p for *_, p in versions}) == len(versions)
    assert [op for _, _, op, _ in raw_versions(warehouse.path, 2)] == ["snapshot", "delete"]
    assert live_raw(warehouse.path) == source_rows(source)


def test_truncate_from_a_query_event_ends_every_key(source, warehouse, tmp_path):
    sync(source, warehouse, tmp_path)
    run(source, "update orders set status = 'confirmed' where id = 1")
    run(source, "truncate table orders")
    run(source, "insert into orders (id, status) values (2, 'after truncate')")
    outcome = sync(source, warehouse, tmp_path)
    assert outcome.changes == 3  # the update, the truncate, the insert
    assert live_raw(warehouse.path) == source_rows(source) == [(2, "after truncate", None, None, None, None)]


def test_a_column_added_at_the_source_flows_into_raw(source, warehouse, tmp_path):
    sync(source, warehouse, tmp_path)
    run(source, "alter table orders add column channel varchar(10)")
    run(source, "insert into orders (id, status, channel) values (7, 'new', 'web')")
    outcome = sync(source, warehouse, tmp_path)
    assert outcome.changes == 1
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        assert con.execute(f"select id, channel from {RAW}.orders where channel is not null").fetchall() == [
            (7, "web")
        ]
    assert live_raw(warehouse.path) == source_rows(source)


def test_other_tables_changes_move_the_read_position_without_ledger_rows(source, warehouse, tmp_path):
    first = sync(source, warehouse, tmp_path)
    run(source, "create table other (id int primary key)")
    run(source, "insert into other values (1), (2)")
    quiet = sync(source, warehouse, tmp_path)
    assert (quiet.changes, quiet.position) == (0, first.position)  # the ledger's: nothing of orders
    assert quiet.retained_bytes == 0  # but the binlog was read to its end
    run(source, "update orders set status = 'late' where id = 5")
    assert sync(source, warehouse, tmp_path).changes == 1
    assert live_raw(warehouse.path) == source_rows(source)


def test_a_purged_binlog_is_detected_and_a_resnapshot_recovers(source, warehouse, tmp_path):
    sync(source, warehouse, tmp_path)
    run(source, "delete from orders where id = 4")  # a change nobody will read
    purge_binlogs(source)
    with pytest.raises(BinlogPurgedError, match=r"binlog binlog\.\d+ .* was purged.*cdc_resnapshot"):
        sync(source, warehouse, tmp_path)
    again = sync(source, warehouse, tmp_path, resnapshot=True)
    assert again.snapshot is not None and again.snapshot.load.rows_inserted == 4
    run(source, "update orders set status = 'after' where id = 3")
    sync(source, warehouse, tmp_path)
    assert live_raw(warehouse.path) == source_rows(source)


@pytest.mark.parametrize(
    ("setting", "value"),
    [("binlog_format", "MIXED"), ("binlog_row_image", "MINIMAL"), ("binlog_row_metadata", "MINIMAL")],
)
def test_a_misconfigured_binlog_is_refused_naming_the_setting(source, warehouse, tmp_path, setting, value):
    # The session's own server, set back at once: a global setting reaches new sessions only.
    with source.connect() as conn:
        (before,) = conn.execute(sa.text(f"select @@global.{setting}")).one()
        conn.execute(sa.text(f"set global {setting} = '{value}'"))
        try:
            with pytest.raises(
                CdcSourceError, match=rf"orders: mode cdc needs .*{setting}=.*runs {setting}={value}.*my\.cnf"
            ):
                sync(source, warehouse, tmp_path)
        finally:
            conn.execute(sa.text(f"set global {setting} = '{before}'"))
    assert not warehouse.path.exists()  # refused before anything was read


def test_the_machines_server_without_log_bin_is_refused_naming_log_bin(mariadb_url, tmp_path, warehouse):
    # The machine's own MariaDB runs log_bin=OFF (DESIGN.md §6) and stays that way.
    engine = make_source(mariadb_url, rows=1)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("select @@log_bin")).scalar_one():
                pytest.skip("the machine's MariaDB runs with log_bin on")
        with pytest.raises(CdcSourceError, match=r"orders: mode cdc needs .*log_bin=ON, it runs log_bin=OFF"):
            sync(engine, warehouse, tmp_path)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_the_raw_asset_drains_the_binlog_and_the_lag_check_fires_past_its_limit(source, tmp_path):
    import dagster as dg

    from orchestration.assets.operational_cdc import SLOT_LAG_CHECK
    from orchestration.assets.operational_db import definitions
    from orchestration.resources.ops_database import OperationalDatabaseResource
    from orchestration.resources.warehouse import WarehouseResource
    from orchestration.settings import load_settings
    from tests.cdc.helpers import sources_file

    defs = definitions(load_settings({"SOURCES_FILE": str(sources_file(tmp_path))}))
    url = source.url.render_as_string(hide_password=False)

    def materialize(lag_max: int, selection=None) -> dg.ExecuteInProcessResult:
        resources = {
            "ops_db": OperationalDatabaseResource(url=url, cdc_slot_lag_max_bytes=lag_max),
            "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "warehouse.duckdb")),
        }
        return dg.materialize(
            [*defs.assets, *defs.asset_checks], resources=resources, selection=selection, raise_on_error=False
        )

    first = materialize(1 << 30)
    assert first.success
    metadata = first.asset_materializations_for_node("raw_ops__orders")[0].metadata
    assert metadata["snapshot_rows"].value == 5 and metadata["binlog_lag_bytes"].value == 0
    (check,) = first.get_asset_check_evaluations()
    assert check.check_name == SLOT_LAG_CHECK and check.passed, check.description

    run(source, "create table other (id int primary key, pad text)")
    run(source, "insert into other values (1, repeat('x', 5000))")  # binlog the drain has not read
    # The check alone, with a limit below what is unread: it fails and names the setting.
    tight = materialize(1000, selection=dg.AssetSelection.all_asset_checks())
    (check,) = tight.get_asset_check_evaluations()
    assert not check.passed and "CDC_SLOT_LAG_MAX_BYTES=1000" in check.description
    assert check.metadata["binlog_lag_bytes"].value > 5000
    # A drain reads it (nothing of orders in it) and the check passes again.
    drained = materialize(1000)
    (check,) = drained.get_asset_check_evaluations()
    assert drained.success and check.passed and check.metadata["binlog_lag_bytes"].value == 0
