"""What a suite run reports: one outcome per expectation, summarised for Dagster."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestration.quality.spec import ExpectationSpec


@dataclass(frozen=True)
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    validator: str  # "gx" (Great Expectations on the pandas batch) or "sql" (pushed down to the warehouse)
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample_keys: tuple[dict[str, Any], ...] = ()
    sample_values: tuple[Any, ...] = ()
    observed_value: Any = None
    error: str | None = None

    @property
    def expectation_type(self) -> str:
        return self.spec.type

    @property
    def column(self) -> str | None:
        columns = self.spec.columns
        return columns[0] if len(columns) == 1 or self.spec.column else None

    @property
    def columns(self) -> tuple[str, ...]:
        return self.spec.columns

    @property
    def severity(self) -> str:
        return self.spec.severity

    def summary(self) -> dict[str, Any]:
        row: dict[str, Any] = {
            "expectation": self.spec.type,
            "columns": ", ".join(self.columns) or None,
            "class": self.spec.quality_class,
            "severity": self.severity,
            "validator": self.validator,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": None
            if self.unexpected_percent is None
            else round(self.unexpected_percent, 4),
            "sample_keys": list(self.sample_keys),
        }
        if self.observed_value is not None:
            row["observed_value"] = self.observed_value
        if self.error:
            row["error"] = self.error
        return row


@dataclass(frozen=True)
class SuiteOutcome:
    layer: str
    table: str
    relation: str  # the physical table validated
    batch_id: str | None
    rows_validated: int
    duration_s: float
    results: tuple[ExpectationOutcome, ...]
    data_docs_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(r for r in self.results if not r.success)

    @property
    def errors(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(r for r in self.failures if r.severity == "error")

    @property
    def success(self) -> bool:
        """Nothing failed, not even a warning."""
        return not self.failures

    @property
    def blocking_failure(self) -> bool:
        return bool(self.errors)

    def failed(self, expectation_type: str, column: str | None = None) -> list[ExpectationOutcome]:
        return [
            r
            for r in self.failures
            if r.expectation_type == expectation_type and (column is None or column in r.columns)
        ]

    def outcome(self, expectation_type: str, column: str | None = None) -> ExpectationOutcome:
        matches = [
            r
            for r in self.results
            if r.expectation_type == expectation_type and (column is None or column in r.columns)
        ]
        if len(matches) != 1:
            raise LookupError(
                f"{len(matches)} results for {expectation_type}({column}) in {self.layer}.{self.table}"
            )
        return matches[0]
