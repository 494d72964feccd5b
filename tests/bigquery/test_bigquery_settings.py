"""WAREHOUSE=bigquery switches loader and dbt together; the emulator is chosen by its settings (fast)."""

from __future__ import annotations

import os

import pytest

from orchestration.resources.dbt import dbt_env, dbt_target, scoped_environ
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import SettingsError, load_settings
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse

EMULATOR = {
    "WAREHOUSE": "bigquery",
    "GCP_PROJECT": "local",
    "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9050/",
    "BIGQUERY_STORAGE_EMULATOR_HOST": "127.0.0.1:9060",
    "BIGQUERY_DATASET_PREFIX": "dev_",
}


@pytest.fixture(autouse=True)
def _no_dbt_target(monkeypatch):
    monkeypatch.delenv("DBT_TARGET", raising=False)


def test_emulator_settings_reach_the_loader_and_dbt():
    settings = load_settings(EMULATOR)
    assert settings.uses_bigquery_emulator
    assert dbt_target(settings) == "bigquery-emulator"
    assert dbt_env(settings)["BIGQUERY_EMULATOR_HOST"] == "http://127.0.0.1:9050"
    resource = WarehouseResource.from_settings(settings)
    warehouse = resource.get()
    assert isinstance(warehouse, BigQueryWarehouse)
    assert (warehouse.api_endpoint, warehouse.storage_endpoint) == ("http://127.0.0.1:9050", "127.0.0.1:9060")
    assert warehouse.project == "local" and warehouse.dataset_id("marts") == "dev_marts"


def test_real_bigquery_uses_the_production_target_and_google_endpoints():
    settings = load_settings({"WAREHOUSE": "bigquery", "GCP_PROJECT": "acme-data"})
    assert not settings.uses_bigquery_emulator
    assert dbt_target(settings) == "bigquery"
    assert "BIGQUERY_EMULATOR_HOST" not in dbt_env(settings)
    warehouse = WarehouseResource.from_settings(settings).get()
    assert warehouse.api_endpoint is None and warehouse.storage_endpoint is None
    assert not warehouse.is_emulator


def test_duckdb_ignores_emulator_settings():
    settings = load_settings({**EMULATOR, "WAREHOUSE": "duckdb"})
    assert not settings.uses_bigquery_emulator and dbt_target(settings) == "duckdb"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BIGQUERY_STORAGE_EMULATOR_HOST": ""}, "BIGQUERY_STORAGE_EMULATOR_HOST"),
        ({"BIGQUERY_EMULATOR_HOST": ""}, "BIGQUERY_EMULATOR_HOST"),
        ({"BIGQUERY_EMULATOR_HOST": "127.0.0.1:9050"}, "BIGQUERY_EMULATOR_HOST"),
        ({"BIGQUERY_STORAGE_EMULATOR_HOST": "http://127.0.0.1:9060"}, "BIGQUERY_STORAGE_EMULATOR_HOST"),
        ({"GCP_PROJECT": ""}, "GCP_PROJECT"),
    ],
)
def test_half_or_wrong_emulator_settings_fail_naming_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_settings({**EMULATOR, **env})


def test_dbt_environment_is_restored_after_a_run(monkeypatch):
    monkeypatch.setenv("BIGQUERY_LOCATION", "EU")
    with scoped_environ({"DBT_TARGET": "bigquery-emulator", "BIGQUERY_LOCATION": "US"}):
        assert os.environ["DBT_TARGET"] == "bigquery-emulator" and os.environ["BIGQUERY_LOCATION"] == "US"
    assert "DBT_TARGET" not in os.environ
    assert os.environ["BIGQUERY_LOCATION"] == "EU"


def test_dbt_emulator_switches_live_in_one_macros_file():
    from orchestration.settings import DBT_PROJECT_DIR

    sources = [
        p
        for folder in ("models", "macros", "snapshots", "tests", "analyses")
        for p in (DBT_PROJECT_DIR / folder).rglob("*")
        if p.is_file() and p.suffix in (".sql", ".yml", ".yaml", ".md")
    ] + [DBT_PROJECT_DIR / "dbt_project.yml"]
    mentioning = {
        p.relative_to(DBT_PROJECT_DIR).as_posix() for p in sources if "bigquery-emulator" in p.read_text()
    }
    assert mentioning == {"macros/emulator_workarounds.sql"}
