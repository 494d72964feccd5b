"""The project's own orders table in mode cdc: the demo generator's schema and history on the
CDC server, snapshot, a day of changes and a deleted order drained; raw's live versions equal
the source column by column and the raw suite (expectations/raw_ops/orders.yml) passes."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.cdc.sync import sync_table
from orchestration.demo.generator import Scale, advance, generate
from orchestration.extract.pipeline import extract_source
from orchestration.quality import run_suite
from orchestration.settings import DEFAULT_SOURCES_FILE
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import slot_prefix

END = dt.datetime(2026, 11, 30, 12, 0, 0)


def _norm(value: object) -> object:
    if isinstance(value, float):
        return round(value, 6)
    return value


@pytest.mark.slow
def test_demo_orders_in_cdc_mode_match_the_source_and_pass_their_raw_suite(cdc_source_url, tmp_path):
    generate(cdc_source_url, Scale.named("tiny"), seed=7, end=END)
    text = DEFAULT_SOURCES_FILE.read_text().replace("  orders:\n", "  orders:\n    mode: cdc\n", 1)
    (tmp_path / "sources.yml").write_text(text)
    sources = load_sources(tmp_path / "sources.yml")
    engine = sa.create_engine(cdc_source_url)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")

    def drain(run: str):
        return sync_table(
            engine, warehouse, sources, "orders", raw_schema="raw_ops", landing_dir=tmp_path / "landing",
            batch_id=run, slot_prefix=slot_prefix(engine),
        )  # fmt: skip

    try:
        # The other tables stay in cursor mode: the suite's references (customers, warehouses)
        # are checked against them.
        for table in ("customers", "warehouses"):
            extract_source(
                engine, warehouse, sources, table, raw_schema="raw_ops", landing_dir=tmp_path, batch_id="b"
            )
        assert drain("snapshot").snapshot.load.rows_inserted > 0
        advance(cdc_source_url, days=1, seed=7)
        with engine.begin() as conn:
            gone = conn.execute(sa.text("select min(id) from orders")).scalar_one()
            conn.execute(sa.text("delete from order_items where order_id = :id"), {"id": gone})
            conn.execute(sa.text("delete from orders where id = :id"), {"id": gone})
        # Two versions of one order at one cursor (now() is the transaction's start), and an
        # update that changed nothing: versions, not duplicates, for the raw suite's key check.
        with engine.begin() as conn:
            twice = conn.execute(sa.text("select max(id) from orders")).scalar_one()
            for note in ("first", "second"):
                conn.execute(
                    sa.text("update orders set notes = :note, updated_at = now() where id = :id"),
                    {"note": note, "id": twice},
                )
        with engine.begin() as conn:
            conn.execute(sa.text("update orders set notes = notes where id = :id"), {"id": twice})
        changed = drain("day")
        assert changed.changes > 1

        with engine.connect() as conn:
            result = conn.execute(sa.text("select * from orders order by id"))
            columns = list(result.keys())
            expected = [tuple(map(_norm, row)) for row in result]
        names = ", ".join(f'"{c}"' for c in columns)
        with duckdb.connect(str(warehouse.path), read_only=True) as con:
            raw = con.execute(
                f"with ranked as (select *, row_number() over (partition by id order by _cdc_position desc) as r "
                f"from raw_ops.orders where id is not null) "
                f"select {names} from ranked where r = 1 and _cdc_operation <> 'delete' order by id"
            ).fetchall()
        assert [tuple(map(_norm, row)) for row in raw] == expected
        assert gone not in {row[0] for row in raw}

        outcome = run_suite(warehouse, "raw_ops", "orders")  # on the last batch, the day's changes
        assert not outcome.errors, [
            (e.spec.label, e.observed_value, e.sample_keys, e.error) for e in outcome.errors
        ]
    finally:
        engine.dispose()
