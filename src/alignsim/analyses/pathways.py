"""Pathways: the replicates in which the event happens, grouped by the shocks that came before it.

Features (per event replicate i with event step t_i): for each shock k, whether it fired at or
before the event's quarter (strictly before when the scenario decides before its shocks, see
``cutoff_steps``), read from the shock record (``ensemble.ShockLog``). Only what happened before
the event enters, never what followed it.

Grouping is a shallow oblivious tree (the same split across a level; depth 2, so at most four
pathways). In a node, shock k's enrichment is z_k = (O_k - E_k) / sqrt(sum_i F_k(c_i) (1 - F_k(c_i))),
with O_k the node's replicates in which k fired by their cutoff c_i and F_k(c) the share of all
replicates in which k had fired by c (its expected share if the shock had nothing to do with the
event). Each level splits on the shock with the largest sum of z^2 while some leaf's |z| reaches
``z_min``; empty leaves are dropped, small ones pooled as 'other'. Each leaf is a pathway: its rules, its share of P(event), its
median event quarter and a one-line description generated from the rules.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from alignsim.engine.ensemble import EnsembleResult, ShockLog
from alignsim.engine.estimates import event_step
from alignsim.scenario import Scenario

DEPTH = 2
Z_MIN = 5.0
MIN_SHARE = 0.05


def cutoff_steps(scenario: Scenario, steps: np.ndarray) -> np.ndarray:
    """Last step whose shocks can precede the event at ``steps``: the event's own step when
    shocks are drawn before the decision in the scenario's ``order``, else the step before."""
    same = scenario.order.index("shocks") < scenario.order.index("decision")
    return steps if same else steps - 1


def fired_by(outcomes: pd.DataFrame, shock: str, cutoff: np.ndarray) -> np.ndarray:
    """Whether ``shock`` fired at some step in 1..cutoff, per replicate (bool, shape (R,)):
    'fired by c' is 'first fire <= c', exact at any horizon from the first-fire record."""
    first = outcomes[f"shock_first.{shock}"].to_numpy().astype(np.int64)
    return (first > 0) & (first <= cutoff)


def fired_share_by_step(outcomes: pd.DataFrame, shock: str, T: int, weights: np.ndarray | None = None) -> np.ndarray:
    """F(c): (weighted) share of all replicates in which ``shock`` had fired by step c, c = 0..T."""
    first = outcomes[f"shock_first.{shock}"].to_numpy().astype(np.int64)
    w = np.ones(len(first)) if weights is None else np.asarray(weights, dtype=np.float64)
    fired = first > 0
    counts = np.bincount(np.clip(first, 0, T + 1)[fired], weights=w[fired], minlength=T + 2)[: T + 1]
    return np.cumsum(counts) / w.sum()


def _z_scores(rows: np.ndarray, X: np.ndarray, F: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Enrichment z of every shock among ``rows`` (0 where a shock cannot vary); with replicate
    weights w, O = sum w x, E = sum w f and var = sum w^2 f (1 - f)."""
    if rows.size == 0:
        return np.zeros(X.shape[1])
    x, f, ww = X[rows], F[rows], w[rows, None]
    var = (ww**2 * f * (1 - f)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(var > 0, ((ww * x).sum(axis=0) - (ww * f).sum(axis=0)) / np.sqrt(var), 0.0)


def choose_splits(X: np.ndarray, F: np.ndarray, w: np.ndarray, depth: int, z_min: float, min_share: float) -> list[int]:
    """Shocks to split on, one per level of an oblivious tree (every node of a level splits on
    the same shock): at each level the shock with the largest sum of z^2 over the current leaves,
    kept while that shock's |z| reaches ``z_min`` in some leaf holding at least ``min_share``."""
    leaves = [np.arange(X.shape[0])]
    chosen: list[int] = []
    for _ in range(depth):
        zs = np.array([_z_scores(r, X, F, w) for r in leaves if w[r].sum() >= min_share * w.sum()])
        if zs.size == 0:
            break
        zs[:, chosen] = 0.0
        k = int(np.argmax((zs ** 2).sum(axis=0)))
        if np.abs(zs[:, k]).max() < z_min:
            break
        chosen.append(k)
        leaves = [part for r in leaves for part in (r[X[r, k]], r[~X[r, k]])]
    return chosen


def find_pathways(result: EnsembleResult, depth: int = DEPTH, z_min: float = Z_MIN,
                  min_share: float = MIN_SHARE, weights: np.ndarray | None = None) -> pd.DataFrame:
    """The event's pathways: one row each (largest first), with ``pathway`` (name),
    ``rules``, ``share`` (of the replicates with the event), ``probability`` (share x P(event)),
    ``replicates``, ``median_quarter`` and ``description``. Empty when no replicate has the event.

    At most 2**depth pathways (``depth`` 2: four; the issue's cap is six); leaves holding less
    than ``min_share`` of the event replicates are merged into an 'other' row. ``weights``
    (one per replicate, e.g. from ``update``) weight every share, count and median."""
    s = result.scenario
    out = result.outcomes
    if not any(c.startswith("shock_first.") for c in out.columns):
        raise ValueError("pathways need the shock record (a run made before it existed has none)")
    steps = event_step(result)
    weights = np.ones(len(steps)) if weights is None else np.asarray(weights, dtype=np.float64)
    hit = np.flatnonzero((steps > 0) & (weights > 0))
    cols = ["pathway", "rules", "share", "probability", "replicates", "median_quarter", "description"]
    if hit.size == 0:
        return pd.DataFrame(columns=cols)
    T = s.axis.n_steps
    cut = np.clip(cutoff_steps(s, steps[hit]), 0, T)
    names = [k for k in s.shocks if 0 < out[f"shock_first.{k}"].gt(0).mean() < 1]  # constant ones say nothing
    sub = out.iloc[hit]
    X = np.column_stack([fired_by(sub, k, cut) for k in names]) if names else np.zeros((hit.size, 0), bool)
    F = np.column_stack([fired_share_by_step(out, k, T, weights)[cut] for k in names]) if names else np.zeros((hit.size, 0))
    w = weights[hit]
    chosen = choose_splits(X, F, w, depth, z_min, min_share) if names else []
    groups: dict[tuple[bool, ...], list[int]] = {}
    for i, key in enumerate(map(tuple, X[:, chosen])):
        groups.setdefault(key, []).append(i)
    p_event = w.sum() / weights.sum()
    rows, other = [], []
    for key, members in sorted(groups.items(), key=lambda kv: -w[kv[1]].sum()):
        if w[members].sum() < min_share * w.sum():
            other += members
            continue
        rules = sorted(((names[k], f) for k, f in zip(chosen, key)), key=lambda r: names.index(r[0]))  # canonical order
        rows.append(_row(s, rules, np.array(members), steps[hit], w, p_event))
    if other:
        row = _row(s, [], np.array(other), steps[hit], w, p_event)
        row.update(pathway="other", rules="leaves each under the minimum share", description="Other combinations: "
                   + row["description"].split(": ", 1)[1])
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _row(s: Scenario, rules: list[tuple[str, bool]], members: np.ndarray, steps: np.ndarray, w: np.ndarray,
         p_event: float) -> dict:
    order = np.argsort(steps[members], kind="stable")
    q, cw = steps[members][order], np.cumsum(w[members][order])
    median = str(s.axis.quarter_of(int(q[np.searchsorted(cw, 0.5 * cw[-1])])))
    share = float(w[members].sum() / w.sum())
    return {"pathway": pathway_name(rules), "rules": rules_text(rules), "share": share,
            "probability": share * p_event, "replicates": int(members.size), "median_quarter": median,
            "description": describe(s, rules, share, median)}


def pathway_name(rules: list[tuple[str, bool]]) -> str:
    """Short name: the shocks that fired, joined by ' + ' ('no shock needed' when none is required)."""
    fired = [k for k, f in rules if f]
    if fired:
        return " + ".join(fired)
    return "none of " + ", ".join(k for k, _ in rules) if rules else "any"


def rules_text(rules: list[tuple[str, bool]]) -> str:
    return " & ".join(f"{k} {'fired' if f else 'did not fire'} before" for k, f in rules) or "(all event replicates)"


def describe(s: Scenario, rules: list[tuple[str, bool]], share: float, median: str) -> str:
    """One line from the rules, e.g. 'After a joint military exercise with the patron, with no
    official denial: 41% of the replicates with the event, median 2027-Q2.'"""
    fired = [_lower_first(s.shocks[k].label) for k, f in rules if f]
    absent = [_lower_first(s.shocks[k].label) for k, f in rules if not f]
    parts = []
    if fired:
        parts.append("after " + " and ".join(f"{'an' if x[0] in 'aeiou' else 'a'} {x}" for x in fired))
    if absent:
        parts.append("with no " + " and no ".join(absent))
    head = ", ".join(parts) if parts else "with no distinguishing shock"
    return f"{head[0].upper()}{head[1:]}: {share:.0%} of the replicates with the event, median {median}."


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


__all__ = ["ShockLog", "cutoff_steps", "find_pathways", "fired_by", "fired_share_by_step"]
