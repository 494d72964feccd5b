"""The tiny demo built once for tests/marts (see conftest.py), and the helpers its tests share."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb

from orchestration.demo.marketo_sandbox import SandboxData
from tests.pipeline.conftest import PipelineHarness

TOLERANCE = 1e-3  # ratios are stored with 4 decimals


@dataclass
class Built:
    harness: PipelineHarness
    sandbox: SandboxData

    def marts(self) -> duckdb.DuckDBPyConnection:
        return self.harness.warehouse()

    @contextlib.contextmanager
    def source(self) -> Iterator[sqlite3.Connection]:
        """The operational SQLite database, read-only, with the sandbox's Marketo records in
        the temp schema (``mkto_leads``, ``mkto_activities``, ``mkto_programs``)."""
        path = self.harness.ops_url.removeprefix("sqlite:///")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.execute("create temp table mkto_leads (id integer, email text)")
        con.executemany(
            "insert into mkto_leads values (?, ?)", [(r["id"], r["email"]) for r in self.sandbox.leads]
        )
        con.execute("create temp table mkto_programs (id integer, name text)")
        con.executemany(
            "insert into mkto_programs values (?, ?)", [(r["id"], r["name"]) for r in self.sandbox.programs]
        )
        con.execute(
            "create temp table mkto_activities (guid text, lead_id integer, activity_date text, "
            "type_id integer, primary_attribute_value text)"
        )
        con.executemany(
            "insert into mkto_activities values (?, ?, ?, ?, ?)",
            [
                (
                    a["marketoGUID"],
                    a["leadId"],
                    a["activityDate"][:10],
                    a["activityTypeId"],
                    a.get("primaryAttributeValue"),
                )
                for a in self.sandbox.activities
            ],
        )
        try:
            yield con
        finally:
            con.close()


def rows(con, sql: str, params: tuple = ()) -> list[tuple]:
    return [tuple(r) for r in con.execute(sql, params).fetchall()]


def close(actual: float | None, expected: float | None, tolerance: float = TOLERANCE) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    return abs(float(actual) - float(expected)) <= tolerance * max(1.0, abs(float(expected)))
