"""Retention's superseded rule for a CDC raw table, on the BigQuery emulator: the same case
as on DuckDB (tests/reliability/test_lgpd.py), through the warehouse's SQL layer."""

from __future__ import annotations

import pytest

from tests.bigquery.conftest import emulator_warehouse
from tests.reliability.test_lgpd import cdc_retention_case

pytestmark = pytest.mark.bigquery


def test_retention_of_a_cdc_table_on_bigquery(bigquery_emulator, tmp_path):
    warehouse = emulator_warehouse(bigquery_emulator, "retention_")
    try:
        cdc_retention_case(warehouse.sql(), tmp_path)
    finally:
        warehouse.close()
