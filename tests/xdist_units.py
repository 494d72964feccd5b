"""How `make test`'s two pytest-xdist workers share the suite (tests/conftest.py installs it).

``--dist loadfile`` sends each file to one worker, so a fixture shared by several files
(a package- or session-scoped build, a server the tests start) is built once on *each*
worker that runs one of them: the tiny demo build of tests/marts twice, two BigQuery
emulators, two logical-replication PostgreSQL servers. And it hands files out in order of
their number of tests, so a one-test file holding a full build may start last and keep one
worker busy while the other idles.

This scheduler keeps loadfile's unit (a file) except where files share such a fixture
(``SHARED``: the whole directory is one unit), and hands out the heaviest unit first
(``WEIGHT``: seconds measured in a `--durations` run; longest-processing-time first keeps
the two workers' ends close). A unit not listed weighs one second per test. The weights
only order the queue: a stale figure makes the run slower, never wrong.
"""

from __future__ import annotations

from xdist.scheduler import LoadFileScheduling

# Directories whose files share a package- or session-scoped fixture that costs real time.
SHARED = (
    "tests/marts/",  # the tiny demo build (conftest.py `built`)
    "tests/cdc/",  # the PostgreSQL and MariaDB servers configured for CDC
    "tests/bigquery/",  # the emulator
    "tests/quality/",  # the extracted demo source and the Marketo landing
)
# Files that share the directory's fixture only in part and are heavy on their own.
OWN_UNIT = ("tests/marts/test_price_elasticity_recovers_generator.py",)

# Seconds per unit, from one `pytest -n 2 --dist loadfile --durations=0` run on 2026-12-02
# (a loaded machine: 132 worker-minutes in all; only the order matters). test_end_to_end.py
# (which took over test_build_outputs.py's build) and test_a_day_of_changes.py (which took over
# test_incremental.py's and test_deletes.py's builds): the replaced modules' figures scaled by
# the ratio after/before of `pytest -p no:xdist` runs of the old and new modules, 2026-12-03.
WEIGHT = {
    "tests/bigquery/": 1750,
    "tests/quality/": 880,
    "tests/pipeline/test_end_to_end.py": 730,
    "tests/marts/": 650,
    "tests/marketo/test_marketo_pipeline.py": 650,
    "tests/pipeline/test_a_day_of_changes.py": 475,
    "tests/benchmarks/test_benchmark_smoke.py": 445,
    "tests/reliability/test_secrets.py": 255,
    "tests/reliability/test_lgpd.py": 175,
    "tests/cdc/": 230,  # 150 + 80 s of test_cdc_demo.py (`pytest -p no:xdist`, 2026-12-03)
    "tests/marts/test_price_elasticity_recovers_generator.py": 150,
    "tests/ops/test_production_instance.py": 130,
    "tests/reliability/test_schema_drift.py": 100,
    "tests/test_definitions.py": 90,
    "tests/reliability/test_completeness_assets.py": 85,
    "tests/ui/test_dagster_ui.py": 80,
    "tests/reliability/test_crash_safety.py": 70,
}


def unit_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    if path in OWN_UNIT:
        return path
    return next((shared for shared in SHARED if path.startswith(shared)), path)


class SharedFixtureScheduling(LoadFileScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _assign_work_unit(self, node) -> None:
        heaviest = max(self.workqueue, key=lambda unit: WEIGHT.get(unit, len(self.workqueue[unit])))
        self.workqueue.move_to_end(heaviest, last=False)
        super()._assign_work_unit(node)
