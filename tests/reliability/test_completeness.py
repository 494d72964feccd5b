"""Completeness reconciliation on real PostgreSQL and MariaDB sources, DuckDB raw.

One tiny demo database and one extracted warehouse per server, shared by the module. Each
test plants divergence the extraction cannot see (a row that never reached raw, a hard
delete, a change that did not touch ``updated_at``), checks that the reconciliation names
exactly those keys, repairs, and proves raw equals the source again with plain SQL of its own.
Every test leaves raw equal to the source.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.demo.generator import Scale, generate
from orchestration.lifecycle.completeness import check_table, repair_table
from orchestration.lifecycle.completeness.compare import DEFAULT_GRID, Grid
from orchestration.sources import load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.reliability.helpers import DEMO_END, extract_all
from tests.servers import fresh_database

SOURCES = load_sources()
TABLES = ("customers", "orders", "order_items")
LINE_COLUMNS = "id, order_id, product_id, quantity, unit_price, discount, tax, total, created_at, updated_at"


@dataclass
class Built:
    kind: str
    url: str
    engine: sa.Engine
    warehouse: DuckDBWarehouse
    tmp: Path
    repairs: int = 0

    def check(self, table: str, grid: Grid = DEFAULT_GRID):
        return check_table(self.engine, self.warehouse, SOURCES, table, raw_schema="raw_ops", grid=grid)

    def repair(self, divergence):
        self.repairs += 1
        return repair_table(
            self.engine,
            self.warehouse,
            SOURCES,
            divergence,
            raw_schema="raw_ops",
            landing_dir=self.tmp / "landing",
            batch_id=f"repair{self.repairs}",
        )

    def source(self, sql: str, **params) -> list[tuple]:
        with self.engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(r) for r in result] if result.returns_rows else []

    def raw_equals_source(self, table: str, columns: str) -> None:
        """Raw's live latest versions and the source, row for row, recomputed here."""
        source = {tuple(r) for r in self.source(f"select {columns} from {table}")}
        raw = self.warehouse.sql().rows(
            f"select {columns} from (select *, row_number() over (partition by id order by updated_at desc, "
            f"_loaded_at desc) as r from raw_ops.{table}) latest where r = 1 and not exists (select 1 from "
            f"raw_ops._deleted_keys d where d.table_name = '{table}' and d.id = latest.id "
            "and d.detected_at >= latest._loaded_at)"
        )
        assert {tuple(_plain(v) for v in r) for r in raw} == {tuple(_plain(v) for v in r) for r in source}


def _plain(value):
    from decimal import Decimal

    return value.normalize() if isinstance(value, Decimal) else value


@pytest.fixture(scope="module", params=["postgresql", "mariadb"])
def built(request, tmp_path_factory) -> Built:
    with fresh_database(request.param) as url:
        tmp = tmp_path_factory.mktemp(f"completeness-{request.param}")
        generate(url, Scale.named("tiny"), seed=42, end=DEMO_END)
        extract_all(url, tmp / "warehouse.duckdb", tmp / "landing", "initial", tables=[
            (t, SOURCES.table(t).cursor_column) for t in TABLES
        ])  # fmt: skip
        # The deleted-keys ledger exists once the key reconciliation has run.
        from orchestration.lifecycle.deletes import ensure_deleted_keys_table

        warehouse = DuckDBWarehouse(tmp / "warehouse.duckdb", lock_timeout_s=60)
        ensure_deleted_keys_table(warehouse.sql(), "raw_ops")
        engine = sa.create_engine(url)
        yield Built(request.param, url, engine, warehouse, tmp)
        engine.dispose()
        warehouse.close()


def test_a_clean_extraction_passes_with_counts_from_the_source(built: Built) -> None:
    for table in TABLES:
        result = built.check(table)
        (count,) = built.source(f"select count(*) from {table}")[0]
        assert result.ok, result.summary()
        assert (result.source_rows, result.raw_rows) == (count, count)
        assert result.columns == tuple(
            c.name for c in sa.Table(table, sa.MetaData(), autoload_with=built.engine).c
        )
        assert result.keys_read == 0  # nothing differs: no key was read


def _plant_missing(built: Built) -> int:
    """A line that never reached raw: committed with a cursor below the mark."""
    (new_id,) = built.source("select max(id) + 1 from order_items")[0]
    built.source(
        f"insert into order_items ({LINE_COLUMNS}) select {new_id}, order_id, product_id, quantity, unit_price, "
        "discount, tax, total, created_at, updated_at from order_items where id = 10"
    )
    return new_id


def _plant_extra(built: Built, key: int = 20) -> int:
    built.source("delete from order_items where id = :id", id=key)
    return key


def _plant_stale(built: Built, key: int = 30) -> int:
    built.source(
        "update order_items set quantity = quantity + 7 where id = :id", id=key
    )  # updated_at untouched
    return key


@pytest.mark.parametrize("kind", ["missing", "extra", "stale"])
def test_each_kind_of_divergence_alone_is_found_named_and_repaired(built: Built, kind: str) -> None:
    key = {"missing": _plant_missing, "extra": _plant_extra, "stale": _plant_stale}[kind](built)
    found = built.check("order_items")
    assert not found.ok
    assert {"missing": found.missing, "extra": found.extra, "stale": found.stale} == {
        k: ([key] if k == kind else []) for k in ("missing", "extra", "stale")
    }
    assert found.metadata()[f"{kind}_sample_keys"] == str(key)
    assert str(key) in found.summary() and kind in found.summary()

    repaired = built.repair(found)
    assert repaired.keys_reextracted == (0 if kind == "extra" else 1)
    assert repaired.keys_recorded_deleted == (1 if kind == "extra" else 0)
    assert built.check("order_items").ok
    built.raw_equals_source("order_items", LINE_COLUMNS)
    assert built.repair(built.check("order_items")).keys_reextracted == 0  # a second repair has nothing to do


def test_all_kinds_together_across_tables_are_found_and_repaired(built: Built) -> None:
    missing, extra, stale = _plant_missing(built), _plant_extra(built, 40), _plant_stale(built, 50)
    built.source("update orders set notes = 'changed behind the cursor' where id = 5")
    lines, orders = built.check("order_items"), built.check("orders")
    assert (lines.missing, lines.extra, lines.stale) == ([missing], [extra], [stale])
    assert (orders.missing, orders.extra, orders.stale) == ([], [], [5])
    for found in (lines, orders):
        built.repair(found)
    assert built.check("order_items").ok and built.check("orders").ok
    built.raw_equals_source("order_items", LINE_COLUMNS)
    built.raw_equals_source("orders", "id, status, notes, total, updated_at")


def test_a_change_after_the_last_extraction_is_pending_not_divergence(built: Built) -> None:
    built.source(
        "update customers set phone = '11 99999-0000', updated_at = :now where id = 3",
        now=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
    )
    result = built.check("customers")
    assert result.ok and result.pending == [3]
    extract_all(built.url, built.tmp / "warehouse.duckdb", built.tmp / "landing", "catch-up",
                tables=[("customers", "updated_at")])  # fmt: skip
    after = built.check("customers")
    assert after.ok and after.pending == []


def test_drill_down_reads_only_the_differing_ranges(built: Built) -> None:
    # A coarse grid with small leaves over order_items' ~3,000 keys, so a single stale key
    # must be found by narrowing down level by level rather than by reading the table's keys.
    key = _plant_stale(built, 1234)
    found = built.check("order_items", Grid(top_buckets=8, fanout=4, leaf_width=16))
    assert found.stale == [key] and found.levels >= 3
    assert found.keys_read <= 2 * 16, f"read {found.keys_read} keys to find one"
    built.repair(found)
    assert built.check("order_items").ok


def test_values_hash_alike_in_source_and_raw_to_the_microsecond_and_the_cent(built: Built) -> None:
    """After a repair the check must pass: that is only so when the source and DuckDB write each
    value in the same canonical text (fractions of a second, negative and whole amounts)."""
    for key, created, discount in (
        (60, "2026-01-02 03:04:05.5", "0.00"),
        (61, "2026-01-02 03:04:05.120000", "-0.50"),
        (62, "2026-01-02 03:04:05.000001", "12"),
        (63, "2026-01-02 03:04:00", "1234567.89"),
    ):
        built.source(
            "update order_items set created_at = :created, discount = :discount where id = :id",
            created=dt.datetime.fromisoformat(created), discount=discount, id=key,
        )  # fmt: skip
    found = built.check("order_items")
    assert found.stale == [60, 61, 62, 63]
    built.repair(found)
    assert built.check("order_items").ok
    built.raw_equals_source("order_items", LINE_COLUMNS)


def _check_cold(built: Built, table: str):
    return check_table(
        built.engine, built.warehouse, SOURCES, table, raw_schema="raw_ops", use_stored_sums=False
    )


def test_a_second_check_reuses_raw_sums_and_finds_what_the_first_found(built: Built) -> None:
    built.check("order_items")  # stores raw's sums
    warm = built.check("order_items")
    cold = _check_cold(built, "order_items")
    assert warm.ok and cold.ok
    assert warm.buckets_reused > 0 and cold.buckets_reused == 0
    assert (warm.source_rows, warm.raw_rows) == (cold.source_rows, cold.raw_rows)


@pytest.mark.parametrize("tamper", ["update", "delete", "insert"])
def test_raw_changed_behind_the_stored_sums_is_still_found(built: Built, tamper: str) -> None:
    """Raw written by hand, not through the publish: the stored sums must not hide it."""
    key = 777
    built.check("order_items")  # raw's sums stored while raw equals the source
    with built.warehouse.connect() as con:
        if tamper == "update":
            con.execute(f"update raw_ops.order_items set quantity = quantity + 1 where id = {key}")
        elif tamper == "delete":
            con.execute(f"delete from raw_ops.order_items where id = {key}")
        else:  # a version of a key the source never had
            con.execute(
                f"insert into raw_ops.order_items select * replace (100000 + id as id) "
                f"from raw_ops.order_items where id = {key}"
            )
    found = built.check("order_items")
    assert found.buckets_reused > 0  # the other buckets came from the store
    expected = {"update": ("stale", key), "delete": ("missing", key), "insert": ("extra", 100000 + key)}[
        tamper
    ]
    assert {"missing": found.missing, "extra": found.extra, "stale": found.stale} == {
        k: ([expected[1]] if k == expected[0] else []) for k in ("missing", "extra", "stale")
    }
    built.repair(found)
    assert built.check("order_items").ok
    built.raw_equals_source("order_items", LINE_COLUMNS)


def test_a_deleted_key_recorded_behind_the_stored_sums_is_still_found(built: Built) -> None:
    from orchestration.lifecycle.deletes import record_deleted_keys

    built.check("order_items")
    record_deleted_keys(
        built.warehouse.sql(), "raw_ops", "order_items", [888], batch_id="by-hand",
        detected_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )  # fmt: skip
    found = built.check("order_items")
    assert found.missing == [888] and found.buckets_reused > 0
    # Not repaired here: the publish skips a re-read identical to a version raw holds, even one
    # a deletion record ended (docs/reliability.md, "Limits"). Undo the planted record instead.
    with built.warehouse.connect() as con:
        con.execute("delete from raw_ops._deleted_keys where batch_id = 'by-hand'")
    assert built.check("order_items").ok
