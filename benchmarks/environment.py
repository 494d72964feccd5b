"""The machine and the versions a benchmark ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

import psutil
import sqlalchemy as sa


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _server_version(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("select version()")).scalar()).split(" on ")[0]
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
    finally:
        engine.dispose()


def _psql_version() -> str:
    try:
        return subprocess.run(
            ["psql", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not installed"


def describe(pg_url: str, mariadb_url: str | None) -> dict[str, str]:
    info = {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} cores",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
    }
    for package in (
        "duckdb",
        "pyarrow",
        "psycopg",
        "dlt",
        "pandas",
        "sqlalchemy",
        "pymysql",
        "dagster",
        "dbt-core",
    ):
        info[package] = _version(package)
    info["PostgreSQL"] = _server_version(pg_url)
    info["psql"] = _psql_version()
    if mariadb_url:
        info["MariaDB"] = _server_version(mariadb_url)
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return info
