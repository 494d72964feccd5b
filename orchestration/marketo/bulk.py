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
     "sweep": null | {"start", "end", "cursor", "started_at"},  # first lead sweep in progress
     "fallback": null | {"created_through", "changes_since", "resweep": {...}}}  # leads, 1035

Each step is persisted as it happens, so a run stopped anywhere (crash, timeout, 607 or
export quota) resumes the same export ids next time. The bookmark moves only when the
caller calls ``runner.commit(result)`` after the window is safely in the warehouse.

Leads and 1035. ``marketo-api.md`` says a 1035 on the lead ``updatedAt`` filter must lead
to "a documented alternative, never silently to createdAt", and warns against filtering
by ``createdAt`` while tracking ``updatedAt`` ("updates to older leads are never
extracted"). Our fallback, remembered in the state (``"fallback"``) so that it is paid once:

1. **One full createdAt sweep**, the first time: every lead, window by window over
   ``createdAt`` from ``lead_history_start`` (``MARKETO_HISTORY_START``: the subscription's
   start) to now, each window committed after its publish (``"sweep"`` holds the cursor; a
   crash re-exports at most the window in flight, and even that resumes its export id).
2. **Then, every run, only what can have changed**:
   a. leads *created* since: createdAt windows from ``created_through`` (each exported once);
   b. leads *changed* since: Marketo logs a lead-change activity ("New Lead", "Change Data
      Value", "Change Score", "Merge Leads") for every change it tracks; the runner pages those
      activities from ``changes_since`` (minus ``change_lookback``, for activities logged late)
      and re-reads exactly those leads by id over REST (``leads.json``, 300 ids a call: API
      calls, no export quota); ``changes_since`` moves to the read's start after the publish;
   c. a **rolling re-sweep**, the backstop for changes Marketo logs no activity for (fields
      with change logging off, system updates): the whole createdAt history is re-exported
      once per ``resweep_period`` (``MARKETO_LEADS_RESWEEP_DAYS``, default 28), spread evenly
      over the runs (each run earns ``history windows x elapsed / period`` windows of credit
      and exports the whole windows it has), so no day pays for the whole history.

Nothing is lost: a lead created in a window already exported is the next window's (2a);
a tracked change is re-read by id at most one run later (2b); any other change reaches raw
within one re-sweep period (2c), and the leads metadata and the check
``lead_changes_covered`` say up to when raw is complete for those. The bookmark under the
fallback is the start of the last complete pass: every lead updated before it was read by
that pass, so when Marketo enables the ``updatedAt`` filter (each run probes it with one
create call, which costs nothing when refused) the runner goes back to ``updatedAt``
windows from there without a gap. (Rejected: a full sweep every run, the old rule, which
re-exports the whole lead database daily against the 500 MB quota; ``leads.json`` alone,
which needs the ids of the changed leads; a smart list, which needs a list built by hand.)
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .arrow import string_table
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
from .export_file import CHANGES_FALLBACK, CREATED_FALLBACK, RESWEEP_FALLBACK, ExportResult, fetch_export
from .state import StateStore
from .windows import MAX_WINDOW_DAYS, Window, iso, parse_ts, split_windows

log = logging.getLogger(__name__)

MARKETO_MAX_PROCESSING_JOBS = 2
FAILED_STATUSES = frozenset({"Failed", "Cancelled", "Canceled"})
DEFAULT_LEAD_HISTORY_START = datetime(2006, 1, 1, tzinfo=UTC)
DEFAULT_RESWEEP_PERIOD = timedelta(days=28)
DEFAULT_CHANGE_LOOKBACK = timedelta(hours=1)
# Activity types Marketo logs when a lead's fields change (those the catalogue has are read).
LEAD_CHANGE_ACTIVITY_NAMES = ("New Lead", "Change Data Value", "Change Score", "Merge Leads")
FALLBACK_JOB_PREFIXES = ("sweep:", "created:", "resweep:")
LEAD_ID_BATCH = 300  # leads.json takes at most 300 filter values


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
        resweep_period: timedelta = DEFAULT_RESWEEP_PERIOD,
        change_lookback: timedelta = DEFAULT_CHANGE_LOOKBACK,
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
        if resweep_period <= timedelta(0):
            raise ValueError(f"{state_key}: resweep_period must be positive, not {resweep_period}")
        self.resweep_period = resweep_period
        self.change_lookback = change_lookback
        self.change_activity_types: dict[int, str] = {}
        self.leads_reread = 0
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
                if self._state.get("fallback"):  # known since an earlier run: the cheap path
                    yield from self._run_fallback(fields)
                    return
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
                    "started_at": iso(now),
                }
                self._save()
                yield from self._run_sweep()
                return
            if self._state.get("fallback"):
                log.warning(
                    "Marketo %s: the lead updatedAt filter works again; back to updatedAt windows from %s",
                    self.state_key,
                    bookmark,
                )
                self._state["fallback"] = None
                self._state["jobs"] = {
                    k: v for k, v in self._state["jobs"].items() if not k.startswith(FALLBACK_JOB_PREFIXES)
                }
                self._save()
            yield from self._hand_over(result)
        if not windows and self._state.get("fallback"):  # nothing to probe with: stay on the fallback
            yield from self._run_fallback(fields)

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
        elif kind == "sweep":
            sweep = state["sweep"]
            sweep["cursor"] = iso(max(parse_ts(sweep["cursor"]), result.window.end))
            if parse_ts(sweep["cursor"]) >= parse_ts(sweep["end"]):
                state["bookmark"] = sweep["end"]
                state["sweep"] = None
                if self.entity == "leads":
                    self._start_fallback(sweep)
        elif kind == "created":
            fallback = state["fallback"]
            fallback["created_through"] = iso(max(parse_ts(fallback["created_through"]), result.window.end))
        elif kind == "changes":
            state["fallback"]["changes_since"] = job_key  # the activity read's start
        elif kind == "resweep":
            self._advance_resweep(result.window)
        else:
            raise ValueError(f"{self.state_key}: unknown commit kind {kind!r}")
        if kind != "changes":
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

    # ------------------------------------------------------------------ lead fallback (1035)
    def _start_fallback(self, sweep: dict[str, Any]) -> None:
        """The first sweep is done: from now on only what can have changed is read (module docstring)."""
        # rows updated after the sweep's end were filtered out of it: their activities are still due
        started = min(sweep.get("started_at") or sweep["end"], sweep["end"], key=parse_ts)
        self._state["fallback"] = {
            "created_through": sweep["end"],
            "changes_since": started,
            "resweep": {
                "cursor": iso(self.lead_history_start),
                "pass_started_at": None,  # set when a pass plans its first window
                "pass_end": None,
                "last_pass_started_at": started,
                "last_pass_completed_at": sweep["end"],
                "credit": 0.0,
                "credited_at": sweep["end"],
            },
        }

    def _history_windows(self, created_through: datetime) -> list[Window]:
        return split_windows(self.lead_history_start, created_through, now=created_through)

    def _run_fallback(self, fields: list[str] | None) -> Iterator[ExportResult]:
        fallback = self._state["fallback"]
        now = self.clock()
        # a. leads created since the last run, each createdAt window exported once
        windows = split_windows(parse_ts(fallback["created_through"]), now, now=now)
        yield from self._export_windows(windows, fields, prefix="created:", kind="created")
        # b. leads whose change Marketo logged, re-read by id
        yield from self._reread_changed_leads(fields)
        # c. the rolling re-sweep's share of this run
        yield from self._export_windows(self._resweep_plan(), fields, prefix="resweep:", kind="resweep")

    def _export_windows(
        self, windows: list[Window], fields: list[str] | None, *, prefix: str, kind: str
    ) -> Iterator[ExportResult]:
        for i, window in enumerate(windows):
            for ahead in windows[i : i + self.max_active_jobs]:
                self._ensure_started(ahead, "createdAt", fields, prefix=prefix)
            result = self._complete(window, "createdAt", fields, prefix=prefix)
            result.fallback = RESWEEP_FALLBACK if kind == "resweep" else CREATED_FALLBACK
            result._commit = (kind, prefix + window.key)
            yield from self._hand_over(result)

    def _lead_change_types(self) -> dict[int, str]:
        if not self.change_activity_types:
            catalogue = {t["name"]: int(t["id"]) for t in self.client.activity_types()}
            found = {catalogue[name]: name for name in LEAD_CHANGE_ACTIVITY_NAMES if name in catalogue}
            if "Change Data Value" not in found.values():
                raise MarketoExportError(
                    f"{self.state_key}: the activity type catalogue has no 'Change Data Value' type, so "
                    "under the 1035 fallback lead updates could be missed; check the API user's "
                    "permissions (Read-Only Activity)"
                )
            self.change_activity_types = found
        return self.change_activity_types

    def _reread_changed_leads(self, fields: list[str] | None) -> Iterator[ExportResult]:
        fallback = self._state["fallback"]
        since = parse_ts(fallback["changes_since"]) - self.change_lookback
        read_at = self.clock()
        types = self._lead_change_types()
        lead_ids = sorted({int(a["leadId"]) for a in self.client.iter_activities(since, types)})
        records: list[dict[str, Any]] = []
        for i in range(0, len(lead_ids), LEAD_ID_BATCH):
            records.extend(self.client.get_leads("id", lead_ids[i : i + LEAD_ID_BATCH], fields))
        self.leads_reread += len(records)
        if lead_ids:
            log.info(
                "Marketo %s: %d lead-change activities' leads re-read by id since %s (%d found)",
                self.state_key,
                len(lead_ids),
                iso(since),
                len(records),
            )
        result = ExportResult(
            window=Window(since, read_at),
            filter_field="id",
            table=string_table(records, fields or sorted({k for r in records for k in r})),
            export_id="",
            rows_in_file=len(records),
            file_size=0,
            download_resumed=0,
            attempts=0,
            nul_bytes_stripped=0,
            fallback=CHANGES_FALLBACK,
            _commit=("changes", iso(read_at)),
        )
        yield from self._hand_over(result)

    def _resweep_plan(self) -> list[Window]:
        """The windows this run re-exports: the whole windows of credit earned since the last run.

        A pass covers ``[lead_history_start, pass_end)``, ``pass_end`` being ``created_through``
        when it starts (newer leads are the next pass's); each run earns ``windows of the pass x
        elapsed / resweep_period`` windows, so a pass takes one period whatever the run cadence."""
        fallback = self._state["fallback"]
        resweep = fallback["resweep"]
        now = self.clock()
        pass_end = parse_ts(resweep.get("pass_end") or fallback["created_through"])
        history = self._history_windows(pass_end)
        elapsed = max(timedelta(0), now - parse_ts(resweep["credited_at"]))
        earned = len(history) * (elapsed / self.resweep_period)
        # capped at one pass: a long pause re-reads the history once, not once per missed period
        resweep["credit"] = min(resweep["credit"] + earned, float(len(history)))
        resweep["credited_at"] = iso(now)
        plan: list[Window] = []
        cursor = parse_ts(resweep["cursor"])
        while len(plan) < int(resweep["credit"] + 1e-9) and cursor < pass_end:
            end = min(cursor + timedelta(days=MAX_WINDOW_DAYS), pass_end)
            plan.append(Window(cursor, end))
            cursor = end
        if plan and resweep.get("pass_started_at") is None:
            # set before the pass reads anything: every lead updated before it is read by this pass
            resweep["pass_started_at"] = iso(now)
            resweep["pass_end"] = iso(pass_end)
        self._save()
        return plan

    def _advance_resweep(self, window: Window) -> None:
        resweep = self._state["fallback"]["resweep"]
        resweep["cursor"] = iso(window.end)
        resweep["credit"] = max(0.0, resweep["credit"] - 1)
        if window.end >= parse_ts(resweep["pass_end"]):  # the pass is complete
            resweep["last_pass_started_at"] = resweep["pass_started_at"]
            resweep["last_pass_completed_at"] = iso(self.clock())
            resweep["pass_started_at"] = resweep["pass_end"] = None
            resweep["cursor"] = iso(self.lead_history_start)
            bookmark = self._state.get("bookmark")
            started = parse_ts(resweep["last_pass_started_at"])
            if not bookmark or parse_ts(bookmark) < started:
                self._state["bookmark"] = iso(started)

    def fallback_status(self) -> dict[str, Any] | None:
        """What the leads' materialization reports under the 1035 fallback (None: not in it)."""
        fallback = self.state().get("fallback")
        if not fallback:
            return None
        resweep = fallback["resweep"]
        return {
            "created_through": fallback["created_through"],
            "changes_since": fallback["changes_since"],
            "lead_change_activity_types": sorted(self.change_activity_types.values()),
            "leads_reread_by_id": self.leads_reread,
            "resweep_period_days": round(self.resweep_period / timedelta(days=1), 3),
            "resweep_cursor": resweep["cursor"],
            "resweep_credit_windows": round(resweep["credit"], 3),
            # every lead change, logged as an activity or not, before this is in raw
            "complete_for_unlogged_changes_before": resweep["last_pass_started_at"],
        }

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
