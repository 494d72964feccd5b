"""One real warehouse for the tests/marts modules that recompute marts from the source.

The tiny demo's operational database (SQLite) extracted and built by the ``daily_full_build``
job (a copy of the run's shared build, tests/built_demo.py), then the Marketo sandbox
extracted with its dbt models: once per test session's package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from orchestration.resources.dbt import dbt_target_dir, prepare_manifest
from orchestration.settings import load_settings
from tests.marketo.test_marketo_pipeline import assert_success, marketo_sandbox, run_marketo
from tests.marts.built import Built


@pytest.fixture(scope="package")
def manifest() -> dict:
    prepare_manifest(load_settings({}))
    return json.loads((dbt_target_dir() / "manifest.json").read_text())


@pytest.fixture(scope="package")
def built(manifest: dict, tiny_demo_daily, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    with pytest.MonkeyPatch.context() as mp:
        harness = tiny_demo_daily.copy_to(tmp_path_factory.mktemp("marts_recomputed"), mp)
        with marketo_sandbox(harness, mp) as sandbox:
            assert_success(run_marketo(harness))
            yield Built(harness=harness, sandbox=sandbox.data)
