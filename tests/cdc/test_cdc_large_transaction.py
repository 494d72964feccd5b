"""One 100,000-row transaction through change data capture, on PostgreSQL and on MariaDB: read
whole although it is ten times a peek's bound, published in one warehouse transaction, and raw's
live rows equal the source's row for row afterwards; a second drain adds nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc import helpers
from tests.cdc.test_mariadb_cdc import make_source as make_mariadb_source
from tests.cdc.test_mariadb_cdc import source_rows as mariadb_source_rows

pytestmark = pytest.mark.slow

ROWS = 100_000
MAX_CHANGES = 10_000  # a peek's bound, the default CDC_MAX_CHANGES

POSTGRES_TRANSACTION = (
    "insert into orders (id, status, total, is_paid, order_date, notes) "
    "select 100 + i, 'bulk', i * 0.01, i % 3 = 0, date '2026-01-01' + i % 365, 'bulk ' || i "
    f"from generate_series(1, {ROWS}) as i",
    "update orders set status = 'repriced', total = total + 1 where id <= 5",
)

MARIADB_TRANSACTION = (
    "create temporary table digits (d int)",
    "insert into digits values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
    "create temporary table counter (i int)",
    "insert into counter select a.d * 10000 + b.d * 1000 + c.d * 100 + e.d * 10 + f.d + 1 "
    "from digits a, digits b, digits c, digits e, digits f",
    "insert into orders (id, status, total, is_paid, order_date, notes) "
    "select 100 + i, 'bulk', i * 0.01, i % 3 = 0, date '2026-01-01' + interval (i % 365) day, concat('bulk ', i) "
    "from counter",
    "update orders set status = 'repriced', total = total + 1 where id <= 5",
)


def _drain_the_large_transaction(
    engine: sa.Engine, statements: tuple[str, ...], source_rows, tmp_path
) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    helpers.sync(engine, warehouse, tmp_path, "snapshot")
    with engine.begin() as conn:  # one transaction
        for statement in statements:
            conn.execute(sa.text(statement))
    outcome = helpers.sync(engine, warehouse, tmp_path, "changes", max_changes=MAX_CHANGES)
    assert (outcome.changes, outcome.batches) == (ROWS + 5, 1)
    assert helpers.live_raw(warehouse.path) == source_rows(engine)
    again = helpers.sync(engine, warehouse, tmp_path, "again", max_changes=MAX_CHANGES)
    assert again.changes == 0
    assert warehouse.row_count(helpers.RAW, "orders") == 5 + ROWS + 5


def test_a_100k_row_transaction_from_postgres(cdc_source_url, tmp_path):
    engine = helpers.make_source(cdc_source_url, rows=5)
    try:
        _drain_the_large_transaction(engine, POSTGRES_TRANSACTION, helpers.source_rows, tmp_path)
    finally:
        engine.dispose()


@pytest.mark.mariadb
def test_a_100k_row_transaction_from_mariadb(cdc_mariadb_url, tmp_path):
    engine = make_mariadb_source(cdc_mariadb_url, rows=5)
    try:
        _drain_the_large_transaction(engine, MARIADB_TRANSACTION, mariadb_source_rows, tmp_path)
    finally:
        engine.dispose()
