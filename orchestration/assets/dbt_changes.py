"""Has anything reached raw since the last dbt build? The hourly job asks before building.

An hourly run with nothing new must cost seconds and change nothing, yet the dbt build
alone is most of a run (hundreds of models and tests). dbt's own ``state:modified``
selects on changed *code*, not on new *data*, and Dagster's declarative automation
would need a daemon the schedules do not assume; so the decision is made here, from
what the warehouse already records:

- every load ledger (``raw_ops._loads``, ``raw_marketo._loads``): the newest load that
  inserted at least one row;
- the hard-delete ledger (``raw_ops._deleted_keys``): the newest detection;
- the ``as_of_date`` the marts are computed for (recency figures move with the day).

That fingerprint is stored in ``raw_ops._state`` under ``dbt_build`` after a successful
build. The next run that allows skipping (``DbtConfig.skip_when_unchanged``, set by the
hourly job) skips dbt when the fingerprint is the same. A failed build stores nothing,
so the next run builds again. A build of a subset (one model materialized from the UI)
stores it too; whatever it left out is rebuilt by the next run with new data, and by
the daily full build, which never skips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from orchestration.lifecycle.deletes import DELETED_KEYS
from orchestration.warehouse.base import LOAD_LEDGER

STATE_KEY = "dbt_build"


def source_fingerprint(warehouse: Any, raw_schemas: Sequence[str], as_of_date: str | None) -> dict[str, str]:
    """What the next dbt build would read, summarised: newest loads, deletes and the day."""
    fingerprint = {"as_of_date": as_of_date or dt.datetime.now(dt.UTC).date().isoformat()}
    with warehouse.sql().reading() as sql:
        for schema in raw_schemas:
            if sql.table_exists(schema, LOAD_LEDGER):
                (newest,) = sql.rows(
                    f"select max(loaded_at) from {sql.relation(schema, LOAD_LEDGER)} where rows_inserted > 0"
                )[0]
                fingerprint[f"{schema}.{LOAD_LEDGER}"] = str(newest)
            if sql.table_exists(schema, DELETED_KEYS):
                (newest,) = sql.rows(f"select max(detected_at) from {sql.relation(schema, DELETED_KEYS)}")[0]
                fingerprint[f"{schema}.{DELETED_KEYS}"] = str(newest)
    return fingerprint


def unchanged_since_last_build(warehouse: Any, state_schema: str, fingerprint: dict[str, str]) -> bool:
    return warehouse.read_state(state_schema, STATE_KEY) == fingerprint


def record_build(warehouse: Any, state_schema: str, fingerprint: dict[str, str]) -> None:
    warehouse.write_state(state_schema, STATE_KEY, fingerprint)
