"""Decode PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1).

Written from the protocol's documentation ("Logical Replication Message Formats" in the
PostgreSQL manual), for the messages a slot read with ``proto_version '1'`` and no
``messages``/``streaming``/``binary`` options produces: Begin, Commit, Origin, Relation,
Type, Insert, Update, Delete, Truncate. Values arrive in PostgreSQL's text output format;
turning them into Python values is apply.py's job, since it knows the column types.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass

# pgoutput's timestamps: microseconds since 2000-01-01 00:00 UTC.
PG_EPOCH = dt.datetime(2000, 1, 1)

# A column value in a tuple: text, SQL NULL, or "unchanged TOASTed value, not sent".
UNCHANGED_TOAST = object()


class PgOutputError(ValueError):
    """A message the decoder cannot read: names the message type and offset."""


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    committed_at: dt.datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    commit_lsn: int
    end_lsn: int
    committed_at: dt.datetime


@dataclass(frozen=True)
class RelationColumn:
    name: str
    type_oid: int
    is_key: bool


@dataclass(frozen=True)
class Relation:
    relation_id: int
    namespace: str
    name: str
    replica_identity: str  # d default, n nothing, f full, i index
    columns: tuple[RelationColumn, ...]


# A tuple's values in the relation's column order: str, None or UNCHANGED_TOAST.
Values = tuple[object, ...]


@dataclass(frozen=True)
class Insert:
    relation_id: int
    new: Values


@dataclass(frozen=True)
class Update:
    relation_id: int
    new: Values
    old: Values | None  # the key ('K') or the whole old row ('O', REPLICA IDENTITY FULL)


@dataclass(frozen=True)
class Delete:
    relation_id: int
    old: Values  # the key only, unless REPLICA IDENTITY FULL


@dataclass(frozen=True)
class Truncate:
    relation_ids: tuple[int, ...]


@dataclass(frozen=True)
class Ignored:
    kind: str  # Origin, Type: nothing to apply


Message = Begin | Commit | Relation | Insert | Update | Delete | Truncate | Ignored


_STRUCTS: dict[str, struct.Struct] = {}
_INT16, _INT32 = struct.Struct("!h"), struct.Struct("!i")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        layout = _STRUCTS.get(fmt) or _STRUCTS.setdefault(fmt, struct.Struct(fmt))
        if self.pos + layout.size > len(self.data):
            raise PgOutputError(f"pgoutput message truncated at offset {self.pos}")
        values = layout.unpack_from(self.data, self.pos)
        self.pos += layout.size
        return values

    def int8(self) -> int:
        return self.take("!b")[0]

    def byte(self) -> str:
        return chr(self.take("!B")[0])

    def int16(self) -> int:
        return self.take("!h")[0]

    def int32(self) -> int:
        return self.take("!i")[0]

    def uint32(self) -> int:
        return self.take("!I")[0]

    def int64(self) -> int:
        return self.take("!q")[0]

    def lsn(self) -> int:
        return self.take("!Q")[0]

    def timestamp(self) -> dt.datetime:
        return PG_EPOCH + dt.timedelta(microseconds=self.int64())

    def string(self) -> str:
        end = bytes(self.data[self.pos :]).find(b"\x00")
        if end < 0:
            raise PgOutputError(f"unterminated string at offset {self.pos}")
        text = bytes(self.data[self.pos : self.pos + end]).decode()
        self.pos += end + 1
        return text

    def tuple_data(self) -> Values:
        # The one loop every changed row goes through, so it reads the buffer directly rather
        # than through take(): a drain's decoding time is mostly spent here.
        data, pos, end = self.data, self.pos, len(self.data)
        if pos + 2 > end:
            raise PgOutputError(f"pgoutput message truncated at offset {pos}")
        (count,) = _INT16.unpack_from(data, pos)
        pos += 2
        values: list[object] = []
        for _ in range(count):
            if pos >= end:
                raise PgOutputError(f"pgoutput message truncated at offset {pos}")
            kind = data[pos]
            pos += 1
            if kind == 0x6E:  # n
                values.append(None)
            elif kind == 0x75:  # u
                values.append(UNCHANGED_TOAST)
            elif kind in (0x74, 0x62):  # t, b
                if pos + 4 > end:
                    raise PgOutputError(f"pgoutput message truncated at offset {pos}")
                (length,) = _INT32.unpack_from(data, pos)
                pos += 4
                if pos + length > end:
                    raise PgOutputError(f"pgoutput message truncated at offset {pos}")
                raw = bytes(data[pos : pos + length])
                pos += length
                values.append(raw.decode() if kind == 0x74 else raw)
            else:
                self.pos = pos
                raise PgOutputError(f"unknown tuple value kind {chr(kind)!r} at offset {pos - 1}")
        self.pos = pos
        return tuple(values)


def decode(data: bytes) -> Message:
    """One pgoutput message (one row of ``pg_logical_slot_peek_binary_changes``)."""
    r = _Reader(bytes(data))
    kind = r.byte()
    if kind == "B":
        return Begin(final_lsn=r.lsn(), committed_at=r.timestamp(), xid=r.uint32())
    if kind == "C":
        r.int8()  # flags, unused
        return Commit(commit_lsn=r.lsn(), end_lsn=r.lsn(), committed_at=r.timestamp())
    if kind == "R":
        relation_id, namespace, name = r.uint32(), r.string(), r.string()
        identity = r.byte()
        columns = []
        for _ in range(r.int16()):
            flags, column, type_oid = r.int8(), r.string(), r.uint32()
            r.int32()  # type modifier
            columns.append(RelationColumn(column, type_oid, bool(flags & 1)))
        return Relation(relation_id, namespace, name, identity, tuple(columns))
    if kind == "I":
        relation_id = r.uint32()
        if r.byte() != "N":
            raise PgOutputError("Insert without a new tuple")
        return Insert(relation_id, r.tuple_data())
    if kind == "U":
        relation_id = r.uint32()
        old = None
        marker = r.byte()
        if marker in ("K", "O"):
            old = r.tuple_data()
            marker = r.byte()
        if marker != "N":
            raise PgOutputError(f"Update without a new tuple (marker {marker!r})")
        return Update(relation_id, r.tuple_data(), old)
    if kind == "D":
        relation_id = r.uint32()
        if r.byte() not in ("K", "O"):
            raise PgOutputError("Delete without an old tuple")
        return Delete(relation_id, r.tuple_data())
    if kind == "T":
        count = r.int32()
        r.int8()  # options: cascade / restart identity
        return Truncate(tuple(r.uint32() for _ in range(count)))
    if kind == "O":
        return Ignored("Origin")
    if kind == "Y":
        return Ignored("Type")
    raise PgOutputError(f"unknown pgoutput message type {kind!r}")


def format_lsn(lsn: int) -> str:
    """PostgreSQL's own notation, ``16/B374D848``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
