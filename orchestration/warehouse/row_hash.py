"""One row hash, computed alike in every database that takes part in a comparison.

The completeness reconciliation (orchestration/reconcile/) compares a source table with its
raw copy without moving rows: each side sums a hash of every row per key range in its own
SQL, and only ranges whose sums differ are looked at more closely. For that the same row
must hash to the same value in PostgreSQL, MySQL/MariaDB, SQLite, DuckDB and BigQuery, so
each value is first written in one canonical text form:

========== ===================================================================
kind       canonical text
========== ===================================================================
int        decimal digits
decimal    the value times 10^scale, rounded, as digits (12.50 at scale 2: 1250)
float      the value times 10^6, rounded, as digits (compared to a millionth)
bool       1 or 0
timestamp  microseconds since 1970-01-01 (UTC)
date       YYYY-MM-DD
string     the text itself
========== ===================================================================

A value is prefixed with ``v`` and NULL is ``n`` (so NULL and the text 'n' differ), values
are joined with ``|``, the MD5 of the result is taken and its first two groups of eight hex
digits become two integers. Sums of 32-bit integers fit a 64-bit integer for any table of
fewer than two billion rows per range, on every engine (BigQuery's SUM of INT64 overflows
otherwise); two of them give 64 bits against an accidental match.

Each dialect here is only SQL text: it runs nothing. Identifiers arrive quoted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["int", "decimal", "float", "bool", "timestamp", "date", "string"]


@dataclass(frozen=True)
class HashedColumn:
    name: str
    kind: Kind
    scale: int = 0


def column_kind(arrow_type: pa.DataType) -> tuple[Kind, int]:
    if pa.types.is_boolean(arrow_type):
        return "bool", 0
    if pa.types.is_integer(arrow_type):
        return "int", 0
    if pa.types.is_decimal(arrow_type):
        return "decimal", arrow_type.scale
    if pa.types.is_floating(arrow_type):
        return "float", 0
    if pa.types.is_timestamp(arrow_type):
        return "timestamp", 0
    if pa.types.is_date(arrow_type):
        return "date", 0
    return "string", 0


def hashed_columns(arrow_schema: pa.Schema, names: list[str]) -> list[HashedColumn]:
    columns = []
    for name in names:
        kind, scale = column_kind(arrow_schema.field(name).type)
        columns.append(HashedColumn(name, kind, scale))
    return columns


class RowHashDialect:
    """The SQL pieces of the hash in one dialect; subclasses override what differs."""

    name = "generic"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        raise NotImplementedError

    def concat(self, parts: list[str]) -> str:
        return "(" + " || ".join(parts) + ")"

    def md5_hex(self, text: str) -> str:
        return f"md5({text})"

    def hex_to_int(self, hex8: str) -> str:
        raise NotImplementedError

    def substr(self, text: str, start: int, length: int) -> str:
        return f"substr({text}, {start}, {length})"

    def int_div(self, numerator: str, denominator: int) -> str:
        return f"(({numerator}) / {denominator})"

    def timestamp_literal(self, value: dt.datetime) -> str:
        return f"timestamp '{value.isoformat(sep=' ')}'"

    # -- built from the pieces above -------------------------------------------------------

    def row_text(self, columns: list[tuple[str, HashedColumn]]) -> str:
        """``columns``: (quoted column expression, its kind) in comparison order."""
        parts = []
        for i, (expr, column) in enumerate(columns):
            value = self.concat(["'v'", self.text(expr, column.kind, column.scale)])
            parts.append(f"coalesce({value}, 'n')")
            if i < len(columns) - 1:
                parts.append("'|'")
        return self.concat(parts) if parts else "''"

    def hash_parts(self, hex_expr: str) -> tuple[str, str]:
        return (
            self.hex_to_int(self.substr(hex_expr, 1, 8)),
            self.hex_to_int(self.substr(hex_expr, 9, 8)),
        )


def _scaled(column: str, scale: int) -> str:
    return f"round({column} * 1{'0' * scale})"


class PostgresHash(RowHashDialect):
    name = "postgresql"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        if kind == "decimal":
            return f"({_scaled(column, scale)})::bigint::text"
        if kind == "float":
            return f"({_scaled(column, 6)})::bigint::text"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            return f"(extract(epoch from {column}) * 1000000)::bigint::text"
        if kind == "date":
            return f"to_char({column}, 'YYYY-MM-DD')"
        return f"({column})::text"

    def hex_to_int(self, hex8: str) -> str:
        return f"(('x' || lpad({hex8}, 16, '0'))::bit(64)::bigint)"


class MySqlHash(RowHashDialect):
    """MySQL and MariaDB; the session's time zone must be UTC for TIMESTAMP columns."""

    name = "mysql"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        if kind == "decimal":
            return f"cast(cast({_scaled(column, scale)} as signed) as char)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as signed) as char)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            return f"cast(timestampdiff(microsecond, '1970-01-01 00:00:00', {column}) as char)"
        if kind == "date":
            return f"date_format({column}, '%Y-%m-%d')"
        return f"cast({column} as char)"

    def concat(self, parts: list[str]) -> str:
        return f"concat({', '.join(parts)})"

    def hex_to_int(self, hex8: str) -> str:
        return f"cast(conv({hex8}, 16, 10) as unsigned)"

    def int_div(self, numerator: str, denominator: int) -> str:
        return f"(({numerator}) div {denominator})"

    def timestamp_literal(self, value: dt.datetime) -> str:
        return f"'{value.isoformat(sep=' ')}'"


class SqliteHash(RowHashDialect):
    """SQLite has no MD5: the reconciliation registers ``md5`` on the connection (Python's
    hashlib, the same digest). Timestamps are text as SQLAlchemy writes them."""

    name = "sqlite"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        if kind == "decimal":
            return f"cast(cast({_scaled(column, scale)} as integer) as text)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as integer) as text)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            fraction = f"cast(substr(substr({column}, 21) || '000000', 1, 6) as integer)"
            return f"cast(cast(strftime('%s', {column}) as integer) * 1000000 + {fraction} as text)"
        if kind == "date":
            return f"substr({column}, 1, 10)"
        return f"cast({column} as text)"

    def hex_to_int(self, hex8: str) -> str:
        # SQLite reads no hex text as a number; the registered function does.
        return f"hex_to_int({hex8})"

    def timestamp_literal(self, value: dt.datetime) -> str:
        return f"'{value.isoformat(sep=' ')}'"


class DuckDBHash(RowHashDialect):
    name = "duckdb"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        if kind == "decimal":
            return f"cast(cast({_scaled(column, scale)} as bigint) as varchar)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as bigint) as varchar)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            return f"cast(epoch_us({column}) as varchar)"
        if kind == "date":
            return f"strftime({column}, '%Y-%m-%d')"
        return f"cast({column} as varchar)"

    def hex_to_int(self, hex8: str) -> str:
        return f"cast(('0x' || {hex8}) as bigint)"

    def int_div(self, numerator: str, denominator: int) -> str:
        return f"(({numerator}) // {denominator})"


class BigQueryHash(RowHashDialect):
    name = "bigquery"

    def text(self, column: str, kind: Kind, scale: int) -> str:
        if kind == "decimal":
            return f"cast(cast({_scaled(column, scale)} as int64) as string)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as int64) as string)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            return f"cast(unix_micros({column}) as string)"
        if kind == "date":
            return f"format_date('%Y-%m-%d', {column})"
        return f"cast({column} as string)"

    def concat(self, parts: list[str]) -> str:
        return f"concat({', '.join(parts)})"

    def md5_hex(self, text: str) -> str:
        return f"to_hex(md5({text}))"

    def hex_to_int(self, hex8: str) -> str:
        return f"cast(concat('0x', {hex8}) as int64)"

    def int_div(self, numerator: str, denominator: int) -> str:
        # Not DIV(): the emulator translates it to a float division. Exact below 2^53.
        return f"cast(floor(({numerator}) / {denominator}) as int64)"

    def timestamp_literal(self, value: dt.datetime) -> str:
        return f"timestamp '{value.isoformat(sep=' ')}+00'"


SOURCE_DIALECTS: dict[str, type[RowHashDialect]] = {
    "postgresql": PostgresHash,
    "mysql": MySqlHash,
    "mariadb": MySqlHash,
    "sqlite": SqliteHash,
}


def source_dialect(dialect_name: str) -> RowHashDialect:
    try:
        return SOURCE_DIALECTS[dialect_name]()
    except KeyError:
        raise ValueError(
            f"completeness reconciliation supports PostgreSQL, MySQL/MariaDB and SQLite sources, "
            f"not {dialect_name!r}"
        ) from None
