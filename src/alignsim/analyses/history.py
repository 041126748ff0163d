"""History matching: weight outer parameter draws by how well they reproduce observed outcomes.

Each backtest case is a scenario with an observed ``outcome``. For every outer draw ``d`` of the
shared priors, ``P(event within the case's window | d)`` is estimated from ``inner`` replicates
that share the draw's parameters but each take their own case-specific initial values (paths
ending in ``.initial``) and their own random shocks. The likelihood of draw ``d`` is the product
over cases of ``P(observed outcome | d)``; since the outer draws are samples from the prior, the
normalised likelihoods are importance weights for the posterior.

Per-draw probabilities use the smoothed estimate ``(k + 0.5) / (n + 1)`` (never exactly 0 or 1),
so one case with no hits in ``n`` inner replicates cannot zero out a draw on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from alignsim.engine.ensemble import simulate
from alignsim.engine.estimates import happened_by
from alignsim.errors import ConfigError
from alignsim.engine.priors import ppf
from alignsim.scenario import Scenario, iter_priors
from alignsim.engine.streams import uniforms

MIN_INNER = 200


def is_case_specific(path: str) -> bool:
    """Initial values belong to a case; every other prior is shared across cases."""
    return path.endswith(".initial")


def shared_paths(scenario: Scenario) -> list[str]:
    """The prior paths a backtest case shares with every other case (the matched parameters)."""
    return [p for p, _ in iter_priors(scenario) if not is_case_specific(p)]


def outer_draws(cases: Mapping[str, Scenario], seed: int, n_draws: int) -> pd.DataFrame:
    """Outer draws of the shared priors (``n_draws`` rows), identical for every case.

    The columns are the union of the cases' shared prior paths (a case that leaves a driver out
    lacks that driver's priors); where two cases have a path, its prior must be the same. Draw
    ``d`` of path ``p`` is ``ppf(u)`` with ``u`` from the stream ("prior:" + p) at index ``d``,
    exactly as ``priors.sample_draws``, so a path's draws do not depend on which cases are given.

    Raises ``ConfigError`` when the cases do not share one set of priors.
    """
    names = list(cases)
    if not names:
        raise ConfigError("cases", [], "at least one backtest case")
    first = names[0]
    priors: dict[str, object] = {}
    owner: dict[str, str] = {}
    for name in names:
        for p, pr in iter_priors(cases[name]):
            if is_case_specific(p):
                continue
            if p in priors and priors[p] != pr:
                raise ConfigError(f"{name}: {p}", str(pr), f"the same shared prior as case {owner[p]!r}")
            if p not in priors and name != first and not any(
                    left_out_path(cases[o], p) for o in names if o != name):
                raise ConfigError(f"{name}: {p}", p, f"only the shared priors of case {first!r}")
            priors.setdefault(p, pr)
            owner.setdefault(p, name)
    columns = {p: ppf(pr, uniforms(seed, f"prior:{p}", 0, 0, n_draws)) for p, pr in priors.items()}
    frame = pd.DataFrame(columns)
    frame.index.name = "draw"
    return frame


def left_out_path(case: Scenario, path: str) -> bool:
    """Whether ``case`` may lack ``path``: a driver it leaves out, or a scheduled decision point
    (``decision_points.i.*``) beyond the ones in its window (cases have 0, 1 or more)."""
    if path.startswith("decision_points."):
        return int(path.split(".")[1]) >= len(case.decision_points)
    return path.startswith("drivers.") and path.split(".")[1] in case.left_out


def case_params(case: Scenario, draws: pd.DataFrame, inner: int, seed: int,
                first_draw: int = 0, n_draws: int | None = None) -> pd.DataFrame:
    """Parameter matrix for draws ``first_draw..first_draw+n_draws-1`` x ``inner`` replicates.

    Replicate ``i`` (global number) belongs to draw ``i // inner``; its shared parameters are the
    draw's, its initial values are sampled per replicate from the case's initial priors with
    the stream ("initial:" + path) at index ``i``. Shape: (n_draws * inner, paths + 1).
    """
    n_draws = len(draws) - first_draw if n_draws is None else n_draws
    start, stop = first_draw * inner, (first_draw + n_draws) * inner
    draw = np.arange(start, stop) // inner
    frame = draws.iloc[draw].reset_index(drop=True)
    for path, prior in iter_priors(case):
        if path not in frame:
            frame[path] = ppf(prior, uniforms(seed, f"initial:{path}", 0, start, stop))
    frame["draw"] = draw
    frame.index = pd.RangeIndex(start, stop, name="replicate")
    return frame


def case_seed(seed: int, name: str) -> int:
    """A case's own seed, derived from the run's seed and the case's name (63 bits)."""
    from alignsim.engine.streams import stream_key

    return int(stream_key(seed, f"case:{name}", 0)[0] >> np.uint64(1))


def case_probabilities(cases: Mapping[str, Scenario], draws: pd.DataFrame, inner: int, seed: int,
                       chunk_draws: int = 50) -> pd.DataFrame:
    """P(event within each case's window | draw): tidy table (draw, case, events, n, p).

    ``p`` is the smoothed ``(events + 0.5) / (n + 1)``. The numbers do not depend on
    ``chunk_draws`` (random numbers are indexed by global replicate number).
    """
    if inner < 1:
        raise ConfigError("inner", inner, "at least 1 inner replicate per draw")
    rows = []
    for name, case in cases.items():
        own = case_seed(seed, name)  # each case its own random numbers: leave-one-out stays independent
        for first in range(0, len(draws), chunk_draws):
            n = min(chunk_draws, len(draws) - first)
            res = simulate(case, case_params(case, draws, inner, own, first, n), own)
            hits = happened_by(case, res.replicates)
            k = hits.reshape(n, inner).sum(axis=1)
            rows.append(pd.DataFrame({"draw": draws.index[first:first + n], "case": name,
                                      "events": k, "n": inner}))
    out = pd.concat(rows, ignore_index=True)
    out["p"] = (out["events"] + 0.5) / (out["n"] + 1.0)
    return out


def outcome_likelihood(probs: pd.DataFrame, occurred: Mapping[str, bool],
                       use: Iterable[str] | None = None,
                       groups: Mapping[str, str | None] | None = None) -> pd.Series:
    """Per-draw likelihood: product over cases in ``use`` of P(observed outcome | draw)^(1/m).

    ``m`` is the number of used cases in the case's decision group (``groups``: case -> group
    label, None for a case of its own), so a group of cases that decided at one moment counts as
    one observation (tempered likelihood: the geometric mean of its members' likelihoods). This
    is the limit of perfectly correlated outcomes within a group; without ``groups`` every case
    counts once.
    """
    use = list(occurred) if use is None else list(use)
    wide = probs.pivot(index="draw", columns="case", values="p")
    labels = {k: ((groups or {}).get(k) or f"__case:{k}") for k in use}
    size = pd.Series(labels).value_counts()
    log_like = pd.Series(0.0, index=wide.index)
    for name in use:
        p = wide[name]
        log_like = log_like + np.log(p if occurred[name] else 1.0 - p) / size[labels[name]]
    return np.exp(log_like)


def effective_groups(names: Iterable[str], groups: Mapping[str, str | None]) -> int:
    """Independent observations among ``names``: distinct decision groups (ungrouped cases count one each)."""
    return len({(groups.get(k) or f"__case:{k}") for k in names})


def normalised(like: pd.Series) -> pd.Series:
    """Weights summing to one (uniform if every likelihood is zero, which smoothing prevents)."""
    total = float(like.sum())
    if not total > 0:
        return pd.Series(1.0 / len(like), index=like.index)
    return like / total


def kish_ess(weights: np.ndarray | pd.Series) -> float:
    """Kish effective sample size (sum w)^2 / sum w^2."""
    w = np.asarray(weights, dtype=np.float64)
    return float(w.sum() ** 2 / np.square(w).sum())


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Quantile(s) of ``x`` under weights ``w`` (midpoint rule on the weighted CDF)."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cdf = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(q, cdf, xs)


def parameter_shift(draws: pd.DataFrame, weights: pd.Series,
                    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)) -> pd.DataFrame:
    """Prior versus matched mean and quantiles of every non-constant shared parameter (tidy)."""
    w = weights.reindex(draws.index).to_numpy()
    flat = np.full(len(draws), 1.0 / len(draws))
    rows = []
    for path in draws.columns:
        x = draws[path].to_numpy(dtype=np.float64)
        if np.ptp(x) == 0:
            continue
        row = {"parameter": path, "prior_mean": float(x.mean()), "matched_mean": float(np.dot(w, x))}
        for q in quantiles:
            tag = f"q{int(round(q * 100)):02d}"
            row[f"prior_{tag}"] = float(weighted_quantile(x, flat, q))
            row[f"matched_{tag}"] = float(weighted_quantile(x, w, q))
        lo, hi = x.min(), x.max()
        row["shift_in_range"] = (row["matched_mean"] - row["prior_mean"]) / (hi - lo)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("shift_in_range", key=np.abs, ascending=False, ignore_index=True)


def weighted_probability(per_draw: pd.Series, weights: pd.Series, replicates_per_draw: float) -> dict:
    """A matched probability with its intervals under weights.

    Args:
        per_draw: each draw's probability of the event (index: draw).
        weights: normalised weights by draw.
        replicates_per_draw: inner replicates behind each per-draw probability.

    The Monte Carlo interval is Wilson's at the effective sample size p (1 - p) / se^2, where
    se^2 = sum_d w_d^2 (p_d - p)^2 is the self-normalised importance-sampling variance over draws
    (it carries both the draws' spread and their inner noise; replicates of one draw are not
    independent), capped at Kish ESS x replicates per draw. The epistemic range is the weighted
    5th-95th percentile of the per-draw probabilities.
    """
    from alignsim.engine.estimates import wilson

    w = weights.reindex(per_draw.index).fillna(0.0).to_numpy()
    w = w / w.sum()
    p = per_draw.to_numpy(dtype=np.float64)
    est = float(np.dot(w, p))
    ess = kish_ess(w)
    var = float(np.sum(w**2 * (p - est) ** 2))
    n_cap = ess * replicates_per_draw
    n_eff = min(n_cap, est * (1 - est) / var) if var > 0 else n_cap
    low, high = wilson(est * n_eff, n_eff)
    lo_e, hi_e = weighted_quantile(p, w, [0.05, 0.95])
    return {"estimate": est, "ci_low": float(low), "ci_high": float(high),
            "epistemic_low": float(lo_e), "epistemic_high": float(hi_e),
            "ess_draws": ess, "n_effective": n_eff}
