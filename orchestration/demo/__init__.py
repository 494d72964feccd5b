"""Demo data: the operational database generator and the Marketo sandbox."""
