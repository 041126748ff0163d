"""Global and local sensitivity of the event probability to the priors.

- ``sobol_indices`` / ``morris_screening``: SALib's samplers and estimators (not re-implemented)
  driven by any model ``f(U) -> y`` on the unit hypercube; tidy tables with 95% intervals.
- ``scenario_model``: the scenario as such a model. The priors are exported in quantile space
  (``priors.salib_problem``); each SALib sample ``u`` (one row) maps to parameter values by
  ``priors.params_from_quantiles`` and is run for ``R`` inner replicates with the same seed and
  replicate indices ``0..R-1`` for every sample (common random numbers). ``y`` is the share of
  those replicates with the event, so the model's own noise is averaged out and frozen: ``y``
  is a deterministic function of ``u`` and SALib sees no noise.
- ``basis_share``: Sobol indices of groups of priors (judgement vs the rest), i.e. what share of
  the variance comes from priors whose basis is ``judgement``.
- ``tornado``: the swing in the probability as each prior moves from a low to a high quantile,
  the other priors sampled as in a forecast run, with a paired interval (common random numbers).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from alignsim.errors import ConfigError
from alignsim.engine.estimates import Z95, clustered_mean_se
from alignsim.engine.priors import draw_of_replicate, params_from_quantiles, ppf, salib_problem
from alignsim.outputs.figures import new_figure
from alignsim.scenario import Scenario, iter_priors
from alignsim.analyses.sweep import PointRunner

Model = Callable[[np.ndarray], np.ndarray]


def _check_n(n: int, field: str) -> int:
    if int(n) < 2 or int(n) & (int(n) - 1):
        raise ConfigError(field, n, "a power of two >= 2 (Sobol sequences balance only at powers of two)")
    return int(n)


def sobol_indices(problem: dict, model: Model, n_base: int, seed: int,
                  conf_level: float = 0.95, num_resamples: int = 200) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """First- and total-order Sobol indices via SALib (Saltelli/Jansen estimators).

    Args:
        problem: a SALib problem (``names``, ``bounds``, optional ``groups``).
        model: maps a sample matrix ``X`` of shape (M, D) to outputs ``y`` of shape (M,).
        n_base: base sample size N (a power of two); the model is run on N * (D + 2) rows,
            D = number of variables (or groups).
    Returns:
        (table, X, y): one row per variable or group with ``S1``, ``S1_conf``, ``ST``,
        ``ST_conf`` (half-width of the bootstrap ``conf_level`` interval) and the interval ends.
    """
    n_base = _check_n(n_base, "n_base")
    X = sobol_sample.sample(problem, n_base, calc_second_order=False, seed=seed)
    y = np.asarray(model(X), dtype=np.float64)
    if y.shape != (len(X),):
        raise ValueError(f"model returned shape {y.shape}, expected ({len(X)},)")
    res = sobol_analyze.analyze(problem, y, calc_second_order=False, conf_level=conf_level,
                                num_resamples=num_resamples, seed=seed)
    total, first = res.to_df()
    table = first.join(total).reset_index(names="name")
    for s in ("S1", "ST"):
        table[f"{s}_low"] = table[s] - table[f"{s}_conf"]
        table[f"{s}_high"] = table[s] + table[f"{s}_conf"]
    return table, X, y


def morris_screening(problem: dict, model: Model, trajectories: int, seed: int,
                     levels: int = 4, conf_level: float = 0.95) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Morris elementary effects via SALib: ``mu_star`` (with its interval), ``sigma``.

    The model is run on ``trajectories * (D + 1)`` rows. Effects are per unit of quantile
    (the problem's scale), so priors of different units are comparable.
    """
    if int(trajectories) < 2:
        raise ConfigError("trajectories", trajectories, "at least 2 Morris trajectories")
    X = morris_sample.sample(problem, int(trajectories), num_levels=levels, seed=seed)
    y = np.asarray(model(X), dtype=np.float64)
    res = morris_analyze.analyze(problem, X, y, conf_level=conf_level, num_levels=levels, seed=seed)
    table = res.to_df().reset_index(names="name")
    table["mu_star_low"] = table["mu_star"] - table["mu_star_conf"]
    table["mu_star_high"] = table["mu_star"] + table["mu_star_conf"]
    return table, X, y


def scenario_model(scenario: Scenario, runner: PointRunner, seed: int, replicates: int,
                   by_step: int | None = None) -> Model:
    """The scenario as ``f(U) -> P(event)``: U in quantile space over ``salib_problem`` names.

    Every row of U runs the same ``replicates`` replicate indices with the same ``seed``.
    """
    names = salib_problem(scenario)["names"]

    def model(U: np.ndarray) -> np.ndarray:
        params = params_from_quantiles(scenario, names, np.asarray(U))
        tasks = [(scenario, row) for row in params[names].to_dict("records")]
        return runner.hits(tasks, seed, replicates, "median", by_step).mean(axis=1)
    return model


def with_basis(scenario: Scenario, table: pd.DataFrame) -> pd.DataFrame:
    """Add each prior's ``basis`` next to its ``name``."""
    basis = {path: prior.basis for path, prior in iter_priors(scenario)}
    out = table.copy()
    out.insert(1, "basis", out["name"].map(basis))
    return out


def noise_share(y: np.ndarray, replicates: int) -> float:
    """Mean binomial variance of one output over its variance across samples.

    The part of Var(y) that inner-replicate noise could account for if it were independent
    between samples; common random numbers make it smaller still. Small means well averaged.
    """
    y = np.asarray(y, dtype=np.float64)
    var = float(np.var(y, ddof=1))
    return float(np.mean(y * (1 - y) / replicates) / var) if var > 0 else float("nan")


def basis_share(scenario: Scenario, model: Model, n_base: int, seed: int) -> pd.DataFrame:
    """Grouped Sobol indices: priors with basis ``judgement`` against all others.

    ``S1`` of the judgement group is the share of Var(P) explained by the judgement priors
    alone (with their interactions among themselves); ``ST`` adds their interactions with the rest.
    """
    problem = salib_problem(scenario)
    basis = {path: prior.basis for path, prior in iter_priors(scenario)}
    groups = ["judgement" if basis[n] == "judgement" else "other (measured, calibrated, setting)"
              for n in problem["names"]]
    if len(set(groups)) < 2:
        raise ConfigError("priors", sorted(set(groups)), "uncertain priors of both judgement and other bases")
    table, _, _ = sobol_indices(dict(problem, groups=groups), model, n_base, seed)
    table.insert(1, "priors", table["name"].map(lambda g: groups.count(g)))
    return table


def tornado(scenario: Scenario, runner: PointRunner, seed: int, replicates: int,
            low: float = 0.05, high: float = 0.95, by_step: int | None = None) -> pd.DataFrame:
    """Swing of P(event) as each uncertain prior goes from quantile ``low`` to ``high``.

    Other priors are sampled as in a forecast run (``others="prior"``); every point shares the
    replicates and random numbers, so ``swing`` has a paired 95% interval. Sorted by |swing|.
    """
    if not 0 <= low < high <= 1:
        raise ConfigError("tornado quantiles", [low, high], "0 <= low < high <= 1")
    priors = [(path, prior) for path, prior in iter_priors(scenario) if not prior.is_fixed]
    values = [(path, float(ppf(p, np.array([low]))[0]), float(ppf(p, np.array([high]))[0])) for path, p in priors]
    tasks = [(scenario, {})]
    for path, lo, hi in values:
        tasks += [(scenario, {path: lo}), (scenario, {path: hi})]
    hits = runner.hits(tasks, seed, replicates, "prior", by_step)
    n_draws = min(scenario.monte_carlo.draws, replicates)
    base = float(hits[0].mean())
    rows = []
    for j, (path, lo, hi) in enumerate(values):
        h_lo, h_hi = hits[1 + 2 * j], hits[2 + 2 * j]
        diff = h_hi.astype(float) - h_lo.astype(float)
        # paired differences, clustered by outer draw (replicate i takes draw i mod draws, as in sweep.base_params)
        se = clustered_mean_se(diff, draw_of_replicate(np.arange(len(diff)), len(diff), n_draws))
        swing = float(diff.mean())
        rows.append({"name": path, "basis": dict(priors)[path].basis, "value_low": lo, "value_high": hi,
                     "p_low": float(h_lo.mean()), "p_high": float(h_hi.mean()), "swing": swing,
                     "swing_low": swing - Z95 * se, "swing_high": swing + Z95 * se})
    table = pd.DataFrame(rows)
    table.insert(2, "p_base", base)
    order = table["swing"].abs().sort_values(ascending=False).index
    return table.loc[order].reset_index(drop=True)


def tornado_figure(table: pd.DataFrame, event: str, top: int = 15):
    """Horizontal bars from P(low quantile) to P(high quantile) around the base probability."""
    t = table.head(top).iloc[::-1]
    fig, ax = new_figure((9, 0.35 * len(t) + 1.5))
    base = float(table["p_base"].iloc[0])
    y = np.arange(len(t))
    ax.barh(y, t["p_low"] - base, left=base, color="#7570b3", label="prior at its low quantile")
    ax.barh(y, t["p_high"] - base, left=base, color="#d95f02", alpha=0.8, label="prior at its high quantile")
    ax.axvline(base, color="black", lw=1)
    ax.set_yticks(y, [f"{n} ({b})" for n, b in zip(t["name"], t["basis"])], fontsize=7)
    ax.set_xlabel(f"P({event}) (base {base:.3f})")
    ax.set_title(f"Tornado: the {len(t)} priors with the largest swing")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return fig


def sobol_figure(table: pd.DataFrame, top: int = 20):
    """First- and total-order indices with their 95% intervals, largest total order first."""
    t = table.sort_values("ST", ascending=False).head(top).iloc[::-1]
    fig, ax = new_figure((9, 0.35 * len(t) + 1.5))
    y = np.arange(len(t))
    ax.barh(y + 0.2, t["ST"], height=0.4, xerr=t["ST_conf"], color="#d95f02", label="total order ST")
    ax.barh(y - 0.2, t["S1"], height=0.4, xerr=t["S1_conf"], color="#1b9e77", label="first order S1")
    labels = [f"{n} ({b})" for n, b in zip(t["name"], t["basis"])] if "basis" in t else list(t["name"])
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Sobol index (bars: 95% bootstrap interval)")
    ax.set_title("Sobol indices of P(event) over the priors")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return fig
