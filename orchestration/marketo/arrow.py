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


def records_table(records: list[dict[str, Any]], timestamp_columns: tuple[str, ...]) -> pa.Table:
    """REST records to strings (nested values as JSON), timestamps typed; columns in first-seen order."""
    columns: dict[str, None] = {}
    for record in records:
        columns.update(dict.fromkeys(record))
    data = {
        name: [
            None
            if (v := r.get(name)) is None
            else v
            if isinstance(v, str)
            else json.dumps(v, ensure_ascii=False, sort_keys=True)
            if isinstance(v, dict | list)
            else str(v).lower()
            if isinstance(v, bool)
            else str(v)
            for r in records
        ]
        for name in columns
    }
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in data.items()})
    return to_timestamps(table, timestamp_columns)
