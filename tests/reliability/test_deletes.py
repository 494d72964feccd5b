"""Hard deletes are found by walking raw's and the source's sorted keys side by side.

The end-to-end path (soft and hard deletes in the source reach the marts through the hourly
run, reconciliation records nothing twice and refuses an emptied table) shares one pipeline
build with the incremental checks: tests/pipeline/test_a_day_of_changes.py.
"""

from __future__ import annotations

from orchestration.lifecycle import deletes


def test_missing_from_source_walks_both_sorted_streams():
    assert list(deletes.missing_from_source([1, 2, 3, 5, 8], iter([2, 3, 4, 8, 9]))) == [1, 5]
    assert list(deletes.missing_from_source([1, 2], iter([]))) == [1, 2]
    assert list(deletes.missing_from_source([], iter([1]))) == []
