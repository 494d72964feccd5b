"""The sources file: its own checks, its checks against the live source, and what it drives."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import sqlalchemy as sa

from orchestration.assets.operational_db import build_extraction_assets
from orchestration.demo import schema as demo_schema
from orchestration.extract.pipeline import extract_source
from orchestration.resources.ops_database import OperationalDatabaseResource
from orchestration.resources.warehouse import WarehouseResource
from orchestration.settings import DEFAULT_SOURCES_FILE, load_settings
from orchestration.sources import SourcesError, check_table_against_source, load_sources
from orchestration.warehouse.duckdb_warehouse import DuckDBWarehouse

NOTES = """\
tables:
  notes:
    description: Free-text notes.
    primary_key: id
    cursor: updated_at
    exclude: [secret]
"""


def write(tmp_path: Path, text: str, name: str = "sources.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def notes_database(tmp_path: Path, *, drop: str | None = None) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    columns = {"id": "integer primary key", "body": "text", "secret": "text", "updated_at": "timestamp"}
    if drop:
        columns.pop(drop)
        if drop == "id":
            columns["note_id"] = "integer primary key"
    with engine.begin() as conn:
        conn.execute(sa.text(f"create table notes ({', '.join(f'{n} {t}' for n, t in columns.items())})"))
        if drop is None:
            conn.execute(
                sa.text("insert into notes values (1, 'hello', 'pin 1234', '2026-06-01 10:00:00'), "
                        "(2, 'world', 'pin 9876', '2026-06-02 11:00:00')")
            )  # fmt: skip
    return engine


def test_the_shipped_sources_match_the_demo_schema():
    sources = load_sources(DEFAULT_SOURCES_FILE)
    assert sources.names == tuple(t.name for t in demo_schema.TABLES)
    for table in demo_schema.TABLES:
        declared = sources.table(table.name)
        assert declared.key_columns == tuple(c.name for c in table.primary_key.columns)
        assert declared.cursor_column == demo_schema.cursor_column(table)
        assert declared.mode == "cursor"
        assert set(declared.exclude) <= set(table.c.keys())
        if declared.personal_data:
            assert set(declared.personal_data.columns) <= set(table.c.keys())


def test_settings_name_the_sources_file(tmp_path):
    assert load_settings({}).sources_file == DEFAULT_SOURCES_FILE
    path = write(tmp_path, NOTES)
    assert load_settings({"SOURCES_FILE": str(path)}).sources_file == path
    assert load_sources(path).names == ("notes",)


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        ("    cursor: updated_at\n", "", "table 'notes': 'cursor' is required"),
        (
            "    exclude: [secret]\n",
            "    exclude_columns: [secret]\n",
            "table 'notes': unknown key 'exclude_columns'",
        ),
        (
            "    cursor: updated_at\n",
            "    cursor: updated_at\n    mode: stream\n",
            "table 'notes': unknown mode 'stream'",
        ),
        ("    exclude: [secret]\n", "    exclude: [id]\n", "table 'notes': column 'id' is the key or cursor"),
    ],
    ids=["missing-cursor", "unknown-key", "unknown-mode", "key-excluded"],
)
def test_a_malformed_entry_fails_naming_the_file_and_the_table(tmp_path, line, replacement, message):
    path = write(tmp_path, NOTES.replace(line, replacement))
    with pytest.raises(SourcesError) as raised:
        load_sources(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_a_table_declared_twice_fails(tmp_path):
    path = write(tmp_path, NOTES + NOTES.removeprefix("tables:\n"))
    with pytest.raises(SourcesError, match=r"table 'notes' is declared twice") as raised:
        load_sources(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("dropped", "role"),
    [("id", "primary key"), ("updated_at", "cursor"), ("secret", "excluded")],
)
def test_a_declared_column_missing_at_the_source_fails_naming_file_table_and_column(tmp_path, dropped, role):
    path = write(tmp_path, NOTES)
    engine = notes_database(tmp_path, drop=dropped)
    with pytest.raises(SourcesError) as raised:
        sources = load_sources(path)
        check_table_against_source(sources, sources.table("notes"), sa.inspect(engine))
    assert str(raised.value) == (
        f"{path}: table 'notes': {role} column '{dropped}' does not exist in the operational database"
    )
    # The extraction refuses too, before reading a row.
    with pytest.raises(SourcesError, match=f"column '{dropped}'"):
        extract_source(
            engine, DuckDBWarehouse(tmp_path / "w.duckdb"), load_sources(path), "notes",
            raw_schema="raw_ops", landing_dir=tmp_path / "landing", batch_id="b1",
        )  # fmt: skip


def test_a_declared_table_missing_at_the_source_fails_its_own_extraction(tmp_path, monkeypatch):
    path = write(
        tmp_path, NOTES + "  returns:\n    description: x\n    primary_key: id\n    cursor: updated_at\n"
    )
    notes_database(tmp_path)
    result = dg.materialize(
        build_extraction_assets(load_sources(path)),
        resources={
            "ops_db": OperationalDatabaseResource(url=f"sqlite:///{tmp_path / 'ops.db'}", max_retries=0),
            "warehouse": WarehouseResource(kind="duckdb", duckdb_path=str(tmp_path / "w.duckdb")),
        },
        raise_on_error=False,
    )
    assert not result.success
    assert result.asset_materializations_for_node("raw_ops__notes")  # the declared table that exists loads
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "raw_ops__returns"
    assert f"{path}: table 'returns' does not exist in the operational database" in str(
        failure.event_specific_data.error
    )


def test_loading_the_sources_does_no_database_io(tmp_path):
    # A declared table that exists nowhere: loading (what definitions do) still succeeds.
    path = write(tmp_path, NOTES.replace("notes", "nowhere"))
    assert load_sources(path).table("nowhere").exclude == ("secret",)


def test_excluded_columns_are_never_extracted(tmp_path):
    path = write(tmp_path, NOTES)
    engine = notes_database(tmp_path)
    outcome = extract_source(
        engine, DuckDBWarehouse(tmp_path / "w.duckdb"), load_sources(path), "notes",
        raw_schema="raw_ops", landing_dir=tmp_path / "landing", batch_id="b1",
    )  # fmt: skip
    assert outcome.load.rows_inserted == 2
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        columns = [r[0] for r in con.execute("describe raw_ops.notes").fetchall()]
        rows = con.execute("select id, body, updated_at from raw_ops.notes order by id").fetchall()
    assert "secret" not in columns
    assert [c for c in columns if not c.startswith("_")] == ["id", "body", "updated_at"]
    assert rows == [(1, "hello", dt.datetime(2026, 6, 1, 10)), (2, "world", dt.datetime(2026, 6, 2, 11))]


def test_every_declared_table_has_a_dbt_source_and_a_staging_model():
    import yaml

    from orchestration.settings import DBT_PROJECT_DIR

    staging = DBT_PROJECT_DIR / "models" / "staging" / "ops"
    (ops,) = [
        s
        for s in yaml.safe_load((staging / "_ops__sources.yml").read_text())["sources"]
        if s["name"] == "ops"
    ]
    asset_keys = {t["name"]: t["config"]["meta"]["dagster"]["asset_key"] for t in ops["tables"]}
    for name in load_sources(DEFAULT_SOURCES_FILE).names:
        assert asset_keys[name] == ["raw_ops", name]
        assert (staging / f"stg_ops__{name}.sql").exists(), name
