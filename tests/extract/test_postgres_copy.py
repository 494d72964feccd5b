"""Both PostgreSQL COPY clients (psql subprocess, psycopg) read exactly the same values."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow as pa
import pytest
import sqlalchemy as sa

from orchestration.extract.arrow_types import reflect_arrow_schema
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


def _read(engine: sa.Engine, client: str, monkeypatch, since=None, chunk_rows=64) -> pa.Table:
    monkeypatch.setenv(COPY_CLIENT_ENV, client)
    request = ExtractRequest(
        table="things",
        schema=reflect_arrow_schema(engine, "things"),
        cursor_column="updated_at",
        since=since,
        chunk_rows=chunk_rows,
    )
    return pa.Table.from_batches(list(stream_changed_rows(engine, request)), schema=request.schema)


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="no psql client on PATH")


@needs_psql
def test_psql_and_psycopg_read_identical_values(nasty_table, monkeypatch):
    via_psql = _read(nasty_table, "psql", monkeypatch)
    via_psycopg = _read(nasty_table, "psycopg", monkeypatch)
    assert via_psql.num_rows == len(NASTY_TEXT) * 50
    assert via_psql.equals(via_psycopg)
    labels = via_psql.column("label").to_pylist()[: len(NASTY_TEXT)]
    assert labels == NASTY_TEXT  # NULL and '' stay distinct, text round-trips byte for byte
    assert via_psql.column("updated_at")[0].as_py() == dt.datetime(2026, 1, 1, 12, 0, 0, 123456)


@needs_psql
@pytest.mark.parametrize("client", ["psql", "psycopg"])
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


def test_an_unknown_client_setting_is_refused(nasty_table, monkeypatch):
    with pytest.raises(ValueError, match=COPY_CLIENT_ENV):
        _read(nasty_table, "odbc", monkeypatch)
