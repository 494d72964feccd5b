"""Step 1 of a BigQuery publish: the landed Parquet file into a fresh staging table.

The rows travel through the BigQuery Storage Write API on one PENDING stream that is
finalized and batch-committed once, so the staging table shows either every row of the
batch or none. Why not load jobs or streaming inserts: see docs/operations.md, "Why this
load path".
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.warehouse.base import LoadRequest
from orchestration.warehouse.bigquery_types import bigquery_type, proto_field_type, wire_column

if TYPE_CHECKING:
    from orchestration.warehouse.bigquery_clients import BigQueryClients

PARQUET_READ_ROWS = 50_000

_PROTO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BigQueryLoadError(RuntimeError):
    """The Storage Write API refused or lost rows of a batch; nothing was published."""


class BatchStats:
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


def create_staging_table(
    clients: BigQueryClients, dataset_id: str, request: LoadRequest, expiration: dt.timedelta
) -> str:
    """A fresh staging table in the physical dataset; it expires by itself after a crash."""
    from google.cloud import bigquery

    name = f"_stage_{request.table}_{uuid.uuid4().hex[:12]}"
    table_ref = f"{clients.project}.{dataset_id}.{name}"
    table = bigquery.Table(
        table_ref,
        schema=[bigquery.SchemaField(f.name, bigquery_type(f.type)) for f in request.arrow_schema],
    )
    table.expires = dt.datetime.now(dt.UTC) + expiration
    table.description = f"Staging for batch {request.batch_id}; dropped after publishing."
    clients.client.create_table(table)
    return table_ref


def _row_message_class(arrow_schema: pa.Schema) -> tuple[Any, Any]:
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
            type=proto_field_type(bigquery_type(field.type)),
            label=f.LABEL_OPTIONAL,  # proto2 optional: an unset field is NULL
        )
    file_proto = descriptor_pb2.FileDescriptorProto(name=f"landed_{uuid.uuid4().hex}.proto", syntax="proto2")
    file_proto.message_type.add().CopyFrom(descriptor)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    return descriptor, message_factory.GetMessageClass(pool.FindMessageTypeByName("LandedRow"))


def _serialized_chunks(
    request: LoadRequest, stats: BatchStats, message_class: Any, request_bytes: int
) -> Iterator[list[bytes]]:
    """The landed rows as protobuf rows, in chunks under the request size limit."""
    bq_types = [bigquery_type(f.type) for f in request.arrow_schema]
    names = request.arrow_schema.names
    chunk: list[bytes] = []
    chunk_bytes = 0
    parquet = pq.ParquetFile(request.landing_file)
    for batch in parquet.iter_batches(batch_size=PARQUET_READ_ROWS, columns=names):
        stats.observe(batch.column(request.cursor_column))
        columns = [wire_column(batch.column(i), t) for i, t in enumerate(bq_types)]
        for values in zip(*columns, strict=True):
            row = message_class(**{n: v for n, v in zip(names, values, strict=True) if v is not None})
            data = row.SerializeToString()
            if chunk and chunk_bytes + len(data) > request_bytes:
                yield chunk
                chunk, chunk_bytes = [], 0
            chunk.append(data)
            chunk_bytes += len(data) + 8
    if chunk:
        yield chunk


def stage_rows(
    clients: BigQueryClients, staging_ref: str, request: LoadRequest, *, request_bytes: int
) -> BatchStats:
    """Write the landed file into the staging table: all of it becomes visible, or none."""
    from google.cloud.bigquery_storage_v1 import types

    write_client = clients.write_client
    stats = BatchStats()
    project, dataset, table = staging_ref.split(".")
    parent = write_client.table_path(project, dataset, table)
    descriptor, message_class = _row_message_class(request.arrow_schema)
    stream = write_client.create_write_stream(
        parent=parent, write_stream=types.WriteStream(type_=types.WriteStream.Type.PENDING)
    )

    def requests() -> Iterator[types.AppendRowsRequest]:
        offset = 0
        for i, chunk in enumerate(_serialized_chunks(request, stats, message_class, request_bytes)):
            proto_data = types.AppendRowsRequest.ProtoData(rows=types.ProtoRows(serialized_rows=chunk))
            if i == 0:
                proto_data.writer_schema = types.ProtoSchema(proto_descriptor=descriptor)
            # Explicit offsets make a resent request fail instead of duplicating rows.
            yield types.AppendRowsRequest(write_stream=stream.name, offset=offset, proto_rows=proto_data)
            offset += len(chunk)

    responses = write_client.append_rows(
        requests(), metadata=(("x-goog-request-params", f"write_stream={stream.name}"),)
    )
    for response in responses:
        if response.error.code or response.row_errors:
            raise BigQueryLoadError(
                f"Storage Write API refused rows of batch {request.batch_id} for "
                f"{request.dataset}.{request.table}: {response.error.message or list(response.row_errors)[:5]}"
            )
    finalized = write_client.finalize_write_stream(name=stream.name)
    if finalized.row_count != stats.rows:
        raise BigQueryLoadError(
            f"staging {staging_ref} received {finalized.row_count} of {stats.rows} landed rows "
            f"of batch {request.batch_id}; nothing was published"
        )
    if stats.rows:
        committed = write_client.batch_commit_write_streams(
            types.BatchCommitWriteStreamsRequest(parent=parent, write_streams=[stream.name])
        )
        if committed.stream_errors:
            raise BigQueryLoadError(
                f"committing staging {staging_ref} failed: {list(committed.stream_errors)}; nothing was published"
            )
    return stats
