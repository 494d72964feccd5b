"""Personal-data columns get the BigQuery policy tag from the settings, through dbt.

dbt-bigquery applies a column's ``policy_tags`` when it persists column docs; the project's
``bigquery__alter_column_comment`` (macros/policy_tags.sql) gives every ``contains_pii``
column the tag named by BIGQUERY_PII_POLICY_TAG first. The emulator accepts policy tags but
keeps none, so the columns are read as dbt hands them to BigQuery: dbt itself runs the macro
on the real manifest (``dbt run-operation``). Unset, nothing is tagged.
"""

import json
import os
import subprocess

import pytest

from orchestration.resources.dbt import dbt_env, dbt_executable
from orchestration.settings import DBT_PROJECT_DIR, load_settings

TAG = "projects/p/locations/southamerica-east1/taxonomies/1/policyTags/2"


def policy_tags(model: str, env: dict[str, str]) -> dict[str, list[str]]:
    settings = load_settings(env)
    completed = subprocess.run(
        [
            dbt_executable(),
            "run-operation",
            "print_policy_tagged_columns",
            "--args",
            json.dumps({"model_name": model}),
        ],
        cwd=DBT_PROJECT_DIR,
        env={**os.environ, **dbt_env(settings), "DUCKDB_PATH": ":memory:"},
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in completed.stdout.splitlines() if "POLICY_TAGS " in line)
    return json.loads(line.split("POLICY_TAGS ", 1)[1])


@pytest.mark.slow
def test_personal_columns_get_the_configured_policy_tag_and_others_none():
    tagged = policy_tags("dim_customers", {"BIGQUERY_PII_POLICY_TAG": TAG})
    assert tagged["email_sha256"] == [TAG] and tagged["phone_sha256"] == [TAG]
    assert tagged["customer_id"] == [] and tagged["region"] == []
    untagged = policy_tags("dim_customers", {})
    assert all(tags == [] for tags in untagged.values()), "without the setting nothing is tagged"
