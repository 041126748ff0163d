"""The standard sensitivity set for a scenario, from one command, with its wall time.

    .venv/bin/python experiments/standard_set.py [experiments/standard_set.yaml] [--workers 2] [--out DIR]

Writes one folder (default ``runs/standard-<scenario>-<time>``) holding:
tornado.csv/png, the heatmap sweep (heatmap.csv/png), sobol.csv/png (first- and total-order
indices with 95% intervals), basis_share.csv (variance share of judgement priors), morris.csv,
discovery_boxes.csv/discovery_limits.csv/discovery.txt (PRIM boxes), summary.md and
manifest.json, discovery_samples.parquet (each draw's parameters and probability). Every analysis calls ``ensemble.simulate`` with the same seed and replicate
indices at every point (common random numbers). Settings live in the YAML file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from alignsim.outputs import figures
from alignsim.runs import folder as runstore
from alignsim.analyses.discovery import discovery_text, prim_boxes
from alignsim.errors import AlignsimError
from alignsim.engine.priors import params_from_quantiles, salib_problem
from alignsim.scenario import load_scenario
from alignsim.analyses.sensitivity import (basis_share, morris_screening, noise_share, scenario_model, sobol_figure,
                                  sobol_indices, tornado, tornado_figure, with_basis)
from alignsim.analyses.sweep import PointRunner, Sweep, sweep_figure, validate_spec


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TornadoSettings(_S):
    replicates: int = Field(ge=10)
    low: float = Field(0.05, ge=0, le=1)
    high: float = Field(0.95, ge=0, le=1)


class SobolSettings(_S):
    n_base: int = Field(ge=2)
    replicates: int = Field(ge=10)


class MorrisSettings(_S):
    trajectories: int = Field(ge=2)
    levels: int = Field(4, ge=2)
    replicates: int = Field(ge=10)


class DiscoverySettings(_S):
    samples: int = Field(ge=10)
    replicates: int = Field(ge=10)
    interest: float = Field(gt=0, lt=1)
    min_density: float = Field(gt=0, le=1)
    max_boxes: int = Field(3, ge=1)
    max_dims: int = Field(3, ge=1)
    mass_min: float = Field(0.05, gt=0, lt=1)


class StandardSet(_S):
    """``experiments/standard_set.yaml``: every number is an analysis setting."""

    scenario: str
    heatmap: str
    seed: int = Field(ge=0)
    workers: int = Field(2, ge=1)
    tornado: TornadoSettings
    sobol: SobolSettings
    basis_share: SobolSettings
    morris: MorrisSettings
    discovery: DiscoverySettings
    basis: Literal["setting"]
    note: str


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="?", default=str(Path(__file__).with_name("standard_set.yaml")))
    ap.add_argument("--workers", type=int, help="worker processes (default: the settings file's)")
    ap.add_argument("--out", help="folder to create (must not exist)")
    a = ap.parse_args(argv)
    try:
        return run(a.settings, a.workers, a.out)
    except AlignsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(settings_path: str, workers: int | None, out: str | None) -> int:
    started = time.perf_counter()
    here = Path(settings_path).parent
    cfg: StandardSet = validate_spec(StandardSet, runstore_yaml(Path(settings_path)))
    workers = cfg.workers if workers is None else workers
    scenario = load_scenario(here / cfg.scenario)
    heat = Sweep.from_file(here / cfg.heatmap)
    event = scenario.event.kind.replace("_", " ")
    d = runstore.new_run_dir(f"standard-{scenario.name}", out)
    timings: dict[str, float] = {}

    def save_fig(name: str, fig) -> None:
        runstore.save_figure(d / name, fig)
        figures.plt.close(fig)

    def lap(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        print(f"  {name}: {timings[name]:.1f} s", flush=True)

    print(f"standard set for {scenario.name!r} with {workers} worker(s) -> {d}", flush=True)
    with PointRunner(workers) as runner:
        t0 = time.perf_counter()
        tor = tornado(scenario, runner, cfg.seed, cfg.tornado.replicates, cfg.tornado.low, cfg.tornado.high)
        runstore.write_csv(d / "tornado.csv", tor)
        save_fig("tornado.png", tornado_figure(tor, event))
        lap("tornado", t0)

        t0 = time.perf_counter()
        heat_table = heat.run(runner)
        runstore.write_csv(d / "heatmap.csv", heat_table)
        save_fig("heatmap.png", sweep_figure(heat, heat_table, event))
        lap("heatmap", t0)

        problem = salib_problem(scenario)
        t0 = time.perf_counter()
        model = scenario_model(scenario, runner, cfg.seed, cfg.sobol.replicates)
        sob, X, y = sobol_indices(problem, model, cfg.sobol.n_base, cfg.seed)
        sob = with_basis(scenario, sob)
        runstore.write_csv(d / "sobol.csv", sob)
        save_fig("sobol.png", sobol_figure(sob))
        lap("sobol", t0)

        t0 = time.perf_counter()
        share = basis_share(scenario, scenario_model(scenario, runner, cfg.seed, cfg.basis_share.replicates),
                            cfg.basis_share.n_base, cfg.seed)
        runstore.write_csv(d / "basis_share.csv", share)
        lap("basis_share", t0)

        t0 = time.perf_counter()
        mor, _, _ = morris_screening(problem, scenario_model(scenario, runner, cfg.seed, cfg.morris.replicates),
                                     cfg.morris.trajectories, cfg.seed, cfg.morris.levels)
        mor = with_basis(scenario, mor).sort_values("mu_star", ascending=False)
        runstore.write_csv(d / "morris.csv", mor)
        lap("morris", t0)

        # Discovery needs independent draws: Sobol rows share columns by design, and PRIM
        # would peel the design's structure. Plain Monte Carlo in quantile space instead.
        t0 = time.perf_counter()
        U = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5D])).random((cfg.discovery.samples, len(problem["names"])))
        y_d = scenario_model(scenario, runner, cfg.seed, cfg.discovery.replicates)(U)
    x = params_from_quantiles(scenario, problem["names"], U)[problem["names"]]
    runstore.write_parquet(d / "discovery_samples.parquet", x.assign(probability=y_d))
    interest = y_d >= cfg.discovery.interest
    boxes, limits = prim_boxes(x, interest, cfg.discovery.min_density, cfg.discovery.max_boxes,
                               cfg.discovery.max_dims, mass_min=cfg.discovery.mass_min)
    runstore.write_csv(d / "discovery_boxes.csv", boxes)
    runstore.write_csv(d / "discovery_limits.csv", limits)
    label = f"P({event} by {scenario.end}) >= {cfg.discovery.interest} at one of {len(U)} prior draws"
    disc = discovery_text(boxes, limits, float(interest.mean()), label)
    runstore.write_text(d / "discovery.txt", disc + "\n")
    lap("discovery", t0)

    wall = time.perf_counter() - started
    judg = share[share["name"] == "judgement"].iloc[0]
    summary = _summary(scenario.name, tor, heat_table, sob, judg, mor, disc, y, cfg, wall, workers)
    runstore.write_text(d / "summary.md", summary)
    man = runstore.manifest(scenario, str(here / cfg.scenario), cfg.seed, cfg.sobol.replicates,
                            0, scenario.monte_carlo.batch_size, wall)
    man.update({"settings": cfg.model_dump(), "workers": workers, "timings_seconds": timings,
                "sobol_samples": int(len(X)), "common_random_numbers": True})
    runstore.write_json(d / "manifest.json", man)
    print(summary)
    print(f"standard set finished in {wall:.1f} s ({wall / 60:.1f} min) on {workers} worker(s); folder {d}")
    return 0


def runstore_yaml(path: Path) -> dict:
    from alignsim.scenario import read_yaml

    return read_yaml(path, "settings")


def _summary(name: str, tor: pd.DataFrame, heat: pd.DataFrame, sob: pd.DataFrame, judg: pd.Series,
             mor: pd.DataFrame, disc: str, y: np.ndarray, cfg: StandardSet, wall: float, workers: int) -> str:
    top_t = tor.head(5)
    top_s = sob.sort_values("ST", ascending=False).head(5)
    lines = [f"# Standard set: {name}", "",
             f"Wall time {wall:.1f} s on {workers} worker(s).", "",
             f"## Tornado (quantiles {cfg.tornado.low}-{cfg.tornado.high}, {cfg.tornado.replicates} replicates per point)",
             f"Base probability {tor['p_base'].iloc[0]:.4f}.", ""]
    lines += [f"- {r['name']} ({r['basis']}): {r['p_low']:.4f} -> {r['p_high']:.4f}, swing {r['swing']:+.4f} "
              f"[{r['swing_low']:+.4f}, {r['swing_high']:+.4f}]" for _, r in top_t.iterrows()]
    lines += ["", f"## Heatmap: probability from {heat['estimate'].min():.4f} to {heat['estimate'].max():.4f} over the grid", "",
              f"## Sobol (N={cfg.sobol.n_base}, {len(y)} samples x {cfg.sobol.replicates} inner replicates)",
              f"Variance of P across samples {np.var(y, ddof=1):.3g}; binomial noise share "
              f"{noise_share(y, cfg.sobol.replicates):.3f} (before the reduction from common random numbers).",
              f"Sum of S1 {sob['S1'].sum():.3f}; sum of S1 over judgement priors {sob.loc[sob['basis'] == 'judgement', 'S1'].sum():.3f}.", ""]
    lines += [f"- {r['name']} ({r['basis']}): S1 {r['S1']:.3f} +/- {r['S1_conf']:.3f}, ST {r['ST']:.3f} +/- {r['ST_conf']:.3f}"
              for _, r in top_s.iterrows()]
    lines += ["", f"## Share of variance from judgement priors (grouped Sobol, N={cfg.basis_share.n_base})",
              f"First order {judg['S1']:.3f} +/- {judg['S1_conf']:.3f}; total order {judg['ST']:.3f} +/- {judg['ST_conf']:.3f} "
              f"({int(judg['priors'])} judgement priors).", "",
              f"## Morris (r={cfg.morris.trajectories}): top mu_star", ""]
    lines += [f"- {r['name']} ({r['basis']}): mu* {r['mu_star']:.4f} +/- {r['mu_star_conf']:.4f}, sigma {r['sigma']:.4f}"
              for _, r in mor.head(5).iterrows()]
    lines += ["", "## Scenario discovery (PRIM, EMA Workbench)", "", "```", disc, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
