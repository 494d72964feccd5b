"""Platform settings, read from environment variables with embedded demo defaults.

Everything here is cheap and does no I/O, so it is safe to call while Dagster loads
definitions. A wrong value raises :class:`SettingsError` naming the variable.
Connectivity (can the database be reached?) is checked when a run starts, by the
resources, with the same kind of message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PLATFORM_DATA_DIR", PROJECT_ROOT / "data"))
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DEFAULT_SOURCES_FILE = PROJECT_ROOT / "orchestration" / "sources.yml"

WAREHOUSES = ("duckdb", "bigquery")


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    warehouse: str
    duckdb_path: Path
    ops_database_url: str
    gcp_project: str | None
    bigquery_location: str
    bigquery_dataset_prefix: str
    # The BigQuery emulator (tests, `make demo-bigquery`): REST URL and Storage Write API
    # gRPC host:port. Both unset on real BigQuery.
    bigquery_emulator_host: str | None = None
    bigquery_storage_emulator_host: str | None = None
    # The declared operational tables (orchestration/sources.py); SOURCES_FILE overrides.
    sources_file: Path = DEFAULT_SOURCES_FILE
    # Safe high-water marks (docs/reliability.md): the mark stays this far below the source's
    # clock and oldest open transaction, and a transaction holding it back this long warns.
    mark_clock_tolerance_s: int = 60
    mark_hold_warn_s: int = 3600

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
    if warehouse not in WAREHOUSES:
        raise SettingsError(
            f"WAREHOUSE={warehouse!r} is not supported; set WAREHOUSE to one of {', '.join(WAREHOUSES)}"
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
        mark_clock_tolerance_s=_seconds(env, "MARK_CLOCK_TOLERANCE_SECONDS", 60),
        mark_hold_warn_s=_seconds(env, "MARK_HOLD_WARN_SECONDS", 3600),
    )


def _seconds(env: os._Environ[str] | dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f"{name}={raw!r} must be a whole number of seconds, 0 or more")
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
