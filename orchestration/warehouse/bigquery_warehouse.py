"""The BigQuery warehouse: production raw datasets, loaded atomically and idempotently.

A landed Parquet batch is published in three steps:

1. Its rows are written through the BigQuery Storage Write API into a fresh staging
   table, on one PENDING stream that is finalized and batch-committed once: the staging
   table shows either every row of the batch or none.
2. One multi-statement transaction appends the load-ledger row and then inserts into the
   raw table the staged rows not already present (same key and cursor value). Both
   statements read the same staging table, so the ledger's high-water mark and row
   counts describe exactly the rows published; a failure anywhere rolls both back.
3. The staging table is dropped (it also carries an expiration, so a crashed run's
   staging table disappears by itself).

Why not load jobs or streaming inserts: see docs/operations.md, "Why this load path".

BigQuery forbids DDL on permanent tables inside a transaction, so creating the raw
table and adding columns happen before step 2. Both are harmless on their own: a new
nullable column holds NULL for old rows, and a retried run finds it already there.

Credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud auth, or the workload's service account); no secret lives in code.

The same code runs against the BigQuery emulator (``api_endpoint`` set). Where the
emulator differs from BigQuery, the difference is handled in a function whose name says
so and whose effect on real BigQuery is nil; the gaps are listed in docs/operations.md.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.warehouse.base import (
    LOAD_LEDGER,
    STATE_TABLE,
    LoadRequest,
    LoadResult,
    plan_schema_change,
)

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import bigquery
    from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

    from orchestration.settings import Settings

# Under the 10 MB AppendRows request limit, with room for the request envelope.
APPEND_REQUEST_BYTES = 8 * 1024 * 1024
PARQUET_READ_ROWS = 50_000
STAGING_EXPIRATION = dt.timedelta(hours=12)
MAX_CLUSTERING_FIELDS = 4

LEDGER_SCHEMA = (
    ("table_name", "STRING", "REQUIRED"),
    ("batch_id", "STRING", "REQUIRED"),
    ("cursor_column", "STRING", "NULLABLE"),
    ("high_water_mark", "TIMESTAMP", "NULLABLE"),
    ("rows_landed", "INT64", "NULLABLE"),
    ("rows_inserted", "INT64", "NULLABLE"),
    ("loaded_at", "TIMESTAMP", "NULLABLE"),
)

_PROTO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BigQueryLoadError(RuntimeError):
    """The Storage Write API refused or lost rows of a batch; nothing was published."""


# -- types -------------------------------------------------------------------------------


def bigquery_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "BOOL"
    if pa.types.is_integer(arrow_type):
        return "INT64"
    if pa.types.is_floating(arrow_type):
        return "FLOAT64"
    if pa.types.is_decimal(arrow_type):
        # NUMERIC holds 29 integer and 9 fractional digits; wider decimals need BIGNUMERIC.
        fits = arrow_type.scale <= 9 and arrow_type.precision - arrow_type.scale <= 29
        return "NUMERIC" if fits else "BIGNUMERIC"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "STRING"
    raise TypeError(f"no BigQuery type for Arrow type {arrow_type}")


# What a BigQuery column can hold, as an Arrow type: the common ground on which
# plan_schema_change compares a raw table with an incoming batch.
_CANONICAL_ARROW = {
    "BOOL": pa.bool_(),
    "BOOLEAN": pa.bool_(),
    "INT64": pa.int64(),
    "INTEGER": pa.int64(),
    "FLOAT64": pa.float64(),
    "FLOAT": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38),
    "BIGDECIMAL": pa.decimal256(76, 38),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "DATE": pa.date32(),
    "STRING": pa.string(),
}


def canonical_arrow_type(bq_type: str) -> pa.DataType:
    try:
        return _CANONICAL_ARROW[bq_type.upper()]
    except KeyError:
        raise TypeError(f"raw tables do not use BigQuery type {bq_type}") from None


def canonical_schema(arrow_schema: pa.Schema) -> pa.Schema:
    return pa.schema(pa.field(f.name, canonical_arrow_type(bigquery_type(f.type))) for f in arrow_schema)


def _proto_field_type(bq_type: str) -> int:
    from google.protobuf import descriptor_pb2

    f = descriptor_pb2.FieldDescriptorProto
    # The Storage Write API's documented encodings: TIMESTAMP as int64 microseconds since
    # the epoch, DATE as int32 days, NUMERIC/BIGNUMERIC as their decimal string.
    return {
        "BOOL": f.TYPE_BOOL,
        "INT64": f.TYPE_INT64,
        "FLOAT64": f.TYPE_DOUBLE,
        "NUMERIC": f.TYPE_STRING,
        "BIGNUMERIC": f.TYPE_STRING,
        "TIMESTAMP": f.TYPE_INT64,
        "DATE": f.TYPE_INT32,
        "STRING": f.TYPE_STRING,
    }[bq_type]


def _wire_column(column: pa.ChunkedArray | pa.Array, bq_type: str) -> list[Any]:
    """One column as the Python values its proto field carries."""
    if bq_type == "TIMESTAMP":
        return pc.cast(pc.cast(column, pa.timestamp("us", tz=column.type.tz)), pa.int64()).to_pylist()
    if bq_type == "DATE":
        return pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_pylist()
    if bq_type in ("NUMERIC", "BIGNUMERIC"):
        return [None if v is None else format(v, "f") for v in column.to_pylist()]
    return column.to_pylist()


# -- SQL literals (the emulator ignores query parameters inside scripts) ----------------------


def _ident(*parts: str) -> str:
    return "`" + ".".join(p.replace("`", "") for p in parts) + "`"


def _col(name: str) -> str:
    return "`" + name.replace("`", "") + "`"


def _string_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _timestamp_literal(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{value.isoformat(sep=' ')}+00'"


def _cursor_literal(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        return _timestamp_literal(value)
    return f"DATE '{value.isoformat()}'"


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    # The DuckDB warehouse returns naive UTC datetimes; callers compare the two freely.
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


# -- the warehouse ---------------------------------------------------------------------------


class BigQueryWarehouse:
    kind = "bigquery"

    def __init__(
        self,
        project: str,
        *,
        location: str = "US",
        dataset_prefix: str = "",
        api_endpoint: str | None = None,
        storage_endpoint: str | None = None,
        credentials: Credentials | None = None,
        staging_expiration: dt.timedelta = STAGING_EXPIRATION,
        append_request_bytes: int = APPEND_REQUEST_BYTES,
    ) -> None:
        if not project:
            raise ValueError("BigQueryWarehouse needs a project: set GCP_PROJECT")
        self.project = project
        self.location = location
        self.dataset_prefix = dataset_prefix
        self.api_endpoint = api_endpoint
        self.storage_endpoint = storage_endpoint
        self._credentials = credentials
        self.staging_expiration = staging_expiration
        self.append_request_bytes = append_request_bytes
        self._client: bigquery.Client | None = None
        self._write_client: BigQueryWriteClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> BigQueryWarehouse:
        if not settings.gcp_project:
            raise ValueError("WAREHOUSE=bigquery needs GCP_PROJECT (the project that holds the datasets)")
        return cls(
            settings.gcp_project,
            location=settings.bigquery_location,
            dataset_prefix=settings.bigquery_dataset_prefix,
            **overrides,
        )

    @classmethod
    def from_resource(cls, resource: Any) -> BigQueryWarehouse:
        """Build from orchestration.resources.warehouse.WarehouseResource (duck-typed)."""
        if not resource.gcp_project:
            raise ValueError("WAREHOUSE=bigquery needs GCP_PROJECT (the project that holds the datasets)")
        return cls(
            resource.gcp_project,
            location=resource.bigquery_location or "US",
            dataset_prefix=resource.bigquery_dataset_prefix or "",
            api_endpoint=getattr(resource, "bigquery_api_endpoint", None),
            # The emulator's Storage Write API listens on its own gRPC port.
            storage_endpoint=getattr(resource, "bigquery_storage_endpoint", None),
        )

    @property
    def is_emulator(self) -> bool:
        return self.api_endpoint is not None

    # -- clients -----------------------------------------------------------------------

    @property
    def client(self) -> bigquery.Client:
        if self._client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud import bigquery

            credentials = self._credentials
            if credentials is None and self.is_emulator:
                from google.auth.credentials import AnonymousCredentials

                credentials = AnonymousCredentials()
            options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
            # credentials=None means Application Default Credentials.
            self._client = bigquery.Client(
                project=self.project, location=self.location, credentials=credentials, client_options=options
            )
        return self._client

    @property
    def write_client(self) -> BigQueryWriteClient:
        if self._write_client is None:
            from google.cloud.bigquery_storage_v1 import BigQueryWriteClient

            if self.storage_endpoint and self.is_emulator:
                import grpc
                from google.cloud.bigquery_storage_v1.services.big_query_write.transports import (
                    BigQueryWriteGrpcTransport,
                )

                # The emulator speaks plaintext gRPC and takes no credentials.
                channel = grpc.insecure_channel(self.storage_endpoint)
                self._write_client = BigQueryWriteClient(
                    transport=BigQueryWriteGrpcTransport(channel=channel)
                )
            else:
                from google.api_core.client_options import ClientOptions

                options = ClientOptions(api_endpoint=self.storage_endpoint) if self.storage_endpoint else None
                self._write_client = BigQueryWriteClient(
                    credentials=self._credentials, client_options=options
                )
        return self._write_client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._write_client is not None:
            self._write_client.transport.close()
            self._write_client = None

    # -- names -------------------------------------------------------------------------

    def dataset_id(self, schema: str) -> str:
        """The dataset for a warehouse schema (raw_ops -> <prefix>raw_ops).

        Settings.raw_ops_schema already carries the prefix under WAREHOUSE=bigquery, so an
        already-prefixed name is taken as it is.
        """
        if self.dataset_prefix and not schema.startswith(self.dataset_prefix):
            return self.dataset_prefix + schema
        return schema

    def table_ref(self, schema: str, table: str) -> str:
        return f"{self.project}.{self.dataset_id(schema)}.{table}"

    # -- reads ---------------------------------------------------------------------------

    def _get_table(self, table_ref: str) -> bigquery.Table | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.client.get_table(table_ref)
        except NotFound:
            return None

    def _existing_schema(self, table_ref: str) -> pa.Schema | None:
        table = self._get_table(table_ref)
        if table is None:
            return None
        return pa.schema(pa.field(f.name, canonical_arrow_type(f.field_type)) for f in table.schema)

    def _query(self, sql: str, params: dict[str, tuple[str, Any]] | None = None) -> list[tuple]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter(k, t, v) for k, (t, v) in (params or {}).items()]
        )
        return [tuple(row) for row in self.client.query(sql, job_config=config).result()]

    def high_water_mark(self, schema: str, table: str) -> dt.datetime | None:
        ledger = self.table_ref(schema, LOAD_LEDGER)
        if self._get_table(ledger) is None:
            return None
        rows = self._query(
            f"select max(high_water_mark) from {_ident(ledger)} where table_name = @table_name",
            {"table_name": ("STRING", table)},
        )
        return _naive_utc(rows[0][0])

    def row_count(self, schema: str, table: str) -> int:
        return self._query(f"select count(*) from {_ident(self.table_ref(schema, table))}")[0][0]

    def list_tables(self, schema: str) -> list[str]:
        """Tables and views of a dataset, by name; none if the dataset does not exist yet."""
        from google.api_core.exceptions import NotFound

        try:
            tables = self.client.list_tables(f"{self.project}.{self.dataset_id(schema)}")
            return sorted(t.table_id for t in tables)
        except NotFound:
            return []

    def check_schema(self, schema: str, table: str, arrow_schema: pa.Schema) -> list[str]:
        table_ref = self.table_ref(schema, table)
        to_add, _ = plan_schema_change(
            f"{self.dataset_id(schema)}.{table}",
            self._existing_schema(table_ref),
            canonical_schema(arrow_schema),
        )
        return [f.name for f in to_add]

    # -- DDL (outside the transaction: BigQuery allows no DDL on permanent tables in one) -----

    def _ensure_dataset(self, schema: str) -> None:
        from google.cloud import bigquery

        dataset = bigquery.Dataset(f"{self.project}.{self.dataset_id(schema)}")
        dataset.location = self.location
        self.client.create_dataset(dataset, exists_ok=True)

    def _ensure_ledger(self, schema: str) -> str:
        from google.cloud import bigquery

        ledger = self.table_ref(schema, LOAD_LEDGER)
        table = bigquery.Table(
            ledger, schema=[bigquery.SchemaField(n, t, mode=m) for n, t, m in LEDGER_SCHEMA]
        )
        table.description = "Load ledger: one row per published batch, with the table's high-water mark."
        self.client.create_table(table, exists_ok=True)
        return ledger

    def _create_raw_table(self, table_ref: str, request: LoadRequest) -> None:
        from google.cloud import bigquery

        fields = [bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in request.arrow_schema]
        fields += [
            bigquery.SchemaField("_batch_id", "STRING", mode="REQUIRED"),
            bigquery.SchemaField("_loaded_at", "TIMESTAMP", mode="REQUIRED"),
        ]
        table = bigquery.Table(table_ref, schema=fields)
        cursor_type = request.arrow_schema.field(request.cursor_column).type
        # Partitioning by the cursor lets the duplicate check read only the partitions the
        # batch touches; clustering by the key makes the per-row lookup cheap.
        if pa.types.is_timestamp(cursor_type) or pa.types.is_date(cursor_type):
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.MONTH, field=request.cursor_column
            )
        table.clustering_fields = list(request.key_columns[:MAX_CLUSTERING_FIELDS]) or None
        table.description = f"Raw, append-only copy of source table {request.table}."
        self.client.create_table(table, exists_ok=True)

    def _ddl_type(self, bq_type: str) -> str:
        return emulator_ddl_type(bq_type) if self.is_emulator else bq_type

    def _evolve_raw_table(self, table_ref: str, to_add: list[pa.Field], to_widen: list[pa.Field]) -> None:
        if not to_add and not to_widen:
            return
        statements = [
            f"alter table {_ident(table_ref)} add column if not exists {_col(f.name)} "
            f"{self._ddl_type(bigquery_type(f.type))}"
            for f in to_add
        ]
        statements += [
            f"alter table {_ident(table_ref)} alter column {_col(f.name)} set data type "
            f"{self._ddl_type(bigquery_type(f.type))}"
            for f in to_widen
        ]
        for statement in statements:
            self._query(statement)
        if self.is_emulator:
            emulator_sync_catalog(self.client, table_ref, to_add, to_widen)

    # -- staging through the Storage Write API ---------------------------------------------

    def _create_staging_table(self, dataset: str, request: LoadRequest) -> str:
        from google.cloud import bigquery

        name = f"_stage_{request.table}_{uuid.uuid4().hex[:12]}"
        table_ref = f"{self.project}.{dataset}.{name}"
        table = bigquery.Table(
            table_ref,
            schema=[bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in request.arrow_schema],
        )
        table.expires = dt.datetime.now(dt.UTC) + self.staging_expiration
        table.description = f"Staging for batch {request.batch_id}; dropped after publishing."
        self.client.create_table(table)
        return table_ref

    def _row_message_class(self, arrow_schema: pa.Schema) -> tuple[Any, Any]:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        f = descriptor_pb2.FieldDescriptorProto
        descriptor = descriptor_pb2.DescriptorProto(name="LandedRow")
        for number, field in enumerate(arrow_schema, start=1):
            if not _PROTO_NAME.match(field.name):
                raise BigQueryLoadError(
                    f"column {field.name!r} cannot travel through the Storage Write API as is "
                    "(protobuf field names are letters, digits and underscores); rename it in the extract"
                )
            descriptor.field.add(
                name=field.name,
                number=number,
                type=_proto_field_type(bigquery_type(field.type)),
                label=f.LABEL_OPTIONAL,  # proto2 optional: an unset field is NULL
            )
        file_proto = descriptor_pb2.FileDescriptorProto(
            name=f"landed_{uuid.uuid4().hex}.proto", syntax="proto2"
        )
        file_proto.message_type.add().CopyFrom(descriptor)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(file_proto)
        return descriptor, message_factory.GetMessageClass(pool.FindMessageTypeByName("LandedRow"))

    def _serialized_chunks(
        self, request: LoadRequest, stats: _BatchStats, message_class: Any
    ) -> Iterator[list[bytes]]:
        """The landed rows as protobuf rows, in chunks under the request size limit."""
        bq_types = [bigquery_type(f.type) for f in request.arrow_schema]
        names = request.arrow_schema.names
        chunk: list[bytes] = []
        chunk_bytes = 0
        parquet = pq.ParquetFile(request.landing_file)
        for batch in parquet.iter_batches(batch_size=PARQUET_READ_ROWS, columns=names):
            stats.observe(batch.column(request.cursor_column))
            columns = [_wire_column(batch.column(i), t) for i, t in enumerate(bq_types)]
            for values in zip(*columns, strict=True):
                row = message_class(**{n: v for n, v in zip(names, values, strict=True) if v is not None})
                data = row.SerializeToString()
                if chunk and chunk_bytes + len(data) > self.append_request_bytes:
                    yield chunk
                    chunk, chunk_bytes = [], 0
                chunk.append(data)
                chunk_bytes += len(data) + 8
        if chunk:
            yield chunk

    def _stage_rows(self, staging_ref: str, request: LoadRequest) -> _BatchStats:
        """Write the landed file into the staging table: all of it becomes visible, or none."""
        from google.cloud.bigquery_storage_v1 import types

        stats = _BatchStats()
        project, dataset, table = staging_ref.split(".")
        parent = self.write_client.table_path(project, dataset, table)
        descriptor, message_class = self._row_message_class(request.arrow_schema)
        stream = self.write_client.create_write_stream(
            parent=parent, write_stream=types.WriteStream(type_=types.WriteStream.Type.PENDING)
        )

        def requests() -> Iterator[types.AppendRowsRequest]:
            offset = 0
            for i, chunk in enumerate(self._serialized_chunks(request, stats, message_class)):
                proto_data = types.AppendRowsRequest.ProtoData(rows=types.ProtoRows(serialized_rows=chunk))
                if i == 0:
                    proto_data.writer_schema = types.ProtoSchema(proto_descriptor=descriptor)
                # Explicit offsets make a resent request fail instead of duplicating rows.
                yield types.AppendRowsRequest(write_stream=stream.name, offset=offset, proto_rows=proto_data)
                offset += len(chunk)

        responses = self.write_client.append_rows(
            requests(), metadata=(("x-goog-request-params", f"write_stream={stream.name}"),)
        )
        for response in responses:
            if response.error.code or response.row_errors:
                raise BigQueryLoadError(
                    f"Storage Write API refused rows of batch {request.batch_id} for "
                    f"{request.schema}.{request.table}: {response.error.message or list(response.row_errors)[:5]}"
                )
        finalized = self.write_client.finalize_write_stream(name=stream.name)
        if finalized.row_count != stats.rows:
            raise BigQueryLoadError(
                f"staging {staging_ref} received {finalized.row_count} of {stats.rows} landed rows "
                f"of batch {request.batch_id}; nothing was published"
            )
        if stats.rows:
            committed = self.write_client.batch_commit_write_streams(
                types.BatchCommitWriteStreamsRequest(parent=parent, write_streams=[stream.name])
            )
            if committed.stream_errors:
                raise BigQueryLoadError(
                    f"committing staging {staging_ref} failed: {list(committed.stream_errors)}; nothing was published"
                )
        return stats

    # -- the atomic publish ----------------------------------------------------------------

    def publish_script(
        self, request: LoadRequest, *, raw_ref: str, ledger_ref: str, staging_ref: str, stats: _BatchStats
    ) -> str:
        """The one transaction that publishes a staged batch (ledger row first, then rows).

        Values are inlined as literals because the emulator drops query parameters inside
        multi-statement scripts; every literal goes through an escaping helper.
        """
        names = request.arrow_schema.names
        cursor = _col(request.cursor_column)
        key_match = " and ".join(f"r.{_col(c)} = s.{_col(c)}" for c in request.key_columns)
        # A NULL cursor must still match itself, or a re-run would insert such rows again.
        key_match = f"{key_match} and r.{cursor} is not distinct from s.{cursor}"
        if stats.cursor_min is not None and not stats.cursor_has_nulls:
            # A literal bound lets BigQuery prune the raw table's older partitions.
            key_match = f"r.{cursor} >= {_cursor_literal(stats.cursor_min)} and {key_match}"
        is_new = f"not exists (select 1 from {_ident(raw_ref)} as r where {key_match})"
        table_name = _string_literal(request.table)
        batch_id = _string_literal(request.batch_id)
        return f"""
begin transaction;

insert into {_ident(ledger_ref)}
  (table_name, batch_id, cursor_column, high_water_mark, rows_landed, rows_inserted, loaded_at)
select
  {table_name},
  {batch_id},
  {_string_literal(request.cursor_column)},
  (select max(mark) from (
     select high_water_mark as mark from {_ident(ledger_ref)} where table_name = {table_name}
     union all
     select cast(max(s.{cursor}) as timestamp) from {_ident(staging_ref)} as s
  )),
  (select count(*) from {_ident(staging_ref)}),
  (select count(*) from {_ident(staging_ref)} as s where {is_new}),
  current_timestamp();

insert into {_ident(raw_ref)} ({", ".join(_col(n) for n in names)}, _batch_id, _loaded_at)
select {", ".join("s." + _col(n) for n in names)}, {batch_id}, current_timestamp()
from {_ident(staging_ref)} as s
where {is_new};

commit transaction;

select rows_landed, rows_inserted, high_water_mark
from {_ident(ledger_ref)}
where table_name = {table_name} and batch_id = {batch_id}
order by loaded_at desc
limit 1;
"""

    def publish(self, request: LoadRequest) -> LoadResult:
        dataset = self.dataset_id(request.schema)
        raw_ref = self.table_ref(request.schema, request.table)
        qualified = f"{dataset}.{request.table}"

        # Refuse incompatible drift before anything is created or written.
        existing = self._existing_schema(raw_ref)
        to_add, to_widen = plan_schema_change(qualified, existing, canonical_schema(request.arrow_schema))
        self._ensure_dataset(request.schema)
        ledger_ref = self._ensure_ledger(request.schema)
        previous = self.high_water_mark(request.schema, request.table)
        if existing is None:
            self._create_raw_table(raw_ref, request)
        self._evolve_raw_table(raw_ref, to_add, to_widen)

        staging_ref = self._create_staging_table(dataset, request)
        try:
            stats = self._stage_rows(staging_ref, request)
            script = self.publish_script(
                request, raw_ref=raw_ref, ledger_ref=ledger_ref, staging_ref=staging_ref, stats=stats
            )
            rows = self._query(script)
        finally:
            self.client.delete_table(staging_ref, not_found_ok=True)
        rows_landed, rows_inserted, new_mark = rows[0]
        return LoadResult(
            rows_landed=rows_landed,
            rows_inserted=rows_inserted,
            high_water_mark=_naive_utc(new_mark),
            previous_high_water_mark=previous,
            columns_added=tuple(f.name for f in to_add),
        )

    # -- small JSON state (e.g. Marketo export jobs and bookmarks) -------------------------

    def read_state(self, schema: str, key: str) -> dict | None:
        """The JSON value stored under ``key`` in ``<dataset>._state``, or None."""
        ref = self.table_ref(schema, STATE_TABLE)
        if self._get_table(ref) is None:
            return None
        rows = self._query(
            f"select value from {_ident(ref)} where key = @key order by updated_at desc limit 1",
            {"key": ("STRING", key)},
        )
        return json.loads(rows[0][0]) if rows else None

    def write_state(self, schema: str, key: str, value: dict) -> None:
        """Replace the value under ``key`` with one MERGE (atomic on its own)."""
        from google.cloud import bigquery

        self._ensure_dataset(schema)
        ref = self.table_ref(schema, STATE_TABLE)
        table = bigquery.Table(
            ref,
            schema=[
                bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("value", "STRING", mode="REQUIRED"),
                bigquery.SchemaField("updated_at", "TIMESTAMP", mode="REQUIRED"),
            ],
        )
        table.description = "Small JSON state by key, e.g. resumable Marketo export jobs and bookmarks."
        self.client.create_table(table, exists_ok=True)
        # Literals, not parameters, for the emulator's sake (see publish_script); columns are
        # listed in the INSERT because the emulator ignores `INSERT ROW`.
        key_sql = _string_literal(key)
        value_sql = _string_literal(json.dumps(value, sort_keys=True))
        self._query(
            f"merge {_ident(ref)} as t using (select {key_sql} as key) as s on t.key = s.key "
            f"when matched then update set value = {value_sql}, updated_at = current_timestamp() "
            f"when not matched then insert (key, value, updated_at) "
            f"values ({key_sql}, {value_sql}, current_timestamp())"
        )


class _BatchStats:
    """Row count and cursor range of a landed file, gathered while it is streamed."""

    def __init__(self) -> None:
        self.rows = 0
        self.cursor_min: dt.datetime | dt.date | None = None
        self.cursor_has_nulls = False

    def observe(self, cursor: pa.Array) -> None:
        self.rows += len(cursor)
        self.cursor_has_nulls = self.cursor_has_nulls or cursor.null_count > 0
        low = pc.min(cursor).as_py()
        if low is not None and (self.cursor_min is None or low < self.cursor_min):
            self.cursor_min = low


# -- emulator gaps (inert on real BigQuery) ------------------------------------------------


def emulator_ddl_type(bq_type: str) -> str:
    """Emulator gap: a bare NUMERIC/BIGNUMERIC in DDL becomes DuckDB's DECIMAL(18, 3).

    Spelling out BigQuery's own precision keeps the emulator's values exact; BigQuery
    itself gets the bare names (see BigQueryWarehouse._ddl_type).
    """
    return {"NUMERIC": "NUMERIC(38, 9)", "BIGNUMERIC": "BIGNUMERIC(76, 38)"}.get(bq_type, bq_type)


def emulator_sync_catalog(
    client: bigquery.Client, table_ref: str, to_add: list[pa.Field], to_widen: list[pa.Field]
) -> None:
    """Emulator gap: ALTER TABLE changes the stored table but not the schema the API reports.

    Patch the reported schema to match, so that get_table (and the Storage Write API,
    which reads it) see the new columns, as they would on BigQuery.
    """
    from google.cloud import bigquery

    table = client.get_table(table_ref)
    widened = {f.name: bigquery_type(f.type) for f in to_widen}
    fields = [
        bigquery.SchemaField(
            f.name, widened.get(f.name, f.field_type), mode=f.mode, description=f.description
        )
        for f in table.schema
    ]
    known = {f.name for f in fields}
    fields += [bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in to_add if f.name not in known]
    table.schema = fields
    client.update_table(table, ["schema"])


__all__ = [
    "BigQueryLoadError",
    "BigQueryWarehouse",
    "bigquery_type",
    "canonical_arrow_type",
]
