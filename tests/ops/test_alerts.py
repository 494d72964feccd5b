"""Alerts end to end: real runs fail, the real sensors evaluate against the instance, and the
real clients (dagster-slack, dagster-msteams, smtplib) post to local stand-ins.

Asserted on what the stand-ins received: exactly one message per failure on each channel,
naming the job or asset, the check, the reason and the run's link, and no secret.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings

import dagster as dg
import pytest

from orchestration.alerts.channels import AlertChannels
from orchestration.alerts.sensors import (
    FRESHNESS_SENSOR,
    RESOURCE_KEY,
    RUN_FAILURE_SENSOR,
    build_alert_sensors,
)
from orchestration.settings import load_alert_settings
from tests.ops.standins import SmtpStandIn, WebhookStandIn

SLACK_TOKEN = "xoxb-SLACK-SECRET-0001"
TEAMS_SIGNATURE = "TEAMS-SECRET-SIGNATURE-0002"
SMTP_PASSWORD = "SMTP-SECRET-PASSWORD-0003"
DB_PASSWORD = "DB-SECRET-PASSWORD-0004"
SECRETS = (SLACK_TOKEN, TEAMS_SIGNATURE, SMTP_PASSWORD, DB_PASSWORD)
UI = "http://dagster.internal.example:3000"


@dg.asset
def customers_extract() -> None:
    # An error quoting a connection URL with its password, and a configured secret.
    raise RuntimeError(
        f"could not connect to postgresql://loader:{DB_PASSWORD}@ops-db:5432/ops (token {SLACK_TOKEN})"
    )


@dg.asset
def orders_raw() -> int:
    return 3


@dg.asset_check(asset=orders_raw, blocking=True)
def no_negative_totals() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="2 orders have a negative total",
    )


@dg.asset(deps=[orders_raw])
def orders_mart() -> None:
    pass


@dg.asset
def inventory_raw() -> None:
    pass


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    FRESHNESS = dg.build_last_update_freshness_checks(
        assets=[inventory_raw],
        lower_bound_delta=dt.timedelta(seconds=2),
        severity=dg.AssetCheckSeverity.ERROR,
    )

extract_job = dg.define_asset_job("customers_load", selection=[customers_extract])
checked_job = dg.define_asset_job("orders_load", selection=[orders_raw, orders_mart])
inventory_job = dg.define_asset_job("inventory_load", selection=[inventory_raw])
freshness_job = dg.define_asset_job("freshness_checks", selection=dg.AssetSelection.checks(*FRESHNESS))


@pytest.fixture
def channels(monkeypatch):
    with WebhookStandIn() as web, SmtpStandIn("alerts", SMTP_PASSWORD) as smtp:
        env = {
            "DAGSTER_UI_BASE_URL": UI,
            "ALERT_SLACK_TOKEN": SLACK_TOKEN,
            "ALERT_SLACK_CHANNEL": "#data-alerts",
            "ALERT_SLACK_API_URL": f"{web.url}/slack/api/",
            "ALERT_TEAMS_WEBHOOK_URL": f"{web.url}/teams/webhookb2/{TEAMS_SIGNATURE}",
            "ALERT_SMTP_HOST": "127.0.0.1",
            "ALERT_SMTP_PORT": str(smtp.port),
            "ALERT_SMTP_USER": "alerts",
            "ALERT_SMTP_PASSWORD": SMTP_PASSWORD,
            "ALERT_SMTP_STARTTLS": "false",
            "ALERT_EMAIL_FROM": "dagster@distribuidora.example",
            "ALERT_EMAIL_TO": "dados@distribuidora.example, plantao@distribuidora.example",
            "OPS_DATABASE_URL": f"postgresql+psycopg://loader:{DB_PASSWORD}@ops-db:5432/ops",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield web, smtp


@pytest.fixture
def defs(channels):
    alerts = load_alert_settings()
    assert alerts.channels == ("slack", "teams", "email")
    return dg.Definitions(
        assets=[customers_extract, orders_raw, orders_mart, inventory_raw],
        asset_checks=[no_negative_totals, *FRESHNESS],
        jobs=[extract_job, checked_job, inventory_job, freshness_job],
        sensors=build_alert_sensors(alerts, minimum_interval_seconds=1),
        resources={RESOURCE_KEY: AlertChannels.from_settings(alerts)},
    )


class SensorDriver:
    """Evaluates one sensor tick after another, carrying the cursor like the daemon does."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, name: str):
        self.defs, self.instance, self.cursor = defs, instance, None
        self.resources = dict(defs.resources or {})
        self.sensor = next(s for s in defs.sensors if s.name == name)

    def tick(self):
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            definitions=self.defs,
            sensor_name=self.sensor.name,
            resources=self.resources,
        )
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        return result


def run(defs, instance, job_name: str) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)


def all_texts(web: WebhookStandIn, smtp: SmtpStandIn) -> list[str]:
    return [r.body for r in web.requests] + [m.get_content() + str(m.items()) for m in smtp.messages]


def assert_no_secret(web: WebhookStandIn, smtp: SmtpStandIn) -> None:
    for text in all_texts(web, smtp):
        for secret in SECRETS:
            assert secret not in text


def slack_text(received) -> str:
    return received.json()["text"]


def teams_text(received) -> str:
    body = received.json()["attachments"][0]["content"]["body"]
    return "\n".join(block["text"] for block in body)


def test_a_failed_run_sends_one_message_per_channel_naming_the_job_reason_and_run(defs, channels):
    web, smtp = channels
    with dg.instance_for_test() as instance:
        sensor = SensorDriver(defs, instance, RUN_FAILURE_SENSOR)
        sensor.tick()  # the first tick sets the cursor
        failed = run(defs, instance, "customers_load")
        assert not failed.success
        for _ in range(3):  # more ticks: still one message
            sensor.tick()

    assert len(web.slack()) == 1 and len(web.teams()) == 1 and len(smtp.messages) == 1
    slack = web.slack()[0]
    assert slack.path == "/slack/api/chat.postMessage"
    assert slack.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"  # the token authenticates, never shows
    assert slack.json()["channel"] == "#data-alerts"
    run_url = f"{UI}/runs/{failed.run_id}"
    for text in (slack_text(slack), teams_text(web.teams()[0]), smtp.messages[0].get_content()):
        assert "run failed" in text
        assert "customers_load" in text
        assert "could not connect to postgresql://loader:***@ops-db" in text
        assert run_url in text
    mail = smtp.messages[0]
    assert mail["Subject"] == "[Dagster] run failed: job customers_load"
    assert mail["To"] == "dados@distribuidora.example, plantao@distribuidora.example"
    assert smtp.logins == ["alerts"]
    # The Slack request's body carries no token; only its Authorization header does.
    slack_and_teams = [r.body for r in web.requests]
    assert all(SLACK_TOKEN not in b and TEAMS_SIGNATURE not in b for b in slack_and_teams)
    assert_no_secret(web, smtp)


def test_a_failed_blocking_check_sends_one_message_naming_asset_check_and_reason(defs, channels):
    web, smtp = channels
    with dg.instance_for_test() as instance:
        sensor = SensorDriver(defs, instance, RUN_FAILURE_SENSOR)
        sensor.tick()
        result = run(defs, instance, "orders_load")
        assert not result.success
        assert not result.asset_materializations_for_node("orders_mart")  # skipped behind the check
        sensor.tick()
        sensor.tick()

    assert len(web.slack()) == len(web.teams()) == len(smtp.messages) == 1
    for text in (slack_text(web.slack()[0]), teams_text(web.teams()[0]), smtp.messages[0].get_content()):
        assert "blocking check failed" in text
        assert "orders_raw:no_negative_totals" in text
        assert "2 orders have a negative total" in text
        assert f"{UI}/runs/{result.run_id}" in text
        assert "orders_load" in text
    assert_no_secret(web, smtp)


def test_a_breached_freshness_sla_sends_one_message_until_it_recovers(defs, channels):
    web, smtp = channels
    with dg.instance_for_test() as instance:
        sensor = SensorDriver(defs, instance, FRESHNESS_SENSOR)
        sensor.tick()  # starts at the newest evaluation
        assert run(defs, instance, "inventory_load").success
        assert run(defs, instance, "freshness_checks").success  # fresh: passes
        sensor.tick()
        assert web.requests == [] and smtp.messages == []

        time.sleep(2.5)
        breach = run(defs, instance, "freshness_checks")
        run(defs, instance, "freshness_checks")  # evaluated again: the same breach
        sensor.tick()
        sensor.tick()
        assert len(web.slack()) == len(web.teams()) == len(smtp.messages) == 1
        for text in (slack_text(web.slack()[0]), teams_text(web.teams()[0]), smtp.messages[0].get_content()):
            assert "freshness SLA breached" in text
            assert "inventory_raw:freshness_check" in text
            assert "Reason: " in text and "severity ERROR" in text
            assert "The last update was" in text  # the lag, in Dagster's words
            assert f"{UI}/runs/{breach.run_id}" in text

        # Fresh again, then stale again: a new breach, a second message.
        assert run(defs, instance, "inventory_load").success
        run(defs, instance, "freshness_checks")
        sensor.tick()
        time.sleep(2.5)
        run(defs, instance, "freshness_checks")
        sensor.tick()
    assert len(web.slack()) == len(web.teams()) == len(smtp.messages) == 2
    assert_no_secret(web, smtp)


def test_a_channel_that_is_down_does_not_silence_the_others_and_is_reported_without_secrets(
    defs, channels, monkeypatch
):
    web, smtp = channels
    with dg.instance_for_test() as instance:
        sensor = SensorDriver(defs, instance, RUN_FAILURE_SENSOR)
        sensor.tick()
        run(defs, instance, "customers_load")
        working = sensor.resources[RESOURCE_KEY]
        monkeypatch.setenv("ALERT_SMTP_PORT", "1")  # nothing listens there: the mail server is down
        sensor.resources[RESOURCE_KEY] = AlertChannels.from_settings(load_alert_settings())
        result = sensor.tick()  # the mail server is down
        (reaction,) = result.dagster_run_reactions
        error = reaction.error.to_string()
        assert "not delivered: email" in error
        assert all(secret not in error for secret in SECRETS)
        assert len(web.slack()) == 1 and len(web.teams()) == 1 and smtp.messages == []
        sensor.resources[RESOURCE_KEY] = working
        sensor.tick()  # the same failure is not sent again
    assert len(web.slack()) == 1 and len(web.teams()) == 1 and smtp.messages == []
