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
decimal    fixed-point text with exactly the column's scale (12.50, -0.50, 12)
float      the value times 10^6, rounded, as digits (compared to a millionth)
bool       1 or 0
timestamp  UTC, ``YYYY-MM-DD HH:MM:SS`` then ``.`` and the microseconds without
           trailing zeros when there are any (PostgreSQL's own text form)
date       YYYY-MM-DD
string     the text itself
========== ===================================================================

A value is prefixed with ``v`` and NULL is ``n`` (so NULL and the text 'n' differ), values
are joined with ``|`` and the MD5 of the result is taken; its first 64 bits are the row's
hash. Each dialect returns them as two parts ``(h1, h2)`` meaning ``h1 * 2^32 + h2``, and sums
of them per bucket the same way; the comparison reads every value modulo 2^64
(:func:`checksum`). So each engine may take the cheapest exact route: PostgreSQL, MySQL and DuckDB
one 64-bit integer summed exactly (a decimal, DuckDB's HUGEINT; then ``h1 = 0``), SQLite and
BigQuery two 32-bit halves (their SUM of a 64-bit integer would overflow).

The forms are the ones PostgreSQL writes cheapest (its output functions, as COPY uses),
because the source is where the big tables are; the warehouses, columnar engines, rebuild
them with string functions at little cost.

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
    scale: int = 0  # decimals: the column's scale; timestamps: 1 when time-zone aware
    # Decimals: the source declares exactly this scale (NUMERIC(p, s)), so every value already
    # prints with it and the source side need not round (a third of PostgreSQL's cost).
    declared_scale: bool = False


def checksum(h1: int, h2: int) -> int:
    """A row's hash, or a bucket's sum of them, from its two parts, modulo 2^64."""
    return (int(h1) * 2**32 + int(h2)) % 2**64


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
        return "timestamp", 1 if arrow_type.tz else 0
    if pa.types.is_date(arrow_type):
        return "date", 0
    return "string", 0


def hashed_columns(
    arrow_schema: pa.Schema, names: list[str], declared_scales: dict[str, int | None] | None = None
) -> list[HashedColumn]:
    """``declared_scales``: each source column's declared decimal scale (None: not declared)."""
    columns = []
    for name in names:
        kind, scale = column_kind(arrow_schema.field(name).type)
        declared = kind == "decimal" and (declared_scales or {}).get(name) == scale
        columns.append(HashedColumn(name, kind, scale, declared))
    return columns


class RowHashDialect:
    """The SQL pieces of the hash in one dialect; subclasses override what differs."""

    name = "generic"
    fingerprint_version_sql: str | None = None  # the engine version native_fingerprint depends on

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
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

    def native_fingerprint(self, exprs: list[str]) -> str | None:
        """The engine's own fast hash of ``exprs`` as an unsigned integer, or None.

        Not portable (it differs between engines and may between versions): only for telling
        whether the same warehouse's rows changed since an earlier check."""
        return None

    # -- built from the pieces above -------------------------------------------------------

    def row_text(self, columns: list[tuple[str, HashedColumn]]) -> str:
        """``columns``: (quoted column expression, its kind) in comparison order."""
        parts = []
        for i, (expr, column) in enumerate(columns):
            value = self.concat(["'v'", self.text(expr, column.kind, column.scale, column.declared_scale)])
            parts.append(f"coalesce({value}, 'n')")
            if i < len(columns) - 1:
                parts.append("'|'")
        return self.concat(parts) if parts else "''"

    def hash_parts(self, hex_expr: str) -> tuple[str, str]:
        return (
            self.hex_to_int(self.substr(hex_expr, 1, 8)),
            self.hex_to_int(self.substr(hex_expr, 9, 8)),
        )

    def hash64(self, text: str) -> str | None:
        """The hash's first 64 bits as one integer, where the engine sums such values exactly
        (then ``h1 = 0``); None where it would overflow (two 32-bit halves instead)."""
        return None

    def hashed_row(
        self, key: str, extra: str, text: str, relation: str, carry: tuple[tuple[str, str], ...] = ()
    ) -> str:
        """``select k, x, h1, h2``: the key, the extra column and the hash's two parts, plus
        ``carry``'s (expression, alias) columns passed through.

        The hash is computed in the inner select and used once in the outer one where it is one
        integer: PostgreSQL inlines the subquery, and would otherwise take the MD5 per use."""
        outer, inner = _carried(carry)
        wide = self.hash64(text)
        if wide is not None:
            hashed, parts = f"{wide} as v", "0 as h1, v as h2"
        else:
            h1, h2 = self.hash_parts("h")
            hashed, parts = f"{self.md5_hex(text)} as h", f"{h1} as h1, {h2} as h2"
        return (
            f"select k, x, {parts}{outer} from ("
            f"select {key} as k, {extra} as x, {hashed}{inner} from {relation}) hashed"
        )


def _scaled(column: str, scale: int) -> str:
    return f"round({column} * 1{'0' * scale})"


def _carried(carry: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    return "".join(f", {alias}" for _, alias in carry), "".join(
        f", {expr} as {alias}" for expr, alias in carry
    )


def _trim_fraction(text_with_six_digits: str) -> str:
    """``...SS.ffffff`` without the fraction's trailing zeros, and without the point if none are left."""
    return f"rtrim(rtrim({text_with_six_digits}, '0'), '.')"


class PostgresHash(RowHashDialect):
    name = "postgresql"

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
        if kind == "decimal":
            return f"({column})::text" if declared else f"round({column}, {scale})::text"
        if kind == "float":
            return f"({_scaled(column, 6)})::bigint::text"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":  # the source connection sets DateStyle ISO
            return f"({column} at time zone 'UTC')::text" if scale else f"({column})::text"
        if kind == "date":
            return f"({column})::text"
        return f"({column})::text"

    def hash64(self, text: str) -> str:
        # A signed bigint (the sums read modulo 2^64); SUM of bigint is an exact numeric.
        return f"('x' || substr(md5({text}), 1, 16))::bit(64)::bigint"


class MySqlHash(RowHashDialect):
    """MySQL and MariaDB; the session's time zone must be UTC for TIMESTAMP columns."""

    name = "mysql"

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
        if kind == "decimal":
            return f"cast({column} as char)" if declared else f"cast(round({column}, {scale}) as char)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as signed) as char)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            six = f"date_format({column}, '%Y-%m-%d %H:%i:%s.%f')"
            return f"trim(trailing '.' from trim(trailing '0' from {six}))"
        if kind == "date":
            return f"date_format({column}, '%Y-%m-%d')"
        return f"cast({column} as char)"

    def concat(self, parts: list[str]) -> str:
        return f"concat({', '.join(parts)})"

    def hash64(self, text: str) -> str:
        # An unsigned 64-bit integer; SUM of it is an exact DECIMAL.
        return f"cast(conv(substr(md5({text}), 1, 16), 16, 10) as unsigned)"

    def int_div(self, numerator: str, denominator: int) -> str:
        return f"(({numerator}) div {denominator})"

    def timestamp_literal(self, value: dt.datetime) -> str:
        return f"'{value.isoformat(sep=' ')}'"


class SqliteHash(RowHashDialect):
    """SQLite has no MD5: the reconciliation registers ``md5`` on the connection (Python's
    hashlib, the same digest). Timestamps are text as SQLAlchemy writes them."""

    name = "sqlite"

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
        if kind == "decimal":
            return f"printf('%.{scale}f', {column})"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as integer) as text)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            fraction = f"substr(substr({column}, 21) || '000000', 1, 6)"
            return _trim_fraction(f"(strftime('%Y-%m-%d %H:%M:%S', {column}) || '.' || {fraction})")
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
    fingerprint_version_sql = "select version()"

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
        if kind == "decimal":  # raw keeps the source's scale: DuckDB prints exactly that
            return f"cast({column} as varchar)"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as bigint) as varchar)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":  # DuckDB prints a TIMESTAMP as PostgreSQL does
            return f"cast(timezone('UTC', {column}) as varchar)" if scale else f"cast({column} as varchar)"
        if kind == "date":
            return f"strftime({column}, '%Y-%m-%d')"
        return f"cast({column} as varchar)"

    def row_text(self, columns: list[tuple[str, HashedColumn]]) -> str:
        # The same text as the generic form, built by one concat() call: a chain of || and
        # coalesce() materialises every intermediate string, which made the text of a
        # 10 M-row table cost twice the CPU (measured in docs/benchmarks.md). DuckDB's concat
        # skips NULLs, so a NULL value contributes its 'n' marker alone.
        parts = []
        for i, (expr, column) in enumerate(columns):
            parts.append(f"case when ({expr}) is null then 'n' else 'v' end")
            parts.append(self.text(expr, column.kind, column.scale, column.declared_scale))
            if i < len(columns) - 1:
                parts.append("'|'")
        return f"concat({', '.join(parts)})" if parts else "''"

    def hex_to_int(self, hex8: str) -> str:
        return f"cast(('0x' || {hex8}) as bigint)"

    def native_fingerprint(self, exprs: list[str]) -> str:
        # hash() of ten columns costs 1/30 of the MD5 of their text (measured on 10 M rows).
        return f"hash({', '.join(exprs)})"

    def hash64(self, text: str) -> str:
        # An unsigned 64-bit integer; DuckDB sums UBIGINT into an exact HUGEINT. (md5_number
        # would skip the hex text, but reads the digest little-endian: another number.)
        return f"cast(('0x' || substr(md5({text}), 1, 16)) as ubigint)"

    def int_div(self, numerator: str, denominator: int) -> str:
        return f"(({numerator}) // {denominator})"


class BigQueryHash(RowHashDialect):
    name = "bigquery"

    def text(self, column: str, kind: Kind, scale: int, declared: bool = False) -> str:
        if kind == "decimal":
            # BigQuery prints NUMERIC without trailing zeros: build the fixed-point text from
            # the scaled integer (floor division, see int_div).
            units = f"abs(cast({_scaled(column, scale)} as int64))"
            sign = f"if({column} < 0, '-', '')"
            if not scale:
                return f"concat({sign}, cast({units} as string))"
            whole = f"cast(floor({units} / 1{'0' * scale}) as int64)"
            part = f"mod({units}, 1{'0' * scale})"
            return f"concat({sign}, cast({whole} as string), '.', lpad(cast({part} as string), {scale}, '0'))"
        if kind == "float":
            return f"cast(cast({_scaled(column, 6)} as int64) as string)"
        if kind == "bool":
            return f"(case when {column} then '1' when not {column} then '0' end)"
        if kind == "timestamp":
            micros = f"lpad(cast(mod(unix_micros({column}), 1000000) as string), 6, '0')"
            return _trim_fraction(f"concat(format_timestamp('%Y-%m-%d %H:%M:%S', {column}), '.', {micros})")
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
