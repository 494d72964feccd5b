"""Deterministic demo data for the operational database.

``generate`` fills an empty database (SQLite, PostgreSQL or MariaDB) with a
distributor's history up to ``end``; ``advance`` moves that history forward by a
few days, inserting new rows and updating existing ones the way the live system
would, so that incremental extraction has something real to pick up.

Everything is computed with numpy from one ``default_rng`` seed, in integer cents
and whole epoch seconds, before any database is touched: the same seed, end and
scale give the same values on every backend. Large tables are produced and
written in fixed-size chunks (the chunking does not depend on the backend), so
memory stays bounded at tens of millions of order items.

The package, by job: ``scale`` (how much), ``seed`` (the full history, entity by
entity, with ``rows`` holding the row builders that ``clock`` reuses and ``rhythm``
each pharmacy's reorder cycle and staples), ``bulk``
(each backend's fastest write path), ``live`` and ``clock`` (moving the demo clock
forward), ``api`` (the two entry points) and ``cli``.

    python -m orchestration.demo.generator --url sqlite:///ops.db --scale demo
"""

from orchestration.demo.generator.api import AdvanceSummary, GenerationSummary, advance, generate
from orchestration.demo.generator.cli import main
from orchestration.demo.generator.scale import Scale

__all__ = ["AdvanceSummary", "GenerationSummary", "Scale", "advance", "generate", "main"]
