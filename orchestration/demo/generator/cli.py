"""``python -m orchestration.demo.generator``: generate, then optionally advance."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from orchestration.demo import schema
from orchestration.demo.generator.api import advance, generate
from orchestration.demo.generator.common import max_timestamp
from orchestration.demo.generator.scale import Scale


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.demo.generator",
        description="Deterministic demo data for the operational database.",
    )
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the operational database")
    parser.add_argument(
        "--scale", default="demo", help="tiny, demo, or a multiplier of demo's history (e.g. 20)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--end", type=datetime.fromisoformat, help="the data's 'now' (naive UTC, ISO format)")
    parser.add_argument(
        "--advance-days", type=int, help="advance existing data by N days (generating first if it is empty)"
    )
    args = parser.parse_args(argv)
    engine = sa.create_engine(args.url)
    try:
        schema.create_schema(engine)
        with engine.connect() as conn:
            empty = max_timestamp(conn) is None
    finally:
        engine.dispose()
    if empty or args.advance_days is None:
        summary = generate(args.url, Scale.named(args.scale), seed=args.seed, end=args.end)
        print(f"generated {summary.url} up to {summary.end} in {summary.seconds}s: {summary.rows}")
    if args.advance_days:
        adv = advance(args.url, days=args.advance_days, seed=args.seed)
        print(
            f"advanced {adv.url} to {adv.end} in {adv.seconds}s: inserted {adv.rows}, updated {adv.updated_rows}"
        )
