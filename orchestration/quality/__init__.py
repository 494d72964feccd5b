"""Data-quality suites (``expectations/``) run as Dagster asset checks.

Importing this package does not import great_expectations (about 10 s): GE is loaded
inside the functions that validate, so Dagster can load definitions quickly.
"""

from orchestration.quality.checks import CHECK_NAME, build_quality_checks, check_result
from orchestration.quality.outcome import ExpectationOutcome, SuiteOutcome
from orchestration.quality.runner import SuiteNotFoundError, latest_batch_id, run_suite, run_suite_spec
from orchestration.quality.spec import ExpectationSpec, SuiteSpec, SuiteSpecError, load_suite, load_suites

__all__ = [
    "CHECK_NAME",
    "ExpectationOutcome",
    "ExpectationSpec",
    "SuiteNotFoundError",
    "SuiteOutcome",
    "SuiteSpec",
    "SuiteSpecError",
    "build_quality_checks",
    "check_result",
    "latest_batch_id",
    "load_suite",
    "load_suites",
    "run_suite",
    "run_suite_spec",
]
