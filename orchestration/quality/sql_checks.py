"""Expectations pushed down to the warehouse as SQL.

They look beyond the new batch (history, other tables, the load ledger), which the
pandas batch cannot see, and the warehouse answers them without moving rows to Python.
Every query is bounded by the batch where it can be: uniqueness looks only at keys
(or values) the batch touched; referential integrity only at the batch's rows.

One text for both warehouses: the SQL here is the common ground of DuckDB and GoogleSQL
(joins with USING, window functions in subqueries rather than QUALIFY, CASE rather
than FILTER, explicit GROUP BY and ORDER BY lists); the warehouse's SQL layer
(orchestration/warehouse/sql.py) quotes names and binds the ``$name`` parameters.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestration.quality.outcome import ExpectationOutcome
from orchestration.quality.spec import ExpectationSpec, SuiteSpec
from orchestration.warehouse.base import CDC_COLUMNS, METADATA_COLUMNS
from orchestration.warehouse.sql import WarehouseSql

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class SqlTarget:
    """The relation being checked and how to select the rows under validation."""

    suite: SuiteSpec
    sql: WarehouseSql
    relation: str  # quoted, fully qualified
    batch_id: Any  # a ledger batch id (str), a mart's latest _built_at, or None: the whole table
    ledger: str | None  # quoted, fully qualified load ledger for batched tables
    resolve: Callable[[str, str], str]  # (default layer, "layer.table" or "table") -> quoted relation
    # A raw table fed by change data capture: its delete and truncate events are not rows of
    # the source (their columns are mostly empty) and are left out of what is validated.
    change_events: bool = False

    def q(self, identifier: str) -> str:
        return self.sql.quote(identifier)

    def columns(self, names: Sequence[str], alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + self.q(c) for c in names)

    def batch_where(self, alias: str = "", *, with_events: bool = False) -> str:
        """The rows under validation; ``with_events`` keeps CDC delete/truncate events (counts)."""
        prefix = f"{alias}." if alias else ""
        events = ""
        if self.change_events and not with_events:
            operation = f"{prefix}{self.q(CDC_COLUMNS[0])}"
            events = f" and ({operation} is null or {operation} not in ('delete', 'truncate'))"
        if self.batch_id is None or self.suite.batch_column is None:
            return "true" + events
        return f"{prefix}{self.q(self.suite.batch_column)} = $batch_id" + events

    @property
    def params(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id} if self.batch_id is not None and self.suite.batch_column else {}

    def one(self, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...]:
        return self.sql.rows(sql, self.params if params is None else params)[0]

    def samples(self, sql: str, columns: Sequence[str], *, unexpected: int) -> list[dict[str, Any]]:
        """At most SAMPLE_SIZE rows of ``sql`` as dicts (``sql`` orders them); no query when
        nothing was unexpected (on BigQuery every query bills at least 10 MB)."""
        if not unexpected:
            return []
        rows = self.sql.rows(f"{sql} limit {SAMPLE_SIZE}", self.params)
        return [dict(zip(columns, row, strict=True)) for row in rows]


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _target_columns(spec: ExpectationSpec) -> list[str]:
    if spec.type == "expect_column_values_to_be_unique":
        return [spec.kwargs["column"]]
    return list(spec.kwargs["column_list"])


def check_uniqueness(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    suite, rel = target.suite, target.relation
    columns = _target_columns(spec)
    cols = target.columns(columns)
    key = target.columns(suite.key)
    not_null = " and ".join(f"{target.q(c)} is not null" for c in columns)
    if spec.scope == "table":
        groups = f"with groups as (select {cols}, count(*) as n from {rel} where {not_null} group by {cols}) "
        unexpected, denominator = target.one(
            f"{groups}select (select coalesce(sum(n), 0) from groups where n > 1), "
            f"(select count(*) from {rel})"
        )
        samples = target.samples(
            f"{groups}select {cols} from groups where n > 1 order by {cols}", columns, unexpected=unexpected
        )
    elif tuple(columns) == suite.key:
        # The key itself: at its latest version (highest cursor) no row may be there twice in
        # one batch (a source has one row per key) nor twice with the same values (a doubled
        # publish). Rows with other values from other batches at the same cursor are versions
        # a change that did not touch the cursor (or a completeness repair) brought in; staging
        # takes the newest load of those.
        cursor = target.q(suite.cursor)
        raw_columns = target.sql.columns(suite.layer, suite.table)
        data = [c for c in raw_columns if c not in METADATA_COLUMNS]
        text = ", '|', ".join(f"coalesce(cast({target.q(c)} as string), '~')" for c in data)
        version = target.q("_batch_id")
        if CDC_COLUMNS[2] in raw_columns:
            # Change data capture lands every committed version, several of one key in one batch
            # and with equal values (two updates in one transaction, an update that changed
            # nothing): there a duplicate is one position twice.
            version = text = target.q(CDC_COLUMNS[2])
        latest = (
            f"with touched as (select distinct {key} from {rel} where {target.batch_where()}), "
            f"grouped as (select {key}, {cursor}, count(*) as n, count(distinct {version}) as batches, "
            f"count(distinct concat({text})) as contents "
            f"from {rel} join touched using ({key}) group by {key}, {cursor}), "
            f"versions as (select {key}, {cursor}, case when n > batches or n > contents then n else 1 end as n "
            "from grouped), "
            f"latest as (select * from (select v.*, rank() over (partition by {target.columns(suite.key, 'v')} "
            f"order by v.{cursor} desc) as version_rank from versions v) as ranked where version_rank = 1) "
        )
        unexpected, denominator = target.one(
            f"{latest}select (select coalesce(sum(case when n > 1 then n else 0 end), 0) from latest), "
            f"(select coalesce(sum(n), 0) from latest)"
        )
        samples = target.samples(
            f"{latest}select {key} from latest where n > 1 order by {key}", suite.key, unexpected=unexpected
        )
    else:
        # A natural key (cnpj, sku): unique among the latest version of every record, checked
        # for the values this batch carries.
        cursor = target.q(suite.cursor)
        latest = (
            f"with batch_values as (select distinct {cols} from {rel} where {target.batch_where()} and {not_null}), "
            f"candidate_keys as (select distinct {key} from {rel} join batch_values using ({cols})), "
            f"latest as (select * from (select r.*, row_number() over (partition by {target.columns(suite.key, 'r')} "
            f"order by r.{cursor} desc, r.{target.q('_loaded_at')} desc) as version_rank "
            f"from {rel} r join candidate_keys using ({key})) as ranked where version_rank = 1), "
            f"clashes as (select * from (select l.*, count(*) over (partition by {target.columns(columns, 'l')}) "
            f"as holders from latest l join batch_values using ({cols})) as counted where holders > 1) "
        )
        unexpected, denominator = target.one(
            f"{latest}select (select count(*) from clashes), "
            f"(select count(*) from latest join batch_values using ({cols}))"
        )
        samples = target.samples(
            f"{latest}select {key} from clashes order by {key}", suite.key, unexpected=unexpected
        )
    return ExpectationOutcome(
        spec=spec,
        success=unexpected == 0,
        validator="sql",
        unexpected_count=int(unexpected),
        unexpected_percent=_percent(int(unexpected), int(denominator)),
        sample_keys=tuple(samples),
    )


def check_exists_in_table(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    column = target.q(spec.kwargs["column"])
    to_column = target.q(spec.kwargs.get("to_column", "id"))
    referenced = target.resolve(target.suite.layer, spec.kwargs["to_table"])
    rows = "true" if spec.scope == "table" else target.batch_where("b")
    base = f"from {target.relation} b where {rows} and b.{column} is not null"
    orphans = f"{base} and not exists (select 1 from {referenced} r where r.{to_column} = b.{column})"
    unexpected, denominator = target.one(f"select (select count(*) {orphans}), (select count(*) {base})")
    key = target.columns(target.suite.key, "b")
    sample_columns = [*target.suite.key, spec.kwargs["column"]]
    samples = target.samples(
        f"select {key}, b.{column} {orphans} order by {key}, b.{column}",
        sample_columns,
        unexpected=unexpected,
    )
    return ExpectationOutcome(
        spec=spec,
        success=unexpected == 0,
        validator="sql",
        unexpected_count=int(unexpected),
        unexpected_percent=_percent(int(unexpected), int(denominator)),
        sample_keys=tuple({k: s[k] for k in target.suite.key} for s in samples),
        sample_values=tuple(s[spec.kwargs["column"]] for s in samples),
    )


def check_table_row_count(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    """``expect_table_row_count_to_be_between`` with ``scope: table``: the whole table's rows,
    where a batched fact's batch may rightly be empty (a build that changed nothing)."""
    (rows,) = target.one(f"select count(*) from {target.relation}", {})
    low, high = spec.kwargs.get("min_value"), spec.kwargs.get("max_value")
    ok = (low is None or rows >= low) and (high is None or rows <= high)
    return ExpectationOutcome(spec=spec, success=ok, validator="sql", observed_value=int(rows))


def _ledger_row(target: SqlTarget) -> tuple[Any, ...] | None:
    rows = target.sql.rows(
        f"select rows_landed, rows_inserted, loaded_at from {target.ledger} "
        "where table_name = $table and batch_id = $batch_id order by loaded_at desc limit 1",
        {"table": target.suite.table, "batch_id": target.batch_id},
    )
    return rows[0] if rows else None


def check_batch_matches_ledger(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    ledger = _ledger_row(target)
    if ledger is None:
        return ExpectationOutcome(
            spec=spec, success=False, validator="sql", error=f"batch {target.batch_id} is not in the ledger"
        )
    rows_landed, rows_inserted, _ = ledger
    (in_table,) = target.one(
        f"select count(*) from {target.relation} where {target.batch_where(with_events=True)}"
    )
    mismatch = abs(in_table - rows_inserted) + max(0, rows_inserted - rows_landed)
    return ExpectationOutcome(
        spec=spec,
        success=mismatch == 0,
        validator="sql",
        unexpected_count=int(mismatch),
        unexpected_percent=_percent(int(mismatch), max(int(rows_inserted), 1)),
        observed_value={
            "rows_in_table": in_table,
            "rows_inserted": rows_inserted,
            "rows_landed": rows_landed,
        },
    )


def check_batch_volume(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    kwargs = spec.kwargs
    min_ratio = kwargs.get("min_ratio")
    max_ratio = kwargs.get("max_ratio")
    lookback = int(kwargs.get("lookback_loads", 10))
    min_history = int(kwargs.get("min_history", 3))
    ledger = _ledger_row(target)
    if ledger is None:
        return ExpectationOutcome(
            spec=spec, success=False, validator="sql", error=f"batch {target.batch_id} is not in the ledger"
        )
    rows_landed, _, loaded_at = ledger
    history = [
        row[0]
        for row in target.sql.rows(
            f"select rows_landed from {target.ledger} where table_name = $table and batch_id <> $batch_id "
            "and loaded_at <= $loaded_at order by loaded_at desc",
            {"table": target.suite.table, "batch_id": target.batch_id, "loaded_at": loaded_at},
        )
    ]
    if kwargs.get("skip_first_load", True) and history:
        history = history[:-1]  # the initial full load is no yardstick for increments
    history = history[:lookback]
    observed: dict[str, Any] = {"rows_landed": rows_landed, "previous_loads": len(history)}
    if len(history) < min_history:
        observed["note"] = f"fewer than {min_history} previous loads: not judged"
        return ExpectationOutcome(spec=spec, success=True, validator="sql", observed_value=observed)
    median = statistics.median(history)
    observed["median_previous_rows_landed"] = median
    if median == 0:
        return ExpectationOutcome(spec=spec, success=True, validator="sql", observed_value=observed)
    ratio = rows_landed / median
    observed["ratio"] = round(ratio, 4)
    ok = (min_ratio is None or ratio >= min_ratio) and (max_ratio is None or ratio <= max_ratio)
    return ExpectationOutcome(spec=spec, success=ok, validator="sql", observed_value=observed)


CHECKS: dict[str, Callable[[SqlTarget, ExpectationSpec], ExpectationOutcome]] = {
    "expect_column_values_to_be_unique": check_uniqueness,
    "expect_compound_columns_to_be_unique": check_uniqueness,
    "expect_column_values_to_exist_in_table": check_exists_in_table,
    "expect_table_row_count_to_be_between": check_table_row_count,
    "expect_batch_row_count_to_match_ledger": check_batch_matches_ledger,
    "expect_batch_row_count_to_be_within_ratio_of_previous_loads": check_batch_volume,
}


def run_sql_expectation(target: SqlTarget, spec: ExpectationSpec) -> ExpectationOutcome:
    try:
        return CHECKS[spec.type](target, spec)
    except (*target.sql.errors, KeyError) as exc:
        return ExpectationOutcome(
            spec=spec, success=False, validator="sql", error=f"{spec.label} on {target.relation}: {exc}"
        )
