"""Every mart suite passes on a real build, and every one of its expectations fails on its defect;
so does every dbt test on a mart (the rules the suites leave to dbt, see the end).

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
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from orchestration.quality import CHECK_NAME, load_suites, run_suite_spec
from orchestration.quality.spec import UNIQUENESS_TYPES, ExpectationSpec, SuiteSpec
from orchestration.resources.dbt import (
    PharmaDbtCliResource,
    dbt_project,
    dbt_resource,
    dbt_target,
)
from orchestration.settings import load_settings
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.pipeline.conftest import AS_OF_DATE
from tests.quality.conftest import now_utc
from tests.quality.mutations import (
    RowDefect,
    SchemaDefect,
    TableDefect,
    column_types,
    defect_for,
    is_numeric,
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
def built_marts(tiny_demo_daily, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The DuckDB file after one real daily_full_build of the tiny demo (every check passed)."""
    assert not tiny_demo_daily.failed_checks(), (
        f"checks failed on the clean build: {tiny_demo_daily.failed_checks()}"
    )
    # Every mart suite ran on the clean build as its asset check, and passed.
    assert {f"marts/{t}" for t in MART_SUITES} <= tiny_demo_daily.assets_with_check(CHECK_NAME)
    with pytest.MonkeyPatch.context() as env:
        harness = tiny_demo_daily.copy_to(tmp_path_factory.mktemp("marts_build"), env)
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


# dbt owns the marts' keys, not-null columns, accepted values and relationships (the suites
# leave those rules to it, docs/quality.md): each of those dbt tests must fail on its defect
# as the suites' entries do. The defects are planted together, one (row, column) each, and
# dbt runs once per group, the way the product runs it (the dbt resource's cli):
# - column rules (not_null, unique, accepted_values) change only their own column, each in
#   a row of its own, so no defect can make another column's test fail;
# - relationships change only the referencing column, on a copy where no parent changed.
COLUMN_TESTS = ("not_null", "unique", "accepted_values")
# The marts' not-null columns are one dbt test per model (tests/generic/not_null_columns.sql):
# a NULL is planted in every listed column, and the test must return one row per column.
NOT_NULL_COLUMNS = "not_null_columns"


@dataclasses.dataclass(frozen=True)
class DbtTest:
    unique_id: str
    kind: str
    relation: str  # marts.<model>
    column: str
    values: tuple[Any, ...] = ()  # accepted_values
    parent: str = ""  # relationships: the referenced relation...
    field: str = ""  # ...and column


def mart_dbt_tests(manifest: dict[str, Any]) -> list[DbtTest]:
    nodes = manifest["nodes"]
    tests = []
    for node in nodes.values():
        attached = nodes.get(node.get("attached_node") or "")
        if node["resource_type"] != "test" or not attached or attached["fqn"][1] != "marts":
            continue
        kind, kwargs = node["test_metadata"]["name"], node["test_metadata"]["kwargs"]
        assert kind in (*COLUMN_TESTS, "relationships", NOT_NULL_COLUMNS), (
            f"{node['unique_id']}: add its defect here"
        )
        relation = f"marts.{attached['name']}"
        if kind == NOT_NULL_COLUMNS:  # one test, a defect in each of its columns
            tests += [DbtTest(node["unique_id"], "not_null", relation, c) for c in kwargs["columns"]]
            continue
        if kind != "relationships":
            tests.append(
                DbtTest(
                    node["unique_id"], kind, relation, node["column_name"], tuple(kwargs.get("values", ()))
                )
            )
            continue
        (parent_id,) = [n for n in node["depends_on"]["nodes"] if n != attached["unique_id"]]
        parent = nodes[parent_id]
        tests.append(
            DbtTest(
                node["unique_id"], kind, relation, node["column_name"],
                parent=f"{parent['schema']}.{parent['name']}", field=kwargs["field"],
            )
        )  # fmt: skip
    return tests


def _seed_empty_marts(con) -> None:
    """Enough clean rows in the marts the demo builds empty for four defects in a column."""
    for table, select in SEED_ROWS.items():
        if not con.execute(f"select count(*) from marts.{table}").fetchone()[0]:
            for i in range(1, 5):
                con.execute(
                    f"insert into marts.{table} by name {select.replace('seed-activity-1', f'seed-activity-{i}')}"
                )


def _rows(con, test: DbtTest, used: dict[tuple[str, str], list[int]], count: int = 1) -> list[int]:
    """``count`` rows of the test's table not yet changed in its column, with a value there."""
    taken = used.setdefault((test.relation, test.column), [])
    rows = con.execute(
        f'select rowid from {test.relation} where "{test.column}" is not null '
        f"and rowid not in (select unnest(?::bigint[])) order by rowid limit {count}",
        [taken],
    ).fetchall()
    assert len(rows) == count, f"{test.unique_id}: {test.relation} has too few rows for its defect"
    taken += [r[0] for r in rows]
    return [r[0] for r in rows]


def _outside(test: DbtTest, sql_type: str) -> str:
    """A value of the column's type outside the accepted values."""
    if is_numeric(sql_type):
        return str(max(int(v) for v in test.values) + 1)
    return "'not-an-accepted-value'"


def _orphan(test: DbtTest, sql_type: str) -> str:
    """A value of the column's type that the referenced column does not hold."""
    if is_numeric(sql_type):
        return f"(select max({test.field}) + 1000000 from {test.parent})"
    if is_temporal(sql_type):
        return f"(select max({test.field}) + interval 36500 day from {test.parent})::{sql_type}"
    return "'orphan-key'"


def plant_dbt_defect(con, test: DbtTest, used: dict[tuple[str, str], list[int]]) -> None:
    schema, table = test.relation.split(".")
    sql_type = con.execute(
        "select data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "and column_name = ?",
        [schema, table, test.column],
    ).fetchone()[0]
    column = f'"{test.column}"'
    if test.kind == "unique":
        row, other = _rows(con, test, used, 2)
        value = f"(select {column} from {test.relation} where rowid = {other})"
    else:
        (row,) = _rows(con, test, used)
        if test.kind == "not_null":
            value = "null"
        elif test.kind == "accepted_values":
            value = _outside(test, sql_type)
        else:
            value = _orphan(test, sql_type)
    con.execute(f"update {test.relation} set {column} = {value} where rowid = {row}")


def dbt_test_results(
    dbt: PharmaDbtCliResource, target_path: Path, *select: str
) -> dict[str, tuple[str, int]]:
    """Run data tests on the marts (or ``select``) through the product's dbt resource:
    each test's status and failures (the rows it returned)."""
    args = ["test", "--select", *(select or ["path:models/marts"]), "--exclude", "test_type:unit"]
    invocation = dbt.cli(args, raise_on_error=False, target_path=target_path)
    invocation.wait()
    results = invocation.get_artifact("run_results.json")["results"]
    return {r["unique_id"]: (r["status"], r["failures"]) for r in results}


@pytest.mark.timeout(1800)  # three dbt invocations, on a machine shared with other work
def test_every_mart_dbt_test_fails_on_its_defect(built_marts: Path, tmp_path: Path) -> None:
    manifest = dbt_project(dbt_target(load_settings({}))).manifest_path  # prepared by built_marts
    tests = mart_dbt_tests(json.loads(manifest.read_text()))
    assert {t.kind for t in tests} == {*COLUMN_TESTS, "relationships"}
    changed = {(t.relation, t.column) for t in tests if t.kind == "relationships"}
    referenced = {(t.parent, t.field) for t in tests if t.kind == "relationships"}
    assert not changed & referenced, "a relationships defect would change another test's parent"

    path = tmp_path / "warehouse.duckdb"
    dbt = dbt_resource(load_settings({"DUCKDB_PATH": str(path)}))  # one resource: dbt --version once
    statuses: dict[str, str] = {}
    for group, kinds in (("columns", COLUMN_TESTS), ("relationships", ("relationships",))):
        path.write_bytes(built_marts.read_bytes())
        with duckdb.connect(str(path)) as con:
            _seed_empty_marts(con)
        if group == "columns":
            # Every test passed on the clean build (built_marts); so must the seeded rows.
            seeded = {f"marts.{table}" for table in SEED_ROWS}
            clean = dbt_test_results(dbt, tmp_path / "dbt-clean", *(r.split(".")[1] for r in seeded))
            assert {clean[t.unique_id][0] for t in tests if t.relation in seeded} == {"pass"}, clean
        used: dict[tuple[str, str], list[int]] = {}
        with duckdb.connect(str(path)) as con:
            for test in tests:
                if test.kind in kinds:
                    plant_dbt_defect(con, test, used)
        ran = dbt_test_results(dbt, tmp_path / f"dbt-{group}")
        statuses |= {t.unique_id: ran.get(t.unique_id, ("not run", 0)) for t in tests if t.kind in kinds}
    not_failed = sorted(f"{uid}: {status}" for uid, (status, _) in statuses.items() if status != "fail")
    assert not not_failed, "dbt tests that did not fail on their defect:\n" + "\n".join(not_failed)
    # A not_null_columns test returns one row per column holding NULLs: every column was seen.
    planted = Counter(
        t.unique_id for t in tests if t.unique_id.startswith(f"test.pharma.{NOT_NULL_COLUMNS}_")
    )
    assert planted, "the marts have not_null_columns tests"
    unseen = {uid: (statuses[uid][1], n) for uid, n in planted.items() if statuses[uid][1] != n}
    assert not unseen, f"not_null_columns tests that missed planted columns (found, planted): {unseen}"


def test_a_failed_not_null_check_names_its_columns_in_dagster(built_marts: Path, tmp_path: Path) -> None:
    """dbt reports only how many rows a not_null_columns test returned; the dbt asset names
    the columns in the Dagster check (orchestration/assets/dbt_failures.py)."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(built_marts.read_bytes())
    with duckdb.connect(str(path)) as con:
        customer = con.execute("select min(id) from raw_ops.customers").fetchone()[0]
        con.execute("update raw_ops.customers set name = null, address_state = null where id = ?", [customer])
        raw_nulls = con.execute("select count(*) from raw_ops.customers where name is null").fetchone()[0]
    assert raw_nulls >= 1
    defs = build_definitions(load_settings({"DUCKDB_PATH": str(path), "DBT_FETCH_METADATA": "false"}))
    staged = dg.AssetKey(["staging", "stg_ops__customers"])
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        asset_selection=[staged],
        run_config={"ops": {"dbt_models": {"config": {"as_of_date": AS_OF_DATE}}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    checks = {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == staged}
    check = checks["not_null_columns_stg_ops__customers"]
    assert not check.passed
    assert check.metadata["null_columns"].value == {"customer_name": 1, "state": 1}
    assert check.metadata["dagster_dbt/failed_row_count"].value == 2  # dbt's own count: two columns
    assert check.description == "staging.stg_ops__customers: NULL in customer_name (1 rows), state (1 rows)"
    assert checks["unique_stg_ops__customers_customer_id"].passed  # the other checks are untouched
