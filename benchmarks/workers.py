"""The measured extraction paths. Each runs alone in a fresh interpreter (``run_worker``).

A worker loads the source table into a DuckDB file, then reads back the row count and a
checksum (sum of ``total`` and of ``id``) so the parent can compare it with the source.
The timed section excludes interpreter start-up and imports, for every path alike.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TABLE = "order_items"
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class WorkerResult:
    path: str
    seconds: float
    rows: int | None = None
    sum_total: str | None = None
    sum_id: int | None = None
    # Set when the measured work runs in a child process (psql): its own peak, not the worker's.
    peak_rss_mb: float | None = None


def _duckdb_checksum(duckdb_path: Path, qualified_table: str) -> tuple[int, str, int]:
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        rows, total, ids = con.execute(
            f"select count(*), round(sum(total::decimal(38, 2)), 2), sum(id) from {qualified_table}"
        ).fetchone()
    finally:
        con.close()
    return int(rows), f"{total:.2f}", int(ids)


def psql_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """``psql``'s connection string and environment (password) for a SQLAlchemy URL."""
    import sqlalchemy as sa

    from orchestration.extract.readers import _psql_connection

    engine = sa.create_engine(url)
    try:
        return _psql_connection(engine)
    finally:
        engine.dispose()


def copy_psql(url: str, work_dir: Path) -> WorkerResult:
    """The floor: the server's COPY streamed by psql (C, libpq) into /dev/null."""
    conninfo, env = psql_conninfo(url)
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c",
             f"COPY (select * from {TABLE}) TO STDOUT (FORMAT csv)"],
            stdout=sink, env=env, check=True,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    psql_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return WorkerResult("copy_psql", seconds, peak_rss_mb=psql_peak)


def _ours(url: str, work_dir: Path, name: str) -> WorkerResult:
    # DuckDB imports pandas on the first query given Python parameters (~0.7 s): an import,
    # kept out of the timed section like every path's imports. A Dagster process has it loaded.
    import pandas  # noqa: F401
    import sqlalchemy as sa

    from orchestration.extract.pipeline import extract_table
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    engine = sa.create_engine(url)
    warehouse = DuckDBWarehouse(work_dir / "ours.duckdb")
    started = time.perf_counter()
    extract_table(
        engine,
        warehouse,
        table=TABLE,
        cursor_column="updated_at",
        raw_schema="raw_ops",
        landing_dir=work_dir / "landing",
        batch_id="benchmark",
        chunk_rows=CHUNK_ROWS,
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    return WorkerResult(name, seconds, *_duckdb_checksum(work_dir / "ours.duckdb", f"raw_ops.{TABLE}"))


def ours(url: str, work_dir: Path) -> WorkerResult:
    """Our extract_table (psql COPY client when installed) into DuckDB."""
    return _ours(url, work_dir, "ours")


def ours_profiled(url: str, work_dir: Path) -> WorkerResult:
    """Our extract_table under pyinstrument; the profile goes to $BENCHMARK_PROFILE_OUT."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    try:
        result = _ours(url, work_dir, "ours_profiled")
    finally:
        profiler.stop()
    Path(os.environ["BENCHMARK_PROFILE_OUT"]).write_text(
        profiler.output_text(unicode=False, color=False, show_all=False)
    )
    return result


def ours_psycopg(url: str, work_dir: Path) -> WorkerResult:
    """Our extract_table with the psycopg COPY client (no psql on the machine)."""
    os.environ["EXTRACT_POSTGRES_COPY"] = "psycopg"
    return _ours(url, work_dir, "ours_psycopg")


def ours_duckdb(url: str, work_dir: Path) -> WorkerResult:
    """Our extract_table reading through DuckDB's postgres extension (no psql needed)."""
    os.environ["EXTRACT_POSTGRES_COPY"] = "duckdb"
    return _ours(url, work_dir, "ours_duckdb")


def duckdb_postgres_ext(url: str, work_dir: Path) -> WorkerResult:
    """The peer: DuckDB's postgres extension copying the table into a DuckDB file
    (``ATTACH ... (TYPE postgres)`` then ``CREATE TABLE AS``), nothing else."""
    import duckdb
    import sqlalchemy as sa

    from orchestration.extract.duckdb_postgres import attach
    from orchestration.extract.readers import _libpq_params

    engine = sa.create_engine(url)
    params = _libpq_params(engine)
    engine.dispose()
    target = work_dir / "peer.duckdb"
    con = duckdb.connect(str(target))
    started = time.perf_counter()
    attach(con, params, "src")
    con.execute(f"create table {TABLE} as select * from src.public.{TABLE}")
    seconds = time.perf_counter() - started
    con.close()
    return WorkerResult("duckdb_postgres_ext", seconds, *_duckdb_checksum(target, TABLE))


def ours_mariadb(url: str, work_dir: Path) -> WorkerResult:
    """Our extract_table on MariaDB (SSCursor chunks) into DuckDB."""
    return _ours(url, work_dir, "ours_mariadb")


def dlt_pyarrow(url: str, work_dir: Path) -> WorkerResult:
    """dlt's sql_table with the pyarrow backend into DuckDB (its documented fast path)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.sql_database import sql_table

    pipeline = dlt.pipeline(
        pipeline_name="benchmark",
        pipelines_dir=str(work_dir / "dlt"),
        destination=dlt.destinations.duckdb(str(work_dir / "dlt.duckdb")),
        dataset_name="raw_dlt",
    )
    started = time.perf_counter()
    source = sql_table(credentials=url, table=TABLE, backend="pyarrow", chunk_size=CHUNK_ROWS)
    pipeline.run(source)
    seconds = time.perf_counter() - started
    return WorkerResult(
        "dlt_pyarrow", seconds, *_duckdb_checksum(work_dir / "dlt.duckdb", f"raw_dlt.{TABLE}")
    )


def pandas_read_sql(url: str, work_dir: Path) -> WorkerResult:
    """pandas.read_sql(chunksize=100k) appended chunk by chunk into DuckDB."""
    import duckdb
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    con = duckdb.connect(str(work_dir / "pandas.duckdb"))
    started = time.perf_counter()
    created = False
    for frame in pd.read_sql(sa.text(f"select * from {TABLE}"), engine, chunksize=CHUNK_ROWS):
        con.register("chunk", frame)
        if not created:
            con.execute(f"create table {TABLE} as select * from chunk")
            created = True
        else:
            con.execute(f"insert into {TABLE} select * from chunk")
        con.unregister("chunk")
    con.close()
    seconds = time.perf_counter() - started
    engine.dispose()
    return WorkerResult("pandas_read_sql", seconds, *_duckdb_checksum(work_dir / "pandas.duckdb", TABLE))


# The completeness benchmark shares one extracted warehouse between its workers.
WAREHOUSE_ENV = "BENCHMARK_WAREHOUSE"
# Set to 1: the check ignores raw's stored bucket sums (the first check of a table).
COLD_ENV = "BENCHMARK_COMPLETENESS_COLD"


def build_raw(url: str, work_dir: Path) -> WorkerResult:
    """Extract order_items into the shared warehouse ($BENCHMARK_WAREHOUSE), once."""
    import sqlalchemy as sa

    from orchestration.extract.pipeline import extract_table
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    path = Path(os.environ[WAREHOUSE_ENV])
    engine = sa.create_engine(url)
    started = time.perf_counter()
    extract_table(
        engine, DuckDBWarehouse(path), table=TABLE, cursor_column="updated_at", raw_schema="raw_ops",
        landing_dir=work_dir / "landing", batch_id="benchmark", chunk_rows=CHUNK_ROWS,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    engine.dispose()
    return WorkerResult("build_raw", seconds, *_duckdb_checksum(path, f"raw_ops.{TABLE}"))


def completeness(url: str, work_dir: Path) -> WorkerResult:
    """The completeness check of order_items (source PostgreSQL, raw the shared DuckDB file).

    ``rows`` is the source's row count as the check counted it; ``sum_id`` the number of
    keys found missing, extra or stale (the parent compares it with what it planted)."""
    import sqlalchemy as sa

    from orchestration.lifecycle.completeness import check_table
    from orchestration.sources import load_sources
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    engine = sa.create_engine(url)
    warehouse = DuckDBWarehouse(Path(os.environ[WAREHOUSE_ENV]))
    sources = load_sources()
    started = time.perf_counter()
    cold = os.environ.get(COLD_ENV) == "1"
    result = check_table(engine, warehouse, sources, TABLE, raw_schema="raw_ops", use_stored_sums=not cold)
    seconds = time.perf_counter() - started
    engine.dispose()
    found = len(result.missing) + len(result.extra) + len(result.stale)
    return WorkerResult("completeness", seconds, rows=result.source_rows, sum_id=found)


def cdc_drain(url: str, work_dir: Path, name: str = "cdc_drain") -> WorkerResult:
    """Our drain of the table's change log (a PostgreSQL slot, benchmarks/cdc.py, or MariaDB's
    binlog, benchmarks/cdc_mariadb.py) into the snapshot's DuckDB raw, until it has read
    everything written; ``rows``/sums over the change rows it published."""
    import duckdb
    import sqlalchemy as sa

    from benchmarks import cdc
    from orchestration.cdc.sync import sync_table
    from orchestration.sources import load_sources
    from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

    engine = sa.create_engine(url)
    path = Path(os.environ[cdc.WAREHOUSE_ENV])
    warehouse, sources = DuckDBWarehouse(path), load_sources(Path(os.environ[cdc.SOURCES_ENV]))
    started = time.perf_counter()
    sync_table(
        engine, warehouse, sources, cdc.TABLE, raw_schema="raw_ops", landing_dir=work_dir / "landing",
        batch_id="benchmark", slot_prefix=cdc.SLOT_PREFIX, max_batches=1_000_000,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    engine.dispose()
    with duckdb.connect(str(path), read_only=True) as con:
        rows, total, ids = con.execute(
            f"select count(*), sum(total), sum(id) from raw_ops.{cdc.TABLE} "
            "where _cdc_operation in ('insert', 'update')"
        ).fetchone()
    return WorkerResult(name, seconds, int(rows), f"{total:.2f}", int(ids))


def cdc_recvlogical(url: str, work_dir: Path) -> WorkerResult:
    """The floor: ``pg_recvlogical`` (C, libpq) streaming the floor slot's pgoutput changes
    up to the end position into /dev/null."""
    import sqlalchemy as sa

    from benchmarks import cdc

    parsed = sa.make_url(url)
    conninfo = " ".join(
        f"{key}={value}"
        for key, value in (
            ("host", parsed.query.get("host") or parsed.host),
            ("port", parsed.port),
            ("user", parsed.username),
            ("dbname", parsed.database),
        )
        if value
    )
    started = time.perf_counter()
    subprocess.run(
        ["pg_recvlogical", "-d", conninfo, "--slot", os.environ[cdc.SLOT_ENV], "--start",
         "--endpos", os.environ[cdc.END_ENV], "--no-loop", "-f", os.devnull,
         "-o", "proto_version=1", "-o", f"publication_names={os.environ[cdc.PUBLICATION_ENV]}"],
        check=True, capture_output=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return WorkerResult("cdc_recvlogical", seconds, peak_rss_mb=peak)


def cdc_drain_mariadb(url: str, work_dir: Path) -> WorkerResult:
    return cdc_drain(url, work_dir, "cdc_drain_mariadb")


def cdc_mariadb_binlog(url: str, work_dir: Path) -> WorkerResult:
    """The floor: ``mariadb-binlog`` (C) reading the same events from the server over the
    replication protocol, row events decoded (``--verbose``), into /dev/null."""
    import sqlalchemy as sa

    from benchmarks import cdc_mariadb

    parsed = sa.make_url(url)
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            ["mariadb-binlog", "--read-from-remote-server", f"--host={parsed.host}", f"--port={parsed.port}",
             f"--user={parsed.username}", "--verbose",
             f"--start-position={os.environ[cdc_mariadb.START_ENV]}",
             f"--stop-position={os.environ[cdc_mariadb.STOP_ENV]}",
             os.environ[cdc_mariadb.BINLOG_FILE_ENV]],
            stdout=sink, check=True, capture_output=False, stderr=subprocess.PIPE,
            env={**os.environ, **({"MYSQL_PWD": parsed.password} if parsed.password else {})},
        )  # fmt: skip
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return WorkerResult("cdc_mariadb_binlog", seconds, peak_rss_mb=peak)


PATHS = {
    "copy_psql": copy_psql,
    "ours": ours,
    "ours_psycopg": ours_psycopg,
    "ours_duckdb": ours_duckdb,
    "duckdb_postgres_ext": duckdb_postgres_ext,
    "ours_profiled": ours_profiled,
    "dlt_pyarrow": dlt_pyarrow,
    "pandas_read_sql": pandas_read_sql,
    "ours_mariadb": ours_mariadb,
    "build_raw": build_raw,
    "completeness": completeness,
    "cdc_drain": cdc_drain,
    "cdc_recvlogical": cdc_recvlogical,
    "cdc_drain_mariadb": cdc_drain_mariadb,
    "cdc_mariadb_binlog": cdc_mariadb_binlog,
}


def main() -> None:
    name, url, work_dir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    work_dir.mkdir(parents=True, exist_ok=True)
    result = PATHS[name](url, work_dir)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    payload = asdict(result) | {
        "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
        "maxrss_mb": max(usage.ru_maxrss, children.ru_maxrss) / 1024,
    }
    print("BENCHMARK-RESULT " + json.dumps(payload), flush=True)


if __name__ == "__main__":
    main()
