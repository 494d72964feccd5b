"""The Dagster asset checks, Data Docs, and the lazy import of great_expectations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from orchestration.quality import CHECK_NAME, build_quality_checks, run_suite
from orchestration.settings import PROJECT_ROOT
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse
from tests.quality.conftest import PlantBatch


def test_importing_the_package_and_building_checks_does_not_import_great_expectations() -> None:
    code = (
        "import sys\n"
        "from orchestration.quality import build_quality_checks\n"
        "checks = build_quality_checks()\n"
        "assert checks\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def _run_check(warehouse: DuckDBWarehouse, table: str, tmp_path: Path) -> dg.AssetCheckEvaluation:
    checks = build_quality_checks(
        layers={"raw_ops"},
        warehouse_for=lambda context: warehouse,
        data_docs_dir=tmp_path / "docs",
    )
    key = dg.AssetKey(["raw_ops", table])
    check = next(c for c in checks if dg.AssetCheckKey(key, CHECK_NAME) in c.check_keys)
    defs = dg.Definitions(
        assets=[dg.AssetSpec(key)],
        asset_checks=[check],
        jobs=[dg.define_asset_job("check", selection=dg.AssetSelection.checks(check))],
    )
    # A failed blocking check fails its step (that is how it stops downstream assets).
    result = defs.resolve_job_def("check").execute_in_process(raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    blocked = evaluation.severity == dg.AssetCheckSeverity.ERROR and not evaluation.passed
    assert result.success is not blocked
    return evaluation


def test_failing_error_expectation_gives_a_blocking_error_result(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch, tmp_path: Path
) -> None:
    plant_batch("order_items", {1: {"order_id": 987_654_321}})
    evaluation = _run_check(warehouse, "order_items", tmp_path)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata = {k: v.value for k, v in evaluation.metadata.items()}
    assert metadata["failed_errors"] == 1 and metadata["rows_validated"] == 1
    assert metadata["failing_columns"] == "order_id"
    (failure,) = metadata["failures"]
    assert failure["expectation"] == "expect_column_values_to_exist_in_table"
    assert failure["unexpected_count"] == 1 and failure["sample_keys"] == [{"id": 1}]
    docs = metadata["data_docs"]
    assert docs.startswith("file://") and Path(docs.removeprefix("file://")).is_file()


def test_warning_only_failure_is_a_non_blocking_warn_result(
    warehouse: DuckDBWarehouse, plant_batch: PlantBatch, tmp_path: Path
) -> None:
    with warehouse.connect(read_only=True) as con:
        (customer_id,) = con.execute(
            "select min(id) from raw_ops.customers where email is not null"
        ).fetchone()
    plant_batch("customers", {customer_id: {"email": "no-at-sign"}})
    evaluation = _run_check(warehouse, "customers", tmp_path)
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN


def test_clean_batch_passes(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    assert _run_check(warehouse, "orders", tmp_path).passed


def test_checks_are_blocking_when_a_suite_has_error_expectations() -> None:
    checks = build_quality_checks(asset_key_for=lambda suite: dg.AssetKey(["ops", suite.table]))
    specs = [spec for c in checks for spec in c.check_specs]
    assert all(spec.blocking for spec in specs if spec.asset_key.path[0] == "ops")
    assert {spec.asset_key for spec in specs} >= {dg.AssetKey(["ops", "orders"])}


def test_data_docs_page_is_written(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    outcome = run_suite(warehouse, "raw_ops", "orders", data_docs_dir=tmp_path / "docs")
    assert outcome.data_docs_url and outcome.data_docs_url.endswith(".html")
    assert (tmp_path / "docs" / "index.html").is_file()


def test_data_docs_pages_reuse_compiled_templates(warehouse: DuckDBWarehouse, tmp_path: Path) -> None:
    from orchestration.quality.docs_views import BYTECODE_CACHE

    first = run_suite(warehouse, "raw_ops", "orders", data_docs_dir=tmp_path / "first")
    compiled = dict(BYTECODE_CACHE._code)
    assert compiled, "the first page compiled GE's templates into the shared cache"
    second = run_suite(warehouse, "raw_ops", "orders", data_docs_dir=tmp_path / "second")
    assert BYTECODE_CACHE._code == compiled  # nothing compiled again
    pages = [Path(o.data_docs_url.removeprefix("file://")).read_text() for o in (first, second)]
    for page in pages:
        assert "raw_ops.orders" in page
    assert len(pages[0]) == len(pages[1])  # the same page, but for its timestamps and element ids
