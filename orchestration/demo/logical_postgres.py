"""A PostgreSQL of the demo's own, with ``wal_level=logical``, from PyPI's ``pgserver``.

Change data capture needs a server that decodes its WAL; the one a machine already runs may
not (this one's runs ``wal_level=replica``, and it is not ours to reconfigure). ``pgserver``
ships PostgreSQL 16's binaries, ``pgoutput`` included, inside its wheel, so ``make demo-cdc``
and the CDC tests start their own with nothing installed by hand. It listens on a Unix socket
in the data directory only (no TCP port to collide with), and run as root it creates a system
user ``pgserver`` and runs the server as that user (PostgreSQL refuses root), widening the
data directory's parents to o+rx so that user can reach it.

pgserver starts the server without options, so the settings go in with ``ALTER SYSTEM``
(``postgresql.auto.conf``) and the server is started again once; a data directory that has
them already starts once.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import sqlalchemy as sa

# Enough slots for every table in mode cdc (one each) and the tests' databases on one server.
LOGICAL_DECODING = {"wal_level": "logical", "max_replication_slots": "40", "max_wal_senders": "10"}


def _server(data_dir: Path, cleanup_mode: str):
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root, CI) and uses /tmp/runtime-<uid>.
        warnings.simplefilter("ignore")
        import pgserver

    return pgserver.get_server(data_dir, cleanup_mode=cleanup_mode)


def _url(server) -> str:
    """pgserver's libpq URI (``postgresql://postgres:@/postgres?host=<socket dir>``) for SQLAlchemy."""
    return server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)


def _apply(url: str, settings: Mapping[str, str]) -> bool:
    """``ALTER SYSTEM`` each setting whose value (as SHOW prints it) differs; True when one did.

    A value given in another form than SHOW's (``1024kB`` for ``1MB``) only costs a restart."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    changed = False
    try:
        with engine.connect() as conn:
            for name, value in settings.items():
                if (
                    conn.execute(sa.text("select current_setting(:name)"), {"name": name}).scalar_one()
                    != value
                ):
                    conn.execute(sa.text(f"alter system set {name} = '{value}'"))
                    changed = True
    finally:
        engine.dispose()
    return changed


@contextlib.contextmanager
def logical_postgres(
    data_dir: Path, settings: Mapping[str, str] | None = None, *, remove: bool = True
) -> Iterator[str]:
    """Start a server on ``data_dir`` (created and initialised on first use) with
    ``LOGICAL_DECODING`` plus ``settings``; yield its admin URL (user postgres, trust auth,
    database postgres); stop it afterwards, and with ``remove`` delete ``data_dir``."""
    wanted = {**LOGICAL_DECODING, **(settings or {})}
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = _server(data_dir, "stop")
    try:
        if _apply(_url(server), wanted):
            server.cleanup()  # stops it; the next start reads postgresql.auto.conf
            server = _server(data_dir, "stop")
        server.cleanup_mode = "delete" if remove else "stop"
        url = _url(server)
        _check_logical(url)
        yield url
    finally:
        server.cleanup()


def _check_logical(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            wal_level = conn.execute(sa.text("show wal_level")).scalar_one()
    finally:
        engine.dispose()
    if wal_level != "logical":
        raise RuntimeError(
            f"the embedded PostgreSQL runs wal_level={wal_level} after ALTER SYSTEM wal_level=logical"
        )


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new database ``<prefix><random>`` on that server for the block; afterwards every
    replication slot left in it (no longer active) is dropped, then the database."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
                    "where database = :db and not active"
                ),
                {"db": name},
            )
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
