"""The workers' units (tests/xdist_units.py): files sharing a costly fixture stay together."""

from __future__ import annotations

from pathlib import Path

from tests.xdist_units import WEIGHT, unit_of


def test_files_sharing_a_fixture_are_one_unit_and_the_rest_one_unit_per_file() -> None:
    assert unit_of("tests/marts/test_demand_features.py::test_x") == "tests/marts/"
    assert unit_of("tests/marts/test_purchase_patterns.py::test_y[a]") == "tests/marts/"
    assert unit_of("tests/cdc/test_mariadb_cdc.py::test_z") == "tests/cdc/"
    assert unit_of("tests/bigquery/test_engine_equality.py::test_w") == "tests/bigquery/"
    # Its own build: free to run beside the package's.
    own = "tests/marts/test_price_elasticity_recovers_generator.py"
    assert unit_of(f"{own}::test_v") == own
    assert unit_of("tests/pipeline/test_end_to_end.py::test_u") == "tests/pipeline/test_end_to_end.py"
    day = "tests/pipeline/test_a_day_of_changes.py"
    assert unit_of(f"{day}::test_t") == day


def test_every_weighed_unit_is_a_file_or_directory_of_the_suite() -> None:
    # A renamed or deleted module left in WEIGHT weighs nothing, and its successor runs unweighed.
    root = Path(__file__).resolve().parent.parent
    stale = [unit for unit in WEIGHT if not (root / unit).exists()]
    assert stale == []
    assert all(unit.endswith("/") == (root / unit).is_dir() for unit in WEIGHT)
