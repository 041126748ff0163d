"""Saving batches as they finish, resuming an interrupted run, and re-running from a manifest.

A saving run writes, in its run folder:

- ``manifest.json`` at the start, with ``"status": "running"`` (config hash, seed, replicates,
  batch size, overrides, versions, platform), rewritten with ``"status": "complete"`` at the end;
- ``batches/batch-00012.totals.npz`` (the batch's per-quarter integer totals) and then
  ``batches/batch-00012.parquet`` (one row per replicate), each written atomically, as each
  batch completes. A batch counts as saved when both files exist.

A run killed at any moment (SIGINT, SIGTERM, SIGKILL) therefore leaves only whole files.
``prepare_resume`` reads them back so ``ensemble.run_ensemble(done=...)`` skips the saved batches;
because every random number is keyed by replicate number, the resumed run's numbers are identical
to those of an uninterrupted run.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alignsim.runs import folder as runstore
from alignsim.engine.ensemble import BatchResult, QuarterTotals, batch_bounds
from alignsim.errors import ConfigError, RunError
from alignsim.scenario import Scenario, load_scenario, validate_document

BATCH_DIR = "batches"
_BATCH = re.compile(r"^batch-(\d{5,})\.parquet$")
_TOTALS_FIELDS = ("member", "gap", "gap_hist", "contributions", "variables", "member_by_draw",
                  "member_draw_ids")


# ---------------------------------------------------------------- saving batches

def batch_paths(run_dir: Path, k: int) -> tuple[Path, Path]:
    """(replicates parquet, totals npz) of batch ``k`` in ``run_dir``."""
    base = Path(run_dir) / BATCH_DIR / f"batch-{k:05d}"
    return base.with_name(base.name + ".parquet"), base.with_name(base.name + ".totals.npz")


def save_batch(run_dir: Path, k: int, result: BatchResult) -> None:
    """Write batch ``k`` atomically: its totals first, then its replicates (the completion mark)."""
    table_path, totals_path = batch_paths(run_dir, k)
    t = result.totals

    def write_totals(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, n=np.int64(t.n), **{f: getattr(t, f) for f in _TOTALS_FIELDS})

    runstore._atomic(totals_path, write_totals)
    runstore.write_parquet(table_path, result.replicates)


class BatchSaver:
    """An ``on_batch`` callback that saves each finished batch, then calls ``then`` (if any)."""

    def __init__(self, run_dir: Path, then=None) -> None:
        self.run_dir = Path(run_dir)
        self.then = then

    def __call__(self, k: int, result: BatchResult) -> None:
        save_batch(self.run_dir, k, result)
        if self.then is not None:
            self.then(k, result)


def load_batches(run_dir: Path, replicates: int, batch_size: int) -> dict[int, BatchResult]:
    """The saved batches of ``run_dir`` by batch number (only those with both files).

    Raises ``RunError`` if a saved batch does not match the recorded batch layout.
    """
    folder = Path(run_dir) / BATCH_DIR
    bounds = batch_bounds(replicates, batch_size)
    done: dict[int, BatchResult] = {}
    if not folder.is_dir():
        return done
    for path in sorted(folder.iterdir()):
        match = _BATCH.match(path.name)
        if match is None:
            continue  # temporary files left by a kill, totals files, anything else
        k = int(match.group(1))
        table_path, totals_path = batch_paths(run_dir, k)
        if not totals_path.is_file():
            continue  # killed between the two writes: the batch is simply run again
        if k >= len(bounds):
            raise RunError(f"{path}: batch {k} is beyond the run's {len(bounds)} batches; the folder does not "
                           "match its manifest")
        table = pd.read_parquet(table_path)
        with np.load(totals_path) as z:
            totals = QuarterTotals(int(z["n"]), *(z[f] for f in _TOTALS_FIELDS))
        start, stop = bounds[k]
        if len(table) != stop - start or totals.n != stop - start or table.index[0] != start:
            raise RunError(f"{path}: holds {len(table)} replicates from {table.index[0] if len(table) else '-'}, "
                           f"expected {stop - start} from {start}; the folder does not match its manifest")
        done[k] = BatchResult(table, totals)
    return done


def remove_batches(run_dir: Path) -> None:
    """Drop the per-batch files once the run's final files are written."""
    shutil.rmtree(Path(run_dir) / BATCH_DIR, ignore_errors=True)


# ---------------------------------------------------------------- manifest

def read_manifest(path: Path, field: str = "--resume") -> dict[str, Any]:
    """Read a ``manifest.json`` (or the one in a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        raise ConfigError(field, str(path), "a run folder holding manifest.json (or a manifest.json file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(field, str(path), f"a JSON manifest written by alignsim ({exc.__class__.__name__})") from None
    needed = ("config_sha256", "seed", "replicates", "batch_size")
    if not isinstance(data, dict) or any(k not in data for k in needed):
        raise ConfigError(field, str(path), f"a manifest with fields {list(needed)}")
    return data


def start_manifest(run_dir: Path, scenario: Scenario, config_path: str | None, seed: int, replicates: int,
                   draws: int, batch_size: int, overrides: list[str] | tuple[str, ...]) -> None:
    """Record the run before any batch: the folder is resumable from here on."""
    runstore.write_config(Path(run_dir) / "config.resolved.yaml", scenario)
    data = runstore.manifest(scenario, config_path, seed, replicates, draws, batch_size, 0.0, overrides)
    data["status"] = "running"
    runstore.write_json(Path(run_dir) / "manifest.json", data)


def _recorded_scenario(run_dir: Path, data: dict[str, Any]) -> tuple[Scenario, str | None]:
    """The scenario as recorded: re-read from the recorded path, else from config.resolved.yaml."""
    path = data.get("config_path")
    if path and Path(path).is_file():
        return load_scenario(path, list(data.get("overrides") or [])), path
    resolved = Path(run_dir) / "config.resolved.yaml"
    if not resolved.is_file():
        raise RunError(f"{run_dir}: no config given, the recorded config {path!r} is gone and there is no "
                       "config.resolved.yaml; pass the config file to resume with")
    doc = yaml.safe_load(resolved.read_text(encoding="utf-8"))
    doc.pop("include", None)
    return validate_document(doc), None


def check_same(field: str, given: int | None, recorded: int) -> int:
    if given is not None and int(given) != int(recorded):
        raise RunError(f"{field} {given} differs from the recorded {recorded}; a resumed or reproduced run "
                       "keeps the recorded settings (omit the flag)")
    return int(recorded)


@dataclass
class ResumePlan:
    """Everything ``api.run`` needs to complete an interrupted run in place."""

    run_dir: Path
    scenario: Scenario
    config_path: str | None
    overrides: list[str]
    seed: int
    replicates: int
    batch_size: int
    done: dict[int, BatchResult]


def prepare_resume(run_dir: str | Path, config: str | Path | Scenario | None = None,
                   overrides: list[str] | tuple[str, ...] = (), replicates: int | None = None,
                   seed: int | None = None, batch_size: int | None = None) -> ResumePlan:
    """Check an interrupted run folder against its manifest and load its saved batches.

    ``config`` (optional) must resolve to the recorded configuration (same hash), else the
    resume is refused; without it the recorded config path and overrides are used.
    """
    run_dir = Path(run_dir)
    data = read_manifest(run_dir)
    if data.get("status") == "complete":
        raise RunError(f"--resume {run_dir}: the run is already complete; start a new run instead")
    if config is None:
        scenario, config_path = _recorded_scenario(run_dir, data)
        overrides = list(data.get("overrides") or [])
    elif isinstance(config, Scenario):
        scenario, config_path = config, data.get("config_path")
    else:
        scenario, config_path = load_scenario(config, overrides), str(config)
    digest = runstore.config_hash(scenario)
    if digest != data["config_sha256"]:
        raise RunError(f"--resume {run_dir}: the config differs from the recorded one (sha256 {digest[:12]} vs "
                       f"{str(data['config_sha256'])[:12]}); resume with the same config and --set overrides, "
                       "or start a new run")
    seed = check_same("--seed", seed, data["seed"])
    replicates = check_same("--replicates", replicates, data["replicates"])
    batch_size = check_same("--batch-size", batch_size, data["batch_size"])
    done = load_batches(run_dir, replicates, batch_size)
    return ResumePlan(run_dir, scenario, config_path, list(overrides), seed, replicates, batch_size, done)


def manifest_run_args(file: str | Path, replicates: int | None = None, seed: int | None = None,
                      batch_size: int | None = None) -> dict[str, Any]:
    """Keyword arguments for ``api.run`` that reproduce the run recorded in ``file``.

    The recorded config file (with the recorded overrides) must still hash to the recorded
    value; a changed file is refused rather than silently giving other numbers.
    """
    data = read_manifest(Path(file), "--from-manifest")
    path = data.get("config_path")
    if not path:
        raise RunError(f"--from-manifest {file}: the run was made from an in-memory scenario (no config_path)")
    overrides = list(data.get("overrides") or [])
    scenario = load_scenario(path, overrides)
    digest = runstore.config_hash(scenario)
    if digest != data["config_sha256"]:
        raise RunError(f"--from-manifest {file}: {path} now resolves to a different config (sha256 {digest[:12]} "
                       f"vs recorded {str(data['config_sha256'])[:12]}); restore the file to reproduce the run")
    return {"config": path, "overrides": overrides,
            "seed": check_same("--seed", seed, data["seed"]),
            "replicates": check_same("--replicates", replicates, data["replicates"]),
            "batch_size": int(data["batch_size"]) if batch_size is None else int(batch_size)}


def finish(run_dir: Path, batch_size: int, resumed: bool = False) -> None:
    """Mark the run complete (last of all its files), then drop the per-batch files."""
    path = Path(run_dir) / "manifest.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["batch_size"] = int(batch_size)
    data["status"] = "complete"
    if resumed:
        data["resumed"] = True
    runstore.write_json(path, data)
    remove_batches(run_dir)


def run_source_args(config: str | None, resume: str | None, from_manifest: str | None,
                    out: str | None, overrides: list[str] | tuple[str, ...] = ()) -> None:
    """Check that the command line names one coherent source of a run (raises ``ConfigError``)."""
    if resume and from_manifest:
        raise ConfigError("--from-manifest", from_manifest, "either --resume RUN_DIR or --from-manifest FILE, not both")
    if resume and out:
        raise ConfigError("--out", out, "no --out with --resume (the run folder is completed in place)")
    if from_manifest and (config or overrides):
        raise ConfigError("--from-manifest", from_manifest, "no config file or --set with --from-manifest "
                          "(they come from the manifest)")
    if not (config or resume or from_manifest):
        raise ConfigError("config", None, "a scenario file, --resume RUN_DIR or --from-manifest FILE")


def interrupted_note(run_dir: Path) -> None:
    """Tell the user (on stderr) how to finish an interrupted run."""
    import sys

    n = len(list((Path(run_dir) / BATCH_DIR).glob("batch-*.parquet")))
    print(f"interrupted: {n} completed batches are saved in {run_dir}; finish with "
          f"python -m alignsim run --resume {run_dir}", file=sys.stderr)
