"""Stream the rows of one source table changed since a high-water mark as Arrow batches.

Three dialect paths, because the generic one is 10-20x slower than what the server can
deliver (see docs/benchmarks.md):

* PostgreSQL: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` read by pyarrow's streaming
  CSV reader: the server formats, Arrow parses in C++. libpq hands COPY data over one
  row per call, so a Python loop over psycopg's ``Copy`` costs about 1 µs per row, as
  much as the server's own formatting. When the ``psql`` client is installed, it runs
  that loop in C and pipes the stream to Arrow (about 8x less client CPU); without it,
  DuckDB's postgres extension reads the same query as binary COPY in C++
  (duckdb_postgres.py); psycopg's ``Copy`` in 1 MB blocks is the last resort.
  ``EXTRACT_POSTGRES_COPY=psql|duckdb|psycopg`` forces one (default ``auto``: psql, then
  duckdb, then psycopg).
* MySQL/MariaDB: an unbuffered server-side cursor (``SSCursor``) fetched in chunks.
* SQLite and anything else: a SQLAlchemy streaming result fetched in chunks.

Every path yields batches of at most ``chunk_rows`` rows with exactly ``schema``, so
memory stays flat whatever the table size.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from orchestration.extract import duckdb_postgres
from orchestration.extract.arrow_types import to_arrow
from orchestration.extract.limits import DEFAULT_CHUNK_ROWS
from orchestration.extract.mark_guard import EXTRACT_APPLICATION_NAME
from orchestration.extract.quarantine import Quarantine
from orchestration.settings import load_settings


@dataclass(frozen=True)
class ExtractRequest:
    table: str
    schema: pa.Schema
    cursor_column: str
    # Inclusive lower bound on cursor_column; None = everything. Rows whose cursor is NULL
    # are read on every run (no mark can say they were seen; the publish keeps each distinct
    # version once), see docs/reliability.md.
    since: dt.datetime | None
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # Sets aside rows that cannot be converted faithfully (see quarantine.py); None = fail.
    quarantine: Quarantine | None = None
    # A targeted re-read (completeness repair): exactly these values of key_column, whatever
    # their cursor; ``since`` is then ignored.
    key_column: str | None = None
    keys: tuple[int, ...] | None = None


# Keys per statement of a targeted re-read: a literal list this long is cheap to parse on
# every server and keeps each statement well under packet and parameter limits.
KEYS_PER_STATEMENT = 5_000


def stream_changed_rows(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    if request.keys is not None:
        keys = sorted(set(request.keys))
        for start in range(0, len(keys), KEYS_PER_STATEMENT):
            chunk = replace(request, keys=tuple(keys[start : start + KEYS_PER_STATEMENT]))
            yield from _stream(engine, chunk)
        return
    yield from _stream(engine, request)


def _stream(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    dialect = engine.dialect.name
    if dialect == "postgresql" and engine.dialect.driver == "psycopg":
        batches = _stream_postgres_copy(engine, request)
    elif dialect in ("mysql", "mariadb") and engine.dialect.driver == "pymysql":
        batches = _stream_mysql_sscursor(engine, request)
    else:
        batches = _stream_generic(engine, request)
    if request.quarantine is None:
        yield from batches
    else:
        for batch in batches:
            yield request.quarantine.screen(batch)


def _select(engine: sa.Engine, request: ExtractRequest) -> sa.Select:
    table = sa.table(request.table, *(sa.column(name) for name in request.schema.names))
    columns = []
    for field in request.schema:
        col = table.c[field.name]
        if engine.dialect.name == "sqlite" and pa.types.is_decimal(field.type):
            # SQLite keeps NUMERIC as REAL; format to the column's scale in SQL so Arrow
            # parses an exact decimal instead of inheriting a binary float's error. Text
            # stays text (printf would turn 'abc' into 0.00) and is rejected on conversion.
            formatted = sa.func.printf(f"%.{field.type.scale}f", col)
            is_number = sa.func.typeof(col).in_(["integer", "real"])
            col = sa.case((is_number, formatted), else_=col).label(field.name)
        columns.append(col)
    stmt = sa.select(*columns)
    if request.keys is not None:
        key = sa.column(request.key_column)
        stmt = stmt.where(key.in_([int(k) for k in request.keys]))
    elif request.since is not None:
        cursor = table.c[request.cursor_column]
        stmt = stmt.where(sa.or_(cursor >= sa.bindparam("since", request.since), cursor.is_(None)))
    return stmt


def _rows_to_batch(rows: list[tuple], schema: pa.Schema, source_table: str) -> pa.RecordBatch:
    arrays = []
    for i, field in enumerate(schema):
        values = [row[i] for row in rows]
        try:
            arrays.append(to_arrow(values, field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise ValueError(f"{source_table}.{field.name}: cannot convert to {field.type}: {exc}") from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _convert(rows: list[tuple], request: ExtractRequest) -> pa.RecordBatch:
    try:
        return _rows_to_batch(rows, request.schema, request.table)
    except ValueError:
        if request.quarantine is None:
            raise
        # Only a chunk that failed pays for the row-by-row search of its bad rows.
        return request.quarantine.isolate(rows, request.schema)


def _stream_generic(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    stmt = _select(engine, request)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # sqlite3 raises on the first text value that is not UTF-8, killing the whole
            # read; keep the bytes (as surrogates) so that row alone is quarantined.
            driver = conn.connection.driver_connection
            driver.text_factory = lambda raw: raw.decode("utf-8", "surrogateescape")
        result = conn.execution_options(stream_results=True, yield_per=request.chunk_rows).execute(stmt)
        for partition in result.partitions(request.chunk_rows):
            yield _convert([tuple(r) for r in partition], request)


def _stream_mysql_sscursor(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    import pymysql.cursors

    # render_postcompile: a targeted re-read's IN list becomes plain parameters PyMySQL can bind.
    compiled = _select(engine, request).compile(engine, compile_kwargs={"render_postcompile": True})
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor(pymysql.cursors.SSCursor)
        try:
            cursor.execute(str(compiled), compiled.params)
            while rows := cursor.fetchmany(request.chunk_rows):
                yield _convert(rows, request)
        finally:
            cursor.close()
    finally:
        raw.close()


COPY_CLIENT_ENV = "EXTRACT_POSTGRES_COPY"


class _CopyBlocks:
    """A read-only file over a psycopg ``COPY TO STDOUT``, returning whole rows in ~``size`` blocks.

    pyarrow asks for megabytes at a time; joining the rows here keeps the Python work at one
    ``Copy.read()`` per row and one call per block (no per-row buffer slicing).
    """

    closed = False

    def __init__(self, copy) -> None:
        self._read = copy.read

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        total = 0
        read = self._read
        limit = size if size and size > 0 else 1 << 62
        while total < limit:
            data = read()
            if not data:
                break
            parts.append(data)
            total += len(data)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def _copy_query(request: ExtractRequest):
    from psycopg import sql

    return sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(_select_query(request))


def _select_query(request: ExtractRequest):
    """The request's SELECT for PostgreSQL, values quoted as literals (COPY takes no parameters)."""
    from psycopg import sql

    columns = sql.SQL(", ").join(sql.Identifier(name) for name in request.schema.names)
    query = sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(request.table))
    # COPY takes no bind parameters; sql.Literal quotes each value client-side.
    if request.keys is not None:
        keys = sql.SQL(", ").join(sql.Literal(int(k)) for k in request.keys)
        query = sql.SQL("{} WHERE {} IN ({})").format(query, sql.Identifier(request.key_column), keys)
    elif request.since is not None:
        cursor = sql.Identifier(request.cursor_column)
        query = sql.SQL("{} WHERE ({} >= {} OR {} IS NULL)").format(
            query, cursor, sql.Literal(request.since), cursor
        )
    return query


def _csv_reader(source, request: ExtractRequest) -> pa_csv.CSVStreamingReader:
    read_options = pa_csv.ReadOptions(
        column_names=request.schema.names,
        # Arrow parses in blocks; about 1 MB per 8k rows of order_items keeps batches near chunk_rows.
        block_size=max(1 << 20, request.chunk_rows * 128),
    )
    convert_options = pa_csv.ConvertOptions(
        column_types={f.name: f.type for f in request.schema},
        # COPY writes NULL as an unquoted empty field and '' as a quoted one; nothing else is
        # NULL (Arrow's default list would turn the text 'NULL' or 'NaN' into NULL).
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
        timestamp_parsers=[pa_csv.ISO8601],
    )
    parse_options = pa_csv.ParseOptions(newlines_in_values=True)
    return pa_csv.open_csv(
        source, read_options=read_options, parse_options=parse_options, convert_options=convert_options
    )


def _read_csv(source, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    try:
        reader = _csv_reader(source, request)
    except pa.ArrowInvalid as exc:
        # COPY of no rows is an empty stream, which Arrow refuses to open: no batches.
        if "Empty CSV file" in str(exc):
            return
        raise
    yield from _read_all(reader, request.schema)


def _read_all(reader: pa_csv.CSVStreamingReader, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    try:
        for batch in reader:
            yield batch.cast(schema) if batch.schema != schema else batch
    finally:
        # Stop Arrow's read-ahead before the source goes away.
        reader.close()


def _postgres_copy_client() -> str:
    # Read when a table is extracted, so a run sees the environment it started in; a value
    # other than auto, psql or psycopg is a SettingsError naming EXTRACT_POSTGRES_COPY.
    choice = load_settings().postgres_copy_client
    if choice == "auto":
        if shutil.which("psql"):
            return "psql"
        return "duckdb" if duckdb_postgres.available() else "psycopg"
    if choice == "psql" and not shutil.which("psql"):
        raise FileNotFoundError(f"{COPY_CLIENT_ENV}=psql but no psql client is on PATH")
    return choice


def _stream_postgres_copy(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    client = _postgres_copy_client()
    if client == "psql":
        yield from _stream_postgres_psql(engine, request)
        return
    if client == "duckdb":
        yield from _stream_postgres_duckdb(engine, request)
        return
    statement = _copy_query(request)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SET DateStyle TO ISO")
            with cur.copy(statement) as copy:
                yield from _read_csv(_CopyBlocks(copy), request)
        conn.commit()
    finally:
        raw.close()


def _libpq_params(engine: sa.Engine) -> dict[str, str | int]:
    _, params = engine.dialect.create_connect_args(engine.url)
    return {k: v for k, v in params.items() if v is not None and isinstance(v, str | int)}


def _stream_postgres_duckdb(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    with engine.connect() as conn:  # composing the statement quotes literals per connection
        query = _select_query(request).as_string(conn.connection.driver_connection)
    yield from duckdb_postgres.stream_query(
        _libpq_params(engine), query, request.schema, table=request.table, chunk_rows=request.chunk_rows
    )


def _psql_connection(engine: sa.Engine) -> tuple[str, dict[str, str]]:
    """A libpq conninfo for ``psql`` and the environment that carries the password."""
    from psycopg.conninfo import make_conninfo

    params = _libpq_params(engine)
    password = params.pop("password", None)
    # The child process inherits this process's environment (PATH, PGSSL*, ...): passed
    # through, not read as a setting.
    env = {**os.environ, "PGCLIENTENCODING": "UTF8", "PGAPPNAME": EXTRACT_APPLICATION_NAME}
    if password is not None:
        env["PGPASSWORD"] = str(password)  # not on the command line, where ps would show it
    return make_conninfo("", **{k: str(v) for k, v in params.items()}), env


def _stream_postgres_psql(engine: sa.Engine, request: ExtractRequest) -> Iterator[pa.RecordBatch]:
    statement = _copy_query(request)
    conninfo, env = _psql_connection(engine)
    with engine.connect() as conn:  # composing the statement quotes literals per connection
        text = statement.as_string(conn.connection.driver_connection)
    args = [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        conninfo,
        "-c",
        "SET DateStyle TO ISO",
        "-c",
        text,
    ]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env
        )
        try:
            try:
                yield from _read_csv(proc.stdout, request)
            except (pa.ArrowInvalid, OSError) as exc:
                # A truncated stream fails to parse before psql reports why: prefer its message.
                if proc.wait() != 0:
                    raise _psql_error(request.table, proc.returncode, stderr) from exc
                raise
            if proc.wait() != 0:
                raise _psql_error(request.table, proc.returncode, stderr)
        finally:
            if proc.poll() is None:  # the consumer stopped early or failed
                proc.kill()
                proc.wait()
            proc.stdout.close()


def _psql_error(table: str, returncode: int, stderr) -> RuntimeError:
    stderr.seek(0)
    message = stderr.read().decode("utf-8", "replace").strip()
    return RuntimeError(f"COPY of {table!r} through psql failed (exit {returncode}): {message}")
