"""Parse Marketo bulk export CSV files into pyarrow record batches of strings.

The file is parsed as a CSV stream (``csv`` module over a text stream opened with
``newline=""``), never split into lines first, so quoted values may hold commas, doubled
quotes, CR, LF, CRLF and U+2028/U+2029 (``str.splitlines`` would break on the last two;
the text stream does not). Decisions:

- Every column is a string; typing happens in dbt staging.
- The unquoted literal ``null`` (Marketo's empty value) becomes a real null. Marketo does
  not distinguish a lead whose value is the text "null" from an empty one, so neither can we.
- NUL bytes are stripped from values: BigQuery and PostgreSQL reject them in strings and
  they carry no meaning in Marketo data. The number stripped is reported (``nul_bytes_stripped``).
- Invalid UTF-8 is replaced by U+FFFD instead of failing the load; a UTF-8 BOM is dropped.
- A header-only file gives an empty table with the header's columns.
- JSON columns (``attributes`` in activity exports) stay JSON text but must parse.
- A row whose field count differs from the header's is a broken file: ``CsvFormatError``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pyarrow as pa

NULL_LITERAL = "null"
DEFAULT_JSON_COLUMNS = ("attributes",)

csv.field_size_limit(1 << 30)  # Marketo text fields can be long (e.g. form payloads)


class CsvFormatError(ValueError):
    """The export file is not the CSV Marketo documents (wrong field count, invalid JSON...)."""


class CsvBatchReader:
    """Iterate a Marketo CSV as ``pa.RecordBatch`` es (all ``string`` columns)."""

    def __init__(
        self,
        source: IO[bytes],
        *,
        batch_rows: int = 50_000,
        json_columns: Sequence[str] = DEFAULT_JSON_COLUMNS,
        name: str = "export file",
    ) -> None:
        self._text = io.TextIOWrapper(source, encoding="utf-8-sig", errors="replace", newline="")
        self._reader = csv.reader(self._text, strict=True)
        self.batch_rows = batch_rows
        self.name = name
        self.nul_bytes_stripped = 0
        self.rows_read = 0
        try:
            header = next(self._reader)
        except StopIteration:
            raise CsvFormatError(f"{name}: empty file, not even a header") from None
        except csv.Error as exc:
            raise CsvFormatError(f"{name}: unreadable header: {exc}") from None
        self.columns = [self._clean(h) or f"column_{i}" for i, h in enumerate(header)]
        if len(set(self.columns)) != len(self.columns):
            raise CsvFormatError(f"{name}: duplicate column names in header {self.columns}")
        self.schema = pa.schema([pa.field(c, pa.string()) for c in self.columns])
        self._json_idx = [i for i, c in enumerate(self.columns) if c in json_columns]

    def _clean(self, value: str) -> str:
        if "\x00" in value:
            self.nul_bytes_stripped += value.count("\x00")
            value = value.replace("\x00", "")
        return value

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        width = len(self.columns)
        cols: list[list[str | None]] = [[] for _ in range(width)]
        count = 0
        try:
            for row in self._reader:
                if not row:  # a blank line between records
                    continue
                if len(row) != width:
                    raise CsvFormatError(
                        f"{self.name}: record {self.rows_read + 1} (line {self._reader.line_num}) has "
                        f"{len(row)} fields, the header has {width}"
                    )
                for i, raw in enumerate(row):
                    value = None if raw == NULL_LITERAL else self._clean(raw)
                    cols[i].append(value)
                for i in self._json_idx:
                    value = cols[i][-1]
                    if value is not None and value != "":
                        try:
                            json.loads(value)
                        except ValueError as exc:
                            raise CsvFormatError(
                                f"{self.name}: record {self.rows_read + 1}: column {self.columns[i]!r} "
                                f"is not valid JSON ({exc})"
                            ) from None
                self.rows_read += 1
                count += 1
                if count >= self.batch_rows:
                    yield self._batch(cols)
                    cols = [[] for _ in range(width)]
                    count = 0
        except csv.Error as exc:
            raise CsvFormatError(f"{self.name}: line {self._reader.line_num}: {exc}") from None
        if count:
            yield self._batch(cols)

    def _batch(self, cols: list[list[str | None]]) -> pa.RecordBatch:
        return pa.record_batch([pa.array(c, type=pa.string()) for c in cols], schema=self.schema)

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self), schema=self.schema)


def read_csv_table(source: Path | str | bytes | IO[bytes], **kwargs) -> pa.Table:
    """Whole file to a table (a header-only file gives zero rows with the header's columns)."""
    if isinstance(source, bytes):
        return CsvBatchReader(io.BytesIO(source), **kwargs).read_all()
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return CsvBatchReader(fh, name=str(source), **kwargs).read_all()
    return CsvBatchReader(source, **kwargs).read_all()
