"""A child run folder: a run derived from a parent run folder (e.g. updated on news).

It holds the child's resolved config, a manifest that records its parent, its summary, its
replicate weights and the tables of the analyses behind it. Written with the run folder's
atomic writes; the folder is created last, once everything is computed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alignsim.runs import folder as runstore
from alignsim.scenario import Scenario


def write_child_run(parent_dir: Path | None, scenario: Scenario, summary: dict, parent_manifest: dict, extra: dict,
                    tables: dict[str, pd.DataFrame], weights: pd.DataFrame, out: str | Path | None = None) -> Path:
    """Create the child folder (never an existing one) and write everything into it."""
    d = runstore.new_run_dir(f"{scenario.name}-update", out)
    runstore.write_config(d / "config.resolved.yaml", scenario)
    man = runstore.manifest(scenario, None, summary["seed"], summary["replicates"], parent_manifest.get("draws", 0),
                            parent_manifest.get("batch_size", scenario.monte_carlo.batch_size), 0.0)
    man.update({"kind": "update", "parent": None if parent_dir is None else str(parent_dir), "parent_config_sha256": parent_manifest.get("config_sha256"),
                "parent_seed": parent_manifest.get("seed"), **extra})
    runstore.write_json(d / "manifest.json", man)
    runstore.write_json(d / "summary.json", summary)
    runstore.write_parquet(d / "weights.parquet", weights)
    for name, frame in tables.items():
        runstore.write_csv(d / name, frame)
    return d
