"""Run one table's suite: the new batch through GE (pandas), the rest as SQL in the warehouse.

The same suite runs on DuckDB and on BigQuery, through the warehouse's SQL layer
(orchestration/warehouse/sql.py).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

from orchestration.quality.outcome import ExpectationOutcome, SuiteOutcome
from orchestration.quality.spec import SuiteSpec, load_suites
from orchestration.quality.sql_checks import SqlTarget, run_sql_expectation
from orchestration.settings import EXPECTATIONS_DIR, load_settings
from orchestration.warehouse.base import CDC_COLUMNS, LOAD_LEDGER, Warehouse
from orchestration.warehouse.sql import WarehouseSql


def default_data_docs_dir() -> Path:
    """QUALITY_DATA_DOCS_DIR as the environment says now, by default data/quality/data_docs."""
    return load_settings().quality_data_docs_dir


class SuiteNotFoundError(LookupError):
    pass


def find_suite(layer: str, table: str, expectations_dir: Path = EXPECTATIONS_DIR) -> SuiteSpec:
    suites = load_suites(expectations_dir)
    try:
        return suites[(layer, table)]
    except KeyError:
        raise SuiteNotFoundError(
            f"no suite for {layer}.{table}: expected {expectations_dir / layer / (table + '.yml')}"
        ) from None


def latest_batch_id(sql: WarehouseSql, dataset: str, table: str) -> str | None:
    """The batch most recently published for ``table``, from the load ledger."""
    if not sql.table_exists(dataset, LOAD_LEDGER):
        return None
    rows = sql.rows(
        f"select batch_id from {sql.relation(dataset, LOAD_LEDGER)} where table_name = $table "
        "order by loaded_at desc, batch_id desc limit 1",
        {"table": table},
    )
    return rows[0][0] if rows else None


def latest_batch_value(sql: WarehouseSql, relation: str, column: str) -> Any:
    """The newest value of ``column`` (a mart's _built_at: its latest build); None when the
    table is empty or the column holds only nulls."""
    return sql.rows(f"select max({sql.quote(column)}) from {relation}")[0][0]


def run_suite_spec(
    warehouse: Warehouse,
    suite: SuiteSpec,
    *,
    batch_id: str | None = None,
    data_docs_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> SuiteOutcome:
    """Validate ``suite`` against the warehouse.

    Batched raw tables: ``batch_id`` or, when omitted, the latest batch in the ledger.
    Incremental facts (``batch_from: latest_value``): the rows holding the newest value of
    their batch column, i.e. what the latest dbt build merged (a full refresh stamps every
    row, so that build's check covers the whole table); ``scope: table`` entries still look
    at the whole table. Other marts are validated whole. Layers are logical datasets: the
    warehouse's SQL layer adds a BigQuery dataset prefix itself.
    """
    if not isinstance(warehouse, Warehouse):
        raise TypeError(
            f"no quality checks for warehouse {type(warehouse).__name__}: suites run on a "
            "Warehouse (orchestration/warehouse/base.py), DuckDB or BigQuery"
        )
    started = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    dataset = suite.layer

    gx_specs = [s for s in suite.expectations if not s.runs_in_sql]
    sql_specs = [s for s in suite.expectations if s.runs_in_sql]
    notes: list[str] = []
    with warehouse.sql().reading() as sql:
        relation = sql.relation(dataset, suite.table)

        def resolve(default_layer: str, name: str) -> str:
            layer, _, table = name.rpartition(".")
            return sql.relation(layer or default_layer, table)

        if not sql.table_exists(dataset, suite.table):
            raise SuiteNotFoundError(f"{dataset}.{suite.table} does not exist in {sql.location}")
        if suite.is_batched and batch_id is None and suite.batch_from == "latest_value":
            batch_id = latest_batch_value(sql, relation, suite.batch_column)
        elif suite.is_batched and batch_id is None:
            batch_id = latest_batch_id(sql, dataset, suite.table)
            if batch_id is None:
                raise SuiteNotFoundError(f"{dataset}.{suite.table} has no load in {dataset}.{LOAD_LEDGER}")
        target = SqlTarget(
            suite=suite,
            sql=sql,
            relation=relation,
            batch_id=batch_id,
            ledger=sql.relation(dataset, LOAD_LEDGER) if suite.is_batched else None,
            resolve=resolve,
            change_events=CDC_COLUMNS[0] in sql.columns(dataset, suite.table),
        )
        frame = sql.frame(f"select * from {relation} where {target.batch_where()}", target.params)
        # The CDC columns are load metadata, like _batch_id: not part of the source's schema.
        frame = frame.drop(columns=[c for c in CDC_COLUMNS if c in frame.columns])
        sql_results = {id(s): run_sql_expectation(target, s) for s in sql_specs}
    if suite.is_batched and suite.batch_from == "ledger" and frame.empty:
        notes.append(f"batch {batch_id} inserted no rows; batch expectations ran on an empty frame")

    from orchestration.quality.gx_suite import validate_dataframe

    gx = validate_dataframe(suite, gx_specs, frame, now=now, data_docs_dir=data_docs_dir)
    gx_results = {id(r.spec): r for r in gx.results}
    results: list[ExpectationOutcome] = [
        sql_results.get(id(s)) or gx_results[id(s)] for s in suite.expectations
    ]
    return SuiteOutcome(
        layer=suite.layer,
        table=suite.table,
        relation=f"{dataset}.{suite.table}",
        batch_id=None if batch_id is None else str(batch_id),
        rows_validated=len(frame),
        duration_s=time.perf_counter() - started,
        results=tuple(results),
        data_docs_url=gx.data_docs_url,
        notes=tuple(notes),
    )


def run_suite(
    warehouse: Warehouse,
    schema: str,
    table: str,
    *,
    batch_id: str | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    data_docs_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> SuiteOutcome:
    """Validate ``<schema>.<table>`` with the suite in ``expectations/<schema>/<table>.yml``."""
    suite = find_suite(schema, table, expectations_dir)
    return run_suite_spec(warehouse, suite, batch_id=batch_id, data_docs_dir=data_docs_dir, now=now)
