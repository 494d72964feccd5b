"""The same guarantees through the real Dagster definitions, as a data engineer meets them.

One PostgreSQL demo database and one DuckDB warehouse for the module. The job ``ops_repair``
loads everything; then a late-committing transaction, a row stamped a day ahead and three
kinds of divergence are planted, and the checks and metadata the UI shows are asserted:
the warn checks name the future key and the session holding the mark back (never its query),
the completeness check fails at ERROR naming the keys, and ``ops_repair`` makes raw equal the
source again, with every check passing.
"""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import pytest
import sqlalchemy as sa

from orchestration.assets.completeness import CHECK_NAME, REPAIR_JOB
from orchestration.assets.operational_db import FUTURE_CHECK, HELD_BACK_CHECK, raw_asset_key
from orchestration.demo.generator import Scale, generate
from orchestration.sources import load_sources
from tests.reliability.helpers import DEMO_END
from tests.servers import fresh_database

SOURCES = load_sources()
pytestmark = pytest.mark.slow  # three runs of every extraction and check through Dagster


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from orchestration.resources.dbt import prepare_manifest
    from orchestration.settings import load_settings

    prepare_manifest(load_settings({}))  # the definitions load dbt's manifest (on import too)
    from orchestration.definitions import build_definitions

    tmp = tmp_path_factory.mktemp("completeness-assets")
    with fresh_database("postgresql") as url, pytest.MonkeyPatch.context() as env:
        env.setenv("OPS_DATABASE_URL", url)
        env.setenv("DUCKDB_PATH", str(tmp / "warehouse.duckdb"))
        env.setenv("WAREHOUSE", "duckdb")
        generate(url, Scale.named("tiny"), seed=42, end=DEMO_END)
        defs = build_definitions(load_settings())
        # The same platform with MARK_HOLD_WARN_SECONDS=0: any open transaction warns.
        defs_warn_at_once = build_definitions(load_settings({**os.environ, "MARK_HOLD_WARN_SECONDS": "0"}))
        engine = sa.create_engine(url)
        yield defs, defs_warn_at_once, engine, dg.DagsterInstance.ephemeral()
        engine.dispose()


def _evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _run(defs, instance, job: str | None, *, allow_failed: tuple[str, ...] = (), **run_config):
    """Run ``job``, or (None) the extraction assets alone, as a data engineer would select them."""
    if job is None:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            run_config=run_config or None,
            asset_selection=[raw_asset_key(t) for t in SOURCES.names],
            raise_on_error=False,
        )
    else:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, run_config=run_config or None, raise_on_error=False
        )
    failed = {e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert failed <= set(allow_failed), [str(e.message) for e in result.all_events if e.is_failure]
    return result


def test_divergence_and_unsafe_marks_are_named_in_the_ui_and_repaired(platform) -> None:
    defs, defs_warn_at_once, engine, instance = platform
    first = _evaluations(_run(defs, instance, REPAIR_JOB))
    for table in SOURCES.names:
        assert first[(table, CHECK_NAME)].passed, first[(table, CHECK_NAME)].description
        assert first[(table, FUTURE_CHECK)].passed and first[(table, HELD_BACK_CHECK)].passed

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    with engine.begin() as conn:
        conn.execute(sa.text("update customers set phone = '11 90000-0000', updated_at = :t where id = 4"),
                     {"t": now + dt.timedelta(days=1)})  # fmt: skip
        conn.execute(
            sa.text("update order_items set tax = tax + 1, total = total + 1 where id = 21")
        )  # stale
        conn.execute(sa.text("delete from order_items where id = 22"))  # extra
        conn.execute(sa.text(
            "insert into order_items select id + 50000, order_id, product_id, quantity, unit_price, discount, "
            "tax, total, created_at, updated_at from order_items where id = 23"
        ))  # fmt: skip  # missing
    late = engine.connect()
    late.begin()
    late.execute(
        sa.text("update orders set notes = 'late', updated_at = now() at time zone 'UTC' where id = 7")
    )
    try:
        # The raw customers suite also refuses the future-stamped row (blocking): that step fails.
        result = _run(
            defs_warn_at_once, instance, None, allow_failed=("raw_ops__customers_great_expectations",)
        )
    finally:
        late.commit()
        late.close()
    checks = _evaluations(result)
    future = checks[("customers", FUTURE_CHECK)]
    assert not future.passed and future.severity == dg.AssetCheckSeverity.WARN
    assert future.metadata["future_stamped_keys"].value == "4"
    held = checks[("orders", HELD_BACK_CHECK)]
    assert not held.passed and held.severity == dg.AssetCheckSeverity.WARN
    assert "open transaction" in held.description and "session " in held.description
    assert "update orders" not in held.description.lower()
    lines = checks[("order_items", CHECK_NAME)]
    assert not lines.passed and lines.severity == dg.AssetCheckSeverity.ERROR
    assert {k: lines.metadata[k].value for k in ("missing", "extra", "stale")} == {
        "missing": 1,
        "extra": 1,
        "stale": 1,
    }
    assert {lines.metadata[f"{k}_sample_keys"].value for k in ("missing", "extra", "stale")} == {
        "50023",
        "22",
        "21",
    }
    assert REPAIR_JOB in lines.description
    orders_mark = result.asset_materializations_for_node("raw_ops__orders")[0].metadata
    assert orders_mark["oldest_open_transaction"].value.startswith("session ")
    assert orders_mark["mark_held_back_s"].value == 0  # nothing newer than the open transaction was read

    repaired = _run(defs, instance, REPAIR_JOB)
    after = _evaluations(repaired)
    assert all(after[(t, CHECK_NAME)].passed for t in SOURCES.names), {
        t: after[(t, CHECK_NAME)].description for t in SOURCES.names if not after[(t, CHECK_NAME)].passed
    }
    repair = repaired.asset_materializations_for_node("raw_ops__order_items")[0].metadata
    assert repair["repair_keys_reextracted"].value == 2 and repair["repair_keys_recorded_deleted"].value == 1
    # The late transaction's row arrived once it committed.
    raw = defs.resources["warehouse"].get().sql()
    (notes,) = raw.rows(
        "select notes from raw_ops.orders where id = 7 order by updated_at desc, _loaded_at desc limit 1"
    )[0]
    assert notes == "late"
