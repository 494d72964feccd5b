"""Extraction's size limits, defined once: the resources, readers and quarantine import them."""

# Rows per Arrow batch read from a source: memory is bounded by the batch, not by the table.
DEFAULT_CHUNK_ROWS = 100_000

# Text fields longer than this (in characters) are rejected into quarantine, not truncated.
DEFAULT_MAX_FIELD_CHARS = 1_000_000
