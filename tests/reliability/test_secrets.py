"""Secrets never leak, and extraction needs nothing more than a read-only database role.

A recognisable database password and Marketo client secret are planted, the pipeline runs
(successfully, then with failures: an unreachable database, a rejected Marketo secret), and
every trace the runs leave is searched: each Dagster event (messages, metadata, errors and
their stack traces), each run's config and tags, every file under DAGSTER_HOME (run and
event storage, captured compute logs), the dbt logs and artifacts of these runs, the
captured stdout/stderr, and the warehouse's string columns.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.run import run_pipeline
from orchestration.resources.dbt import dbt_log_dir, dbt_target_dir
from orchestration.settings import load_settings
from tests.pipeline.conftest import AS_OF_DATE, _dbt_manifest, make_harness  # noqa: F401 - prepares dbt

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# The documented read-only extraction role (docs/reliability.md), with placeholders.
READ_ONLY_ROLE_SQL = """
CREATE ROLE {role} LOGIN PASSWORD '{password}';
ALTER ROLE {role} SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role};
"""


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _dagster_traces(instance: dg.DagsterInstance) -> list[str]:
    texts = []
    for record in instance.get_run_records():
        run = record.dagster_run
        texts.append(dg.serialize_value(run))  # run config, tags, op selection
        texts.extend(dg.serialize_value(entry) for entry in instance.all_logs(run.run_id))
    return texts


def _file_traces(roots: list[Path], since: float) -> list[tuple[Path, bytes]]:
    found = []
    for root in roots:
        paths = [root] if root.is_file() else root.rglob("*")
        for path in paths:
            if path.is_file() and path.stat().st_mtime >= since:
                found.append((path, path.read_bytes()))
    return found


def _warehouse_strings(path: Path) -> str:
    values = []
    with duckdb.connect(str(path), read_only=True) as con:
        for schema, table, column in con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
        ).fetchall():
            rows = con.execute(f'select distinct "{column}" from "{schema}"."{table}"').fetchall()
            values.extend(str(r[0]) for r in rows)
    return "\n".join(values)


def test_secrets_never_leak_and_extraction_is_read_only(postgres_url, tmp_path, monkeypatch, capfd):
    started = time.time() - 1
    password = f"PlantedDbPassword{uuid.uuid4().hex[:10]}"
    marketo_secret = f"PlantedMarketoSecret{uuid.uuid4().hex[:10]}"
    role = f"extractor_{uuid.uuid4().hex[:8]}"

    harness = make_harness(postgres_url, tmp_path, monkeypatch)  # demo data, written as the owner
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    database = admin.url.database
    with admin.connect() as conn:
        for statement in _statements(
            READ_ONLY_ROLE_SQL.format(role=role, password=password, database=database)
        ):
            conn.execute(sa.text(statement))
    extractor_url = admin.url.set(username=role, password=password).render_as_string(hide_password=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OPS_DATABASE_URL", extractor_url)

    sandbox = None
    try:
        from orchestration.demo.marketo_extract import extract_marketo
        from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, start_sandbox
        from orchestration.demo.marketo_sandbox.launch import sandbox_variables

        data = SandboxData.build(42)
        sandbox = start_sandbox(data=data, config=SandboxConfig(clients={"planted-client": marketo_secret}))
        for name, value in sandbox_variables(sandbox, data).items():
            monkeypatch.setenv(name, value)
    except ImportError:  # Marketo is optional for the operational pipeline
        extract_marketo = None

    try:
        settings = load_settings()
        # 1. Everything runs with the read-only role.
        if extract_marketo is not None:
            last = dt.date(2026, 6, 29)
            marketo = extract_marketo(settings, last - dt.timedelta(days=6), last)
            assert marketo.success
        result = run_pipeline(settings, job_name="daily_full_build", as_of_date=AS_OF_DATE)
        assert result.success, [str(e.message) for e in result.all_events if e.is_failure]
        with harness.source().connect() as conn:
            source_orders = conn.execute(sa.text("select count(*) from orders")).scalar_one()
        with harness.warehouse() as con:
            assert con.execute("select count(distinct id) from raw_ops.orders").fetchone()[0] == source_orders

        # ...and that role cannot change the source, whatever it tries.
        extractor = sa.create_engine(extractor_url)
        for statement in (
            "update customers set name = 'x' where id = 1",
            "insert into categories (id, name, created_at, updated_at) values (-1, 'x', now(), now())",
            "create table leak (id int)",
            "set transaction read write; delete from orders",
        ):
            with extractor.connect() as conn, pytest.raises(sa.exc.DBAPIError) as refused:
                conn.execute(sa.text(statement))
            assert "read-only" in str(refused.value) or "permission denied" in str(refused.value)
        extractor.dispose()

        # 2. Failures: the database unreachable, then Marketo rejecting the secret.
        monkeypatch.setenv("OPS_DATABASE_URL", admin.url.set(username=role, password=password, port=1)
                           .render_as_string(hide_password=False))  # fmt: skip
        failed = run_pipeline(load_settings(), job_name="hourly_incremental", as_of_date=AS_OF_DATE)
        assert not failed.success
        if extract_marketo is not None:
            monkeypatch.setenv("MARKETO_CLIENT_SECRET", marketo_secret + "Wrong")
            rejected = extract_marketo(load_settings(), dt.date(2026, 6, 29), dt.date(2026, 6, 29))
            assert not rejected.success
    finally:
        if sandbox is not None:
            sandbox.stop()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()

    # 3. Search every trace for the secrets.
    instance = dg.DagsterInstance.get()
    events = _dagster_traces(instance)
    files = _file_traces([home, dbt_target_dir(), dbt_log_dir()], started)
    captured = capfd.readouterr()
    haystacks: dict[str, str] = {"stdout": captured.out, "stderr": captured.err}
    haystacks.update({f"event {i}": text for i, text in enumerate(events)})
    haystacks.update({str(path): raw.decode("utf-8", "replace") for path, raw in files})
    haystacks["warehouse"] = _warehouse_strings(harness.duckdb_path)

    # The search does reach the failures: the unreachable database is named (redacted).
    assert any(f"{role}:***@" in text for text in haystacks.values()), "the connection failure is recorded"
    assert len(events) > 100 and any(str(path).startswith(str(home)) for path, _ in files)
    for secret in (password, marketo_secret):
        leaks = [where for where, text in haystacks.items() if secret in text]
        assert leaks == [], f"secret found in: {leaks[:10]}"
