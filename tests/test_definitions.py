"""The code location loads and holds what the UI and the schedules rely on."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from orchestration.resources.dbt import dbt_project, dbt_target, prepare_manifest
from orchestration.settings import SettingsError, load_settings

OPS_TABLES = {
    "categories", "suppliers", "warehouses", "customers", "products",
    "inventory", "pricing", "orders", "order_items", "customer_interactions",
}  # fmt: skip
MARTS = {
    "dim_customers", "dim_products", "dim_suppliers", "dim_date", "fact_orders",
    "fact_inventory_snapshots", "fact_customer_interactions", "customer_360",
}  # fmt: skip


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    prepare_manifest(load_settings({}))
    from orchestration.definitions import build_definitions

    return build_definitions(load_settings({}))


def test_every_operational_table_has_an_extraction_asset(defs):
    keys = {key.path[-1] for key in defs.resolve_all_asset_keys() if key.path[0] == "raw_ops"}
    # Underscore tables are the platform's own bookkeeping (raw_ops._deleted_keys).
    assert {k for k in keys if not k.startswith("_")} == OPS_TABLES


def test_marts_are_assets_downstream_of_the_raw_tables(defs):
    graph = defs.resolve_asset_graph()
    mart_keys = {dg.AssetKey(["marts", name]) for name in MARTS}
    assert mart_keys <= set(graph.get_all_asset_keys())
    upstream = graph.get(dg.AssetKey(["marts", "fact_orders"])).parent_keys
    assert upstream, "fact_orders has parents"
    ancestors = set()
    frontier = {dg.AssetKey(["marts", "fact_orders"])}
    while frontier:
        key = frontier.pop()
        for parent in graph.get(key).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.add(parent)
    assert dg.AssetKey(["raw_ops", "order_items"]) in ancestors
    assert dg.AssetKey(["raw_ops", "orders"]) in ancestors


def test_every_asset_has_group_owner_description_and_kind(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.group_name, f"{key} has no group"
        assert node.owners, f"{key} has no owner"
        assert node.description, f"{key} has no description"
        assert node.kinds, f"{key} has no kind"


def test_dbt_tests_are_asset_checks(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    fact_checks = {c.name for c in checks if c.asset_key == dg.AssetKey(["marts", "fact_orders"])}
    assert any(name.startswith("unique_") for name in fact_checks)
    assert "not_null_columns_fact_orders" in fact_checks


def test_not_null_columns_are_one_test_per_model():
    """A model's not-null columns are one `not_null_columns` test (one query per model, see
    dbt_project/tests/generic/not_null_columns.sql), never a `not_null` test per column; each
    listed column exists on its model."""
    manifest = json.loads(dbt_project(dbt_target(load_settings({}))).manifest_path.read_text())
    nodes = manifest["nodes"]
    per_column, unknown, models = [], [], set()
    for node in nodes.values():
        attached = nodes.get(node.get("attached_node") or "")
        if node["resource_type"] != "test" or attached is None:
            continue
        name = node.get("test_metadata", {}).get("name")
        if name == "not_null":
            per_column.append(node["name"])
        elif name == "not_null_columns":
            models.add(attached["name"])
            unknown += [
                f"{attached['name']}.{c}"
                for c in node["test_metadata"]["kwargs"]["columns"]
                if c not in attached["columns"]
            ]
    assert not per_column, f"list these columns in the model's not_null_columns test: {per_column}"
    assert not unknown, f"not_null_columns lists columns the model does not document: {unknown}"
    assert {"fact_orders", "dim_customers", "customer_360", "stg_ops__orders"} <= models


def test_jobs_and_schedules(defs):
    assert {s.name for s in defs.schedules} >= {"hourly_incremental_schedule", "daily_full_build_schedule"}
    hourly = defs.resolve_job_def("hourly_incremental")
    daily = defs.resolve_job_def("daily_full_build")
    assert hourly and daily
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["hourly_incremental_schedule"].cron_schedule == "15 * * * *"


def test_duckdb_runs_in_process_so_only_one_writer_exists(defs):
    assert defs.executor.name == "in_process"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"WAREHOUSE": "snowflake"}, "WAREHOUSE"),
        ({"OPS_DATABASE_URL": "not a url"}, "OPS_DATABASE_URL"),
        ({"WAREHOUSE": "bigquery"}, "GCP_PROJECT"),
    ],
)
def test_bad_settings_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_settings(env)


def test_unreachable_database_names_the_setting_and_hides_the_password():
    from orchestration.resources.ops_database import connect_checked

    with pytest.raises(SettingsError) as info:
        connect_checked("postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:1/nowhere")
    assert "OPS_DATABASE_URL" in str(info.value)
    assert "s3cr3t-pw" not in str(info.value)


@pytest.mark.parametrize("job_name", ["daily_full_build", "hourly_incremental"])
def test_the_demo_splits_a_job_into_its_sources_and_the_rest_without_gap_or_overlap(defs, job_name):
    from orchestration.demo.run import job_part

    job = defs.resolve_job_def(job_name)
    sources, rest = job_part(defs, job, "sources"), job_part(defs, job, "rest")
    # The operational tables and the hard-delete detection that reads the same database.
    assert {key.path[-1] for key in sources} == OPS_TABLES | {"_deleted_keys"}
    assert all(key.path[0] == "raw_ops" for key in sources)
    assert not set(sources) & set(rest)
    assert set(sources) | set(rest) == set(job.asset_layer.executable_asset_keys)
    assert dg.AssetKey(["marts", "fact_orders"]) in rest
    with pytest.raises(ValueError, match="part must be"):
        job_part(defs, job, "marts")


def test_alert_sensors_are_in_the_code_location_and_stopped_without_a_channel(defs):
    sensors = {s.name: s for s in defs.sensors}
    assert {"run_failure_alerts", "freshness_breach_alerts", "freshness_checks_sensor"} <= set(sensors)
    assert sensors["run_failure_alerts"].default_status == dg.DefaultSensorStatus.STOPPED
    assert "alert_channels" in defs.resources


def test_alert_sensors_run_by_default_once_a_channel_is_configured():
    from orchestration.alerts.sensors import build_alert_sensors
    from orchestration.settings import load_alert_settings

    alerts = load_alert_settings({"ALERT_TEAMS_WEBHOOK_URL": "https://example.webhook.office.com/x"})
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in build_alert_sensors(alerts))


def test_the_sources_are_wired_from_the_environment_when_the_definitions_are_built(defs, monkeypatch):
    """The demo and the tests export the Marketo sandbox's variables (or OPS_DATABASE_URL) after
    building their Settings: EnvVar or default is decided when the definitions are built, and
    a secret reaches the resources only as the variable's name."""
    from orchestration.definitions import build_definitions

    settings = load_settings({})  # built before the variables below exist
    for name in ("MARKETO_BASE_URL", "MARKETO_CLIENT_ID", "MARKETO_CLIENT_SECRET", "OPS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    unset = build_definitions(settings).resources
    assert unset["marketo"].missing_variables() == [
        "MARKETO_BASE_URL",
        "MARKETO_CLIENT_ID",
        "MARKETO_CLIENT_SECRET",
    ]
    assert unset["ops_db"].url.startswith("sqlite:///")

    monkeypatch.setenv("MARKETO_BASE_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("MARKETO_CLIENT_ID", "client")
    monkeypatch.setenv("MARKETO_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("MARKETO_POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("OPS_DATABASE_URL", "postgresql+psycopg://app:s3cr3t-pw@127.0.0.1:1/ops")
    resources = build_definitions(settings).resources
    marketo, ops_db = resources["marketo"], resources["ops_db"]
    assert marketo.missing_variables() == [] and marketo.poll_interval_s == 0.05
    assert isinstance(marketo.client_secret, dg.EnvVar) and isinstance(ops_db.url, dg.EnvVar)
    assert "s3cr3t" not in repr(resources) and "s3cr3t" not in repr(load_settings())
