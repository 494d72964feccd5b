"""Change data capture: every committed change of a ``mode: cdc`` table, exactly once, into raw."""
