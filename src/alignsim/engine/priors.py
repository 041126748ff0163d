"""Priors as data: inverse-CDF sampling of outer draws, replicate parameter matrices, SALib export."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtri

from alignsim.errors import ConfigError
from alignsim.scenario import Prior, Scenario, iter_priors
from alignsim.engine.streams import uniforms


def ppf(prior: Prior, u: np.ndarray) -> np.ndarray:
    """The prior's quantile function at ``u`` in [0, 1) (vectorised)."""
    u = np.asarray(u, dtype=np.float64)
    if prior.dist == "fixed":
        return np.full_like(u, prior.value)
    if prior.dist == "uniform":
        return prior.low + (prior.high - prior.low) * u
    if prior.dist == "loguniform":
        lo, hi = np.log(prior.low), np.log(prior.high)
        return np.exp(lo + (hi - lo) * u)
    if prior.dist == "triangular":
        scale = prior.high - prior.low
        return stats.triang.ppf(u, (prior.mode - prior.low) / scale, loc=prior.low, scale=scale)
    if prior.dist == "normal":
        return prior.mean + prior.sd * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
    if prior.dist == "beta":
        return stats.beta.ppf(u, prior.alpha, prior.beta)
    raise ConfigError("dist", prior.dist, "a known distribution")  # unreachable after validation


def prior_paths(scenario: Scenario) -> list[str]:
    return [path for path, _ in iter_priors(scenario)]


def sample_draws(scenario: Scenario, seed: int, n_draws: int) -> pd.DataFrame:
    """Outer parameter draws: one row per draw, one column per prior path.

    Draw ``d`` of prior ``p`` is ``ppf(u)`` with ``u`` from the stream ("prior:" + p, step 0)
    at index ``d``: it depends on nothing but the seed, the path and ``d``.
    """
    columns = {path: ppf(prior, uniforms(seed, f"prior:{path}", 0, 0, n_draws))
               for path, prior in iter_priors(scenario)}
    frame = pd.DataFrame(columns)
    frame.index.name = "draw"
    return frame


def draw_of_replicate(index: np.ndarray, replicates: int, n_draws: int) -> np.ndarray:
    """Which outer draw each replicate belongs to: replicate ``i`` takes draw ``i mod n_draws``.

    The assignment does not depend on the total, so adding batches to a run (``--precision``)
    keeps every earlier replicate's parameters. ``replicates`` is accepted for clarity only.
    """
    return np.asarray(index, dtype=np.int64) % n_draws


def replicate_params(draws: pd.DataFrame, replicates: int, start: int, stop: int) -> pd.DataFrame:
    """The parameter matrix for replicates ``start..stop-1`` (one row each, with ``draw``)."""
    draw = draw_of_replicate(np.arange(start, stop), replicates, len(draws))
    # one numpy gather into (priors, replicates), the layout of pandas' own block: no further copy
    values = np.take(np.ascontiguousarray(draws.to_numpy(dtype=np.float64).T), draw, axis=1)
    frame = pd.DataFrame(values.T, columns=draws.columns, index=pd.RangeIndex(start, stop, name="replicate"),
                         copy=False)
    frame.insert(0, "draw", draws.index.to_numpy()[draw])
    return frame


def point_params(scenario: Scenario, n: int = 1, quantile: float = 0.5) -> pd.DataFrame:
    """Every prior at one quantile (the median by default): a simple parameter matrix."""
    row = {path: float(ppf(prior, np.array([quantile]))[0]) for path, prior in iter_priors(scenario)}
    frame = pd.DataFrame([row] * n)
    frame.insert(0, "draw", 0)
    return frame


def salib_problem(scenario: Scenario) -> dict:
    """The uncertain (non-fixed) priors as a SALib problem in quantile space.

    Each variable is uniform on [0, 1]: a SALib sample ``u`` maps to parameter values with
    ``ppf(prior, u)`` (see ``params_from_quantiles``), so every prior shape is supported.
    """
    names = [path for path, prior in iter_priors(scenario) if not prior.is_fixed]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def params_from_quantiles(scenario: Scenario, names: list[str], u: np.ndarray) -> pd.DataFrame:
    """Parameter matrix from quantiles ``u`` (rows x len(names)); other priors at their median."""
    base = point_params(scenario, n=len(u))
    priors = dict(iter_priors(scenario))
    for j, name in enumerate(names):
        base[name] = ppf(priors[name], u[:, j])
    base["draw"] = np.arange(len(u))
    return base
