"""Signposts: what an analyst can watch in the next quarters, and how seeing it moves the odds.

From one ensemble, no new runs. The forecast's origin o is the first quarter after
``observed.through`` (or the start); its horizon H is ``observed.window_end`` (or the end), and
only replicates still at risk at o count (no event before o). A signpost is observable and
sourced:

- a shock (each is cited in the config) fires at least once in quarters o .. o + w - 1,
  for w in ``SIGNPOST_WINDOWS`` (read from the shock record's bits);
- a measured driver (an indicator with a sourced value) is above its median across replicates
  at the end of that window (recorded at those steps by ``ensemble.recorded_values``).

For each: P(seen), P(event by H | seen), P(event by H | not seen), with cluster-robust 95%
intervals (replicates clustered by parameter draw), and their ratio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alignsim.engine.ensemble import SIGNPOST_WINDOWS, ShockLog, EnsembleResult, forecast_origin
from alignsim.engine.estimates import clustered_interval, event_step
from alignsim.scenario.timeaxis import Quarter


def horizon_step(result: EnsembleResult) -> int:
    s = result.scenario
    obs = s.observed
    if obs is not None and not obs.occurred:
        return s.axis.step_of(Quarter.parse(obs.window_end))
    return s.axis.n_steps


def fired_in(outcomes: pd.DataFrame, shock: str, first: int, last: int) -> np.ndarray:
    """Whether ``shock`` fired in steps first..last (1-based, last <= 64), per replicate."""
    if last > ShockLog.BITS:
        raise ValueError(f"signpost window ends at step {last}, beyond the {ShockLog.BITS} steps the shock record keeps")
    bits = outcomes[f"shock_bits.{shock}"].to_numpy().astype(np.uint64)
    mask = np.uint64(((1 << last) - 1) ^ ((1 << (first - 1)) - 1))
    return (bits & mask) != 0


def _conditional(hit: np.ndarray, seen: np.ndarray, draw: np.ndarray, w: np.ndarray) -> dict:
    ids, g = np.unique(draw, return_inverse=True)
    out = {}
    for name, mask in (("seen", seen), ("not_seen", ~seen)):
        k = np.bincount(g, weights=w * (hit & mask), minlength=len(ids))
        n = np.bincount(g, weights=w * mask, minlength=len(ids))
        ci = clustered_interval(k, n)
        out[name] = (float(ci["estimate"]), float(ci["ci_low"]), float(ci["ci_high"]), int(mask.sum()))
    return out


def signposts(result: EnsembleResult, windows: tuple[int, ...] = SIGNPOST_WINDOWS,
              weights: np.ndarray | None = None) -> pd.DataFrame:
    """One row per signpost and window: ``signpost``, ``kind``, ``window`` (quarters), ``by``
    (last quarter of the window), ``p_seen``, ``p_event_if_seen`` (+ ``_low``/``_high``),
    ``p_event_if_not_seen`` (+ ``_low``/``_high``), ``ratio`` (seen / not seen), ``p_event``
    and ``description``; sorted by how far the ratio is from 1. ``weights`` (one per replicate,
    e.g. from ``update``) weight every probability; the indicator threshold is then the weighted
    median."""
    s = result.scenario
    out = result.outcomes
    origin, H = forecast_origin(s), horizon_step(result)
    steps = event_step(result)
    weights = np.ones(len(steps)) if weights is None else np.asarray(weights, dtype=np.float64)
    at_risk = ((steps <= 0) | (steps >= origin)) & (weights > 0)
    hit = ((steps >= origin) & (steps <= H))[at_risk]
    sub = out[at_risk]
    w = weights[at_risk]
    draw = sub["draw"].to_numpy()
    p_event = float((w * hit).sum() / w.sum())
    rows = []
    for width in windows:
        last = origin + width - 1
        if last > min(H, s.axis.n_steps):
            continue
        by = str(s.axis.quarter_of(last))
        candidates = []
        for k, shock in s.shocks.items():
            if last <= ShockLog.BITS:
                candidates.append((k, "shock", fired_in(sub, k, origin, last),
                                   f"{shock.label} ({k}) at least once from {s.axis.quarter_of(origin)} to {by}"))
        for k, d in s.drivers.items():
            col = f"at.{last}.drivers.{k}"
            if col in sub:
                v = sub[col].to_numpy()
                order = np.argsort(v, kind="stable")
                threshold = float(v[order][np.searchsorted(np.cumsum(w[order]), 0.5 * w.sum())])
                candidates.append((k, "indicator", v > threshold,
                                   f"{d.label} ({k}) above {threshold:.3g} (its median across replicates) at {by}"))
        for name, kind, seen, text in candidates:
            if seen.all() or not seen.any():
                continue  # scripted or impossible in this window: seeing it tells nothing
            c = _conditional(hit, seen, draw, w)
            ratio = c["seen"][0] / c["not_seen"][0] if c["not_seen"][0] > 0 else float("inf")
            rows.append({"signpost": name, "kind": kind, "window": width, "by": by, "p_seen": float((w * seen).sum() / w.sum()),
                         "p_event_if_seen": c["seen"][0], "p_event_if_seen_low": c["seen"][1],
                         "p_event_if_seen_high": c["seen"][2], "p_event_if_not_seen": c["not_seen"][0],
                         "p_event_if_not_seen_low": c["not_seen"][1], "p_event_if_not_seen_high": c["not_seen"][2],
                         "ratio": ratio, "p_event": p_event,
                         "description": f"If {text[0].lower() + text[1:]}: P(event by {s.axis.quarter_of(H)}) goes "
                                        f"from {p_event:.1%} to {c['seen'][0]:.1%} (if not: {c['not_seen'][0]:.1%})."})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    order = np.argsort(-np.abs(np.log(frame["ratio"].clip(1e-9, 1e9).to_numpy())), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def moves_the_odds(row: pd.Series) -> bool:
    """True when the two conditional intervals do not overlap (seeing it changes the odds
    beyond Monte Carlo error)."""
    return bool(row["p_event_if_seen_low"] > row["p_event_if_not_seen_high"]
                or row["p_event_if_seen_high"] < row["p_event_if_not_seen_low"])
