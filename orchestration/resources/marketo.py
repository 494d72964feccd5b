"""The Marketo resource: a ``MarketoClient`` configured from MARKETO_* variables.

Definitions load without any Marketo variable (the operational pipeline does not need
Marketo); a Marketo asset then fails as its run starts, with a message naming the
missing variables. ``make dev`` and ``make demo`` start the local sandbox and set them.
The client secret travels as a Dagster ``EnvVar`` (the UI shows the variable's name,
never its value) and ``MarketoClient`` redacts it from every message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from orchestration.marketo import MarketoClient
from orchestration.settings import (
    DEFAULT_MARKETO_HISTORY_START,
    DEFAULT_MARKETO_LEADS_RESWEEP_DAYS,
    DEFAULT_MARKETO_POLL_INTERVAL_S,
    DEFAULT_MARKETO_RATE_LIMIT_CALLS,
    MARKETO_VARIABLES,
    Settings,
    load_settings,
)
from orchestration.warehouse.base import Warehouse


class MarketoNotConfigured(RuntimeError):
    """A MARKETO_* variable is missing; the message names it."""


class MarketoResource(dg.ConfigurableResource):
    """Marketo REST + Bulk Extract API (or the local sandbox)."""

    base_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    # Marketo moves a bulk job at most about once a minute: polling faster only spends quota.
    poll_interval_s: float = DEFAULT_MARKETO_POLL_INTERVAL_S
    poll_timeout_s: float = 6 * 3600.0
    max_retries: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    # Marketo's 100 calls per 20 s per instance; the client paces itself to it (0: no pacing).
    rate_limit_calls: int = DEFAULT_MARKETO_RATE_LIMIT_CALLS
    # Leads: where the first extraction starts (no bookmark yet). Set it to the subscription's start.
    history_start: str = DEFAULT_MARKETO_HISTORY_START
    # Leads under the 1035 fallback: the whole history is re-exported once per this many days.
    leads_resweep_days: float = DEFAULT_MARKETO_LEADS_RESWEEP_DAYS

    @classmethod
    def from_settings(cls, settings: Settings) -> MarketoResource:
        """The endpoint and credentials through EnvVar where set (read when a run starts, a
        missing one fails that run naming it); the pacing and history start from ``settings``."""

        def env(name: str) -> Any:
            return dg.EnvVar(name) if name in settings.marketo_variables_set else ""

        return cls(
            base_url=env("MARKETO_BASE_URL"),
            client_id=env("MARKETO_CLIENT_ID"),
            client_secret=env("MARKETO_CLIENT_SECRET"),
            poll_interval_s=settings.marketo_poll_interval_s,
            rate_limit_calls=settings.marketo_rate_limit_calls,
            history_start=settings.marketo_history_start,
            leads_resweep_days=settings.marketo_leads_resweep_days,
        )

    @classmethod
    def from_env(cls) -> MarketoResource:
        """``from_settings`` with the settings of the environment as it is now."""
        return cls.from_settings(load_settings())

    def missing_variables(self) -> list[str]:
        values = (self.base_url, self.client_id, self.client_secret)
        return [name for name, value in zip(MARKETO_VARIABLES, values, strict=True) if not value]

    def history_start_at(self) -> datetime:
        try:
            return datetime.fromisoformat(self.history_start).replace(tzinfo=UTC)
        except ValueError:
            raise MarketoNotConfigured(
                f"MARKETO_HISTORY_START={self.history_start!r} is not a date such as 2018-01-01"
            ) from None

    def client(self) -> MarketoClient:
        missing = self.missing_variables()
        if missing:
            raise MarketoNotConfigured(
                f"Marketo is not configured: set {', '.join(missing)} (the instance's REST endpoint "
                "https://<munchkin-id>.mktorest.com and an API-only user's client id and secret). "
                "`make dev` and `make demo` start a local Marketo sandbox and set them for you."
            )
        return MarketoClient(
            self.base_url,
            self.client_id,
            self.client_secret,
            poll_interval_s=self.poll_interval_s,
            poll_timeout_s=self.poll_timeout_s,
            max_retries=self.max_retries,
            backoff_base_s=self.backoff_base_s,
            backoff_max_s=self.backoff_max_s,
            rate_limit_calls=self.rate_limit_calls,
        )


class WarehouseStateStore:
    """``StateStore`` over the warehouse's ``<schema>._state`` table: state lives with the data."""

    def __init__(self, warehouse: Warehouse, schema: str) -> None:
        self.warehouse = warehouse
        self.schema = schema

    def get(self, key: str) -> dict[str, Any] | None:
        return self.warehouse.read_state(self.schema, key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.warehouse.write_state(self.schema, key, value)
