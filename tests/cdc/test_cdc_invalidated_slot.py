"""A slot the source invalidated (wal_status = lost) is detected, by the drain and by the lag
check, with what to do; the re-snapshot recovers. Its own small server: max_slot_wal_keep_size
= 1 MB, so a few segment switches (each moves the WAL to the next segment) invalidate a slot."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from orchestration.cdc import postgres_slot
from orchestration.cdc.sync import SlotLostError
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import live_raw, make_source, slot_prefix, source_rows, sync
from tests.cdc.logical_postgres import database_on, logical_postgres


@pytest.fixture(scope="module")
def small_wal_admin():
    with logical_postgres({"max_slot_wal_keep_size": "1MB"}) as url:
        yield url


def _invalidate(engine: sa.Engine, slot: str) -> None:
    with engine.connect() as conn:
        for _ in range(40):
            conn.execute(sa.text("update orders set notes = repeat('x', 2000) where id = 1"))
            conn.execute(sa.text("select pg_switch_wal()"))
            conn.commit()
            conn.execute(sa.text("checkpoint"))
            conn.commit()
            state = postgres_slot.read_slot(conn, slot)
            if state.wal_status == "lost":
                return
            time.sleep(0.05)
    pytest.fail(f"slot {slot} was not invalidated")


@pytest.mark.slow
def test_an_invalidated_slot_fails_the_drain_naming_it_and_a_resnapshot_recovers(small_wal_admin, tmp_path):
    with database_on(small_wal_admin) as url:
        engine = make_source(url, rows=2)
        warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
        try:
            outcome = sync(engine, warehouse, tmp_path)
            _invalidate(engine, outcome.slot)
            with pytest.raises(SlotLostError, match=r"invalidated \(wal_status=lost.*cdc_resnapshot"):
                sync(engine, warehouse, tmp_path)
            recovered = sync(engine, warehouse, tmp_path, resnapshot=True)
            assert recovered.snapshot is not None
            assert live_raw(warehouse.path) == source_rows(engine)
            assert slot_prefix(engine) in recovered.slot
        finally:
            engine.dispose()
