"""Marketo timestamps and the half-open export windows cut from a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

MAX_WINDOW_DAYS = 31


def iso(ts: datetime) -> str:
    """Marketo's ISO-8601 form, UTC with ``Z``."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: Marketo timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(value: str) -> datetime:
    """Marketo timestamps (``Z``, ``+00:00``, ``+0000``, date only) to aware UTC datetimes."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    ts = datetime.fromisoformat(text)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open time range ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return f"{iso(self.start)}/{iso(self.end)}"

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts < self.end


def split_windows(
    start: datetime, end: datetime, *, now: datetime | None = None, max_days: int = MAX_WINDOW_DAYS
) -> list[Window]:
    """``[start, min(end, now))`` in consecutive windows of at most ``max_days`` days."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("split_windows needs timezone-aware datetimes")
    now = now or datetime.now(UTC)
    end = min(end, now)
    windows = []
    cursor = start
    while cursor < end:
        nxt = min(cursor + timedelta(days=max_days), end)
        windows.append(Window(cursor, nxt))
        cursor = nxt
    return windows
