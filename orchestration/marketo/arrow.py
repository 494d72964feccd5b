"""Marketo's JSON and CSV values as typed Arrow columns."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from orchestration.marketo.windows import parse_ts


def to_timestamps(table: pa.Table, columns: Iterable[str]) -> pa.Table:
    """Marketo ISO-8601 strings to naive UTC ``timestamp[us]`` (like the other raw tables)."""
    for name in columns:
        if name not in table.column_names:
            continue
        values = [
            None if v is None else parse_ts(v).replace(tzinfo=None) for v in table.column(name).to_pylist()
        ]
        index = table.column_names.index(name)
        table = table.set_column(index, name, pa.array(values, type=pa.timestamp("us")))
    return table


def marketo_string(value: Any) -> str | None:
    """A REST value as the bulk CSV writes it: nested values as JSON, booleans lowercase."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def string_table(records: list[dict[str, Any]], columns: Iterable[str]) -> pa.Table:
    """REST records as a table of strings with exactly ``columns`` (Marketo omits null fields)."""
    return pa.table(
        {name: pa.array([marketo_string(r.get(name)) for r in records], type=pa.string()) for name in columns}
    )


def records_table(records: list[dict[str, Any]], timestamp_columns: tuple[str, ...]) -> pa.Table:
    """REST records to strings (nested values as JSON), timestamps typed; columns in first-seen order."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    return to_timestamps(string_table(records, columns), timestamp_columns)
