"""BigQuery job labels: which Dagster job, asset and run each BigQuery job belongs to.

Every query job the warehouse starts carries them (the client's default job config), so
that ``INFORMATION_SCHEMA.JOBS`` attributes bytes billed to an asset and a day (the
``bigquery_costs`` asset). dbt's own jobs are labelled by its query comment
(dbt_project.yml, ``query-comment: job-label: true``) with the same keys.

BigQuery label rules: at most 64 labels; keys and values at most 63 characters of
lowercase letters, digits, ``_`` and ``-``; keys start with a letter.
"""

from __future__ import annotations

import re

LABEL_JOB = "dagster_job"
LABEL_ASSET = "dagster_asset"
LABEL_RUN = "dagster_run_id"
LABEL_COMPONENT = "component"  # loader | quality | lifecycle | dbt | costs | analytics

_INVALID = re.compile(r"[^a-z0-9_-]+")


def label_value(value: str) -> str:
    """A value BigQuery accepts: ``raw_ops/orders`` -> ``raw_ops-orders`` (lowercase, 63 chars)."""
    return _INVALID.sub("-", value.lower()).strip("-")[:63]


def job_labels(
    *, component: str, job: str | None = None, asset: str | None = None, run_id: str | None = None
) -> dict[str, str]:
    labels = {LABEL_COMPONENT: component, LABEL_JOB: job, LABEL_ASSET: asset, LABEL_RUN: run_id}
    return {key: label_value(value) for key, value in labels.items() if value}
