"""The BigQuery emulator, started once per test session.

Skips with the reason when bqemulator cannot start here; under CI=true that is a failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from orchestration.demo.bigquery_emulator import BigQueryEmulator, EmulatorUnavailable, start_emulator
from orchestration.warehouse.bigquery_warehouse import BigQueryWarehouse
from tests.servers import skip_or_fail


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigQueryEmulator]:
    try:
        emulator = start_emulator(log_dir=tmp_path_factory.mktemp("bqemulator"))
    except EmulatorUnavailable as exc:
        skip_or_fail(f"the BigQuery emulator cannot start here: {exc}")
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def dataset_suffix() -> str:
    """Datasets unique to one test: the emulator is shared by the whole session."""
    return uuid.uuid4().hex[:8]


def emulator_warehouse(emulator: BigQueryEmulator, dataset_prefix: str) -> BigQueryWarehouse:
    """A warehouse on the emulator whose datasets all start with ``dataset_prefix``."""
    return BigQueryWarehouse(
        emulator.project,
        location="US",
        dataset_prefix=dataset_prefix,
        api_endpoint=emulator.rest_url,
        storage_endpoint=emulator.grpc_endpoint,
    )


@pytest.fixture
def warehouse(bigquery_emulator: BigQueryEmulator, dataset_suffix: str) -> Iterator[BigQueryWarehouse]:
    wh = emulator_warehouse(bigquery_emulator, f"t{dataset_suffix}_")
    try:
        yield wh
    finally:
        wh.close()
