"""Platform settings, read from environment variables with embedded demo defaults.

The only production module that reads the environment (tests/test_settings.py checks it):
resources and functions take their values from :class:`Settings`. Secrets reach the
resources as ``dg.EnvVar`` (read when a run starts); for those, Settings records whether the
variable is set (``ops_database_url`` keeps the URL for the demo's and tests' own checks, out
of ``repr``). Definitions make that choice when they are built (``build_definitions``).

Everything here is cheap and does no I/O, so it is safe to call while Dagster loads
definitions. A wrong value raises :class:`SettingsError` naming the variable.
Connectivity (can the database be reached?) is checked when a run starts, by the
resources, with the same kind of message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PLATFORM_DATA_DIR", PROJECT_ROOT / "data"))
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DEFAULT_SOURCES_FILE = PROJECT_ROOT / "orchestration" / "sources.yml"

WAREHOUSE_BACKENDS = ("duckdb", "bigquery")  # not the `warehouses` source table
POSTGRES_COPY_CLIENTS = ("auto", "psql", "psycopg")
MARKETO_VARIABLES = ("MARKETO_BASE_URL", "MARKETO_CLIENT_ID", "MARKETO_CLIENT_SECRET")
DEFAULT_MARKETO_HISTORY_START = "2018-01-01"
DEFAULT_MARKETO_ACTIVITIES_START = "2025-01-01"
DEFAULT_MARKETO_POLL_INTERVAL_S = 60.0
DEFAULT_MARKETO_RATE_LIMIT_CALLS = 100  # Marketo's 100 calls per 20 s per instance
DEFAULT_DBT_KEEP_INVOCATION_DIRS = 20


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    warehouse: str
    duckdb_path: Path
    # The demo's and the tests' own connectivity checks use it; the resources never do (they
    # take OPS_DATABASE_URL as a dg.EnvVar), and repr leaves it out so a password in it is never logged.
    ops_database_url: str = field(repr=False)
    gcp_project: str | None
    bigquery_location: str
    bigquery_dataset_prefix: str
    # The BigQuery emulator (tests, `make demo-bigquery`): REST URL and Storage Write API
    # gRPC host:port. Both unset on real BigQuery.
    bigquery_emulator_host: str | None = None
    bigquery_storage_emulator_host: str | None = None
    # The declared operational tables (orchestration/sources.py); SOURCES_FILE overrides.
    sources_file: Path = DEFAULT_SOURCES_FILE
    # Secrets are never held here, only whether their variable is set: the resources then
    # read them at run time through dg.EnvVar, so the UI shows the variable's name only.
    ops_database_url_set: bool = False
    marketo_variables_set: frozenset[str] = frozenset()
    marketo_poll_interval_s: float = DEFAULT_MARKETO_POLL_INTERVAL_S
    marketo_rate_limit_calls: int = DEFAULT_MARKETO_RATE_LIMIT_CALLS
    marketo_history_start: str = DEFAULT_MARKETO_HISTORY_START
    marketo_activities_start_date: str = DEFAULT_MARKETO_ACTIVITIES_START
    # dbt: DBT_TARGET overrides the target WAREHOUSE picks; the rest are dbt's own variables.
    dbt_target: str | None = None
    dbt_log_level_file: str = "info"
    dbt_target_path: str = "target"
    dbt_log_path: str = "logs"
    dbt_keep_invocation_dirs: int = DEFAULT_DBT_KEEP_INVOCATION_DIRS
    # EXTRACT_POSTGRES_COPY: the PostgreSQL COPY client (auto: psql when on PATH, else psycopg).
    postgres_copy_client: str = "auto"
    quality_data_docs_dir: Path = DATA_DIR / "quality" / "data_docs"

    @property
    def uses_bigquery_emulator(self) -> bool:
        return self.warehouse == "bigquery" and self.bigquery_emulator_host is not None


def sources_file(env: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The sources file: ``SOURCES_FILE`` when set, else ``orchestration/sources.yml``."""
    env = os.environ if env is None else env
    return Path(env.get("SOURCES_FILE", "").strip() or DEFAULT_SOURCES_FILE)


def default_ops_database_url() -> str:
    return f"sqlite:///{DATA_DIR / 'ops.db'}"


def load_settings(env: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    warehouse = env.get("WAREHOUSE", "duckdb").strip().lower()
    if warehouse not in WAREHOUSE_BACKENDS:
        raise SettingsError(
            f"WAREHOUSE={warehouse!r} is not supported; set WAREHOUSE to one of {', '.join(WAREHOUSE_BACKENDS)}"
        )
    ops_url = env.get("OPS_DATABASE_URL", "").strip() or default_ops_database_url()
    if "://" not in ops_url:
        raise SettingsError(
            "OPS_DATABASE_URL must be a SQLAlchemy URL such as postgresql+psycopg://user@host/db, "
            "mysql+pymysql://user@host/db or sqlite:///path/ops.db"
        )
    gcp_project = env.get("GCP_PROJECT", "").strip() or None
    if warehouse == "bigquery" and not gcp_project:
        raise SettingsError("WAREHOUSE=bigquery needs GCP_PROJECT (the project that holds the datasets)")
    emulator_host, storage_emulator_host = _emulator_hosts(env) if warehouse == "bigquery" else (None, None)
    return Settings(
        warehouse=warehouse,
        duckdb_path=Path(env.get("DUCKDB_PATH", "").strip() or DATA_DIR / "warehouse.duckdb"),
        ops_database_url=ops_url,
        gcp_project=gcp_project,
        bigquery_location=env.get("BIGQUERY_LOCATION", "").strip() or "US",
        bigquery_dataset_prefix=env.get("BIGQUERY_DATASET_PREFIX", "").strip(),
        bigquery_emulator_host=emulator_host,
        bigquery_storage_emulator_host=storage_emulator_host,
        sources_file=sources_file(env),
        ops_database_url_set=bool(env.get("OPS_DATABASE_URL")),
        marketo_variables_set=frozenset(name for name in MARKETO_VARIABLES if env.get(name)),
        marketo_poll_interval_s=_number(
            env, "MARKETO_POLL_INTERVAL_S", float, DEFAULT_MARKETO_POLL_INTERVAL_S, "a number of seconds"
        ),
        marketo_rate_limit_calls=_number(
            env, "MARKETO_RATE_LIMIT_CALLS", int, DEFAULT_MARKETO_RATE_LIMIT_CALLS, "a whole number"
        ),
        marketo_history_start=env.get("MARKETO_HISTORY_START", "").strip() or DEFAULT_MARKETO_HISTORY_START,
        marketo_activities_start_date=(
            env.get("MARKETO_ACTIVITIES_START_DATE", "").strip() or DEFAULT_MARKETO_ACTIVITIES_START
        ),
        dbt_target=env.get("DBT_TARGET", "").strip() or None,
        dbt_log_level_file=env.get("DBT_LOG_LEVEL_FILE", "").strip() or "info",
        dbt_target_path=env.get("DBT_TARGET_PATH", "").strip() or "target",
        dbt_log_path=env.get("DBT_LOG_PATH", "").strip() or "logs",
        dbt_keep_invocation_dirs=_number(
            env, "DBT_KEEP_INVOCATION_DIRS", int, DEFAULT_DBT_KEEP_INVOCATION_DIRS, "a whole number"
        ),
        postgres_copy_client=_choice(env, "EXTRACT_POSTGRES_COPY", POSTGRES_COPY_CLIENTS),
        quality_data_docs_dir=Path(
            env.get("QUALITY_DATA_DOCS_DIR", "").strip() or DATA_DIR / "quality" / "data_docs"
        ),
    )


_Number = TypeVar("_Number", int, float)


def _number(
    env: os._Environ[str] | dict[str, str], name: str, kind: type[_Number], default: _Number, what: str
) -> _Number:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not {what}") from None


def _choice(env: os._Environ[str] | dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: use {', '.join(choices[:-1])} or {choices[-1]}")
    return value


def _emulator_hosts(env: os._Environ[str] | dict[str, str]) -> tuple[str | None, str | None]:
    """BIGQUERY_EMULATOR_HOST (REST URL) and BIGQUERY_STORAGE_EMULATOR_HOST (gRPC host:port).

    Both or neither: the raw loader writes through the Storage Write API, and without the
    gRPC endpoint it would send the emulator's rows to Google.
    """
    rest = env.get("BIGQUERY_EMULATOR_HOST", "").strip().rstrip("/") or None
    grpc = env.get("BIGQUERY_STORAGE_EMULATOR_HOST", "").strip() or None
    if rest and not rest.startswith(("http://", "https://")):
        raise SettingsError(
            f"BIGQUERY_EMULATOR_HOST must be a URL such as http://127.0.0.1:9050, not {rest!r}"
        )
    if grpc and ("://" in grpc or ":" not in grpc):
        raise SettingsError(
            f"BIGQUERY_STORAGE_EMULATOR_HOST must be host:port such as 127.0.0.1:9060, not {grpc!r}"
        )
    if bool(rest) != bool(grpc):
        missing = "BIGQUERY_STORAGE_EMULATOR_HOST" if rest else "BIGQUERY_EMULATOR_HOST"
        raise SettingsError(
            f"the BigQuery emulator needs both BIGQUERY_EMULATOR_HOST (REST) and "
            f"BIGQUERY_STORAGE_EMULATOR_HOST (gRPC); {missing} is not set"
        )
    return rest, grpc
