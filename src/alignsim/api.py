"""One call for notebooks and the command line: config in, result object with DataFrames out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import estimates, figures, runstore
from .ensemble import EnsembleResult, run_ensemble
from .evidence import evidence_table
from .scenario import Scenario, load_scenario


@dataclass
class RunResult:
    """A finished run: ``summary`` (plain data, as in summary.json) and tidy tables."""

    scenario: Scenario
    ensemble: EnsembleResult
    summary: dict
    out_dir: Path | None
    wall_seconds: float

    @property
    def cumulative(self) -> pd.DataFrame:
        return estimates.cumulative(self.ensemble)

    @property
    def year_ends(self) -> pd.DataFrame:
        return estimates.year_ends(self.ensemble)

    @property
    def membership(self) -> pd.DataFrame:
        return estimates.membership(self.ensemble)

    @property
    def contributions(self) -> pd.DataFrame:
        return estimates.contributions(self.ensemble)

    @property
    def gap_quantiles(self) -> pd.DataFrame:
        return estimates.gap_quantiles(self.ensemble)

    @property
    def replicates(self) -> pd.DataFrame | None:
        return self.ensemble.replicates_table

    @property
    def evidence(self) -> pd.DataFrame:
        return evidence_table(self.scenario)


def run(config: str | Path | Scenario, replicates: int | None = None, seed: int | None = None,
        out: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
        save: bool = True, batch_size: int | None = None, progress: bool = False,
        map_batches=None) -> RunResult:
    """Run a scenario and (with ``save``) write its run folder.

    Args:
        config: a scenario file path or a loaded ``Scenario``.
        replicates, seed, batch_size: override the scenario's Monte Carlo settings.
        out: the run folder (must not exist); default ``runs/<scenario>-<timestamp>``.
        overrides: ``path=value`` strings, validated like the file.
        map_batches: a parallel batch map (see ``ensemble.run_ensemble``); default in-process.
    """
    scenario = config if isinstance(config, Scenario) else load_scenario(config, overrides)
    mc = scenario.monte_carlo
    replicates = mc.replicates if replicates is None else replicates
    seed = mc.seed if seed is None else seed
    batch_size = mc.batch_size if batch_size is None else batch_size
    out_dir = runstore.new_run_dir(scenario.name, out) if save else None
    bar = _progress(replicates, progress)
    started = time.perf_counter()
    ens = run_ensemble(scenario, replicates, seed, batch_size=batch_size,
                       on_batch=(lambda k, res: bar.update(len(res.replicates))) if bar else None,
                       map_batches=map_batches)
    wall = time.perf_counter() - started
    if bar:
        bar.close()
    summary = estimates.summarise(ens)
    result = RunResult(scenario, ens, summary, out_dir, wall)
    if out_dir is not None:
        summary["output"] = str(out_dir)
        save_run(result, None if isinstance(config, Scenario) else str(config), list(overrides))
    return result


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="rep", desc="replicates", disable=None, leave=False)


def save_run(result: RunResult, config_path: str | None, overrides: list[str]) -> None:
    """Write the run folder: config, manifest, summary, tables and figures."""
    d = result.out_dir
    if d is None:
        raise ValueError("save_run needs a run folder")
    s, ens = result.scenario, result.ensemble
    runstore.write_config(d / "config.resolved.yaml", s)
    runstore.write_json(d / "manifest.json", runstore.manifest(
        s, config_path, ens.seed, ens.replicates, len(ens.draws), s.monte_carlo.batch_size,
        result.wall_seconds, overrides))
    runstore.write_json(d / "summary.json", result.summary)
    if ens.replicates_table is not None:
        runstore.write_parquet(d / "replicates.parquet", ens.replicates_table)
    cum = result.cumulative
    quarters = cum.merge(result.membership, on=["step", "quarter"], suffixes=("", "_member"))
    quarters = quarters.merge(result.gap_quantiles.add_prefix("dU_").rename(columns={"dU_quarter": "quarter"}), on="quarter")
    runstore.write_csv(d / "quarters.csv", quarters)
    runstore.write_csv(d / "contributions.csv", result.contributions)
    runstore.write_csv(d / "year_ends.csv", result.year_ends)
    runstore.write_csv(d / "evidence.csv", result.evidence)
    event = s.event.kind.replace("_", " ")
    focal = s.actors[s.focal].name
    figs = {
        "cumulative.png": figures.cumulative_figure(
            cum, result.year_ends, f"{focal} and the {s.bloc.short}: P({event}) as seen from {s.start}", event),
        "contributions.png": figures.contributions_figure(
            result.contributions, {k: v.direction for k, v in s.drivers.items()},
            f"What drives the decision: mean contribution to dU, {s.start} to {s.end}"),
        "gap_fan.png": figures.gap_fan_figure(result.gap_quantiles, f"Utility gap dU across replicates ({s.name})"),
    }
    for name, fig in figs.items():
        runstore.save_figure(d / name, fig)
        figures.plt.close(fig)
