"""Name the columns behind a failed ``not_null_columns`` dbt test in its Dagster check.

One ``not_null_columns`` test per model checks all its not-null columns in one query
(dbt_project/tests/generic/not_null_columns.sql says why). dbt reports only how many rows
the test returned, and dagster-dbt passes that on as ``dagster_dbt/failed_row_count``; the
rows themselves, which name the columns, stay in the warehouse. So the dbt asset holds back
such a failed check until dbt has exited (on DuckDB, dbt holds the file while it runs),
counts the NULLs of each listed column with the warehouse's own SQL, and reports the check
with the columns named in its description and metadata. Passing checks are not touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from orchestration.warehouse.base import Warehouse
from orchestration.warehouse.sql import WarehouseSql

TEST_NAME = "not_null_columns"


@dataclass(frozen=True)
class NotNullTest:
    layer: str  # the model's logical schema: staging, intermediate, marts, snapshots
    table: str
    columns: tuple[str, ...]


def not_null_tests(manifest: Mapping[str, Any]) -> dict[str, NotNullTest]:
    """Each ``not_null_columns`` test on a model or snapshot, by test (and check) name."""
    nodes = manifest["nodes"]
    tests = {}
    for node in nodes.values():
        if node["resource_type"] != "test" or node.get("test_metadata", {}).get("name") != TEST_NAME:
            continue
        attached = nodes.get(node.get("attached_node") or "")
        if attached is None:  # a source table's test: not a Dagster check (assets/dbt.py)
            continue
        layer = attached["config"].get("schema") or attached["schema"]
        table = attached.get("alias") or attached["name"]
        columns = tuple(node["test_metadata"]["kwargs"]["columns"])
        tests[node["name"]] = NotNullTest(layer, table, columns)
    return tests


def null_counts(sql: WarehouseSql, test: NotNullTest) -> dict[str, int]:
    """The columns of ``test`` that hold NULLs, with how many rows, in the listed order."""
    counts = ", ".join(f"count(*) - count({sql.quote(c)})" for c in test.columns)
    (row,) = sql.rows(f"select {counts} from {sql.relation(test.layer, test.table)}")
    return {column: int(n) for column, n in zip(test.columns, row, strict=True) if n}


def with_null_columns(
    result: dg.AssetCheckResult, test: NotNullTest, counts: dict[str, int]
) -> dg.AssetCheckResult:
    """``result`` with the columns that hold NULLs named (description and metadata)."""
    named = ", ".join(f"{c} ({n:,} rows)" for c, n in counts.items()) or "none found after the build"
    return dg.AssetCheckResult(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        severity=result.severity,
        description=f"{test.layer}.{test.table}: NULL in {named}",
        metadata={
            **result.metadata,
            "null_columns": dg.MetadataValue.json(counts),
            "columns_checked": dg.MetadataValue.int(len(test.columns)),
        },
    )


def is_failed_not_null_check(event: object, tests: Mapping[str, NotNullTest]) -> bool:
    return isinstance(event, dg.AssetCheckResult) and not event.passed and event.check_name in tests


def name_null_columns(
    warehouse: Warehouse, held: Sequence[dg.AssetCheckResult], tests: Mapping[str, NotNullTest]
) -> Iterator[dg.AssetCheckResult]:
    """The held failed checks, each with its columns named (read once dbt has exited)."""
    if not held:
        return
    with warehouse.sql().reading() as sql:
        for result in held:
            test = tests[result.check_name]
            yield with_null_columns(result, test, null_counts(sql, test))
