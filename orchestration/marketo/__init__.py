"""Marketo source: REST/bulk client, export job runner with resumable state, robust CSV parsing.

Plain Python (no Dagster imports), so it can be tested against the sandbox on its own.
"""

from .bulk import DEFAULT_LEAD_HISTORY_START, DEFAULT_RESWEEP_PERIOD, ExportJobRunner
from .client import DownloadResult, MarketoClient
from .csv_reader import CsvBatchReader, CsvFormatError, read_csv_table
from .errors import (
    MarketoAccessDenied,
    MarketoAuthError,
    MarketoError,
    MarketoExportError,
    MarketoExportQuotaExceeded,
    MarketoExportTimeout,
    MarketoFileNotFound,
    MarketoJobAlreadyQueued,
    MarketoJobQueueFull,
    MarketoNotFound,
    MarketoQuotaExceeded,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenExpired,
    MarketoUnsupportedFilter,
)
from .export_file import (
    CHANGES_FALLBACK,
    CREATED_FALLBACK,
    RESWEEP_FALLBACK,
    SWEEP_FALLBACK,
    ExportResult,
)
from .state import FileStateStore, InMemoryStateStore, StateStore
from .windows import Window, split_windows

__all__ = [
    "CHANGES_FALLBACK",
    "CREATED_FALLBACK",
    "DEFAULT_LEAD_HISTORY_START",
    "DEFAULT_RESWEEP_PERIOD",
    "RESWEEP_FALLBACK",
    "SWEEP_FALLBACK",
    "CsvBatchReader",
    "CsvFormatError",
    "DownloadResult",
    "ExportJobRunner",
    "ExportResult",
    "FileStateStore",
    "InMemoryStateStore",
    "MarketoAccessDenied",
    "MarketoAuthError",
    "MarketoClient",
    "MarketoError",
    "MarketoExportError",
    "MarketoExportQuotaExceeded",
    "MarketoExportTimeout",
    "MarketoFileNotFound",
    "MarketoJobAlreadyQueued",
    "MarketoJobQueueFull",
    "MarketoNotFound",
    "MarketoQuotaExceeded",
    "MarketoRequestError",
    "MarketoRetryableError",
    "MarketoTokenExpired",
    "MarketoUnsupportedFilter",
    "StateStore",
    "Window",
    "read_csv_table",
    "split_windows",
]
