"""BigQuery cost per asset and day, from the job labels (warehouse/bigquery_labels.py).

Every query job of the loader, the quality checks, the lifecycle jobs and dbt carries a
``dagster_asset`` label; ``INFORMATION_SCHEMA.JOBS`` (the project's jobs in one region)
gives each job's bytes billed. Only top-level jobs are summed: a script's bytes billed
already include its child statements'. Reading JOBS needs ``bigquery.jobs.listAll`` on the
project (roles/bigquery.resourceViewer), see docs/operations.md, "Cost attribution".
The BigQuery emulator has no INFORMATION_SCHEMA.JOBS (nor keeps labels): this asset
runs on real BigQuery only, and on the emulator it fails saying so.
"""

import dagster as dg

from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import Settings
from orchestration.warehouse.bigquery_labels import LABEL_ASSET

COSTS_KEY = dg.AssetKey(["governance", "bigquery_costs"])
# Its own daily job, out of daily_full_build: a cost report failing (a missing IAM role)
# must not fail the build, and the build's own jobs are then in the report.
COSTS_TAG = {"report": "bigquery_costs"}
TIB = 1024**4


class CostsConfig(dg.Config):
    days: int = 7  # the days reported, today included (UTC)
    usd_per_tib: float = 6.25  # on-demand list price; set yours for an estimate in the report


def costs_sql(project: str, location: str, days: int) -> str:
    """Bytes billed per Dagster asset and day over the last ``days`` days."""
    if days < 1:
        raise ValueError(f"bigquery_costs: days={days} must be 1 or more")
    asset = f"(select value from unnest(labels) where key = '{LABEL_ASSET}')"
    return f"""
select {asset} as asset, date(creation_time) as day,
  sum(coalesce(total_bytes_billed, 0)) as bytes_billed, count(*) as jobs
from `{project}`.`region-{location.lower()}`.INFORMATION_SCHEMA.JOBS
where creation_time >= timestamp(date_sub(current_date(), interval {days - 1} day))
  and parent_job_id is null
  and {asset} is not null
group by asset, day
order by day, asset
"""


def build_costs_asset(settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        key=COSTS_KEY,
        group_name="governance",
        owners=["team:data-engineering"],
        kinds={"bigquery"},
        tags=COSTS_TAG,
        description=(
            "Bytes billed per asset and day, from INFORMATION_SCHEMA.JOBS by the dagster_asset job "
            "label (needs roles/bigquery.resourceViewer on the project)."
        ),
    )
    def bigquery_costs(
        context: dg.AssetExecutionContext, config: CostsConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        if settings.uses_bigquery_emulator:
            raise dg.Failure(
                "bigquery_costs reads INFORMATION_SCHEMA.JOBS, which the BigQuery emulator does not have "
                "(it keeps no job labels either); it runs on real BigQuery only"
            )
        sql = warehouse.get(context, component="costs").sql()
        rows = sql.rows(costs_sql(settings.gcp_project or "", settings.bigquery_location, config.days))
        total = sum(r[2] for r in rows)
        table = "\n".join(
            f"| {asset} | {day} | {billed:,} | {billed / TIB * config.usd_per_tib:.4f} | {jobs} |"
            for asset, day, billed, jobs in rows
        )
        return dg.MaterializeResult(
            metadata={
                "bytes_billed": total,
                "estimated_usd": round(total / TIB * config.usd_per_tib, 4),
                "by_asset_and_day": dg.MetadataValue.md(
                    "| asset | day | bytes billed | est. USD | jobs |\n|---|---|---:|---:|---:|\n" + table
                ),
            }
        )

    return bigquery_costs


def definitions(settings: Settings) -> dg.Definitions:
    if settings.warehouse != "bigquery":
        return dg.Definitions()
    job = dg.define_asset_job("bigquery_costs_daily", selection=dg.AssetSelection.assets(COSTS_KEY))
    schedule = dg.ScheduleDefinition(
        job=job,
        cron_schedule="0 7 * * *",
        execution_timezone="America/Sao_Paulo",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(assets=[build_costs_asset(settings)], jobs=[job], schedules=[schedule])
