"""Run-time switches of the sandbox: fault injection (``Faults``) and limits/clock (``SandboxConfig``).

Both are plain mutable dataclasses held by the running server; a test flips a field
on ``handle.faults`` / ``handle.config`` and the next request sees it. Counters
("the next K calls") are decremented by the server as they fire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

# Values that are valid CSV but hard to parse: each is written to the file quoted,
# with doubled quotes, exactly as Marketo does.
NASTY_VALUES: tuple[str, ...] = (
    "line one\nline two",
    "windows\r\nline break",
    'she said "hi", then left',
    "comma, separated, value",
    "nul\x00byte",
    "line\u2028separator",
    "paragraph\u2029separator",
    '"',
    '""',
    ",",
    "trailing space ",
    "ação farmacêutica ñ 中文 🙂",
)


@dataclass
class Faults:
    # OAuth: the token in use is treated as expired (602) after this many API calls with it.
    token_expire_after_calls: int | None = None
    # 606 for the next K API calls (on top of the real sliding-window limit).
    rate_limit_next_calls: int = 0
    # Lower the concurrent-call limit (615) below the configured one.
    concurrency_limit: int | None = None
    # Sleep this long inside every API call (lets concurrency build up).
    latency_s: float = 0.0
    # 607 on every API call while set.
    daily_quota_exhausted: bool = False
    # 1029 "Export daily quota exceeded" on create/enqueue while set.
    export_quota_exhausted: bool = False
    # 1029 "Too many jobs in queue" for the next K enqueue calls.
    queue_full_next_enqueues: int = 0
    # The next K jobs to finish end Failed / Cancelled instead of Completed.
    fail_next_jobs: int = 0
    cancel_next_jobs: int = 0
    cancelled_spelling: str = "Cancelled"  # Marketo also writes "Canceled"
    # The next K jobs to complete have their file gone (file.json 404 while status says Completed).
    file_gone_next_jobs: int = 0
    # The next K downloads close the connection after this many body bytes.
    truncate_download_after_bytes: int | None = None
    truncate_next_downloads: int = 1
    # 1035 when a lead export uses the updatedAt filter (subscription without that feature).
    lead_updated_at_filter_unsupported: bool = False
    # Write NASTY_VALUES into some CSV values (company / primaryAttributeValue / attributes).
    nasty_csv: bool = False
    # Line terminator of export files: "\r\n" serves CRLF files (one of the spec's CSV edge
    # cases); values with embedded newlines keep theirs.
    csv_line_terminator: str = "\n"
    # Once this many export files were downloaded, every API call answers ``fail_code`` (603
    # access denied: fatal, never retried) until cleared: a run that dies after some windows.
    fail_after_downloads: int | None = None
    fail_code: str = "603"
    # Arbitrary error codes returned by the next API calls, one per call, in order
    # (e.g. ["603"], ["609"], ["604", "713"]).
    next_errors: list[str] = field(default_factory=list)


@dataclass
class SandboxConfig:
    clients: dict[str, str] = field(default_factory=lambda: {"sandbox-client": "sandbox-secret"})
    token_ttl_s: float = 3600.0
    allow_query_token: bool = False
    rate_limit_calls: int = 100
    rate_limit_window_s: float = 20.0
    max_concurrent_calls: int = 10
    daily_quota: int = 50_000
    # Bytes of export files per day; the day is Marketo's quota day (midnight US Central).
    export_daily_quota_bytes: int = 500 * 1024 * 1024
    # The sandbox's wall clock (aware UTC), for the quota day and lead updates; None: real time.
    clock: Callable[[], datetime] | None = None
    max_processing_jobs: int = 2
    max_queued_jobs: int = 10  # inclusive of the processing ones, as Marketo counts them
    # Job clock: a job moves one state (Queued -> Processing -> Completed) after this many
    # status polls of that job, or after job_step_seconds if set (whichever comes first).
    job_step_polls: int | None = 1
    job_step_seconds: float | None = None
    max_body_bytes: int = 1024 * 1024
    max_uri_bytes: int = 8 * 1024
