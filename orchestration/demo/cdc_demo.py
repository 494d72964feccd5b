"""``make demo-cdc``: the demo pipeline from a PostgreSQL source with ``orders`` and
``inventory`` in mode cdc, then what change data capture records of a few committed changes.

Its own PostgreSQL (``logical_postgres``: PyPI's pgserver, ``wal_level=logical``) holds the
generated demo data; its own DuckDB warehouse, sources file and Dagster instance sit in
``data/demo-cdc/``, apart from ``make demo``'s. The same jobs run as in ``make demo``
(``run_demo``: Marketo beside the operational sources, then the rest of ``daily_full_build``);
then ``cdc_changes.make_changes`` commits an order's status moves, two stock changes and a
removed stock position at the source, the ``cdc_drain`` job drains the slots and the hourly
job's dbt part rebuilds the marts. Printed: the order's transitions
(``marts.fact_order_status_changes``, with their commit times), the stock movements
(``marts.fact_inventory_movements``, captured by the change stream) and each slot's lag.
The server is stopped and its data directory removed at the end (its slots go with it);
the warehouse stays for inspection. Every run starts from a new source and warehouse.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import sqlalchemy as sa
import yaml

from orchestration.demo.cdc_changes import SourceChanges, make_changes
from orchestration.demo.logical_postgres import logical_postgres
from orchestration.demo.run import marketo_sandbox_for_demo, run_demo, run_pipeline, unsynced_run_history
from orchestration.resources.dbt import scoped_environ
from orchestration.settings import DATA_DIR, DEFAULT_SOURCES_FILE, PROJECT_ROOT, Settings, load_settings

CDC_TABLES = ("orders", "inventory")
REPORTED_MARTS = ("fact_order_status_changes", "fact_inventory_movements")
MARKETO_PART = "Marketo (marketo_daily)"  # run_demo's label of the Marketo run
DATABASE = "pharma_ops"


@dataclass(frozen=True)
class Transition:
    status: str
    previous_status: str | None
    captured_by: str
    changed_at: dt.datetime
    committed_at: dt.datetime | None


@dataclass(frozen=True)
class Movement:
    inventory_id: int
    movement_type: str
    quantity_available_change: int
    quantity_available: int
    committed_at: dt.datetime | None


@dataclass(frozen=True)
class SlotLag:
    table: str
    slot: str
    wal_status: str
    behind_bytes: int  # WAL written after the slot's confirmed position
    retained_bytes: int  # WAL the slot keeps on the server's disk


@dataclass
class CdcDemoResult:
    directory: Path
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    marketo: dg.ExecuteInProcessResult | None = None
    changes: SourceChanges | None = None
    transitions: list[Transition] = field(default_factory=list)
    movements: list[Movement] = field(default_factory=list)
    lags: list[SlotLag] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def success(self) -> bool:
        runs_ok = bool(self.runs) and all(r.success for r in self.runs) and self.changes is not None
        return runs_ok and (self.marketo is None or self.marketo.success)


def write_cdc_sources(directory: Path) -> Path:
    """``orchestration/sources.yml`` with ``CDC_TABLES`` in mode cdc."""
    declared = yaml.safe_load(DEFAULT_SOURCES_FILE.read_text())
    for table in CDC_TABLES:
        declared["tables"][table]["mode"] = "cdc"
    path = directory / "sources-cdc.yml"
    header = f"# Written by orchestration/demo/cdc_demo.py: {DEFAULT_SOURCES_FILE.name} with {', '.join(CDC_TABLES)} in mode cdc.\n"
    path.write_text(header + yaml.safe_dump(declared, sort_keys=False))
    return path


def fresh_database(admin_url: str, name: str) -> str:
    """``name`` created anew (a crashed run's, its slots first, dropped); its URL."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = :db"
                ),
                {"db": name},
            )
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
            conn.execute(sa.text(f'create database "{name}"'))
    finally:
        admin.dispose()
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def demo_environment(directory: Path, ops_url: str) -> Iterator[Settings]:
    """The settings of the run, its variables set in the process for the block (the Dagster
    resources read OPS_DATABASE_URL as an EnvVar); the previous values restored afterwards."""
    for stale in ("warehouse.duckdb", "warehouse.duckdb.wal", "warehouse_bi.duckdb", "dagster_home"):
        path = directory / stale
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    home = directory / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    values = {
        "OPS_DATABASE_URL": ops_url,
        "WAREHOUSE": "duckdb",
        "DUCKDB_PATH": str(directory / "warehouse.duckdb"),
        "SOURCES_FILE": str(write_cdc_sources(directory)),
        "QUALITY_DATA_DOCS_DIR": str(directory / "quality" / "data_docs"),
        "DAGSTER_HOME": str(home),
    }
    with scoped_environ(values):
        yield load_settings()


def run_cdc_demo(
    directory: Path,
    scale: str = "demo",
    *,
    marketo: bool = True,
    marts: Sequence[str] = (),
    keep_source: bool = False,
) -> CdcDemoResult:
    """Everything the module's docstring says, in ``directory``; returns what it found.

    ``marts``: build only these marts and what they need instead of every asset (the test's
    shorter run; its report needs ``REPORTED_MARTS``). ``keep_source``: leave the stopped
    server's data directory (``directory/postgres``, database ``DATABASE``) to start again."""
    from orchestration.demo.generator import Scale, generate

    directory.mkdir(parents=True, exist_ok=True)
    result = CdcDemoResult(directory)
    upstream_of = [dg.AssetKey(["marts", name]) for name in marts]
    timings = result.timings
    with logical_postgres(directory / "postgres", remove=not keep_source) as admin_url:
        ops_url = fresh_database(admin_url, DATABASE)
        started = time.perf_counter()
        generate(ops_url, Scale.named(scale))
        timings[f"demo data generated at the PostgreSQL source ({scale})"] = time.perf_counter() - started
        with (
            demo_environment(directory, ops_url) as settings,
            unsynced_run_history(os.environ["DAGSTER_HOME"]),
        ):
            with marketo_sandbox_for_demo(settings) if marketo else contextlib.nullcontext():
                result.marketo, result.runs = run_demo(
                    settings, job_name="daily_full_build", timings=timings, upstream_of=upstream_of
                )
            if result.marketo is None:
                timings.pop(MARKETO_PART, None)
            if not all(r.success for r in result.runs) or len(result.runs) != 2:
                return result
            result.changes = make_changes(ops_url)
            for label, job, part in (
                ("slots drained (cdc_drain)", "cdc_drain", "all"),
                ("marts rebuilt (hourly_incremental, dbt part)", "hourly_incremental", "rest"),
            ):
                started = time.perf_counter()
                run = run_pipeline(
                    settings, job_name=job, part=part, log_level="WARNING", upstream_of=upstream_of
                )
                result.runs.append(run)
                timings[label] = time.perf_counter() - started
            result.transitions = read_transitions(settings.duckdb_path, result.changes.order_id)
            result.movements = read_movements(settings.duckdb_path, result.changes)
            result.lags = slot_lags(ops_url, settings.cdc_slot_prefix)
    return result


def read_transitions(warehouse: Path, order_id: int) -> list[Transition]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select order_status, previous_status, captured_by, changed_at, committed_at "
            "from marts.fact_order_status_changes where order_id = ? order by status_sequence",
            [order_id],
        ).fetchall()
    return [Transition(*row) for row in rows]


def read_movements(warehouse: Path, changes: SourceChanges) -> list[Movement]:
    """The change stream's movements of the two positions the demo changed."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select inventory_id, movement_type, quantity_available_change, quantity_available, committed_at "
            "from marts.fact_inventory_movements where captured_by = 'change_stream' and inventory_id in (?, ?) "
            "order by inventory_id, movement_sequence",
            [changes.inventory_id, changes.removed_inventory_id],
        ).fetchall()
    return [Movement(*row) for row in rows]


def slot_lags(ops_url: str, prefix: str) -> list[SlotLag]:
    from orchestration.cdc.postgres_slot import read_slot, slot_name

    engine = sa.create_engine(ops_url)
    lags = []
    try:
        with engine.connect() as conn:
            for table in CDC_TABLES:
                slot = slot_name(prefix, table)
                state = read_slot(conn, slot)
                if state is None:
                    raise RuntimeError(f"{table}: replication slot {slot} is missing after the drain")
                behind = conn.execute(
                    sa.text(
                        "select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                        "from pg_replication_slots where slot_name = :slot"
                    ),
                    {"slot": slot},
                ).scalar_one()
                lags.append(SlotLag(table, slot, state.wal_status or "?", int(behind), state.retained_bytes))
    finally:
        engine.dispose()
    return lags


def report(result: CdcDemoResult) -> str:
    lines = ["Parts", *(f"  {label}: {seconds:.1f} s" for label, seconds in result.timings.items())]
    changes = result.changes
    if changes is None:
        lines.append("The pipeline failed before the source changes: see the runs below.")
    else:
        lines += [
            "",
            f"Order {changes.order_id}: moved {' -> '.join(changes.statuses)}, one commit per status",
            "  marts.fact_order_status_changes (committed_at: the source's commit time)",
            *(
                f"  {t.previous_status or '':>10} -> {t.status:<10} {t.captured_by:<13} "
                f"changed_at {t.changed_at}  committed_at {t.committed_at or '-'}"
                for t in result.transitions
            ),
            "",
            f"Inventory {changes.inventory_id}: quantity_available "
            + ", ".join(f"{c:+d}" for c in changes.stock_changes)
            + f"; inventory {changes.removed_inventory_id} deleted",
            "  marts.fact_inventory_movements (captured_by change_stream)",
            *(
                f"  inventory {m.inventory_id:<6} {m.movement_type:<8} available {m.quantity_available_change:+7d}"
                f" -> {m.quantity_available:>6}  committed_at {m.committed_at or '-'}"
                for m in result.movements
            ),
            "",
            "Replication slots after the drain",
            *(
                f"  {lag.slot} ({lag.table}): {lag.behind_bytes:,} bytes behind the server's WAL, "
                f"retains {lag.retained_bytes:,} bytes, wal_status {lag.wal_status}"
                for lag in result.lags
            ),
        ]
    if result.marketo is not None and not result.marketo.success:
        lines.append(f"Marketo extraction FAILED (run {result.marketo.run_id})")
    lines += [
        f"Run {'succeeded' if r.success else 'FAILED'}: {r.dagster_run.job_name} {r.run_id}"
        for r in result.runs
    ]
    source = result.directory / "postgres"
    lines.append(
        f"Warehouse: {result.directory / 'warehouse.duckdb'}. The PostgreSQL source was stopped; "
        + (
            f"its data directory {source} is kept (database {DATABASE}, its slots in it)."
            if source.exists()
            else f"its data directory ({source}) was removed, its replication slots with it."
        )
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="demo", help="tiny, demo or a multiplier of demo (default demo)")
    parser.add_argument("--directory", type=Path, default=DATA_DIR / "demo-cdc")
    parser.add_argument(
        "--keep-source", action="store_true", help="keep the stopped PostgreSQL's data directory"
    )
    parser.add_argument("--no-marketo", action="store_true", help="leave the Marketo sandbox out (faster)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    log_path = args.directory / "logs" / f"demo-cdc-{time.strftime('%Y%m%dT%H%M%S')}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"Running the demo from PostgreSQL with {', '.join(CDC_TABLES)} in mode cdc; dbt output goes to {log_path}",
        flush=True,
    )
    with open(log_path, "w") as log, contextlib.redirect_stdout(log):
        result = run_cdc_demo(
            args.directory, args.scale, marketo=not args.no_marketo, keep_source=args.keep_source
        )
    print(report(result))
    print(f"Wall time: {time.perf_counter() - started:.1f} s")
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
