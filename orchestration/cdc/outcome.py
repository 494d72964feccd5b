"""What one drain of one ``mode: cdc`` table did, whichever source's log fed it."""

from __future__ import annotations

from dataclasses import dataclass

from orchestration.extract.pipeline import ExtractionOutcome


@dataclass(frozen=True)
class CdcOutcome:
    table: str
    slot: str  # PostgreSQL: the replication slot; MySQL/MariaDB: the binlog reader's server_id
    snapshot: ExtractionOutcome | None  # the first run's (or a re-snapshot's) bulk read
    batches: int  # warehouse transactions published from the log
    changes: int  # raw rows they added
    transactions_skipped: int  # already in the ledger (a crash between commit and advance)
    position: str | None  # the ledger's position after the run
    retained_bytes: int  # log the source still holds for us (WAL) or we have not read (binlog), after the run
    duration_s: float
    source_kind: str = "postgresql"  # or "binlog"

    def metadata(self) -> dict[str, object]:
        if self.source_kind == "binlog":
            reader = {"binlog_reader": self.slot, "binlog_lag_bytes": self.retained_bytes}
        else:
            reader = {"replication_slot": self.slot, "slot_retained_wal_bytes": self.retained_bytes}
        return {
            "mode": "cdc",
            **reader,
            "snapshot_rows": self.snapshot.load.rows_inserted if self.snapshot else 0,
            "change_batches": self.batches,
            "changes_published": self.changes,
            "transactions_skipped": self.transactions_skipped,
            "source_position": self.position or "none",
            "duration_s": round(self.duration_s, 3),
        }
