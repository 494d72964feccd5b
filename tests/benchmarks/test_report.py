"""The report renders what a run measured: targets, and the demo's parts as it reported them."""

from __future__ import annotations

from benchmarks.cli import DemoResult, Results
from benchmarks.report import render


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
