"""A day of changes in the operational database reaches the warehouse through one hourly run.

The tiny SQLite demo after its first daily build (a copy of the run's shared build,
tests/built_demo.py); then the source moves a day forward
(``advance(days=1)``: new orders, lines, prices and customers, updates to older rows) and,
in the same source, an order with its lines and a customer row are hard-deleted and another
customer soft-deleted; one ``hourly_incremental`` run picks all of it up, and a second one
finds nothing new. New and changed rows and deletes are what every hourly run of
production meets together, and each full build costs a minute or two of CI: the
incremental and the delete checks share this one build (``day``). The deleted rows are
picked among those advance() neither inserted nor updated, so both sets of expectations
stay exact: versions per id count the soft delete as the one extra update it is.

The tests of the hourly run read a copy of the warehouse taken right after it
(``DayOfChanges.warehouse_after_hourly``); the idle run's tests read the warehouse it left.

Deletes: soft deletes become flags, hard deletes are found by key reconciliation
(raw_ops._deleted_keys) and removed from the facts (docs/reliability.md).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.generator.api import AdvanceSummary
from orchestration.lifecycle import deletes
from orchestration.resources.dbt import dbt_target_dir
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.pipeline.conftest import AS_OF_DATE, PipelineHarness

pytestmark = pytest.mark.slow

VERSIONED = ("orders", "order_items", "pricing", "customers")


def _raw_versions(con, table: str) -> dict[int, int]:
    return dict(con.execute(f"select id, count(*) from raw_ops.{table} group by id").fetchall())


@dataclass(frozen=True)
class Deleted:
    """What the test deleted in the source after advance(), before the hourly run."""

    order_id: int  # hard-deleted with its lines
    item_ids: list[int]
    hard_customer: int  # the row goes; its orders and interactions stay
    soft_customer: int  # deleted_at set
    soft_deleted_at: dt.datetime


@dataclass
class DayOfChanges:
    harness: PipelineHarness
    versions_before: dict[str, dict[int, int]]  # raw versions per id after the full build
    loaded_before: dict[int, dt.datetime]  # raw_ops.orders' _loaded_at after the full build
    change: AdvanceSummary
    deleted: Deleted
    incremental: object  # dagster's ExecuteInProcessResult of the hourly run with changes
    dbt_folders_after_hourly: list[str]
    after_hourly: Path
    marts_before_idle: tuple
    dbt_build_state_before_idle: tuple | None
    idle: object  # ... of the hourly run that found nothing new

    def warehouse_after_hourly(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.after_hourly), read_only=True)

    def changed(self, table: str) -> tuple[set[int], set[int]]:
        """The ids of ``table`` the hourly run had to add a version for: (inserted, updated),
        the soft-deleted customer among the updated."""
        inserted = set(self.change.inserted.get(table, ()))
        updated = set(self.change.updated.get(table, ()))
        if table == "customers":
            updated.add(self.deleted.soft_customer)
        return inserted, updated


def _delete_rows_the_day_left_alone(engine: sa.Engine, change: AdvanceSummary) -> Deleted:
    def touched(table: str) -> set[int]:
        return set(change.inserted.get(table, ())) | set(change.updated.get(table, ()))

    with engine.begin() as conn:
        # An order with lines, not cancelled, of a customer that keeps other orders.
        candidates = (
            conn.execute(
                sa.text(
                    "select distinct o.id from orders o join order_items i on i.order_id = o.id "
                    "where o.status <> 'cancelled' "
                    "and (select count(*) from orders x where x.customer_id = o.customer_id) > 1 order by o.id"
                )
            )
            .scalars()
            .all()
        )
        items_of = {}
        for candidate in candidates:
            if candidate in touched("orders"):
                continue
            items = (
                conn.execute(
                    sa.text("select id from order_items where order_id = :o order by id"), {"o": candidate}
                )
                .scalars()
                .all()
            )
            items_of[candidate] = list(items)
            if not set(items_of[candidate]) & touched("order_items"):
                order_id = int(candidate)
                break
        else:
            raise AssertionError("no order with lines that advance() left alone")
        customers = [
            int(c)
            for c in conn.execute(
                sa.text("select id from customers where deleted_at is null order by id")
            ).scalars()
            if c not in touched("customers")
        ]
        hard_customer, soft_customer = customers[0], customers[-1]
        soft_deleted_at = change.previous_end + dt.timedelta(minutes=30)  # within the day advance() added

        conn.execute(sa.text("delete from order_items where order_id = :o"), {"o": order_id})
        conn.execute(sa.text("delete from orders where id = :o"), {"o": order_id})
        conn.execute(sa.text("delete from customers where id = :c"), {"c": hard_customer})
        conn.execute(
            sa.text("update customers set deleted_at = :t, updated_at = :t where id = :c"),
            {"t": soft_deleted_at, "c": soft_customer},
        )
    return Deleted(order_id, items_of[order_id], hard_customer, soft_customer, soft_deleted_at)


def _copy_warehouse(path: Path, to_dir: Path) -> Path:
    """A copy of the DuckDB file under the same name: dbt's views name their relations by the
    file's catalog (``warehouse.staging...``), so a copy under another name breaks them."""
    to_dir.mkdir()
    for suffix in ("", ".wal"):
        if path.with_name(path.name + suffix).exists():
            shutil.copyfile(path.with_name(path.name + suffix), to_dir / (path.name + suffix))
    return to_dir / path.name


@pytest.fixture(scope="module")
def day(tiny_demo_daily, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DayOfChanges]:
    work_dir = tmp_path_factory.mktemp("a_day_of_changes")
    with pytest.MonkeyPatch.context() as mp:
        # The first daily build is the run's shared one (tests/built_demo.py), copied.
        harness = tiny_demo_daily.copy_to(work_dir, mp)
        mp.setenv("DBT_KEEP_INVOCATION_DIRS", "1")
        with harness.warehouse() as con:
            versions_before = {t: _raw_versions(con, t) for t in VERSIONED}
            loaded_before = dict(con.execute("select id, _loaded_at from raw_ops.orders").fetchall())

        change = harness.advance(days=1)
        deleted = _delete_rows_the_day_left_alone(harness.source(), change)
        # The hourly job: incremental facts must merge the changes and drop the deleted lines.
        incremental = harness.run("hourly_incremental")
        dbt_folders = [p.name for p in dbt_target_dir().glob("dbt_models-*") if p.is_dir()]
        after_hourly = _copy_warehouse(harness.duckdb_path, work_dir / "after_hourly")

        # Another hourly run with nothing new.
        with harness.warehouse() as con:
            marts_before_idle = con.execute(
                "select count(*), sum(net_amount) from marts.fact_orders"
            ).fetchone()
            state_before_idle = con.execute(
                "select value from raw_ops._state where key = 'dbt_build'"
            ).fetchone()
        idle = harness.run("hourly_incremental")
        yield DayOfChanges(
            harness=harness,
            versions_before=versions_before,
            loaded_before=loaded_before,
            change=change,
            deleted=deleted,
            incremental=incremental,
            dbt_folders_after_hourly=dbt_folders,
            after_hourly=after_hourly,
            marts_before_idle=marts_before_idle,
            dbt_build_state_before_idle=state_before_idle,
            idle=idle,
        )


# The hourly run with a day of changes.


def test_the_hourly_run_adds_one_version_for_exactly_each_new_and_changed_row(day):
    with day.warehouse_after_hourly() as con:
        for table in VERSIONED:
            before, after = day.versions_before[table], _raw_versions(con, table)
            inserted, updated = day.changed(table)
            assert inserted.isdisjoint(before), f"{table}: new ids were already in raw"
            assert set(after) == set(before) | inserted, f"{table}: missed or invented rows"
            for row_id, versions in after.items():
                expected = 1 if row_id in inserted else before[row_id] + (row_id in updated)
                assert versions == expected, f"{table} id {row_id}: {versions} versions, expected {expected}"


def test_rows_the_day_left_alone_keep_their_first_load_time(day):
    unchanged = set(day.loaded_before) - set(day.change.updated.get("orders", ()))
    with day.warehouse_after_hourly() as con:
        first_loads = dict(
            con.execute("select id, min(_loaded_at) from raw_ops.orders group by id").fetchall()
        )
    assert day.deleted.order_id in unchanged  # a hard delete leaves raw's rows as they were
    assert all(first_loads[i] == day.loaded_before[i] for i in unchanged)


def test_fact_orders_holds_each_line_once_with_its_orders_latest_status(day):
    with day.warehouse_after_hourly() as con:
        dupes = con.execute(
            "select count(*) from (select order_item_id from marts.fact_orders group by 1 having count(*) > 1)"
        ).fetchone()[0]
        fact_status = dict(
            con.execute("select distinct order_id, order_status from marts.fact_orders").fetchall()
        )
        fact_lines = con.execute("select count(*) from marts.fact_orders").fetchone()[0]
    with day.harness.source().connect() as conn:
        source_status = dict(conn.execute(sa.text("select id, status from orders")).all())
        source_items = conn.execute(sa.text("select count(*) from order_items")).scalar_one()
    assert dupes == 0
    assert fact_status == {oid: s for oid, s in source_status.items() if oid in fact_status}
    assert fact_lines == source_items


def test_only_the_newest_dbt_invocation_folder_is_kept(day):
    # Each dbt invocation's artifacts folder: only the newest is kept (DBT_KEEP_INVOCATION_DIRS=1).
    folders = day.dbt_folders_after_hourly
    assert folders == [f"dbt_models-{day.incremental.run_id[:7]}-{folders[0][-7:]}"], folders


def test_hard_deletes_are_recorded_by_key(day):
    deleted = day.deleted
    with day.warehouse_after_hourly() as con:
        recorded = set(con.execute("select table_name, id from raw_ops._deleted_keys").fetchall())
    assert recorded == {("orders", deleted.order_id), ("customers", deleted.hard_customer)} | {
        ("order_items", i) for i in deleted.item_ids
    }


def test_staging_flags_soft_and_hard_deletes(day):
    deleted = day.deleted
    with day.warehouse_after_hourly() as con:
        staged_order = con.execute(
            "select is_deleted, is_hard_deleted from staging.stg_ops__orders where order_id = ?",
            [deleted.order_id],
        ).fetchone()
        staged = {
            c: (d, h)
            for c, d, h in con.execute(
                "select customer_id, is_deleted, is_hard_deleted from staging.stg_ops__customers "
                "where customer_id in (?, ?)",
                [deleted.hard_customer, deleted.soft_customer],
            ).fetchall()
        }
    assert staged_order == (True, True)
    assert staged == {deleted.hard_customer: (True, True), deleted.soft_customer: (True, False)}


def test_deleted_lines_leave_fact_orders(day):
    deleted = day.deleted
    with day.warehouse_after_hourly() as con:
        by_order = con.execute(
            "select count(*) from marts.fact_orders where order_id = ?", [deleted.order_id]
        ).fetchone()[0]
        by_line = con.execute(
            "select count(*) from marts.fact_orders where order_item_id in (select unnest(?::bigint[]))",
            [deleted.item_ids],
        ).fetchone()[0]
    assert deleted.item_ids, "the deleted order had lines"
    assert by_order == 0
    assert by_line == 0


def test_deleted_customers_stay_in_customer_360_and_dim_customers_flagged(day):
    deleted = day.deleted
    with day.warehouse_after_hourly() as con:
        flags = dict(
            con.execute(
                "select customer_id, is_deleted from marts.customer_360 where customer_id in (?, ?)",
                [deleted.hard_customer, deleted.soft_customer],
            ).fetchall()
        )
        current = con.execute(
            "select count(*) from marts.dim_customers where customer_id = ? and is_current and is_deleted",
            [deleted.hard_customer],
        ).fetchone()[0]
    assert flags == {deleted.hard_customer: True, deleted.soft_customer: True}
    assert current == 1


def test_revenue_still_reconciles_with_the_source_the_deleted_order_excluded(day):
    # customer_360 counts the orders dated up to the as-of date; the day advance() added ends after it.
    with day.harness.source().connect() as conn:
        source = {
            int(c): round(float(r), 2)
            for c, r in conn.execute(
                sa.text(
                    "select o.customer_id, sum(i.total) from orders o join order_items i on i.order_id = o.id "
                    "where o.status <> 'cancelled' and date(o.order_date) <= :as_of group by 1"
                ),
                {"as_of": AS_OF_DATE},
            )
        }
    with day.warehouse_after_hourly() as con:
        marts = {
            int(c): round(float(r), 2)
            for c, r in con.execute(
                "select customer_id, total_revenue from marts.customer_360 where total_orders > 0"
            ).fetchall()
        }
    assert marts == source


# Reconciliation by hand, on the warehouse the runs left.


def test_reconciling_again_records_nothing_twice(day):
    sql = DuckDBWarehouse(day.harness.duckdb_path).sql()
    again = deletes.reconcile_table(
        day.harness.source(),
        sql,
        table="orders",
        raw_schema="raw_ops",
        batch_id="again",
        detected_at=dt.datetime.now(),
    )
    assert again.deleted == 0 and again.source_keys > 0


def test_an_emptied_source_table_is_refused_and_nothing_recorded(day, tmp_path):
    # An emptied source table (wrong database, failed restore): emptied in a copy of the
    # source, so that the module's other tests keep theirs.
    copy = tmp_path / "ops_copy.db"
    with sqlite3.connect(day.harness.ops_url.removeprefix("sqlite:///")) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    emptied = sa.create_engine(f"sqlite:///{copy}")
    with emptied.begin() as conn:
        assert conn.execute(sa.text("delete from customer_interactions")).rowcount > 0
    sql = DuckDBWarehouse(day.harness.duckdb_path).sql()
    with pytest.raises(deletes.SuspiciousDeletionError, match="customer_interactions"):
        deletes.reconcile_table(
            emptied,
            sql,
            table="customer_interactions",
            raw_schema="raw_ops",
            batch_id="x",
            detected_at=dt.datetime.now(),
        )
    emptied.dispose()
    with day.harness.warehouse() as con:
        assert (
            con.execute(
                "select count(*) from raw_ops._deleted_keys where table_name = 'customer_interactions'"
            ).fetchone()[0]
            == 0
        )


# The hourly run that found nothing new.


def test_an_idle_hourly_run_skips_dbt_and_touches_no_mart(day):
    assert day.dbt_build_state_before_idle is not None, "a successful build records what it was built from"
    assert day.idle.asset_materializations_for_node("dbt_models") == []
    raw_loads = {
        m.asset_key.to_user_string(): m.metadata["rows_inserted"].value
        for m in day.idle.get_asset_materialization_events()
        for m in [m.materialization]
        if m.asset_key.path[0] == "raw_ops" and "rows_inserted" in m.metadata
    }
    assert raw_loads and set(raw_loads.values()) == {0}, raw_loads
    with day.harness.warehouse() as con:
        assert (
            con.execute("select count(*), sum(net_amount) from marts.fact_orders").fetchone()
            == day.marts_before_idle
        )
        assert (
            con.execute("select value from raw_ops._state where key = 'dbt_build'").fetchone()
            == day.dbt_build_state_before_idle
        )
