"""Data Docs page views that compile GE's Jinja templates once per process.

GE builds a new Jinja ``Environment`` for every page view, and the site builder makes new
views for every validation, so each suite run parsed and compiled the same templates again:
about half of a small suite's validation time in the demo's profile, most of it in
``Environment.compile``. Jinja's bytecode cache is the documented way to skip that; GE has
no setting for it, but lets a docs site name its view classes, so these subclasses attach
one shared in-memory cache. Entries are keyed by template name and source checksum (Jinja's
own bucket key), so a changed template is compiled again.
"""

from __future__ import annotations

import threading

from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class _InMemoryBytecodeCache(BytecodeCache):
    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def load_bytecode(self, bucket: Bucket) -> None:
        with self._lock:
            code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        code = bucket.bytecode_to_string()
        with self._lock:
            self._code[bucket.key] = code


BYTECODE_CACHE = _InMemoryBytecodeCache()


class CachedJinjaPageView(DefaultJinjaPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = BYTECODE_CACHE


class CachedJinjaIndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = BYTECODE_CACHE


def view_config(index: bool = False) -> dict[str, str]:
    """The ``view`` entry of a docs site section (or of its index builder)."""
    return {
        "module_name": __name__,
        "class_name": (CachedJinjaIndexPageView if index else CachedJinjaPageView).__name__,
    }
