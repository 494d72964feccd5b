"""The demo's operational database: generated the first time the demo needs it.

Production never generates data; the demo command, ``make dev`` and tests call this.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa


def ensure_demo_database(url: str, scale_name: str = "demo", *, log=None) -> None:
    """Create and fill the demo SQLite database the first time it is needed."""
    path = sa.engine.make_url(url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    try:
        if sa.inspect(engine).has_table("orders"):
            return
    finally:
        engine.dispose()
    from orchestration.demo.generator import Scale, generate

    if log:
        log.info(f"Generating the demo operational database ({scale_name}) at {path}")
    generate(url, Scale.named(scale_name))
