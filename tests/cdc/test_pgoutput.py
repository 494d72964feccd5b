"""The pgoutput decoder on messages built by hand from the protocol's documented layout
(no server): every message kind the slot reads, unchanged TOASTed values, bad input."""

from __future__ import annotations

import datetime as dt
import struct

import pytest

from orchestration.cdc import pgoutput


def _text(value: str) -> bytes:
    return b"t" + struct.pack("!i", len(value.encode())) + value.encode()


def _tuple(*values: bytes) -> bytes:
    return struct.pack("!h", len(values)) + b"".join(values)


def test_begin_and_commit_carry_lsns_and_the_commit_time():
    micros = 123_456_789
    begin = pgoutput.decode(b"B" + struct.pack("!QqI", 0x1_0000_00A0, micros, 77))
    assert begin == pgoutput.Begin(0x1_0000_00A0, pgoutput.PG_EPOCH + dt.timedelta(microseconds=micros), 77)
    commit = pgoutput.decode(b"C" + struct.pack("!bQQq", 0, 0x100, 0x180, micros))
    assert (commit.commit_lsn, commit.end_lsn) == (0x100, 0x180)
    assert commit.committed_at == dt.datetime(2000, 1, 1) + dt.timedelta(microseconds=micros)


def test_a_relation_names_its_columns_and_key():
    columns = b"".join(
        struct.pack("!b", flags) + name + b"\0" + struct.pack("!Ii", oid, -1)
        for flags, name, oid in ((1, b"id", 20), (0, b"status", 25))
    )
    message = b"R" + struct.pack("!I", 16384) + b"public\0orders\0" + b"d" + struct.pack("!h", 2) + columns
    relation = pgoutput.decode(message)
    assert relation.name == "orders" and relation.replica_identity == "d"
    assert [(c.name, c.is_key) for c in relation.columns] == [("id", True), ("status", False)]


def test_row_messages_keep_nulls_and_unchanged_toast_apart():
    insert = pgoutput.decode(b"I" + struct.pack("!I", 7) + b"N" + _tuple(_text("1"), b"n"))
    assert insert == pgoutput.Insert(7, ("1", None))
    update = pgoutput.decode(
        b"U" + struct.pack("!I", 7) + b"K" + _tuple(_text("1"), b"n") + b"N" + _tuple(_text("2"), b"u")
    )
    assert update.old == ("1", None) and update.new == ("2", pgoutput.UNCHANGED_TOAST)
    assert pgoutput.decode(b"U" + struct.pack("!I", 7) + b"N" + _tuple(_text("é"))).old is None
    delete = pgoutput.decode(b"D" + struct.pack("!I", 7) + b"O" + _tuple(_text("1"), _text("x")))
    assert delete == pgoutput.Delete(7, ("1", "x"))
    truncate = pgoutput.decode(b"T" + struct.pack("!ibII", 2, 0, 7, 8))
    assert truncate == pgoutput.Truncate((7, 8))
    assert pgoutput.decode(b"O" + struct.pack("!Q", 1) + b"origin\0") == pgoutput.Ignored("Origin")


def test_bad_input_fails_naming_what_is_wrong():
    with pytest.raises(pgoutput.PgOutputError, match="unknown pgoutput message type 'Z'"):
        pgoutput.decode(b"Z")
    with pytest.raises(pgoutput.PgOutputError, match="truncated"):
        pgoutput.decode(b"B" + struct.pack("!Q", 1))


def test_lsns_read_and_print_as_postgresql_does():
    assert pgoutput.format_lsn(0x16_B374D848) == "16/B374D848"
    assert pgoutput.parse_lsn("16/B374D848") == 0x16_B374D848
    assert pgoutput.parse_lsn(pgoutput.format_lsn(5)) == 5
