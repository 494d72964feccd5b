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

This module holds that plumbing; ``client.py`` the REST and bulk endpoints on top of it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from .errors import (
    MarketoAuthError,
    MarketoError,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenExpired,
    classify,
)
from .pacing import (
    MARKETO_MAX_CONCURRENT_CALLS,
    MARKETO_RATE_LIMIT_CALLS,
    MARKETO_RATE_LIMIT_WINDOW_S,
    call_window,
    instance_slot,
    release_on_close,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


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


class MarketoTransport:
    """Authentication, pacing, retries and the response envelope: one ``request`` per API call."""

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
        self._instance_slot = instance_slot(self.base_url)
        # 0 turns pacing off (an instance whose limit was raised by Marketo support).
        self._call_window = (
            call_window(self.base_url, rate_limit_calls, rate_limit_window_s)
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
                release_on_close(resp, window)  # the server counts it once the file is sent
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
