"""Completeness of one declared source table: compare (compare.py) and repair.

``check_table`` builds both sides for a table as orchestration/sources.yml declares it and
returns the :class:`~orchestration.lifecycle.completeness.compare.Divergence`.

``repair_table`` makes raw equal the source again without a full reload: the missing and
stale keys are re-read from the source by key and published through the normal atomic
path (the publish skips a row identical to a version raw holds, so repeating a repair adds
nothing); the extra keys are recorded in ``_deleted_keys``, as the key reconciliation would.
The high-water mark does not move: a targeted re-read did not read everything up to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa

from orchestration.extract.arrow_types import reflect_arrow_schema
from orchestration.extract.pipeline import ExtractionOutcome, extract_source
from orchestration.lifecycle import deletes
from orchestration.lifecycle.completeness import bucket_cache
from orchestration.lifecycle.completeness.compare import DEFAULT_GRID, Classifier, Divergence, Grid, compare
from orchestration.lifecycle.completeness.sides import HashedRelation, RawSide, SourceSide
from orchestration.lifecycle.forget import forgotten_subject_ids
from orchestration.sources import Sources, SourceTable, check_table_against_source
from orchestration.warehouse.base import METADATA_COLUMNS, Warehouse
from orchestration.warehouse.row_hash import hashed_columns, source_dialect

# Rows this close to the age-retention cutoff are left out: the retention job may or may
# not have deleted them from raw yet.
RETENTION_MARGIN = dt.timedelta(days=1)
# What DuckDB may hold while it ranks raw's versions (it spills beyond): the check stays
# under half a gigabyte however large the table (measured in docs/benchmarks.md).
MEMORY_LIMIT = "160MB"


class CompletenessError(ValueError):
    """The table cannot be compared as declared (its key is not an integer, say)."""


def check_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    table: str,
    *,
    raw_schema: str,
    as_of: dt.datetime | None = None,
    grid: Grid = DEFAULT_GRID,
    use_stored_sums: bool = True,
) -> Divergence:
    source = sources.table(table)
    check_table_against_source(sources, source, sa.inspect(engine))
    sql = warehouse.sql()
    if table not in sql.tables(raw_schema):
        return Divergence(table=table, source_rows=_source_count(engine, table), raw_table_missing=True)
    mark = warehouse.high_water_mark(raw_schema, table)
    stored = warehouse.read_state(raw_schema, bucket_cache.state_key(table)) if use_stored_sums else None
    quarantined = {int(k) for k in warehouse.rejected_keys(raw_schema, table) if str(k).lstrip("-").isdigit()}
    with sql.reading(memory_limit=MEMORY_LIMIT) as reading:
        raw_columns = reading.columns(raw_schema, table)
        has_deleted = deletes.DELETED_KEYS in reading.tables(raw_schema)
        forgotten = (
            forgotten_subject_ids(reading, sources) if source.personal_data is not None else frozenset()
        )

        arrow_schema = reflect_arrow_schema(engine, table)
        compared = [n for n in arrow_schema.names if n not in source.exclude and n in raw_columns]
        not_compared = [n for n in arrow_schema.names if n not in source.exclude and n not in raw_columns]
        not_compared += [n for n in raw_columns if n not in arrow_schema.names and n not in METADATA_COLUMNS]
        key = source.primary_key
        if not pa.types.is_integer(arrow_schema.field(key).type):
            raise CompletenessError(
                f"{sources.path.name}: table {table!r}: completeness reconciliation needs an integer key; "
                f"{key!r} is {arrow_schema.field(key).type}"
            )
        columns = hashed_columns(arrow_schema, compared, _declared_scales(engine, table))
        subject = source.personal_data.subject_column if source.personal_data is not None else key

        source_hash = source_dialect(engine.dialect.name)
        preparer = engine.dialect.identifier_preparer
        source_side = SourceSide(
            engine,
            HashedRelation(
                source_hash,
                preparer.quote(key),
                preparer.quote(source.cursor_column),
                [(preparer.quote(c.name), c) for c in columns],
            ),
            preparer.quote(table),
            where=_retention_filter(source, source_hash, preparer.quote, as_of),
        )
        raw_hash = reading.row_hash()
        raw_side = RawSide(
            reading,
            HashedRelation(
                raw_hash,
                reading.quote(key),
                reading.quote(subject),
                [(reading.quote(c.name), c) for c in columns],
            ),
            dataset=raw_schema,
            table=table,
            cursor=source.cursor_column,
            deleted_keys=reading.relation(raw_schema, deletes.DELETED_KEYS) if has_deleted else None,
            where=_retention_filter(source, raw_hash, reading.quote, as_of),
            where_columns=(reading.quote(source.retention.age_column),)
            if source.retention.age_column
            else (),
        )
        version = reading.rows(raw_hash.fingerprint_version_sql) if raw_hash.fingerprint_version_sql else ""
        kept = (source.retention.age_column, source.retention.age_days)
        signature = bucket_cache.signature(
            raw_hash.name, version, key, subject, source.cursor_column, columns, kept
        )
        cached = bucket_cache.CachedRawSide(
            raw_side, [reading.quote(c) for c in raw_columns], signature, stored
        )
        result = compare(
            table, source_side, cached, Classifier(mark, frozenset(quarantined), forgotten), grid
        )
    if cached.to_store is not None:
        warehouse.write_state(raw_schema, bucket_cache.state_key(table), cached.to_store)
    result.buckets_reused = cached.buckets_reused
    result.columns = tuple(compared)
    result.columns_not_compared = tuple(not_compared)
    return result


def _retention_filter(source: SourceTable, dialect, quote, as_of: dt.datetime | None) -> str | None:
    kept = source.retention
    if not (kept.age_column and kept.age_days):
        return None
    now = as_of or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cutoff = now - dt.timedelta(days=kept.age_days) + RETENTION_MARGIN
    return f"{quote(kept.age_column)} >= {dialect.timestamp_literal(cutoff.replace(microsecond=0))}"


def _declared_scales(engine: sa.Engine, table: str) -> dict[str, int | None]:
    return {
        c["name"]: getattr(c["type"], "scale", None)
        for c in sa.inspect(engine).get_columns(table)
        if isinstance(c["type"], sa.Numeric) and not isinstance(c["type"], sa.Float)
    }


def _source_count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


@dataclass(frozen=True)
class RepairOutcome:
    table: str
    reextracted: ExtractionOutcome | None
    keys_reextracted: int
    keys_recorded_deleted: int

    def metadata(self) -> dict[str, object]:
        published = self.reextracted.load.rows_inserted if self.reextracted is not None else 0
        return {
            "repair_keys_reextracted": self.keys_reextracted,
            "repair_rows_published": published,
            "repair_keys_recorded_deleted": self.keys_recorded_deleted,
        }


def repair_table(
    engine: sa.Engine,
    warehouse: Warehouse,
    sources: Sources,
    divergence: Divergence,
    *,
    raw_schema: str,
    landing_dir: Path,
    batch_id: str,
    detected_at: dt.datetime | None = None,
    **extract_options,
) -> RepairOutcome:
    table = divergence.table
    keys = tuple(divergence.to_reextract)
    reextracted = None
    if keys:
        reextracted = extract_source(
            engine,
            warehouse,
            sources,
            table,
            raw_schema=raw_schema,
            landing_dir=landing_dir,
            batch_id=f"{batch_id}:repair",
            keys=keys,
            **extract_options,
        )
    if divergence.extra:
        deletes.record_deleted_keys(
            warehouse.sql(),
            raw_schema,
            table,
            sorted(divergence.extra),
            batch_id=f"{batch_id}:repair",
            detected_at=detected_at or dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )
    return RepairOutcome(table, reextracted, len(keys), len(divergence.extra))
