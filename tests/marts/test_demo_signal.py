"""The demo's summary of what the marts recover of the generator's parameters (demo/signal.py),
on the package's built tiny demo: each figure it prints is the one the mart tests hold."""

from __future__ import annotations

import re

import pytest

from orchestration.demo.signal import signal_lines
from orchestration.resources.warehouse import WarehouseResource
from tests.marts.built import Built

pytestmark = pytest.mark.slow


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*\.?\d*", line)]


def test_demo_prints_the_generators_parameters_beside_the_marts(built: Built) -> None:
    warehouse = WarehouseResource.from_settings(built.harness.settings).get()
    try:
        lines = signal_lines(warehouse.sql())
    finally:
        warehouse.close()
    by_mart = {line.split(":")[0].strip(): line for line in lines if ":" in line}
    assert set(by_mart) == {"price_elasticity", "purchase_patterns", "order_fulfilment", "demand_features"}
    pairs, within = _numbers(by_mart["purchase_patterns"])[:2]
    assert pairs >= 40 and within >= 80, by_mart["purchase_patterns"]
    near, near_generated, _, far, far_generated, _ = _numbers(by_mart["order_fulfilment"])
    assert abs(near - near_generated) <= 0.12 * near_generated, by_mart["order_fulfilment"]
    assert abs(far - far_generated) <= 0.12 * far_generated, by_mart["order_fulfilment"]
    ratio, generated = _numbers(by_mart["demand_features"])[:2]
    assert ratio < generated, by_mart["demand_features"]  # regular orders move off holidays
