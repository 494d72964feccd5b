"""After the source moves forward, an incremental run picks up exactly what changed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orchestration.resources.dbt import dbt_target_dir
from tests.pipeline.conftest import make_harness

pytestmark = pytest.mark.slow


def _raw_versions(con, table: str) -> dict[int, int]:
    return dict(con.execute(f"select id, count(*) from raw_ops.{table} group by id").fetchall())


def test_incremental_run_picks_up_exactly_new_and_changed_rows(sqlite_url, tmp_path, monkeypatch):
    harness = make_harness(sqlite_url, tmp_path, monkeypatch)
    monkeypatch.setenv("DBT_KEEP_INVOCATION_DIRS", "1")
    harness.run()
    with harness.warehouse() as con:
        before = {t: _raw_versions(con, t) for t in ("orders", "order_items", "pricing", "customers")}
        loaded_before = dict(con.execute("select id, _loaded_at from raw_ops.orders").fetchall())

    change = harness.advance(days=1)
    incremental = harness.run(job="hourly_incremental")
    # Each dbt invocation's artifacts folder: only the newest is kept (DBT_KEEP_INVOCATION_DIRS).
    folders = [p.name for p in dbt_target_dir().glob("dbt_models-*") if p.is_dir()]
    assert folders == [f"dbt_models-{incremental.run_id[:7]}-{folders[0][-7:]}"], folders

    with harness.warehouse() as con:
        for table in ("orders", "order_items", "pricing", "customers"):
            after = _raw_versions(con, table)
            inserted = set(change.inserted.get(table, ()))
            updated = set(change.updated.get(table, ()))
            assert inserted.isdisjoint(before[table]), f"{table}: new ids were already in raw"
            assert set(after) == set(before[table]) | inserted, f"{table}: missed or invented rows"
            for row_id, versions in after.items():
                expected = 1 if row_id in inserted else before[table][row_id] + (row_id in updated)
                assert versions == expected, f"{table} id {row_id}: {versions} versions, expected {expected}"
        # Unchanged rows untouched: their load timestamp did not move.
        unchanged = set(loaded_before) - set(change.updated.get("orders", ()))
        first_loads = dict(
            con.execute("select id, min(_loaded_at) from raw_ops.orders group by id").fetchall()
        )
        assert all(first_loads[i] == loaded_before[i] for i in unchanged)
        # The fact table carries the latest status of every order, one row per line, no duplicates.
        dupes = con.execute(
            "select count(*) from (select order_item_id from marts.fact_orders group by 1 having count(*) > 1)"
        ).fetchone()[0]
        assert dupes == 0
        fact_status = dict(
            con.execute("select distinct order_id, order_status from marts.fact_orders").fetchall()
        )
    with harness.source().connect() as conn:
        source_status = dict(conn.execute(sa.text("select id, status from orders")).all())
        source_items = conn.execute(sa.text("select count(*) from order_items")).scalar_one()
    ordered = {oid: s for oid, s in source_status.items() if oid in fact_status}
    assert fact_status == ordered
    with harness.warehouse() as con:
        assert con.execute("select count(*) from marts.fact_orders").fetchone()[0] == source_items

    # Another hourly run with nothing new: dbt is skipped, no model or mart is touched.
    with harness.warehouse() as con:
        marts_before = con.execute("select count(*), sum(net_amount) from marts.fact_orders").fetchone()
        state = con.execute("select value from raw_ops._state where key = 'dbt_build'").fetchone()
    assert state is not None, "a successful build records what it was built from"
    idle = harness.run(job="hourly_incremental")
    assert idle.asset_materializations_for_node("dbt_models") == []
    raw_loads = {
        m.asset_key.to_user_string(): m.metadata["rows_inserted"].value
        for m in idle.get_asset_materialization_events()
        for m in [m.materialization]
        if m.asset_key.path[0] == "raw_ops" and "rows_inserted" in m.metadata
    }
    assert raw_loads and set(raw_loads.values()) == {0}, raw_loads
    with harness.warehouse() as con:
        assert (
            con.execute("select count(*), sum(net_amount) from marts.fact_orders").fetchone() == marts_before
        )
        assert con.execute("select value from raw_ops._state where key = 'dbt_build'").fetchone() == state
