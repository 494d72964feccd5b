"""Change data capture from a wal_level=logical PostgreSQL into DuckDB raw, case by case.

Each test has its own database and slot on the session's own server (conftest.py); raw's
latest live versions are compared with the source row by row after every drain.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.cdc import postgres_slot
from orchestration.cdc.apply import CdcApplyError
from orchestration.cdc.sync import CdcSourceError, SlotLostError
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.cdc.helpers import live_raw, make_source, raw_versions, slot_prefix, source_rows, sync


@pytest.fixture
def source(cdc_source_url):
    engine = sa.create_engine(cdc_source_url)
    yield engine
    engine.dispose()


@pytest.fixture
def warehouse(tmp_path):
    return DuckDBWarehouse(tmp_path / "warehouse.duckdb")


def run(source, sql: str, **params) -> None:
    with source.begin() as conn:
        for statement in sql.strip().split(";\n"):
            conn.execute(sa.text(statement), params)


def test_snapshot_then_updates_deletes_and_a_reinserted_key_reconcile_row_by_row(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False)).dispose()
    first = sync(source, warehouse, tmp_path)
    assert first.snapshot is not None and first.snapshot.load.rows_inserted == 5
    assert live_raw(warehouse.path) == source_rows(source)

    run(
        source,
        """
        update orders set status = 'shipped', total = 99.99, is_paid = true where id = 1;
        delete from orders where id = 2;
        insert into orders (id, status, notes) values (6, 'pending', 'é "quoted", new line\nhere');
        delete from orders where id = 3
        """,
    )
    run(source, "insert into orders (id, status, notes) values (3, 'confirmed', 'back again')")
    second = sync(source, warehouse, tmp_path, max_changes=2)  # whole transactions, several batches
    assert second.snapshot is None and second.batches == 2 and second.changes == 5
    assert live_raw(warehouse.path) == source_rows(source)
    assert [op for _, _, op, _ in raw_versions(warehouse.path, 3)] == ["snapshot", "delete", "insert"]

    again = sync(source, warehouse, tmp_path)
    assert (again.batches, again.changes) == (0, 0)  # drained: nothing twice
    assert live_raw(warehouse.path) == source_rows(source)


def test_many_updates_of_one_row_in_one_transaction_keep_every_version_in_order(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    sync(source, warehouse, tmp_path)
    statuses = ["confirmed", "processing", "shipped", "delivered"]
    run(source, ";\n".join(f"update orders set status = '{s}' where id = 1" for s in statuses))
    sync(source, warehouse, tmp_path)
    versions = raw_versions(warehouse.path, 1)
    assert [status for _, status, _, _ in versions] == ["pending", *statuses]
    assert len({position for *_, position in versions}) == len(versions)
    assert live_raw(warehouse.path) == source_rows(source)


def test_interleaved_transactions_are_ordered_by_commit_not_by_start(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=2).dispose()
    sync(source, warehouse, tmp_path)
    early, late = source.connect(), source.connect()
    try:
        early.execute(sa.text("update orders set status = 'early-start' where id = 1"))
        late.execute(sa.text("update orders set status = 'late-start' where id = 2"))
        late.commit()
        early.execute(sa.text("update orders set status = 'early-start-2' where id = 1"))
        early.commit()
    finally:
        early.close()
        late.close()
    sync(source, warehouse, tmp_path)
    changes = [v for v in raw_versions(warehouse.path) if v[2] != "snapshot"]
    # Sorted by position: the transaction that started first but committed last comes last.
    assert [(key, status) for key, status, _, _ in changes] == [
        (2, "late-start"),
        (1, "early-start"),
        (1, "early-start-2"),
    ]
    assert live_raw(warehouse.path) == source_rows(source)


def test_truncate_ends_every_key_and_rows_inserted_after_it_are_live(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=3).dispose()
    sync(source, warehouse, tmp_path)
    run(source, "update orders set status = 'confirmed' where id = 1")
    run(source, "truncate orders;\ninsert into orders (id, status) values (2, 'after truncate')")
    outcome = sync(source, warehouse, tmp_path)
    assert outcome.changes == 3  # the update, the truncate, the insert
    assert live_raw(warehouse.path) == source_rows(source) == [(2, "after truncate", None, None, None, None)]


def test_an_updated_primary_key_ends_the_old_key(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=2).dispose()
    sync(source, warehouse, tmp_path)
    run(source, "update orders set id = 20 where id = 2")
    sync(source, warehouse, tmp_path)
    assert live_raw(warehouse.path) == source_rows(source)
    assert [op for _, _, op, _ in raw_versions(warehouse.path, 2)] == ["snapshot", "delete"]


def test_a_dropped_slot_is_detected_and_names_the_recovery(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    outcome = sync(source, warehouse, tmp_path)
    with source.connect() as conn:
        postgres_slot.drop_slot(conn, outcome.slot)
    with pytest.raises(SlotLostError, match=rf"{outcome.slot}' is gone.*raw_ops.orders.*Re-snapshot"):
        sync(source, warehouse, tmp_path)


def test_a_server_without_logical_decoding_is_refused_naming_wal_level(postgres_url, warehouse, tmp_path):
    # The machine's own server runs wal_level=replica (DESIGN.md §6) and stays that way.
    engine = make_source(postgres_url, rows=1)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("show wal_level")).scalar_one() == "logical":
                pytest.skip("the machine's server runs wal_level=logical")
        with pytest.raises(CdcSourceError, match=r"'orders'|orders: mode cdc needs .* wal_level=logical"):
            sync(engine, warehouse, tmp_path)
        with engine.connect() as conn:  # refused before creating anything
            assert not conn.execute(sa.text("select count(*) from pg_publication")).scalar_one()
    finally:
        engine.dispose()


def test_sqlite_is_refused_naming_the_table_and_the_setting(tmp_path, warehouse):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text("create table orders (id integer primary key, status text, updated_at timestamp)")
        )
    with pytest.raises(
        CdcSourceError,
        match=r"table 'orders': mode cdc needs a PostgreSQL or MySQL/MariaDB source.*mode: cursor",
    ):
        sync(engine, warehouse, tmp_path)


def test_slot_names_come_from_the_prefix_and_refuse_what_postgres_would(source):
    assert slot_prefix(source).startswith("cdc_t_")
    assert postgres_slot.slot_name("pharma_cdc", "Orders") == "pharma_cdc_orders"
    with pytest.raises(CdcSourceError, match="CDC_SLOT_PREFIX"):
        postgres_slot.slot_name("pharma-cdc", "orders")


def test_a_resnapshot_after_a_lost_slot_converges_and_ends_keys_deleted_meanwhile(
    source, warehouse, tmp_path
):
    make_source(source.url.render_as_string(hide_password=False), rows=3).dispose()
    outcome = sync(source, warehouse, tmp_path)
    with source.connect() as conn:
        postgres_slot.drop_slot(conn, outcome.slot)
    # Changes nobody will ever decode: the slot that would have kept them is gone.
    run(source, "delete from orders where id = 2;\nupdate orders set status = 'unseen' where id = 1")
    with pytest.raises(SlotLostError):
        sync(source, warehouse, tmp_path)
    again = sync(source, warehouse, tmp_path, resnapshot=True)
    assert again.snapshot is not None and again.snapshot.load.rows_inserted == 2
    run(source, "update orders set status = 'after' where id = 3")
    sync(source, warehouse, tmp_path)
    assert live_raw(warehouse.path) == source_rows(source)


def test_excluded_columns_are_never_landed_from_changes_either(source, warehouse, tmp_path):
    from tests.cdc.helpers import SOURCES

    make_source(source.url.render_as_string(hide_password=False), rows=2).dispose()
    excluding = SOURCES + "    exclude: [notes]\n"
    sync(source, warehouse, tmp_path, sources=excluding)
    run(source, "update orders set notes = 'secret', status = 'confirmed' where id = 1")
    outcome = sync(source, warehouse, tmp_path, sources=excluding)
    assert outcome.changes == 1
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        columns = {
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_name = 'orders'"
            ).fetchall()
        }
        assert "notes" not in columns
        assert con.execute(
            "select status from raw_ops.orders where _cdc_operation = 'update'"
        ).fetchall() == [("confirmed",)]


def test_a_table_without_replica_identity_is_refused_before_a_publication_breaks_its_writers(
    source, warehouse, tmp_path
):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    run(source, "alter table orders replica identity nothing")
    with pytest.raises(
        CdcSourceError, match=r"orders: mode cdc needs a replica identity.*REPLICA IDENTITY FULL"
    ):
        sync(source, warehouse, tmp_path)
    with source.connect() as conn:
        assert not conn.execute(sa.text("select count(*) from pg_publication")).scalar_one()
    run(source, "update orders set status = 'still writable' where id = 1")


def test_with_replica_identity_full_a_delete_keeps_the_last_values(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    run(source, "alter table orders replica identity full")
    sync(source, warehouse, tmp_path)
    run(source, "delete from orders where id = 1")
    sync(source, warehouse, tmp_path)
    assert raw_versions(warehouse.path, 1)[-1][1:3] == ("pending", "delete")
    assert live_raw(warehouse.path) == source_rows(source) == []


def test_a_column_added_at_the_source_flows_into_raw(source, warehouse, tmp_path):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    sync(source, warehouse, tmp_path)
    run(
        source,
        "alter table orders add column channel text;\ninsert into orders (id, status, channel) values (2, 'new', 'web')",
    )
    outcome = sync(source, warehouse, tmp_path)
    assert outcome.changes == 1
    with duckdb.connect(str(warehouse.path), read_only=True) as con:
        assert con.execute("select id, channel from raw_ops.orders where channel is not null").fetchall() == [
            (2, "web")
        ]
    assert live_raw(warehouse.path) == source_rows(source)


LARGE_NOTE = "(select string_agg(md5(i::text || random()::text), '') from generate_series(1, 400) as i)"


def test_an_untouched_toasted_value_needs_replica_identity_full_and_names_the_column(
    source, warehouse, tmp_path
):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    run(source, f"update orders set notes = {LARGE_NOTE} where id = 1")
    sync(source, warehouse, tmp_path)
    run(source, "update orders set status = 'shipped' where id = 1")  # notes untouched: not sent
    with pytest.raises(CdcApplyError, match=r"orders\.notes: .*REPLICA IDENTITY FULL"):
        sync(source, warehouse, tmp_path)


def test_with_replica_identity_full_an_untouched_toasted_value_comes_from_the_old_row(
    source, warehouse, tmp_path
):
    make_source(source.url.render_as_string(hide_password=False), rows=1).dispose()
    run(
        source,
        f"alter table orders replica identity full;\nupdate orders set notes = {LARGE_NOTE} where id = 1",
    )
    sync(source, warehouse, tmp_path)
    run(source, "update orders set status = 'shipped' where id = 1")
    sync(source, warehouse, tmp_path)
    assert live_raw(warehouse.path) == source_rows(source)
    assert len(live_raw(warehouse.path)[0][-1]) == 400 * 32
