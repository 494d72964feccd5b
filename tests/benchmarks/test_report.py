"""The report renders what a run measured: targets, and the demo's parts as it reported them."""

from __future__ import annotations

from benchmarks.report import render
from benchmarks.results import DemoResult, PipelineResult, Results


def test_demo_over_three_minutes_is_reported_unmet_with_its_parts():
    results = Results(
        started_at="2026-11-29 12:00 UTC",
        command="python -m benchmarks",
        environment={"CPU": "test"},
        demo=DemoResult(
            seconds=207.4,
            success=True,
            parts={
                "Marketo (marketo_daily)": 65.5,
                "dbt build, marts and their checks (daily_full_build)": 119.0,
            },
        ),
    )
    report = render(results)
    assert "| default demo end to end < 3 min | 207 s | **no** |" in report
    assert "| Marketo (marketo_daily) | 65.5 |" in report
    assert "| dbt build, marts and their checks (daily_full_build) | 119.0 |" in report


def test_demo_under_three_minutes_is_met():
    results = Results("2026-11-29 12:00 UTC", "python -m benchmarks", {}, demo=DemoResult(151.0, True))
    assert "| default demo end to end < 3 min | 151 s | yes |" in render(results)


def _pipeline(history: int, incremental_s: float, steps: dict[str, float]) -> PipelineResult:
    return PipelineResult(
        history=history,
        order_items=125_000 * history,
        generate_s=1.0,
        full_s=60.0,
        incremental_s=incremental_s,
        advanced_rows=1_900,
        checks=1_106,
        checks_failed=0,
        raw_order_items=125_000 * history,
        expected_raw_order_items=125_000 * history,
        incremental_steps=steps,
    )


def test_incremental_ratio_and_its_slowest_steps_are_reported():
    results = Results(
        "2026-11-29 12:00 UTC",
        "python -m benchmarks",
        {},
        pipeline=[
            _pipeline(1, 40.0, {"dbt_models": 24.5, "raw_ops___deleted_keys": 0.9, "a": 0.5, "b": 0.25}),
            _pipeline(16, 68.0, {"dbt_models": 28.1, "raw_ops___deleted_keys": 4.1, "a": 0.5, "b": 0.5}),
        ],
    )
    report = render(results)
    assert (
        "| incremental run at 16x history ≤ 1.5x its time at 1x | 1.70x (68.0 s vs 40.0 s) | **no**, 0.20x over |"
        in report
    )
    assert "| `dbt_models` | 24.5 | 28.1 |" in report
    assert "| `raw_ops___deleted_keys` | 0.90 | 4.10 |" in report
    # Slowest first, every step counted once: the four fit within the top eight.
    assert report.index("| `dbt_models` |") < report.index("| `raw_ops___deleted_keys` |")
    assert "| the other 0 steps | 0.00 | 0.00 |" in report
    assert "| run wall time | 40.0 | 68.0 |" in report
