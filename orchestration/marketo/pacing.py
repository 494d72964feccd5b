"""Marketo's limits, kept per instance: at most 10 calls in flight, 100 calls per 20 s."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import requests

MARKETO_MAX_CONCURRENT_CALLS = 10
MARKETO_RATE_LIMIT_CALLS = 100
MARKETO_RATE_LIMIT_WINDOW_S = 20.0

_instance_slots: dict[str, threading.BoundedSemaphore] = {}
_instance_slots_lock = threading.Lock()


def instance_slot(base_url: str) -> threading.BoundedSemaphore:
    """One semaphore per Marketo instance: the 10-concurrent-calls limit is instance-wide."""
    with _instance_slots_lock:
        return _instance_slots.setdefault(base_url, threading.BoundedSemaphore(MARKETO_MAX_CONCURRENT_CALLS))


class CallWindow:
    """A sliding window of calls: ``acquire`` waits until a call may start, ``release`` says
    it has finished.

    A call counts from when it finished, and a call in flight counts as well. Marketo counts
    a call when it answers it (a file download once the file is sent), so a window kept by
    start times let a slow call land inside the next 20 s on the server's clock and drew an
    occasional 606. With end times, any set of calls the server can see in one window was,
    when its last member started, all in flight or finished inside the client's window too.

    Written here rather than taken from a library: the window is per Marketo instance and
    shared by every client of the process (like the concurrency slot), and the wait goes
    through the client's ``sleep`` so tests can observe it.
    """

    def __init__(self, calls: int, window_s: float) -> None:
        self.calls = calls
        self.window_s = window_s
        self._ends: collections.deque[float] = collections.deque()  # appended in time order
        self._in_flight = 0
        self._lock = threading.Lock()

    def acquire(self, sleep: Callable[[float], None]) -> float:
        """Hold a place for one call, after waiting if the window is full; returns the seconds
        waited. Every ``acquire`` needs one ``release``."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                while self._ends and self._ends[0] <= now - self.window_s:
                    self._ends.popleft()
                if len(self._ends) + self._in_flight < self.calls:
                    self._in_flight += 1
                    return waited
                # Full of calls in flight: one of them ends soon.
                wait = self._ends[0] + self.window_s - now if self._ends else 0.05
            wait = max(wait, 0.0) + 0.05  # a little past the edge
            sleep(wait)
            waited += wait

    def release(self) -> None:
        """The call has finished (its answer, or its error, was received)."""
        with self._lock:
            self._in_flight -= 1
            self._ends.append(time.monotonic())


def release_on_close(resp: requests.Response, window: CallWindow) -> None:
    """Release ``window`` once, when the streamed response is closed (its body read)."""
    close = resp.close
    released = False

    def close_and_release() -> None:
        nonlocal released
        try:
            close()
        finally:
            if not released:
                released = True
                window.release()

    resp.close = close_and_release  # type: ignore[method-assign]


_call_windows: dict[tuple[str, int, float], CallWindow] = {}


def call_window(base_url: str, calls: int, window_s: float) -> CallWindow:
    """One window per Marketo instance (and limit): the 100 calls / 20 s are instance-wide."""
    with _instance_slots_lock:
        return _call_windows.setdefault((base_url, calls, window_s), CallWindow(calls, window_s))
