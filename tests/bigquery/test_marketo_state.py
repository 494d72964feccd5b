"""Marketo export state in a BigQuery dataset (``_state``), on the emulator."""

from __future__ import annotations


def test_bigquery_state_round_trip_and_replace(warehouse):
    assert warehouse.read_state("raw_marketo", "leads") is None
    value = {"bookmark": None, "jobs": {"2026-01-01T00:00:00Z/2026-02-01T00:00:00Z": {"exportId": "e-1"}}}
    warehouse.write_state("raw_marketo", "leads", value)
    assert warehouse.read_state("raw_marketo", "leads") == value
    warehouse.write_state("raw_marketo", "leads", {"bookmark": "2026-02-01T00:00:00Z", "note": "it's"})
    warehouse.write_state("raw_marketo", "activities", {"bookmark": None})
    assert warehouse.read_state("raw_marketo", "leads") == {
        "bookmark": "2026-02-01T00:00:00Z",
        "note": "it's",
    }
    assert warehouse.read_state("raw_marketo", "activities") == {"bookmark": None}
    assert warehouse.row_count("raw_marketo", "_state") == 2
