"""Deletes in the operational database reach the marts: soft deletes as flags, hard deletes
found by key reconciliation (raw_ops._deleted_keys) and removed from the facts."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from orchestration.lifecycle import deletes
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.pipeline.conftest import _dbt_manifest, make_harness  # noqa: F401 - the fixture prepares dbt

pytestmark = pytest.mark.slow


def test_missing_from_source_walks_both_sorted_streams():
    assert list(deletes.missing_from_source([1, 2, 3, 5, 8], iter([2, 3, 4, 8, 9]))) == [1, 5]
    assert list(deletes.missing_from_source([1, 2], iter([]))) == [1, 2]
    assert list(deletes.missing_from_source([], iter([1]))) == []


def _pick(conn, sql: str) -> int:
    return int(conn.execute(sa.text(sql)).scalar_one())


def test_soft_and_hard_deletes_reach_the_marts(sqlite_url, tmp_path, monkeypatch):
    harness = make_harness(sqlite_url, tmp_path, monkeypatch)
    harness.run("daily_full_build")

    engine = harness.source()
    now = dt.datetime(2026, 6, 30, 12, 30)
    with engine.begin() as conn:
        # An order with lines, not cancelled, of a customer that keeps other orders.
        order_id = _pick(
            conn,
            "select o.id from orders o join order_items i on i.order_id = o.id "
            "where o.status <> 'cancelled' and (select count(*) from orders x where x.customer_id = o.customer_id) > 1 "
            "order by o.id limit 1",
        )
        item_ids = [
            r[0]
            for r in conn.execute(sa.text("select id from order_items where order_id = :o"), {"o": order_id})
        ]
        hard_customer = _pick(conn, "select min(id) from customers where deleted_at is null")
        soft_customer = _pick(
            conn,
            "select max(id) from customers where deleted_at is null and id <> :h".replace(
                ":h", str(hard_customer)
            ),
        )
        conn.execute(sa.text("delete from order_items where order_id = :o"), {"o": order_id})
        conn.execute(sa.text("delete from orders where id = :o"), {"o": order_id})
        # The customer row goes; its history (orders, interactions) stays in the source.
        conn.execute(sa.text("delete from customers where id = :c"), {"c": hard_customer})
        conn.execute(
            sa.text("update customers set deleted_at = :t, updated_at = :t where id = :c"),
            {"t": now, "c": soft_customer},
        )

    # The hourly job: incremental facts must drop the deleted lines themselves.
    harness.run("hourly_incremental")

    with harness.warehouse() as con:
        recorded = set(con.execute("select table_name, id from raw_ops._deleted_keys").fetchall())
        assert recorded == {("orders", order_id), ("customers", hard_customer)} | {
            ("order_items", i) for i in item_ids
        }
        staged_order = con.execute(
            "select is_deleted, is_hard_deleted from staging.stg_ops__orders where order_id = ?", [order_id]
        ).fetchone()
        assert staged_order == (True, True)
        staged = dict(
            (c, (d, h))
            for c, d, h in con.execute(
                "select customer_id, is_deleted, is_hard_deleted from staging.stg_ops__customers "
                "where customer_id in (?, ?)",
                [hard_customer, soft_customer],
            ).fetchall()
        )
        assert staged == {hard_customer: (True, True), soft_customer: (True, False)}
        assert (
            con.execute("select count(*) from marts.fact_orders where order_id = ?", [order_id]).fetchone()[0]
            == 0
        )
        assert (
            con.execute(
                "select count(*) from marts.fact_orders where order_item_id in (select unnest(?::bigint[]))",
                [item_ids],
            ).fetchone()[0]
            == 0
        )
        # Both customers stay in customer_360 and dim_customers, flagged deleted.
        flags = dict(
            con.execute(
                "select customer_id, is_deleted from marts.customer_360 where customer_id in (?, ?)",
                [hard_customer, soft_customer],
            ).fetchall()
        )
        assert flags == {hard_customer: True, soft_customer: True}
        current = con.execute(
            "select count(*) from marts.dim_customers where customer_id = ? and is_current and is_deleted",
            [hard_customer],
        ).fetchone()[0]
        assert current == 1
        # Revenue still reconciles with the source, the deleted order excluded.
        with engine.connect() as conn:
            source = {
                int(c): round(float(r), 2)
                for c, r in conn.execute(
                    sa.text(
                        "select o.customer_id, sum(i.total) from orders o join order_items i on i.order_id = o.id "
                        "where o.status <> 'cancelled' group by 1"
                    )
                )
            }
        marts = {
            int(c): round(float(r), 2)
            for c, r in con.execute(
                "select customer_id, total_revenue from marts.customer_360 where total_orders > 0"
            ).fetchall()
        }
        assert marts == source

    # Reconciling again records nothing twice.
    sql = DuckDBWarehouse(harness.duckdb_path).sql()
    again = deletes.reconcile_table(
        engine, sql, table="orders", raw_schema="raw_ops", batch_id="again", detected_at=dt.datetime.now()
    )
    assert again.deleted == 0 and again.source_keys > 0

    # An emptied source table (wrong database, failed restore) is refused, nothing recorded.
    with engine.begin() as conn:
        conn.execute(sa.text("delete from customer_interactions"))
    with pytest.raises(deletes.SuspiciousDeletionError, match="customer_interactions"):
        deletes.reconcile_table(
            engine,
            sql,
            table="customer_interactions",
            raw_schema="raw_ops",
            batch_id="x",
            detected_at=dt.datetime.now(),
        )
    with harness.warehouse() as con:
        assert (
            con.execute(
                "select count(*) from raw_ops._deleted_keys where table_name = 'customer_interactions'"
            ).fetchone()[0]
            == 0
        )
