"""Prepare what loading the definitions needs: the dbt manifest (``make prepare``).

dagster-dbt's own preparer does the work (``DbtProject.preparer``, what
``dagster-dbt project prepare-and-package`` runs); this entry point gives it the dbt
target and warehouse settings from ``orchestration.settings``."""

from __future__ import annotations

from orchestration.resources.dbt import prepare_manifest
from orchestration.settings import load_settings

if __name__ == "__main__":
    path = prepare_manifest(load_settings())
    print(f"dbt manifest ready: {path}")
