"""The dbt project object (built once) and the dbt CLI resource, target picked from WAREHOUSE."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProject

from orchestration.settings import DBT_PROJECT_DIR, Settings, load_settings


def dbt_target(settings: Settings) -> str:
    """DBT_TARGET if set, else the target of WAREHOUSE (`bigquery-emulator` when
    BIGQUERY_EMULATOR_HOST points at the emulator)."""
    if settings.dbt_target:
        return settings.dbt_target
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
        "DBT_LOG_LEVEL_FILE": settings.dbt_log_level_file,
        **({"GCP_PROJECT": settings.gcp_project} if settings.gcp_project else {}),
        # Personal columns' policy tag (macros/policy_tags.sql); always set, so unset means none.
        "BIGQUERY_PII_POLICY_TAG": settings.bigquery_pii_policy_tag,
        **(
            {"BIGQUERY_EMULATOR_HOST": settings.bigquery_emulator_host}
            if settings.bigquery_emulator_host
            else {}
        ),
    }


@contextlib.contextmanager
def scoped_environ(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ plus ``values`` while the block runs (dbt subprocesses copy os.environ),
    restored afterwards so one run's target never leaks into the next run in the process.

    It writes the environment, never reads a setting from it: the values come from
    :class:`Settings` (see PharmaDbtCliResource for why dbt needs them there)."""
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


def dbt_target_dir(settings: Settings | None = None) -> Path:
    """Where dbt writes the manifest and run artifacts: dbt's own ``DBT_TARGET_PATH``
    (absolute, or relative to the project), by default ``dbt_project/target``. Parallel
    test workers each set their own, so their parses never overwrite each other's.
    Without ``settings``, the environment as it is now (not as it was at import)."""
    settings = settings or load_settings()
    return DBT_PROJECT_DIR / settings.dbt_target_path


# dagster-dbt gives every invocation its own folder under the target dir (manifest,
# run_results.json, compiled and run SQL: about 13 MB at the demo's scale) and removes none:
# an hourly schedule would pile up some 300 MB a day. The newest ones stay for debugging.
def prune_invocation_dirs(target_dir: Path, prefix: str, keep: int | None = None) -> list[Path]:
    """Remove all but the ``keep`` newest ``<prefix>-*`` invocation folders in ``target_dir``
    (by modification time, so a build still running, the newest, is never one of them);
    returns the folders removed. Files (the prepared manifest, partial parse) are untouched.
    ``keep`` defaults to ``DBT_KEEP_INVOCATION_DIRS`` (20), read when called."""
    if keep is None:
        keep = load_settings().dbt_keep_invocation_dirs
    folders = sorted(
        (p for p in target_dir.glob(f"{prefix}-*") if p.is_dir()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = folders[max(keep, 1) :]
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def dbt_log_dir(settings: Settings | None = None) -> Path:
    """Where dbt writes dbt.log: dbt's own ``DBT_LOG_PATH``, by default ``dbt_project/logs``."""
    settings = settings or load_settings()
    return DBT_PROJECT_DIR / settings.dbt_log_path


@cache
def dbt_project(target: str) -> DbtProject:
    """The dbt project for ``target``, built once per process. Under ``dagster dev``,
    ``prepare_if_dev`` re-parses it so a reload picks up model edits."""
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=target, target_path=dbt_target_dir()
    )
    project.prepare_if_dev()
    return project


def prepare_manifest(settings: Settings) -> Path:
    """Prepare the manifest with dagster-dbt's own preparer (``dbt parse``, what
    ``dagster-dbt project prepare-and-package`` runs): ``make prepare``, tests, the demo and CI."""
    project = dbt_project(dbt_target(settings))
    # The preparer's dbt reads the profile and the dataset prefix from the environment:
    # give it the settings' values for the parse only (see PharmaDbtCliResource.cli).
    with scoped_environ(dbt_env(settings)):
        project.preparer.prepare(project)
    return project.manifest_path


def release_duckdb_adapter() -> None:
    """Close the DuckDB database that dagster-dbt's in-process adapter opened.

    ``fetch_row_counts`` / ``fetch_column_metadata`` query the warehouse through dbt-duckdb's
    adapter in this process, after dbt's subprocess has exited; dbt-duckdb keeps that
    database open (with the profile's settings) in a class-level environment, and DuckDB
    then refuses our own connections to the same file with another configuration. Nothing
    in dagster-dbt releases it, so the dbt asset calls this once the events are through.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing was opened
        return
    environment = DuckDBConnectionManager._ENV
    if environment is not None:
        environment.close()
    DuckDBConnectionManager.close_all_connections()


class PharmaDbtCliResource(DbtCliResource):
    """``DbtCliResource`` whose dbt processes see the warehouse settings (``environment``).

    ``DbtCliResource.cli`` gives dbt ``os.environ`` and has no argument for more, and our
    profile and sources read the warehouse path, project, location and dataset prefix with
    ``env_var``. The one supported alternative, profile values through ``--vars``, enters
    dbt's partial-parse hash: every run whose values differ from the prepared manifest's
    (each test's own DuckDB file) would re-parse the whole project, some 15 s here. So the
    values are in ``os.environ`` only while ``cli`` starts dbt (its subprocess and the
    in-process adapter dagster-dbt opens with the same profile), and restored before the
    build's events are streamed: one run's target never leaks into another run.
    """

    environment: dict[str, str] = {}

    def cli(self, args: Sequence[str], **kwargs: Any) -> DbtCliInvocation:
        context = kwargs.get("context")
        # The run's identity for dbt's query comment, hence BigQuery's job labels
        # (dbt_project/macros/query_comment.sql).
        run = (
            {"DAGSTER_RUN_ID": context.run.run_id, "DAGSTER_JOB_NAME": context.run.job_name}
            if context
            else {}
        )
        with scoped_environ({**self.environment, **run}):
            return super().cli(args, **kwargs)


def dbt_resource(settings: Settings) -> PharmaDbtCliResource:
    project = dbt_project(dbt_target(settings))
    return PharmaDbtCliResource(
        project_dir=project, dbt_executable=dbt_executable(), environment=dbt_env(settings)
    )
