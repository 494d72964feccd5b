"""Shared helpers for the reliability tests: run the extraction, compare raw with the source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import sqlalchemy as sa

from orchestration.demo import schema as ops_schema
from orchestration.extract.pipeline import ExtractionOutcome, extract_source
from orchestration.sources import load_sources
from orchestration.warehouse.base import Warehouse
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

RAW = "raw_ops"
SOURCES = load_sources()
TABLES = [(t.name, t.cursor_column) for t in SOURCES]
DEMO_END = dt.datetime(2026, 6, 30, 12, 0, 0)


def extract_all(
    ops_url: str,
    duckdb_path: Path,
    landing_dir: Path,
    run_tag: str,
    *,
    tables: Iterable[tuple[str, str]] = TABLES,
    chunk_rows: int = 100_000,
    warehouse: Warehouse | None = None,
    **kwargs,
) -> dict[str, ExtractionOutcome]:
    """Extract ``tables`` ((name, cursor) pairs, as declared) the way the extraction assets do,
    into the DuckDB file at ``duckdb_path`` or into ``warehouse`` when one is given."""
    engine = sa.create_engine(ops_url)
    warehouse = warehouse or DuckDBWarehouse(duckdb_path, lock_timeout_s=60)
    try:
        outcomes = {}
        for table, cursor in tables:
            assert SOURCES.table(table).cursor_column == cursor, (table, cursor)
            outcomes[table] = extract_source(
                engine,
                warehouse,
                SOURCES,
                table,
                raw_schema=RAW,
                landing_dir=landing_dir,
                batch_id=f"{run_tag}:{table}",
                chunk_rows=chunk_rows,
                **kwargs,
            )
        return outcomes
    finally:
        engine.dispose()


def _norm(value: object) -> object:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


@dataclass
class Comparison:
    rows_compared: int = 0
    differences: list[str] = field(default_factory=list)


def compare_raw_with_source(
    ops_url: str, duckdb_path: Path, into: Comparison | None = None, tables: Iterable[str] | None = None
) -> Comparison:
    """Per table: same keys, latest raw version of each key equal to the source row, column by column."""
    result = into or Comparison()
    wanted = set(tables) if tables is not None else None
    engine = sa.create_engine(ops_url)
    try:
        with engine.connect() as conn, duckdb.connect(str(duckdb_path), read_only=True) as con:
            for table in ops_schema.TABLES:
                if wanted is not None and table.name not in wanted:
                    continue
                cursor = ops_schema.cursor_column(table)
                names = [c.name for c in table.columns]
                source = {row[0]: tuple(map(_norm, row)) for row in conn.execute(sa.select(*table.columns))}
                cols = ", ".join(f'"{n}"' for n in names)
                latest = con.execute(
                    f"select {cols} from {RAW}.{table.name} "
                    f"qualify row_number() over (partition by id order by {cursor} desc, _loaded_at desc) = 1"
                ).fetchall()
                raw = {row[0]: tuple(map(_norm, row)) for row in latest}
                result.rows_compared += len(source)
                missing, extra = set(source) - set(raw), set(raw) - set(source)
                if missing or extra:
                    result.differences.append(
                        f"{table.name}: keys missing from raw {sorted(missing)[:5]}, not in source {sorted(extra)[:5]}"
                    )
                for key in set(source) & set(raw):
                    if source[key] != raw[key]:
                        diff = [
                            f"{n}: source {s!r} raw {r!r}"
                            for n, s, r in zip(names, source[key], raw[key], strict=True)
                            if s != r
                        ]
                        result.differences.append(f"{table.name} id {key}: {'; '.join(diff)}")
    finally:
        engine.dispose()
    return result


def warehouse_invariants(duckdb_path: Path) -> list[str]:
    """What must hold after any crash: no half batch, no duplicate version, mark not ahead of raw."""
    problems: list[str] = []
    if not duckdb_path.exists():
        return problems
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [RAW]
            ).fetchall()
        }
        if "_loads" not in tables:
            return [f"raw tables {sorted(tables)} exist without a ledger"] if tables else []
        for table, cursor in TABLES:
            mark = con.execute(
                f"select max(high_water_mark) from {RAW}._loads where table_name = ?", [table]
            ).fetchone()[0]
            if table not in tables:
                if mark is not None:
                    problems.append(f"{table}: ledger mark {mark} but no raw table")
                continue
            max_cursor, nulls = con.execute(
                f"select max({cursor}), count(*) filter (where _batch_id is null or _loaded_at is null "
                f"or id is null or {cursor} is null) from {RAW}.{table}"
            ).fetchone()
            if mark is not None and (max_cursor is None or mark > max_cursor):
                problems.append(f"{table}: ledger mark {mark} ahead of raw max cursor {max_cursor}")
            if nulls:
                problems.append(f"{table}: {nulls} half-written rows (null key, cursor or load metadata)")
            dupes = con.execute(
                f"select count(*) from (select id, {cursor} from {RAW}.{table} group by all having count(*) > 1)"
            ).fetchone()[0]
            if dupes:
                problems.append(f"{table}: {dupes} duplicate (key, cursor) versions")
            # Every batch in raw was committed with its ledger row, and holds exactly what the ledger says.
            unmatched = con.execute(
                f"select r._batch_id, r.n, l.rows_inserted from (select _batch_id, count(*) n from {RAW}.{table} "
                f"group by 1) r left join {RAW}._loads l on l.batch_id = r._batch_id and l.table_name = ? "
                "where l.rows_inserted is distinct from r.n",
                [table],
            ).fetchall()
            if unmatched:
                problems.append(f"{table}: batches without a matching ledger row: {unmatched[:3]}")
    return problems
