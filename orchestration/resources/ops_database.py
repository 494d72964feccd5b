"""The operational database: any SQLAlchemy URL, read-only use by extraction."""

from __future__ import annotations

from functools import cached_property

import dagster as dg
import sqlalchemy as sa
from pydantic import PrivateAttr

from orchestration.extract.limits import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_FIELD_CHARS
from orchestration.settings import SettingsError


class OperationalDatabaseResource(dg.ConfigurableResource):
    """Source of the ``operational_db`` assets.

    ``url`` comes from ``OPS_DATABASE_URL`` through ``dg.EnvVar`` so a password in it
    never appears in run config or the UI. The default is the demo SQLite file; the demo
    command and ``make dev`` generate it (``orchestration.demo.database``), never this
    resource.
    """

    url: str
    lookback_seconds: int = 300
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    # Transient faults (disconnects, timeouts) are retried this many times, waiting
    # retry_base_delay_s * 2**attempt between attempts; permanent errors never are.
    max_retries: int = 3
    retry_base_delay_s: float = 5.0
    # Bad input: rows that cannot be converted are quarantined in raw_ops._rejected_rows;
    # a batch with a larger rejected fraction than this fails instead of publishing.
    max_rejected_fraction: float = 0.01
    # Text fields longer than this (in characters) are rejected, not truncated.
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS
    # The high-water mark stays this far below the source's clock and its oldest open
    # transaction, for writers whose clocks trail the server's (docs/reliability.md).
    clock_tolerance_seconds: int = 60
    # Warn (check mark_not_held_back) when an open transaction holds the mark back longer.
    mark_hold_warn_seconds: int = 3600
    # Change data capture (tables in mode cdc, orchestration/cdc/): slot names, messages per
    # peek, and the WAL a slot may retain before its lag check fails.
    cdc_slot_prefix: str = "pharma_cdc"
    cdc_max_changes: int = 10_000
    cdc_slot_lag_max_bytes: int = 1 << 30
    cdc_binlog_server_id: int = 4_170_000_000  # MySQL/MariaDB: the binlog reader's base server_id

    _engine: sa.Engine | None = PrivateAttr(default=None)

    @cached_property
    def safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = connect_checked(self.url)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = connect_checked(self.url)
        return self._engine


def connect_checked(url: str) -> sa.Engine:
    """An engine that has answered once, or a SettingsError naming OPS_DATABASE_URL."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise SettingsError(f"OPS_DATABASE_URL is not a valid SQLAlchemy URL: {exc}") from None
    safe = parsed.render_as_string(hide_password=True)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # driver errors differ per dialect
        # str(exc) may echo the URL; only the class and the redacted URL are shown.
        raise SettingsError(
            f"OPS_DATABASE_URL: cannot connect to the operational database at {safe} "
            f"({type(exc).__name__}: {_first_line(exc, parsed.password)})"
        ) from None
    return engine


def _first_line(exc: Exception, secret: str | None) -> str:
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if secret:
        line = line.replace(str(secret), "***")
    return line[:300]
