"""The operational tables the platform extracts, as declared in ``orchestration/sources.yml``.

That file is the one place a table is listed (``SOURCES_FILE`` points elsewhere, for tests
and other deployments). Two checks, at two moments:

* :func:`load_sources` (cached, no database I/O, safe while Dagster loads definitions):
  the file's own shape. Unknown keys, an unknown mode, a table listed twice fail with a
  :class:`SourcesError` naming the file and the table.
* :func:`check_table_against_source` (when a table's extraction runs, before it reads a
  row): the table exists at the source and so do its key, cursor and excluded columns.
  Per table, so a table missing at the source fails its own extraction, not the others'.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
import yaml

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# cursor: incremental by the cursor column; cdc: change data capture from the source's log
# (PostgreSQL only so far: orchestration/cdc/; refused at extraction on other sources).
MODES = ("cursor", "cdc")
RESERVED_MODES: tuple[str, ...] = ()
# What a personal column becomes when its subject is forgotten (orchestration/lifecycle/forget.py).
ERASURES = ("name", "cnpj", None)

_TABLE_KEYS = frozenset(
    {"description", "primary_key", "cursor", "mode", "exclude", "personal_data", "retention"}
)
_PERSONAL_KEYS = frozenset({"subject", "columns"})
_RETENTION_KEYS = frozenset({"superseded_days", "age_column", "age_days"})


class SourcesError(ValueError):
    """The sources file is wrong, or disagrees with the live source; names file, table, column."""


@dataclass(frozen=True)
class PersonalData:
    subject_column: str  # holds the data subject's customer id
    columns: Mapping[str, str | None]  # column -> "name" | "cnpj" | None (what it becomes)


@dataclass(frozen=True)
class Retention:
    superseded_days: int | None = None
    age_column: str | None = None
    age_days: int | None = None


@dataclass(frozen=True)
class SourceTable:
    name: str
    description: str
    primary_key: str
    cursor_column: str
    mode: str = "cursor"
    exclude: tuple[str, ...] = ()
    personal_data: PersonalData | None = None
    retention: Retention = Retention()

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.primary_key,)


@dataclass(frozen=True)
class Sources:
    path: Path
    tables: tuple[SourceTable, ...]  # in extraction order

    def __iter__(self) -> Iterator[SourceTable]:
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    def table(self, name: str) -> SourceTable:
        for t in self.tables:
            if t.name == name:
                return t
        raise SourcesError(f"{self.path}: no table {name!r} is declared (declared: {', '.join(self.names)})")


def load_sources(path: Path | str | None = None) -> Sources:
    """The declared sources; ``None`` = the file named by settings (``SOURCES_FILE``)."""
    if path is None:
        from orchestration.settings import sources_file

        path = sources_file()
    return _load(Path(path).resolve())


@lru_cache(maxsize=8)
def _load(path: Path) -> Sources:
    try:
        text = path.read_text()
    except OSError as exc:
        raise SourcesError(f"{path}: cannot read the sources file ({exc.strerror})") from None
    try:
        document = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise SourcesError(f"{path}: not valid YAML: {exc}") from None
    if (
        not isinstance(document, dict)
        or set(document) != {"tables"}
        or not isinstance(document["tables"], dict)
    ):
        raise SourcesError(f"{path}: expected one top-level key 'tables' mapping table names to entries")
    # PyYAML keeps the last of two equal keys silently; find repeats in the text itself.
    _refuse_repeated_tables(path, yaml.compose(text, Loader=SAFE_LOADER))
    return Sources(path, tuple(_table(path, name, entry) for name, entry in document["tables"].items()))


def _refuse_repeated_tables(path: Path, root: yaml.Node) -> None:
    for key, value in root.value:
        if key.value != "tables":
            continue
        seen: set[str] = set()
        for table_key, _ in value.value:
            if table_key.value in seen:
                raise SourcesError(f"{path}: table {table_key.value!r} is declared twice")
            seen.add(table_key.value)


def _table(path: Path, name: str, entry: object) -> SourceTable:
    where = f"{path}: table {name!r}"
    if not isinstance(entry, dict):
        raise SourcesError(f"{where}: expected a mapping of settings")
    _no_unknown_keys(where, entry, _TABLE_KEYS)
    for required in ("description", "primary_key", "cursor"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise SourcesError(f"{where}: '{required}' is required (a non-empty string)")
    mode = entry.get("mode", "cursor")
    if mode in RESERVED_MODES:
        raise SourcesError(f"{where}: mode {mode!r} is reserved and not implemented yet; use mode: cursor")
    if mode not in MODES:
        raise SourcesError(f"{where}: unknown mode {mode!r}; the supported modes are: {', '.join(MODES)}")
    exclude = entry.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(c, str) for c in exclude):
        raise SourcesError(f"{where}: 'exclude' must be a list of column names")
    kept = {entry["primary_key"], entry["cursor"]} & set(exclude)
    if kept:
        raise SourcesError(f"{where}: column {sorted(kept)[0]!r} is the key or cursor and cannot be excluded")
    return SourceTable(
        name=name,
        description=entry["description"].strip(),
        primary_key=entry["primary_key"],
        cursor_column=entry["cursor"],
        mode=mode,
        exclude=tuple(exclude),
        personal_data=_personal_data(where, entry.get("personal_data")),
        retention=_retention(where, entry.get("retention")),
    )


def _personal_data(where: str, entry: object) -> PersonalData | None:
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise SourcesError(f"{where}: 'personal_data' must be a mapping with subject and columns")
    _no_unknown_keys(f"{where} personal_data", entry, _PERSONAL_KEYS)
    columns = entry.get("columns")
    if not isinstance(entry.get("subject"), str) or not isinstance(columns, dict) or not columns:
        raise SourcesError(f"{where}: 'personal_data' needs 'subject' (a column) and 'columns' (a mapping)")
    for column, becomes in columns.items():
        if becomes not in ERASURES:
            raise SourcesError(
                f"{where}: personal column {column!r} becomes {becomes!r}; expected name, cnpj or null"
            )
    return PersonalData(subject_column=entry["subject"], columns=dict(columns))


def _retention(where: str, entry: object) -> Retention:
    if entry is None:
        return Retention()
    if not isinstance(entry, dict):
        raise SourcesError(f"{where}: 'retention' must be a mapping")
    _no_unknown_keys(f"{where} retention", entry, _RETENTION_KEYS)
    for key in ("superseded_days", "age_days"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise SourcesError(f"{where}: retention {key} must be a positive number of days")
    if ("age_column" in entry) != ("age_days" in entry):
        raise SourcesError(f"{where}: retention needs both age_column and age_days, or neither")
    return Retention(entry.get("superseded_days"), entry.get("age_column"), entry.get("age_days"))


def _no_unknown_keys(where: str, entry: dict, known: frozenset[str]) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise SourcesError(f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")


def check_table_against_source(sources: Sources, table: SourceTable, inspector: sa.Inspector) -> None:
    """The table exists at the source, with every column the declaration names."""
    where = f"{sources.path}: table {table.name!r}"
    if not inspector.has_table(table.name):
        raise SourcesError(f"{where} does not exist in the operational database")
    present = {c["name"] for c in inspector.get_columns(table.name)}
    named = [
        ("primary key", table.primary_key),
        ("cursor", table.cursor_column),
        *(("excluded", c) for c in table.exclude),
    ]
    for role, column in named:
        if column not in present:
            raise SourcesError(
                f"{where}: {role} column {column!r} does not exist in the operational database"
            )
