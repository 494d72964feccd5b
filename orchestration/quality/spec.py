"""Declarative suites: the YAML files under ``expectations/`` parsed into plain dataclasses.

One file per checked table (``expectations/<layer>/<table>.yml``). Every entry names a
Great Expectations 1.x expectation type (or one of the project's own, see
``PUSHDOWN_TYPES`` and ``orchestration.quality.gx_expectations``), its arguments, a
``severity`` (``error`` blocks downstream assets, ``warn`` does not) and the quality
``class`` it belongs to. ``columns: [a, b]`` is shorthand for one entry per column.
Parsing never imports great_expectations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from orchestration.settings import EXPECTATIONS_DIR

# libyaml's C loader where PyYAML has it: the same safe subset, about 10x faster (every
# suite is read each time the code location loads).
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Severity = Literal["error", "warn"]
SEVERITIES: tuple[str, ...] = ("error", "warn")
QUALITY_CLASSES: tuple[str, ...] = (
    "schema",
    "completeness",
    "uniqueness",
    "validity",
    "format",
    "referential_integrity",
    "volume",
)
# Where an expectation looks: the new batch only (fetched into pandas, validated by GE),
# the latest version of every key touched by the batch across the whole history, or the
# whole table. The last two are pushed down to the warehouse as SQL.
SCOPES: tuple[str, ...] = ("batch", "latest", "table")

# Project expectations evaluated as SQL in the warehouse (cross-row / cross-table / ledger).
PUSHDOWN_TYPES: frozenset[str] = frozenset(
    {
        "expect_column_values_to_exist_in_table",
        "expect_batch_row_count_to_match_ledger",
        "expect_batch_row_count_to_be_within_ratio_of_previous_loads",
    }
)
# Uniqueness can run on the batch (GE) or, for raw history, on the latest version per key (SQL).
UNIQUENESS_TYPES: frozenset[str] = frozenset(
    {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}
)
# Expectations that honour ``scope: table`` (pushed down as SQL over the whole table); every
# other type looks at the batch, so ``scope: table`` on it would be a promise not kept.
TABLE_SCOPE_TYPES: frozenset[str] = UNIQUENESS_TYPES | {
    "expect_column_values_to_exist_in_table",
    "expect_table_row_count_to_be_between",
}
# Where a batched suite's batch comes from: the load ledger (raw tables, one batch id per
# extraction) or the newest value of the batch column (a mart's _built_at: the rows the
# latest dbt build merged).
BATCH_SOURCES: tuple[str, ...] = ("ledger", "latest_value")
_ENTRY_KEYS = {"type", "class", "severity", "scope", "kwargs", "columns", "description"}


class SuiteSpecError(ValueError):
    """A suite file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: Mapping[str, Any]
    severity: Severity
    quality_class: str
    scope: str = "batch"
    description: str = ""

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def columns(self) -> tuple[str, ...]:
        if "column" in self.kwargs:
            return (self.kwargs["column"],)
        for name in ("column_list", "columns"):
            if name in self.kwargs:
                return tuple(self.kwargs[name])
        pair = tuple(self.kwargs[k] for k in ("column_A", "column_B") if k in self.kwargs)
        return pair

    @property
    def runs_in_sql(self) -> bool:
        return (
            self.type in PUSHDOWN_TYPES
            or (self.type in UNIQUENESS_TYPES and self.scope != "batch")
            or (self.type == "expect_table_row_count_to_be_between" and self.scope == "table")
        )

    @property
    def label(self) -> str:
        target = ",".join(self.columns) or "table"
        return f"{self.type}({target})"


@dataclass(frozen=True)
class SuiteSpec:
    layer: str  # logical schema: raw_ops, marts ...
    table: str
    key: tuple[str, ...]
    expectations: tuple[ExpectationSpec, ...]
    cursor: str | None = None  # raw tables: the source change cursor (latest version per key)
    batch_column: str | None = None  # raw: _batch_id; incremental facts: _built_at; else whole table
    batch_from: str = "ledger"  # see BATCH_SOURCES
    description: str = ""
    source: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.table}"

    @property
    def is_batched(self) -> bool:
        return self.batch_column is not None

    @property
    def has_blocking_expectations(self) -> bool:
        return any(e.severity == "error" for e in self.expectations)


def _entries(raw: Mapping[str, Any], where: str) -> list[ExpectationSpec]:
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise SuiteSpecError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_ENTRY_KEYS)}")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind.startswith("expect_"):
        raise SuiteSpecError(
            f"{where}: 'type' must be an expectation name such as expect_column_values_to_not_be_null"
        )
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise SuiteSpecError(f"{where} ({kind}): 'severity' must be one of {SEVERITIES}, got {severity!r}")
    quality_class = raw.get("class")
    if quality_class not in QUALITY_CLASSES:
        raise SuiteSpecError(
            f"{where} ({kind}): 'class' must be one of {QUALITY_CLASSES}, got {quality_class!r}"
        )
    scope = raw.get("scope", "batch")
    if scope not in SCOPES:
        raise SuiteSpecError(f"{where} ({kind}): 'scope' must be one of {SCOPES}, got {scope!r}")
    if scope == "table" and kind not in TABLE_SCOPE_TYPES:
        raise SuiteSpecError(
            f"{where} ({kind}): only {sorted(TABLE_SCOPE_TYPES)} can look at the whole table (scope: table)"
        )
    kwargs = dict(raw.get("kwargs") or {})
    columns = raw.get("columns")
    targets: list[dict[str, Any]] = [kwargs]
    if columns is not None:
        if not isinstance(columns, list) or not columns:
            raise SuiteSpecError(f"{where} ({kind}): 'columns' must be a non-empty list")
        targets = [{"column": c, **kwargs} for c in columns]
    return [
        ExpectationSpec(
            type=kind,
            kwargs=t,
            severity=severity,
            quality_class=quality_class,
            scope=scope,
            description=str(raw.get("description", "")),
        )
        for t in targets
    ]


def parse_suite(document: Mapping[str, Any], source: Path | None = None) -> SuiteSpec:
    where = str(source or "<suite>")
    for required in ("layer", "table", "key", "expectations"):
        if required not in document:
            raise SuiteSpecError(f"{where}: missing top-level key {required!r}")
    expectations: list[ExpectationSpec] = []
    for index, entry in enumerate(document["expectations"] or []):
        if not isinstance(entry, Mapping):
            raise SuiteSpecError(f"{where}: expectation #{index + 1} is not a mapping")
        expectations.extend(_entries(entry, f"{where}: expectation #{index + 1}"))
    batch_column = document.get("batch_column")
    batch_from = document.get("batch_from", "ledger")
    if batch_from not in BATCH_SOURCES:
        raise SuiteSpecError(f"{where}: 'batch_from' must be one of {BATCH_SOURCES}, got {batch_from!r}")
    if batch_from != "ledger" and not batch_column:
        raise SuiteSpecError(f"{where}: 'batch_from: {batch_from}' needs a 'batch_column'")
    for spec in expectations:
        if spec.scope == "latest" and not document.get("cursor"):
            raise SuiteSpecError(f"{where}: {spec.label} has scope 'latest' but the suite names no 'cursor'")
        if spec.type.startswith("expect_batch_") and not (batch_column and batch_from == "ledger"):
            raise SuiteSpecError(
                f"{where}: {spec.label} needs a table batched by the load ledger ('batch_column')"
            )
    return SuiteSpec(
        layer=str(document["layer"]),
        table=str(document["table"]),
        key=tuple(document["key"]),
        expectations=tuple(expectations),
        cursor=document.get("cursor"),
        batch_column=batch_column,
        batch_from=batch_from,
        description=str(document.get("description", "")),
        source=source,
    )


def load_suite(path: Path) -> SuiteSpec:
    try:
        document = yaml.load(path.read_text(), Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise SuiteSpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, Mapping):
        raise SuiteSpecError(f"{path}: a suite file must be a mapping")
    suite = parse_suite(document, source=path)
    expected = (path.parent.name, path.stem)
    if (suite.layer, suite.table) != expected:
        raise SuiteSpecError(
            f"{path}: declares {suite.name} but lives at {expected[0]}/{expected[1]}.yml; keep them equal"
        )
    return suite


def load_suites(directory: Path = EXPECTATIONS_DIR) -> dict[tuple[str, str], SuiteSpec]:
    """Every suite under ``directory``, keyed by (layer, table)."""
    suites: dict[tuple[str, str], SuiteSpec] = {}
    for path in sorted(directory.glob("*/*.yml")):
        suite = load_suite(path)
        suites[(suite.layer, suite.table)] = suite
    return suites
