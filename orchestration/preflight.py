"""Start-up check for the production processes: ``python -m orchestration.preflight``.

Run before dagster-daemon, the webserver and the code server (the container's entrypoint
does, docs/operations.md). It fails in seconds, with the variable named, where the
processes themselves would fail late or vaguely: a malformed setting (warehouse, alert
channels) or an instance database that does not answer. Exit status 0 when all is well,
2 when a setting is wrong; the message never carries a password.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from orchestration.alerts.message import scrub
from orchestration.settings import (
    SettingsError,
    load_alert_settings,
    load_instance_database_settings,
    load_settings,
    secret_values,
)


def instance_uses_postgres(env: os._Environ[str] | dict[str, str]) -> bool:
    home = env.get("DAGSTER_HOME", "").strip()
    config = Path(home) / "dagster.yaml" if home else None
    return bool(config and config.exists() and "postgres_db" in config.read_text())


def check_instance_database(env: os._Environ[str] | dict[str, str]) -> str:
    """Opens the instance from $DAGSTER_HOME/dagster.yaml and reads one run from PostgreSQL."""
    import dagster as dg
    from dagster._config.errors import PostProcessingError  # an `env:` variable that is not set

    database = load_instance_database_settings(env)
    where = (
        f"DAGSTER_PG_HOST={database.host} DAGSTER_PG_PORT={database.port} "
        f"DAGSTER_PG_DB={database.database} DAGSTER_PG_USER={database.user}"
    )
    try:
        with dg.DagsterInstance.get() as instance:
            instance.get_runs(limit=1)
    except (dg.DagsterInvalidConfigError, PostProcessingError) as exc:  # a bad key, a missing env var
        raise SettingsError(
            f"$DAGSTER_HOME/dagster.yaml is not a valid instance configuration: {exc}"
        ) from None
    except Exception as exc:
        raise SettingsError(
            f"the Dagster instance database is unreachable ({where}): {scrub(_root_cause(exc), secret_values(env))}; "
            "check those variables and DAGSTER_PG_PASSWORD"
        ) from None
    return f"instance database {database.host}:{database.port}/{database.database} answers"


def _root_cause(exc: BaseException) -> str:
    # dagster-postgres retries, then raises "too many retries": the driver's error says why.
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)


def run_checks(env: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    env = os.environ if env is None else env
    settings = load_settings(env)
    alerts = load_alert_settings(env)
    done = [f"warehouse {settings.warehouse}", f"alert channels: {', '.join(alerts.channels) or 'none'}"]
    if instance_uses_postgres(env):
        done.append(check_instance_database(env))
    return done


def main() -> int:
    try:
        done = run_checks()
    except SettingsError as exc:
        print(f"preflight: {exc}", file=sys.stderr)
        return 2
    print("preflight: ok; " + "; ".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
