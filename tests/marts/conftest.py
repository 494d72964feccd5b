"""One real warehouse for the tests/marts modules that recompute marts from the source.

The tiny demo's operational database (SQLite) extracted and built by the ``daily_full_build``
job, then the Marketo sandbox extracted with its dbt models: built once per test session's
package (each xdist worker that runs a module of this package builds its own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from orchestration.resources.dbt import dbt_target_dir, prepare_manifest
from orchestration.settings import load_settings
from tests.marketo.test_marketo_pipeline import assert_success, marketo_sandbox, run_marketo
from tests.marts.built import Built
from tests.pipeline.conftest import make_harness


@pytest.fixture(scope="package")
def manifest() -> dict:
    prepare_manifest(load_settings({}))
    return json.loads((dbt_target_dir() / "manifest.json").read_text())


@pytest.fixture(scope="package")
def built(manifest: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("marts_recomputed")
    with pytest.MonkeyPatch.context() as mp:
        harness = make_harness(f"sqlite:///{base / 'ops.db'}", base, mp)
        harness.run()
        with marketo_sandbox(harness, mp) as sandbox:
            assert_success(run_marketo(harness))
            yield Built(harness=harness, sandbox=sandbox.data)
