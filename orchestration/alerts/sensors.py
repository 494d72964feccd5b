"""The sensors that send alerts: one message per failure, whatever the number of steps or retries.

- ``run_failure_alerts`` (a ``run_failure_sensor``): one message per failed run, sent by the
  run's final attempt only (a run the daemon will retry carries ``dagster/will_retry=true``
  and stays silent). A blocking check that fails with ERROR fails its step, and so the run:
  that message names the failed checks and their reasons instead of the step error.
- ``freshness_breach_alerts``: reads the check evaluations in the event log (from its cursor,
  a storage id) and sends one message when a freshness check goes from passing (or never
  evaluated) to failing; it stays quiet while the same check keeps failing, and speaks again
  only after a passing evaluation. Its first tick starts at the newest evaluation: turning the
  sensor on does not replay old breaches.

Delivery is recorded per alert and channel in the instance's key-value store. A channel that
still fails after its retries fails the freshness sensor's tick, and the next tick sends the
alert to that channel only. Dagster's run-failure sensor does not re-run for a run whose
handling raised: it records the error on the sensor's tick and in the failed run's own event
log ("Error occurred during the execution sensor"), so a dead channel is visible where the
failure is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import dagster as dg

# Not exported by `dagster`: the status of a row of the check-execution table, and the tag the
# run-retry machinery puts on a failed run it will re-execute.
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as CheckStatus
from dagster._core.storage.tags import WILL_RETRY_TAG

from orchestration.alerts.channels import AlertChannels, AlertDeliveryError
from orchestration.alerts.message import Alert, shorten
from orchestration.quality.freshness import FRESHNESS_CHECK_NAME
from orchestration.settings import AlertSettings

RUN_FAILURE_SENSOR = "run_failure_alerts"
FRESHNESS_SENSOR = "freshness_breach_alerts"
RESOURCE_KEY = "alert_channels"
_BATCH = 100  # evaluations read per check and tick
_PLANNED_PATIENCE_S = 3600  # a check still PLANNED after this belongs to a run that died


def send_once(instance: dg.DagsterInstance, channels: AlertChannels, alert: Alert, log) -> tuple[str, ...]:
    """Sends ``alert`` to each configured channel that has not taken it yet."""
    if not channels.configured:
        log.info(f"no alert channel configured; not sent: {alert.subject}")
        return ()
    keys = {name: f"alerts/{alert.dedupe_key}/{name}" for name in channels.configured}
    done = instance.run_storage.get_cursor_values(set(keys.values()))
    skip = frozenset(name for name, key in keys.items() if done.get(key))
    delivered, errors = channels.send(alert, skip=skip)
    if delivered:
        instance.run_storage.set_cursor_values({keys[name]: "sent" for name in delivered})
        log.info(f"alert {alert.dedupe_key} sent to {', '.join(delivered)}")
    if errors:
        raise AlertDeliveryError(f"alert {alert.dedupe_key} not delivered: {'; '.join(errors)}")
    return delivered


def _evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return [
        r.event_log_entry.dagster_event.event_specific_data
        for r in records
        if r.event_log_entry.dagster_event
    ]


def check_reason(evaluation: dg.AssetCheckEvaluation) -> str:
    if evaluation.description:
        return evaluation.description
    summary = {k: v.value for k, v in evaluation.metadata.items() if isinstance(v.value, str | int | float)}
    return ", ".join(f"{k}={v}" for k, v in summary.items()) or "failed"


def _check_name(evaluation: dg.AssetCheckEvaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


def run_failure_alert(
    instance: dg.DagsterInstance, run: dg.DagsterRun, failure: dg.DagsterEvent, run_url: str
) -> Alert:
    failed_checks = [
        e
        for e in _evaluations(instance, run.run_id)
        if not e.passed and e.blocking and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    assets = tuple(sorted(k.to_user_string() for k in run.asset_selection or ()))
    if failed_checks:
        return Alert(
            kind="blocking check failed",
            job=run.job_name,
            assets=tuple(sorted({e.asset_key.to_user_string() for e in failed_checks})),
            checks=tuple(_check_name(e) for e in failed_checks),
            reason=shorten(
                "; ".join(f"{_check_name(e)}: {check_reason(e)}" for e in failed_checks)
                + ". The steps downstream of the check were skipped."
            ),
            run_id=run.run_id,
            run_url=run_url,
            dedupe_key=f"run:{run.run_id}",
        )
    step_failures = instance.get_records_for_run(
        run_id=run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records
    reasons = []
    for record in step_failures:
        event = record.event_log_entry.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        # Dagster wraps the asset's own exception ("Error occurred while executing op ..."): the
        # cause is what a person needs to read.
        while (
            error is not None
            and error.cause is not None
            and error.cls_name == "DagsterExecutionStepExecutionError"
        ):
            error = error.cause
        message = error.message.strip().splitlines()[0] if error and error.message.strip() else "failed"
        reasons.append(f"step {event.step_key if event else '?'}: {message}")
    return Alert(
        kind="run failed",
        job=run.job_name,
        assets=assets,
        reason=shorten("; ".join(reasons) or failure.message or "the run failed"),
        run_id=run.run_id,
        run_url=run_url,
        dedupe_key=f"run:{run.run_id}",
    )


def build_alert_sensors(
    alerts: AlertSettings, *, minimum_interval_seconds: int = 60, monitor_all_code_locations: bool = False
) -> Sequence[dg.SensorDefinition]:
    # Running by default wherever a channel is configured; visible but stopped in the demo.
    status = dg.DefaultSensorStatus.RUNNING if alerts.channels else dg.DefaultSensorStatus.STOPPED

    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=status,
        monitor_all_code_locations=monitor_all_code_locations,
        description="One message per failed run (failed blocking checks named) to the configured channels.",
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext, alert_channels: AlertChannels) -> None:
        run = context.dagster_run
        if run.tags.get(WILL_RETRY_TAG) == "true":
            context.log.info(f"run {run.run_id} will be retried: the final attempt sends the alert")
            return
        alert = run_failure_alert(context.instance, run, context.failure_event, alerts.run_url(run.run_id))
        send_once(context.instance, alert_channels, alert, context.log)

    @dg.sensor(
        name=FRESHNESS_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=status,
        description="One message when a freshness check (expectations/freshness.yml) starts failing.",
    )
    def freshness_breach_alerts(context: dg.SensorEvaluationContext, alert_channels: AlertChannels):
        # Read per check (the check-execution table), not by scanning the event log: that works
        # on every instance storage, the run-sharded SQLite of `make dev` included.
        storage = context.instance.event_log_storage
        check_keys = sorted(
            (
                k
                for k in context.repository_def.asset_graph.asset_check_keys
                if k.name == FRESHNESS_CHECK_NAME
            ),
            key=lambda k: k.to_user_string(),
        )
        state: dict[str, dict] = json.loads(context.cursor) if context.cursor else {}
        sent = 0
        for check_key in check_keys:
            name = check_key.to_user_string()
            history = storage.get_asset_check_execution_history(check_key, limit=_BATCH)
            if name not in state:  # first sight: start here, do not replay an old breach
                latest = history[0] if history else None
                failed = latest is not None and latest.status == CheckStatus.FAILED
                state[name] = {"after": latest.id if latest else 0, "breached": failed}
                continue
            seen = state[name]
            for record in sorted((r for r in history if r.id > seen["after"]), key=lambda r: r.id):
                if record.status == CheckStatus.PLANNED:
                    if time.time() - record.create_timestamp < _PLANNED_PATIENCE_S:
                        break  # still running: read it again next tick
                    seen["after"] = record.id  # its run died without evaluating it
                    continue
                seen["after"] = record.id
                if record.status == CheckStatus.SUCCEEDED:
                    seen["breached"] = False
                if record.status != CheckStatus.FAILED or seen["breached"]:
                    continue  # passed, skipped, or the same breach evaluated again
                evaluation = record.event.dagster_event.event_specific_data if record.event else None
                reason = (
                    check_reason(evaluation) if isinstance(evaluation, dg.AssetCheckEvaluation) else "failed"
                )
                severity = (
                    evaluation.severity.value if isinstance(evaluation, dg.AssetCheckEvaluation) else "?"
                )
                alert = Alert(
                    kind="freshness SLA breached",
                    assets=(check_key.asset_key.to_user_string(),),
                    checks=(f"{check_key.asset_key.to_user_string()}:{check_key.name}",),
                    reason=shorten(f"{reason} (severity {severity})"),
                    run_id=record.run_id,
                    run_url=alerts.run_url(record.run_id),
                    dedupe_key=f"freshness:{name}:{record.id}",
                )
                try:
                    send_once(context.instance, alert_channels, alert, context.log)
                finally:
                    # Delivered channels are recorded by send_once; keep what was read either way.
                    context.update_cursor(json.dumps(state))
                seen["breached"] = True
                sent += 1
        context.update_cursor(json.dumps(state))
        return None if sent else dg.SkipReason("no new freshness breach")

    return [run_failure_alerts, freshness_breach_alerts]


def definitions(alerts: AlertSettings) -> dg.Definitions:
    return dg.Definitions(
        sensors=build_alert_sensors(alerts),
        resources={RESOURCE_KEY: AlertChannels.from_settings(alerts)},
    )
