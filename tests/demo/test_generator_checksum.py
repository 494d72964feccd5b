"""A fixed seed keeps producing the same rows, byte for byte, release after release.

The digests below were last recomputed when each pharmacy gained a reorder cycle for its
staples (issue #15, rhythm.py); before that when the generator gained its signal for the marts
(issue #15: monthly price moves, a known elasticity per product, holiday effects on demand),
and before that they dated from the generator's split into a package (issue #13). Any change to
them means the demo data changed, which must be deliberate.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator import Scale, advance, generate

END = datetime(2025, 6, 15, 14, 0, 0)
GENERATED_SHA256 = "d9fee27ae64f2517ce3983e64e5235de75631a2676e09ea1e33bfdb5833fba3e"
ADVANCED_SHA256 = "85e14b1bfea7218e87538686ab5c36e70c32c430149c94dae11ab40a0803fc37"


def _digest(url: str) -> str:
    """One SHA-256 over every table's rows in primary-key order."""
    digest = hashlib.sha256()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for table in schema.TABLES:
                rows = conn.execute(sa.select(table).order_by(table.c.id))
                digest.update(table.name.encode())
                digest.update(repr([tuple(r) for r in rows]).encode())
    finally:
        engine.dispose()
    return digest.hexdigest()


def test_fixed_seed_reproduces_the_recorded_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    generate(url, Scale.tiny(), seed=42, end=END)
    assert _digest(url) == GENERATED_SHA256
    advance(url, days=2, seed=7)
    assert _digest(url) == ADVANCED_SHA256
