"""Streaming extraction from the operational database into Arrow record batches."""
