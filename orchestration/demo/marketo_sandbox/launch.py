"""Start the sandbox for the demo, with lead emails taken from the operational ``customers`` table."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from .data import SandboxData
from .faults import SandboxConfig
from .server import SandboxHandle, start_sandbox

log = logging.getLogger(__name__)


def customer_emails_from_database(database_url: str) -> list[str] | None:
    """Pharmacy emails from the operational database, or ``None`` if it cannot be read yet."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("select email from customers where email is not null order by id"))
            return [row[0] for row in rows]
    except sa.exc.SQLAlchemyError as exc:
        log.warning("Marketo sandbox: could not read customers.email (%s); using generated emails", exc)
        return None
    finally:
        engine.dispose()


def sandbox_variables(handle: SandboxHandle, data: SandboxData) -> dict[str, str]:
    """MARKETO_* for the sandbox: its URL and credentials, fast polling (its jobs move on every
    status poll, not once a minute) and a lead history that starts where its data starts."""
    return {
        "MARKETO_BASE_URL": handle.url,
        "MARKETO_CLIENT_ID": handle.client_id,
        "MARKETO_CLIENT_SECRET": handle.client_secret,
        "MARKETO_POLL_INTERVAL_S": "0.05",
        "MARKETO_HISTORY_START": (data.end - timedelta(days=3 * 365 + 1)).date().isoformat(),
        # The client paces itself to the sandbox's own limit (Marketo's 100 unless raised).
        "MARKETO_RATE_LIMIT_CALLS": str(handle.config.rate_limit_calls),
    }


RATE_LIMIT_VARIABLE = "MARKETO_SANDBOX_RATE_LIMIT_CALLS"


@contextlib.contextmanager
def sandbox_environment(
    settings: Any, *, seed: int = 42, port: int = 0, end: datetime | None = None
) -> Iterator[SandboxHandle]:
    """Run the sandbox and point ``MARKETO_*`` at it for the duration of the block.

    Its data ends at ``end`` (default: now); two sandboxes with the same seed, source and
    ``end`` serve identical leads and activities, which runs compared with each other need."""
    emails = customer_emails_from_database(settings.ops_database_url)
    data = SandboxData.build(seed, end, customer_emails=emails)
    # Marketo's 100 calls / 20 s by default, so the demo meets real rate limiting; tests that
    # only need the data raise it (MARKETO_SANDBOX_RATE_LIMIT_CALLS) instead of sleeping.
    config = SandboxConfig(rate_limit_calls=int(os.environ.get(RATE_LIMIT_VARIABLE, "0") or 0) or 100)
    handle = start_sandbox(port, data=data, config=config)
    values = sandbox_variables(handle, data)
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield handle
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        handle.stop()
