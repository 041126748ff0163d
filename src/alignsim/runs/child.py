"""A child run folder: a run derived from a parent run folder (e.g. updated on news).

It holds the child's resolved config, a manifest that records its parent, its summary, its
replicate weights and the tables of the analyses behind it. Written with the run folder's
atomic writes; the folder is created last, once everything is computed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alignsim.runs import folder as runstore
from alignsim.runs.folder import RunFolder
from alignsim.scenario import Scenario


def write_child_run(parent_dir: Path | None, scenario: Scenario, summary: dict, parent_record: dict, extra: dict,
                    tables: dict[str, pd.DataFrame], weights: pd.DataFrame, out: str | Path | None = None) -> Path:
    """Create the child folder (never an existing one) and write everything into it.

    The manifest goes through ``RunFolder.start`` (status running) and ``finish`` (complete), so
    ``runs/folder.py`` stays the one writer of ``manifest.json``.
    """
    folder = RunFolder.create(f"{scenario.name}-update", out)
    man = runstore.manifest(scenario, None, summary["seed"], summary["replicates"], parent_record.get("draws", 0),
                            parent_record.get("batch_size", scenario.monte_carlo.batch_size),
                            kind="update", parent=None if parent_dir is None else str(parent_dir),
                            parent_config_sha256=parent_record.get("config_sha256"),
                            parent_seed=parent_record.get("seed"), **extra)
    try:
        folder.start(scenario, man)
        folder.write_json("summary.json", summary)
        folder.write_parquet("weights.parquet", weights)
        for name, frame in tables.items():
            folder.write_csv(name, frame)
        folder.finish()
    finally:
        folder.close(remove_lock=True)
    return folder.path
