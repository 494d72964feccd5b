"""Completeness reconciliation: find and repair divergence between a source table and raw.

compare.py holds the algorithm, sides.py the SQL of each side, table.py the entry points
(:func:`check_table`, :func:`repair_table`) that the Dagster check and repair job call.
"""

from orchestration.lifecycle.completeness.compare import Divergence
from orchestration.lifecycle.completeness.table import RepairOutcome, check_table, repair_table

__all__ = ["Divergence", "RepairOutcome", "check_table", "repair_table"]
