"""Bad operations settings fail at start, naming the variable and never echoing a secret."""

from __future__ import annotations

import pytest

from orchestration.alerts.message import scrub
from orchestration.settings import SettingsError, load_alert_settings, load_instance_database_settings


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DAGSTER_UI_BASE_URL": "dagster.internal:3000"}, "DAGSTER_UI_BASE_URL"),
        ({"ALERT_TEAMS_WEBHOOK_URL": "outlook.office.com/webhook/abc"}, "ALERT_TEAMS_WEBHOOK_URL"),
        ({"ALERT_TEAMS_WEBHOOK_URL": "https:///no-host"}, "ALERT_TEAMS_WEBHOOK_URL"),
        ({"ALERT_SLACK_API_URL": "ftp://slack.com/api"}, "ALERT_SLACK_API_URL"),
        ({"ALERT_SLACK_TOKEN": "xoxb-1"}, "ALERT_SLACK_CHANNEL"),
        ({"ALERT_SMTP_HOST": "smtp://mail.example.com"}, "ALERT_SMTP_HOST"),
        ({"ALERT_SMTP_HOST": "mail.example.com", "ALERT_EMAIL_TO": "a@x"}, "ALERT_EMAIL_FROM"),
        ({"ALERT_SMTP_HOST": "mail.example.com", "ALERT_EMAIL_FROM": "d@x"}, "ALERT_EMAIL_TO"),
        (
            {"ALERT_SMTP_HOST": "mail.example.com", "ALERT_EMAIL_FROM": "d@x", "ALERT_EMAIL_TO": "ops"},
            "ALERT_EMAIL_TO",
        ),
        ({"ALERT_SMTP_PORT": "smtp"}, "ALERT_SMTP_PORT"),
        ({"ALERT_SMTP_STARTTLS": "maybe"}, "ALERT_SMTP_STARTTLS"),
    ],
)
def test_a_malformed_alert_setting_names_its_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        load_alert_settings(env)


def test_a_malformed_webhook_url_is_not_repeated_in_the_error():
    with pytest.raises(SettingsError) as info:
        load_alert_settings({"ALERT_TEAMS_WEBHOOK_URL": "not-a-url/SIGNATURE-SECRET"})
    assert "SIGNATURE-SECRET" not in str(info.value)


def test_no_channel_by_default_and_links_use_the_ui_base_url():
    alerts = load_alert_settings({})
    assert alerts.channels == ()
    assert alerts.run_url("abc") == "http://127.0.0.1:3000/runs/abc"
    alerts = load_alert_settings({"DAGSTER_UI_BASE_URL": "https://dagster.example.com/"})
    assert alerts.run_url("abc") == "https://dagster.example.com/runs/abc"


def test_the_instance_database_settings_name_what_is_missing():
    with pytest.raises(SettingsError, match="DAGSTER_PG_HOST, DAGSTER_PG_USER, DAGSTER_PG_DB"):
        load_instance_database_settings({})
    with pytest.raises(SettingsError, match="DAGSTER_PG_PORT"):
        load_instance_database_settings(
            {"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USER": "u", "DAGSTER_PG_DB": "d", "DAGSTER_PG_PORT": "x"}
        )


def test_scrub_removes_secret_values_and_url_passwords():
    text = "postgresql://app:pw-123@db/ops failed; token xoxb-999; mysql+pymysql://root:r00t@h/x"
    scrubbed = scrub(text, ["xoxb-999"])
    assert scrubbed == "postgresql://app:***@db/ops failed; token ***; mysql+pymysql://root:***@h/x"


def test_preflight_names_the_unreachable_instance_database_and_hides_its_password(tmp_path):
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "1",  # nothing listens there
        "DAGSTER_PG_USER": "dagster",
        "DAGSTER_PG_PASSWORD": "PG-SECRET-PASSWORD-9",
        "DAGSTER_PG_DB": "dagster",
    }
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.preflight"], cwd=root, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "instance database is unreachable" in result.stderr
    assert "DAGSTER_PG_HOST=127.0.0.1 DAGSTER_PG_PORT=1" in result.stderr
    assert "PG-SECRET-PASSWORD-9" not in result.stdout + result.stderr


def test_preflight_names_a_malformed_alert_url(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "ALERT_TEAMS_WEBHOOK_URL": "hooks/SECRET-SIG"}
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.preflight"], cwd=Path(__file__).resolve().parents[2],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "ALERT_TEAMS_WEBHOOK_URL must be an http(s) URL" in result.stderr
    assert "SECRET-SIG" not in result.stderr
