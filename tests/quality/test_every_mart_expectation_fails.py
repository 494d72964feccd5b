"""Every mart suite passes on a real build, and every one of its expectations fails on its defect.

The marts are built once, by one real ``daily_full_build`` run of the tiny demo (the same
Dagster job, extraction and dbt build as production). Each mart's test works on its own
copy of that warehouse: it first requires the whole suite to pass on the clean table, then,
for each entry, plants the defect tests/quality/mutations.py derives from the entry IN
PLACE (marts are validated whole, not by batch): one row, chosen by the key among the rows
the entry looks at, is changed; or that row is inserted twice; or the table is emptied; or a
column is dropped. The entry alone must then fail without error, naming the changed row in
its sample keys where it reports keys. The defect is planted in a transaction that is rolled
back after the entry ran (the suite runs on the same connection and sees it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from orchestration.assets import operational_db
from orchestration.quality import CHECK_NAME, load_suites, run_suite_spec
from orchestration.quality.spec import UNIQUENESS_TYPES, ExpectationSpec, SuiteSpec
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import load_settings
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.pipeline.conftest import AS_OF_DATE, make_harness
from tests.quality.conftest import now_utc
from tests.quality.mutations import (
    RowDefect,
    SchemaDefect,
    TableDefect,
    column_types,
    defect_for,
    is_temporal,
)

pytestmark = pytest.mark.slow

MART_SUITES = sorted(table for layer, table in load_suites() if layer == "marts")
# Marts the demo legitimately builds empty get one clean row so their rules can be broken.
# fact_marketing_activities stays empty until the first Marketo extraction (not part of
# daily_full_build); the seeded table is checked against the whole suite before any defect.
SEED_ROWS = {
    "fact_marketing_activities": (
        "select 'seed-activity-1' as activity_guid, 1 as lead_id, "
        "(select min(customer_id) from marts.dim_customers) as customer_id, 10 as activity_type_id, "
        "null as program_id, null as campaign_id, 'Open Email' as activity_type_name, "
        "'email_opened' as activity_category, '1001' as primary_attribute_value_id, "
        "'Spring Campaign.Newsletter' as primary_attribute_value, '{}' as attributes_json, "
        "true as is_customer_activity, date '2026-06-29' as activity_date, "
        "timestamp '2026-06-29 10:00:00' as activity_at"
    ),
}


@pytest.fixture(scope="module")
def built_marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file after one real daily_full_build of the tiny demo (every check passed)."""
    from orchestration.demo.run import run_pipeline

    prepare_manifest(load_settings({}))
    root = tmp_path_factory.mktemp("marts_build")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("QUALITY_DATA_DOCS_DIR", str(root / "data_docs"))
        env.setattr(operational_db, "DATA_DIR", root / "data")  # landing files stay here
        harness = make_harness(f"sqlite:///{root / 'ops.db'}", root, env)
        result = run_pipeline(
            harness.settings, job_name="daily_full_build", as_of_date=AS_OF_DATE, log_level="WARNING"
        )
    assert result.success, [str(e.message) for e in result.all_events if e.is_failure]
    evaluations = result.get_asset_check_evaluations()
    failed = [f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed]
    assert not failed, f"checks failed on the clean build: {failed}"
    # Every mart suite ran on the clean build as its asset check, and passed.
    suites = {e.asset_key.to_user_string() for e in evaluations if e.check_name == CHECK_NAME}
    assert {f"marts/{t}" for t in MART_SUITES} <= suites
    return harness.duckdb_path


class OneConnectionWarehouse(DuckDBWarehouse):
    """A warehouse file used through one open connection: the suite runs inside the test's
    transaction and see its uncommitted defect, and nothing reopens the file per entry."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._open = contextlib.ExitStack()
        self.con = self._open.enter_context(super().connect())

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator:
        yield self.con

    def close(self) -> None:
        self._open.close()


@pytest.fixture
def marts_warehouse(built_marts: Path, tmp_path: Path) -> Iterator[OneConnectionWarehouse]:
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(built_marts.read_bytes())
    warehouse = OneConnectionWarehouse(path)
    yield warehouse
    warehouse.close()


def _reported_columns(suite: SuiteSpec, spec: ExpectationSpec) -> tuple[str, ...]:
    """What the entry's samples name: the duplicated values for uniqueness pushed down to SQL
    (scope: table), the table's key otherwise."""
    if spec.type in UNIQUENESS_TYPES and spec.runs_in_sql:
        return spec.columns
    return suite.key


def _plant_row(con, suite: SuiteSpec, spec: ExpectationSpec, defect: RowDefect) -> dict[str, Any]:
    """Change (or duplicate) one row in place; what the entry's samples must then name."""
    assert not defect.copy_from_other_row, f"{spec.label}: natural-key clashes are for raw history"
    relation, key = f"{suite.layer}.{suite.table}", ", ".join(suite.key)
    where = " and ".join([f"({defect.where})", *(f"{c} is not null" for c in defect.needs_not_null)])
    row = con.execute(f"select {key} from {relation} where {where} order by {key} limit 1").fetchone()
    assert row, f"{suite.name}: no row matches {where} to plant the defect of {spec.label} in"
    if defect.every_row:
        assignments = ", ".join(f'"{c}" = {e}' for c, e in defect.assignments.items())
        con.execute(f"update {relation} set {assignments} where {where}")
        return {}
    match = " and ".join(f"{c} = ?" for c in suite.key)
    reported = _reported_columns(suite, spec)
    # The row as the entry will see it: the planted values where the defect assigns them.
    after = ", ".join(f"{defect.assignments.get(c, c)} as {c}" for c in reported)
    planted = con.execute(f"select {after} from {relation} where {match}", row).fetchone()
    expected = dict(zip(reported, planted, strict=True))
    if defect.assignments:
        assignments = ", ".join(f'"{c}" = {e}' for c, e in defect.assignments.items())
        con.execute(f"update {relation} set {assignments} where {match}", row)
    if defect.duplicate:
        con.execute(f"insert into {relation} select * from {relation} where {match}", row)
    return expected


def _normalized(sample: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """GE reports dates as ISO strings (a null one as None), the SQL checks as dates:
    compare them as timestamps, a missing one as None."""

    def value(column: str, v: Any) -> Any:
        if v is None or not is_temporal(types.get(column, "")):
            return v
        stamp = pd.Timestamp(v)
        return None if pd.isna(stamp) else stamp

    return {c: value(c, v) for c, v in sample.items()}


def assert_every_mart_expectation_fails(warehouse: OneConnectionWarehouse, suite: SuiteSpec) -> int:
    now = now_utc()
    relation, con = f"{suite.layer}.{suite.table}", warehouse.con
    types = column_types(con, suite)
    # The clean build passed every suite (built_marts); a seeded table is checked here.
    if not con.execute(f"select count(*) from {relation}").fetchone()[0]:
        assert suite.table in SEED_ROWS, f"{suite.name} is empty: add a clean row to SEED_ROWS"
        con.execute(f"insert into {relation} by name {SEED_ROWS[suite.table]}")
        seeded = run_suite_spec(warehouse, suite, now=now)
        assert seeded.success, (suite.name, [r.summary() for r in seeded.failures])

    problems: list[str] = []
    for spec in suite.expectations:
        defect = defect_for(suite, spec, types, now)
        expected = None
        con.begin()
        try:
            if isinstance(defect.kind, RowDefect):
                expected = _plant_row(con, suite, spec, defect.kind)
            elif isinstance(defect.kind, TableDefect):
                con.execute(f"delete from {relation}")
            elif isinstance(defect.kind, SchemaDefect) and defect.kind.drop:
                con.execute(f"alter table {relation} drop column {defect.kind.drop}")
            elif isinstance(defect.kind, SchemaDefect):
                con.execute(f"alter table {relation} add column {defect.kind.add} varchar")
            else:
                raise AssertionError(f"{spec.label}: {defect.kind} cannot be planted in a mart")
            single = dataclasses.replace(suite, expectations=(spec,))
            (result,) = run_suite_spec(warehouse, single, now=now).results
        finally:
            con.rollback()
        where = f"{spec.label} on {defect.kind}"
        if result.success:
            problems.append(f"{where}: did not fail")
        elif result.error:
            problems.append(f"{where}: failed with an error, not on the data: {result.error}")
        elif expected is not None and defect.sample_key_expected:
            samples = [_normalized(s, types) for s in result.sample_keys]
            if _normalized(expected, types) not in samples:
                problems.append(f"{where}: sample keys {result.sample_keys} miss the planted {expected}")
    assert not problems, f"{suite.name}:\n" + "\n".join(problems)
    restored = run_suite_spec(warehouse, suite, now=now)
    assert restored.success, (suite.name, "not clean after the defects were rolled back")
    return len(suite.expectations)


@pytest.mark.parametrize("table", MART_SUITES)
def test_every_mart_expectation_fails_on_its_defect(
    marts_warehouse: OneConnectionWarehouse, table: str
) -> None:
    assert_every_mart_expectation_fails(marts_warehouse, load_suites()[("marts", table)])
