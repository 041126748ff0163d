"""The sensitivity set from a settings file: tornado, a heatmap sweep, screened Sobol, grouped Sobol, Morris, PRIM.

``run_sensitivity(settings_path)`` is what ``alignsim sensitivity SETTINGS`` runs (and what
``experiments/standard_set.py`` runs). The settings file names a scenario and, for each analysis
wanted, its sample sizes; an analysis left out is not run. The priors analysed are the
scenario's uncertain priors (``priors.salib_problem``), never a list in code. Tornado and the
heatmap evaluate points through ``sweep.PointRunner`` with the same seed and replicates at every
point (common random numbers); Sobol, Morris, the judgement share and discovery run their
designs through ``block_model.BlockModel`` (the points of one design row share replicates, rows
have their own), all in one process pool.

Settings (YAML, validated by ``SensitivitySettings``; a bad field is one ``ConfigError`` line)::

    scenario: ../config/base.yaml       # relative to the settings file
    heatmap: ../config/sweeps/x.yaml    # optional: a sweep file run as part of the set
    seed: 20170706
    workers: 2
    tornado: {replicates: 1000, low: 0.05, high: 0.95}
    sobol:                              # see analyses.screened_sobol
      n_base: 4096                      # Saltelli rows per seed (a power of two)
      replicates: 100                   # replicates per point
      second_seed: 20170707             # optional: repeat with a second seed, compare, pool
      screen: {trajectories: 40, levels: 4, replicates: 200, keep: 20}   # optional Morris screening
    basis_share: {n_base: 16, replicates: 500}
    morris: {trajectories: 2, levels: 4, replicates: 500}
    discovery: {samples: 200, replicates: 200, interest: 0.25, min_density: 0.4}
    basis: setting
    note: why these sizes

Writes one folder (default ``runs/sensitivity-<scenario>-<time>``): tornado.csv/png,
heatmap.csv/png, screening.csv (Morris, with the kept priors), sobol.csv/png (first- and
total-order indices per seed and pooled, 95% intervals, inner-noise terms),
sobol_agreement.csv (the two seeds compared), basis_share.csv (variance share of judgement
priors), morris.csv, discovery_samples.parquet, discovery_boxes.csv, discovery_limits.csv,
discovery.txt, summary.md and manifest.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignsim.analyses.discovery import discovery_text, prim_boxes
from alignsim.analyses.block_model import BlockModel
from alignsim.analyses.screened_sobol import (agreement, grouped_sobol, groups_of, screen, screened_sobol_figure,
                                              top_priors)
from alignsim.analyses.sensitivity import basis_share, morris_screening, tornado, tornado_figure, with_basis
from alignsim.analyses.sweep import PointRunner, Sweep, sweep_figure
from alignsim.engine.priors import params_from_quantiles, salib_problem
from alignsim.errors import ConfigError
from alignsim.runs import atomic as runstore
from alignsim.runs.folder import RunFolder, manifest, new_run_dir
from alignsim.scenario import Scenario, iter_priors, load_scenario, read_yaml, validate_model

ANALYSES = ("tornado", "heatmap", "sobol", "basis_share", "morris", "discovery")


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TornadoSettings(_S):
    replicates: int = Field(ge=10, le=10_000_000)
    low: float = Field(0.05, ge=0, le=1)
    high: float = Field(0.95, ge=0, le=1)

    @model_validator(mode="after")
    def _order(self) -> "TornadoSettings":
        if not self.low < self.high:
            raise ValueError(f"low < high, got low={self.low!r}, high={self.high!r}")
        return self


class SobolSettings(_S):
    n_base: int = Field(ge=2, le=2**20)
    replicates: int = Field(ge=10, le=10_000_000)


class ScreenSettings(_S):
    """Morris screening before Sobol: the ``keep`` priors of largest mu_star get their own index
    (all of them when the scenario has ``keep`` or fewer uncertain priors)."""

    trajectories: int = Field(ge=2, le=100_000)
    levels: int = Field(4, ge=2, le=100)
    replicates: int = Field(ge=10, le=10_000_000)
    keep: int = Field(ge=1, le=100_000)


class ScreenedSobolSettings(SobolSettings):
    """Sobol of the set: optional screening, optional second seed (confirmation and pooling)."""

    screen: ScreenSettings | None = None
    second_seed: int | None = Field(None, ge=0, le=2**63 - 1)


class MorrisSettings(_S):
    trajectories: int = Field(ge=2, le=100_000)
    levels: int = Field(4, ge=2, le=100)
    replicates: int = Field(ge=10, le=10_000_000)


class DiscoverySettings(_S):
    samples: int = Field(ge=10, le=1_000_000)
    replicates: int = Field(ge=10, le=10_000_000)
    interest: float = Field(gt=0, lt=1)
    min_density: float = Field(gt=0, le=1)
    max_boxes: int = Field(3, ge=1, le=20)
    max_dims: int = Field(3, ge=1, le=50)
    mass_min: float = Field(0.05, gt=0, lt=1)


class SensitivitySettings(_S):
    """A sensitivity settings file: every number in it is an analysis setting (``basis: setting``)."""

    scenario: str
    heatmap: str | None = None
    seed: int = Field(ge=0, le=2**63 - 1)
    workers: int = Field(1, ge=1, le=256)
    tornado: TornadoSettings | None = None
    sobol: ScreenedSobolSettings | None = None
    basis_share: SobolSettings | None = None
    morris: MorrisSettings | None = None
    discovery: DiscoverySettings | None = None
    basis: Literal["setting"]
    note: str

    @model_validator(mode="after")
    def _some(self) -> "SensitivitySettings":
        if not self.wanted():
            raise ValueError(f"at least one analysis: {', '.join(ANALYSES)}")
        if self.sobol is not None and self.sobol.second_seed == self.seed:
            raise ValueError(f"sobol.second_seed different from seed ({self.seed})")
        return self

    def wanted(self) -> list[str]:
        return [a for a in ANALYSES if getattr(self, a) is not None]


def load_settings(path: str | Path) -> SensitivitySettings:
    """Read and validate a settings file (one ``ConfigError`` line naming the field)."""
    return validate_model(SensitivitySettings, read_yaml(Path(path), "settings"))


@dataclass
class SensitivityResult:
    """What ``run_sensitivity`` produced: the tables by analysis name, the summary text, the folder."""

    settings: SensitivitySettings
    scenario: Scenario
    tables: dict[str, pd.DataFrame]
    summary: str
    folder: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # per analysis: this process + workers' tasks


def run_sensitivity(settings_path: str | Path, workers: int | None = None, out: str | Path | None = None,
                    save: bool = True, progress=print) -> SensitivityResult:
    """Run every analysis the settings file asks for; with ``save``, write its folder.

    Args:
        settings_path: the settings YAML; ``scenario`` and ``heatmap`` are relative to it.
        workers: worker processes (default: the file's ``workers``); results do not depend on it.
        out: folder to create (must not exist); default ``runs/sensitivity-<scenario>-<time>``.
        progress: called with one line per finished analysis (``None`` for silence).
    """
    started = time.perf_counter()
    settings_path = Path(settings_path)
    cfg = load_settings(settings_path)
    here = settings_path.parent
    workers = cfg.workers if workers is None else int(workers)
    if workers < 1:
        raise ConfigError("--workers", workers, "a whole number >= 1")
    scenario = load_scenario(here / cfg.scenario)
    heat = Sweep.from_file(here / cfg.heatmap) if cfg.heatmap else None
    event = scenario.event.kind.replace("_", " ")
    d = new_run_dir(f"sensitivity-{scenario.name}", out) if save else None
    say = progress or (lambda _line: None)
    tables: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds per analysis, this process and the pool's workers
    facts: dict[str, object] = {}

    def keep(name: str, table: pd.DataFrame, fig=None) -> None:
        tables[name] = table
        if d is not None:
            runstore.write_csv(d / f"{name}.csv", table)
            if fig is not None:
                runstore.save_figure(d / f"{name}.png", fig)

    cpu_seen = [time.process_time(), 0.0]  # this process's CPU and the workers' at the last lap

    def lap(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        own, workers_cpu = time.process_time(), runner.worker_cpu_seconds
        cpu[name] = round(own - cpu_seen[0] + workers_cpu - cpu_seen[1], 1)
        cpu_seen[:] = [own, workers_cpu]
        say(f"  {name}: {timings[name]:.1f} s ({cpu[name]:.1f} CPU-s)")

    say(f"sensitivity set for {scenario.name!r} ({', '.join(cfg.wanted())}) with {workers} worker(s)"
        + (f" -> {d}" if d is not None else ""))
    problem = salib_problem(scenario)
    with PointRunner(workers) as runner:
        if cfg.tornado:
            t0 = time.perf_counter()
            tor = tornado(scenario, runner, cfg.seed, cfg.tornado.replicates, cfg.tornado.low, cfg.tornado.high)
            keep("tornado", tor, tornado_figure(tor, event))
            lap("tornado", t0)
        if heat is not None:
            t0 = time.perf_counter()
            heat_table = heat.run(runner)
            keep("heatmap", heat_table, sweep_figure(heat, heat_table, event))
            lap("heatmap", t0)
        if cfg.sobol:
            t0 = time.perf_counter()
            sc = cfg.sobol.screen
            kept = set(problem["names"])
            if sc is not None:
                screening = screen(scenario, runner, cfg.seed, sc.trajectories, sc.levels, sc.replicates,
                                   min(sc.keep, len(problem["names"])))
                kept = set(screening.loc[screening["kept"], "name"])
                keep("screening", screening)
                lap("screening", t0)
                t0 = time.perf_counter()
            seeds = [cfg.seed] + ([cfg.sobol.second_seed] if cfg.sobol.second_seed is not None else [])
            sob = grouped_sobol(scenario, runner, groups_of(problem["names"], kept), cfg.sobol.n_base,
                                cfg.sobol.replicates, seeds)
            sob.insert(4, "basis", sob["name"].map(_basis_of(scenario)).fillna("group"))
            keep("sobol", sob, screened_sobol_figure(sob))
            if len(seeds) > 1:
                keep("sobol_agreement", agreement(sob, seeds))
            facts["sobol_samples"] = int(len(seeds) * cfg.sobol.n_base * (sob["name"].nunique() + 2))
            lap("sobol", t0)
        if cfg.basis_share:
            t0 = time.perf_counter()
            share = basis_share(scenario, _blocks(scenario, runner, problem, cfg.seed, cfg.basis_share.replicates, 4),
                                cfg.basis_share.n_base, cfg.seed)
            keep("basis_share", share)
            lap("basis_share", t0)
        if cfg.morris:
            t0 = time.perf_counter()
            model = _blocks(scenario, runner, problem, cfg.seed, cfg.morris.replicates, len(problem["names"]) + 1)
            mor, _, _ = morris_screening(problem, model, cfg.morris.trajectories, cfg.seed, cfg.morris.levels)
            keep("morris", with_basis(scenario, mor).sort_values("mu_star", ascending=False))
            lap("morris", t0)
        if cfg.discovery:
            # Discovery needs independent draws: Sobol rows share columns by design, and PRIM
            # would peel the design's structure. Plain Monte Carlo in quantile space instead,
            # each draw with its own block of replicates (one row of one point).
            t0 = time.perf_counter()
            U = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0x5D])).random(
                (cfg.discovery.samples, len(problem["names"])))
            y_d = _blocks(scenario, runner, problem, cfg.seed, cfg.discovery.replicates, 1)(U)
    if cfg.discovery:
        x = params_from_quantiles(scenario, problem["names"], U)[problem["names"]].copy()  # one block
        interest = y_d >= cfg.discovery.interest
        boxes, limits = prim_boxes(x, interest, cfg.discovery.min_density, cfg.discovery.max_boxes,
                                   cfg.discovery.max_dims, mass_min=cfg.discovery.mass_min)
        keep("discovery_boxes", boxes)
        keep("discovery_limits", limits)
        label = f"P({event} by {scenario.end}) >= {cfg.discovery.interest} at one of {len(U)} prior draws"
        facts["discovery"] = discovery_text(boxes, limits, float(interest.mean()), label)
        if d is not None:
            runstore.write_parquet(d / "discovery_samples.parquet", x.assign(probability=y_d))
            runstore.write_text(d / "discovery.txt", str(facts["discovery"]) + "\n")
        lap("discovery", t0)
    wall = time.perf_counter() - started
    summary = summary_text(scenario.name, cfg, tables, facts, wall, workers, sum(cpu.values()))
    if d is not None:
        runstore.write_text(d / "summary.md", summary)
        extra = {"settings": cfg.model_dump(), "settings_path": str(settings_path), "analyses": cfg.wanted(),
                 "workers": workers, "timings_seconds": timings, "cpu_seconds": cpu, "common_random_numbers": True,
                 **({"sobol_samples": facts["sobol_samples"]} if "sobol_samples" in facts else {})}
        folder = RunFolder(d)  # the manifest, like every run folder's, is written by its owner
        folder.start(scenario, manifest(scenario, here / cfg.scenario, cfg.seed, _largest_replicates(cfg, heat), 0,
                                        scenario.monte_carlo.batch_size, **extra))
        folder.finish(wall_seconds=round(wall, 3))
    return SensitivityResult(cfg, scenario, tables, summary, d, timings, cpu)


def _basis_of(scenario: Scenario) -> dict[str, str]:
    return {path: prior.basis for path, prior in iter_priors(scenario)}


def _blocks(scenario: Scenario, runner: PointRunner, problem: dict, seed: int, replicates: int,
            points_per_row: int) -> BlockModel:
    return BlockModel(scenario, runner, problem["names"], seed, replicates, points_per_row)


def _largest_replicates(cfg: SensitivitySettings, heat: Sweep | None) -> int:
    """The most inner replicates any analysis of the set used per point (for the manifest)."""
    reps = [getattr(cfg, a).replicates for a in ANALYSES if a != "heatmap" and getattr(cfg, a) is not None]
    if cfg.sobol is not None and cfg.sobol.screen is not None:
        reps.append(cfg.sobol.screen.replicates)
    return max(reps + ([heat.spec.replicates] if heat is not None else []))


def summary_text(name: str, cfg: SensitivitySettings, tables: dict[str, pd.DataFrame], facts: dict,
                 wall: float, workers: int, cpu: float | None = None) -> str:
    """summary.md: the top rows of each analysis that ran, in words."""
    lines = [f"# Sensitivity set: {name}", "", f"Wall time {wall:.1f} s on {workers} worker(s).", ""]
    if cpu is not None:
        lines[-1:-1] = [f"CPU time {cpu:.0f} s in the analyses (this process and the workers' tasks; pool start-up "
                        f"not counted), which does not depend on other load: {cpu / 2 / 60:.1f} min of wall time "
                        "on 2 fully used cores."]
    if "tornado" in tables:
        tor = tables["tornado"]
        lines += [f"## Tornado (quantiles {cfg.tornado.low}-{cfg.tornado.high}, "
                  f"{cfg.tornado.replicates} replicates per point)",
                  f"Base probability {tor['p_base'].iloc[0]:.4f}.", ""]
        lines += [f"- {r['name']} ({r['basis']}): {r['p_low']:.4f} -> {r['p_high']:.4f}, swing {r['swing']:+.4f} "
                  f"[{r['swing_low']:+.4f}, {r['swing_high']:+.4f}]" for _, r in tor.head(5).iterrows()]
        lines.append("")
    if "heatmap" in tables:
        heat = tables["heatmap"]
        lines += [f"## Heatmap: probability from {heat['estimate'].min():.4f} to {heat['estimate'].max():.4f} "
                  "over the grid", ""]
    if "sobol" in tables:
        lines += sobol_summary(cfg, tables)
    if "basis_share" in tables:
        judg = tables["basis_share"].set_index("name").loc["judgement"]
        lines += [f"## Share of variance from judgement priors (grouped Sobol, N={cfg.basis_share.n_base})",
                  f"First order {judg['S1']:.3f} +/- {judg['S1_conf']:.3f}; total order {judg['ST']:.3f} "
                  f"+/- {judg['ST_conf']:.3f} ({int(judg['priors'])} judgement priors).", ""]
    if "morris" in tables:
        lines += [f"## Morris (r={cfg.morris.trajectories}): top mu_star", ""]
        lines += [f"- {r['name']} ({r['basis']}): mu* {r['mu_star']:.4f} +/- {r['mu_star_conf']:.4f}, "
                  f"sigma {r['sigma']:.4f}" for _, r in tables["morris"].head(5).iterrows()]
        lines.append("")
    if "discovery" in facts:
        lines += ["## Scenario discovery (PRIM, EMA Workbench)", "", "```", str(facts["discovery"]), "```", ""]
    return "\n".join(lines)


def sobol_summary(cfg: SensitivitySettings, tables: dict[str, pd.DataFrame], top: int = 10,
                  target: float = 0.03) -> list[str]:
    """summary.md lines of the screened Sobol analysis: design, noise, top priors, half-widths, seeds."""
    sc, sob = cfg.sobol, tables["sobol"]
    lines = ["## Sobol indices (noise-adjusted; 95% bootstrap half-widths)", ""]
    if "screening" in tables:
        scr = tables["screening"]
        lines.append(f"Screening: Morris, {sc.screen.trajectories} trajectories x {len(scr) + 1} points x "
                     f"{sc.screen.replicates} replicates; the {int(scr['kept'].sum())} of {len(scr)} priors with "
                     "the largest mu* kept as their own groups, the others sampled together as one group.")
    seeds = list(dict.fromkeys(sob.loc[sob["sample"] != "pooled", "seed"]))
    G = sob["name"].nunique()
    lines.append(f"Grouped Sobol (SALib): N={sc.n_base} rows per seed x {G + 2} points x {sc.replicates} replicates, "
                 f"seed(s) {', '.join(map(str, seeds))}.")
    best = sob[sob["sample"] == ("pooled" if len(seeds) > 1 else f"seed {seeds[0]}")]
    lines.append(f"Inner-replicate noise: {best['noise_share'].iloc[0]:.3f} of Var y; upward bias removed from ST "
                 f"up to {best['ST_noise'].max():.4f}, from S1 {best['S1_noise'].abs().max():.4f}.")
    out = best[best["name"].str.startswith("screened out")]
    if len(out):
        r = out.iloc[0]
        lines.append(f"The screened-out group, {r['name']}: S1 {r['S1_adj']:.3f} +/- {r['S1_adj_conf']:.3f}, "
                     f"ST {r['ST_adj']:.3f} +/- {r['ST_adj_conf']:.3f}.")
    lines.append("")
    head = top_priors(sob, top)
    names = head["name"].tolist()
    per = {s: sob[sob["sample"] == s].set_index("name") for s in dict.fromkeys(sob["sample"])}
    cols = list(per)
    lines += ["| prior | basis | " + " | ".join(f"S1 {c}" for c in cols) + " | " + " | ".join(f"ST {c}" for c in cols)
              + " |", "|---|---|" + "---|" * (2 * len(cols))]
    for n in names:
        cells = [f"{per[c].loc[n, 'S1_adj']:.3f} +/- {per[c].loc[n, 'S1_adj_conf']:.3f}" for c in cols]
        cells += [f"{per[c].loc[n, 'ST_adj']:.3f} +/- {per[c].loc[n, 'ST_adj_conf']:.3f}" for c in cols]
        lines.append(f"| {n} | {per[cols[0]].loc[n, 'basis']} | " + " | ".join(cells) + " |")
    lines.append("")
    for c in cols:
        hw = per[c].loc[names, ["S1_adj_conf", "ST_adj_conf"]].max()
        worst = float(hw.max())
        verdict = "met" if worst <= target else f"missed by {worst - target:.3f}"
        lines.append(f"- {c}: largest half-width over the top {len(names)}: S1 {hw['S1_adj_conf']:.3f}, "
                     f"ST {hw['ST_adj_conf']:.3f} (target {target}: {verdict}).")
    if "sobol_agreement" in tables:
        ag = tables["sobol_agreement"]
        top_ag = ag[ag["name"].isin(names)]
        lines.append(f"- Seeds {seeds[0]} and {seeds[1]} agree within the 95% interval of their difference for "
                     f"S1 in {int(ag['S1_agree'].sum())} of {len(ag)} groups and for ST in {int(ag['ST_agree'].sum())} "
                     f"of {len(ag)} (top {len(names)}: {int(top_ag['S1_agree'].sum())} and "
                     f"{int(top_ag['ST_agree'].sum())}).")
    lines.append("")
    return lines
