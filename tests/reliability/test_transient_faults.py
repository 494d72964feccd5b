"""Transient faults are retried with backoff; permanent errors fail at once with a clear message.

A TCP proxy in front of PostgreSQL cuts the connection in the middle of the first COPY:
the Dagster asset asks for a retry and the second attempt loads everything exactly once.
A missing table, schema drift and a wrong user fail on the first attempt (attempts are
counted from the run's events).
"""

from __future__ import annotations

import contextlib
import socket
import threading

import dagster as dg
import pymysql
import pytest
import sqlalchemy as sa

from orchestration.assets.operational_db import build_extraction_assets, raw_asset_key
from orchestration.demo.generator import Scale, generate
from orchestration.extract.faults import classify
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.sources import load_sources
from orchestration.warehouse.base import SchemaDriftError
from tests.reliability.helpers import DEMO_END, compare_raw_with_source


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; drops the first COPY after ``cut_after`` bytes."""

    def __init__(self, target: tuple[str, int], cut_after: int) -> None:
        self.target, self.cut_after = target, cut_after
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            state = {"copy": False, "sent": 0}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, upstream: bool) -> None:
        try:
            while data := src.recv(65536):
                if upstream and b"COPY (" in data:
                    state["copy"] = True
                if not upstream and state["copy"]:
                    state["sent"] += len(data)
                    if self.cuts == 0 and state["sent"] > self.cut_after:
                        self.cuts += 1
                        for s in (src, dst):
                            s.shutdown(socket.SHUT_RDWR)
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def _materialize(table: str, ops_url: str, duckdb_path) -> dg.ExecuteInProcessResult:
    asset = next(a for a in build_extraction_assets(load_sources()) if a.key == raw_asset_key(table))
    return dg.materialize(
        [asset],
        resources={
            "ops_db": OperationalDatabaseResource(url=ops_url, max_retries=3, retry_base_delay_s=0.1),
            "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(duckdb_path)),
        },
        raise_on_error=False,
    )


def _attempts(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type_value == "STEP_START" for e in result.all_events) + sum(
        e.event_type_value == "STEP_RESTARTED" for e in result.all_events
    )


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    errors = [getattr(e.event_specific_data, "error", None) for e in result.all_events]
    return "\n".join(str(error) for error in errors if error is not None)


@pytest.fixture
def demo_postgres(postgres_url) -> str:
    generate(postgres_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    return postgres_url


def test_connection_cut_mid_copy_is_retried_and_loads_exactly_once(demo_postgres, tmp_path):
    url = sa.engine.make_url(demo_postgres)
    proxy = CuttingProxy((url.host, url.port or 5432), cut_after=32_000)
    try:
        proxied = url.set(host="127.0.0.1", port=proxy.port, query={"sslmode": "disable"})
        result = _materialize(
            "order_items", proxied.render_as_string(hide_password=False), tmp_path / "w.duckdb"
        )
    finally:
        proxy.close()
    assert proxy.cuts == 1, "the proxy never cut the COPY: the test proves nothing"
    assert result.success, _failure_message(result)
    assert _attempts(result) == 2
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    comparison = compare_raw_with_source(demo_postgres, tmp_path / "w.duckdb", tables=["order_items"])
    assert comparison.rows_compared > 2000 and not comparison.differences


def test_permanent_errors_fail_on_the_first_attempt(demo_postgres, tmp_path):
    engine = sa.create_engine(demo_postgres)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE customer_interactions"))
        conn.execute(sa.text("ALTER TABLE warehouses DROP COLUMN city"))
    engine.dispose()
    duckdb_path = tmp_path / "w.duckdb"
    assert _materialize("warehouses", demo_postgres, duckdb_path).success  # first load before the drift...
    engine = sa.create_engine(demo_postgres)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE warehouses DROP COLUMN state"))  # ...then drift
    engine.dispose()

    missing = _materialize("customer_interactions", demo_postgres, duckdb_path)
    assert not missing.success and _attempts(missing) == 1
    assert "permanent error" in _failure_message(missing)
    assert "'customer_interactions' does not exist" in _failure_message(missing)

    drift = _materialize("warehouses", demo_postgres, duckdb_path)
    assert not drift.success and _attempts(drift) == 1
    assert "schema drift in raw_ops.warehouses" in _failure_message(drift)
    assert "'state'" in _failure_message(drift)
    assert not [e for e in drift.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]


def test_wrong_user_fails_at_start_up_without_retries(demo_postgres, tmp_path):
    wrong = sa.engine.make_url(demo_postgres).set(username="no_such_role")
    result = _materialize("categories", wrong.render_as_string(hide_password=False), tmp_path / "w.duckdb")
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert "OPS_DATABASE_URL" in _failure_message(result)


def test_classification_of_real_driver_errors(demo_postgres):
    import psycopg

    dsn = sa.engine.make_url(demo_postgres)
    with pytest.raises(psycopg.OperationalError) as auth:
        psycopg.connect(host=dsn.host, port=dsn.port, user="no_such_role", dbname=dsn.database)
    assert not classify(auth.value).transient
    with pytest.raises(psycopg.OperationalError) as refused:
        psycopg.connect(host="127.0.0.1", port=1, user="postgres", dbname="postgres", connect_timeout=2)
    assert classify(refused.value).transient
    with psycopg.connect(host=dsn.host, port=dsn.port, user=dsn.username, dbname=dsn.database) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled) as timeout:
            conn.execute("SET statement_timeout = 50")
            conn.execute("SELECT pg_sleep(1)")
        assert classify(timeout.value).transient
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable) as missing:
            conn.execute("SELECT * FROM no_such_table")
        assert not classify(missing.value).transient
    # Wrapped by SQLAlchemy, as the generic reader raises them.
    wrapped = sa.exc.OperationalError("select 1", {}, pymysql.err.OperationalError(2013, "Lost connection"))
    assert classify(wrapped).transient
    assert classify(pymysql.err.OperationalError(2006, "MySQL server has gone away")).transient
    assert not classify(pymysql.err.OperationalError(1045, "Access denied")).transient
    assert not classify(pymysql.err.ProgrammingError(1146, "Table doesn't exist")).transient
    assert not classify(SchemaDriftError("drift")).transient
    assert classify(TimeoutError("read timed out")).transient
    # The psql COPY client reports through its stderr only.
    psql = RuntimeError(
        "COPY of 'orders' through psql failed (exit 2): server closed the connection unexpectedly"
    )
    assert classify(psql).transient
    assert not classify(
        RuntimeError("COPY of 'orders' through psql failed (exit 1): permission denied")
    ).transient
