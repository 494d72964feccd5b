"""The one Definitions object of the code location.

Each domain module contributes its own ``definitions(settings)`` (assets, checks,
jobs, schedules, sensors); resources and the executor are set here once.
"""

import dagster as dg

from orchestration.alerts import sensors as alerts
from orchestration.assets import bigquery_costs, completeness, lifecycle, marketo, operational_db, quality
from orchestration.assets import dbt as dbt_domain
from orchestration.jobs import definitions as job_definitions
from orchestration.resources.dbt import dbt_resource
from orchestration.resources.marketo import MarketoResource
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import (
    AlertSettings,
    Settings,
    default_ops_database_url,
    load_alert_settings,
    load_settings,
)


def _ops_url(at_load: Settings) -> str | dg.EnvVar:
    # EnvVar keeps a password in the URL out of Settings, run config and the UI.
    return dg.EnvVar("OPS_DATABASE_URL") if at_load.ops_database_url_set else default_ops_database_url()


def build_definitions(
    settings: Settings | None = None, alert_settings: AlertSettings | None = None
) -> dg.Definitions:
    """The code location's Definitions.

    ``settings`` shapes the assets, the warehouse and dbt (a test passes its own). The two
    sources' connections are wired from the environment as it is when the definitions are
    built (the code location loads), read through ``load_settings()`` then: OPS_DATABASE_URL
    and MARKETO_* become ``dg.EnvVar`` where set (resolved when a run starts, so a secret never
    reaches a resource as a value, nor run config or the UI), the embedded default where not. The
    demo and the tests start the Marketo sandbox, or set OPS_DATABASE_URL, after building
    their ``settings``: deciding from those would leave Marketo unconfigured.
    """
    at_load = load_settings()
    settings = settings or at_load
    alert_settings = alert_settings or load_alert_settings()
    domains = [
        operational_db.definitions(settings),
        marketo.definitions(settings),
        dbt_domain.definitions(settings),
        lifecycle.definitions(settings),
        completeness.definitions(settings),
        bigquery_costs.definitions(settings),
        job_definitions(settings),
    ]
    return dg.Definitions.merge(
        *domains,
        quality.definitions(settings, guarded=domains),  # checks for the assets defined above
        alerts.definitions(alert_settings),  # run failures, failed blocking checks, freshness breaches
        dg.Definitions(
            resources={
                "ops_db": OperationalDatabaseResource(
                    url=_ops_url(at_load),
                    clock_tolerance_seconds=settings.mark_clock_tolerance_s,
                    mark_hold_warn_seconds=settings.mark_hold_warn_s,
                    cdc_slot_prefix=settings.cdc_slot_prefix,
                    cdc_max_changes=settings.cdc_max_changes,
                    cdc_slot_lag_max_bytes=settings.cdc_slot_lag_max_bytes,
                    cdc_binlog_server_id=settings.cdc_binlog_server_id,
                ),
                "warehouse": WarehouseResource.from_settings(settings),
                "dbt": dbt_resource(settings),
                "marketo": MarketoResource.from_settings(at_load),
            },
            # DuckDB has a single writer: run steps one after another in the run's process.
            executor=dg.in_process_executor if settings.warehouse == "duckdb" else dg.multiprocess_executor,
        ),
    )


defs = build_definitions()
