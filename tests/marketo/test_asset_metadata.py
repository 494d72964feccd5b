"""The raw_marketo/activities asset reports what it did: windows, export job ids, bytes, API calls.

Materialized in process for a partition range against the sandbox, into a temporary DuckDB file.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from orchestration.assets import marketo as marketo_assets
from orchestration.resources.marketo import MarketoResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import load_settings
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

from .conftest import FAST, expected_activity_guids, utc


@pytest.fixture
def activities_asset(tmp_path, monkeypatch) -> dg.AssetsDefinition:
    monkeypatch.setattr(marketo_assets, "DATA_DIR", tmp_path)  # Parquet landing files stay in tmp
    settings = load_settings({"WAREHOUSE": "duckdb", "DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    assets = marketo_assets.build_assets(settings)
    return next(a for a in assets if marketo_assets.ACTIVITIES in a.keys)


def test_activities_metadata_carries_the_sandbox_job_ids_bytes_and_calls(sandbox, activities_asset, tmp_path):
    last = (sandbox.data.end - timedelta(days=5)).date()
    first = last - timedelta(days=39)  # 40 daily partitions: windows of 31 and 9 days
    marketo = MarketoResource(
        base_url=sandbox.url,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        poll_interval_s=FAST["poll_interval_s"],
        backoff_base_s=FAST["backoff_base_s"],
        backoff_max_s=FAST["backoff_max_s"],
    )
    warehouse = WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "w.duckdb"))
    # Marketo lands like every source: a killed run's files are swept, published ones deleted.
    landing = tmp_path / "landing" / "raw_marketo" / "activities"
    landing.mkdir(parents=True)
    (landing / "killed-run.parquet.partial").write_bytes(b"half a file")
    result = dg.materialize(
        [activities_asset],
        resources={"marketo": marketo, "warehouse": warehouse},
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    assert result.success
    assert list(landing.iterdir()) == []
    events = result.get_asset_materialization_events()
    # One materialization per daily partition of the range, all with the run's metadata.
    assert sorted(e.event_specific_data.materialization.partition for e in events) == [
        (first + timedelta(days=i)).isoformat() for i in range(40)
    ]
    metas = [{k: v.value for k, v in e.event_specific_data.materialization.metadata.items()} for e in events]
    meta = metas[0]
    assert all(m == meta for m in metas)

    jobs = sorted(sandbox.sandbox.jobs.values(), key=lambda job: job.order)
    assert [job.status for job in jobs] == ["Completed", "Completed"]
    assert meta["export_ids"] == [job.export_id for job in jobs]
    assert meta["bytes_downloaded"] == sum(len(job.file) for job in jobs)
    assert meta["bytes_downloaded"] == sandbox.stats.export_bytes_used > 0
    assert sandbox.stats.downloads == 2 and sandbox.stats.range_downloads == 0
    start, end = utc(first.isoformat()), utc(last.isoformat()) + timedelta(days=1)
    assert meta["windows"] == 2
    assert meta["window_list"] == [
        f"{first}T00:00:00Z/{first + timedelta(days=31)}T00:00:00Z",
        f"{first + timedelta(days=31)}T00:00:00Z/{end.date()}T00:00:00Z",
    ]
    expected = expected_activity_guids(sandbox.data, start, end)
    assert meta["rows_landed"] == meta["rows_inserted"] == len(expected)
    assert meta["api_calls_used"] == sandbox.stats.counted_calls  # identity calls excluded on both sides
    assert meta["api_calls_sent"] == sandbox.stats.api_calls
    assert meta["partition_range"] == f"{first}..{last}"
    with DuckDBWarehouse(tmp_path / "w.duckdb").connect(read_only=True) as con:
        guids = {r[0] for r in con.execute("select marketoGUID from raw_marketo.activities").fetchall()}
    assert guids == expected
