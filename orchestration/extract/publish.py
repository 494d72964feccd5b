"""Publish an in-memory Arrow table the way extraction publishes a source table."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from orchestration.extract.landing import discard_landing_file, land_batches, prepare_landing_file
from orchestration.warehouse.base import LoadRequest, LoadResult, Warehouse


def publish_arrow_table(
    warehouse: Warehouse,
    table: pa.Table,
    *,
    landing_dir: Path,
    raw_schema: str,
    table_name: str,
    key_columns: tuple[str, ...],
    cursor_column: str,
    batch_id: str,
) -> LoadResult:
    """Land ``table`` under ``landing_dir`` (same file name, same stale-file sweep as every source)
    and publish it atomically and idempotently into ``raw_schema.table_name``."""
    path = prepare_landing_file(landing_dir, raw_schema, table_name, batch_id)
    try:
        land_batches(table.to_batches(), table.schema, path, cursor_column)
        return warehouse.publish(
            LoadRequest(
                dataset=raw_schema,
                table=table_name,
                landing_file=path,
                key_columns=key_columns,
                cursor_column=cursor_column,
                batch_id=batch_id,
                arrow_schema=table.schema,
            )
        )
    finally:
        discard_landing_file(path)
