"""Run one table's suite: the new batch through GE (pandas), the rest as SQL in DuckDB."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping
from pathlib import Path

import duckdb

from orchestration.quality.outcome import ExpectationOutcome, SuiteOutcome
from orchestration.quality.spec import SuiteSpec, load_suites
from orchestration.quality.sql_checks import SqlTarget, q, run_sql_expectation
from orchestration.settings import DATA_DIR, EXPECTATIONS_DIR
from orchestration.warehouse.base import LOAD_LEDGER
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

DATA_DOCS_DIR_VARIABLE = "QUALITY_DATA_DOCS_DIR"


def default_data_docs_dir() -> Path:
    return Path(os.environ.get(DATA_DOCS_DIR_VARIABLE, "").strip() or DATA_DIR / "quality" / "data_docs")


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


def latest_batch_id(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> str | None:
    """The batch most recently published for ``table``, from the load ledger."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, LOAD_LEDGER],
    ).fetchone()[0]
    if not exists:
        return None
    row = con.execute(
        f"select batch_id from {q(schema)}.{q(LOAD_LEDGER)} where table_name = ? "
        "order by loaded_at desc, batch_id desc limit 1",
        [table],
    ).fetchone()
    return row[0] if row else None


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def run_suite_spec(
    warehouse: DuckDBWarehouse,
    suite: SuiteSpec,
    *,
    batch_id: str | None = None,
    schemas: Mapping[str, str] | None = None,
    data_docs_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> SuiteOutcome:
    """Validate ``suite`` against the warehouse.

    Batched (raw) tables: ``batch_id`` or, when omitted, the latest batch in the ledger.
    Unbatched tables (marts) are validated whole. ``schemas`` maps logical layers to
    physical schemas (e.g. a BigQuery dataset prefix); identity by default.
    """
    started = time.perf_counter()
    schemas = schemas or {}
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    physical = schemas.get(suite.layer, suite.layer)
    relation = f"{q(physical)}.{q(suite.table)}"

    def resolve(default_layer: str, name: str) -> str:
        layer, _, table = name.rpartition(".")
        layer = layer or default_layer
        return f"{q(schemas.get(layer, layer))}.{q(table)}"

    gx_specs = [s for s in suite.expectations if not s.runs_in_sql]
    sql_specs = [s for s in suite.expectations if s.runs_in_sql]
    notes: list[str] = []
    with warehouse.connect(read_only=True) as con:
        if not _table_exists(con, physical, suite.table):
            raise SuiteNotFoundError(f"{physical}.{suite.table} does not exist in {warehouse.path}")
        if suite.is_batched and batch_id is None:
            batch_id = latest_batch_id(con, physical, suite.table)
            if batch_id is None:
                raise SuiteNotFoundError(f"{physical}.{suite.table} has no load in {physical}.{LOAD_LEDGER}")
        if suite.is_batched:
            frame = con.execute(
                f"select * from {relation} where {q(suite.batch_column)} = ?", [batch_id]
            ).df()
        else:
            frame = con.execute(f"select * from {relation}").df()
        target = SqlTarget(
            suite=suite,
            relation=relation,
            batch_id=batch_id,
            ledger=f"{q(physical)}.{q(LOAD_LEDGER)}" if suite.is_batched else None,
            resolve=resolve,
        )
        sql_results = {id(s): run_sql_expectation(con, target, s) for s in sql_specs}
    if suite.is_batched and frame.empty:
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
        relation=f"{physical}.{suite.table}",
        batch_id=batch_id,
        rows_validated=len(frame),
        duration_s=time.perf_counter() - started,
        results=tuple(results),
        data_docs_url=gx.data_docs_url,
        notes=tuple(notes),
    )


def run_suite(
    warehouse: DuckDBWarehouse,
    schema: str,
    table: str,
    *,
    batch_id: str | None = None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    schemas: Mapping[str, str] | None = None,
    data_docs_dir: Path | None = None,
    now: dt.datetime | None = None,
) -> SuiteOutcome:
    """Validate ``<schema>.<table>`` with the suite in ``expectations/<schema>/<table>.yml``."""
    suite = find_suite(schema, table, expectations_dir)
    return run_suite_spec(
        warehouse, suite, batch_id=batch_id, schemas=schemas, data_docs_dir=data_docs_dir, now=now
    )
