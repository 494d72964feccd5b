"""Export state kept in the DuckDB warehouse survives a new connection and replaces by key."""

from __future__ import annotations

from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse


def test_duckdb_state_round_trip_and_replace(tmp_path):
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    assert warehouse.read_state("raw_marketo", "leads") is None
    warehouse.write_state("raw_marketo", "leads", {"bookmark": None, "jobs": {"a/b": {"exportId": "x"}}})
    warehouse.write_state("raw_marketo", "activities", {"bookmark": "2026-01-01T00:00:00Z"})
    warehouse.write_state("raw_marketo", "leads", {"bookmark": "2026-02-01T00:00:00Z", "jobs": {}})
    again = DuckDBWarehouse(tmp_path / "w.duckdb")
    assert again.read_state("raw_marketo", "leads") == {"bookmark": "2026-02-01T00:00:00Z", "jobs": {}}
    assert again.read_state("raw_marketo", "activities") == {"bookmark": "2026-01-01T00:00:00Z"}
    assert again.read_state("raw_marketo", "programs") is None
    with again.connect(read_only=True) as con:
        assert con.execute("select count(*) from raw_marketo._state").fetchone()[0] == 2
