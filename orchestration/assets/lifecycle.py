"""Data lifecycle: hard-delete detection, retention enforcement, forgetting a data subject.

* ``raw_ops/_deleted_keys`` (group ``operational_db``): key reconciliation after every
  extraction; dbt staging reads it to flag hard-deleted rows.
* ``retention_enforcement`` (group ``governance``), daily: deletes what is out of the
  retention windows (sources file and ``orchestration.lifecycle.retention``).
* ``forget_data_subject`` job: anonymises one data subject everywhere (LGPD).
"""

import datetime as dt

import dagster as dg

from orchestration.assets.operational_db import GROUP as OPS_GROUP
from orchestration.assets.operational_db import RAW_SCHEMA, WAREHOUSE_POOL, raw_asset_key
from orchestration.lifecycle import deletes, forget, retention
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import Settings
from orchestration.sources import Sources, load_sources
from orchestration.warehouse.sql import WarehouseSql

GOVERNANCE_GROUP = "governance"


def _sql(
    warehouse: WarehouseResource, context: dg.AssetExecutionContext | dg.OpExecutionContext
) -> WarehouseSql:
    return warehouse.get(context, component="lifecycle").sql()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class KeyReconciliationConfig(dg.Config):
    # Refuse to record more than this fraction of a table's keys as deleted in one run.
    max_deleted_fraction: float = 0.5


def build_deleted_keys(sources: Sources) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(deletes.DELETED_KEYS),
        group_name=OPS_GROUP,
        deps=[raw_asset_key(name) for name in sources.names],
        description=(
            "Hard deletes found by key reconciliation: every primary key of each source table is "
            "streamed and compared with the live keys of its raw table; keys gone from the source are "
            "recorded here (table_name, id, detected_at, batch_id). Staging marks them `is_hard_deleted`."
        ),
        kinds={"sql", "python"},
        owners=["team:data-engineering"],
        tags={"layer": "raw", "source": "operational_db"},
        pool=WAREHOUSE_POOL,
    )
    def deleted_keys(
        context: dg.AssetExecutionContext,
        config: KeyReconciliationConfig,
        ops_db: OperationalDatabaseResource,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        sql = _sql(warehouse, context)
        raw_schema = RAW_SCHEMA
        deletes.ensure_deleted_keys_table(sql, raw_schema)
        detected_at = _utcnow()
        metadata: dict[str, object] = {}
        total = 0
        # A table in mode cdc takes its deletes from its delete events (orchestration/cdc/).
        for table in (t for t in sources if t.mode == "cursor"):
            result = deletes.reconcile_table(
                ops_db.engine,
                sql,
                table=table.name,
                raw_schema=raw_schema,
                batch_id=f"{context.run_id}:{deletes.DELETED_KEYS}",
                detected_at=detected_at,
                max_deleted_fraction=config.max_deleted_fraction,
                key_column=table.primary_key,
            )
            metadata[f"deleted_{table.name}"] = result.deleted
            total += result.deleted
            if result.deleted:
                context.log.info(
                    f"{table.name}: {result.deleted} keys deleted in the source since the last run"
                )
        metadata["deleted_total"] = total
        return dg.MaterializeResult(metadata=metadata)

    return deleted_keys


class RetentionConfig(dg.Config):
    # Enforce as if it were this instant (ISO date or timestamp, UTC); unset = now.
    as_of: str | None = None


@dg.asset(
    key=dg.AssetKey(["governance", "retention_enforcement"]),
    group_name=GOVERNANCE_GROUP,
    description=(
        "Deletes rows that are out of their retention window (declared in orchestration/sources.yml "
        "for the source tables, in orchestration/lifecycle/retention.py for the rest) and reports "
        "the counts per table."
    ),
    kinds={"python", "sql"},
    owners=["team:data-engineering"],
    tags={"layer": "governance"},
    pool=WAREHOUSE_POOL,
)
def retention_enforcement(
    context: dg.AssetExecutionContext, config: RetentionConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    as_of = dt.datetime.fromisoformat(config.as_of) if config.as_of else _utcnow()
    outcomes = retention.enforce(_sql(warehouse, context), as_of)
    metadata: dict[str, object] = {"as_of": as_of.isoformat(sep=" ")}
    for o in outcomes:
        metadata[f"{o.rule.kind}:{o.rule.name}"] = o.skipped or o.rows_deleted
    metadata["rows_deleted"] = sum(o.rows_deleted for o in outcomes)
    context.log.info(f"retention as of {as_of}: {metadata['rows_deleted']} rows deleted")
    return dg.MaterializeResult(metadata=metadata)


retention_job = dg.define_asset_job(
    name="retention_enforcement",
    selection=dg.AssetSelection.assets(retention_enforcement),
    description="Delete what is out of retention (daily).",
)

retention_schedule = dg.ScheduleDefinition(
    job=retention_job,
    cron_schedule="0 4 * * *",
    execution_timezone="America/Sao_Paulo",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)


class ForgetConfig(dg.Config):
    customer_id: int | None = None
    # Prefer email_sha256 (SHA-256 of the trimmed, lower-cased address): run config is kept
    # in Dagster's run storage, and a clear e-mail there would outlive the erasure.
    email_sha256: str | None = None
    email: str | None = None
    request_id: str | None = None


@dg.op(pool=WAREHOUSE_POOL, tags={"kind": "governance"}, out=dg.Out(int))
def forget_subject_op(context: dg.OpExecutionContext, config: ForgetConfig, warehouse: WarehouseResource):
    outcome = forget.forget_subject(
        _sql(warehouse, context),
        customer_id=config.customer_id,
        email=config.email,
        email_sha256=config.email_sha256,
        request_id=config.request_id,
    )
    # Only the subject's hash and counts are logged, never a clear value.
    context.log.info(
        f"request {outcome.request_id} (subject {outcome.subject_hash[:12]}): "
        f"{outcome.rows_affected} rows anonymised or deleted"
    )
    return dg.Output(
        outcome.rows_affected,
        metadata={
            "request_id": outcome.request_id,
            "subject_hash": outcome.subject_hash,
            "rows_affected": outcome.rows_affected,
            **{f"rows:{t}": n for t, n in outcome.rows_by_table.items()},
        },
    )


@dg.job(
    name="forget_data_subject",
    description=(
        "LGPD erasure: anonymise one data subject (config: customer_id and/or email) in raw, "
        "snapshots and marts, delete their Marketo leads and activities, and record the request "
        "in audit.data_subject_requests."
    ),
    executor_def=dg.in_process_executor,
)
def forget_data_subject() -> None:
    forget_subject_op()


def definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=[build_deleted_keys(load_sources(settings.sources_file)), retention_enforcement],
        jobs=[retention_job, forget_data_subject],
        schedules=[retention_schedule],
    )
