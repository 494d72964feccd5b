"""A Marketo REST + bulk export client that follows ``marketo-api.md``.

- OAuth client credentials, token reused until shortly before expiry; a 601/602 gets a new
  token and one retry of the call. The token only ever travels in the ``Authorization``
  header; the client secret only in the identity request's form body (never in a URL, so
  it cannot leak into exception messages), and never in reprs, logs or exceptions.
- Errors are classified by the string code in the (HTTP 200) body, see ``errors.py``;
  606/615/5xx-style codes are retried with exponential backoff and jitter.
- At most ``max_concurrency`` (<= 10) calls are in flight per client, and at most 10 per
  Marketo instance across all clients of this process.
- At most ``rate_limit_calls`` (100) calls start in any ``rate_limit_window_s`` (20 s) per
  instance: the client paces itself to Marketo's sliding window instead of sending until a
  606 and backing off exponentially, which overshoots the window and logs a warning per
  rejected call. A 606 (another program sharing the instance) is still retried.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3
from requests.adapters import HTTPAdapter

from .errors import (
    MarketoAuthError,
    MarketoError,
    MarketoExportError,
    MarketoFileNotFound,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenExpired,
    classify,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MARKETO_MAX_CONCURRENT_CALLS = 10
MARKETO_RATE_LIMIT_CALLS = 100
MARKETO_RATE_LIMIT_WINDOW_S = 20.0
NO_ASSETS_WARNING = "no assets found"
BULK_ENTITIES = ("leads", "activities")

_instance_slots: dict[str, threading.BoundedSemaphore] = {}
_instance_slots_lock = threading.Lock()


def _instance_slot(base_url: str) -> threading.BoundedSemaphore:
    """One semaphore per Marketo instance: the 10-concurrent-calls limit is instance-wide."""
    with _instance_slots_lock:
        return _instance_slots.setdefault(base_url, threading.BoundedSemaphore(MARKETO_MAX_CONCURRENT_CALLS))


class _CallWindow:
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


def _release_on_close(resp: requests.Response, window: _CallWindow) -> None:
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


_call_windows: dict[tuple[str, int, float], _CallWindow] = {}


def _call_window(base_url: str, calls: int, window_s: float) -> _CallWindow:
    """One window per Marketo instance (and limit): the 100 calls / 20 s are instance-wide."""
    with _instance_slots_lock:
        return _call_windows.setdefault((base_url, calls, window_s), _CallWindow(calls, window_s))


def iso(ts: datetime) -> str:
    """Marketo's ISO-8601 form, UTC with ``Z``."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: Marketo timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Secret:
    """Holds the client secret; prints as ``***`` wherever it ends up."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str  # "sha256:<hex>", Marketo's fileChecksum format
    resumed: int  # how many times the download was resumed with a Range request


class _Truncated(Exception):
    """The connection closed before the announced body length arrived."""


class MarketoClient:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        identity_url: str | None = None,
        max_concurrency: int = MARKETO_MAX_CONCURRENT_CALLS,
        rate_limit_calls: int = MARKETO_RATE_LIMIT_CALLS,
        rate_limit_window_s: float = MARKETO_RATE_LIMIT_WINDOW_S,
        poll_interval_s: float = 60.0,
        poll_timeout_s: float = 6 * 3600.0,
        max_retries: int = 8,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        timeout_s: float = 120.0,
        token_refresh_margin_s: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not base_url:
            raise ValueError("MARKETO_BASE_URL is empty: set it to https://<munchkin-id>.mktorest.com")
        if not client_id or not client_secret:
            raise ValueError("MARKETO_CLIENT_ID and MARKETO_CLIENT_SECRET must both be set")
        if not 1 <= max_concurrency <= MARKETO_MAX_CONCURRENT_CALLS:
            raise ValueError(f"max_concurrency must be between 1 and {MARKETO_MAX_CONCURRENT_CALLS}")
        self.base_url = base_url.rstrip("/")
        self.identity_url = (identity_url or f"{self.base_url}/identity").rstrip("/")
        self.client_id = client_id
        self._secret = _Secret(client_secret)
        self.max_concurrency = max_concurrency
        self.poll_interval_s = poll_interval_s
        self.poll_timeout_s = poll_timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.token_refresh_margin_s = token_refresh_margin_s
        self.sleep = sleep
        self._session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max_concurrency)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._slot = threading.BoundedSemaphore(max_concurrency)
        self._instance_slot = _instance_slot(self.base_url)
        # 0 turns pacing off (an instance whose limit was raised by Marketo support).
        self._call_window = (
            _call_window(self.base_url, rate_limit_calls, rate_limit_window_s)
            if rate_limit_calls > 0
            else None
        )
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._reasked_in_margin: str | None = None
        self._stats_lock = threading.Lock()
        self._rng = rng or random.Random()  # backoff jitter; pass a seeded one for reproducible delays
        self.calls_made = 0  # API calls sent (identity excluded)
        self.calls_used = 0  # successful API calls: what Marketo counts against the daily quota
        self.token_requests = 0
        self.retries = 0
        self.rate_limit_wait_s = 0.0  # time spent waiting for the call window, not on 606s

    def __repr__(self) -> str:
        return f"MarketoClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    # ------------------------------------------------------------------ plumbing
    def _redact(self, text: str) -> str:
        secret = self._secret.reveal()
        text = text.replace(secret, "***") if secret else text
        return text.replace(self._token, "***") if self._token else text

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        return delay * self._rng.uniform(0.5, 1.0)

    def _in_slot(self, fn: Callable[[], T]) -> T:
        with self._slot, self._instance_slot:
            return fn()

    def _fetch_token(self) -> tuple[str, float]:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret.reveal(),
        }
        url = f"{self.identity_url}/oauth/token"
        for attempt in range(self.max_retries + 1):
            with self._stats_lock:
                self.token_requests += 1
            try:
                resp = self._in_slot(lambda: self._session.post(url, data=data, timeout=self.timeout_s))
            except requests.RequestException as exc:
                if attempt < self.max_retries:
                    self.sleep(self._backoff(attempt))
                    continue
                message = self._redact(f"{type(exc).__name__}: {exc}")
                raise MarketoAuthError(
                    f"cannot reach the Marketo identity endpoint {url}: {message}"
                ) from None
            if resp.status_code >= 500 and attempt < self.max_retries:
                self.sleep(self._backoff(attempt))
                continue
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if resp.status_code != 200 or "access_token" not in body:
                detail = body.get("error_description") or body.get("error") or resp.text[:200]
                raise MarketoAuthError(
                    f"Marketo rejected the OAuth credentials for client id {self.client_id!r} "
                    f"(HTTP {resp.status_code}, {body.get('error', 'error')}): {self._redact(str(detail))}. "
                    "Check MARKETO_CLIENT_ID / MARKETO_CLIENT_SECRET and the API user's role."
                )
            return body["access_token"], float(body.get("expires_in", 0))
        raise AssertionError("unreachable")

    def _get_token(self, *, stale: str | None = None) -> str:
        with self._token_lock:
            now = time.monotonic()
            token = self._token
            if token and token != stale:
                if now < self._token_expires_at - self.token_refresh_margin_s:
                    return token
                # Inside the refresh margin Marketo hands back the same token until it really
                # expires: ask once, then keep using it (a 602 still triggers a refresh).
                if now < self._token_expires_at and self._reasked_in_margin == token:
                    return token
            new_token, expires_in = self._fetch_token()
            if new_token == token and stale is None:
                self._reasked_in_margin = new_token
            self._token = new_token
            self._token_expires_at = time.monotonic() + expires_in
            return new_token

    def _retrying(self, attempt_fn: Callable[[str], T], what: str) -> T:
        """Run ``attempt_fn(token)`` with one token refresh on 601/602 and backoff on retryable codes."""
        attempt = 0
        refreshed = False
        while True:
            token = self._get_token()
            try:
                return attempt_fn(token)
            except MarketoTokenExpired as err:
                if refreshed:
                    raise MarketoAuthError(
                        f"{what}: access token rejected again after a refresh ({err.code} {err.message})",
                        err.code,
                    ) from None
                refreshed = True
                log.info("Marketo %s: token %s, getting a new one", what, err.code)
                with self._token_lock:
                    if self._token == token:
                        self._token = None
            except MarketoRetryableError as err:
                if attempt >= self.max_retries:
                    raise
                delay = self._backoff(attempt)
                attempt += 1
                with self._stats_lock:
                    self.retries += 1
                log.warning("%s; retry %d in %.2fs", err, attempt, delay)
                self.sleep(delay)

    def _send(
        self,
        token: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        window = self._call_window
        if window is not None:
            waited = window.acquire(self.sleep)
            if waited:
                with self._stats_lock:
                    self.rate_limit_wait_s += waited
        with self._stats_lock:
            self.calls_made += 1
        resp = None
        try:
            resp = self._session.request(
                method,
                url,
                params=params,
                json=json_body,
                headers=all_headers,
                timeout=self.timeout_s,
                stream=stream,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise MarketoRetryableError(
                self._redact(f"{method} {path}: {type(exc).__name__}: {exc}")
            ) from None
        finally:
            if window is not None and stream and resp is not None:
                _release_on_close(resp, window)  # the server counts it once the file is sent
            elif window is not None:
                window.release()  # answered, or failed: either way it is over
        return resp

    def _check_http(self, resp: requests.Response, method: str, path: str) -> None:
        if resp.status_code in (413, 414):
            raise MarketoRequestError(
                f"{method} {path}: HTTP {resp.status_code} (request body over 1 MB or URI over 8 KB)",
                str(resp.status_code),
            )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise MarketoRetryableError(f"{method} {path}: HTTP {resp.status_code}", str(resp.status_code))
        if resp.status_code in (401, 403):
            raise MarketoAuthError(f"{method} {path}: HTTP {resp.status_code}", str(resp.status_code))

    def _parse_envelope(self, resp: requests.Response, method: str, path: str) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError:
            raise MarketoError(
                f"{method} {path}: HTTP {resp.status_code} with a non-JSON body: {resp.text[:200]!r}"
            ) from None
        if body.get("success", False):
            with self._stats_lock:
                self.calls_used += 1
            return body
        errors = body.get("errors") or [{"code": None, "message": "success=false without errors"}]
        first = errors[0]
        raise classify(
            str(first.get("code")), f"{method} {path}: {first.get('message', '')}", body.get("requestId")
        )

    # ------------------------------------------------------------------ generic call
    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> dict[str, Any]:
        """One API call; returns the whole success envelope or raises the classified error."""

        def attempt(token: str) -> dict[str, Any]:
            def call() -> dict[str, Any]:
                resp = self._send(token, method, path, params=params, json_body=json_body)
                self._check_http(resp, method, path)
                return self._parse_envelope(resp, method, path)

            return self._in_slot(call)

        return self._retrying(attempt, f"{method} {path}")

    # ------------------------------------------------------------------ leads
    def describe_leads(self) -> list[dict[str, Any]]:
        return self.request("GET", "/rest/v1/leads/describe.json").get("result", [])

    def lead_rest_fields(self) -> list[str]:
        """REST names of the lead fields (fields without ``rest`` are unusable over REST)."""
        return [f["rest"]["name"] for f in self.describe_leads() if f.get("rest", {}).get("name")]

    def get_leads(
        self,
        filter_type: str,
        filter_values: Iterable[str | int],
        fields: list[str] | None = None,
        *,
        batch_size: int = 300,
    ) -> Iterator[dict[str, Any]]:
        values = [str(v) for v in filter_values]
        for i in range(0, len(values), 300):
            params: dict[str, Any] = {
                "filterType": filter_type,
                "filterValues": ",".join(values[i : i + 300]),
                "batchSize": batch_size,
            }
            if fields:
                params["fields"] = ",".join(fields)
            while True:
                body = self.request("GET", "/rest/v1/leads.json", params=params)
                yield from body.get("result", [])
                token = body.get("nextPageToken")
                if not token:
                    break
                params = {**params, "nextPageToken": token}

    # ------------------------------------------------------------------ activities
    def activity_types(self) -> list[dict[str, Any]]:
        return self.request("GET", "/rest/v1/activities/types.json").get("result", [])

    def paging_token(self, since: datetime) -> str:
        return self.request(
            "GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": iso(since)}
        )["nextPageToken"]

    def iter_activities(
        self, since: datetime, activity_type_ids: Iterable[int], *, batch_size: int = 300
    ) -> Iterator[dict[str, Any]]:
        """REST activity paging: keeps going while ``moreResult``, through short and empty pages."""
        type_ids = sorted(set(activity_type_ids))
        if not type_ids:
            raise ValueError("activity_type_ids is empty")
        for i in range(0, len(type_ids), 10):  # at most 10 type ids per call
            chunk = ",".join(str(t) for t in type_ids[i : i + 10])
            token = self.paging_token(since)
            while True:
                body = self.request(
                    "GET",
                    "/rest/v1/activities.json",
                    params={"nextPageToken": token, "activityTypeIds": chunk, "batchSize": batch_size},
                )
                yield from body.get("result", [])
                token = body.get("nextPageToken", token)
                if not body.get("moreResult"):
                    break

    # ------------------------------------------------------------------ programs
    def iter_programs(
        self,
        *,
        max_return: int = 200,
        earliest_updated_at: datetime | None = None,
        latest_updated_at: datetime | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Asset API paging by offset until Marketo's "No assets found" warning."""
        offset = 0
        while True:
            params: dict[str, Any] = {"maxReturn": max_return, "offset": offset}
            if earliest_updated_at:
                params["earliestUpdatedAt"] = iso(earliest_updated_at)
            if latest_updated_at:
                params["latestUpdatedAt"] = iso(latest_updated_at)
            body = self.request("GET", "/rest/asset/v1/programs.json", params=params)
            result = body.get("result") or []
            warnings = " ".join(str(w) for w in body.get("warnings") or []).lower()
            yield from result
            if NO_ASSETS_WARNING in warnings or not result:
                return
            offset += len(result)

    # ------------------------------------------------------------------ bulk export
    @staticmethod
    def _bulk_path(entity: str, tail: str) -> str:
        if entity not in BULK_ENTITIES:
            raise ValueError(f"bulk entity must be one of {BULK_ENTITIES}, not {entity!r}")
        return f"/bulk/v1/{entity}/export{tail}"

    def create_export(
        self, entity: str, *, filter: dict[str, Any], fields: list[str] | None = None, format: str = "CSV"
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"format": format, "filter": filter}
        if fields:
            body["fields"] = fields
        return self.request("POST", self._bulk_path(entity, "/create.json"), json_body=body)["result"][0]

    def enqueue_export(self, entity: str, export_id: str) -> dict[str, Any]:
        return self.request("POST", self._bulk_path(entity, f"/{export_id}/enqueue.json"))["result"][0]

    def export_status(self, entity: str, export_id: str) -> dict[str, Any]:
        return self.request("GET", self._bulk_path(entity, f"/{export_id}/status.json"))["result"][0]

    def cancel_export(self, entity: str, export_id: str) -> dict[str, Any]:
        return self.request("POST", self._bulk_path(entity, f"/{export_id}/cancel.json"))["result"][0]

    def list_exports(self, entity: str, statuses: Iterable[str] = ()) -> list[dict[str, Any]]:
        params = {"status": ",".join(statuses)} if statuses else None
        return self.request("GET", self._bulk_path(entity, ".json"), params=params).get("result", [])

    def download_export(
        self,
        entity: str,
        export_id: str,
        dest: Path,
        *,
        expected_size: int | None = None,
        expected_checksum: str | None = None,
        chunk_bytes: int = 1 << 16,
    ) -> DownloadResult:
        """Stream ``file.json`` to ``dest``; a cut connection resumes with ``Range``; verify the checksum."""
        path = self._bulk_path(entity, f"/{export_id}/file.json")
        dest = Path(dest)
        state = {"offset": 0, "resumed": 0}
        hashers = [hashlib.sha256()]
        with dest.open("wb") as out:

            def attempt(token: str) -> bool:
                def call() -> bool:
                    offset = state["offset"]
                    headers = {"Range": f"bytes={offset}-"} if offset else None
                    resp = self._send(token, "GET", path, headers=headers, stream=True)
                    with resp:
                        if resp.status_code == 404:
                            raise MarketoFileNotFound(
                                f"GET {path}: 404, the export file does not exist (job not Completed or "
                                "file expired)",
                                "404",
                            )
                        if resp.status_code == 416 and expected_size is not None and offset >= expected_size:
                            return True
                        self._check_http(resp, "GET", path)
                        if "json" in resp.headers.get("Content-Type", ""):
                            self._parse_envelope(resp, "GET", path)  # raises the classified error
                            raise MarketoError(f"GET {path}: JSON instead of the export file")
                        if offset and resp.status_code != 206:  # server ignored Range: start over
                            out.seek(0)
                            out.truncate()
                            hashers[0] = hashlib.sha256()
                            state["offset"] = offset = 0
                        try:
                            # read1 hands over every byte that arrived, so a cut keeps what we have
                            while chunk := resp.raw.read1(chunk_bytes):
                                out.write(chunk)
                                hashers[0].update(chunk)
                                state["offset"] += len(chunk)
                        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                            raise _Truncated(str(exc)) from None
                        with self._stats_lock:
                            self.calls_used += 1
                        return expected_size is None or state["offset"] >= expected_size

                return self._in_slot(call)

            while True:
                try:
                    complete = self._retrying(attempt, f"GET {path}")
                except _Truncated:
                    complete = False
                if complete:
                    break
                state["resumed"] += 1
                if state["resumed"] > self.max_retries:
                    raise MarketoExportError(
                        f"export {export_id}: download kept breaking off ({state['offset']} bytes received)"
                    )
                log.warning(
                    "Marketo export %s: download cut at %d bytes, resuming", export_id, state["offset"]
                )
        checksum = "sha256:" + hashers[0].hexdigest()
        if expected_size is not None and state["offset"] != expected_size:
            raise MarketoExportError(
                f"export {export_id}: downloaded {state['offset']} bytes, status said fileSize {expected_size}"
            )
        if expected_checksum and checksum.lower() != expected_checksum.lower():
            raise MarketoExportError(
                f"export {export_id}: checksum mismatch, file {checksum} vs status {expected_checksum}"
            )
        return DownloadResult(path=dest, size=state["offset"], sha256=checksum, resumed=state["resumed"])
