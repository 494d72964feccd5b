"""The two sides of a completeness comparison: the source table and raw's latest versions.

Each side answers the same three questions in its own database's SQL, so no row travels
to Python unless its key range already differs:

* ``bounds()``: a lowest and highest key that every key the side holds lies between (raw's
  are over all its versions, deleted or not: no ranking needed for them);
* ``buckets(ranges, lo, width)``: per bucket ``(key - lo) div width`` of the given key
  ranges, the row count and the sum of the row hashes (orchestration/warehouse/row_hash.py);
* ``rows(ranges)``: per key, its hash and one extra value (the source's cursor, or raw's
  data subject), in key order; only ever asked for ranges that differ.

Key ranges are half-open ``[start, stop)`` and written into the SQL as integer literals
(keys are integers by construction: the caller refuses other key types).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from orchestration.warehouse.row_hash import HashedColumn, RowHashDialect, checksum
from orchestration.warehouse.sql import WarehouseSql

Range = tuple[int, int]
BucketStats = dict[int, tuple[int, int]]  # bucket -> (rows, sum of the row hashes mod 2^64)


def ranges_filter(key: str, ranges: Sequence[Range]) -> str:
    if not ranges:
        return "1 = 0"
    return "(" + " or ".join(f"({key} >= {int(a)} and {key} < {int(b)})" for a, b in ranges) + ")"


@dataclass(frozen=True)
class HashedRelation:
    """How one side hashes: the relation (with the range filter applied inside it), the
    key, the extra column and the hashed columns, all in one dialect."""

    dialect: RowHashDialect
    key: str  # quoted
    extra: str  # quoted column returned next to the hash by rows()
    columns: list[tuple[str, HashedColumn]]  # (quoted expression, kind)

    def hashed(self, relation: str, carry: tuple[tuple[str, str], ...] = ()) -> str:
        """``select k, x, h1, h2`` (and ``carry``) over ``relation``."""
        text = self.dialect.row_text(self.columns)
        return self.dialect.hashed_row(self.key, self.extra, text, relation, carry)

    def buckets_sql(self, hashed: str, lo: int, width: int) -> str:
        """Per bucket of ``hashed`` (a :meth:`hashed` query): rows and hash sums."""
        bucket = self.dialect.int_div(f"k - {int(lo)}", int(width))
        return (
            f"select {bucket} as b, count(*) as n, sum(h1) as s1, sum(h2) as s2 "
            f"from ({hashed}) parts group by {bucket}"
        )

    def rows_sql(self, hashed: str) -> str:
        return f"select k, x, h1, h2 from ({hashed}) parts order by k"

    def bounds_sql(self, relation: str) -> str:
        return f"select min({self.key}), max({self.key}) from {relation}"


def _bounds(row: Sequence[Any]) -> tuple[int | None, int | None]:
    lo, hi = row[0], row[1]
    return (None if lo is None else int(lo), None if hi is None else int(hi))


def _buckets(rows: Sequence[Sequence[Any]]) -> BucketStats:
    return {int(b): (int(n), checksum(s1, s2)) for b, n, s1, s2 in rows}


class SourceSide:
    """The operational table, read through the DBAPI cursor of a SQLAlchemy engine.

    Plain DBAPI ``execute(sql)`` without parameters: no driver then reads ``%`` or ``:``
    in the SQL (a date format, a timestamp literal) as a placeholder.
    """

    def __init__(
        self,
        engine: sa.Engine,
        hashed: HashedRelation,
        table: str,
        where: str | None = None,
    ) -> None:
        self._engine = engine
        self._hashed = hashed
        self._table = table
        self._where = where

    def _relation(self, ranges: Sequence[Range] | None) -> str:
        conditions = [
            c for c in (self._where, ranges_filter(self._hashed.key, ranges) if ranges else None) if c
        ]
        where = f" where {' and '.join(conditions)}" if conditions else ""
        return f"(select * from {self._table}{where}) src"

    def _query(self, sql: str) -> list[tuple]:
        raw = self._engine.raw_connection()
        try:
            dialect = self._engine.dialect.name
            cursor = raw.cursor()
            try:
                if dialect == "sqlite":
                    driver = raw.driver_connection
                    driver.create_function("md5", 1, _md5, deterministic=True)
                    driver.create_function("hex_to_int", 1, _hex_to_int, deterministic=True)
                elif dialect in ("mysql", "mariadb"):
                    cursor.execute("set time_zone = '+00:00'")
                elif dialect == "postgresql":  # the row hash reads timestamps' ISO text
                    cursor.execute("set DateStyle = 'ISO, MDY'")
                cursor.execute(sql)
                return [tuple(r) for r in cursor.fetchall()]
            finally:
                cursor.close()
                raw.rollback()
        finally:
            raw.close()

    def bounds(self) -> tuple[int | None, int | None]:
        return _bounds(self._query(self._hashed.bounds_sql(self._relation(None)))[0])

    def buckets(self, ranges: Sequence[Range], lo: int, width: int) -> BucketStats:
        hashed = self._hashed.hashed(self._relation(ranges))
        return _buckets(self._query(self._hashed.buckets_sql(hashed, lo, width)))

    def top_buckets(self, lo: int, width: int, stop: int) -> BucketStats:
        return self.buckets([(lo, stop)], lo, width)

    def rows(self, ranges: Sequence[Range]) -> list[tuple]:
        return self._query(self._hashed.rows_sql(self._hashed.hashed(self._relation(ranges))))


class RawSide:
    """Raw's latest version of each key, as staging sees it (macros/latest_version.sql and
    macros/lifecycle.sql): newest cursor, then newest load; a key recorded as hard-deleted
    after that version was loaded is not there."""

    def __init__(
        self,
        sql: WarehouseSql,
        hashed: HashedRelation,
        *,
        dataset: str,
        table: str,
        cursor: str,
        deleted_keys: str | None,
        where: str | None = None,
        where_columns: tuple[str, ...] = (),
    ) -> None:
        self._sql = sql
        self._hashed = hashed
        self._dataset = dataset
        self._table = table
        self._cursor = cursor
        self._deleted_keys = deleted_keys  # the table, or None when no deletion was ever recorded
        self._where = where  # on the latest version, naming where_columns (quoted)
        self._where_columns = where_columns

    def _latest(self, rows: str, columns: str) -> str:
        """``columns`` of the latest live version of each key, ranked over ``rows``: a select
        that carries ``k``, ``_c`` (cursor) and ``_l`` (load time) and the where columns.

        Each version is narrowed (and hashed) before the ranking, so the window buffers a few
        numbers per row rather than every column."""
        ranked = (
            "select h.*, row_number() over (partition by h.k order by h._c desc nulls last, h._l desc) "
            f"as _version_rank from ({rows}) as h"
        )
        conditions = ["r._version_rank = 1"]
        if self._deleted_keys:
            conditions.append(
                f"not exists (select 1 from {self._deleted_keys} as d where d.table_name = "
                f"'{self._table}' and d.id = r.k and d.detected_at >= r._l)"
            )
        if self._where:
            conditions.append(self._where)
        return f"select {columns} from ({ranked}) as r where {' and '.join(conditions)}"

    def _versions(self, ranges: Sequence[Range] | None) -> str:
        key = self._hashed.key
        where = f" where {ranges_filter(key, ranges)}" if ranges else ""
        return f"{self._sql.relation(self._dataset, self._table)} as v{where}"

    def _carry(self) -> tuple[tuple[str, str], ...]:
        return (
            (self._sql.quote(self._cursor), "_c"),
            ("_loaded_at", "_l"),
            *((column, column) for column in self._where_columns),
        )

    def _hashed_latest(self, ranges: Sequence[Range] | None) -> str:
        rows = self._hashed.hashed(self._versions(ranges), self._carry())
        return self._latest(rows, "k, x, h1, h2")

    def bounds(self) -> tuple[int | None, int | None]:
        return _bounds(self._sql.rows(self._hashed.bounds_sql(self._versions(None)))[0])

    def buckets(self, ranges: Sequence[Range], lo: int, width: int) -> BucketStats:
        return _buckets(self._sql.rows(self._hashed.buckets_sql(self._hashed_latest(ranges), lo, width)))

    def top_buckets(self, lo: int, width: int, stop: int) -> BucketStats:
        return self.buckets([(lo, stop)], lo, width)

    def rows(self, ranges: Sequence[Range]) -> list[tuple]:
        return [tuple(r) for r in self._sql.rows(self._hashed.rows_sql(self._hashed_latest(ranges)))]

    def guards(self, lo: int, width: int, columns: Sequence[str]) -> dict[int, tuple[int, ...]] | None:
        """Per bucket, what raw's latest live versions there depend on, cheaply: the number of
        versions and the sum of a native hash of ``columns`` (quoted: every column, metadata
        included) over all of them, how many pass the retention filter, and the count and
        hash sum of the bucket's deleted-keys records. None where the warehouse has no cheap
        native hash (bucket_cache.py keeps nothing there)."""
        dialect = self._hashed.dialect
        fingerprint = dialect.native_fingerprint(list(columns))
        if fingerprint is None:
            return None
        bucket = dialect.int_div(f"{self._hashed.key} - {int(lo)}", int(width))
        kept = f"sum(case when {self._where} then 1 else 0 end)" if self._where else "0"
        versions = self._sql.rows(
            f"select {bucket}, count(*), sum({fingerprint}), {kept} from {self._versions(None)} group by 1"
        )
        guards = {int(b): (int(n), int(h), int(k), 0, 0) for b, n, h, k in versions}
        if self._deleted_keys:
            deleted = dialect.native_fingerprint(["d.id", "d.detected_at"])
            for b, n, h in self._sql.rows(
                f"select {dialect.int_div(f'd.id - {int(lo)}', int(width))}, count(*), sum({deleted}) "
                f"from {self._deleted_keys} as d where d.table_name = '{self._table}' group by 1"
            ):
                n_versions, h_versions, n_kept, _, _ = guards.get(int(b), (0, 0, 0, 0, 0))
                guards[int(b)] = (n_versions, h_versions, n_kept, int(n), int(h))
        return guards


def _md5(text: str | None) -> str | None:
    if text is None:
        return None
    return hashlib.md5(text.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def _hex_to_int(text: str | None) -> int | None:
    return None if text is None else int(text, 16)
