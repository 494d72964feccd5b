"""A tiny demo operational DB, extracted for real into a DuckDB warehouse once per session.

Each test gets its own copy of the warehouse file and plants its defect as a new
extraction batch (rows tagged with a fresh ``_batch_id`` plus the matching ledger row).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestration.demo.generator import Scale, generate
from orchestration.extract.pipeline import extract_source
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse


def extract_all(url: str, warehouse: DuckDBWarehouse, landing: Path, batch_id: str) -> None:
    """Every declared source table, extracted the way the extraction assets do."""
    engine = sa.create_engine(url)
    sources = load_sources()
    try:
        for table in sources.names:
            extract_source(
                engine,
                warehouse,
                sources,
                table,
                raw_schema="raw_ops",
                landing_dir=landing,
                batch_id=batch_id,
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(ops URL, warehouse file) after generating Scale.tiny() and extracting every table."""
    root = tmp_path_factory.mktemp("quality_demo")
    url = f"sqlite:///{root / 'ops.db'}"
    # History ends ten days ago so that ``advance`` (which moves the demo clock forward)
    # still produces timestamps in the past, as the "not in the future" rules require.
    generate(url, Scale.tiny(), seed=7, end=now_utc() - dt.timedelta(days=10))
    path = root / "warehouse.duckdb"
    extract_all(url, DuckDBWarehouse(path), root / "landing", "initial")
    return url, path


MARKETO_END = dt.datetime(2026, 6, 30, 12, tzinfo=dt.UTC)
MARKETO_DAYS = (dt.date(2026, 6, 23), dt.date(2026, 6, 29))


@pytest.fixture(scope="session")
def marketo_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file after the real Marketo assets ran against the sandbox (one week of
    activities, every lead, programs, activity types), as the daily job extracts them."""
    from orchestration.demo.marketo_extract import extract_marketo
    from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, start_sandbox
    from orchestration.demo.marketo_sandbox.launch import sandbox_variables
    from orchestration.settings import load_settings

    root = tmp_path_factory.mktemp("quality_marketo")
    path = root / "warehouse.duckdb"
    data = SandboxData.build(42, MARKETO_END)
    # The real 100 calls / 20 s limit is proven in tests/marketo; here it would only add waits.
    with (
        start_sandbox(data=data, config=SandboxConfig(rate_limit_calls=1_000_000)) as handle,
        pytest.MonkeyPatch.context() as env,
    ):
        for name, value in sandbox_variables(handle, data).items():
            env.setenv(name, value)
        env.delenv("DAGSTER_HOME", raising=False)
        settings = load_settings({"WAREHOUSE": "duckdb", "DUCKDB_PATH": str(path)})
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = extract_marketo(settings, *MARKETO_DAYS, run_config=quiet)
        assert result.success, [str(e.message) for e in result.all_events if e.is_failure]
    return path


@pytest.fixture
def marketo_warehouse(marketo_source: Path, tmp_path: Path) -> DuckDBWarehouse:
    path = tmp_path / "marketo.duckdb"
    shutil.copy(marketo_source, path)
    return DuckDBWarehouse(path)


@pytest.fixture
def warehouse(demo_source: tuple[str, Path], tmp_path: Path) -> DuckDBWarehouse:
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(demo_source[1], path)
    return DuckDBWarehouse(path)


PlantBatch = Callable[..., str]


@pytest.fixture
def plant_batch(warehouse: DuckDBWarehouse) -> PlantBatch:
    """Append a batch made of existing rows with some columns changed.

    ``plant_batch(table, {id: {column: value}}, batch_id=...)``: each listed row is copied
    from its latest version, changed, given a later cursor, and published as a new batch.
    """
    counter = iter(range(1, 1000))

    def plant(
        table: str,
        changes: Mapping[int, Mapping[str, Any]],
        *,
        batch_id: str | None = None,
        bump_cursor: bool = True,
        rows_landed: int | None = None,
    ) -> str:
        batch_id = batch_id or f"planted-{next(counter)}"
        cursor = load_sources().table(table).cursor_column
        with warehouse.connect() as con:
            for row_id, change in changes.items():
                con.execute(
                    f"create or replace temp table planted as select * from raw_ops.{table} "
                    f"where id = ? qualify row_number() over (order by {cursor} desc, _loaded_at desc) = 1",
                    [row_id],
                )
                for column, value in change.items():
                    con.execute(f'update planted set "{column}" = ?', [value])
                if bump_cursor:
                    con.execute(f"update planted set {cursor} = {cursor} + interval 1 second")
                con.execute("update planted set _batch_id = ?, _loaded_at = now()::timestamp", [batch_id])
                con.execute(f"insert into raw_ops.{table} select * from planted")
            inserted = len(changes)
            con.execute(
                "insert into raw_ops._loads values (?, ?, ?, "
                f"(select max({cursor}) from raw_ops.{table}), ?, ?, now()::timestamp + interval 1 second)",
                [table, batch_id, cursor, rows_landed if rows_landed is not None else inserted, inserted],
            )
        return batch_id

    return plant


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
