"""What an alert says, and the scrubbing that keeps secrets out of it.

An alert is built from Dagster's own records (a run's failure event, a check evaluation), so
its reason can quote an exception, and an exception can quote a connection URL with its
password. Every text leaves through :func:`scrub`: the values of the secret variables and
any ``scheme://user:password@`` password are replaced before a channel sees it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

REDACTED = "***"
REASON_LIMIT = 600  # characters: an alert points at the run, it does not carry the stack trace
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", text)


def shorten(text: str, limit: int = REASON_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Alert:
    """One alert; ``dedupe_key`` is the same for every sighting of the same failure."""

    kind: str  # "run failed", "blocking check failed", "freshness SLA breached"
    reason: str
    run_id: str
    run_url: str
    dedupe_key: str
    job: str | None = None
    assets: tuple[str, ...] = ()
    checks: tuple[str, ...] = field(default=())  # "raw_ops.orders:great_expectations"

    @property
    def subject(self) -> str:
        what = f"job {self.job}" if self.job and not self.job.startswith("__") else None
        what = what or (f"asset {', '.join(self.assets)}" if self.assets else "a run")
        return f"[Dagster] {self.kind}: {what}"

    def lines(self) -> list[str]:
        lines = [self.subject]
        if self.job and not self.job.startswith("__"):
            lines.append(f"Job: {self.job}")
        if self.assets:
            lines.append(f"Asset: {', '.join(self.assets)}")
        if self.checks:
            lines.append(f"Check: {', '.join(self.checks)}")
        lines.append(f"Reason: {self.reason}")
        lines.append(f"Run: {self.run_url}")
        return lines

    def text(self) -> str:
        return "\n".join(self.lines())

    def scrubbed(self, secrets: Iterable[str]) -> Alert:
        secrets = tuple(secrets)
        return Alert(
            kind=self.kind,
            reason=scrub(self.reason, secrets),
            run_id=self.run_id,
            run_url=self.run_url,
            dedupe_key=self.dedupe_key,
            job=self.job,
            assets=tuple(scrub(a, secrets) for a in self.assets),
            checks=tuple(scrub(c, secrets) for c in self.checks),
        )
