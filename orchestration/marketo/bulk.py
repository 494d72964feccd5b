"""Bulk export windows and the export job lifecycle, with state that survives interruptions.

Windows: ``split_windows`` cuts ``[start, end)`` into windows of at most 31 days with no
gap or overlap; the last one is capped at now and nothing is created for the future.
Marketo's date filters are documented loosely (inclusive ends are common), so the runner
also drops rows outside ``[window.start, window.end)`` after download: a record exactly on
a boundary lands in exactly one window whatever the server does.

Job lifecycle (``ExportJobRunner``): create -> enqueue (1029 "Too many jobs in queue" is
retried later, "Job already queued" means poll it) -> poll no more often than
``poll_interval_s`` until Completed or the client-side ``poll_timeout_s`` -> download
(resumed with ``Range`` when cut, verified against ``fileChecksum``) -> parse. Failed,
Cancelled/Canceled and Completed-but-404 jobs are recreated (up to ``max_job_attempts``),
never skipped. At most two of our jobs are queued or processing at once (Marketo runs two).

State (one JSON dict per ``state_key`` in a ``StateStore``)::

    {"bookmark": "2024-05-01T00:00:00Z" | null,     # everything before it is in the warehouse
     "jobs": {"<start>/<end>": {"start", "end", "filter", "exportId", "status", "attempts"}},
     "sweep": null | {"start", "end", "cursor"}}    # lead fallback in progress, see below

Each step is persisted as it happens, so a run stopped anywhere (crash, timeout, 607 or
export quota) resumes the same export ids next time. The bookmark moves only when the
caller calls ``runner.commit(result)`` after the window is safely in the warehouse.

Leads and 1035. ``marketo-api.md`` says a 1035 on the lead ``updatedAt`` filter must lead
to "a documented alternative, never silently to createdAt", and warns against filtering
by ``createdAt`` while tracking ``updatedAt`` ("updates to older leads are never
extracted"). Our fallback is a **full createdAt sweep**: export every lead, window by
window over ``createdAt`` from ``lead_history_start`` (default 2006-01-01, before any
Marketo subscription existed) up to the end of the requested range, and keep the leads whose
``updatedAt`` falls in that range. Every lead has exactly one ``createdAt`` and
``createdAt <= updatedAt``, so every lead updated in the range is in exactly one sweep
window: nothing is lost, no duplicates. It costs one job per 31 days of history; the run
logs a warning and each result carries ``fallback="createdAt_full_sweep"`` in its metadata.
(Alternatives rejected: ``leads.json`` needs filter values, so it cannot list changed leads;
a smart list filter needs a list built by hand in Marketo; "Change Data Value" activities do
not cover every kind of field change.) The sweep's progress is persisted like any window.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import MarketoClient
from .errors import (
    MarketoExportError,
    MarketoExportTimeout,
    MarketoFileNotFound,
    MarketoJobAlreadyQueued,
    MarketoJobQueueFull,
    MarketoNotFound,
    MarketoUnsupportedFilter,
)
from .export_file import ExportResult, fetch_export
from .state import StateStore
from .windows import Window, iso, parse_ts, split_windows

log = logging.getLogger(__name__)

MARKETO_MAX_PROCESSING_JOBS = 2
FAILED_STATUSES = frozenset({"Failed", "Cancelled", "Canceled"})
DEFAULT_LEAD_HISTORY_START = datetime(2006, 1, 1, tzinfo=UTC)


class ExportJobRunner:
    """Runs bulk exports window by window; see the module docstring for the state it keeps."""

    def __init__(
        self,
        client: MarketoClient,
        store: StateStore,
        *,
        entity: str,
        state_key: str,
        fields: list[str] | None = None,
        filter_field: str | None = None,
        activity_type_ids: list[int] | None = None,
        max_active_jobs: int = MARKETO_MAX_PROCESSING_JOBS,
        poll_interval_s: float | None = None,
        poll_timeout_s: float | None = None,
        queue_retry_s: float | None = None,
        max_job_attempts: int = 3,
        lead_history_start: datetime = DEFAULT_LEAD_HISTORY_START,
        work_dir: Path | str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if entity not in ("leads", "activities"):
            raise ValueError(f"entity must be 'leads' or 'activities', not {entity!r}")
        self.client = client
        self.store = store
        self.entity = entity
        self.state_key = state_key
        self.filter_field = filter_field or ("updatedAt" if entity == "leads" else "createdAt")
        if entity == "activities" and self.filter_field != "createdAt":
            raise ValueError("activity exports filter on createdAt only")
        if entity == "leads" and self.filter_field not in ("createdAt", "updatedAt"):
            raise ValueError("lead exports filter on createdAt or updatedAt")
        self._fields = fields
        self.activity_type_ids = sorted(activity_type_ids) if activity_type_ids else None
        self.max_active_jobs = max(1, min(max_active_jobs, MARKETO_MAX_PROCESSING_JOBS))
        self.poll_interval_s = client.poll_interval_s if poll_interval_s is None else poll_interval_s
        self.poll_timeout_s = client.poll_timeout_s if poll_timeout_s is None else poll_timeout_s
        self.queue_retry_s = self.poll_interval_s if queue_retry_s is None else queue_retry_s
        self.max_job_attempts = max_job_attempts
        self.lead_history_start = lead_history_start
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="marketo-export-"))
        self.clock = clock or (lambda: datetime.now(UTC))
        self.key_column = "id" if entity == "leads" else "marketoGUID"
        self._state: dict[str, Any] = {}
        self._last_poll: dict[str, float] = {}
        self._uncommitted: ExportResult | None = None

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        return self.store.get(self.state_key) or {"bookmark": None, "jobs": {}, "sweep": None}

    @property
    def bookmark(self) -> datetime | None:
        raw = self.state().get("bookmark")
        return parse_ts(raw) if raw else None

    def _save(self) -> None:
        self.store.put(self.state_key, self._state)

    # ------------------------------------------------------------------ public
    def fields(self) -> list[str] | None:
        if self.entity == "activities":
            return self._fields
        fields = list(self._fields or self.client.lead_rest_fields())
        for needed in ("id", "createdAt", "updatedAt"):
            if needed not in fields:
                fields.append(needed)
        return fields

    def run(self, start: datetime, end: datetime | None = None) -> Iterator[ExportResult]:
        """Yield one result per window from the bookmark (or ``start``) to ``end`` (capped at now).

        Call ``commit(result)`` once a result is loaded; the next result is only produced after that.
        """
        self._state = self.state()
        now = self.clock()
        end = min(end or now, now)
        if self._state.get("sweep"):
            yield from self._run_sweep()
        bookmark = self._state.get("bookmark")
        begin = max(start, parse_ts(bookmark)) if bookmark else start
        windows = split_windows(begin, end, now=now)
        fields = self.fields()
        for i, window in enumerate(windows):
            try:
                for ahead in windows[i : i + self.max_active_jobs]:
                    self._ensure_started(ahead, self.filter_field, fields, prefix="")
                result = self._complete(window, self.filter_field, fields, prefix="")
            except MarketoUnsupportedFilter as err:
                if not (self.entity == "leads" and self.filter_field == "updatedAt"):
                    raise
                log.warning(
                    "Marketo %s: the lead updatedAt filter is not enabled for this subscription (%s); "
                    "falling back to a full createdAt sweep from %s to %s (every lead is exported and "
                    "filtered on updatedAt, nothing is lost)",
                    self.state_key,
                    err.message,
                    iso(self.lead_history_start),
                    iso(windows[-1].end),
                )
                self._state["jobs"] = {
                    k: v
                    for k, v in self._state["jobs"].items()
                    if not v.get("exportId") or k.startswith("sweep:")
                }
                self._state["sweep"] = {
                    "start": iso(window.start),
                    "end": iso(windows[-1].end),
                    "cursor": iso(self.lead_history_start),
                }
                self._save()
                yield from self._run_sweep()
                return
            yield from self._hand_over(result)

    def commit(self, result: ExportResult) -> None:
        """Record that ``result`` is in the warehouse: advance the bookmark / sweep cursor."""
        if result.committed:
            return
        kind, job_key = result._commit
        state = self._state
        if kind == "window":
            bookmark = state.get("bookmark")
            if bookmark and parse_ts(bookmark) < result.window.start:
                raise RuntimeError(
                    f"{self.state_key}: committing {result.window.key} would leave a gap after bookmark {bookmark}"
                )
            if not bookmark or parse_ts(bookmark) < result.window.end:
                state["bookmark"] = iso(result.window.end)
        else:
            sweep = state["sweep"]
            sweep["cursor"] = iso(max(parse_ts(sweep["cursor"]), result.window.end))
            if parse_ts(sweep["cursor"]) >= parse_ts(sweep["end"]):
                state["bookmark"] = sweep["end"]
                state["sweep"] = None
        state["jobs"].pop(job_key, None)
        self._save()
        result.committed = True
        if self._uncommitted is result:
            self._uncommitted = None

    # ------------------------------------------------------------------ internals
    def _hand_over(self, result: ExportResult) -> Iterator[ExportResult]:
        self._uncommitted = result
        yield result
        if not result.committed:
            raise RuntimeError(
                f"{self.state_key}: commit(result) for window {result.window.key} before asking for the next one"
            )

    def _run_sweep(self) -> Iterator[ExportResult]:
        sweep = self._state["sweep"]
        target = Window(parse_ts(sweep["start"]), parse_ts(sweep["end"]))
        windows = split_windows(parse_ts(sweep["cursor"]), target.end, now=self.clock())
        if not windows:
            self._state["bookmark"], self._state["sweep"] = sweep["end"], None
            self._save()
            return
        fields = self.fields()
        for i, window in enumerate(windows):
            for ahead in windows[i : i + self.max_active_jobs]:
                self._ensure_started(ahead, "createdAt", fields, prefix="sweep:")
            result = self._complete(window, "createdAt", fields, prefix="sweep:", updated_in=target)
            yield from self._hand_over(result)

    def _ensure_started(
        self, window: Window, filter_field: str, fields: list[str] | None, prefix: str
    ) -> dict:
        key = prefix + window.key
        entry = self._state["jobs"].get(key)
        if entry and entry.get("exportId"):
            if entry["status"] == "Created":
                self._try_enqueue(entry)
            return entry
        flt: dict[str, Any] = {filter_field: {"startAt": iso(window.start), "endAt": iso(window.end)}}
        if self.activity_type_ids:
            flt["activityTypeIds"] = self.activity_type_ids
        created = self.client.create_export(self.entity, filter=flt, fields=fields)
        entry = {
            "start": iso(window.start),
            "end": iso(window.end),
            "filter": filter_field,
            "exportId": created["exportId"],
            "status": created.get("status", "Created"),
            "attempts": (entry or {}).get("attempts", 0) + 1,
        }
        self._state["jobs"][key] = entry
        self._save()
        log.info(
            "Marketo %s: created export %s for %s %s", self.state_key, entry["exportId"], filter_field, key
        )
        self._try_enqueue(entry)
        return entry

    def _try_enqueue(self, entry: dict[str, Any]) -> bool:
        try:
            result = self.client.enqueue_export(self.entity, entry["exportId"])
            entry["status"] = result.get("status", "Queued")
        except MarketoJobQueueFull as err:
            log.info("Marketo %s: %s; will enqueue %s later", self.state_key, err.message, entry["exportId"])
            return False
        except MarketoJobAlreadyQueued:
            entry["status"] = "Queued"
        self._save()
        return True

    def _drop_job(self, key: str, reason: str) -> None:
        entry = self._state["jobs"][key]
        attempts = entry.get("attempts", 1)
        log.warning(
            "Marketo %s: export %s for %s %s; recreating it", self.state_key, entry["exportId"], key, reason
        )
        if attempts >= self.max_job_attempts:
            self._state["jobs"][key] = {"attempts": 0}
            self._save()
            raise MarketoExportError(
                f"{self.state_key}: export for window {key} {reason} {attempts} times; the bookmark stays at "
                f"{self._state.get('bookmark')}, re-run later"
            )
        self._state["jobs"][key] = {"attempts": attempts}
        self._save()

    def _complete(
        self,
        window: Window,
        filter_field: str,
        fields: list[str] | None,
        *,
        prefix: str,
        updated_in: Window | None = None,
    ) -> ExportResult:
        key = prefix + window.key
        deadline = time.monotonic() + self.poll_timeout_s
        while True:
            entry = self._ensure_started(window, filter_field, fields, prefix)
            export_id = entry["exportId"]
            if entry["status"] == "Created" and not self._try_enqueue(entry):
                self._check_deadline(deadline, key, entry)
                self.client.sleep(self.queue_retry_s)
                continue
            wait = self._last_poll.get(export_id, float("-inf")) + self.poll_interval_s - time.monotonic()
            if wait > 0:
                self.client.sleep(wait)
            try:
                status = self.client.export_status(self.entity, export_id)
            except MarketoNotFound:  # expired (7 days) or created by another API user
                self._drop_job(key, "is no longer known to Marketo")
                continue
            finally:
                self._last_poll[export_id] = time.monotonic()
            entry["status"] = status["status"]
            self._save()
            if entry["status"] in FAILED_STATUSES:
                self._drop_job(key, f"ended {entry['status']}")
                continue
            if entry["status"] == "Completed":
                try:
                    return fetch_export(
                        self.client,
                        entity=self.entity,
                        key_column=self.key_column,
                        work_dir=self.work_dir,
                        window=window,
                        key=key,
                        entry=entry,
                        status=status,
                        filter_field=filter_field,
                        updated_in=updated_in,
                    )
                except MarketoFileNotFound:
                    self._drop_job(key, "is Completed but its file is gone (404)")
                    continue
            self._check_deadline(deadline, key, entry)

    def _check_deadline(self, deadline: float, key: str, entry: dict[str, Any]) -> None:
        if time.monotonic() > deadline:
            raise MarketoExportTimeout(
                f"{self.state_key}: export {entry['exportId']} for {key} still {entry['status']} after "
                f"{self.poll_timeout_s:g}s; its id stays in the state, the next run resumes it"
            )
