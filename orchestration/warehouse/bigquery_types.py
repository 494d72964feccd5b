"""BigQuery's side of the Arrow types, and the values BigQuery takes as text or parameters.

- ``bigquery_type``: the column type a raw table gets for an Arrow type;
  ``canonical_arrow_type`` the way back, the common ground on which
  ``plan_schema_change`` compares a raw table with an incoming batch.
- ``proto_field_type`` / ``wire_column``: how a column travels through the Storage Write API.
- ``quote`` and the literals: names and values inlined into SQL text (the emulator drops
  query parameters inside multi-statement scripts, so a publish script carries literals).
- ``query_parameter``: a Python value as a BigQuery query parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


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


# What a BigQuery column can hold, as an Arrow type.
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


def proto_field_type(bq_type: str) -> int:
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


def wire_column(column: pa.ChunkedArray | pa.Array, bq_type: str) -> list[Any]:
    """One column as the Python values its proto field carries."""
    if bq_type == "TIMESTAMP":
        return pc.cast(pc.cast(column, pa.timestamp("us", tz=column.type.tz)), pa.int64()).to_pylist()
    if bq_type == "DATE":
        return pc.cast(pc.cast(column, pa.date32()), pa.int32()).to_pylist()
    if bq_type in ("NUMERIC", "BIGNUMERIC"):
        return [None if v is None else format(v, "f") for v in column.to_pylist()]
    return column.to_pylist()


# -- names and literals in SQL text -----------------------------------------------------------


def quote(*parts: str) -> str:
    """A quoted identifier or path: quote("p.d.t") or quote("p", "d", "t") -> `p.d.t`."""
    return "`" + ".".join(p.replace("`", "\\`") for p in parts) + "`"


def string_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def timestamp_literal(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{value.isoformat(sep=' ')}+00'"


def cursor_literal(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        return timestamp_literal(value)
    return f"DATE '{value.isoformat()}'"


def naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    # The DuckDB warehouse returns naive UTC datetimes; callers compare the two freely.
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


# -- query parameters --------------------------------------------------------------------------


def _parameter_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    return "STRING"


def query_parameter(name: str, value: Any) -> Any:
    """A scalar, or a list/tuple as an ARRAY of its first element's type."""
    from google.cloud import bigquery

    if isinstance(value, list | tuple):
        kind = _parameter_type(value[0]) if value else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, list(value))
    return bigquery.ScalarQueryParameter(name, _parameter_type(value), value)
