"""The completeness reconciliation and its repair with raw on BigQuery (the emulator).

The same row hash must come out of the source (SQLite here) and BigQuery's SQL, or every
bucket would differ: a clean extraction passing is itself the proof.
"""

from __future__ import annotations

import sqlalchemy as sa

from orchestration.demo.generator import Scale, generate
from orchestration.extract.pipeline import extract_source
from orchestration.lifecycle.completeness import check_table, repair_table
from orchestration.sources import load_sources
from tests.reliability.helpers import DEMO_END

SOURCES = load_sources()
TABLES = ("orders", "order_items")


def test_divergence_is_found_and_repaired_on_bigquery(warehouse, sqlite_url, tmp_path) -> None:
    generate(sqlite_url, Scale.named("tiny"), seed=42, end=DEMO_END)
    engine = sa.create_engine(sqlite_url)

    def check(table):
        return check_table(engine, warehouse, SOURCES, table, raw_schema="raw_ops")

    try:
        for table in TABLES:
            extract_source(engine, warehouse, SOURCES, table, raw_schema="raw_ops",
                           landing_dir=tmp_path / "landing", batch_id=f"initial:{table}")  # fmt: skip
            clean = check(table)
            assert clean.ok, clean.summary()
            assert clean.keys_read == 0

        with engine.begin() as conn:
            conn.execute(sa.text("update order_items set discount = discount + 1.25 where id = 11"))  # stale
            conn.execute(sa.text("delete from order_items where id = 12"))  # extra
            conn.execute(sa.text(  # missing: committed below the mark, never extracted
                "insert into order_items select id + 100000, order_id, product_id, quantity, unit_price, "
                "discount, tax, total, created_at, updated_at from order_items where id = 13"
            ))  # fmt: skip
            conn.execute(sa.text("update orders set status = 'cancelled' where id = 14"))  # stale
            # Stale too, and after the repair the proof that both engines write a fraction of a
            # second and a negative amount alike.
            conn.execute(sa.text(
                "update order_items set created_at = '2026-01-02 03:04:05.120000', discount = -0.5 where id = 15"
            ))  # fmt: skip
        lines, orders = check("order_items"), check("orders")
        assert (lines.missing, lines.extra, lines.stale) == ([100013], [12], [11, 15])
        assert (orders.missing, orders.extra, orders.stale) == ([], [], [14])

        for found in (lines, orders):
            repair_table(engine, warehouse, SOURCES, found, raw_schema="raw_ops",
                         landing_dir=tmp_path / "landing", batch_id="repair")  # fmt: skip
        assert check("order_items").ok and check("orders").ok
        sql = warehouse.sql()
        (deleted,) = sql.rows(
            f"select count(*) from {sql.relation('raw_ops', '_deleted_keys')} where id = 12"
        )[0]
        assert deleted == 1
    finally:
        engine.dispose()
