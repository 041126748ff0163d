"""Out-of-sample scores of probability forecasts of binary events, with grouped uncertainty.

Inputs are plain arrays: ``p`` (forecast probability of the event, shape (n,)), ``o`` (0/1
outcome, shape (n,)) and ``groups`` (a label per case; cases sharing a decision point share a
label). Lower is better for Brier and log scores; higher for AUC.

- Brier: mean (p - o)^2.  Log: mean -ln max(P(observed), floor).
- AUC: P(p_i > p_j) + P(p_i = p_j) / 2 over pairs (i event, j non-event); NaN with one class.
- Calibration: logistic recalibration o ~ Bernoulli(sigmoid(a + b logit(p))), fitted by Newton's
  method; slope b = 1 and intercept a = 0 for a calibrated forecaster. The slope is undefined
  (NaN, status "constant forecast") when every forecast is the same, and diverges (NaN, status
  "separation") when the forecast ranks the outcomes perfectly.
- Grouped bootstrap: resample whole groups with replacement (``n_boot`` times); 95% percentile
  intervals of a statistic, and of paired differences (model minus baseline, same resample).
- Folds: one per group (leave one group out); a case without a group is its own group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

Array = np.ndarray
LOG_FLOOR = 1e-3
EPS = 1e-6


def brier(p: Array, o: Array) -> Array:
    """Per-case Brier score (p - o)^2."""
    return (np.asarray(p, float) - np.asarray(o, float)) ** 2


def log_score(p: Array, o: Array, floor: float = LOG_FLOOR) -> Array:
    """Per-case log score -ln max(P(observed outcome), floor)."""
    p, o = np.asarray(p, float), np.asarray(o, float)
    return -np.log(np.maximum(np.where(o == 1.0, p, 1.0 - p), floor)) + 0.0


def auc(p: Array, o: Array) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN without both classes."""
    p, o = np.asarray(p, float), np.asarray(o, bool)
    pos, neg = p[o], p[~o]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _logit(p: Array) -> Array:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def calibration_fit(p: Array, o: Array, max_iter: int = 100, max_slope: float = 50.0) -> dict:
    """Logistic recalibration: intercept ``a`` and slope ``b`` of o ~ sigmoid(a + b logit(p)).

    Returns {"intercept", "slope", "status"}; status "ok", "single class", "constant forecast"
    (slope undefined; the intercept is then calibration-in-the-large, logit(mean o) - logit(p))
    or "separation" (no finite maximum: slope and intercept NaN).
    """
    x, y = _logit(p), np.asarray(o, float)
    if y.min() == y.max():
        return {"intercept": float("nan"), "slope": float("nan"), "status": "single class"}
    if np.ptp(x) < 1e-9:
        return {"intercept": float(_logit(np.array([y.mean()]))[0] - x[0]), "slope": float("nan"),
                "status": "constant forecast"}
    X = np.column_stack([np.ones_like(x), x])
    beta = np.zeros(2)
    for _ in range(max_iter):
        mu = 1.0 / (1.0 + np.exp(-(X @ beta)))
        w = np.maximum(mu * (1 - mu), 1e-12)
        step = np.linalg.solve(X.T @ (X * w[:, None]) + 1e-12 * np.eye(2), X.T @ (y - mu))
        beta = beta + step
        if abs(beta[1]) > max_slope:
            return {"intercept": float("nan"), "slope": float("nan"), "status": "separation"}
        if np.max(np.abs(step)) < 1e-10:
            return {"intercept": float(beta[0]), "slope": float(beta[1]), "status": "ok"}
    return {"intercept": float("nan"), "slope": float("nan"), "status": "separation"}


def reliability_table(p: Array, o: Array, n_bins: int = 5) -> pd.DataFrame:
    """Equal-width bins of the forecast: bin edges, cases, mean forecast, observed share."""
    p, o = np.asarray(p, float), np.asarray(o, float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, n_bins - 1)
    rows = [{"bin_low": edges[b], "bin_high": edges[b + 1], "cases": int((idx == b).sum()),
             "mean_forecast": float(p[idx == b].mean()), "observed": float(o[idx == b].mean())}
            for b in range(n_bins) if (idx == b).any()]
    return pd.DataFrame(rows)


def group_codes(groups: Sequence) -> Array:
    """Integer code per case; NaN/None/"" groups become singleton groups of their own."""
    labels = [g if isinstance(g, str) and g else f"__case{i}" for i, g in enumerate(groups)]
    _, codes = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return codes


def bootstrap_indices(codes: Array, n_boot: int, seed: int) -> list[Array]:
    """``n_boot`` case-index arrays, each the cases of groups drawn with replacement."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x626F6F74]))
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]
    out = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(members), len(members))
        out.append(np.concatenate([members[g] for g in picks]))
    return out


def interval(values: Sequence[float]) -> tuple[float, float]:
    """95% percentile interval of the finite values (NaN if fewer than 10 are finite)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) < 10:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def grouped_interval(stat: Callable[[Array], float], samples: list[Array]) -> tuple[float, float]:
    """95% interval of ``stat(indices)`` over grouped-bootstrap samples."""
    return interval([stat(ix) for ix in samples])


def summary(table: pd.DataFrame, n_boot: int = 2000, seed: int = 0,
            floor: float = LOG_FLOOR) -> pd.DataFrame:
    """One row per forecaster: mean Brier and log, AUC with its grouped-bootstrap 95% interval,
    calibration slope and intercept.

    ``table`` is tidy: case, group, forecaster, p_event, occurred (one row per case x forecaster).
    """
    rows = []
    for name, sub in table.groupby("forecaster", sort=False):
        sub = sub.sort_values("case")
        p, o = sub["p_event"].to_numpy(float), sub["occurred"].to_numpy(float)
        samples = bootstrap_indices(group_codes(sub["group"].tolist()), n_boot, seed)
        lo, hi = interval([auc(p[ix], o[ix]) for ix in samples])
        cal = calibration_fit(p, o)
        rows.append({"forecaster": name, "cases": len(sub), "events": int(o.sum()),
                     "brier": float(brier(p, o).mean()), "log": float(log_score(p, o, floor).mean()),
                     "auc": auc(p, o), "auc_low": lo, "auc_high": hi,
                     "cal_slope": cal["slope"], "cal_intercept": cal["intercept"], "cal_status": cal["status"]})
    return pd.DataFrame(rows)


def paired_differences(table: pd.DataFrame, model: str, baselines: Sequence[str], n_boot: int = 2000,
                       seed: int = 0, floor: float = LOG_FLOOR) -> pd.DataFrame:
    """Model minus baseline, per metric (Brier, log, AUC), with grouped-bootstrap 95% intervals.

    Negative Brier/log differences and positive AUC differences favour the model. Both forecasters
    are evaluated on the same resampled cases in each replicate (a paired bootstrap).
    """
    wide = table.pivot(index="case", columns="forecaster", values="p_event").sort_index()
    info = table.drop_duplicates("case").set_index("case").loc[wide.index]
    o = info["occurred"].to_numpy(float)
    samples = bootstrap_indices(group_codes(info["group"].tolist()), n_boot, seed)
    pm = wide[model].to_numpy(float)
    metrics = {"brier": lambda p, ix: brier(p[ix], o[ix]).mean(),
               "log": lambda p, ix: log_score(p[ix], o[ix], floor).mean(),
               "auc": lambda p, ix: auc(p[ix], o[ix])}
    rows = []
    everything = np.arange(len(o))
    for base in baselines:
        pb = wide[base].to_numpy(float)
        for metric, f in metrics.items():
            diff = f(pm, everything) - f(pb, everything)
            lo, hi = interval([f(pm, ix) - f(pb, ix) for ix in samples])
            rows.append({"model": model, "baseline": base, "metric": metric, "difference": float(diff),
                         "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows)


def leave_one_group_out(codes: Array) -> list[tuple[Array, Array]]:
    """(train, test) index pairs: each group held out once."""
    idx = np.arange(len(codes))
    return [(idx[codes != g], idx[codes == g]) for g in range(codes.max() + 1)]


def oof_base_rate(events: Array, exposure_years: Array, kinds: Sequence[str], window_years: Array,
                  codes: Array) -> Array:
    """Out-of-fold base-rate forecast per case: 1 - exp(-h * window_years).

    ``h`` = (events + 1/2) / exposure over the training cases (other groups) at risk of the same
    event kind (all training cases if none is): the mean of the Gamma(events + 1/2, exposure)
    posterior of the rate per year.
    """
    events, exposure = np.asarray(events, float), np.asarray(exposure_years, float)
    kinds = np.asarray(kinds, dtype=object)
    out = np.empty(len(events))
    for train, test in leave_one_group_out(codes):
        for i in test:
            same = train[kinds[train] == kinds[i]]
            if exposure[same].sum() <= 0:  # no training case at risk of this event: pool all kinds
                same = train
            h = (events[same].sum() + 0.5) / max(exposure[same].sum(), 1e-9)
            out[i] = 1.0 - np.exp(-h * window_years[i])
    return out


def paired_grouped_se(table: pd.DataFrame, model: str, baseline: str, floor: float = LOG_FLOOR) -> pd.DataFrame:
    """Mean per-case score difference (model minus baseline; Brier and log score, lower is better)
    with its grouped standard error: cases in one decision group are one cluster, so

        se = sqrt(G / (G - 1) * sum_g (sum_{i in g} (d_i - mean d))**2) / N

    over N cases in G groups (the cluster-robust standard error of a mean). ``table`` as in
    ``paired_differences``. Returns one row per metric: metric, difference, se, cases, groups.
    """
    wide = table.pivot(index="case", columns="forecaster", values="p_event").sort_index()
    info = table.drop_duplicates("case").set_index("case").loc[wide.index]
    o = info["occurred"].to_numpy(float)
    codes = group_codes(info["group"].tolist())
    G, N = int(codes.max()) + 1, len(o)
    rows = []
    for metric, f in (("brier", lambda p: brier(p, o)), ("log", lambda p: log_score(p, o, floor))):
        d = f(wide[model].to_numpy(float)) - f(wide[baseline].to_numpy(float))
        sums = np.bincount(codes, weights=d - d.mean(), minlength=G)
        se = float(np.sqrt(G / (G - 1) * (sums ** 2).sum()) / N) if G > 1 else float("nan")
        rows.append({"model": model, "baseline": baseline, "metric": metric, "difference": float(d.mean()),
                     "se": se, "cases": N, "groups": G})
    return pd.DataFrame(rows)
