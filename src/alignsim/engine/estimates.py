"""Probabilities with two kinds of uncertainty, from an ensemble's outcomes and quarter totals.

- Monte Carlo: how precisely the replicates estimate the probability under the priors. The
  replicates are clustered: those of one outer parameter draw share its parameters. The standard
  error is therefore cluster-robust (draws as clusters), and the 95% interval is Wilson's at the
  effective sample size n_eff = p (1 - p) / se^2 (Kish's design effect), never above the
  replicate count. With one replicate per draw this is the plain Wilson interval.
- Epistemic: 5th-95th percentiles, across outer parameter draws, of each draw's probability.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignsim.engine.base_rate import base_rates
from alignsim.engine.choice import choice_counts_table, choice_tilt_table
from alignsim.engine.ensemble import EnsembleResult, event_steps, gap_bin_edges
from alignsim.engine.kernels import FIXED_POINT
from alignsim.scenario import Scenario
from alignsim.scenario.timeaxis import Quarter

Z95 = 1.959963984540054


def wilson(k: np.ndarray | int, n: np.ndarray | int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for k successes in n trials (vectorised)."""
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def standard_error(p: np.ndarray | float, n: np.ndarray | int) -> np.ndarray:
    return np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / np.asarray(n))


def clustered_interval(k_g: np.ndarray, n_g: np.ndarray) -> dict[str, np.ndarray]:
    """A ratio estimate sum(k) / sum(n) over clusters, with a cluster-robust 95% interval.

    Args:
        k_g: successes per cluster, shape (G,) or (G, T) for T proportions at once.
        n_g: trials per cluster, same shape as ``k_g`` or (G,).

    Returns arrays (shape () or (T,)): ``estimate``, ``se`` (sqrt of the cluster-robust variance
    G/(G-1) sum_g (k_g - p n_g)^2 / N^2; binomial when G < 2), ``n_eff`` and the Wilson
    interval at ``n_eff`` (``ci_low``, ``ci_high``).
    """
    k_g = np.asarray(k_g, dtype=np.float64)
    n_g = np.asarray(n_g, dtype=np.float64)
    if n_g.ndim < k_g.ndim:
        n_g = np.broadcast_to(n_g[:, None], k_g.shape)
    N = n_g.sum(axis=0)
    K = k_g.sum(axis=0)
    G = np.count_nonzero(n_g, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(N > 0, K / N, np.nan)
        robust = G / np.maximum(G - 1, 1) * ((k_g - p * n_g) ** 2).sum(axis=0) / N**2
        var = np.where(G >= 2, robust, p * (1 - p) / N)
        n_eff = np.where(var > 0, np.minimum(N, p * (1 - p) / var), N)
    low, high = wilson(p * n_eff, n_eff)
    return {"estimate": p, "se": np.sqrt(var), "n_eff": n_eff, "ci_low": low, "ci_high": high}


def clustered_mean_se(values: np.ndarray, clusters: np.ndarray) -> float:
    """Cluster-robust standard error of the mean of ``values`` (shape (R,)), clusters given per value."""
    values = np.asarray(values, dtype=np.float64)
    ids, g = np.unique(clusters, return_inverse=True)
    G, R = len(ids), len(values)
    if G < 2:
        return float(values.std(ddof=1) / np.sqrt(R)) if R > 1 else float("nan")
    resid = np.bincount(g, weights=values - values.mean(), minlength=G)
    return float(np.sqrt(G / (G - 1) * np.sum(resid**2)) / R)


def replicates_per_draw(result: EnsembleResult) -> int:
    """The smallest number of inner replicates behind any outer draw's probability."""
    return int(result.event_counts().by_step.sum(axis=1).min())


def happened_by(scenario: Scenario, outcomes: pd.DataFrame, by_step: int | None = None) -> np.ndarray:
    """(R,) bool: the event happened by the end of step ``by_step`` (default: the horizon)."""
    steps = event_steps(scenario, outcomes)
    by_step = scenario.axis.n_steps if by_step is None else by_step
    return (steps > 0) & (steps <= by_step)


def event_step(result: EnsembleResult) -> np.ndarray:
    """Step of the scenario's event per replicate (-1 if it did not happen in the horizon)."""
    return event_steps(result.scenario, result.outcomes)


def cumulative(result: EnsembleResult) -> pd.DataFrame:
    """P(event by the end of each quarter), with its cluster-robust Wilson interval and se."""
    axis = result.scenario.axis
    T = axis.n_steps
    counts = result.event_counts().by_step                   # (G, T + 1), column 0: no event
    k_g = np.cumsum(counts[:, 1:], axis=1).T                 # (T, G)
    ci = clustered_interval(k_g.T, counts.sum(axis=1))
    return pd.DataFrame({
        "step": np.arange(1, T + 1),
        "quarter": [str(axis.quarter_of(s)) for s in range(1, T + 1)],
        "date": [axis.quarter_of(s).end_date() for s in range(1, T + 1)],
        "events": k_g.sum(axis=1), "estimate": ci["estimate"], "ci_low": ci["ci_low"],
        "ci_high": ci["ci_high"], "se": ci["se"], "n_eff": ci["n_eff"],
    })


def membership(result: EnsembleResult) -> pd.DataFrame:
    """P(member at the end of each quarter), with its cluster-robust Wilson interval."""
    axis = result.scenario.axis
    counts = result.event_counts()
    t = result.totals
    if not np.array_equal(counts.draws, t.member_draw_ids):
        raise ValueError("quarter totals and outcomes cover different parameter draws")
    ci = clustered_interval(t.member_by_draw.T, counts.by_step.sum(axis=1))
    return pd.DataFrame({"step": np.arange(1, axis.n_steps + 1),
                         "quarter": [str(axis.quarter_of(s)) for s in range(1, axis.n_steps + 1)],
                         "estimate": result.totals.member / result.totals.n,
                         "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})


def per_draw_probability(result: EnsembleResult, by_step: int | None = None) -> pd.Series:
    """Each outer draw's share of replicates with the event by ``by_step`` (default: horizon),
    indexed by draw id."""
    counts = result.event_counts()
    by_step = result.scenario.axis.n_steps if by_step is None else by_step
    hits = counts.by_step[:, 1:by_step + 1].sum(axis=1)
    return pd.Series(hits / counts.by_step.sum(axis=1), index=counts.draws)


def epistemic_range(result: EnsembleResult, by_step: int | None = None) -> tuple[float, float]:
    """5th and 95th percentiles of the per-draw probability (includes inner Monte Carlo noise)."""
    p = per_draw_probability(result, by_step).to_numpy()
    return float(np.percentile(p, 5)), float(np.percentile(p, 95))


def year_ends(result: EnsembleResult) -> pd.DataFrame:
    """The cumulative event probability and membership at each year-end of the horizon."""
    cum = cumulative(result)
    mem = membership(result)
    steps = result.scenario.axis.year_end_steps()
    out = cum.set_index("step").loc[steps, ["quarter", "date", "estimate", "ci_low", "ci_high", "se"]]
    m = mem.set_index("step").loc[steps]
    out["member"] = m["estimate"].to_numpy()
    out["member_ci_low"] = m["ci_low"].to_numpy()
    out["member_ci_high"] = m["ci_high"].to_numpy()
    epi = [epistemic_range(result, s) for s in steps]
    out["epistemic_low"] = [e[0] for e in epi]
    out["epistemic_high"] = [e[1] for e in epi]
    return out.reset_index()


def median_event_quarter(result: EnsembleResult) -> str | None:
    """Median quarter of the event among replicates where it happens (lower median); None for
    ``member_at`` / ``status_at``, whose 'event' is a status at one fixed date."""
    if result.scenario.event.kind in ("member_at", "status_at"):
        return None
    per_step = result.event_counts().by_step[:, 1:].sum(axis=0)  # events at steps 1..T
    size = int(per_step.sum())
    if size == 0:
        return None
    step = int(np.searchsorted(np.cumsum(per_step), (size - 1) // 2, side="right")) + 1
    return str(result.scenario.axis.quarter_of(step))


def conditional_window(result: EnsembleResult) -> tuple[np.ndarray, np.ndarray] | None:
    """Per replicate: still at risk after ``observed.through`` (no event by then), and the event
    in (through, window_end]. None when the scenario observes nothing or an event that occurred,
    and for ``member_at`` (a status at one date, not a first event with a window)."""
    obs = result.scenario.observed
    if obs is None or obs.occurred or result.scenario.event.kind in ("member_at", "status_at"):
        return None
    axis = result.scenario.axis
    through = axis.step_of(Quarter.parse(obs.through))
    end = axis.step_of(Quarter.parse(obs.window_end))
    steps = event_step(result)
    return (steps <= 0) | (steps > through), (steps > through) & (steps <= end)


def conditional_by_draw(result: EnsembleResult) -> pd.DataFrame | None:
    """Per outer draw (index ``draw``): ``replicates``, ``at_risk`` (no event by ``observed.through``)
    and ``events`` (the event in (through, window_end]); None as for ``conditional_window``.

    Every conditional estimate starts here: ``conditional`` pools the counts; a weighting of
    draws (history matching) weights each draw's ratio ``events / at_risk``.
    """
    obs = result.scenario.observed
    if obs is None or obs.occurred or result.scenario.event.kind in ("member_at", "status_at"):
        return None
    axis = result.scenario.axis
    through = axis.step_of(Quarter.parse(obs.through))
    end = axis.step_of(Quarter.parse(obs.window_end))
    counts = result.event_counts()
    c = counts.by_step
    frame = pd.DataFrame({"replicates": c.sum(axis=1), "at_risk": c[:, 0] + c[:, max(through, 0) + 1:].sum(axis=1),
                          "events": c[:, max(through, 0) + 1:max(end, through, 0) + 1].sum(axis=1)},
                         index=pd.Index(counts.draws, name="draw"))
    return frame


def conditional(result: EnsembleResult) -> dict | None:
    """P(event in (through, window_end] | no event through ``through``), per ``observed``."""
    draws = conditional_by_draw(result)
    if draws is None:
        return None
    obs = result.scenario.observed
    n, k = int(draws["at_risk"].sum()), int(draws["events"].sum())
    ci = clustered_interval(draws["events"].to_numpy(), draws["at_risk"].to_numpy())
    low, high = ci["ci_low"], ci["ci_high"]
    per_draw = (draws["events"] / draws["at_risk"]).dropna().to_numpy()
    return {"after": obs.through, "window_end": obs.window_end, "at_risk": n, "events": k,
            "estimate": k / n if n else float("nan"), "ci_low": float(low), "ci_high": float(high),
            "epistemic_low": float(np.percentile(per_draw, 5)) if per_draw.size else float("nan"),
            "epistemic_high": float(np.percentile(per_draw, 95)) if per_draw.size else float("nan")}


def contributions(result: EnsembleResult) -> pd.DataFrame:
    """Mean contribution of each driver (and the barrier) to dU per quarter; long table."""
    s = result.scenario
    axis = s.axis
    n = result.totals.n
    quarters = [str(axis.quarter_of(t)) for t in range(1, axis.n_steps + 1)]
    frames = []
    for k, name in enumerate(s.drivers):
        frames.append(pd.DataFrame({"quarter": quarters, "driver": name,
                                    "contribution": result.totals.contributions[:, k] / FIXED_POINT / n}))
    from alignsim.scenario import variable_refs

    b = list(variable_refs(s)).index("barrier")
    frames.append(pd.DataFrame({"quarter": quarters, "driver": "barrier",
                                "contribution": -result.totals.variables[:, b] / FIXED_POINT / n}))
    frames.append(pd.DataFrame({"quarter": quarters, "driver": "dU (total)",
                                "contribution": result.totals.gap / FIXED_POINT / n}))
    return pd.concat(frames, ignore_index=True)


def gap_quantiles(result: EnsembleResult, qs: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> pd.DataFrame:
    """Quantiles of dU per quarter from the fixed-bin histograms (bin resolution)."""
    edges = gap_bin_edges(result.scenario)
    axis = result.scenario.axis
    hist = result.totals.gap_hist
    cdf = np.cumsum(hist, axis=1) / result.totals.n
    # bin j holds values in [edges[j-1], edges[j]); under/overflow bins map to the outer edges
    upper = np.concatenate([edges[:1], edges[1:], edges[-1:]])
    rows = {"quarter": [str(axis.quarter_of(t)) for t in range(1, axis.n_steps + 1)]}
    for q in qs:
        idx = np.argmax(cdf >= q, axis=1)
        rows[f"q{int(round(q * 100)):02d}"] = upper[idx]
    return pd.DataFrame(rows)


def summarise(result: EnsembleResult) -> dict:
    """The run's headline numbers as plain data (``summary.json``)."""
    s = result.scenario
    cum = cumulative(result)
    last = cum.iloc[-1]
    epi = epistemic_range(result)
    ye = year_ends(result)
    bloc = s.bloc.short
    focal = s.actors[s.focal].name
    kind_text = {"first_entry": f"{focal} joins the {bloc} (first entry as a non-member)",
                 "first_exit": f"{focal} formally leaves the {bloc} (first exit, from membership or suspension)",
                 "first_suspension": f"{focal} suspends (freezes) its {bloc} membership without leaving (first suspension)",
                 "member_at": f"{focal} is a member of the {bloc} at {s.event.date}",
                 "status_at": f"{focal}'s {bloc} status at {s.event.date} is {s.event.status}"}[s.event.kind]
    return {
        "scenario": s.name,
        "question": s.question,
        "event": kind_text,
        "event_kind": s.event.kind,
        "start": s.start,
        "horizon": s.end,
        "replicates": int(result.replicates),
        "draws": int(len(result.event_counts().draws)),  # draws with replicates in this run
        "replicates_per_draw": replicates_per_draw(result),
        "monte_carlo_interval": ("Wilson 95% at the cluster-robust effective sample size "
                                 "(replicates clustered by outer parameter draw)"),
        "seed": int(result.seed),
        "probability": {"estimate": float(last["estimate"]), "ci_low": float(last["ci_low"]),
                        "ci_high": float(last["ci_high"]), "se": float(last["se"]),
                        "n_effective": float(last["n_eff"]),
                        "epistemic_low": epi[0], "epistemic_high": epi[1]},
        "cumulative": [{"date": r.date, "quarter": r.quarter, "estimate": float(r.estimate),
                        "ci_low": float(r.ci_low), "ci_high": float(r.ci_high),
                        "epistemic_low": float(r.epistemic_low), "epistemic_high": float(r.epistemic_high)}
                       for r in ye.itertuples()],
        "member_at_year_end": [{"date": r.date, "quarter": r.quarter, "estimate": float(r.member),
                                "ci_low": float(r.member_ci_low), "ci_high": float(r.member_ci_high)}
                               for r in ye.itertuples()],
        "median_event_quarter": median_event_quarter(result),
        "conditional": conditional(result),
        "resolution": s.resolution.model_dump(mode="json", exclude_none=True) if s.resolution else None,
        "base_rate": base_rates(s),
    }


def choices(result: EnsembleResult) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The strategic powers' choices: (per quarter, by the focal state's tilt) as tidy tables
    (``engine.choice.choice_counts_table`` / ``choice_tilt_table``); None for rule-based powers."""
    t = result.totals
    if t.choices is None:
        return None
    return (choice_counts_table(result.scenario, t.choices),
            choice_tilt_table(result.scenario, t.choices_by_tilt))
