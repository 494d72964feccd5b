"""Marketo in the code location: assets, pool, partitions, job and schedule, resource errors."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.resources.dbt import prepare_manifest
from orchestration.resources.marketo import MarketoNotConfigured, MarketoResource
from orchestration.settings import load_settings

MARKETO_KEYS = {
    dg.AssetKey(["raw_marketo", t]) for t in ("leads", "activities", "programs", "activity_types")
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    prepare_manifest(load_settings({}))
    from orchestration.definitions import build_definitions

    with pytest.MonkeyPatch.context() as mp:
        for name in ("MARKETO_BASE_URL", "MARKETO_CLIENT_ID", "MARKETO_CLIENT_SECRET"):
            mp.delenv(name, raising=False)
        return build_definitions(load_settings({}))


def test_definitions_load_without_marketo_variables(defs):
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) >= MARKETO_KEYS
    for key in MARKETO_KEYS:
        assert graph.get(key).group_name == "marketo"


def test_activities_are_daily_partitions_backfilled_in_one_run(defs):
    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw_marketo", "activities"]))
    assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
    assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_marketo_assets_share_one_pool(defs):
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and set(a.keys) & MARKETO_KEYS]
    pools = {a.op.pool for a in assets}
    # Not the DuckDB writer pool: a Marketo run mostly waits on the API and must not hold
    # back the operational runs meanwhile (its writes take the warehouse file lock).
    assert pools == {"marketo_api"}


def test_marketing_models_read_the_marketo_assets(defs):
    graph = defs.resolve_asset_graph()
    fact = dg.AssetKey(["marts", "fact_marketing_activities"])
    ancestors, frontier = set(), {fact}
    while frontier:
        for parent in graph.get(frontier.pop()).parent_keys:
            if parent not in ancestors:
                ancestors.add(parent)
                frontier.add(parent)
    assert {dg.AssetKey(["raw_marketo", "activities"]), dg.AssetKey(["raw_marketo", "leads"])} <= ancestors
    assert (
        dg.AssetKey(["intermediate", "int_customer_marketing_engagement"])
        in graph.get(dg.AssetKey(["marts", "customer_360"])).parent_keys
    )


def test_jobs_resolve_and_marketo_has_its_own_schedule(defs):
    marketo = defs.resolve_job_def("marketo_daily")
    assert marketo.partitions_def is not None
    for name in ("daily_full_build", "hourly_incremental"):
        job = defs.resolve_job_def(name)
        assert not MARKETO_KEYS & set(job.asset_layer.executable_asset_keys)
    schedule = next(s for s in defs.schedules if s.name == "marketo_daily_schedule")
    assert schedule.job_name == "marketo_daily"


def test_missing_marketo_variables_fail_with_their_names():
    resource = MarketoResource(base_url="https://123-abc-456.mktorest.com")
    with pytest.raises(MarketoNotConfigured, match="MARKETO_CLIENT_ID, MARKETO_CLIENT_SECRET"):
        resource.client()


def test_the_secret_stays_out_of_the_client_repr_and_the_ui(monkeypatch):
    monkeypatch.setenv("MARKETO_BASE_URL", "https://123-abc-456.mktorest.com")
    monkeypatch.setenv("MARKETO_CLIENT_ID", "client")
    monkeypatch.setenv("MARKETO_CLIENT_SECRET", "s3cr3t-value")
    resource = MarketoResource.from_env()
    assert "s3cr3t-value" not in repr(resource)  # an EnvVar: the UI shows the variable's name
    assert "s3cr3t-value" not in repr(resource.client())
