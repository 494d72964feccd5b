"""Map source column types (as reflected by SQLAlchemy) to Arrow types.

Reflection, not the project's own metadata, is the truth: a production database may
have drifted from what the demo creates, and the loader must see that.
"""

from __future__ import annotations

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

MONEY_PRECISION = 38  # widest decimal both DuckDB and BigQuery NUMERIC accept


class UnsupportedColumnType(TypeError):
    pass


def arrow_type_for(column_type: sa.types.TypeEngine, *, table: str, column: str) -> pa.DataType:
    # MySQL reports BOOLEAN as TINYINT(1).
    if isinstance(column_type, mysql.TINYINT) and getattr(column_type, "display_width", None) == 1:
        return pa.bool_()
    if isinstance(column_type, sa.Boolean):
        return pa.bool_()
    if isinstance(column_type, sa.Integer):
        return pa.int64()
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float):
        scale = column_type.scale if column_type.scale is not None else 2
        precision = column_type.precision or 18
        return pa.decimal128(max(precision, 18), scale)
    if isinstance(column_type, sa.Float):
        return pa.float64()
    if isinstance(column_type, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(column_type, sa.Date):
        return pa.date32()
    if isinstance(column_type, sa.String | sa.Text | sa.Enum):
        return pa.string()
    # SQLite reflects unknown declared types as NullType; they arrive as text.
    if isinstance(column_type, sa.types.NullType):
        return pa.string()
    raise UnsupportedColumnType(
        f"{table}.{column}: source type {column_type!r} has no Arrow mapping; "
        "add it to orchestration/extract/arrow_types.py"
    )


def reflect_arrow_schema(engine: sa.Engine, table: str) -> pa.Schema:
    """The Arrow schema of a source table, in the source's column order."""
    inspector = sa.inspect(engine)
    if not inspector.has_table(table):
        raise LookupError(
            f"source table {table!r} does not exist in {engine.url.render_as_string(hide_password=True)}"
        )
    fields = []
    for col in inspector.get_columns(table):
        fields.append(
            pa.field(
                col["name"],
                arrow_type_for(col["type"], table=table, column=col["name"]),
                nullable=col.get("nullable", True),
            )
        )
    return pa.schema(fields)


def to_arrow(values: list, arrow_type: pa.DataType) -> pa.Array:
    """An Arrow array of ``values``; text the driver handed over for dates/decimals is cast."""
    try:
        return pa.array(values, type=arrow_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Drivers hand back text for dates/decimals on some dialects (SQLite): let Arrow's
        # own parsers cast it, which are strict (no silent coercion).
        return pa.array([None if v is None else str(v) for v in values], type=pa.string()).cast(arrow_type)
