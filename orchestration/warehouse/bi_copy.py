"""The marts as a read-only DuckDB file for BI tools, replaced atomically after each build.

DuckDB lets one process write a file or many read it, never both: an analyst's BI tool
holding ``warehouse.duckdb`` open would stop the pipeline, and the pipeline would stop the
BI tool. BI tools open this copy instead. It is written under a temporary name next to
the copy and renamed over it in one step (POSIX rename): a reader that has the old copy
open keeps reading the old file, undisturbed, until it reconnects; a new connection sees
the new copy whole. No reader ever sees half a copy, and no reader ever blocks a run.
(On Windows a file held open cannot be replaced: serve the copy from a POSIX host.)
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

BI_SCHEMAS = ("marts",)


@dataclass(frozen=True)
class BiCopy:
    path: Path
    tables: dict[str, int]  # schema.table -> rows
    published_at: dt.datetime


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def publish_bi_copy(warehouse_path: Path, copy_path: Path, schemas: tuple[str, ...] = BI_SCHEMAS) -> BiCopy:
    """Copy every table and view of ``schemas`` (views become tables: the copy stands alone)
    from the warehouse file into a new file, then rename it over ``copy_path``.

    The caller holds the warehouse lock (shared): the warehouse is only read here.
    """
    copy_path.parent.mkdir(parents=True, exist_ok=True)
    staging = copy_path.with_name(f".{copy_path.name}.{uuid.uuid4().hex[:12]}.tmp")
    tables: dict[str, int] = {}
    try:
        # An in-memory session attaching both files: the warehouse read-only, the copy writable.
        with duckdb.connect() as con:
            con.execute(f"attach '{warehouse_path.as_posix()}' as source (read_only)")
            con.execute(f"attach '{staging.as_posix()}' as bi_copy")
            con.execute("use source")
            found = con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = 'source' and list_contains($schemas, table_schema) "
                "order by 1, 2",
                {"schemas": list(schemas)},
            ).fetchall()
            if not found:
                raise LookupError(
                    f"no table in schema(s) {', '.join(schemas)} of {warehouse_path}: build the marts first"
                )
            for schema in sorted({s for s, _ in found}):
                con.execute(f"create schema bi_copy.{_q(schema)}")
            for schema, table in found:
                name = f"{_q(schema)}.{_q(table)}"
                con.execute(f"create table bi_copy.{name} as select * from source.{name}")
                tables[f"{schema}.{table}"] = con.execute(f"select count(*) from bi_copy.{name}").fetchone()[
                    0
                ]
            published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            con.execute("create schema bi_copy._meta")
            con.execute(
                "create table bi_copy._meta.published as select ?::timestamp as published_at, ? as source",
                [published_at, str(warehouse_path)],
            )
            con.execute("use memory")
            con.execute("detach bi_copy")
        os.replace(staging, copy_path)
    finally:
        for leftover in (staging, staging.with_name(staging.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return BiCopy(copy_path, tables, published_at)
