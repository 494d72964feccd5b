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

from orchestration import setting_values as values
from orchestration.setting_values import SettingsError

__all__ = ["Settings", "SettingsError", "load_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PLATFORM_DATA_DIR", PROJECT_ROOT / "data"))
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
DEFAULT_SOURCES_FILE = PROJECT_ROOT / "orchestration" / "sources.yml"

WAREHOUSE_BACKENDS = ("duckdb", "bigquery")  # not the `warehouses` source table
POSTGRES_COPY_CLIENTS = ("auto", "psql", "duckdb", "psycopg")
MARKETO_VARIABLES = ("MARKETO_BASE_URL", "MARKETO_CLIENT_ID", "MARKETO_CLIENT_SECRET")
DEFAULT_MARKETO_HISTORY_START = "2018-01-01"
DEFAULT_MARKETO_ACTIVITIES_START = "2025-01-01"
DEFAULT_MARKETO_POLL_INTERVAL_S = 60.0
DEFAULT_MARKETO_RATE_LIMIT_CALLS = 100  # Marketo's 100 calls per 20 s per instance
# Under the lead 1035 fallback, the whole lead history is re-exported once per this many days,
# spread over the runs: the bound for lead changes Marketo logs no activity for.
DEFAULT_MARKETO_LEADS_RESWEEP_DAYS = 28
DEFAULT_DBT_KEEP_INVOCATION_DIRS = 20
# Change data capture (orchestration/cdc/): slots are named <prefix>_<table>.
DEFAULT_CDC_SLOT_PREFIX = "pharma_cdc"
DEFAULT_CDC_DRAIN_CRON = "* * * * *"
DEFAULT_CDC_MAX_CHANGES = 10_000
DEFAULT_CDC_BINLOG_SERVER_ID = (
    4_170_000_000  # the binlog reader registers as a replica (cdc/mariadb_binlog.py)
)
DEFAULT_CDC_SLOT_LAG_MAX_BYTES = 1 << 30  # WAL a slot may hold on the source's disk before its check fails


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
    # Safe high-water marks (docs/reliability.md): the mark stays this far below the source's
    # clock and oldest open transaction, and a transaction holding it back this long warns.
    mark_clock_tolerance_s: int = 60
    mark_hold_warn_s: int = 3600
    # DBT_FETCH_METADATA: row counts, column schemas and lineage on the dbt assets after each
    # build (dagster-dbt's fetch_*; 16-40 s a build, docs/operations.md). Off: the run config's
    # fetch_metadata is ignored and the build reports dbt's own events only.
    dbt_fetch_metadata: bool = True
    # Secrets are never held here, only whether their variable is set: the resources then
    # read them at run time through dg.EnvVar, so the UI shows the variable's name only.
    ops_database_url_set: bool = False
    marketo_variables_set: frozenset[str] = frozenset()
    marketo_poll_interval_s: float = DEFAULT_MARKETO_POLL_INTERVAL_S
    marketo_rate_limit_calls: int = DEFAULT_MARKETO_RATE_LIMIT_CALLS
    marketo_history_start: str = DEFAULT_MARKETO_HISTORY_START
    marketo_leads_resweep_days: int = DEFAULT_MARKETO_LEADS_RESWEEP_DAYS
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
    # Change data capture (tables in mode cdc): CDC_SLOT_PREFIX, CDC_DRAIN_CRON (the cdc_drain
    # schedule), CDC_MAX_CHANGES (per peek), CDC_SLOT_LAG_MAX_BYTES (the slot lag check).
    cdc_slot_prefix: str = DEFAULT_CDC_SLOT_PREFIX
    cdc_drain_cron: str = DEFAULT_CDC_DRAIN_CRON
    cdc_max_changes: int = DEFAULT_CDC_MAX_CHANGES
    cdc_slot_lag_max_bytes: int = DEFAULT_CDC_SLOT_LAG_MAX_BYTES
    # CDC_BINLOG_SERVER_ID: MySQL/MariaDB sources: the base server_id of the binlog reader,
    # distinct from every server and replica of the source (one id per table is derived from it).
    cdc_binlog_server_id: int = DEFAULT_CDC_BINLOG_SERVER_ID
    # DUCKDB_BI_PATH: the read-only copy of the marts that BI tools open (warehouse/bi_copy.py);
    # unset = <DUCKDB_PATH's stem>_bi.duckdb next to the warehouse file.
    duckdb_bi_path_set: Path | None = None
    # BIGQUERY_PII_POLICY_TAG: the policy tag (projects/../taxonomies/../policyTags/..) that dbt
    # puts on every contains_pii column of a table (dbt_project/macros/policy_tags.sql); unset = none.
    bigquery_pii_policy_tag: str = ""

    @property
    def duckdb_bi_path(self) -> Path:
        if self.duckdb_bi_path_set is not None:
            return self.duckdb_bi_path_set
        return self.duckdb_path.with_name(f"{self.duckdb_path.stem}_bi.duckdb")

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
    emulator_host, storage_emulator_host = (
        values.emulator_hosts(env) if warehouse == "bigquery" else (None, None)
    )
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
        marketo_poll_interval_s=values.number(
            env, "MARKETO_POLL_INTERVAL_S", float, DEFAULT_MARKETO_POLL_INTERVAL_S, "a number of seconds"
        ),
        marketo_rate_limit_calls=values.number(
            env, "MARKETO_RATE_LIMIT_CALLS", int, DEFAULT_MARKETO_RATE_LIMIT_CALLS, "a whole number"
        ),
        marketo_history_start=env.get("MARKETO_HISTORY_START", "").strip() or DEFAULT_MARKETO_HISTORY_START,
        marketo_leads_resweep_days=values.positive(
            env, "MARKETO_LEADS_RESWEEP_DAYS", DEFAULT_MARKETO_LEADS_RESWEEP_DAYS
        ),
        marketo_activities_start_date=(
            env.get("MARKETO_ACTIVITIES_START_DATE", "").strip() or DEFAULT_MARKETO_ACTIVITIES_START
        ),
        dbt_target=env.get("DBT_TARGET", "").strip() or None,
        dbt_log_level_file=env.get("DBT_LOG_LEVEL_FILE", "").strip() or "info",
        dbt_target_path=env.get("DBT_TARGET_PATH", "").strip() or "target",
        dbt_log_path=env.get("DBT_LOG_PATH", "").strip() or "logs",
        dbt_keep_invocation_dirs=values.number(
            env, "DBT_KEEP_INVOCATION_DIRS", int, DEFAULT_DBT_KEEP_INVOCATION_DIRS, "a whole number"
        ),
        postgres_copy_client=values.choice(env, "EXTRACT_POSTGRES_COPY", POSTGRES_COPY_CLIENTS),
        quality_data_docs_dir=Path(
            env.get("QUALITY_DATA_DOCS_DIR", "").strip() or DATA_DIR / "quality" / "data_docs"
        ),
        duckdb_bi_path_set=Path(env["DUCKDB_BI_PATH"].strip())
        if env.get("DUCKDB_BI_PATH", "").strip()
        else None,
        bigquery_pii_policy_tag=values.policy_tag(env),
        mark_clock_tolerance_s=values.seconds(env, "MARK_CLOCK_TOLERANCE_SECONDS", 60),
        mark_hold_warn_s=values.seconds(env, "MARK_HOLD_WARN_SECONDS", 3600),
        dbt_fetch_metadata=values.flag(env, "DBT_FETCH_METADATA", True),
        cdc_slot_prefix=values.slot_prefix(env, DEFAULT_CDC_SLOT_PREFIX),
        cdc_drain_cron=values.cron(env, "CDC_DRAIN_CRON", DEFAULT_CDC_DRAIN_CRON),
        cdc_max_changes=values.positive(env, "CDC_MAX_CHANGES", DEFAULT_CDC_MAX_CHANGES),
        cdc_slot_lag_max_bytes=values.positive(env, "CDC_SLOT_LAG_MAX_BYTES", DEFAULT_CDC_SLOT_LAG_MAX_BYTES),
        cdc_binlog_server_id=values.positive(env, "CDC_BINLOG_SERVER_ID", DEFAULT_CDC_BINLOG_SERVER_ID),
    )


# --- Operations: the production instance's database and the alert channels (issue #16) ---------
#
# Read here, validated here, so that a malformed value fails when the code location loads (or in
# `python -m orchestration.preflight`) with the variable named. Secrets (the Slack token, the
# Teams webhook URL, which carries its own signature, the SMTP and instance passwords) are never
# kept in these objects: they are validated, then reach the code only as Dagster ``EnvVar``s
# resolved by the alert resource. An error about a secret never repeats its value.

DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
# The variables whose values are secrets: alert messages are scrubbed of every one of them.
SECRET_VARIABLES = (
    "ALERT_SLACK_TOKEN",
    "ALERT_TEAMS_WEBHOOK_URL",
    "ALERT_SMTP_PASSWORD",
    "DAGSTER_PG_PASSWORD",
    "MARKETO_CLIENT_SECRET",
    "OPS_DATABASE_URL",  # may carry a password
)


@dataclass(frozen=True)
class InstanceDatabaseSettings:
    """Where the production instance (deploy/dagster.yaml) keeps runs, events and schedules.

    dagster.yaml reads the same variables through ``env:``; this copy exists so that the
    preflight check can say which variable points at an unreachable server.
    """

    host: str
    port: int
    user: str
    database: str
    has_password: bool


@dataclass(frozen=True)
class AlertSettings:
    ui_base_url: str
    slack_channel: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    slack_enabled: bool = False  # ALERT_SLACK_TOKEN is set
    teams_enabled: bool = False  # ALERT_TEAMS_WEBHOOK_URL is set
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_has_password: bool = False
    smtp_starttls: bool = True
    email_from: str | None = None
    email_to: tuple[str, ...] = ()

    @property
    def email_enabled(self) -> bool:
        return self.smtp_host is not None

    @property
    def channels(self) -> tuple[str, ...]:
        enabled = {"slack": self.slack_enabled, "teams": self.teams_enabled, "email": self.email_enabled}
        return tuple(name for name, on in enabled.items() if on)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_base_url}/runs/{run_id}"


def load_alert_settings(env: os._Environ[str] | dict[str, str] | None = None) -> AlertSettings:
    """The alert channels that are configured; none by default (the demo sends nothing)."""
    env = os.environ if env is None else env
    ui_base_url = values.url(env, "DAGSTER_UI_BASE_URL", DEFAULT_UI_BASE_URL, secret=False)
    assert ui_base_url is not None
    slack_enabled = bool(env.get("ALERT_SLACK_TOKEN", "").strip())
    slack_channel = env.get("ALERT_SLACK_CHANNEL", "").strip() or None
    if slack_enabled and not slack_channel:
        raise SettingsError("ALERT_SLACK_TOKEN is set but ALERT_SLACK_CHANNEL is not (e.g. #data-alerts)")
    slack_api_url = values.url(env, "ALERT_SLACK_API_URL", DEFAULT_SLACK_API_URL, secret=False)
    assert slack_api_url is not None
    teams_enabled = values.url(env, "ALERT_TEAMS_WEBHOOK_URL", None, secret=True) is not None
    smtp_host = env.get("ALERT_SMTP_HOST", "").strip() or None
    if smtp_host and ("/" in smtp_host or ":" in smtp_host):
        raise SettingsError(
            f"ALERT_SMTP_HOST must be a host name such as smtp.example.com (the port is ALERT_SMTP_PORT), "
            f"not {smtp_host!r}"
        )
    email_from = env.get("ALERT_EMAIL_FROM", "").strip() or None
    email_to = tuple(a.strip() for a in env.get("ALERT_EMAIL_TO", "").split(",") if a.strip())
    if smtp_host:
        if not email_from or "@" not in email_from:
            raise SettingsError("ALERT_SMTP_HOST is set: ALERT_EMAIL_FROM must be an e-mail address")
        if not email_to:
            raise SettingsError("ALERT_SMTP_HOST is set: ALERT_EMAIL_TO must list at least one address")
        bad = [a for a in email_to if "@" not in a]
        if bad:
            raise SettingsError(f"ALERT_EMAIL_TO must be comma-separated e-mail addresses; {bad} are not")
    return AlertSettings(
        ui_base_url=ui_base_url.rstrip("/"),
        slack_channel=slack_channel,
        slack_api_url=slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/",
        slack_enabled=slack_enabled,
        teams_enabled=teams_enabled,
        smtp_host=smtp_host,
        smtp_port=values.port(env, "ALERT_SMTP_PORT", 587),
        smtp_user=env.get("ALERT_SMTP_USER", "").strip() or None,
        smtp_has_password=bool(env.get("ALERT_SMTP_PASSWORD", "")),
        smtp_starttls=values.flag(env, "ALERT_SMTP_STARTTLS", True),
        email_from=email_from,
        email_to=email_to,
    )


def load_instance_database_settings(
    env: os._Environ[str] | dict[str, str] | None = None,
) -> InstanceDatabaseSettings:
    env = os.environ if env is None else env
    missing = [
        n for n in ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_DB") if not env.get(n, "").strip()
    ]
    if missing:
        raise SettingsError(
            f"the production instance (deploy/dagster.yaml) needs {', '.join(missing)}: "
            "the PostgreSQL server that holds Dagster's runs, events and schedules"
        )
    return InstanceDatabaseSettings(
        host=env["DAGSTER_PG_HOST"].strip(),
        port=values.port(env, "DAGSTER_PG_PORT", 5432),
        user=env["DAGSTER_PG_USER"].strip(),
        database=env["DAGSTER_PG_DB"].strip(),
        has_password=bool(env.get("DAGSTER_PG_PASSWORD", "")),
    )


def secret_values(env: os._Environ[str] | dict[str, str] | None = None) -> tuple[str, ...]:
    """The values of the secret variables that are set, to scrub them out of alert texts."""
    env = os.environ if env is None else env
    return tuple(v for v in (env.get(n, "") for n in SECRET_VARIABLES) if len(v) >= 4)
