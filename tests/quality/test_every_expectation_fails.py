"""Every expectation in ``expectations/raw_ops`` and ``raw_marketo`` fails on the defect it exists to catch.

For each suite entry, tests/quality/mutations.py derives a defect from the entry itself
(a null, a value out of range or out of its set, a broken CNPJ check digit, a total that
no longer adds up, an orphan foreign key, a duplicated key, a dropped or extra column, a
ledger that disagrees with the table, a load far off its history). The defect is planted
as a new extraction batch in a clean warehouse; the entry alone is then run on that
batch and must fail without error, naming the planted row among its sample keys. The
batch is removed before the next entry. The clean load passing every suite is proven in
test_suites.py, so each failure here is caused by its defect.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from orchestration.quality import load_suites, run_suite, run_suite_spec
from orchestration.quality.spec import ExpectationSpec, SuiteSpec
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.quality.conftest import now_utc
from tests.quality.mutations import Defect, LedgerDefect, RowDefect, SchemaDefect, column_types, defect_for

RAW_SUITES = sorted(table for layer, table in load_suites() if layer == "raw_ops")
MARKETO_SUITES = sorted(table for layer, table in load_suites() if layer == "raw_marketo")
MUTANT = "mutant"


def _latest(suite: SuiteSpec) -> str:
    key = ", ".join(suite.key)
    return (
        f"(select * from {suite.layer}.{suite.table} qualify row_number() over "
        f"(partition by {key} order by {suite.cursor} desc, _loaded_at desc) = 1)"
    )


def _plant_row(con, suite: SuiteSpec, defect: RowDefect, batch: str) -> dict:
    """Plant the defect as batch ``batch``; the planted row's key."""
    latest = _latest(suite)
    where = " and ".join(f"{c} is not null" for c in defect.needs_not_null) or "true"
    key = ", ".join(suite.key)
    rows = con.execute(f"select {key} from {latest} where {where} order by {key} limit 2").fetchall()
    assert rows, f"{suite.name}: no row has {defect.needs_not_null} to plant the defect in"
    match = " and ".join(f"{c} = ?" for c in suite.key)
    con.execute(f"create or replace temp table planted as select * from {latest} where {match}", rows[0])
    assignments = dict(defect.assignments)
    if defect.copy_from_other_row:
        columns = defect.copy_from_other_row
        assert len(rows) == 2, f"{suite.name}: two rows are needed for a {columns} clash"
        other = con.execute(f"select {', '.join(columns)} from {latest} where {match}", rows[1]).fetchone()
        con.execute("update planted set " + ", ".join(f"{c} = ?" for c in columns), list(other))
    if assignments:
        con.execute("update planted set " + ", ".join(f'"{c}" = {e}' for c, e in assignments.items()))
    con.execute(
        f"update planted set {suite.cursor} = {suite.cursor} + interval 1 second, "
        "_batch_id = ?, _loaded_at = now()::timestamp",
        [batch],
    )
    # The samples name the row as planted (a defect may change the key itself).
    planted_key = dict(zip(suite.key, con.execute(f"select {key} from planted").fetchone(), strict=True))
    copies = 2 if defect.duplicate else 1
    for _ in range(copies):
        con.execute(f"insert into {suite.layer}.{suite.table} select * from planted")
    _ledger(
        con, suite, batch, rows_landed=copies, rows_inserted=copies, at="now()::timestamp + interval 1 second"
    )
    return planted_key


def _ledger(con, suite: SuiteSpec, batch: str, *, rows_landed: int, rows_inserted: int, at: str) -> None:
    con.execute(
        f"insert into {suite.layer}._loads select ?, ?, ?, "
        f"(select max({suite.cursor}) from {suite.layer}.{suite.table}), ?, ?, {at}",
        [suite.table, batch, suite.cursor, rows_landed, rows_inserted],
    )


def _plant_ledger(con, suite: SuiteSpec, defect: LedgerDefect, batch: str) -> None:
    """The history loads, then the batch, all newer than anything the table holds."""
    history = defect.history_rows_landed
    for i, landed in enumerate(history):
        _ledger(con, suite, f"{batch}-history-{i}", rows_landed=landed, rows_inserted=0,
                at=f"now()::timestamp + interval {i + 1} second")  # fmt: skip
    landed = defect.rows_landed if defect.rows_landed is not None else 0
    _ledger(con, suite, batch, rows_landed=max(landed, defect.rows_inserted_delta),
            rows_inserted=defect.rows_inserted_delta, at=f"now()::timestamp + interval {len(history) + 2} second")  # fmt: skip


def _revert(con, suite: SuiteSpec) -> None:
    con.execute(f"delete from {suite.layer}.{suite.table} where _batch_id like '{MUTANT}%'")
    con.execute(f"delete from {suite.layer}._loads where batch_id like '{MUTANT}%'")


def _order(item: tuple[ExpectationSpec, Defect]) -> int:
    """Schema defects last (they change the table), the additive one before the destructive."""
    kind = item[1].kind
    return 0 if not isinstance(kind, SchemaDefect) else (1 if kind.add else 2)


@pytest.mark.parametrize("table", RAW_SUITES)
def test_every_raw_expectation_fails_on_its_defect(warehouse: DuckDBWarehouse, table: str) -> None:
    assert_every_expectation_fails(warehouse, load_suites()[("raw_ops", table)])


@pytest.mark.parametrize("table", MARKETO_SUITES)
def test_every_marketo_expectation_fails_on_its_defect(
    marketo_warehouse: DuckDBWarehouse, table: str
) -> None:
    assert_every_expectation_fails(marketo_warehouse, load_suites()[("raw_marketo", table)])


def test_clean_marketo_extraction_passes_every_marketo_suite(marketo_warehouse: DuckDBWarehouse) -> None:
    assert set(MARKETO_SUITES) == {"leads", "activities", "programs", "activity_types"}
    for table in MARKETO_SUITES:
        outcome = run_suite(marketo_warehouse, "raw_marketo", table)
        assert outcome.batch_id is not None
        assert outcome.success, (table, [r.summary() for r in outcome.failures])
    activities = run_suite(marketo_warehouse, "raw_marketo", "activities")
    assert activities.rows_validated > 1000  # one week of the sandbox's activities


def assert_every_expectation_fails(warehouse: DuckDBWarehouse, suite: SuiteSpec) -> None:
    now = now_utc()
    with warehouse.connect(read_only=True) as con:
        types = column_types(con, suite)
    planned = sorted(((spec, defect_for(suite, spec, types, now)) for spec in suite.expectations), key=_order)
    assert len(planned) == len(suite.expectations)
    problems: list[str] = []
    for index, (spec, defect) in enumerate(planned):
        batch = f"{MUTANT}-{index}"
        planted_key = None
        with warehouse.connect() as con:
            _revert(con, suite)
            if isinstance(defect.kind, RowDefect):
                planted_key = _plant_row(con, suite, defect.kind, batch)
            elif isinstance(defect.kind, LedgerDefect):
                _plant_ledger(con, suite, defect.kind, batch)
            elif defect.kind.add:
                con.execute(f"alter table {suite.layer}.{suite.table} add column {defect.kind.add} varchar")
            else:
                con.execute(f"alter table {suite.layer}.{suite.table} drop column {defect.kind.drop}")
        single = dataclasses.replace(suite, expectations=(spec,))
        outcome = run_suite_spec(warehouse, single, now=now)
        (result,) = outcome.results
        where = f"{spec.label} [{spec.scope}] on {defect.kind}"
        if result.success:
            problems.append(f"{where}: did not fail")
        elif result.error:
            problems.append(f"{where}: failed with an error, not on the data: {result.error}")
        elif planted_key is not None and defect.sample_key_expected and planted_key not in result.sample_keys:
            problems.append(f"{where}: sample keys {result.sample_keys} miss the planted {planted_key}")
        if isinstance(defect.kind, SchemaDefect) and defect.kind.add:
            with warehouse.connect() as con:
                con.execute(f"alter table {suite.layer}.{suite.table} drop column {defect.kind.add}")
    assert not problems, f"{suite.name}:\n" + "\n".join(problems)


def test_defects_are_derived_for_every_expectation_type_in_use() -> None:
    """A new expectation type in a suite needs a defect here, or this test names it."""
    now = dt.datetime(2026, 1, 1)
    for suite in load_suites().values():
        types = {c: "VARCHAR" for e in suite.expectations for c in e.columns}
        for spec in suite.expectations:
            if spec.type == "expect_table_row_count_to_be_between":
                continue  # whole-table counts of marts: tests/quality/test_marts.py
            defect_for(suite, spec, types | {c: "BIGINT" for c in ("min", "max")}, now)
