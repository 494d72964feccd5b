"""The demo writes Dagster's run history without fsync, and nothing else."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from orchestration.demo.run import unsynced_run_history

SYNCHRONOUS_OFF, SYNCHRONOUS_FULL = 0, 2


def _synchronous(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("pragma synchronous").scalar_one()
    finally:
        engine.dispose()


@dg.op
def noop() -> None:
    pass


@dg.job
def one_step() -> None:
    noop()


def test_only_files_under_the_instance_dir_go_unsynced(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "dagster_home", tmp_path / "ops.db"
    home.mkdir()
    inside = f"sqlite:///{home / 'history.db'}"

    with unsynced_run_history(str(home)):
        assert _synchronous(inside) == SYNCHRONOUS_OFF
        assert _synchronous(f"sqlite:///{elsewhere}") == SYNCHRONOUS_FULL
        # Dagster's own storage under that directory: the run and its events are all there.
        instance = dg.DagsterInstance.local_temp(tempdir=str(home))
        result = one_step.execute_in_process(instance=instance)
        storage = instance.event_log_storage
        with storage.run_connection(result.run_id) as conn:
            assert conn.exec_driver_sql("pragma synchronous").scalar_one() == SYNCHRONOUS_OFF
        assert instance.get_run_by_id(result.run_id).is_success
        assert len(instance.all_logs(result.run_id)) == len(result.all_events)

    # Afterwards every connection is back to SQLite's default.
    assert _synchronous(inside) == SYNCHRONOUS_FULL


def test_no_instance_dir_changes_nothing(tmp_path: Path) -> None:
    with unsynced_run_history(None):
        assert _synchronous(f"sqlite:///{tmp_path / 'history.db'}") == SYNCHRONOUS_FULL
