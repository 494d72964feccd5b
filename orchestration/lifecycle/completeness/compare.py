"""Completeness reconciliation: does raw's latest version of every key equal the source?

The approach of data-diff, in each database's own SQL (sides.py): both sides sum a row hash
per bucket of a key grid (about ``Grid.top_buckets`` buckets over the whole key span); only
buckets whose count or sums differ are split ``Grid.fanout`` ways and compared again, until a
bucket spans at most ``Grid.leaf_width`` keys; only then are keys and hashes read, for those
ranges alone. A clean 10 M-row table costs one grouped scan on each side, run side by side;
a handful of differences adds a few small range scans (the key's index on the source).

Every difference is classified at the key level:

* ``missing``: in the source, not in raw;
* ``extra``: live in raw, gone from the source (a hard delete not yet recorded);
* ``stale``: in both, raw's latest version differs from the source;
* not divergence: ``pending`` (the source row's cursor is at or past raw's high-water
  mark: the next extraction reads it), ``quarantined`` (the key's source row is in
  ``_rejected_rows``, already reported there), ``forgotten`` (a data subject erased in the
  warehouse but not yet at the source: repairing it would bring the personal data back).

Rows older than a table's age retention (plus a day, so the comparison never races the
retention job) are left out on both sides.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from orchestration.lifecycle.completeness.sides import BucketStats, Range
from orchestration.warehouse.row_hash import checksum


@dataclass(frozen=True)
class Grid:
    top_buckets: int = 1024  # buckets over the whole key span at the first level
    fanout: int = 32  # each differing bucket is split this many ways at the next level
    leaf_width: int = 2048  # keys per bucket at which keys and hashes are read

    def top_level(self, low: int, high: int) -> tuple[int, int]:
        """The first level's start and bucket width for keys in ``[low, high]``.

        The width is a power of two and the start a multiple of it, so the buckets stay the
        same while the table grows (up to twice its key span): raw's per-bucket sums can be
        kept from one check to the next (bucket_cache.py)."""
        width = 1 << max(0, math.ceil((high - low + 1) / self.top_buckets) - 1).bit_length()
        return (low // width) * width, width


DEFAULT_GRID = Grid()


KEYS_PER_ROWS_QUERY = 100_000  # key width of the ranges one rows() query covers
RANGES_PER_QUERY = 200  # OR-ed ranges in one statement
SAMPLE = 10


class Side(Protocol):  # what sides.py implements
    def bounds(self) -> tuple[int | None, int | None]: ...
    def buckets(self, ranges: Sequence[Range], lo: int, width: int) -> BucketStats: ...
    def top_buckets(self, lo: int, width: int, stop: int) -> BucketStats: ...  # of [lo, stop)
    def rows(self, ranges: Sequence[Range]) -> list[tuple]: ...


@dataclass
class Divergence:
    table: str
    source_rows: int = 0
    raw_rows: int = 0
    missing: list[int] = field(default_factory=list)
    extra: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    quarantined: list[int] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)
    levels: int = 0
    buckets_compared: int = 0
    buckets_differing: int = 0
    keys_read: int = 0
    buckets_reused: int = 0  # first-level raw sums taken from the previous check (bucket_cache.py)
    columns: tuple[str, ...] = ()
    columns_not_compared: tuple[str, ...] = ()
    high_water_mark: dt.datetime | None = None
    duration_s: float = 0.0
    raw_table_missing: bool = False  # nothing extracted yet: every source row is missing

    @property
    def ok(self) -> bool:
        return not (self.raw_table_missing or self.missing or self.extra or self.stale)

    @property
    def to_reextract(self) -> list[int]:
        return sorted(self.missing + self.stale)

    def summary(self) -> str:
        if self.raw_table_missing:
            return f"{self.table}: the raw table does not exist yet ({self.source_rows} source rows not extracted)"
        if self.ok:
            return f"{self.table}: raw equals the source ({self.source_rows} rows)"
        parts = [
            f"{len(keys)} {kind} (e.g. keys {', '.join(map(str, keys[:SAMPLE]))})"
            for kind, keys in (("missing", self.missing), ("extra", self.extra), ("stale", self.stale))
            if keys
        ]
        return f"{self.table}: raw differs from the source: " + "; ".join(parts)

    def metadata(self) -> dict[str, object]:
        sample = {
            f"{kind}_sample_keys": ", ".join(map(str, keys[:SAMPLE])) or "none"
            for kind, keys in (("missing", self.missing), ("extra", self.extra), ("stale", self.stale))
        }
        return {
            "source_rows": self.source_rows,
            "raw_rows": self.raw_rows,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "stale": len(self.stale),
            **sample,
            "pending": len(self.pending),
            "quarantined": len(self.quarantined),
            "forgotten": len(self.forgotten),
            "levels": self.levels,
            "buckets_compared": self.buckets_compared,
            "buckets_differing": self.buckets_differing,
            "keys_read": self.keys_read,
            "buckets_reused": self.buckets_reused,
            "columns_compared": len(self.columns),
            "columns_not_compared": ", ".join(self.columns_not_compared) or "none",
            "high_water_mark": self.high_water_mark.isoformat(sep=" ") if self.high_water_mark else "none",
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class Classifier:
    """What a key-level difference means (see the module docstring)."""

    high_water_mark: dt.datetime | None
    quarantined: frozenset[int] = frozenset()
    forgotten_subjects: frozenset[int] = frozenset()

    def is_pending(self, cursor) -> bool:
        if cursor is None or self.high_water_mark is None:
            return cursor is not None  # no mark yet: everything is still to come
        if isinstance(cursor, str):
            cursor = dt.datetime.fromisoformat(cursor)
        if isinstance(cursor, dt.datetime) and cursor.tzinfo is not None:
            cursor = cursor.astimezone(dt.UTC).replace(tzinfo=None)
        if not isinstance(cursor, dt.datetime):  # a date cursor
            cursor = dt.datetime.combine(cursor, dt.time())
        return cursor >= self.high_water_mark


def compare(
    table: str, source: Side, raw: Side, classifier: Classifier, grid: Grid = DEFAULT_GRID
) -> Divergence:
    started = time.perf_counter()
    result = Divergence(table=table, high_water_mark=classifier.high_water_mark)
    with ThreadPoolExecutor(max_workers=2) as pool:

        def both(call: Callable[[Side], object]) -> tuple:
            s, r = pool.submit(call, source), pool.submit(call, raw)
            return s.result(), r.result()

        (s_lo, s_hi), (r_lo, r_hi) = both(lambda side: side.bounds())
        bounds = [v for v in (s_lo, s_hi, r_lo, r_hi) if v is not None]
        if not bounds:
            result.duration_s = time.perf_counter() - started
            return result
        lo, width = grid.top_level(min(bounds), max(bounds))
        stop = max(bounds) + 1
        ranges: list[Range] = [(lo, stop)]
        while True:
            result.levels += 1
            differing = []
            for chunk in _chunks(ranges, RANGES_PER_QUERY):
                if result.levels == 1:  # every key, in one range: the row counts
                    s_stats, r_stats = both(lambda side, w=width: side.top_buckets(lo, w, stop))
                    result.source_rows += sum(n for n, _ in s_stats.values())
                    result.raw_rows += sum(n for n, _ in r_stats.values())
                else:
                    s_stats, r_stats = both(lambda side, c=chunk, w=width: side.buckets(c, lo, w))
                buckets = s_stats.keys() | r_stats.keys()
                result.buckets_compared += len(buckets)
                differing += [b for b in buckets if s_stats.get(b) != r_stats.get(b)]
            result.buckets_differing += len(differing)
            ranges = merge_ranges([(lo + b * width, lo + (b + 1) * width) for b in sorted(differing)])
            if not ranges or width <= grid.leaf_width:
                break
            width = max(1, math.ceil(width / grid.fanout))
        for chunk in _rows_chunks(ranges):
            s_rows, r_rows = both(lambda side, c=chunk: side.rows(c))
            result.keys_read += len(s_rows) + len(r_rows)
            _classify(s_rows, r_rows, classifier, result)
    result.duration_s = time.perf_counter() - started
    return result


def _classify(s_rows: list[tuple], r_rows: list[tuple], classifier: Classifier, result: Divergence) -> None:
    source = {int(k): (cursor, checksum(h1, h2)) for k, cursor, h1, h2 in s_rows}
    raw = {int(k): (subject, checksum(h1, h2)) for k, subject, h1, h2 in r_rows}
    for key in sorted(source.keys() | raw.keys()):
        s, r = source.get(key), raw.get(key)
        if s is not None and r is not None and s[1] == r[1]:
            continue
        if key in classifier.quarantined:
            result.quarantined.append(key)
        elif r is not None and r[0] is not None and int(r[0]) in classifier.forgotten_subjects:
            result.forgotten.append(key)
        elif s is None:
            result.extra.append(key)
        elif classifier.is_pending(s[0]):
            result.pending.append(key)
        elif r is None:
            result.missing.append(key)
        else:
            result.stale.append(key)


def merge_ranges(ranges: Iterable[Range]) -> list[Range]:
    merged: list[Range] = []
    for start, stop in ranges:
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _chunks(ranges: list[Range], size: int) -> Iterable[list[Range]]:
    for i in range(0, len(ranges), size):
        yield ranges[i : i + size]


def _rows_chunks(ranges: list[Range]) -> Iterable[list[Range]]:
    """Ranges cut so that one rows() query covers at most KEYS_PER_ROWS_QUERY keys."""
    pieces: list[Range] = []
    for start, stop in ranges:
        while start < stop:
            end = min(stop, start + KEYS_PER_ROWS_QUERY)
            pieces.append((start, end))
            start = end
    chunk: list[Range] = []
    width = 0
    for piece in pieces:
        if chunk and (width + piece[1] - piece[0] > KEYS_PER_ROWS_QUERY or len(chunk) >= RANGES_PER_QUERY):
            yield chunk
            chunk, width = [], 0
        chunk.append(piece)
        width += piece[1] - piece[0]
    if chunk:
        yield chunk
