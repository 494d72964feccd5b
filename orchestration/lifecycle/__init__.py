"""Data lifecycle: hard-delete detection, retention windows and data-subject erasure (LGPD)."""
