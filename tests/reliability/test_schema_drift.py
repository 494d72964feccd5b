"""Real ALTER TABLEs on PostgreSQL and MariaDB: what flows, what is widened, what stops the load.

Each drift is applied to a different table of one tiny demo database after a first full
load. An added column reaches raw (``columns_added``) and staging (``dbt run``); widening (int → bigint, longer
varchar, larger numeric precision) loads; a dropped or renamed column and an incompatible
type change fail with the table, the column and the change named, before anything is
written: the raw table, the ledger and the landing folder are exactly as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.demo.generator import Scale, generate
from orchestration.lifecycle.deletes import ensure_deleted_keys_table
from orchestration.resources.dbt import dbt_resource
from orchestration.settings import load_settings
from orchestration.warehouse.base import SchemaDriftError
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.reliability.helpers import DEMO_END, TABLES, compare_raw_with_source, extract_all

BUMPED = DEMO_END + dt.timedelta(days=1)

# (engine, statement template) per drift; {t} is the table. PostgreSQL first, MariaDB second.
DDL: dict[str, tuple[str, str]] = {
    "add_column": (
        "ALTER TABLE customers ADD COLUMN loyalty_code VARCHAR(20)",
        "ALTER TABLE customers ADD COLUMN loyalty_code VARCHAR(20)",
    ),
    "int_to_bigint": (
        "ALTER TABLE order_items ALTER COLUMN quantity TYPE BIGINT",
        "ALTER TABLE order_items MODIFY quantity BIGINT NOT NULL",
    ),
    "numeric_precision": (
        "ALTER TABLE order_items ALTER COLUMN total TYPE NUMERIC(24, 2)",
        "ALTER TABLE order_items MODIFY total DECIMAL(24, 2) NOT NULL",
    ),
    "varchar_longer": (
        "ALTER TABLE orders ALTER COLUMN payment_method TYPE VARCHAR(100)",
        "ALTER TABLE orders MODIFY payment_method VARCHAR(100) NOT NULL",
    ),
    "money_wider": (
        "ALTER TABLE orders ALTER COLUMN total TYPE NUMERIC(18, 2)",
        "ALTER TABLE orders MODIFY total DECIMAL(18, 2) NOT NULL",
    ),
    "drop_column": (
        "ALTER TABLE warehouses DROP COLUMN city",
        "ALTER TABLE warehouses DROP COLUMN city",
    ),
    "rename_column": (
        "ALTER TABLE suppliers RENAME COLUMN contact_name TO contact_person",
        "ALTER TABLE suppliers RENAME COLUMN contact_name TO contact_person",
    ),
    "varchar_to_integer": (
        "ALTER TABLE categories ALTER COLUMN name TYPE INTEGER USING id",
        "ALTER TABLE categories MODIFY name INTEGER NOT NULL",
    ),
    "numeric_to_text": (
        "ALTER TABLE products ALTER COLUMN unit_cost TYPE TEXT",
        "ALTER TABLE products MODIFY unit_cost TEXT NOT NULL",
    ),
}
REFUSED = {
    "warehouses": (
        "drop_column",
        r"raw_ops\.warehouses.*'city'.*missing from the source: dropped or renamed",
    ),
    "suppliers": (
        "rename_column",
        r"raw_ops\.suppliers.*'contact_name'.*dropped or renamed \(renamed to 'contact_person'\?\)",
    ),
    "categories": ("varchar_to_integer", r"raw_ops\.categories.*'name' changed type from string to int64"),
    "products": (
        "numeric_to_text",
        r"raw_ops\.products.*'unit_cost' changed type from decimal128\(18, 2\) to string",
    ),
}


def _state(duckdb_path, table: str) -> tuple:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        rows = con.execute(f"select count(*), max(_loaded_at) from raw_ops.{table}").fetchone()
        ledger = con.execute(
            "select count(*), max(high_water_mark) from raw_ops._loads where table_name = ?", [table]
        ).fetchone()
    return rows, ledger


def _apply_drift(url: str, dialect_index: int) -> None:
    engine = sa.create_engine(url)
    bump = {"at": BUMPED}
    with engine.begin() as conn:
        if dialect_index == 1:
            conn.execute(sa.text("UPDATE categories SET name = CAST(id AS CHAR)"))
        for _, statements in DDL.items():
            conn.execute(sa.text(statements[dialect_index]))
        conn.execute(
            sa.text("UPDATE customers SET loyalty_code = CONCAT('LC-', id), updated_at = :at WHERE id <= 5"),
            bump,
        )
        conn.execute(
            sa.text("UPDATE order_items SET quantity = 3000000000, updated_at = :at WHERE id <= 3"), bump
        )
        conn.execute(
            sa.text(
                "UPDATE orders SET payment_method = :long, total = 1234567890123.45, updated_at = :at WHERE id <= 3"
            ),
            {**bump, "long": "credit_card_installments_twelve_times_without_interest_" + "x" * 20},
        )
    engine.dispose()


@pytest.mark.parametrize("server", ["postgres_url", "mariadb_url"])
def test_schema_drift_on_the_source(server, request, tmp_path):
    url: str = request.getfixturevalue(server)
    dialect_index = 0 if server == "postgres_url" else 1
    generate(url, Scale.named("tiny"), seed=42, end=DEMO_END)
    duckdb_path, landing = tmp_path / "warehouse.duckdb", tmp_path / "landing"
    extract_all(url, duckdb_path, landing, "first")
    before = {table: _state(duckdb_path, table) for table in REFUSED}

    _apply_drift(url, dialect_index)
    by_name = dict(TABLES)

    # Refused drift: named, and nothing written.
    for table, (drift, message) in REFUSED.items():
        with pytest.raises(SchemaDriftError, match=message) as caught:
            extract_all(url, duckdb_path, landing, "drifted", tables=[(table, by_name[table])])
        assert "Nothing was written" in str(caught.value), drift
        assert _state(duckdb_path, table) == before[table], f"{drift}: raw or ledger of {table} changed"
    assert not [p for p in landing.rglob("*") if p.is_file()], "a refused load left landing files"

    # Accepted drift: the new column arrives, widened values load exactly.
    accepted = [(t, c) for t, c in TABLES if t not in REFUSED]
    outcomes = extract_all(url, duckdb_path, landing, "widened", tables=accepted)
    assert outcomes["customers"].metadata()["columns_added"] == "loyalty_code"
    assert outcomes["customers"].load.rows_inserted == 5
    assert outcomes["orders"].metadata()["columns_added"] == "none"
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        codes = con.execute(
            "select id, loyalty_code from raw_ops.customers where loyalty_code is not null order by id"
        ).fetchall()
        assert codes == [(i, f"LC-{i}") for i in range(1, 6)]
        # Older versions of every customer keep NULL for the column they never had.
        assert (
            con.execute("select count(*) from raw_ops.customers where loyalty_code is null").fetchone()[0] > 0
        )
        types = dict(
            con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_ops' and table_name in ('order_items', 'orders') "
                "and column_name in ('quantity', 'total', 'payment_method')"
            ).fetchall()
        )
        assert con.execute("select max(quantity) from raw_ops.order_items").fetchone()[0] == 3_000_000_000
        assert "DECIMAL(24,2)" in types.values()
    # Every accepted table equals its source afterwards (the refused ones are compared as they were).
    compare = _source_subset_compare(url, duckdb_path, keep=lambda t: t not in REFUSED)
    assert not compare, compare[:5]

    # Staging exposes the new column with no model edited (macro ops_new_columns). Staging
    # also reads the hard-delete ledger, which the reconciliation asset keeps in every run.
    ensure_deleted_keys_table(DuckDBWarehouse(duckdb_path).sql(), "raw_ops")
    _dbt_run_staging(duckdb_path, tmp_path / "dbt-target", "stg_ops__customers")
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        staged = con.execute(
            "select customer_id, loyalty_code from staging.stg_ops__customers "
            "where loyalty_code is not null order by customer_id"
        ).fetchall()
        assert staged == [(i, f"LC-{i}") for i in range(1, 6)]


def _dbt_run_staging(duckdb_path, target_path, model: str) -> None:
    """``dbt run`` of one model on the DuckDB file, the way the product runs dbt (its resource)."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DBT_TARGET", raising=False)  # the DuckDB target, whatever the shell set
        dbt = dbt_resource(load_settings({"DUCKDB_PATH": str(duckdb_path)}))
        dbt.cli(["run", "--select", model], target_path=target_path).wait()


def _source_subset_compare(url: str, duckdb_path, keep: Callable[[str], bool]) -> list[str]:
    result = compare_raw_with_source(url, duckdb_path, tables=[t for t, _ in TABLES if keep(t)])
    return result.differences
