"""A Marketo-compatible HTTP server for the demo and the tests (see ``/work/shared/marketo-api.md``).

It implements the identity endpoint, the REST lead/activity/asset endpoints the platform
uses and the bulk export API, with Marketo's envelope, its limits (sliding-window rate
limit, concurrent calls, daily quota, job queue, export quota) and its quirks (errors in
HTTP 200 bodies, plain-text 404 from ``file.json``, short and empty activity pages,
``result`` omitted when empty). Faults are injected through ``handle.faults``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import socket
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from .data import SandboxData, fmt, parse_ts
from .faults import NASTY_VALUES, Faults, SandboxConfig

ACTIVITY_COLUMNS = (
    "marketoGUID",
    "leadId",
    "activityDate",
    "activityTypeId",
    "campaignId",
    "primaryAttributeValueId",
    "primaryAttributeValue",
    "attributes",
)
FINISHED = ("Completed", "Failed", "Cancelled", "Canceled")
NO_ASSETS = "No assets found for the given search criteria."
# Marketo's daily quotas (API calls, export bytes) reset at midnight US Central.
QUOTA_TIMEZONE = ZoneInfo("America/Chicago")
CHANGE_DATA_VALUE = 13
NASTY_EVERY = 5  # every 5th row of a file (index 0, 5, 10, ...) carries a nasty value when faults.nasty_csv


def nasty_value_for(row_index: int) -> str | None:
    """The nasty value written into row ``row_index`` of an export file (``None``: untouched)."""
    if row_index % NASTY_EVERY:
        return None
    return NASTY_VALUES[(row_index // NASTY_EVERY) % len(NASTY_VALUES)]


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PlainResponse(Exception):
    """Short-circuit with a non-envelope response (401, 404 text, 413, 414)."""

    def __init__(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


@dataclass
class SandboxStats:
    api_calls: int = 0  # REST/bulk calls received (identity excluded)
    counted_calls: int = 0  # successful calls, the ones that count against quota and rate limit
    calls_by_day: Counter = field(default_factory=Counter)  # quota day (US Central date) -> counted calls
    calls_by_path: Counter = field(default_factory=Counter)
    errors_by_code: Counter = field(default_factory=Counter)
    concurrent: int = 0
    max_concurrent: int = 0
    token_requests: int = 0
    tokens_issued: int = 0
    auth_failures: int = 0
    header_token_calls: int = 0
    query_token_calls: int = 0
    jobs_created: int = 0
    jobs_enqueued: int = 0
    enqueue_rejected: int = 0
    max_processing: int = 0
    max_queued: int = 0
    # API user (client id) -> most of its jobs Queued or Processing at one time.
    max_jobs_in_flight: Counter = field(default_factory=Counter)
    status_polls: dict[str, list[float]] = field(default_factory=dict)  # exportId -> monotonic times
    downloads: int = 0
    range_downloads: int = 0
    truncated_downloads: int = 0
    export_bytes_used: int = 0  # every export file ever produced (all days)
    # Quota day (US Central date, ISO) -> bytes of export files produced that day.
    export_bytes_by_day: Counter = field(default_factory=Counter)


@dataclass
class Job:
    export_id: str
    entity: str  # "leads" | "activities"
    client_id: str
    fields: list[str]
    filter: dict[str, Any]
    activity_type_ids: list[int] | None
    format: str
    created_at: datetime
    status: str = "Created"
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    polls_in_state: int = 0
    state_since: float = 0.0
    file: bytes | None = None
    file_gone: bool = False
    num_records: int = 0
    checksum: str | None = None
    order: int = 0

    def status_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exportId": self.export_id,
            "format": self.format,
            "status": self.status,
            "createdAt": fmt(self.created_at),
        }
        if self.queued_at:
            out["queuedAt"] = fmt(self.queued_at)
        if self.started_at:
            out["startedAt"] = fmt(self.started_at)
        if self.status in FINISHED and self.finished_at:
            out["finishedAt"] = fmt(self.finished_at)
        if self.status == "Completed":
            out["numberOfRecords"] = self.num_records
            out["fileSize"] = len(self.file or b"")
            out["fileChecksum"] = self.checksum
        return out


def _encode_token(kind: str, position: int) -> str:
    raw = f"{kind}:{position}:{uuid.uuid5(uuid.NAMESPACE_OID, f'{kind}{position}').hex[:12]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(kind: str, token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        found_kind, position, _ = raw.split(":")
        if found_kind != kind:
            raise ValueError(kind)
        return int(position)
    except Exception as exc:  # any malformed token is the caller's fault
        raise ApiError("1003", f"Invalid next page token '{token}'") from exc


def _csv_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class MarketoSandbox:
    """All the state of one simulated Marketo instance; thread-safe behind one lock."""

    def __init__(self, data: SandboxData, faults: Faults, config: SandboxConfig) -> None:
        self.data = data
        self.faults = faults
        self.config = config
        self.stats = SandboxStats()
        self.lock = threading.RLock()
        self.tokens: dict[str, dict[str, Any]] = {}  # token -> {client_id, expires_at, calls, expired}
        self.client_tokens: dict[str, str] = {}
        self.jobs: dict[str, Job] = {}
        self.job_counter = 0
        self.rate_window: deque[float] = deque()
        self.request_counter = 0
        self.leads_by_id = {lead["id"]: lead for lead in data.leads}

    # ---------------------------------------------------------------- identity
    def issue_token(self, params: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            self.stats.token_requests += 1
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
            if params.get("grant_type") != "client_credentials":
                self.stats.auth_failures += 1
                raise PlainResponse(
                    400, json.dumps({"error": "unsupported_grant_type"}).encode(), "application/json"
                )
            if self.config.clients.get(client_id) != secret or not client_id:
                self.stats.auth_failures += 1
                body = {"error": "invalid_client", "error_description": "Bad client credentials"}
                raise PlainResponse(401, json.dumps(body).encode(), "application/json;charset=UTF-8")
            now = time.monotonic()
            token = self.client_tokens.get(client_id)
            info = self.tokens.get(token) if token else None
            if info is None or info["expired"] or info["expires_at"] <= now:
                token = f"{uuid.uuid4()}:sj"
                info = {"client_id": client_id, "expires_at": now + self.config.token_ttl_s, "calls": 0}
                info["expired"] = False
                self.tokens[token] = info
                self.client_tokens[client_id] = token
                self.stats.tokens_issued += 1
            remaining = max(0, int(info["expires_at"] - now))
            return {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": remaining,
                "scope": client_id,
            }

    def authenticate(self, headers: Any, query: dict[str, list[str]]) -> str:
        auth = headers.get("Authorization", "")
        if "access_token" in query:
            self.stats.query_token_calls += 1
            if not self.config.allow_query_token:
                raise ApiError(
                    "601", "Access token invalid: the access_token query parameter is not supported, "
                    "send 'Authorization: Bearer <token>'",
                )  # fmt: skip
            token = query["access_token"][0]
        elif auth.lower().startswith("bearer "):
            self.stats.header_token_calls += 1
            token = auth[7:].strip()
        else:
            raise ApiError("600", "Access token missing")
        info = self.tokens.get(token)
        if info is None:
            raise ApiError("601", "Access token invalid")
        if info["expired"] or info["expires_at"] <= time.monotonic():
            info["expired"] = True
            raise ApiError("602", "Access token expired")
        limit = self.faults.token_expire_after_calls
        if limit is not None and info["calls"] >= limit:
            info["expired"] = True
            self.faults.token_expire_after_calls = None  # fires once
            raise ApiError("602", "Access token expired")
        info["calls"] += 1
        return info["client_id"]

    # ---------------------------------------------------------------- limits
    def admit(self) -> None:
        """Checks made before dispatch (called under the lock, after the concurrency count)."""
        if self.faults.next_errors:
            code = self.faults.next_errors.pop(0)
            messages = {
                "603": "Access denied",
                "604": "Request timed out",
                "608": "API Temporarily Unavailable",
                "609": "Invalid JSON",
                "610": "Requested resource not found",
                "611": "System error",
                "612": "Invalid Content Type",
                "713": "Transient Error",
                "502": "Bad Gateway",
            }
            raise ApiError(code, messages.get(code, f"Injected error {code}"))
        stop_after = self.faults.fail_after_downloads
        if stop_after is not None and self.stats.downloads >= stop_after:
            raise ApiError(
                self.faults.fail_code, f"Injected error {self.faults.fail_code} after {stop_after} downloads"
            )
        if (
            self.faults.daily_quota_exhausted
            or self.stats.calls_by_day[self.quota_day()] >= self.config.daily_quota
        ):
            raise ApiError("607", "Daily quota reached")
        if self.faults.rate_limit_next_calls > 0:
            self.faults.rate_limit_next_calls -= 1
            raise ApiError("606", "Max rate limit '100' exceeded with in '20' secs")
        now = time.monotonic()
        while self.rate_window and self.rate_window[0] <= now - self.config.rate_limit_window_s:
            self.rate_window.popleft()
        if len(self.rate_window) >= self.config.rate_limit_calls:
            raise ApiError(
                "606",
                f"Max rate limit '{self.config.rate_limit_calls}' exceeded with in "
                f"'{self.config.rate_limit_window_s:g}' secs",
            )

    def count_success(self) -> None:
        with self.lock:
            self.stats.counted_calls += 1
            self.stats.calls_by_day[self.quota_day()] += 1
            self.rate_window.append(time.monotonic())

    def now(self) -> datetime:
        return self.config.clock() if self.config.clock else datetime.now(UTC)

    def quota_day(self) -> str:
        """The Marketo quota day now: the US Central date (the quotas reset at its midnight)."""
        return self.now().astimezone(QUOTA_TIMEZONE).date().isoformat()

    def export_bytes_today(self) -> int:
        with self.lock:
            return self.stats.export_bytes_by_day[self.quota_day()]

    def export_quota_used_up(self) -> bool:
        return self.faults.export_quota_exhausted or (
            self.export_bytes_today() >= self.config.export_daily_quota_bytes
        )

    def update_lead(
        self, lead_id: int, changes: dict[str, Any], *, at: datetime | None = None, log_activity: bool = True
    ) -> dict[str, Any]:
        """Change a lead's fields as Marketo would: ``updatedAt`` moves to ``at`` (default now) and
        each changed field logs a "Change Data Value" activity, unless ``log_activity`` is false
        (a change Marketo records no activity for, e.g. a field with change logging off)."""
        with self.lock:
            lead = self.leads_by_id[lead_id]
            when = fmt(at or self.now())
            for name, value in changes.items():
                if name not in lead or name in ("id", "createdAt", "updatedAt"):
                    raise ValueError(f"sandbox lead {lead_id}: {name!r} is not a changeable lead field")
                old, lead[name] = lead[name], value
                if log_activity and old != value:
                    self._log_activity(lead_id, when, name, old, value)
            lead["updatedAt"] = max(lead["updatedAt"], when)
            return dict(lead)

    def _log_activity(self, lead_id: int, when: str, name: str, old: Any, new: Any) -> None:
        acts = self.data.activities
        act_id = max((a["id"] for a in acts), default=0) + 1
        activity = {
            "id": act_id,
            "marketoGUID": str(uuid.uuid5(uuid.NAMESPACE_OID, f"sandbox-change-{act_id}")),
            "leadId": lead_id,
            "activityDate": when,
            "activityTypeId": CHANGE_DATA_VALUE,
            "campaignId": None,
            "primaryAttributeValueId": None,
            "primaryAttributeValue": name,
            "attributes": {
                "New Value": _csv_value(new),
                "Old Value": _csv_value(old),
                "Reason": "API update",
            },
        }
        position = len(acts)
        while position and acts[position - 1]["activityDate"] > when:  # keep (activityDate, id) order
            position -= 1
        acts.insert(position, activity)

    def next_request_id(self) -> str:
        with self.lock:
            self.request_counter += 1
            return f"{self.request_counter:x}#{uuid.uuid4().hex[:11]}"

    # ---------------------------------------------------------------- REST
    def describe_leads(self) -> dict[str, Any]:
        return {"result": self.data.lead_fields}

    def get_leads(self, q: dict[str, list[str]]) -> dict[str, Any]:
        filter_type = _one(q, "filterType")
        raw_values = ",".join(q.get("filterValues", []))
        if not filter_type or not raw_values:
            raise ApiError("1003", "filterType and filterValues are required")
        values = [v.strip() for v in raw_values.split(",") if v.strip()]
        if len(values) > 300:
            raise ApiError("1003", "Too many values in filterValues, at most 300")
        batch = int(_one(q, "batchSize") or 300)
        if not 1 <= batch <= 300:
            raise ApiError("1003", "Invalid batchSize, must be between 1 and 300")
        names = set(self.data.lead_field_names)
        if filter_type not in names:
            raise ApiError("1003", f"Invalid filterType '{filter_type}'")
        fields = _csv_param(q, "fields") or ["id", "email", "firstName", "lastName", "updatedAt", "createdAt"]
        bad = [f for f in fields if f not in names]
        if bad:
            raise ApiError("1003", f"Invalid fields: {', '.join(bad)}")
        wanted = {v.lower() for v in values}
        rows = [
            lead
            for lead in self.data.leads
            if lead[filter_type] is not None and str(lead[filter_type]).lower() in wanted
        ]
        start = _decode_token("leads", _one(q, "nextPageToken")) if _one(q, "nextPageToken") else 0
        page = rows[start : start + batch]
        out: dict[str, Any] = {}
        if page:
            out["result"] = [{f: lead[f] for f in fields} for lead in page]
        if start + batch < len(rows):
            out["nextPageToken"] = _encode_token("leads", start + batch)
        return out

    def activity_types(self) -> dict[str, Any]:
        return {"result": self.data.activity_types}

    def paging_token(self, q: dict[str, list[str]]) -> dict[str, Any]:
        since = _one(q, "sinceDatetime")
        if not since:
            raise ApiError("1003", "sinceDatetime is required")
        try:
            since_ts = fmt(parse_ts(since))
        except ValueError as exc:
            raise ApiError("1003", f"Invalid sinceDatetime '{since}'") from exc
        acts = self.data.activities
        lo, hi = 0, len(acts)
        while lo < hi:  # first activity with activityDate >= since
            mid = (lo + hi) // 2
            if acts[mid]["activityDate"] < since_ts:
                lo = mid + 1
            else:
                hi = mid
        return {"nextPageToken": _encode_token("act", lo)}

    def get_activities(self, q: dict[str, list[str]]) -> dict[str, Any]:
        token = _one(q, "nextPageToken")
        if not token:
            raise ApiError("1003", "nextPageToken is required")
        type_ids_raw = _csv_param(q, "activityTypeIds")
        if not type_ids_raw:
            raise ApiError("1003", "activityTypeIds is required")
        if len(type_ids_raw) > 10:
            raise ApiError("1003", "At most 10 activityTypeIds are allowed")
        try:
            type_ids = {int(t) for t in type_ids_raw}
        except ValueError as exc:
            raise ApiError("1003", f"Invalid activityTypeIds {type_ids_raw}") from exc
        batch = int(_one(q, "batchSize") or 300)
        if not 1 <= batch <= 300:
            raise ApiError("1003", "Invalid batchSize, must be between 1 and 300")
        lead_ids = {int(v) for v in _csv_param(q, "leadIds")}
        position = _decode_token("act", token)
        # Like Marketo, scan a fixed slice of the activity stream and keep what matches,
        # so pages can be short or even empty while moreResult is still true.
        scanned = self.data.activities[position : position + batch]
        items = [
            _rest_activity(a)
            for a in scanned
            if a["activityTypeId"] in type_ids and (not lead_ids or a["leadId"] in lead_ids)
        ]
        new_position = position + len(scanned)
        out: dict[str, Any] = {
            "nextPageToken": _encode_token("act", new_position),
            "moreResult": new_position < len(self.data.activities),
        }
        if items:
            out["result"] = items
        return out

    def programs(self, q: dict[str, list[str]]) -> dict[str, Any]:
        max_return = int(_one(q, "maxReturn") or 20)
        offset = int(_one(q, "offset") or 0)
        if not 1 <= max_return <= 200:
            raise ApiError("1003", "maxReturn must be between 1 and 200")
        rows = self.data.programs
        earliest, latest = _one(q, "earliestUpdatedAt"), _one(q, "latestUpdatedAt")
        if earliest:
            rows = [p for p in rows if parse_ts(p["updatedAt"]) >= parse_ts(earliest)]
        if latest:
            rows = [p for p in rows if parse_ts(p["updatedAt"]) <= parse_ts(latest)]
        page = rows[offset : offset + max_return]
        if not page:
            return {"warnings": [NO_ASSETS]}
        return {"result": page}

    # ---------------------------------------------------------------- bulk
    def create_job(self, entity: str, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.export_quota_used_up():
            raise ApiError("1029", "Export daily quota exceeded")
        fmt_name = body.get("format", "CSV")
        if fmt_name != "CSV":
            raise ApiError("1003", f"Format '{fmt_name}' is not supported by the sandbox (use CSV)")
        flt = body.get("filter")
        if not isinstance(flt, dict) or not flt:
            raise ApiError("1003", "filter is required")
        allowed = (
            ("createdAt", "updatedAt", "staticListId", "smartListId") if entity == "leads" else ("createdAt",)
        )
        unknown = [k for k in flt if k not in (*allowed, "activityTypeIds")]
        if unknown:
            raise ApiError("1003", f"Invalid filter type: {', '.join(unknown)}")
        date_keys = [k for k in flt if k in allowed]
        if entity == "leads" and len(date_keys) != 1:
            raise ApiError("1003", "Exactly one filter type is required")
        if entity == "activities" and "createdAt" not in flt:
            raise ApiError("1003", "createdAt filter is required")
        key = date_keys[0]
        if key in ("staticListId", "smartListId"):
            raise ApiError("1003", f"{key} refers to a list that does not exist in this sandbox")
        if key == "updatedAt" and self.faults.lead_updated_at_filter_unsupported:
            raise ApiError("1035", "Unsupported filter type for target subscription: updatedAt")
        rng = flt[key]
        try:
            start, end = parse_ts(rng["startAt"]), parse_ts(rng["endAt"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError("1003", f"{key} needs ISO-8601 startAt and endAt") from exc
        if start > end:
            raise ApiError("701", f"{key}.startAt cannot be after {key}.endAt")
        if end - start > timedelta(days=31):
            raise ApiError("1003", f"Date range of {key} filter exceeds 31 days")
        type_ids = flt.get("activityTypeIds") if entity == "activities" else None
        if type_ids is not None:
            known = {t["id"] for t in self.data.activity_types}
            if not isinstance(type_ids, list) or any(t not in known for t in type_ids):
                raise ApiError("1003", f"Invalid activityTypeIds {type_ids}")
        if entity == "leads":
            fields = body.get("fields")
            names = set(self.data.lead_field_names)
            if not isinstance(fields, list) or not fields:
                raise ApiError("1003", "fields is required")
        else:
            fields = body.get("fields") or list(ACTIVITY_COLUMNS)
            names = set(ACTIVITY_COLUMNS)
        bad = [f for f in fields if f not in names]
        if bad:
            raise ApiError("1003", f"Invalid fields: {', '.join(map(str, bad))}")
        with self.lock:
            self.job_counter += 1
            job = Job(
                export_id=str(uuid.uuid4()),
                entity=entity,
                client_id=client_id,
                fields=list(fields),
                filter={key: {"startAt": fmt(start), "endAt": fmt(end)}},
                activity_type_ids=type_ids,
                format="CSV",
                created_at=datetime.now(UTC),
                state_since=time.monotonic(),
                order=self.job_counter,
            )
            self.jobs[job.export_id] = job
            self.stats.jobs_created += 1
        return {"result": [job.status_json()]}

    def find_job(self, entity: str, client_id: str, export_id: str) -> Job:
        job = self.jobs.get(export_id)
        if job is None or job.entity != entity or job.client_id != client_id:
            raise ApiError("610", f"Export job '{export_id}' not found")
        return job

    def enqueue(self, entity: str, client_id: str, export_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.find_job(entity, client_id, export_id)
            self.tick()
            if job.status in ("Queued", "Processing"):
                raise ApiError("1029", "Job already queued")
            if job.status != "Created":
                raise ApiError("1003", f"Export job is {job.status} and cannot be enqueued")
            if self.export_quota_used_up():
                raise ApiError("1029", "Export daily quota exceeded")
            if self.faults.queue_full_next_enqueues > 0:
                self.faults.queue_full_next_enqueues -= 1
                self.stats.enqueue_rejected += 1
                raise ApiError("1029", "Too many jobs in queue")
            in_queue = sum(1 for j in self.jobs.values() if j.status in ("Queued", "Processing"))
            if in_queue >= self.config.max_queued_jobs:
                self.stats.enqueue_rejected += 1
                raise ApiError("1029", "Too many jobs in queue")
            job.status = "Queued"
            job.queued_at = datetime.now(UTC)
            job.polls_in_state = 0
            job.state_since = time.monotonic()
            self.stats.jobs_enqueued += 1
            self._record_queue_stats()
            return {"result": [job.status_json()]}

    def cancel(self, entity: str, client_id: str, export_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.find_job(entity, client_id, export_id)
            if job.status not in FINISHED:
                job.status = "Cancelled"
                job.finished_at = datetime.now(UTC)
            return {"result": [job.status_json()]}

    def status(self, entity: str, client_id: str, export_id: str) -> dict[str, Any]:
        with self.lock:
            job = self.find_job(entity, client_id, export_id)
            job.polls_in_state += 1
            self.stats.status_polls.setdefault(export_id, []).append(time.monotonic())
            self.tick()
            return {"result": [job.status_json()]}

    def list_jobs(self, entity: str, client_id: str, q: dict[str, list[str]]) -> dict[str, Any]:
        with self.lock:
            self.tick()
            wanted = set(_csv_param(q, "status"))
            jobs = [
                j.status_json()
                for j in sorted(self.jobs.values(), key=lambda j: j.order)
                if j.entity == entity and j.client_id == client_id and (not wanted or j.status in wanted)
            ]
            return {"result": jobs} if jobs else {}

    def file_bytes(self, entity: str, client_id: str, export_id: str) -> bytes:
        with self.lock:
            job = self.jobs.get(export_id)
            visible = job is not None and job.entity == entity and job.client_id == client_id
            if not visible or job.status != "Completed" or job.file_gone or job.file is None:
                raise PlainResponse(404, b"404 page not found\n")
            return job.file

    def _step_due(self, job: Job, now: float) -> bool:
        polls, seconds = self.config.job_step_polls, self.config.job_step_seconds
        return bool(
            (polls is not None and job.polls_in_state >= polls)
            or (seconds is not None and now - job.state_since >= seconds)
        )

    def tick(self) -> None:
        """Advance the job state machine (called under the lock on every bulk request)."""
        now = time.monotonic()
        ordered = sorted(self.jobs.values(), key=lambda j: (j.queued_at or j.created_at, j.order))
        for job in ordered:
            if job.status == "Processing" and self._step_due(job, now):
                self._finish(job)
        for job in ordered:
            processing = sum(1 for j in self.jobs.values() if j.status == "Processing")
            if (
                job.status == "Queued"
                and processing < self.config.max_processing_jobs
                and self._step_due(job, now)
            ):
                job.status = "Processing"
                job.started_at = datetime.now(UTC)
                job.polls_in_state = 0
                job.state_since = now
        self._record_queue_stats()

    def _record_queue_stats(self) -> None:
        processing = sum(1 for j in self.jobs.values() if j.status == "Processing")
        queued = sum(1 for j in self.jobs.values() if j.status in ("Queued", "Processing"))
        self.stats.max_processing = max(self.stats.max_processing, processing)
        self.stats.max_queued = max(self.stats.max_queued, queued)
        in_flight = Counter(j.client_id for j in self.jobs.values() if j.status in ("Queued", "Processing"))
        for client_id, count in in_flight.items():
            self.stats.max_jobs_in_flight[client_id] = max(self.stats.max_jobs_in_flight[client_id], count)

    def _finish(self, job: Job) -> None:
        job.finished_at = datetime.now(UTC)
        job.polls_in_state = 0
        if self.faults.fail_next_jobs > 0:
            self.faults.fail_next_jobs -= 1
            job.status = "Failed"
            return
        if self.faults.cancel_next_jobs > 0:
            self.faults.cancel_next_jobs -= 1
            job.status = self.faults.cancelled_spelling
            return
        job.file, job.num_records = self.render_file(job)
        job.checksum = "sha256:" + hashlib.sha256(job.file).hexdigest()
        self.stats.export_bytes_used += len(job.file)
        self.stats.export_bytes_by_day[self.quota_day()] += len(job.file)
        job.status = "Completed"
        if self.faults.file_gone_next_jobs > 0:
            self.faults.file_gone_next_jobs -= 1
            job.file_gone = True

    def render_file(self, job: Job) -> tuple[bytes, int]:
        key, rng = next(iter(job.filter.items()))
        start, end = rng["startAt"], rng["endAt"]  # inclusive at both ends, second precision
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator=self.faults.csv_line_terminator)
        writer.writerow(job.fields)
        nasty = self.faults.nasty_csv
        count = 0
        if job.entity == "leads":
            rows = sorted(
                (lead for lead in self.data.leads if start <= lead[key] <= end), key=lambda lead: lead["id"]
            )
            target = "company" if "company" in job.fields else None
            for i, lead in enumerate(rows):
                values = {f: lead[f] for f in job.fields}
                if nasty and target and nasty_value_for(i) is not None:
                    values[target] = nasty_value_for(i)
                writer.writerow([_csv_value(values[f]) for f in job.fields])
                count += 1
        else:
            types = set(job.activity_type_ids or [])
            rows = [
                a
                for a in self.data.activities
                if start <= a["activityDate"] <= end and (not types or a["activityTypeId"] in types)
            ]
            for i, act in enumerate(rows):
                values = dict(act)
                bad = nasty_value_for(i) if nasty else None
                if bad is not None:
                    values["primaryAttributeValue"] = bad
                    values["attributes"] = {**act["attributes"], "Note": bad}
                writer.writerow([_csv_value(values[f]) for f in job.fields])
                count += 1
        return buf.getvalue().encode("utf-8"), count


def _one(q: dict[str, list[str]], name: str) -> str | None:
    values = q.get(name)
    return values[0] if values else None


def _csv_param(q: dict[str, list[str]], name: str) -> list[str]:
    return [v.strip() for raw in q.get(name, []) for v in raw.split(",") if v.strip()]


def _rest_activity(act: dict[str, Any]) -> dict[str, Any]:
    item = {k: act[k] for k in ("id", "marketoGUID", "leadId", "activityDate", "activityTypeId")}
    item["campaignId"] = act["campaignId"]
    item["primaryAttributeValueId"] = act["primaryAttributeValueId"]
    item["primaryAttributeValue"] = act["primaryAttributeValue"]
    item["attributes"] = [{"name": k, "value": v} for k, v in act["attributes"].items()]
    return item


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    # ---------------------------------------------------------------- plumbing
    def _release_call(self) -> None:
        """The call stops counting as concurrent once its answer is ready, before it is written:
        a client that has read the answer can never find its own call still counted (as a
        decrement after the write allowed, under load, for the client's next call)."""
        if getattr(self, "_counted", False):
            self._counted = False
            with self.server.sandbox.lock:
                self.server.sandbox.stats.concurrent -= 1

    def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self._release_call()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _envelope(self, payload: dict[str, Any] | None, error: ApiError | None) -> None:
        sandbox = self.server.sandbox
        body: dict[str, Any] = {"requestId": sandbox.next_request_id()}
        if error is not None:
            body["success"] = False
            body["errors"] = [{"code": error.code, "message": error.message}]
            with sandbox.lock:
                sandbox.stats.errors_by_code[error.code] += 1
        else:
            body["success"] = True
            body.update(payload or {})
        self._send(200, json.dumps(body, ensure_ascii=False).encode(), "application/json;charset=UTF-8")

    def _handle(self, method: str) -> None:
        sandbox = self.server.sandbox
        cfg = sandbox.config
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if len(self.path.encode()) > cfg.max_uri_bytes:
                self.close_connection = True
                raise PlainResponse(414, b"414 Request-URI Too Large\n")
            if length > cfg.max_body_bytes:
                self.close_connection = True
                raise PlainResponse(413, b"413 Request Entity Too Large\n")
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            path = parts.path
            if path == "/identity/oauth/token":
                params = {k: v[0] for k, v in query.items()}
                if body:
                    params.update({k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()})
                payload = sandbox.issue_token(params)
                self._send(200, json.dumps(payload).encode(), "application/json;charset=UTF-8")
                return
            self._api(method, path, query, body)
        except PlainResponse as resp:
            self._send(resp.status, resp.body, resp.content_type)

    def _api(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        sandbox = self.server.sandbox
        with sandbox.lock:
            sandbox.stats.api_calls += 1
            sandbox.stats.calls_by_path[_route_name(path)] += 1
            sandbox.stats.concurrent += 1
            sandbox.stats.max_concurrent = max(sandbox.stats.max_concurrent, sandbox.stats.concurrent)
            concurrent = sandbox.stats.concurrent
        self._counted = True
        try:
            if sandbox.faults.latency_s:
                time.sleep(sandbox.faults.latency_s)
            with sandbox.lock:
                limit = min(sandbox.config.max_concurrent_calls, sandbox.faults.concurrency_limit or 10**9)
                if concurrent > limit:
                    raise ApiError("615", "Concurrent access limit reached")
                client_id = sandbox.authenticate(self.headers, query)
                sandbox.admit()
            result = self._dispatch(method, path, query, body, client_id)
            if isinstance(result, tuple):  # a file download, already sent
                sandbox.count_success()
                return
            sandbox.count_success()
            self._envelope(result, None)
        except ApiError as err:
            self._envelope(None, err)
        except PlainResponse as resp:
            if resp.status < 400:
                sandbox.count_success()
            self._send(resp.status, resp.body, resp.content_type)
        finally:
            self._release_call()  # if nothing was sent (a handler raised before answering)

    def _dispatch(
        self, method: str, path: str, q: dict[str, list[str]], body: bytes, client_id: str
    ) -> dict[str, Any] | tuple[()]:
        sandbox = self.server.sandbox
        rest = {
            ("GET", "/rest/v1/leads/describe.json"): lambda: sandbox.describe_leads(),
            ("GET", "/rest/v1/leads.json"): lambda: sandbox.get_leads(q),
            ("GET", "/rest/v1/activities/types.json"): lambda: sandbox.activity_types(),
            ("GET", "/rest/v1/activities/pagingtoken.json"): lambda: sandbox.paging_token(q),
            ("GET", "/rest/v1/activities.json"): lambda: sandbox.get_activities(q),
            ("GET", "/rest/asset/v1/programs.json"): lambda: sandbox.programs(q),
        }
        handler = rest.get((method, path))
        if handler is not None:
            return handler()
        segments = path.strip("/").split("/")
        # /bulk/v1/{entity}/export/...
        if len(segments) >= 4 and segments[:2] == ["bulk", "v1"] and segments[2] in ("leads", "activities"):
            entity = segments[2]
            tail = segments[3:]
            if tail == ["export.json"] and method == "GET":
                return sandbox.list_jobs(entity, client_id, q)
            if tail == ["export", "create.json"] and method == "POST":
                content_type = self.headers.get("Content-Type", "")
                if "application/json" not in content_type:
                    raise ApiError("612", "Invalid Content Type")
                try:
                    payload = json.loads(body or b"{}")
                except ValueError as exc:
                    raise ApiError("609", "Invalid JSON") from exc
                if not isinstance(payload, dict):
                    raise ApiError("609", "Invalid JSON")
                return sandbox.create_job(entity, client_id, payload)
            if len(tail) == 3 and tail[0] == "export":
                export_id, action = tail[1], tail[2]
                if action == "enqueue.json" and method == "POST":
                    return sandbox.enqueue(entity, client_id, export_id)
                if action == "cancel.json" and method == "POST":
                    return sandbox.cancel(entity, client_id, export_id)
                if action == "status.json" and method == "GET":
                    return sandbox.status(entity, client_id, export_id)
                if action == "file.json" and method == "GET":
                    self._send_file(sandbox.file_bytes(entity, client_id, export_id))
                    return ()
        raise ApiError("610", "Requested resource not found")

    def _send_file(self, data: bytes) -> None:
        sandbox = self.server.sandbox
        total = len(data)
        status, start, end = 200, 0, total - 1
        range_header = self.headers.get("Range")
        extra: dict[str, str] = {"Accept-Ranges": "bytes"}
        if range_header:
            try:
                unit, spec = range_header.split("=", 1)
                first, _, last = spec.strip().partition("-")
                if unit.strip() != "bytes" or "," in spec:
                    raise ValueError(range_header)
                start = int(first)
                end = min(int(last), total - 1) if last else total - 1
            except ValueError as exc:
                raise PlainResponse(416, b"416 Range Not Satisfiable\n") from exc
            if start > end or start >= total:
                raise PlainResponse(416, b"416 Range Not Satisfiable\n")
            status = 206
            extra["Content-Range"] = f"bytes {start}-{end}/{total}"
        chunk = data[start : end + 1]
        cut: int | None = None
        with sandbox.lock:
            sandbox.stats.downloads += 1
            if range_header:
                sandbox.stats.range_downloads += 1
            faults = sandbox.faults
            limit = faults.truncate_download_after_bytes
            if limit is not None and faults.truncate_next_downloads > 0 and limit < len(chunk):
                faults.truncate_next_downloads -= 1
                sandbox.stats.truncated_downloads += 1
                cut = limit
        self._release_call()
        self.send_response(status)
        self.send_header("Content-Type", "text/csv; charset=utf-8")
        self.send_header("Content-Length", str(len(chunk)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if cut is None:
            self.wfile.write(chunk)
            return
        self.wfile.write(chunk[:cut])
        self.wfile.flush()
        self.close_connection = True  # the client sees fewer bytes than Content-Length


def _route_name(path: str) -> str:
    segments = path.strip("/").split("/")
    if len(segments) == 6 and segments[:2] == ["bulk", "v1"] and segments[3] == "export":
        return f"/bulk/v1/{segments[2]}/export/{{id}}/{segments[5]}"
    return path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: MarketoSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class SandboxHandle:
    """A running sandbox. ``faults``, ``config`` and ``stats`` are live objects."""

    def __init__(self, server: _Server, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.sandbox = server.sandbox
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)
        self.url = f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> Faults:
        return self.sandbox.faults

    @property
    def config(self) -> SandboxConfig:
        return self.sandbox.config

    @property
    def stats(self) -> SandboxStats:
        return self.sandbox.stats

    @property
    def data(self) -> SandboxData:
        return self.sandbox.data

    @property
    def client_id(self) -> str:
        return next(iter(self.config.clients))

    @property
    def client_secret(self) -> str:
        return self.config.clients[self.client_id]

    def reset_stats(self) -> None:
        with self.sandbox.lock:
            self.sandbox.stats = SandboxStats()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_sandbox(
    port: int = 0,
    *,
    seed: int = 42,
    faults: Faults | None = None,
    data: SandboxData | None = None,
    config: SandboxConfig | None = None,
    host: str = "127.0.0.1",
) -> SandboxHandle:
    """Start the sandbox in a background thread (``port=0``: a free port) and return its handle."""
    sandbox = MarketoSandbox(data or SandboxData.build(seed), faults or Faults(), config or SandboxConfig())
    server = _Server((host, port), sandbox)
    thread = threading.Thread(target=server.serve_forever, name=f"marketo-sandbox-{port}", daemon=True)
    thread.start()
    return SandboxHandle(server, thread)
