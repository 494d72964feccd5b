"""Retention windows, declared once, and their enforcement.

Two kinds of rule:

* ``age``: rows whose ``column`` is older than ``days`` before the as-of instant go.
* ``superseded``: in an append-only raw table, a version goes once a newer version of
  the same key has been in force for more than ``days`` (the version stopped being true
  that long ago). The latest version of every key always stays, so staging is unchanged;
  the window is longer than the daily inventory history dbt rebuilds (90 days) so that
  every day it rebuilds still finds the version in force on that day.

  A table in mode ``cdc`` orders its versions by ``_cdc_position`` (rows loaded in cursor
  mode before the switch first), and its delete, truncate and snapshot events decide with
  its versions whether a key still exists (dbt's ``latest_version_with_deletes``). So a row
  goes only once a later *live* version of its key (an insert, update or snapshot row) was
  committed more than ``days`` ago: the key's latest live version and any delete after it
  stay; truncate events have no key and stay; and the rows of the latest snapshot or
  truncate position stay, because a key a re-snapshot did not hold has ended there.

The raw_ops rules come from the sources file (orchestration/sources.yml, ``retention``);
the rules below cover the tables derived from them, the quarantine and Marketo.

A table or column that does not exist (yet) is skipped and reported, never an error: the
rules cover sources that are optional (Marketo) or added by other parts of the platform.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from orchestration.sources import Sources, load_sources
from orchestration.warehouse.base import CDC_COLUMNS, REJECTED_ROWS
from orchestration.warehouse.sql import WarehouseSql

REJECTED_ROWS_DAYS = 90
MARKETO_ACTIVITY_DAYS = 3 * 365 + 1


@dataclass(frozen=True)
class RetentionRule:
    schema: str  # logical dataset (the warehouse's SQL layer adds a BigQuery dataset prefix)
    table: str
    kind: Literal["age", "superseded"]
    column: str  # age: the event timestamp; superseded: the change cursor
    days: int
    key: str = "id"
    reason: str = ""
    # superseded: versions ordered by _cdc_position with change events (mode cdc), see above
    by_change_position: bool = False

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def source_rules(sources: Sources) -> tuple[RetentionRule, ...]:
    """The raw_ops rules each declared source table carries."""
    rules: list[RetentionRule] = []
    for table in sources:
        kept = table.retention
        if kept.age_column and kept.age_days:
            rules.append(
                RetentionRule(
                    "raw_ops", table.name, "age", kept.age_column, kept.age_days,
                    reason=f"declared in {sources.path.name}",
                )
            )  # fmt: skip
    for table in sources:
        if table.retention.superseded_days:
            rules.append(
                RetentionRule(
                    "raw_ops", table.name, "superseded", table.cursor_column, table.retention.superseded_days,
                    key=table.primary_key,
                    reason="raw history beyond the current version (debugging, inventory history)",
                    by_change_position=table.mode == "cdc",
                )
            )  # fmt: skip
    return tuple(rules)


# Marts whose rows follow a source table's age rule: mart -> (source table, mart's column).
FOLLOWING_MARTS = {"fact_customer_interactions": ("customer_interactions", "interacted_at")}


def derived_rules(sources: Sources) -> tuple[RetentionRule, ...]:
    declared = {t.name: t.retention for t in sources}
    return tuple(
        RetentionRule(
            "marts", mart, "age", column, declared[table].age_days,
            reason=f"the mart follows its raw table {table}",
        )
        for mart, (table, column) in FOLLOWING_MARTS.items()
        if table in declared and declared[table].age_days
    )  # fmt: skip


# The quarantine and Marketo.
OTHER_RULES: tuple[RetentionRule, ...] = (
    RetentionRule(
        "raw_ops", REJECTED_ROWS, "age", "detected_at", REJECTED_ROWS_DAYS,
        reason="quarantined bad input: 90 days to investigate, then gone (may hold personal data)",
    ),
    RetentionRule(
        "raw_marketo", "activities", "age", "activityDate", MARKETO_ACTIVITY_DAYS,
        reason="marketing engagement events: 3 years",
    ),
    RetentionRule(
        "marts", "fact_marketing_activities", "age", "activity_at", MARKETO_ACTIVITY_DAYS,
        reason="the marketing activity fact follows its raw table",
    ),
)  # fmt: skip


def retention_rules(sources: Sources | None = None) -> tuple[RetentionRule, ...]:
    """Every rule; ``sources`` None = the declared sources settings name."""
    sources = sources or load_sources()
    return source_rules(sources) + derived_rules(sources) + OTHER_RULES


@dataclass(frozen=True)
class RetentionOutcome:
    rule: RetentionRule
    rows_deleted: int
    cutoff: dt.datetime
    skipped: str | None = None


def enforce(
    sql: WarehouseSql, as_of: dt.datetime, rules: tuple[RetentionRule, ...] | None = None
) -> list[RetentionOutcome]:
    """Delete what is out of retention at ``as_of`` (naive UTC); one transaction per table.

    ``rules`` None = :func:`retention_rules` of the declared sources.
    """
    rules = retention_rules() if rules is None else rules
    outcomes: list[RetentionOutcome] = []
    tables_by_schema: dict[str, list[str]] = {}
    for rule in rules:
        schema = rule.schema
        cutoff = as_of - dt.timedelta(days=rule.days)
        if schema not in tables_by_schema:
            try:
                tables_by_schema[schema] = sql.tables(schema)
            except Exception:
                tables_by_schema[schema] = []
        if rule.table not in tables_by_schema[schema]:
            outcomes.append(RetentionOutcome(rule, 0, cutoff, skipped="table does not exist"))
            continue
        columns = sql.columns(schema, rule.table)
        required = (rule.column, *(CDC_COLUMNS if rule.by_change_position else ()))
        missing = [c for c in required if c not in columns]
        if missing:
            outcomes.append(RetentionOutcome(rule, 0, cutoff, skipped=f"no column {missing[0]}"))
            continue
        table = sql.relation(schema, rule.table)
        if rule.kind == "age":
            statement = _age_delete(table, rule)
        elif rule.by_change_position:
            statement = _superseded_change_delete(table, rule)
        else:
            statement = _superseded_delete(table, rule)
        (deleted,) = sql.transaction([(statement, {"cutoff": cutoff})])
        outcomes.append(RetentionOutcome(rule, deleted, cutoff))
    return outcomes


def _age_delete(t: str, rule: RetentionRule) -> str:
    return f"delete from {t} where cast({rule.column} as timestamp) < $cutoff"


def _superseded_delete(t: str, rule: RetentionRule) -> str:
    # A version is identified by (key, cursor, _batch_id): publishing never inserts the same
    # key and cursor twice in one batch.
    return (
        f"delete from {t} as target where exists ("
        f"select 1 from (select {rule.key} as k, {rule.column} as c, _batch_id as b, "
        f"lead({rule.column}) over (partition by {rule.key} order by {rule.column}, _loaded_at) as superseded_at "
        f"from {t}) v "
        f"where v.k = target.{rule.key} and v.c = target.{rule.column} and v.b = target._batch_id "
        "and v.superseded_at < $cutoff)"
    )


def _superseded_change_delete(t: str, rule: RetentionRule) -> str:
    # A version is identified by (key, position, cursor, _batch_id): positions are unique per
    # key among change rows; rows from cursor mode (no position) as in _superseded_delete.
    live = "(_cdc_operation is null or _cdc_operation not in ('delete', 'truncate'))"
    return (
        f"delete from {t} as target where exists ("
        f"select 1 from (select {rule.key} as k, _cdc_position as p, {rule.column} as c, _batch_id as b, "
        f"min(case when {live} then coalesce(_cdc_committed_at, {rule.column}) end) over ("
        f"partition by {rule.key} order by _cdc_position asc nulls first, {rule.column}, _loaded_at "
        "rows between 1 following and unbounded following) as superseded_at "
        f"from {t} where {rule.key} is not null) v "
        f"where v.k = target.{rule.key} and v.p is not distinct from target._cdc_position "
        f"and v.c is not distinct from target.{rule.column} and v.b = target._batch_id "
        "and v.superseded_at < $cutoff) "
        "and (target._cdc_position is null or target._cdc_position is distinct from ("
        f"select max(m._cdc_position) from {t} as m where m._cdc_operation in ('truncate', 'snapshot')))"
    )
