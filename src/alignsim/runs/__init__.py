"""Run folders: their layout and manifest, resuming, the Python entry point and the report."""
