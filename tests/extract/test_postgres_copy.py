"""The PostgreSQL COPY clients (psql subprocess, DuckDB's postgres extension, psycopg) read
exactly the same values."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pytest
import sqlalchemy as sa

from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.mark_guard import EXTRACT_APPLICATION_NAME
from orchestration.extract.readers import COPY_CLIENT_ENV, ExtractRequest, stream_changed_rows

pytestmark = pytest.mark.postgres

NASTY_TEXT = [
    None,
    "",
    "plain",
    'quote " and, comma',
    "line\nbreak\r\nand cr",
    "São Paulo \u2013 ç ü 😀",
    "\\N",
    "NULL",
    "N/A",
    "nan",
]


@pytest.fixture
def nasty_table(postgres_url):
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "create table things (id integer primary key, label text, price numeric(14, 2), "
                "flag boolean, born date, updated_at timestamp not null)"
            )
        )
        for i, label in enumerate(NASTY_TEXT * 50):
            conn.execute(
                sa.text("insert into things values (:id, :label, :price, :flag, :born, :ts)"),
                {
                    "id": i + 1,
                    "label": label,
                    "price": None if i % 7 == 0 else f"{i * 1.37:.2f}",
                    "flag": None if i % 5 == 0 else i % 2 == 0,
                    "born": dt.date(2000, 1, 1) + dt.timedelta(days=i),
                    "ts": dt.datetime(2026, 1, 1, 12, 0, 0, 123456) + dt.timedelta(minutes=i),
                },
            )
    yield engine
    engine.dispose()


def _read(engine: sa.Engine, client: str, monkeypatch, since=None, chunk_rows=64, table="") -> pa.Table:
    monkeypatch.setenv(COPY_CLIENT_ENV, client)
    table = table or sa.inspect(engine).get_table_names()[0]
    request = ExtractRequest(
        table=table,
        schema=reflect_arrow_schema(engine, table),
        cursor_column="updated_at",
        since=since,
        chunk_rows=chunk_rows,
    )
    return pa.Table.from_batches(list(stream_changed_rows(engine, request)), schema=request.schema)


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="no psql client on PATH")


@needs_psql
def test_every_client_reads_identical_values(nasty_table, monkeypatch):
    via_psql = _read(nasty_table, "psql", monkeypatch)
    via_psycopg = _read(nasty_table, "psycopg", monkeypatch)
    via_duckdb = _read(nasty_table, "duckdb", monkeypatch)
    assert via_psql.num_rows == len(NASTY_TEXT) * 50
    assert via_psql.equals(via_psycopg)
    assert via_psql.equals(via_duckdb)
    assert max(b.num_rows for b in via_duckdb.to_batches()) <= 64  # chunk_rows holds
    labels = via_psql.column("label").to_pylist()[: len(NASTY_TEXT)]
    assert labels == NASTY_TEXT  # NULL and '' stay distinct, text round-trips byte for byte
    assert via_psql.column("updated_at")[0].as_py() == dt.datetime(2026, 1, 1, 12, 0, 0, 123456)


@needs_psql
@pytest.mark.parametrize("client", ["psql", "duckdb", "psycopg"])
def test_since_filters_on_the_cursor(nasty_table, monkeypatch, client):
    since = dt.datetime(2026, 1, 1, 12, 0, 0, 123456) + dt.timedelta(minutes=390)
    table = _read(nasty_table, client, monkeypatch, since=since)
    assert table.column("id").to_pylist() == list(range(391, len(NASTY_TEXT) * 50 + 1))


@needs_psql
def test_a_psql_failure_names_the_table_and_the_server_message(nasty_table, monkeypatch):
    monkeypatch.setenv(COPY_CLIENT_ENV, "psql")
    request = ExtractRequest(
        table="no_such_table",
        schema=pa.schema([pa.field("id", pa.int64())]),
        cursor_column="id",
        since=None,
    )
    with pytest.raises(RuntimeError, match=r"no_such_table.*does not exist"):
        list(stream_changed_rows(nasty_table, request))


def test_duckdb_reads_an_unscaled_numeric_exactly_or_refuses_it(postgres_url, monkeypatch):
    """The extension hands a numeric without a declared scale over as a DOUBLE: such a column
    is read as text and cast by Arrow, which keeps 0.1 exact and refuses a third decimal
    (naming the column) instead of rounding it."""
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("create table amounts (id integer primary key, amount numeric, at timestamptz)")
            )
            conn.execute(
                sa.text(
                    "insert into amounts values (1, 0.1, '2026-01-01 12:00:00+00'), (2, 12345678.99, null)"
                )
            )
        table = _read(engine, "duckdb", monkeypatch)
        assert table.column("amount").type == pa.decimal128(18, 2)
        assert [str(v) for v in table.column("amount").to_pylist()] == ["0.10", "12345678.99"]
        assert table.column("at").to_pylist() == [dt.datetime(2026, 1, 1, 12, 0), None]  # naive UTC
        with engine.begin() as conn:
            conn.execute(sa.text("insert into amounts values (3, 1.005, null)"))
        with pytest.raises(ValueError, match=r"amounts\.amount"):
            _read(engine, "duckdb", monkeypatch)
    finally:
        engine.dispose()


def test_duckdb_connection_errors_leave_the_password_out(postgres_url, monkeypatch):
    url = sa.make_url(postgres_url).set(username="no_such_role", password="S3cret-never-shown")
    engine = sa.create_engine(url)
    try:
        request = ExtractRequest(
            table="things", schema=pa.schema([pa.field("id", pa.int64())]), cursor_column="id", since=None
        )
        monkeypatch.setenv(COPY_CLIENT_ENV, "duckdb")
        with pytest.raises(Exception) as failure:
            list(stream_changed_rows(engine, request))
        assert "no_such_role" in str(failure.value)
        assert "S3cret" not in str(failure.value)
    finally:
        engine.dispose()


def test_an_unknown_client_setting_is_refused(nasty_table, monkeypatch):
    with pytest.raises(ValueError, match=COPY_CLIENT_ENV):
        _read(nasty_table, "odbc", monkeypatch)


def test_duckdb_reads_as_the_extraction_application(nasty_table, monkeypatch):
    """The mark guard leaves extraction's own sessions out by their application name."""
    monkeypatch.setenv(COPY_CLIENT_ENV, "duckdb")
    request = ExtractRequest(
        table="things",
        schema=reflect_arrow_schema(nasty_table, "things"),
        cursor_column="updated_at",
        since=None,
        chunk_rows=64,
    )
    batches = stream_changed_rows(nasty_table, request)
    try:
        next(batches)
        with nasty_table.connect() as conn:
            names = conn.execute(
                sa.text(
                    "select application_name from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid()"
                )
            ).scalars()
            assert EXTRACT_APPLICATION_NAME in list(names)
    finally:
        batches.close()
