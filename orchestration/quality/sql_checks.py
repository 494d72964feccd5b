"""Expectations pushed down to the warehouse as SQL.

They look beyond the new batch (history, other tables, the load ledger), which the
pandas batch cannot see, and DuckDB answers them without moving rows to Python.
Every query is bounded by the batch where it can be: uniqueness looks only at keys
(or values) the batch touched; referential integrity only at the batch's rows.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from orchestration.quality.outcome import ExpectationOutcome
from orchestration.quality.spec import ExpectationSpec, SuiteSpec

SAMPLE_SIZE = 5


def q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class SqlTarget:
    """The relation being checked and how to select the rows under validation."""

    suite: SuiteSpec
    relation: str  # quoted, schema-qualified
    batch_id: str | None
    ledger: str | None  # quoted, schema-qualified load ledger for batched tables
    resolve: Callable[[str, str], str]  # (default layer, "layer.table" or "table") -> quoted relation

    def batch_where(self, alias: str = "") -> str:
        if self.batch_id is None or self.suite.batch_column is None:
            return "true"
        prefix = f"{alias}." if alias else ""
        return f"{prefix}{q(self.suite.batch_column)} = $batch_id"

    @property
    def params(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id} if self.batch_id is not None and self.suite.batch_column else {}


def _rows_as_dicts(cursor: duckdb.DuckDBPyConnection, columns: Sequence[str]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _target_columns(spec: ExpectationSpec) -> list[str]:
    if spec.type == "expect_column_values_to_be_unique":
        return [spec.kwargs["column"]]
    return list(spec.kwargs["column_list"])


def check_uniqueness(
    con: duckdb.DuckDBPyConnection, target: SqlTarget, spec: ExpectationSpec
) -> ExpectationOutcome:
    suite = target.suite
    columns = _target_columns(spec)
    cols = ", ".join(q(c) for c in columns)
    key = ", ".join(q(c) for c in suite.key)
    if spec.scope == "table":
        sql = (
            f"with groups as (select {cols}, count(*) as n from {target.relation} "
            f"where {' and '.join(f'{q(c)} is not null' for c in columns)} group by all), "
            f"total as (select count(*) as rows from {target.relation}) "
            f"select (select coalesce(sum(n), 0) from groups where n > 1), (select rows from total), "
            f"(select list(struct_pack({', '.join(f'{q(c)} := {q(c)}' for c in columns)})) "
            f" from (select * from groups where n > 1 limit {SAMPLE_SIZE}))"
        )
        unexpected, denominator, samples = con.execute(sql).fetchone()
    elif tuple(columns) == suite.key:
        # The key itself: its latest version (highest cursor) must be a single row.
        cursor = q(suite.cursor)
        sql = (
            f"with touched as (select distinct {key} from {target.relation} where {target.batch_where()}), "
            f"versions as (select {key}, {cursor}, count(*) as n "
            f"from {target.relation} semi join touched using ({key}) group by {key}, {cursor}), "
            f"latest as (select * from versions "
            f"qualify rank() over (partition by {key} order by {cursor} desc) = 1) "
            f"select (select coalesce(sum(n) filter (where n > 1), 0) from latest), "
            f"(select coalesce(sum(n), 0) from latest), "
            f"(select list(struct_pack({', '.join(f'{q(c)} := {q(c)}' for c in suite.key)})) "
            f" from (select * from latest where n > 1 order by all limit {SAMPLE_SIZE}))"
        )
        unexpected, denominator, samples = con.execute(sql, target.params).fetchone()
    else:
        # A natural key (cnpj, sku): unique among the latest version of every record, checked
        # for the values this batch carries.
        cursor = q(suite.cursor)
        not_null = " and ".join(f"{q(c)} is not null" for c in columns)
        sql = (
            f"with batch_values as (select distinct {cols} from {target.relation} "
            f"where {target.batch_where()} and {not_null}), "
            f"candidate_keys as (select distinct {key} from {target.relation} semi join batch_values using ({cols})), "
            f"latest as (select * from {target.relation} semi join candidate_keys using ({key}) "
            f"qualify row_number() over (partition by {key} order by {cursor} desc, _loaded_at desc) = 1), "
            f"clashes as (select l.* from latest l semi join batch_values using ({cols}) "
            f"qualify count(*) over (partition by {cols}) > 1) "
            f"select (select count(*) from clashes), (select count(*) from latest semi join batch_values using ({cols})), "
            f"(select list(struct_pack({', '.join(f'{q(c)} := {q(c)}' for c in suite.key)})) "
            f" from (select * from clashes order by {key} limit {SAMPLE_SIZE}))"
        )
        unexpected, denominator, samples = con.execute(sql, target.params).fetchone()
    sample_keys = tuple(dict(s) for s in (samples or []))
    return ExpectationOutcome(
        spec=spec,
        success=unexpected == 0,
        engine="sql",
        unexpected_count=int(unexpected),
        unexpected_percent=_percent(int(unexpected), int(denominator)),
        sample_keys=sample_keys,
    )


def check_exists_in_table(
    con: duckdb.DuckDBPyConnection, target: SqlTarget, spec: ExpectationSpec
) -> ExpectationOutcome:
    column = spec.kwargs["column"]
    to_column = spec.kwargs.get("to_column", "id")
    referenced = target.resolve(target.suite.layer, spec.kwargs["to_table"])
    key = ", ".join(f"b.{q(c)}" for c in target.suite.key)
    base = f"from {target.relation} b where {target.batch_where('b')} and b.{q(column)} is not null"
    orphans = f"{base} and not exists (select 1 from {referenced} r where r.{q(to_column)} = b.{q(column)})"
    unexpected, denominator = con.execute(
        f"select (select count(*) {orphans}), (select count(*) {base})", target.params
    ).fetchone()
    sample_columns = [*target.suite.key, column]
    samples = _rows_as_dicts(
        con.execute(f"select {key}, b.{q(column)} {orphans} order by all limit {SAMPLE_SIZE}", target.params),
        sample_columns,
    )
    return ExpectationOutcome(
        spec=spec,
        success=unexpected == 0,
        engine="sql",
        unexpected_count=int(unexpected),
        unexpected_percent=_percent(int(unexpected), int(denominator)),
        sample_keys=tuple({k: s[k] for k in target.suite.key} for s in samples),
        sample_values=tuple(s[column] for s in samples),
    )


def _ledger_row(con: duckdb.DuckDBPyConnection, target: SqlTarget) -> tuple[Any, ...] | None:
    return con.execute(
        f"select rows_landed, rows_inserted, loaded_at from {target.ledger} "
        "where table_name = $table and batch_id = $batch_id order by loaded_at desc limit 1",
        {"table": target.suite.table, "batch_id": target.batch_id},
    ).fetchone()


def check_batch_matches_ledger(
    con: duckdb.DuckDBPyConnection, target: SqlTarget, spec: ExpectationSpec
) -> ExpectationOutcome:
    ledger = _ledger_row(con, target)
    if ledger is None:
        return ExpectationOutcome(
            spec=spec, success=False, engine="sql", error=f"batch {target.batch_id} is not in the ledger"
        )
    rows_landed, rows_inserted, _ = ledger
    (in_table,) = con.execute(
        f"select count(*) from {target.relation} where {target.batch_where()}", target.params
    ).fetchone()
    mismatch = abs(in_table - rows_inserted) + max(0, rows_inserted - rows_landed)
    return ExpectationOutcome(
        spec=spec,
        success=mismatch == 0,
        engine="sql",
        unexpected_count=int(mismatch),
        unexpected_percent=_percent(int(mismatch), max(int(rows_inserted), 1)),
        observed_value={
            "rows_in_table": in_table,
            "rows_inserted": rows_inserted,
            "rows_landed": rows_landed,
        },
    )


def check_batch_volume(
    con: duckdb.DuckDBPyConnection, target: SqlTarget, spec: ExpectationSpec
) -> ExpectationOutcome:
    kwargs = spec.kwargs
    min_ratio = kwargs.get("min_ratio")
    max_ratio = kwargs.get("max_ratio")
    lookback = int(kwargs.get("lookback_loads", 10))
    min_history = int(kwargs.get("min_history", 3))
    ledger = _ledger_row(con, target)
    if ledger is None:
        return ExpectationOutcome(
            spec=spec, success=False, engine="sql", error=f"batch {target.batch_id} is not in the ledger"
        )
    rows_landed, _, loaded_at = ledger
    history = [
        row[0]
        for row in con.execute(
            f"select rows_landed from {target.ledger} where table_name = $table and batch_id <> $batch_id "
            "and loaded_at <= $loaded_at order by loaded_at desc",
            {"table": target.suite.table, "batch_id": target.batch_id, "loaded_at": loaded_at},
        ).fetchall()
    ]
    if kwargs.get("skip_first_load", True) and history:
        history = history[:-1]  # the initial full load is no yardstick for increments
    history = history[:lookback]
    observed: dict[str, Any] = {"rows_landed": rows_landed, "previous_loads": len(history)}
    if len(history) < min_history:
        observed["note"] = f"fewer than {min_history} previous loads: not judged"
        return ExpectationOutcome(spec=spec, success=True, engine="sql", observed_value=observed)
    median = statistics.median(history)
    observed["median_previous_rows_landed"] = median
    if median == 0:
        return ExpectationOutcome(spec=spec, success=True, engine="sql", observed_value=observed)
    ratio = rows_landed / median
    observed["ratio"] = round(ratio, 4)
    ok = (min_ratio is None or ratio >= min_ratio) and (max_ratio is None or ratio <= max_ratio)
    return ExpectationOutcome(spec=spec, success=ok, engine="sql", observed_value=observed)


CHECKS: dict[str, Callable[[duckdb.DuckDBPyConnection, SqlTarget, ExpectationSpec], ExpectationOutcome]] = {
    "expect_column_values_to_be_unique": check_uniqueness,
    "expect_compound_columns_to_be_unique": check_uniqueness,
    "expect_column_values_to_exist_in_table": check_exists_in_table,
    "expect_batch_row_count_to_match_ledger": check_batch_matches_ledger,
    "expect_batch_row_count_to_be_within_ratio_of_previous_loads": check_batch_volume,
}


def run_sql_expectation(
    con: duckdb.DuckDBPyConnection, target: SqlTarget, spec: ExpectationSpec
) -> ExpectationOutcome:
    try:
        return CHECKS[spec.type](con, target, spec)
    except (duckdb.Error, KeyError) as exc:
        return ExpectationOutcome(
            spec=spec, success=False, engine="sql", error=f"{spec.label} on {target.relation}: {exc}"
        )
