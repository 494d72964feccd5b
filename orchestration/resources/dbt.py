"""The dbt project object (built once) and the dbt CLI resource, target picked from WAREHOUSE."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from functools import cache, cached_property
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

from orchestration.settings import DBT_PROJECT_DIR, Settings


def dbt_target(settings: Settings) -> str:
    """DBT_TARGET if set, else the target of WAREHOUSE (`bigquery-emulator` when
    BIGQUERY_EMULATOR_HOST points at the emulator)."""
    if os.environ.get("DBT_TARGET"):
        return os.environ["DBT_TARGET"]
    return "bigquery-emulator" if settings.uses_bigquery_emulator else settings.warehouse


def dbt_executable() -> str:
    # The dbt installed in this environment, so no PATH set-up is needed (code servers
    # started by `dagster dev` do not inherit an activated virtualenv's PATH).
    for candidate in (Path(sys.prefix) / "bin" / "dbt", Path(sys.executable).with_name("dbt")):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment the dbt subprocess needs; it inherits os.environ plus these."""
    return {
        "DBT_TARGET": dbt_target(settings),
        "DUCKDB_PATH": str(settings.duckdb_path),
        "BIGQUERY_DATASET_PREFIX": settings.bigquery_dataset_prefix,
        "BIGQUERY_LOCATION": settings.bigquery_location,
        # dbt.log at info, not dbt's default debug (every SQL statement, ~5% of a build's
        # time); DBT_LOG_LEVEL_FILE=debug brings the statements back.
        "DBT_LOG_LEVEL_FILE": os.environ.get("DBT_LOG_LEVEL_FILE") or "info",
        **({"GCP_PROJECT": settings.gcp_project} if settings.gcp_project else {}),
        **(
            {"BIGQUERY_EMULATOR_HOST": settings.bigquery_emulator_host}
            if settings.bigquery_emulator_host
            else {}
        ),
    }


@contextlib.contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ plus ``values`` while the block runs (dbt subprocesses copy os.environ),
    restored afterwards so one run's target never leaks into the next run in the process."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_target_dir() -> Path:
    """Where dbt writes the manifest and run artifacts: dbt's own ``DBT_TARGET_PATH``
    (absolute, or relative to the project), by default ``dbt_project/target``. Parallel
    test workers each set their own, so their parses never overwrite each other's."""
    return DBT_PROJECT_DIR / os.environ.get("DBT_TARGET_PATH", "target")


# dagster-dbt gives every invocation its own folder under the target dir (manifest,
# run_results.json, compiled and run SQL: about 13 MB at the demo's scale) and removes none:
# an hourly schedule would pile up some 300 MB a day. The newest ones stay for debugging.
KEEP_INVOCATION_DIRS_VARIABLE = "DBT_KEEP_INVOCATION_DIRS"
DEFAULT_KEEP_INVOCATION_DIRS = 20


def prune_invocation_dirs(target_dir: Path, prefix: str, keep: int | None = None) -> list[Path]:
    """Remove all but the ``keep`` newest ``<prefix>-*`` invocation folders in ``target_dir``
    (by modification time, so a build still running, the newest, is never one of them);
    returns the folders removed. Files (the prepared manifest, partial parse) are untouched."""
    if keep is None:
        keep = int(os.environ.get(KEEP_INVOCATION_DIRS_VARIABLE) or DEFAULT_KEEP_INVOCATION_DIRS)
    folders = sorted(
        (p for p in target_dir.glob(f"{prefix}-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = folders[max(keep, 1) :]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def dbt_log_dir() -> Path:
    """Where dbt writes dbt.log: dbt's own ``DBT_LOG_PATH``, by default ``dbt_project/logs``."""
    return DBT_PROJECT_DIR / os.environ.get("DBT_LOG_PATH", "logs")


@cache
def dbt_project(target: str) -> DbtProject:
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=target, target_path=dbt_target_dir()
    )
    if os.environ.get("DAGSTER_IS_DEV_CLI"):
        # What DbtProject.prepare_if_dev() does, with our dbt rather than the one on PATH,
        # so `dagster dev` picks up model edits on reload.
        _parse({**os.environ, "DBT_TARGET": target})
    return project


def _parse(env: dict[str, str]) -> None:
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env=env,
        cwd=DBT_PROJECT_DIR,
        stdout=subprocess.DEVNULL,
    )


def prepare_manifest(settings: Settings) -> Path:
    """Run ``dbt parse`` so the manifest exists (tests, the demo and CI call this)."""
    env = {**os.environ, **dbt_env(settings)}
    subprocess.run(
        [
            dbt_executable(),
            "parse",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env=env,
        cwd=DBT_PROJECT_DIR,
        stdout=subprocess.DEVNULL,
    )
    return dbt_target_dir() / "manifest.json"


class PharmaDbtCliResource(DbtCliResource):
    """``DbtCliResource`` that reads dbt's version from the installed package.

    dagster-dbt learns the version by running ``dbt --version`` before every invocation, to
    tell dbt-core from the Fusion engine. That subprocess imports every adapter plugin
    (BigQuery's client libraries included) and cost 5-16 s on the reference machine, on the
    critical path of every run, hourly ones included. dbt-core is installed in this
    environment and ``dbt_executable`` is its entry point, so its package metadata answers
    the same question at no cost.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_resource(settings: Settings) -> DbtCliResource:
    return PharmaDbtCliResource(
        project_dir=dbt_project(dbt_target(settings)),
        target=dbt_target(settings),
        dbt_executable=dbt_executable(),
    )
