"""A defect in what Marketo serves stops the Marketo run at the raw check, before dbt.

The sandbox's own data is damaged (one activity of the extracted week gets a lead id that
is not a Marketo id), then the real ``marketo_daily`` job runs with the dbt models
downstream of Marketo. The activities suite must fail blocking, naming the column and the
activity, and the dbt step must never start.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from orchestration.demo.marketo_extract import extract_marketo
from orchestration.demo.marketo_sandbox import SandboxConfig, SandboxData, start_sandbox
from orchestration.demo.marketo_sandbox.launch import sandbox_variables
from orchestration.marketo.bulk import parse_ts
from orchestration.quality import CHECK_NAME
from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import load_settings
from tests.quality.conftest import MARKETO_DAYS, MARKETO_END

pytestmark = pytest.mark.slow


def test_a_bad_lead_id_from_marketo_fails_the_activities_check_and_skips_dbt(tmp_path, monkeypatch):
    data = SandboxData.build(42, MARKETO_END)
    first = dt.datetime.combine(MARKETO_DAYS[0], dt.time(), dt.UTC)
    bad = next(a for a in data.activities if parse_ts(a["activityDate"]) >= first + dt.timedelta(days=1))
    bad["leadId"] = "lead-7"  # Marketo lead ids are integers
    settings = load_settings({"WAREHOUSE": "duckdb", "DUCKDB_PATH": str(tmp_path / "warehouse.duckdb")})
    prepare_manifest(settings)
    with start_sandbox(data=data, config=SandboxConfig(rate_limit_calls=1_000_000)) as handle:
        for name, value in sandbox_variables(handle, data).items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
        result = extract_marketo(settings, *MARKETO_DAYS, with_dbt=True, run_config=quiet)

    assert not result.success
    evaluations = {
        e.asset_key.to_user_string(): e
        for e in result.get_asset_check_evaluations()
        if e.check_name == CHECK_NAME
    }
    activities = evaluations["raw_marketo/activities"]
    assert not activities.passed and activities.severity == dg.AssetCheckSeverity.ERROR
    failures = {(f["expectation"], f["columns"]): f for f in activities.metadata["failures"].value}
    regex = failures[("expect_column_values_to_match_regex", "leadId")]
    assert regex["unexpected_count"] == 1
    assert regex["sample_keys"] == [{"marketoGUID": bad["marketoGUID"]}]
    # The lead is not in raw_marketo.leads either: the warn-level referential rule says so too.
    assert failures[("expect_column_values_to_exist_in_table", "leadId")]["severity"] == "warn"
    assert {f["severity"] for f in failures.values()} == {"error", "warn"}
    # The other Marketo tables were clean.
    assert all(evaluations[f"raw_marketo/{t}"].passed for t in ("leads", "programs", "activity_types"))
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert any(s.startswith("raw_marketo__activities") for s in started)
    assert "dbt_models" not in started
