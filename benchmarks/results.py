"""What a benchmark run measured: the results the CLI collects and the report renders."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from benchmarks.measure import Measurement


@dataclass
class PathSummary:
    path: str
    runs: list[Measurement]
    expected_rows: int | None
    expected_sum_total: str | None
    expected_sum_id: int | None

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def cpu_s(self) -> float:
        return statistics.median(m.cpu_s for m in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(m.peak_rss_mb for m in self.runs)

    @property
    def rows(self) -> int | None:
        return self.runs[-1].rows

    @property
    def correct(self) -> bool | None:
        """Row count and checksums equal the source in every repeat (None: nothing to compare)."""
        if all(m.rows is None for m in self.runs):
            return None
        return all(
            (m.rows, m.sum_total, m.sum_id)
            == (self.expected_rows, self.expected_sum_total, self.expected_sum_id)
            for m in self.runs
        )


@dataclass
class ExtractionResult:
    dialect: str
    order_items: int
    orders: int
    generate_s: float
    paths: dict[str, PathSummary] = field(default_factory=dict)
    profile: str | None = None  # pyinstrument text of one profiled run of ours


@dataclass
class PipelineResult:
    history: int
    order_items: int
    generate_s: float
    full_s: float
    incremental_s: float
    advanced_rows: int
    checks: int
    checks_failed: int
    raw_order_items: int
    expected_raw_order_items: int
    idle_hourly_s: float | None = None  # the hourly job again with nothing new (dbt skipped)
    incremental_steps: dict[str, float] = field(default_factory=dict)  # step key -> s, slowest first
    idle_steps: dict[str, float] = field(default_factory=dict)


@dataclass
class DemoResult:
    seconds: float
    success: bool
    parts: dict[str, float] = field(default_factory=dict)  # what the demo reports per part, s


@dataclass
class CompletenessResult:
    """The completeness check of order_items against one COPY of it, side by side."""

    order_items: int
    generate_s: float
    build_raw_s: float
    copy: PathSummary  # psql COPY to /dev/null: the floor the check is held to
    clean: PathSummary  # the check on a raw copy equal to the source (found must be 0)
    one_stale: PathSummary  # after one source row changed without its cursor (found must be 1)
    first: PathSummary | None = None  # the check with nothing stored (every raw row hashed)


@dataclass
class CdcResult:
    """Change data capture apply throughput (benchmarks/cdc.py): our drain against pg_recvlogical."""

    changes: int  # per repeat: inserts, then one update of each inserted row
    transaction_rows: int  # rows per source transaction
    ours: PathSummary  # the drain into DuckDB raw (rows and sums checked against what was written)
    floor: PathSummary  # pg_recvlogical to /dev/null

    @property
    def share(self) -> float:
        """Our throughput as a share of the floor's (its time over ours)."""
        return self.floor.seconds / self.ours.seconds


@dataclass
class CdcLagResult:
    """Commit at the source to visible in raw, under a steady write load (benchmarks/cdc_lag.py)."""

    rate: int  # changes per second written
    seconds: float  # how long the load ran
    drain_interval_s: float
    changes: int  # change rows in raw
    written: int  # rows committed at the source (each one change)
    p50_s: float
    p95_s: float
    max_s: float
    rss_mb: list[float] = field(default_factory=list)  # the draining process after each drain


@dataclass
class Results:
    started_at: str
    command: str
    environment: dict[str, str]
    extraction: list[ExtractionResult] = field(default_factory=list)
    pipeline: list[PipelineResult] = field(default_factory=list)
    demo: DemoResult | None = None
    completeness: CompletenessResult | None = None
    cdc: CdcResult | None = None
    cdc_lag: CdcLagResult | None = None
    cdc_mariadb: CdcResult | None = None  # the binlog drain against mariadb-binlog
    # PostgreSQL reads without psql, with DuckDB's postgres extension as the peer (issue #17)
    snapshot: ExtractionResult | None = None
    smoke: bool = False
    notes: list[str] = field(default_factory=list)
