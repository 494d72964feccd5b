"""The DuckDB warehouse's file lock: writers queue behind whoever holds it (the dbt step
holds it for a whole build) and give up with a message naming the setting."""

from __future__ import annotations

import threading
import time

import pytest

from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse, WarehouseLockTimeout


def test_a_writer_waits_while_the_lock_is_held_then_writes(tmp_path):
    path = tmp_path / "w.duckdb"
    holder, writer = DuckDBWarehouse(path), DuckDBWarehouse(path, lock_timeout_s=30)
    done = threading.Event()

    def write() -> None:
        writer.write_state("raw_marketo", "leads", {"bookmark": "2026-06-01T00:00:00Z"})
        done.set()

    with holder.locked():
        thread = threading.Thread(target=write)
        thread.start()
        # The writer polls the lock every 0.2 s: well past a few polls, it must still be waiting.
        time.sleep(1.0)
        assert not done.is_set()
    thread.join(timeout=30)
    assert done.is_set()
    assert holder.read_state("raw_marketo", "leads") == {"bookmark": "2026-06-01T00:00:00Z"}


def test_a_writer_gives_up_after_the_lock_timeout_naming_the_setting(tmp_path):
    path = tmp_path / "w.duckdb"
    impatient = DuckDBWarehouse(path, lock_timeout_s=0.5)
    with DuckDBWarehouse(path).locked(), pytest.raises(WarehouseLockTimeout, match="DUCKDB_PATH"):
        impatient.write_state("raw_ops", "dbt_build", {"x": 1})
    assert impatient.read_state("raw_ops", "dbt_build") is None


def test_readers_share_the_lock(tmp_path):
    path = tmp_path / "w.duckdb"
    warehouse = DuckDBWarehouse(path, lock_timeout_s=0.5)
    warehouse.write_state("raw_ops", "k", {"v": 1})
    with warehouse.locked(shared=True):
        assert warehouse.read_state("raw_ops", "k") == {"v": 1}  # a second shared holder
