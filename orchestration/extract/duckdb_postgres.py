"""Read one PostgreSQL query as Arrow batches through DuckDB's postgres extension.

Why: without the ``psql`` client, the psycopg ``COPY`` path spends about a microsecond of
Python per row (libpq hands COPY data over row by row) and reaches a quarter of the
server's COPY throughput. DuckDB's postgres extension reads the query's result as binary
COPY in C++ and hands Arrow batches over with exact types (``numeric(p, s)`` as a
decimal, timestamps as microseconds): on the benchmark's 1 M ``order_items`` it matches
``psql`` COPY to /dev/null (docs/benchmarks.md). The extension comes from PyPI
(``duckdb-extension-postgres-scanner``, built for the pinned DuckDB) and is loaded from
the wheel's own file: nothing is downloaded or installed into the user's home.

The query runs as written through ``postgres_query`` (one server-side statement, so the
cursor filter or the key list is the server's, never a scan of the whole table), on a
connection named ``EXTRACT_APPLICATION_NAME`` like the other readers. The password travels
in a temporary DuckDB secret, never in the connection string DuckDB echoes in its errors.

A ``numeric`` column without a declared scale comes back from the extension as a DOUBLE;
those columns (and any whose type DuckDB reports wider than the target's) are read as text
and cast by Arrow, which refuses a value that would lose digits instead of rounding it.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from orchestration.extract.mark_guard import EXTRACT_APPLICATION_NAME

EXTENSION_PACKAGE = "duckdb_extension_postgres_scanner"
# libpq parameters the secret carries; any other (sslmode, ...) goes in the connection string.
SECRET_KEYS = {"host": "HOST", "port": "PORT", "dbname": "DATABASE", "user": "USER", "password": "PASSWORD"}


class ExtensionUnavailable(RuntimeError):
    """The postgres extension's wheel is not installed for this DuckDB."""


def extension_file(duckdb_version: str) -> Path:
    try:
        root = Path(str(importlib.resources.files(EXTENSION_PACKAGE)))
    except ModuleNotFoundError as exc:
        raise ExtensionUnavailable(
            f"EXTRACT_POSTGRES_COPY=duckdb needs the {EXTENSION_PACKAGE.replace('_', '-')} package"
        ) from exc
    path = root / "extensions" / duckdb_version / "postgres_scanner.duckdb_extension"
    if not path.exists():
        raise ExtensionUnavailable(
            f"{path} is missing: the extension's wheel does not match DuckDB {duckdb_version}"
        )
    return path


def available() -> bool:
    import duckdb

    try:
        extension_file(f"v{duckdb.__version__.removeprefix('v')}")
    except ExtensionUnavailable:
        return False
    return True


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def stream_query(
    params: Mapping[str, Any], query: str, schema: pa.Schema, *, table: str, chunk_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of at most ``chunk_rows`` rows of ``query`` (its columns named as ``schema``'s),
    cast to ``schema``. ``params`` are libpq connection parameters."""
    import duckdb

    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        attach(con, params, "source_db")
        relation = f"postgres_query('source_db', {_literal(query)})"
        if not _exact_types(con, relation, schema):
            relation = f"postgres_query('source_db', {_literal(_with_text_columns(query, schema))})"
        reader = con.execute(f"select * from {relation}").to_arrow_reader(chunk_rows)
        for batch in reader:
            yield _conform(batch, schema, table)
    finally:
        con.close()


def attach(con, params: Mapping[str, Any], alias: str) -> None:
    """Load the extension into DuckDB connection ``con`` and attach the PostgreSQL database of
    libpq ``params`` read-only as ``alias``, under the extraction's application name."""
    version = con.execute("pragma version").fetchone()[0]
    con.execute(f"load {_literal(extension_file(version))}")
    secret = ", ".join(f"{SECRET_KEYS[k]} {_literal(v)}" for k, v in params.items() if k in SECRET_KEYS)
    con.execute(f"create temporary secret {alias} (type postgres{', ' + secret if secret else ''})")
    rest = {k: v for k, v in params.items() if k not in SECRET_KEYS}
    conninfo = " ".join(
        f"{k}={_libpq_value(v)}" for k, v in {**rest, "application_name": EXTRACT_APPLICATION_NAME}.items()
    )
    con.execute(f"attach {_literal(conninfo)} as {alias} (type postgres, secret {alias}, read_only)")


def _libpq_value(value: Any) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _exact_types(con, relation: str, schema: pa.Schema) -> bool:
    """Whether every decimal column of the result arrives as a decimal that fits the target."""
    described = dict(
        con.execute(f"select column_name, column_type from (describe select * from {relation})").fetchall()
    )
    for field in schema:
        if pa.types.is_decimal(field.type):
            reported = described.get(field.name, "")
            if not reported.startswith("DECIMAL("):
                return False
            precision, scale = (int(p) for p in reported[len("DECIMAL(") : -1].split(","))
            if scale > field.type.scale or precision - scale > field.type.precision - field.type.scale:
                return False
    return True


def _with_text_columns(query: str, schema: pa.Schema) -> str:
    """``query`` wrapped so its decimal columns arrive as text."""
    columns = ", ".join(
        f'q."{f.name}"::text AS "{f.name}"' if pa.types.is_decimal(f.type) else f'q."{f.name}"'
        for f in schema
    )
    return f"SELECT {columns} FROM ({query}) AS q"


def _conform(batch: pa.RecordBatch, schema: pa.Schema, table: str) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for name, field in zip(batch.schema.names, schema, strict=True):
        column = batch.column(name)
        try:
            arrays.append(column if column.type == field.type else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(f"{table}.{field.name}: cannot convert to {field.type}: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
