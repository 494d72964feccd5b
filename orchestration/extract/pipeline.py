"""Extract one source table incrementally and publish it into the warehouse's raw layer.

:func:`extract_source` is what the extraction assets run: a table as declared in the
sources file (orchestration/sources.yml), checked against the live source, then
:func:`extract_table`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.landing import discard_landing_file, land_batches, prepare_landing_file
from orchestration.extract.limits import DEFAULT_CHUNK_ROWS, DEFAULT_MAX_FIELD_CHARS
from orchestration.extract.quarantine import Quarantine
from orchestration.extract.readers import ExtractRequest, stream_changed_rows
from orchestration.sources import Sources, check_table_against_source
from orchestration.warehouse.base import LoadRequest, LoadResult, Warehouse

DEFAULT_LOOKBACK = dt.timedelta(minutes=5)
DEFAULT_MAX_REJECTED_FRACTION = 0.01


@dataclass(frozen=True)
class ExtractionOutcome:
    table: str
    dialect: str
    since: dt.datetime | None
    load: LoadResult
    landed_bytes: int
    duration_s: float

    def metadata(self) -> dict[str, object]:
        return {
            "rows_extracted": self.load.rows_landed,
            "rows_inserted": self.load.rows_inserted,
            "rows_rejected": self.load.rows_rejected,
            "high_water_mark": _iso(self.load.high_water_mark),
            "previous_high_water_mark": _iso(self.load.previous_high_water_mark),
            "extracted_since": _iso(self.since),
            "source_dialect": self.dialect,
            "landed_bytes": self.landed_bytes,
            "columns_added": ", ".join(self.load.columns_added) or "none",
            "duration_s": round(self.duration_s, 3),
        }


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat(sep=" ") if value else "none"


def primary_key(engine: sa.Engine, table: str) -> tuple[str, ...]:
    pk = tuple(sa.inspect(engine).get_pk_constraint(table).get("constrained_columns") or ())
    if not pk:
        raise ValueError(f"source table {table!r} has no primary key; extraction needs one to deduplicate")
    return pk


def extract_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    *,
    table: str,
    cursor_column: str,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    lookback: dt.timedelta = DEFAULT_LOOKBACK,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    full_refresh: bool = False,
    max_rejected_fraction: float = DEFAULT_MAX_REJECTED_FRACTION,
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS,
    key_columns: tuple[str, ...] | None = None,
    exclude_columns: tuple[str, ...] = (),
) -> ExtractionOutcome:
    """``key_columns`` None = the source's primary key; ``exclude_columns`` are never selected."""
    started = time.perf_counter()
    landing_file = prepare_landing_file(landing_dir, raw_schema, table, batch_id)
    arrow_schema = reflect_arrow_schema(engine, table)
    for column in exclude_columns:
        if column in arrow_schema.names:
            arrow_schema = arrow_schema.remove(arrow_schema.get_field_index(column))
    if cursor_column not in arrow_schema.names:
        raise ValueError(f"source table {table!r} has no cursor column {cursor_column!r}")
    # Fail on incompatible drift before reading a single row.
    warehouse.check_schema(raw_schema, table, arrow_schema)
    mark = None if full_refresh else warehouse.high_water_mark(raw_schema, table)
    # Re-read a short window before the mark: a transaction that committed late with an
    # earlier updated_at is still caught, and the publish skips rows already loaded.
    since = mark - lookback if mark is not None else None
    key_columns = key_columns or primary_key(engine, table)
    quarantine = Quarantine(
        table=table,
        key_columns=key_columns,
        cursor_column=cursor_column,
        path=landing_file.with_suffix(".rejected.parquet"),
        max_field_chars=max_field_chars,
    )
    request = ExtractRequest(
        table=table,
        schema=arrow_schema,
        cursor_column=cursor_column,
        since=since,
        chunk_rows=chunk_rows,
        quarantine=quarantine,
    )
    try:
        landed = land_batches(stream_changed_rows(engine, request), arrow_schema, landing_file, cursor_column)
        rejected_file = quarantine.close()
        if rejected_file is not None:
            if not warehouse.stores_rejected_rows:
                raise NotImplementedError(
                    f"{table}: {quarantine.rows} rows were rejected but the {warehouse.kind} warehouse cannot "
                    "store rejected rows yet; nothing was published rather than dropping them silently"
                )
            quarantine.enforce(landed.rows, max_rejected_fraction, warehouse.rejected_keys(raw_schema, table))
        load = warehouse.publish(
            LoadRequest(
                dataset=raw_schema,
                table=table,
                landing_file=landed.path,
                key_columns=key_columns,
                cursor_column=cursor_column,
                batch_id=batch_id,
                arrow_schema=arrow_schema,
                rejected_file=rejected_file,
            )
        )
    finally:
        discard_landing_file(landing_file)
        quarantine.discard()
    return ExtractionOutcome(
        table=table,
        dialect=engine.dialect.name,
        since=since,
        load=load,
        landed_bytes=landed.bytes,
        duration_s=time.perf_counter() - started,
    )


def extract_source(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    table: str,
    *,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    **options,
) -> ExtractionOutcome:
    """Extract ``table`` as ``sources`` declares it (key, cursor, excluded columns).

    ``options`` are :func:`extract_table`'s tuning arguments (lookback, chunk_rows, ...).
    """
    source = sources.table(table)
    check_table_against_source(sources, source, sa.inspect(engine))
    return extract_table(
        engine,
        warehouse,
        table=source.name,
        cursor_column=source.cursor_column,
        raw_schema=raw_schema,
        landing_dir=landing_dir,
        batch_id=batch_id,
        key_columns=source.key_columns,
        exclude_columns=source.exclude,
        **options,
    )
