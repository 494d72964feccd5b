"""A PostgreSQL table's publication and logical replication slot, over an ordinary connection.

Why SQL functions, not the replication protocol: psycopg 3 (the project's driver) has no
replication-protocol support, and psycopg2's ``LogicalReplicationConnection`` would add a
second driver for the one thing the SQL functions already do. ``pg_logical_slot_peek_binary_changes``
reads whole transactions without consuming them, and ``pg_replication_slot_advance`` moves the
slot on only when we say so: after the warehouse commit. That order is the exactly-once
argument (docs/reliability.md, "Change data capture"). The cost: the server decodes from the
slot's restart point on every peek, so a drain keeps its batches small and advances often.

One slot and one publication per table, so each raw asset drains, publishes and advances on
its own, like a cursor-mode extraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from orchestration.cdc.pgoutput import format_lsn, parse_lsn

PLUGIN = "pgoutput"


class CdcSourceError(RuntimeError):
    """The source cannot feed change data capture as configured; says what to do."""


class SlotLostError(CdcSourceError):
    """The slot was dropped or invalidated: changes may be gone; a re-snapshot recovers."""


@dataclass(frozen=True)
class SlotState:
    name: str
    confirmed_flush_lsn: int | None
    wal_status: str | None  # reserved, extended, unreserved, lost (PostgreSQL 13+)
    retained_bytes: int  # WAL the slot keeps on the source's disk
    active: bool


def slot_name(prefix: str, table: str) -> str:
    name = f"{prefix}_{table}".lower()
    if len(name) > 63 or not all(c.isalnum() or c == "_" for c in name):
        raise CdcSourceError(
            f"{table}: replication slot name {name!r} (CDC_SLOT_PREFIX + table) must be at most 63 "
            "lower-case letters, digits or underscores"
        )
    return name


def publication_name(prefix: str, table: str) -> str:
    return slot_name(prefix, table)


def check_server(conn: sa.Connection, table: str) -> None:
    """The server can decode: wal_level=logical. Fails naming the setting and the fix."""
    wal_level = conn.execute(sa.text("show wal_level")).scalar_one()
    if wal_level != "logical":
        raise CdcSourceError(
            f"{table}: mode cdc needs the source PostgreSQL at wal_level=logical, it runs wal_level={wal_level}. "
            "Set wal_level = logical in postgresql.conf (Cloud SQL: cloudsql.logical_decoding=on; RDS: "
            "rds.logical_replication=1) and restart the server, or set mode: cursor for this table"
        )


def read_slot(conn: sa.Connection, slot: str) -> SlotState | None:
    row = conn.execute(
        sa.text(
            "select slot_name, confirmed_flush_lsn::text, wal_status, "
            "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, active "
            "from pg_replication_slots where slot_name = :slot and database = current_database()"
        ),
        {"slot": slot},
    ).one_or_none()
    if row is None:
        return None
    name, confirmed, wal_status, retained, active = row
    return SlotState(
        name, parse_lsn(confirmed) if confirmed else None, wal_status, int(retained), bool(active)
    )


def check_replica_identity(conn: sa.Connection, table: str) -> None:
    """Refuse a table whose updates and deletes a publication would make fail at the source.

    PostgreSQL rejects UPDATE and DELETE on a published table without a replica identity
    (REPLICA IDENTITY NOTHING, or DEFAULT without a primary key): creating the publication
    would break the source's writers, so it is never created for such a table.
    """
    row = conn.execute(
        sa.text(
            "select c.relreplident, exists (select 1 from pg_index i where i.indrelid = c.oid and i.indisprimary) "
            "from pg_class c where c.oid = cast(:table as regclass)"
        ),
        {"table": f'"{table}"'},
    ).one()
    identity, has_primary_key = row
    if identity == "n" or (identity == "d" and not has_primary_key):
        raise CdcSourceError(
            f"{table}: mode cdc needs a replica identity for updates and deletes; the table has "
            f"{'REPLICA IDENTITY NOTHING' if identity == 'n' else 'no primary key'}. Add a primary key or run "
            f'ALTER TABLE "{table}" REPLICA IDENTITY FULL (docs/reliability.md, "REPLICA IDENTITY")'
        )


def ensure_publication(conn: sa.Connection, publication: str, table: str) -> None:
    exists = conn.execute(
        sa.text("select count(*) from pg_publication where pubname = :name"), {"name": publication}
    ).scalar_one()
    if not exists:
        conn.execute(sa.text(f'create publication "{publication}" for table "{table}"'))
    conn.commit()  # a slot cannot be created in a transaction that has written


def create_slot(conn: sa.Connection, slot: str) -> int:
    """Create the slot; returns its consistent point (changes committed after it are decoded).

    Committed on return: a snapshot read after this call sees every transaction the slot will
    not decode (docs/reliability.md).
    """
    lsn = conn.execute(
        sa.text("select lsn::text from pg_create_logical_replication_slot(:slot, :plugin)"),
        {"slot": slot, "plugin": PLUGIN},
    ).scalar_one()
    conn.commit()
    return parse_lsn(lsn)


def peek_changes(
    conn: sa.Connection, slot: str, publication: str, max_changes: int
) -> list[tuple[int, bytes]]:
    """Up to about ``max_changes`` messages, whole transactions only, without consuming them."""
    rows = conn.execute(
        sa.text(
            "select lsn::text, data from pg_logical_slot_peek_binary_changes("
            "cast(:slot as name), null, :n, 'proto_version', '1', 'publication_names', :pub)"
        ),
        {"slot": slot, "n": max_changes, "pub": publication},
    ).all()
    conn.commit()  # release the slot: a held transaction would keep it active
    return [(parse_lsn(lsn), bytes(data)) for lsn, data in rows]


def advance_slot(conn: sa.Connection, slot: str, lsn: int) -> None:
    """Confirm everything up to ``lsn``: the source may recycle that WAL. Only after the warehouse commit."""
    conn.execute(
        sa.text("select pg_replication_slot_advance(cast(:slot as name), cast(:lsn as pg_lsn))"),
        {"slot": slot, "lsn": format_lsn(lsn)},
    )
    conn.commit()


def drop_slot(conn: sa.Connection, slot: str) -> None:
    conn.execute(sa.text("select pg_drop_replication_slot(:slot)"), {"slot": slot})
    conn.commit()
