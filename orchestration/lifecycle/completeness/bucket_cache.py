"""Raw's first-level bucket sums, kept from one completeness check to the next.

The portable row hash (orchestration/warehouse/row_hash.py) costs most of a check: on 10 M
rows DuckDB spends about 10 CPU-s building and hashing every row's canonical text, against
0.3 CPU-s for its own ``hash()`` of the same columns. Raw changes little between two daily
checks, so each check stores, per first-level bucket, the portable sums it computed together
with a *guard*: what those sums depend on, measured with the cheap native hash
(:meth:`RawSide.guards`):

* the number of raw versions in the bucket and the sum of the native hash of every column of
  every version, metadata included (any insert, delete or in-place update of raw changes it);
* how many of them pass the table's retention filter (the cutoff moves every day; with raw
  unchanged, the passing versions only ever shrink or only ever grow, so an equal count
  means the same versions);
* the count and native hash sum of the bucket's deleted-keys records.

The next check recomputes the portable sums only for buckets whose guard differs; the others
are taken from the store. The store is refused as a whole when the compared columns, their
kinds, the key, the cursor, the retention column or the engine's version differ
(``signature``), or when the grid is not the stored one or a power-of-two multiple of it
(compare.Grid.top_level keeps it so while the key span less than doubles; sums of adjacent
buckets add up).

The guard is read before the sums are computed, and stored with them: if raw changed in
between (no writer runs in the warehouse_writer pool then, but someone may write by hand),
the next check sees a guard that no longer matches and recomputes. A guard can only match
wrongly if a change leaves a 64-bit hash sum equal, which no ordinary change does.

The source side is always computed in full: a change that did not touch the cursor is what
the check exists to find.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from orchestration.lifecycle.completeness.compare import RANGES_PER_QUERY, merge_ranges
from orchestration.lifecycle.completeness.sides import BucketStats, Range, RawSide

STATE_KEY_PREFIX = "completeness_buckets:"
MOD = 2**64

Guard = tuple[int, ...]


def state_key(table: str) -> str:
    return f"{STATE_KEY_PREFIX}{table}"


def signature(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:32]


class CachedRawSide:
    """A :class:`RawSide` whose first level reuses the stored sums where the guard allows."""

    def __init__(self, raw: RawSide, columns: Sequence[str], signature: str, stored: dict | None) -> None:
        self._raw = raw
        self._columns = list(columns)  # quoted: every column of the raw table
        self._signature = signature
        self._stored = stored if stored and stored.get("signature") == signature else None
        self.to_store: dict | None = None  # what the caller writes once the check succeeded
        self.buckets_reused = 0
        self.buckets_recomputed = 0

    def bounds(self) -> tuple[int | None, int | None]:
        return self._raw.bounds()

    def buckets(self, ranges: Sequence[Range], lo: int, width: int) -> BucketStats:
        return self._raw.buckets(ranges, lo, width)

    def rows(self, ranges: Sequence[Range]) -> list[tuple]:
        return self._raw.rows(ranges)

    def top_buckets(self, lo: int, width: int, stop: int) -> BucketStats:
        guards = self._raw.guards(lo, width, self._columns)
        if guards is None:  # no cheap native hash in this warehouse: nothing kept
            return self._raw.top_buckets(lo, width, stop)
        previous = self._previous(lo, width)
        stats: BucketStats = {
            b: previous[b][1] for b, guard in guards.items() if b in previous and previous[b][0] == guard
        }
        self.buckets_reused = len(stats)
        todo = sorted(set(guards) - set(stats))
        self.buckets_recomputed = len(todo)
        if len(todo) > len(guards) // 2:
            stats = self._raw.top_buckets(lo, width, stop)
        else:
            ranges = merge_ranges([(lo + b * width, lo + (b + 1) * width) for b in todo])
            for i in range(0, len(ranges), RANGES_PER_QUERY):
                stats.update(self._raw.buckets(ranges[i : i + RANGES_PER_QUERY], lo, width))
        self.to_store = {
            "signature": self._signature,
            "width": width,
            "buckets": {str(lo + b * width): [*guard, *stats.get(b, (0, 0))] for b, guard in guards.items()},
        }
        return {b: s for b, s in stats.items() if s[0]}

    def _previous(self, lo: int, width: int) -> dict[int, tuple[Guard, tuple[int, int]]]:
        """The stored buckets on this grid, adjacent ones added up when the grid widened."""
        if self._stored is None:
            return {}
        stored_width = int(self._stored["width"])
        if stored_width > width or width % stored_width:
            return {}
        merged: dict[int, list[int]] = {}
        for start, values in self._stored["buckets"].items():
            b = (int(start) - lo) // width
            if b in merged:
                merged[b] = [a + v for a, v in zip(merged[b], values, strict=True)]
            else:
                merged[b] = [int(v) for v in values]
        return {b: (tuple(v[:-2]), (v[-2], v[-1] % MOD)) for b, v in merged.items()}
