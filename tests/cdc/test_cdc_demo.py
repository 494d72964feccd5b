"""``make demo-cdc`` at the tiny scale (``run_cdc_demo``, its marts and what they need): what
it reports is what it committed at the source, and raw's live rows of the CDC tables equal the
source's afterwards (the kept source started again)."""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.assets import operational_cdc, operational_db
from orchestration.demo.cdc_changes import STOCK_CHANGES
from orchestration.demo.cdc_demo import DATABASE, REPORTED_MARTS, report, run_cdc_demo
from orchestration.demo.logical_postgres import logical_postgres
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import load_settings

pytestmark = pytest.mark.slow

# Raw's latest version per key by position, deletes dropped (what staging's macros compute;
# no truncates in this run).
LIVE = """
with ranked as (
    select *, row_number() over (partition by id order by _cdc_position desc) as rank
    from raw_ops.{table} where id is not null
)
select {columns} from ranked where rank = 1 and _cdc_operation <> 'delete' order by id
"""
COLUMNS = {"orders": "id, status, total", "inventory": "id, quantity_available, quantity_reserved"}


def test_the_cdc_demo_reports_the_changes_it_committed_and_raw_matches_the_source(tmp_path, monkeypatch):
    for module in (operational_db, operational_cdc):  # landing files under tmp_path
        monkeypatch.setattr(module, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("DBT_FETCH_METADATA", "false")
    # Only the dbt tests whose every parent is built: a relationship to a mart left out is not run.
    monkeypatch.setenv("DBT_INDIRECT_SELECTION", "cautious")
    monkeypatch.delenv("MARKETO_BASE_URL", raising=False)
    prepare_manifest(load_settings({}))
    directory = tmp_path / "demo"

    result = run_cdc_demo(directory, "tiny", marketo=False, marts=REPORTED_MARTS, keep_source=True)
    assert result.success, [e.message for r in result.runs for e in r.all_events if e.is_failure]
    changes = result.changes
    assert changes is not None

    # Each status committed after the first is one change-stream transition, at its commit.
    streamed = [t for t in result.transitions if t.captured_by == "change_stream"]
    assert [(t.previous_status, t.status) for t in streamed] == list(
        zip(changes.statuses, changes.statuses[1:], strict=False)
    )
    assert len(streamed) >= 1 and result.transitions[-1].status == "delivered"
    committed = [t.committed_at for t in streamed]
    assert None not in committed and committed == sorted(committed)
    # The status the pipeline first saw came from the snapshot: no commit time.
    assert [t.status for t in result.transitions if t.captured_by != "change_stream"][-1] == changes.statuses[
        0
    ]

    moved = [m for m in result.movements if m.inventory_id == changes.inventory_id]
    assert [(m.movement_type, m.quantity_available_change) for m in moved] == [
        ("change", change) for change in STOCK_CHANGES
    ]
    assert moved[1].quantity_available - moved[0].quantity_available == STOCK_CHANGES[1]
    (removal,) = [m for m in result.movements if m.inventory_id == changes.removed_inventory_id]
    assert (removal.movement_type, removal.quantity_available) == ("removal", 0)
    assert removal.committed_at > moved[-1].committed_at

    assert {lag.table for lag in result.lags} == {"orders", "inventory"}
    assert all(lag.wal_status == "reserved" and lag.behind_bytes >= 0 for lag in result.lags)
    printed = report(result)
    assert f"Order {changes.order_id}: moved {' -> '.join(changes.statuses)}" in printed
    assert "its data directory" in printed and "is kept" in printed

    with logical_postgres(directory / "postgres") as admin_url:  # started again, removed after
        source = sa.create_engine(sa.engine.make_url(admin_url).set(database=DATABASE))
        try:
            with source.connect() as conn:
                at_source = {
                    table: [
                        tuple(r) for r in conn.execute(sa.text(f"select {cols} from {table} order by id"))
                    ]
                    for table, cols in COLUMNS.items()
                }
                slots = conn.execute(sa.text("select count(*) from pg_replication_slots")).scalar_one()
        finally:
            source.dispose()
    with duckdb.connect(str(directory / "warehouse.duckdb"), read_only=True) as con:
        in_raw = {
            table: [tuple(r) for r in con.execute(LIVE.format(table=table, columns=cols)).fetchall()]
            for table, cols in COLUMNS.items()
        }
    assert in_raw == at_source
    assert changes.removed_inventory_id not in {row[0] for row in in_raw["inventory"]}
    assert slots == 2  # one per table in mode cdc, on the demo's own server only
    assert not (directory / "postgres").exists()
