"""The Dagster side of CDC: the raw asset drains its slot, the lag check fires past its limit,
and the code location grows cdc_drain (on CDC_DRAIN_CRON) and cdc_resnapshot."""

from __future__ import annotations

import dagster as dg
import pytest
import sqlalchemy as sa

from orchestration.assets.operational_cdc import SLOT_LAG_CHECK
from orchestration.assets.operational_db import WAREHOUSE_POOL, definitions, raw_asset_key
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DEFAULT_SOURCES_FILE, SettingsError, load_settings
from tests.cdc.helpers import live_raw, make_source, slot_prefix, source_rows, sources_file

ORDERS = raw_asset_key("orders")


def _defs(tmp_path) -> dg.Definitions:
    return definitions(load_settings({"SOURCES_FILE": str(sources_file(tmp_path))}))


def _resources(url: str, engine: sa.Engine, tmp_path, lag_max: int) -> dict:
    return {
        "ops_db": OperationalDatabaseResource(
            url=url, cdc_slot_prefix=slot_prefix(engine), cdc_slot_lag_max_bytes=lag_max
        ),
        "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "warehouse.duckdb")),
    }


def _run(defs: dg.Definitions, resources: dict) -> dg.ExecuteInProcessResult:
    assets = list(defs.assets)
    return dg.materialize([*assets, *defs.asset_checks], resources=resources, raise_on_error=False)


@pytest.mark.slow
def test_the_raw_asset_drains_its_slot_and_the_lag_check_fires_past_its_limit(cdc_source_url, tmp_path):
    engine = make_source(cdc_source_url, rows=3)
    defs = _defs(tmp_path)
    try:
        first = _run(defs, _resources(cdc_source_url, engine, tmp_path, lag_max=1 << 30))
        assert first.success
        metadata = first.asset_materializations_for_node("raw_ops__orders")[0].metadata
        assert metadata["snapshot_rows"].value == 3 and metadata["mode"].value == "cdc"
        (check,) = first.get_asset_check_evaluations()
        assert check.check_name == SLOT_LAG_CHECK and check.passed

        with engine.begin() as conn:
            conn.execute(sa.text("update orders set status = 'shipped' where id = 2"))
            conn.execute(
                sa.text("insert into orders (id, status) select i, 'bulk' from generate_series(10, 400) i")
            )
        # A limit below what the slot retains: the check fails and names the setting.
        tight = _run(defs, _resources(cdc_source_url, engine, tmp_path, lag_max=1))
        assert tight.success  # the drain itself succeeded
        (check,) = tight.get_asset_check_evaluations()
        assert not check.passed
        assert "CDC_SLOT_LAG_MAX_BYTES=1" in check.description
        assert check.metadata["retained_wal_bytes"].value > 1
        assert live_raw(tmp_path / "warehouse.duckdb") == source_rows(engine)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_lost_slot_fails_the_asset_with_what_to_do(cdc_source_url, tmp_path):
    engine = make_source(cdc_source_url, rows=1)
    defs = _defs(tmp_path)
    resources = _resources(cdc_source_url, engine, tmp_path, lag_max=1 << 30)
    try:
        assert _run(defs, resources).success
        with engine.connect() as conn:
            conn.execute(
                sa.text("select pg_drop_replication_slot(:s)"), {"s": f"{slot_prefix(engine)}_orders"}
            )
            conn.commit()
        failed = _run(defs, resources)
        assert not failed.success
        (failure,) = [e for e in failed.all_events if e.is_step_failure]
        assert "cdc_resnapshot" in str(failure.step_failure_data.error)
        (check,) = failed.get_asset_check_evaluations() or [None]
        assert check is None or not check.passed
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def cdc_definitions(tmp_path_factory):
    # The project's own sources file with orders switched to mode cdc.
    text = DEFAULT_SOURCES_FILE.read_text()
    marker = "  orders:\n"
    head, _, tail = text.partition(marker)
    path = tmp_path_factory.mktemp("sources") / "sources.yml"
    path.write_text(head + marker + "    mode: cdc\n" + tail)
    from orchestration.definitions import build_definitions
    from orchestration.resources.dbt import dbt_project, dbt_target

    settings = load_settings({"SOURCES_FILE": str(path), "CDC_DRAIN_CRON": "*/2 * * * *"})
    if not dbt_project(dbt_target(settings)).manifest_path.exists():  # conftest copies make prepare's
        from orchestration.resources.dbt import prepare_manifest

        prepare_manifest(settings)
    return build_definitions(settings)


def test_the_code_location_schedules_cdc_drain_in_the_writer_pool(cdc_definitions):
    drain = cdc_definitions.resolve_job_def("cdc_drain")
    assert {key for key in drain.asset_layer.selected_asset_keys} == {ORDERS}
    schedule = cdc_definitions.get_schedule_def("cdc_drain_schedule")
    assert schedule.cron_schedule == "*/2 * * * *"
    assert cdc_definitions.resolve_job_def("cdc_resnapshot")
    graph = cdc_definitions.resolve_asset_graph()
    node = graph.get(ORDERS)
    assert node.pools == {WAREHOUSE_POOL} and node.tags["mode"] == "cdc"
    assert dg.AssetCheckKey(ORDERS, SLOT_LAG_CHECK) in graph.asset_check_keys
    # The other tables stay in cursor mode, with their extraction checks.
    assert graph.get(raw_asset_key("customers")).tags.get("mode") is None
    # Every minute: the drain and its lag check, not the raw suites (Great Expectations).
    assert set(drain.asset_layer.asset_graph.asset_check_keys) == {dg.AssetCheckKey(ORDERS, SLOT_LAG_CHECK)}
    # Completeness comparison and repair, and key reconciliation, stay with cursor mode.
    repair = cdc_definitions.resolve_job_def("ops_repair")
    assert ORDERS not in repair.asset_layer.selected_asset_keys
    assert raw_asset_key("customers") in repair.asset_layer.selected_asset_keys
    assert dg.AssetCheckKey(ORDERS, "completeness") not in graph.asset_check_keys
    assert cdc_definitions.resolve_job_def("hourly_incremental")


@pytest.mark.parametrize(
    ("name", "value"),
    [("CDC_SLOT_PREFIX", "Bad-Prefix"), ("CDC_DRAIN_CRON", "every minute"), ("CDC_MAX_CHANGES", "0")],
)
def test_a_wrong_cdc_setting_names_its_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})
