"""Updating an ensemble on dated news: condition its parameter draws and replicates on observations.

Given a scenario whose ``observed.observations`` list dated news (``schema.Observation``):

1. The ensemble is re-simulated from the start with the same seed and parameter draws as the
   parent, with every observed shock forced (on where observed; off elsewhere up to ``through``
   for each shock in ``complete_shocks``; see ``model.forced_shocks``).
2. Each draw d is weighted by its likelihood of the forced shocks,
   L_d = prod over forced (shock k, step t) of p_dk(t) if it fired else 1 - p_dk(t),
   with p_dk(t) the draw's rate (or its probability at a scheduled quarter, 0 elsewhere; 1 where
   the scenario scripts the shock). A handful of dated shocks thus re-weights the draws instead
   of discarding almost every replicate.
3. Other observations (the event had or had not happened by a date; an indicator inside a range)
   weight replicates by 1 if consistent, else 0. Replicate weight w_r = L_d(r) x consistent_r.
4. With Kish's effective sample size ESS = (sum w)^2 / sum w^2 below ``min_ess``, the draws are
   rejuvenated: resampled (systematic) with probability proportional to L_d (c_d + eps), c_d the
   share of d's replicates consistent so far and eps = 1 / (replicates per draw), and re-simulated
   from the start under a fresh seed (so no child shares a parent's random numbers). Each new
   replicate then weighs consistent_r / (c_d + eps), the ratio of target to proposal: unbiased for
   any eps > 0 because c_d comes from earlier generations only.

Estimates are weighted ratios with cluster-robust intervals (``estimates.clustered_interval`` on
weighted sums per draw).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alignsim.engine.ensemble import (EVENT_COLUMNS, OUTCOME_COLUMNS, EnsembleResult, QuarterTotals, batch_bounds,
                                      record_columns, run_batch)
from alignsim.engine.estimates import clustered_interval, event_step
from alignsim.engine.model import forced_shocks
from alignsim.engine.priors import sample_draws
from alignsim.engine.streams import uniforms
from alignsim.errors import ConfigError
from alignsim.scenario import Observation, Scenario, read_yaml, validate_document
from alignsim.scenario.schema import check_observations
from alignsim.scenario.timeaxis import Quarter

MIN_ESS_FRACTION = 0.1   # rejuvenate when the ESS falls below this share of the replicates
MAX_GENERATIONS = 3
NEWS_FIELDS = ("name", "scenario", "through", "complete_shocks", "observations", "unmodelled")


# ---------------------------------------------------------------- the news file

@dataclass(frozen=True)
class News:
    """A news file: dated observations and the quarter through which they are complete."""

    name: str
    path: str
    through: str
    complete_shocks: tuple[str, ...]
    observations: tuple[Observation, ...]


def load_news(path: str | Path, scenario: Scenario) -> News:
    """Read and check a news file against ``scenario``; ConfigError (one line) on the first problem."""
    path = Path(path)
    doc = read_yaml(path, "news")
    where = path.name
    for key in doc:
        if key not in NEWS_FIELDS:
            raise ConfigError(f"{where}: {key}", doc[key], f"one of the news file's fields {list(NEWS_FIELDS)}")
    items = doc.get("observations")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{where}: observations", items, "a non-empty list of dated observations")
    obs: list[Observation] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: observations.{i}", item, "a mapping with date, kind and what was observed")
        try:
            obs.append(Observation.model_validate({"basis": "measured", **item}))
        except Exception as exc:  # pydantic's error, turned into one line naming the field
            raise _one_line(f"{where}: observations.{i}", item, exc) from None
    for i, ob in enumerate(obs):
        q = Quarter.parse(ob.date)
        if not scenario.axis.start <= q <= scenario.axis.end:
            raise ConfigError(f"{where}: observations.{i}.date", ob.date,
                              f"a quarter within the run's horizon {scenario.start}..{scenario.end}")
        if ob.kind == "event" and ob.event != scenario.event.kind:
            raise ConfigError(f"{where}: observations.{i}.event", ob.event,
                              f"the run's event kind {scenario.event.kind!r} (an unknown event cannot be observed)")
        if ob.kind == "shock" and ob.shock not in scenario.shocks:
            raise ConfigError(f"{where}: observations.{i}.shock", ob.shock, f"a shock of the run: {sorted(scenario.shocks)}")
        if ob.kind == "indicator" and ob.driver not in scenario.drivers:
            raise ConfigError(f"{where}: observations.{i}.driver", ob.driver, f"a driver of the run: {sorted(scenario.drivers)}")
    through = doc.get("through", max((ob.date for ob in obs), key=Quarter.parse))
    try:
        Quarter.parse(through)
    except ValueError as exc:
        raise ConfigError(f"{where}: through", through, str(exc).split(", got")[0]) from None
    complete = doc.get("complete_shocks", [])
    if not isinstance(complete, list) or any(k not in scenario.shocks for k in complete):
        raise ConfigError(f"{where}: complete_shocks", complete, f"a list of the run's shocks {sorted(scenario.shocks)}")
    return News(str(doc.get("name", path.stem)), str(path), str(through), tuple(complete), tuple(obs))


def _one_line(field: str, value: object, exc: Exception) -> ConfigError:
    errors = getattr(exc, "errors", None)
    if errors is None:
        return ConfigError(field, value, str(exc))
    err = errors()[0]
    problem = (err.get("ctx") or {}).get("error")
    loc = ".".join(str(p) for p in err["loc"])
    if problem is not None and hasattr(problem, "field"):
        sub = ".".join(p for p in (loc, problem.field) if p)
        return ConfigError(f"{field}.{sub}" if sub else field, problem.value, problem.expected)
    return ConfigError(f"{field}.{loc}" if loc else field, err.get("input"), err["msg"].removeprefix("Value error, "))


def conditioned_scenario(parent: Scenario, news: News, parent_dir: str | None = None) -> Scenario:
    """The parent scenario with the news as ``observed.observations`` (through the news's last
    quarter; the conditional window still ends at the parent's ``window_end`` or its end)."""
    doc = parent.model_dump(mode="json", exclude_none=True)
    old = doc.get("observed") or {}
    event_obs = [ob for ob in news.observations if ob.kind == "event"]
    occurred = any(ob.occurred for ob in event_obs)
    doc["observed"] = {
        "through": news.through, "occurred": occurred,
        "window_end": old.get("window_end", parent.end),
        "observations": [ob.model_dump(mode="json", exclude_none=True) for ob in news.observations],
        "complete_shocks": list(news.complete_shocks),
        "parent": parent_dir,
        "basis": "setting", "note": f"conditioned on the news file {Path(news.path).name} ({news.name})",
    }
    doc["observed"] = {k: v for k, v in doc["observed"].items() if v is not None}
    if Quarter.parse(doc["observed"]["window_end"]) <= Quarter.parse(news.through):
        doc["observed"]["window_end"] = parent.end
    scenario = validate_document(doc)
    check_observations(scenario)
    return scenario


# ---------------------------------------------------------------- likelihoods

def draw_log_likelihood(s: Scenario, draws: pd.DataFrame) -> np.ndarray:
    """log L_d of the forced shocks for each draw (shape (D,)); -inf where impossible."""
    axis = s.axis
    scripted = {(x.shock, axis.step_of(Quarter.parse(x.date))) for x in s.scripted}
    ll = np.zeros(len(draws))
    with np.errstate(divide="ignore"):
        for step, fixed in forced_shocks(s).items():
            for name, fired in fixed.items():
                p = _shock_probability(s, draws, name, step, scripted)
                ll += np.log(p) if fired else np.log1p(-p)
    return ll


def _shock_probability(s: Scenario, draws: pd.DataFrame, name: str, step: int, scripted: set) -> np.ndarray:
    if (name, step) in scripted:
        return np.ones(len(draws))
    shock = s.shocks[name]
    if shock.rate is not None:
        return draws[f"shocks.{name}.rate"].to_numpy(dtype=np.float64)
    steps = {s.axis.step_of(Quarter.parse(q)) for q in shock.schedule}
    p = draws[f"shocks.{name}.probability"].to_numpy(dtype=np.float64)
    return p if step in steps else np.zeros(len(draws))


def observation_checks(s: Scenario, outcomes: pd.DataFrame) -> list[tuple[int, Observation, np.ndarray]]:
    """(index, observation, consistent per replicate) for every replicate-level observation."""
    steps = event_step(EnsembleResult(s, 0, pd.DataFrame(), outcomes, None))  # type: ignore[arg-type]
    out = []
    for i, ob in enumerate(s.observed.observations if s.observed else []):
        step = s.axis.step_of(Quarter.parse(ob.date))
        if ob.kind == "event":
            happened = (steps > 0) & (steps <= step)
            out.append((i, ob, happened if ob.occurred else ~happened))
        elif ob.kind == "indicator":
            v = outcomes[f"at.{step}.drivers.{ob.driver}"].to_numpy()
            out.append((i, ob, (v >= ob.range[0]) & (v <= ob.range[1])))
    return out


def describe_observation(ob: Observation) -> str:
    if ob.kind == "shock":
        return f"{ob.date} shock {ob.shock}"
    if ob.kind == "event":
        return f"{ob.date} event {ob.event} {'occurred' if ob.occurred else 'not occurred'}"
    return f"{ob.date} indicator {ob.driver} in [{ob.range[0]:g}, {ob.range[1]:g}]"


def kish_ess(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=np.float64)
    total = w.sum()
    return float(total**2 / np.square(w).sum()) if total > 0 else 0.0


# ---------------------------------------------------------------- simulation and weights

def simulate_draw_table(s: Scenario, draws: pd.DataFrame, replicates: int, seed: int, batch_size: int) -> EnsembleResult:
    """The ensemble of ``replicates`` over a given draw table (replicate i takes draw i mod D)."""
    parts, totals = [], None
    keep = OUTCOME_COLUMNS
    for start, stop in batch_bounds(replicates, batch_size):
        res = run_batch(s, draws, replicates, seed, start, stop)
        cols = keep + [c for c in EVENT_COLUMNS if c in res.replicates] + record_columns(res.replicates)
        parts.append(res.replicates[cols].copy())
        totals = res.totals if totals is None else totals + res.totals
    return EnsembleResult(s, seed, draws, pd.concat(parts), totals)  # type: ignore[arg-type]


def child_seed(seed: int, generation: int) -> int:
    """A fresh master seed for generation ``generation`` (>= 1): no stream key is shared with ``seed``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(b"rejuvenate"), int(generation)])
    return int(state.generate_state(1, np.uint64)[0] >> np.uint64(1))


def systematic_resample(p: np.ndarray, n: int, u: float) -> np.ndarray:
    """Indices of ``n`` systematic draws from probabilities ``p`` with offset ``u`` in [0, 1)."""
    edges = np.cumsum(p / p.sum())
    edges[-1] = 1.0
    return np.searchsorted(edges, (u + np.arange(n)) / n, side="right")


@dataclass
class Conditioned:
    """The conditioned ensemble: the last generation's replicates and their weights."""

    scenario: Scenario
    ensemble: EnsembleResult
    weights: np.ndarray                 # (R,) replicate weights of the last generation
    source_draw: np.ndarray             # (D,) the parent's draw behind each draw of the last generation
    generations: list[dict] = field(default_factory=list)

    @property
    def ess(self) -> float:
        return kish_ess(self.weights)


def condition(s: Scenario, replicates: int, seed: int, n_draws: int, batch_size: int,
              min_ess: float | None = None, max_generations: int = MAX_GENERATIONS,
              names_for_errors: str = "observations") -> Conditioned:
    """Simulate ``s`` (with observations) and weight it; rejuvenate while ESS < ``min_ess``.

    Raises ConfigError naming the first observation no replicate (or no draw) is consistent with.
    """
    if s.observed is None or not (s.observed.observations or s.observed.complete_shocks):
        raise ConfigError("observed.observations", None, "dated observations to condition on")
    min_ess = MIN_ESS_FRACTION * replicates if min_ess is None else float(min_ess)
    parent_draws = sample_draws(s, seed, min(n_draws, replicates))
    D = len(parent_draws)
    ll = draw_log_likelihood(s, parent_draws)
    _check_shocks_possible(s, parent_draws, names_for_errors)
    L = np.exp(ll - ll[np.isfinite(ll)].max())
    ens = simulate_draw_table(s, parent_draws, replicates, seed, batch_size)
    src = np.arange(D)
    consistent = _consistent(s, ens, names_for_errors)
    draw_of = ens.outcomes["draw"].to_numpy()
    weights = L[draw_of] * consistent
    hits = np.bincount(draw_of, weights=consistent, minlength=D)
    tries = np.bincount(draw_of, minlength=D).astype(float)
    generations = [{"generation": 0, "seed": int(seed), "ess": kish_ess(weights), "replicates": int(replicates),
                    "consistent": int(consistent.sum()), "draws_ess": kish_ess(L)}]
    g = 0
    while generations[-1]["ess"] < min_ess and g < max_generations:
        g += 1
        eps = 1.0 / max(tries.max(), 1.0)
        c_hat = np.where(tries > 0, hits / np.maximum(tries, 1), 0.0)
        q = L * (c_hat + eps)
        u = float(uniforms(seed, "rejuvenate", g, 0, 1)[0])
        src = systematic_resample(q, D, u)
        draws = parent_draws.iloc[src].reset_index(drop=True)
        draws.index.name = "draw"
        gseed = child_seed(seed, g)
        ens = simulate_draw_table(s, draws, replicates, gseed, batch_size)
        consistent = _consistent(s, ens, names_for_errors)
        local = ens.outcomes["draw"].to_numpy()
        weights = consistent / (c_hat[src] + eps)[local]
        hits += np.bincount(src[local], weights=consistent, minlength=D)
        tries += np.bincount(src[local], minlength=D)
        generations.append({"generation": g, "seed": gseed, "ess": kish_ess(weights), "replicates": int(replicates),
                            "consistent": int(consistent.sum()), "distinct_draws": int(np.unique(src).size)})
    return Conditioned(s, ens, weights, src, generations)


def _check_shocks_possible(s: Scenario, draws: pd.DataFrame, where: str) -> None:
    scripted = {(x.shock, s.axis.step_of(Quarter.parse(x.date))) for x in s.scripted}
    for step, fixed in sorted(forced_shocks(s).items()):
        for name, fired in fixed.items():
            p = _shock_probability(s, draws, name, step, scripted)
            if not (p > 0 if fired else p < 1).any():
                i, ob = next(((i, ob) for i, ob in enumerate(s.observed.observations)
                              if ob.kind == "shock" and ob.shock == name
                              and s.axis.step_of(Quarter.parse(ob.date)) == step), (None, None))
                label = f"{where}.{i} ({describe_observation(ob)})" if ob else f"{where}: {name} absent at {s.axis.quarter_of(step)}"
                raise ConfigError(label, name, "an observation some parameter draw can produce (no draw gives it a "
                                  "chance: widen the priors of its rate or schedule)")


def _consistent(s: Scenario, ens: EnsembleResult, where: str) -> np.ndarray:
    checks = observation_checks(s, ens.outcomes)
    ok = np.ones(len(ens.outcomes), dtype=bool)
    for i, ob, mask in checks:
        if not mask.any():
            raise ConfigError(f"{where}.{i} ({describe_observation(ob)})", ob.date,
                              "an observation some replicate is consistent with; none of "
                              f"{len(mask)} is: widen the priors (e.g. of {ob.driver or 'the decision'}) or check the value")
        ok &= mask
    if not ok.any():
        worst = min(checks, key=lambda c: c[2].sum())
        raise ConfigError(f"{where}.{worst[0]} ({describe_observation(worst[1])})", worst[1].date,
                          "observations some replicate is consistent with all at once; none is: widen the priors")
    return ok.astype(np.float64)


# ---------------------------------------------------------------- weighted estimates

def weighted_probability(steps: np.ndarray, first: int, last: int, w: np.ndarray, draw: np.ndarray,
                         at_risk: np.ndarray | None = None) -> dict:
    """Weighted P(first <= event step <= last) [among ``at_risk``], with a cluster-robust 95% interval
    and the weighted 5th-95th percentiles of per-draw probabilities."""
    hit = (steps >= first) & (steps <= last)
    ww = w if at_risk is None else w * at_risk
    ids, g = np.unique(draw, return_inverse=True)
    k = np.bincount(g, weights=ww * hit, minlength=len(ids))
    n = np.bincount(g, weights=ww, minlength=len(ids))
    ci = clustered_interval(k, n)
    use = n > 0
    lo, hi = weighted_percentiles(k[use] / n[use], n[use], (0.05, 0.95))
    return {"estimate": float(ci["estimate"]), "ci_low": float(ci["ci_low"]), "ci_high": float(ci["ci_high"]),
            "se": float(ci["se"]), "n_effective": float(ci["n_eff"]), "epistemic_low": lo, "epistemic_high": hi}


def weighted_percentiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    order = np.argsort(values, kind="stable")
    v, cw = values[order], np.cumsum(weights[order])
    if v.size == 0 or cw[-1] <= 0:
        return [float("nan")] * len(qs)
    return [float(v[min(np.searchsorted(cw, q * cw[-1]), v.size - 1)]) for q in qs]


def weighted_summary(c: Conditioned) -> dict:
    """The conditioned forecast as plain data (the shape of ``estimates.summarise`` where it applies)."""
    from alignsim.engine.base_rate import base_rates

    s, ens, w = c.scenario, c.ensemble, c.weights
    steps = event_step(ens)
    draw = ens.outcomes["draw"].to_numpy()
    axis = s.axis
    cumulative = []
    for step in axis.year_end_steps():
        p = weighted_probability(steps, 1, step, w, draw)
        q = axis.quarter_of(step)
        cumulative.append({"date": q.end_date(), "quarter": str(q), **{k: p[k] for k in (
            "estimate", "ci_low", "ci_high", "epistemic_low", "epistemic_high")}})
    headline = weighted_probability(steps, 1, axis.n_steps, w, draw)
    obs = s.observed
    conditional = None
    if obs is not None and not obs.occurred:
        through = axis.step_of(Quarter.parse(obs.through))
        end = axis.step_of(Quarter.parse(obs.window_end))
        at_risk = (steps <= 0) | (steps > through)
        p = weighted_probability(steps, through + 1, end, w, draw, at_risk)
        conditional = {"after": obs.through, "window_end": obs.window_end, "at_risk": int((at_risk & (w > 0)).sum()),
                       **{k: p[k] for k in ("estimate", "ci_low", "ci_high", "epistemic_low", "epistemic_high")}}
    hit = steps > 0
    med = None
    if (w * hit).sum() > 0 and s.event.kind != "member_at":
        med = str(axis.quarter_of(int(weighted_percentiles(steps[hit].astype(float), w[hit], (0.5,))[0])))
    return {
        "scenario": s.name, "question": s.question, "event_kind": s.event.kind, "start": s.start,
        "horizon": s.end, "replicates": int(len(w)), "seed": int(ens.seed),
        "probability": headline, "cumulative": cumulative, "median_event_quarter": med,
        "conditional": conditional,
        "resolution": s.resolution.model_dump(mode="json", exclude_none=True) if s.resolution else None,
        "base_rate": base_rates(s),
        "update": {"ess": c.ess, "ess_fraction": c.ess / len(w), "generations": c.generations,
                   "observations": len(obs.observations) if obs else 0,
                   "complete_shocks": list(obs.complete_shocks) if obs else [],
                   "through": obs.through if obs else None, "parent": obs.parent if obs else None},
    }


def changes_since_parent(parent: dict, child: dict) -> pd.DataFrame:
    """Parent vs child: the headline, the conditional window and each common year-end."""
    rows = [("P(event by the horizon)", parent["probability"]["estimate"], child["probability"]["estimate"])]
    pc, cc = parent.get("conditional"), child.get("conditional")
    if pc and cc:
        rows.append((f"P(event after {pc['after']} to {pc['window_end']} | none by then) [parent]",
                     pc["estimate"], float("nan")))
        rows.append((f"P(event after {cc['after']} to {cc['window_end']} | news) [child]", float("nan"), cc["estimate"]))
    child_ye = {c["quarter"]: c["estimate"] for c in child["cumulative"]}
    for c in parent["cumulative"]:
        if c["quarter"] in child_ye:
            rows.append((f"P(event by {c['quarter']})", c["estimate"], child_ye[c["quarter"]]))
    frame = pd.DataFrame(rows, columns=["quantity", "parent", "child"])
    frame["change"] = frame["child"] - frame["parent"]
    return frame


def observations_table(s: Scenario) -> pd.DataFrame:
    obs = s.observed.observations if s.observed else []
    return pd.DataFrame([{"date": ob.date, "kind": ob.kind, "what": describe_observation(ob).split(" ", 1)[1],
                          "source": ob.source or "", "note": ob.note or ""} for ob in obs])


def format_update(summary: dict) -> str:
    u = summary["update"]
    p = summary["probability"]
    lines = [f"Updated on {u['observations']} observations through {u['through']} "
             f"(parent: {u['parent']}); ESS {u['ess']:.0f} of {summary['replicates']} replicates "
             f"after {len(u['generations']) - 1} rejuvenation(s).",
             f"P(event by {summary['horizon']}) = {p['estimate']:.1%} (MC 95% {p['ci_low']:.1%}-{p['ci_high']:.1%})"]
    cond = summary.get("conditional")
    if cond:
        lines.append(f"P(event after {cond['after']} through {cond['window_end']} | news) = {cond['estimate']:.1%} "
                     f"(MC 95% {cond['ci_low']:.1%}-{cond['ci_high']:.1%}; epistemic "
                     f"{cond['epistemic_low']:.1%}-{cond['epistemic_high']:.1%})")
    return "\n".join(lines)


__all__ = ["Conditioned", "News", "QuarterTotals", "changes_since_parent", "child_seed", "condition",
           "conditioned_scenario", "draw_log_likelihood", "format_update", "kish_ess", "load_news",
           "observation_checks", "observations_table", "systematic_resample", "weighted_summary"]


# ---------------------------------------------------------------- a run folder on news

@dataclass
class UpdateResult:
    conditioned: Conditioned
    summary: dict
    parent_summary: dict
    pathways: pd.DataFrame
    signposts: pd.DataFrame
    out_dir: Path | None


def update_run(run_dir: str | Path, news_path: str | Path, out: str | Path | None = None,
               min_ess: float | None = None, max_generations: int = MAX_GENERATIONS,
               save: bool = True) -> UpdateResult:
    """Condition a finished run on a news file and (with ``save``) write a child run folder.

    Everything is computed before the folder is created, so a bad news file (malformed date,
    unknown event, an observation no replicate is consistent with) writes nothing.
    """
    from alignsim.analyses.pathways import find_pathways
    from alignsim.analyses.signposts import signposts
    from alignsim.runs.report import read_run

    run_dir = Path(run_dir)
    parent_summary, manifest, parent, _ = read_run(run_dir)
    news = load_news(news_path, parent)
    child = conditioned_scenario(parent, news, str(run_dir))
    c = condition(child, int(manifest["replicates"]), int(manifest["seed"]), int(manifest["draws"]),
                  int(manifest.get("batch_size") or child.monte_carlo.batch_size), min_ess, max_generations,
                  names_for_errors=f"{Path(news_path).name}: observations")
    summary = weighted_summary(c)
    summary["changes_since_parent"] = changes_since_parent(parent_summary, summary).to_dict("records")
    paths = find_pathways(c.ensemble, weights=c.weights)
    posts = signposts(c.ensemble, weights=c.weights)
    out_dir = None
    if save:
        from alignsim.runs.child import write_child_run

        parent_record = manifest
        out_dir = write_child_run(run_dir, c.scenario, summary, parent_record, {
            "news_file": str(news_path), "news_name": news.name, "ess": c.ess, "generations": c.generations},
            tables={"pathways.csv": paths, "signposts.csv": posts, "observations.csv": observations_table(c.scenario),
                    "changes.csv": pd.DataFrame(summary["changes_since_parent"]),
                    "state_at_through.csv": state_at_through(c)},
            weights=pd.DataFrame({"replicate": c.ensemble.outcomes.index.to_numpy(),
                                  "draw": c.ensemble.outcomes["draw"].to_numpy(), "weight": c.weights,
                                  "source_draw": c.source_draw[c.ensemble.outcomes["draw"].to_numpy()]}),
            out=out)
        summary["output"] = str(out_dir)
    return UpdateResult(c, summary, parent_summary, paths, posts, out_dir)


def update_scenario(config: str | Path, out: str | Path | None = None, min_ess: float | None = None,
                    max_generations: int = MAX_GENERATIONS, save: bool = True,
                    overrides: list[str] | tuple[str, ...] = ()) -> UpdateResult:
    """A scenario whose ``observed:`` lists observations, conditioned from scratch (no parent
    folder): the same folder as ``update_run`` writes, with ``parent`` null."""
    from alignsim.analyses.pathways import find_pathways
    from alignsim.analyses.signposts import signposts
    from alignsim.scenario import load_scenario

    s = load_scenario(config, overrides)
    if s.observed is None or not (s.observed.observations or s.observed.complete_shocks):
        raise ConfigError("observed.observations", None, f"dated observations in {config} to condition on")
    mc = s.monte_carlo
    c = condition(s, mc.replicates, mc.seed, mc.draws, mc.batch_size, min_ess, max_generations,
                  names_for_errors="observed.observations")
    summary = weighted_summary(c)
    paths = find_pathways(c.ensemble, weights=c.weights)
    posts = signposts(c.ensemble, weights=c.weights)
    out_dir = None
    if save:
        from alignsim.runs.child import write_child_run

        out_dir = write_child_run(None, c.scenario, summary, {"draws": mc.draws, "batch_size": mc.batch_size},
                                  {"config_path_given": str(config), "ess": c.ess, "generations": c.generations},
                                  tables={"pathways.csv": paths, "signposts.csv": posts,
                                          "observations.csv": observations_table(c.scenario),
                                          "state_at_through.csv": state_at_through(c)},
                                  weights=pd.DataFrame({"replicate": c.ensemble.outcomes.index.to_numpy(),
                                                        "draw": c.ensemble.outcomes["draw"].to_numpy(),
                                                        "weight": c.weights}), out=out)
        summary["output"] = str(out_dir)
    return UpdateResult(c, summary, {}, paths, posts, out_dir)


def state_at_through(c: Conditioned) -> pd.DataFrame:
    """Weighted 5/50/95% and mean of every variable at ``observed.through`` (the state the news leads
    to), one row per variable reference."""
    s, out, w = c.scenario, c.ensemble.outcomes, c.weights
    step = min(s.axis.step_of(Quarter.parse(s.observed.through)), s.axis.n_steps)
    rows = []
    for col in [x for x in out.columns if x.startswith(f"at.{step}.")]:
        v = out[col].to_numpy(dtype=np.float64)
        q05, q50, q95 = weighted_percentiles(v[w > 0], w[w > 0], (0.05, 0.5, 0.95))
        rows.append({"variable": col.removeprefix(f"at.{step}."), "quarter": str(s.axis.quarter_of(step)),
                     "mean": float((w * v).sum() / w.sum()), "q05": q05, "q50": q50, "q95": q95})
    return pd.DataFrame(rows)
