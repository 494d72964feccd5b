"""Every BigQuery job carries the labels of its Dagster job, asset and run (issue #16 item 3).

Through the real Dagster path (``dg.materialize`` of an asset writing through the
``warehouse`` resource) and through dbt's query comment, the labels are read where BigQuery
would receive them: a recording proxy in front of the emulator (it keeps no labels itself).
"""

import datetime as dt

import dagster as dg
import pyarrow as pa
import pytest

from orchestration.resources.dbt import PharmaDbtCliResource, dbt_env, dbt_executable, dbt_project
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import load_settings
from orchestration.warehouse.bigquery_labels import job_labels, label_value
from tests.bigquery.recording_proxy import RecordingProxy
from tests.bigquery.test_bigquery_warehouse import land

pytestmark = pytest.mark.bigquery


def test_label_values_follow_bigquery_rules():
    assert label_value("raw_ops/orders") == "raw_ops-orders"
    assert label_value("Daily Full Build") == "daily-full-build"
    assert len(label_value("x" * 100)) == 63
    assert job_labels(component="loader", job="j", asset=None, run_id="R-1") == {
        "component": "loader",
        "dagster_job": "j",
        "dagster_run_id": "r-1",
    }


def test_a_loading_asset_labels_every_job_with_its_job_asset_and_run(
    bigquery_emulator, dataset_suffix, tmp_path
):
    with RecordingProxy(bigquery_emulator.rest_url) as proxy:
        resource = WarehouseResource(
            kind="bigquery",
            gcp_project=bigquery_emulator.project,
            bigquery_dataset_prefix=f"t{dataset_suffix}_",
            bigquery_api_endpoint=proxy.url,
            bigquery_storage_endpoint=bigquery_emulator.grpc_endpoint,
        )

        @dg.asset(key=["raw_ops", "label_probe"])
        def label_probe(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
            table = pa.table({"id": [1, 2], "updated_at": [dt.datetime(2026, 1, 1)] * 2})
            warehouse.get(context).publish(land(tmp_path, table, "b1", name="label_probe"))

        result = dg.materialize([label_probe], resources={"warehouse": resource})
    assert result.success
    labels = proxy.labels()
    assert len(labels) >= 2, "the publish ran its queries through the proxy"
    expected = {
        "component": "loader",
        "dagster_job": "__ephemeral_asset_job__",
        "dagster_asset": "raw_ops-label_probe",
        "dagster_run_id": result.run_id,
    }
    assert all(found == expected for found in labels), labels


@pytest.mark.slow
def test_dbt_jobs_carry_the_query_comment_as_labels(bigquery_emulator, dataset_suffix, monkeypatch):
    with RecordingProxy(bigquery_emulator.rest_url) as proxy:
        env = {**bigquery_emulator.environment(), "BIGQUERY_EMULATOR_HOST": proxy.url}
        env["BIGQUERY_DATASET_PREFIX"] = f"t{dataset_suffix}_"
        env["WAREHOUSE"] = "bigquery"
        settings = load_settings(env)
        project = dbt_project("bigquery-emulator")
        dbt = PharmaDbtCliResource(
            project_dir=project, dbt_executable=dbt_executable(), environment=dbt_env(settings)
        )

        @dg.op
        def run_one_model(context: dg.OpExecutionContext) -> None:
            # Its raw table does not exist in this test's datasets, so the model's query fails
            # on the emulator: the job is sent, labelled, all the same.
            dbt.cli(
                ["run", "--select", "stg_ops__categories"],
                context=context,
                manifest=project.manifest_path,
                raise_on_error=False,
            ).wait()

        @dg.job
        def labelled_dbt():
            run_one_model()

        result = labelled_dbt.execute_in_process()
    assert result.success
    model_jobs = [labels for labels in proxy.labels() if labels.get("dbt_node")]
    assert model_jobs, proxy.labels()
    assert all(
        labels["dagster_asset"] == "staging-stg_ops__categories"
        and labels["dagster_run_id"] == result.run_id
        and labels["dagster_job"] == "labelled_dbt"
        and labels["component"] == "dbt"
        for labels in model_jobs
    ), model_jobs
