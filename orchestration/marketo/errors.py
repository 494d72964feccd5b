"""Marketo errors, classified by the string code inside the (usually HTTP 200) response body.

The reaction to each code follows ``marketo-api.md`` ("Limits and error codes"):
retryable codes are retried with backoff inside the client, quota codes stop the run
cleanly, everything else is a failure whose message names the code and Marketo's text.
No exception ever carries the client secret or an access token.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

RETRYABLE_CODES = frozenset({"502", "604", "606", "608", "611", "615", "713"})
TOKEN_CODES = frozenset({"601", "602"})
REQUEST_CODES = frozenset({"609", "610", "612", "1003", "701", "1035"})


class MarketoError(Exception):
    """Any error reported by Marketo (or by the client about Marketo)."""

    def __init__(
        self, message: str, code: str | None = None, *, request_id: str | None = None, hint: str | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        self.hint = hint
        text = f"Marketo error {code}: {message}" if code else message
        if request_id:
            text += f" (requestId {request_id})"
        if hint:
            text += f". {hint}"
        super().__init__(text)


class MarketoRetryableError(MarketoError):
    """Transient: rate limit (606), concurrency (615), or a temporary server problem."""


class MarketoAuthError(MarketoError):
    """Credentials rejected, token missing, or a token that stays invalid after one refresh."""


class MarketoTokenExpired(MarketoAuthError):
    """601/602: the client gets a new token and retries the call once."""


class MarketoAccessDenied(MarketoError):
    """603: the API user lacks a permission, or the IP is not on the allow-list."""


class MarketoQuotaExceeded(MarketoError):
    """A daily quota is used up; nothing can succeed until it resets (midnight US Central)."""


class MarketoExportQuotaExceeded(MarketoQuotaExceeded):
    """1029 "Export daily quota exceeded": the 500 MB/day of bulk export files is used up."""


class MarketoRequestError(MarketoError):
    """609/610/612/1003/701: the request is wrong; retrying cannot help (it is our bug)."""


class MarketoNotFound(MarketoRequestError):
    """610: the requested resource does not exist (or is not visible to this API user)."""


class MarketoUnsupportedFilter(MarketoRequestError):
    """1035: the filter type (e.g. lead ``updatedAt``) is not enabled for this subscription."""


class MarketoJobQueueFull(MarketoError):
    """1029 "Too many jobs in queue": enqueue again later."""


class MarketoJobAlreadyQueued(MarketoError):
    """1029 "Job already queued": the job is already on its way; poll it."""


class MarketoExportError(MarketoError):
    """A bulk export could not be completed (failed repeatedly, checksum mismatch, bad file)."""


class MarketoExportTimeout(MarketoExportError):
    """The client-side polling timeout ran out; the export id stays stored for the next run."""


class MarketoFileNotFound(MarketoExportError):
    """``file.json`` answered 404: the job is not Completed, unknown, or its file has expired."""


QUOTA_TIMEZONE = ZoneInfo("America/Chicago")  # Marketo's daily quotas reset at midnight US Central


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight in US Central, in UTC."""
    local = (now or datetime.now(UTC)).astimezone(QUOTA_TIMEZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), QUOTA_TIMEZONE)
    return midnight.astimezone(UTC)


def hint_for(code: str, cls: type[MarketoError]) -> str | None:
    """What to do about an error, for the message a data engineer reads in the run's failure."""
    resumes = (
        "The run stopped before the next call with its export jobs and bookmark saved; "
        "re-running after the reset resumes the same jobs, nothing is lost or loaded twice"
    )
    reset = f"resets at midnight US Central ({next_quota_reset():%Y-%m-%d %H:%M} UTC)"
    if cls is MarketoQuotaExceeded:
        return f"The daily API call quota (50,000 calls by default) {reset}. {resumes}"
    if cls is MarketoExportQuotaExceeded:
        return f"The daily bulk export quota (500 MB of files) {reset}. {resumes}"
    if cls is MarketoAccessDenied:
        return (
            "The API user's role lacks a permission this call needs (Read-Only Lead, Read-Only "
            "Activity, Read-Only Assets) or this machine's IP is not on the web service's allow-list "
            "(Admin > Web Services)"
        )
    if code == "610":
        return "Check MARKETO_BASE_URL (https://<munchkin-id>.mktorest.com, no path) and the id requested"
    if code in ("609", "612"):
        return "The request body or its Content-Type is wrong: a bug in the client, please report it"
    if code == "1003":
        return "A field, filter or value in the request is not valid for this subscription"
    return None


def classify(code: str, message: str, request_id: str | None = None) -> MarketoError:
    """Build the exception that matches a Marketo error code (a string, as Marketo sends it)."""
    code = str(code)
    lowered = message.lower()
    cls: type[MarketoError]
    if code in RETRYABLE_CODES:
        cls = MarketoRetryableError
    elif code in TOKEN_CODES:
        cls = MarketoTokenExpired
    elif code == "600":
        cls = MarketoAuthError
    elif code == "603":
        cls = MarketoAccessDenied
    elif code == "607":
        cls = MarketoQuotaExceeded
    elif code == "1029":
        if "quota" in lowered:
            cls = MarketoExportQuotaExceeded
        elif "already queued" in lowered:
            cls = MarketoJobAlreadyQueued
        else:
            cls = MarketoJobQueueFull
    elif code == "610":
        cls = MarketoNotFound
    elif code == "1035":
        cls = MarketoUnsupportedFilter
    elif code in REQUEST_CODES:
        cls = MarketoRequestError
    else:
        cls = MarketoError
    return cls(message, code, request_id=request_id, hint=hint_for(code, cls))
