"""Marketo's REST and bulk export endpoints, over ``MarketoTransport``'s auth, pacing and retries."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
import urllib3

from .errors import MarketoError, MarketoExportError, MarketoFileNotFound
from .transport import MarketoTransport
from .windows import iso

log = logging.getLogger(__name__)

NO_ASSETS_WARNING = "no assets found"
BULK_ENTITIES = ("leads", "activities")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str  # "sha256:<hex>", Marketo's fileChecksum format
    resumed: int  # how many times the download was resumed with a Range request


class _Truncated(Exception):
    """The connection closed before the announced body length arrived."""


class MarketoClient(MarketoTransport):
    """The endpoints extraction uses: leads, activities, programs and bulk exports."""

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
