"""Land one batch of change rows and publish it with its end position in one warehouse transaction."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from orchestration.cdc.apply import COMMITTED_AT
from orchestration.extract.landing import discard_landing_file, land_batches, prepare_landing_file
from orchestration.sources import SourceTable
from orchestration.warehouse.base import LoadRequest, Warehouse


def publish_changes(
    warehouse: Warehouse,
    rows: pa.Table,
    source: SourceTable,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    position: str,
) -> int:
    """The rows and the ledger's ``source_position`` commit together, or neither does."""
    batch = f"{batch_id}:{position}"
    path = prepare_landing_file(landing_dir, raw_schema, source.name, batch)
    try:
        landed = land_batches(rows.to_batches(), rows.schema, path, COMMITTED_AT)
        result = warehouse.publish(
            LoadRequest(
                dataset=raw_schema,
                table=source.name,
                landing_file=landed.path,
                key_columns=source.key_columns,
                cursor_column=COMMITTED_AT,
                batch_id=batch,
                arrow_schema=rows.schema,
                source_position=position,
            )
        )
    finally:
        discard_landing_file(path)
    return result.rows_inserted
