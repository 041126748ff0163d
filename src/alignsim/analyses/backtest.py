"""Backtests: score the model, with one set of priors, against what really happened.

A backtest folder holds case scenarios (each with an observed ``outcome``) and
``reference-class.yaml``, the cited base rates of the two baselines. For each case:

- model (prior): P(event within the case's window), pooled over outer draws x inner replicates;
- model (matched out of fold): the same, with draws weighted by the likelihood of the outcomes
  of the *other* decision groups (``history``), so no case is scored in-sample;
- base rate out of fold: ``1 - exp(-h years)`` with ``h`` the other groups' rate of the same
  event per state-year (``scoring.oof_base_rate``);
- base rate (reference class, if the folder has ``reference-class.yaml``): ``1 - (1 - h)^(years)``
  with ``h`` the cited rate per state-year (entries per non-member-year for ``first_entry``,
  exits per member-year for ``first_exit``, suspensions per member-year
  for ``first_suspension``);
- nothing changes: P(event) = 0 (the state at the start persists).

Overall scores, AUC intervals, calibration and paired differences: ``scoring``.

Scores per case: Brier ``(p - o)^2`` and log score ``-ln max(P(observed outcome), LOG_FLOOR)``;
lower is better for both. The floor keeps "nothing changes" finite when the event happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alignsim.analyses import history, scoring
from alignsim.errors import ConfigError
from alignsim.engine.estimates import clustered_interval
from alignsim.scenario.evidence import describe_prior
from alignsim.scenario import Cited, Frozen, Scenario, load_scenario, read_yaml, validate_model
from alignsim.scenario.timeaxis import Quarter

REFERENCE_FILE = "reference-class.yaml"
LOG_FLOOR = 1e-3
MIN_RELIABILITY_CASES = 10
FORECASTERS = ("model_prior", "model_matched_oof", "base_rate_oof", "base_rate_reference", "nothing_changes")


class Rate(Cited):
    """A base rate: ``events`` per ``state_years`` of exposure."""

    events: int
    state_years: float

    @property
    def per_year(self) -> float:
        return self.events / self.state_years


class ReferenceClass(Frozen):
    name: str
    entry: Rate
    exit: Rate
    suspension: Rate | None = None


def load_reference_class(path: str | Path) -> ReferenceClass:
    return validate_model(ReferenceClass, read_yaml(Path(path), "reference_class"))


def load_cases(folder: str | Path) -> dict[str, Scenario]:
    """Every case scenario in ``folder`` (``*.yaml`` except the reference class), by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError("backtest folder", str(folder), "an existing folder of backtest case files")
    cases: dict[str, Scenario] = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == REFERENCE_FILE:
            continue
        s = load_scenario(path)
        if s.outcome is None:
            raise ConfigError(f"{path.name}: outcome", None, "an observed outcome for a backtest case")
        if s.name in cases:
            raise ConfigError(f"{path.name}: name", s.name, "a case name used once in the folder")
        cases[s.name] = s
    if not cases:
        raise ConfigError("backtest folder", str(folder), "at least one case file (*.yaml)")
    return cases


def base_rate_probability(case: Scenario, ref: ReferenceClass) -> float:
    """P(event within the case's window) under the reference-class rate per state-year."""
    kind = case.event.kind
    if kind in ("member_at", "status_at"):
        raise ConfigError("event.kind", kind, "first_entry, first_exit or first_suspension for a backtest case")
    if kind == "first_suspension" and ref.suspension is None:
        raise ConfigError("reference_class.suspension", None, "a suspension rate for a first_suspension case")
    rate = {"first_entry": ref.entry, "first_exit": ref.exit, "first_suspension": ref.suspension}[kind]
    years = case.axis.n_steps / 4.0
    return float(1.0 - (1.0 - rate.per_year) ** years)


# ---------------------------------------------------------------- scores

def score(forecasts: pd.DataFrame, floor: float = LOG_FLOOR) -> pd.DataFrame:
    """Add per-forecast scores to a tidy table with ``p_event`` and ``occurred`` columns.

    Adds ``p_outcome`` (probability given to what happened), ``brier`` = (p_event - o)^2 and
    ``log_score`` = -ln max(p_outcome, floor). Lower is better for both.
    """
    out = forecasts.copy()
    o = out["occurred"].astype(float).to_numpy()
    p = out["p_event"].to_numpy(dtype=np.float64)
    out["p_outcome"] = np.where(o == 1.0, p, 1.0 - p)
    out["brier"] = (p - o) ** 2
    out["log_score"] = -np.log(np.maximum(out["p_outcome"].to_numpy(), floor)) + 0.0
    return out


def mean_scores(scored: pd.DataFrame) -> pd.DataFrame:
    """Mean Brier and log score per forecaster over the cases."""
    return (scored.groupby("forecaster", sort=False)[["brier", "log_score"]].mean()
            .reset_index().rename(columns={"brier": "mean_brier", "log_score": "mean_log_score"}))


@dataclass
class BacktestResult:
    """Scores (tidy: case x forecaster), out-of-fold summaries, history-matching diagnostics."""

    scored: pd.DataFrame
    means: pd.DataFrame
    probabilities: pd.DataFrame
    weights_all: pd.Series
    parameters: pd.DataFrame
    draws: pd.DataFrame
    inner: int
    seed: int
    extra: dict = field(default_factory=dict)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    differences: pd.DataFrame = field(default_factory=pd.DataFrame)
    reliability: pd.DataFrame = field(default_factory=pd.DataFrame)


def exposure_years(case: Scenario) -> float:
    """Years at risk in the window: to the event's quarter (inclusive) if it happened, else all."""
    if case.outcome.occurred and case.outcome.date:
        return (case.axis.step_of(Quarter.parse(case.outcome.date)) + 1) / 4.0
    return case.axis.n_steps / 4.0


def run_backtest(folder: str | Path, n_draws: int = 500, inner: int = history.MIN_INNER,
                 seed: int = 0, n_boot: int = 2000, fixed: Mapping[str, float] | None = None) -> BacktestResult:
    """Score every case of ``folder`` out of fold, for the model and the baselines.

    Folds are decision groups (``decision_group``; a case without one is its own group), held
    out one at a time: the matched model weights draws by the outcomes of the other groups only,
    and the base rate is the other groups' rate of the same event per state-year. The cited
    reference class (``reference-class.yaml``) is scored too when the folder has one.
    ``fixed`` sets shared parameters to one value in every draw (e.g. a driver family's weight to
    0, to see what discrimination it carries); a path that is not a shared prior is refused.
    """
    folder = Path(folder)
    cases = load_cases(folder)
    ref = load_reference_class(folder / REFERENCE_FILE) if (folder / REFERENCE_FILE).is_file() else None
    return backtest_cases(cases, ref, n_draws, inner, seed, n_boot, fixed)


def backtest_cases(cases: dict[str, Scenario], ref: ReferenceClass | None, n_draws: int = 500,
                   inner: int = history.MIN_INNER, seed: int = 0, n_boot: int = 2000,
                   fixed: Mapping[str, float] | None = None) -> BacktestResult:
    """``run_backtest`` on cases already loaded (e.g. with their power model switched)."""
    if inner < history.MIN_INNER:
        raise ConfigError("inner", inner, f"at least {history.MIN_INNER} inner replicates per draw")
    if n_draws < 2:
        raise ConfigError("draws", n_draws, "at least 2 outer draws")
    names = list(cases)
    groups = [cases[k].decision_group for k in names]
    codes = scoring.group_codes(groups)
    occurred = {k: bool(c.outcome.occurred) for k, c in cases.items()}
    base_oof = scoring.oof_base_rate(
        np.array([occurred[k] for k in names], float), np.array([exposure_years(cases[k]) for k in names]),
        [cases[k].event.kind for k in names], np.array([cases[k].axis.n_steps / 4.0 for k in names]), codes)
    group_of = {k: cases[k].decision_group for k in names}
    draws = history.outer_draws(cases, seed, n_draws)
    for path, value in (fixed or {}).items():
        if path not in draws:
            raise ConfigError("fixed", path, f"a shared prior path, one of {sorted(draws)}")
        draws[path] = float(value)
    probs = history.case_probabilities(cases, draws, inner, seed)
    rows = []
    for i, name in enumerate(names):
        case = cases[name]
        mine = probs[probs["case"] == name].set_index("draw")
        raw = mine["events"] / mine["n"]
        k, n = int(mine["events"].sum()), int(mine["n"].sum())
        ci = clustered_interval(mine["events"].to_numpy(), mine["n"].to_numpy())  # draws as clusters
        others = [c for j, c in enumerate(names) if codes[j] != codes[i]]
        w = history.normalised(history.outcome_likelihood(probs, occurred, others, group_of))
        matched = history.weighted_probability(raw, w, inner)
        common = dict(case=name, group=case.decision_group or "", event=case.event.kind, start=case.start,
                      end=case.end, occurred=occurred[name], outcome_date=case.outcome.date)
        rows += [
            dict(common, forecaster="model_prior", p_event=k / n, ci_low=float(ci["ci_low"]),
                 ci_high=float(ci["ci_high"]), ess_draws=float(len(draws))),
            dict(common, forecaster="model_matched_oof", p_event=matched["estimate"], ci_low=matched["ci_low"],
                 ci_high=matched["ci_high"], ess_draws=matched["ess_draws"]),
            dict(common, forecaster="base_rate_oof", p_event=float(base_oof[i])),
        ]
        if ref is not None:
            rows.append(dict(common, forecaster="base_rate_reference", p_event=base_rate_probability(case, ref)))
        rows.append(dict(common, forecaster="nothing_changes", p_event=0.0))
    scored = score(pd.DataFrame(rows))
    means = mean_scores(scored)
    summ = scoring.summary(scored, n_boot=n_boot, seed=seed)
    diffs = pd.concat([scoring.paired_differences(scored, m, ["base_rate_oof", "nothing_changes"], n_boot, seed)
                       for m in ("model_prior", "model_matched_oof")], ignore_index=True)
    rel = pd.concat([scoring.reliability_table(sub["p_event"], sub["occurred"]).assign(forecaster=f)
                     for f, sub in scored.groupby("forecaster", sort=False)], ignore_index=True)
    w_all = history.normalised(history.outcome_likelihood(probs, occurred, groups=group_of))
    params = history.parameter_shift(draws, w_all)
    extra = {"ess_all": history.kish_ess(w_all.to_numpy()),
             "effective_groups": history.effective_groups(names, group_of),
             "reference_class": ref.name if ref is not None else None,
             "groups": int(codes.max() + 1), "n_boot": n_boot}
    return BacktestResult(scored, means, probs, w_all, params, draws, inner, seed, extra, summ, diffs, rel)


def usable_cases(cases: dict[str, Scenario], target: Scenario, include_later: bool = False) -> list[str]:
    """Cases whose outcome window ends before the target's start (all of them with ``include_later``)."""
    if include_later:
        return list(cases)
    start = Quarter.parse(target.start)
    return [k for k, c in cases.items() if Quarter.parse(c.end) < start]


def preflight(folder: str | Path, target: Scenario,
              include_later: bool = False) -> tuple[dict[str, Scenario], list[str]]:
    """The cases of ``folder`` and the names usable for ``target``; checked before any simulation."""
    cases = load_cases(folder)
    check_shared(cases, target)
    use = usable_cases(cases, target, include_later)
    if not use:
        raise ConfigError("--history-matched", target.start, "backtest cases whose windows end before the "
                          "scenario's start (none do; pass --include-later-outcomes to use later ones)")
    return cases, use


CORE_PATHS = ("decision.join_intercept", "decision.leave_intercept")


def core_paths(cases: dict[str, Scenario], target: Scenario) -> list[str]:
    """The priors the target must share with the cases: the join and leave intercepts and the
    weight of every driver both have (the ontology's families)."""
    out = list(CORE_PATHS)
    for case in cases.values():
        out += [f"drivers.{k}.weight" for k in case.drivers if k in target.drivers]
    return list(dict.fromkeys(out))


def shared_split(cases: dict[str, Scenario], target: Scenario) -> tuple[list[str], dict[str, object]]:
    """(paths matched on the target's draws, {path: prior} of the cases' other priors).

    A case prior the target also has with the same distribution is matched: its draws are the
    target's and the weights inform them. Any other shared prior of the cases (a layer the target
    does not include, e.g. the panel's suspension intercepts or its powers' shift policies, or a
    driver the target leaves out) is the cases' own: drawn from the cases' prior for the matching
    (``matching_draws``) and marginalised by the weights, never mixed with the target's.
    """
    mine = dict(history.iter_priors(target))
    matched: list[str] = []
    own: dict[str, object] = {}
    for case in cases.values():
        for path, prior in history.iter_priors(case):
            if history.is_case_specific(path) or path in matched or path in own:
                continue
            if mine.get(path) == prior:
                matched.append(path)
            else:
                own[path] = prior
    return matched, own


def check_shared(cases: dict[str, Scenario], target: Scenario) -> None:
    """The target must share the cases' core priors for their weights to mean anything for it.

    The core (``core_paths``): the join and leave intercepts and the weights of the drivers the
    target has in common with the cases, each with the same distribution (a scenario includes the
    cases' ontology, config/priors-alliance.yaml, directly or through a layer). The cases' other
    priors need not be the target's (``shared_split``).
    """
    matched, own = shared_split(cases, target)
    mine = dict(history.iter_priors(target))
    for path in core_paths(cases, target):
        if path in own:
            given = describe_prior(mine[path]) if path in mine else "no such prior"
            raise ConfigError(path, given, f"the same prior as the backtest cases, {describe_prior(own[path])} "
                              "(a scenario must include the cases' shared priors file to be matched on them)")


def matching_draws(ens, cases: dict[str, Scenario], used: np.ndarray) -> pd.DataFrame:
    """The run's outer draws ``used`` with every shared prior path of the cases (union over cases).

    Matched paths (``shared_split``) are the run's own draws. The cases' own paths are drawn from
    the cases' prior at the draw's index with the run's seed: with the stream ("prior:" + path),
    as ``priors.sample_draws`` would, where the target lacks the path; with ("cases:" + path)
    where the target has it under another prior (a different quantity of the same name, drawn
    independently of the target's). Shape: (len(used), paths).
    """
    from alignsim.engine.priors import ppf
    from alignsim.engine.streams import uniforms

    matched, own = shared_split(cases, ens.scenario)
    n = int(ens.draws.index.max()) + 1
    columns = {path: ens.draws.loc[used, path].to_numpy() for path in matched}
    for path, prior in own.items():
        purpose = f"cases:{path}" if path in ens.draws else f"prior:{path}"
        columns[path] = ppf(prior, uniforms(ens.seed, purpose, 0, 0, n))[used]
    return pd.DataFrame(columns, index=pd.Index(used, name=ens.draws.index.name))


# ---------------------------------------------------------------- output

def format_table(result: BacktestResult) -> str:
    """The scores as a plain-text table, then the means per forecaster."""
    s = result.scored
    lines = [f"{'case':<22} {'event':<12} {'window':<17} {'obs':<4} {'forecaster':<18} "
             f"{'P(event)':>8} {'P(obs)':>7} {'Brier':>7} {'log':>6} {'ESS':>6}"]
    for r in s.itertuples():
        ess = f"{r.ess_draws:6.1f}" if pd.notna(getattr(r, "ess_draws", np.nan)) else "     -"
        lines.append(f"{r.case:<22} {r.event:<12} {r.start + '..' + r.end:<17} {('yes' if r.occurred else 'no'):<4} "
                     f"{r.forecaster:<18} {r.p_event:8.3f} {r.p_outcome:7.3f} {r.brier:7.3f} {r.log_score:6.2f} {ess}")
    lines.append("")
    lines.append(format_overall(result))
    lines.append(f"history matching on all cases ({result.extra['effective_groups']} independent decision groups; "
                 f"a group's likelihood is tempered by 1/size): Kish ESS {result.extra['ess_all']:.1f} of "
                 f"{len(result.draws)} draws ({result.inner} inner replicates per draw per case)")
    if s["case"].nunique() < MIN_RELIABILITY_CASES:
        lines.append("A handful of cases cannot establish calibration: these scores are illustrations, not evidence of skill.")
    return "\n".join(lines)


def _num(x: float, fmt: str = ".3f") -> str:
    return "-" if not np.isfinite(x) else format(x, fmt)


def format_overall(result: BacktestResult) -> str:
    """Overall scores per forecaster and the paired differences, as plain text (also Markdown-safe)."""
    s = result.scored
    lines = [f"overall, {s['case'].nunique()} cases in {result.extra.get('groups', '?')} decision groups "
             f"(out of fold: each group held out once; lower Brier/log is better; log floored at P={LOG_FLOOR:g}; "
             f"AUC 95% interval: grouped bootstrap, {result.extra.get('n_boot', '?')} resamples):"]
    lines.append(f"  {'forecaster':<20} {'events':>6} {'Brier':>7} {'log':>7} {'AUC':>6} {'AUC 95%':>13} "
                 f"{'cal.slope':>9} {'cal.int':>8}  status")
    for r in result.summary.itertuples():
        lines.append(f"  {r.forecaster:<20} {r.events:>6d} {r.brier:7.4f} {r.log:7.4f} {_num(r.auc, '6.3f'):>6} "
                     f"{'[' + _num(r.auc_low, '.2f') + ', ' + _num(r.auc_high, '.2f') + ']':>13} "
                     f"{_num(r.cal_slope, '9.2f'):>9} {_num(r.cal_intercept, '8.2f'):>8}  {r.cal_status}")
    lines.append("paired differences, model minus baseline (95% grouped-bootstrap interval; "
                 "Brier/log < 0 and AUC > 0 favour the model):")
    for r in result.differences.itertuples():
        lines.append(f"  {r.model:<18} - {r.baseline:<16} {r.metric:<6} {_num(r.difference, '+.4f'):>8} "
                     f"[{_num(r.ci_low, '+.4f')}, {_num(r.ci_high, '+.4f')}]")
    return "\n".join(lines)


def reliability_figure(scored: pd.DataFrame, min_cases: int = MIN_RELIABILITY_CASES):
    """Forecast P(event) against outcome per case and forecaster; binned reliability with enough cases."""
    from alignsim.outputs.figures import new_figure

    n_cases = scored["case"].nunique()
    fig, ax = new_figure((7, 5))
    markers = dict(zip(FORECASTERS, "osDv^"))
    for i, (name, sub) in enumerate(scored.groupby("forecaster", sort=False)):
        jitter = (i - 2) * 0.012
        ax.scatter(sub["p_event"], sub["occurred"].astype(float) + jitter, marker=markers.get(name, "o"),
                   label=name, alpha=0.8)
        if n_cases >= min_cases:
            g = scoring.reliability_table(sub["p_event"], sub["occurred"])
            ax.plot(g["mean_forecast"], g["observed"], lw=1)
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="perfect calibration")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.1, 1.1)
    ax.set_xlabel("forecast P(event within the case's window)")
    ax.set_ylabel("observed (0 = no, 1 = yes)")
    note = "" if n_cases >= min_cases else f"\n({n_cases} cases: too few for binned reliability; points only)"
    ax.set_title(f"Backtest forecasts against outcomes{note}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    return fig


def save_backtest(result: BacktestResult, out_dir: Path) -> None:
    from alignsim.runs import atomic

    atomic.write_csv(out_dir / "scores.csv", result.scored)
    atomic.write_csv(out_dir / "mean_scores.csv", result.means)
    atomic.write_csv(out_dir / "overall_scores.csv", result.summary)
    atomic.write_csv(out_dir / "paired_differences.csv", result.differences)
    atomic.write_csv(out_dir / "reliability.csv", result.reliability)
    atomic.write_csv(out_dir / "case_probabilities.csv", result.probabilities)
    atomic.write_csv(out_dir / "parameters_prior_vs_matched.csv", result.parameters)
    weights = result.weights_all.rename("weight").reset_index()
    atomic.write_csv(out_dir / "draw_weights.csv", weights)
    atomic.write_json(out_dir / "summary.json", {
        "draws": len(result.draws), "inner": result.inner, "seed": result.seed,
        "ess_all_cases": result.extra["ess_all"], "reference_class": result.extra["reference_class"],
        "groups": result.extra["groups"], "n_boot": result.extra["n_boot"],
        "log_floor": LOG_FLOOR,
        "means": result.means.to_dict(orient="records")})
    fig = reliability_figure(result.scored)
    atomic.save_figure(out_dir / "reliability.png", fig)


# ---------------------------------------------------------------- history-matched forecast of a run

@dataclass
class MatchedForecast:
    """A run's forecast re-weighted by the backtest outcomes (``run --history-matched``).

    Attributes:
        summary: plain data: cases used, ESS, prior and matched headline probabilities.
        year_ends: tidy table (quarter, prior, matched, matched intervals) at each year-end.
        parameters: prior versus matched mean and quantiles per shared parameter.
        weights: normalised weight per outer draw of the run.
    """

    summary: dict
    year_ends: pd.DataFrame
    parameters: pd.DataFrame
    weights: pd.Series


def match_run(ens, folder: str | Path = "config/panel", inner: int = history.MIN_INNER,
              include_later: bool = False) -> MatchedForecast:
    """Weight an ensemble's outer draws by the likelihood of the backtest outcomes.

    Only cases whose window ends before the run's start are used, unless ``include_later``.
    ``ens`` is an ``EnsembleResult``; its draws must come from the same shared priors.
    """
    from alignsim.engine import estimates

    if inner < history.MIN_INNER:
        raise ConfigError("inner", inner, f"at least {history.MIN_INNER} inner replicates per draw")
    target = ens.scenario
    cases, use = preflight(folder, target, include_later)
    used = np.unique(ens.outcomes["draw"].to_numpy())  # the draws that have replicates in this run
    chosen = {k: cases[k] for k in use}
    draws = matching_draws(ens, chosen, used)
    probs = history.case_probabilities(chosen, draws, inner, ens.seed)
    occurred = {k: bool(c.outcome.occurred) for k, c in chosen.items()}
    w = history.normalised(history.outcome_likelihood(probs, occurred, groups={k: c.decision_group for k, c in chosen.items()}))
    per_draw_reps = ens.replicates / len(used)
    later = [k for k in use if Quarter.parse(cases[k].end) >= Quarter.parse(target.start)]
    prior = estimates.summarise(ens)
    rows = []
    for step in target.axis.year_end_steps():
        pd_draw = estimates.per_draw_probability(ens, step)
        m = history.weighted_probability(pd_draw, w, per_draw_reps)
        rows.append({"quarter": str(target.axis.quarter_of(step)), "prior": float(pd_draw.mean()),
                     "matched": m["estimate"], "matched_ci_low": m["ci_low"], "matched_ci_high": m["ci_high"],
                     "matched_epistemic_low": m["epistemic_low"], "matched_epistemic_high": m["epistemic_high"]})
    table = pd.DataFrame(rows)
    head = history.weighted_probability(estimates.per_draw_probability(ens), w, per_draw_reps)
    summary = {"cases": use, "cases_outcomes": {k: occurred[k] for k in use},
               "later_outcomes_used": later,
               "inner_replicates": inner, "draws": len(draws), "ess_draws": history.kish_ess(w.to_numpy()),
               "effective_groups": history.effective_groups(use, {k: c.decision_group for k, c in chosen.items()}),
               "matched_parameters": len(shared_split(chosen, target)[0]),
               "cases_own_parameters": len(shared_split(chosen, target)[1]),
               "prior": prior["probability"], "matched": head,
               "conditional": _matched_conditional(ens, w, per_draw_reps, observed_in_weights=bool(later))}
    return MatchedForecast(summary, table, history.parameter_shift(draws, w), w)


def _matched_conditional(ens, w: pd.Series, per_draw_reps: float, observed_in_weights: bool = False) -> dict | None:
    """P(event in (through, window_end] | none through ``through``) under the weights.

    Each draw's conditional probability is h_d / r_d (events in the window over replicates still
    at risk). If the weights already condition on the observation (a later backtest case covering
    the same non-event is in them), the matched value is sum_d w_d h_d / r_d; otherwise the
    observation still has to be applied, and draws are weighted by w_d r_d. The interval is the
    weighted one of ``history.weighted_probability`` (effective sample size under the weights).
    """
    from alignsim.engine.estimates import conditional_by_draw

    counts = conditional_by_draw(ens)
    if counts is None:
        return None
    obs = ens.scenario.observed
    frame = pd.DataFrame({"r": counts["at_risk"] / counts["replicates"], "h": counts["events"] / counts["replicates"]})
    frame = frame[frame["r"] > 0]
    per_draw = frame["h"] / frame["r"]
    ww = w.reindex(frame.index).fillna(0.0)
    if not observed_in_weights:
        ww = ww * frame["r"]
    if float(ww.sum()) <= 0:
        return None
    m = history.weighted_probability(per_draw, ww / ww.sum(), per_draw_reps * float(frame["r"].mean()))
    return {"after": obs.through, "window_end": obs.window_end,
            "prior": float(frame["h"].sum() / frame["r"].sum()),
            "matched": m["estimate"], "matched_ci_low": m["ci_low"], "matched_ci_high": m["ci_high"],
            "observation_in_weights": observed_in_weights}


def format_matched(m: MatchedForecast) -> str:
    s = m.summary
    pr, ma = s["prior"], s["matched"]
    names = s["cases"] if len(s["cases"]) <= 6 else [*s["cases"][:3], "...", s["cases"][-1]]
    lines = [f"History-matched on {len(s['cases'])} case(s), {s['effective_groups']} effective group(s) "
             f"({', '.join(names)}): Kish ESS {s['ess_draws']:.1f} of {s['draws']} draws, "
             f"{s['inner_replicates']} inner replicates per draw per case; likelihoods tempered by 1/(group size); "
             f"{s['matched_parameters']} parameters shared with the target, {s['cases_own_parameters']} the cases' own"]
    if s["later_outcomes_used"]:
        lines.append(f"NOTE: uses outcomes observed after this scenario's start: {', '.join(s['later_outcomes_used'])}")
    lines.append(f"P(event by horizon): prior {pr['estimate']:.1%} (epistemic {pr['epistemic_low']:.1%}-{pr['epistemic_high']:.1%}); "
                 f"matched {ma['estimate']:.1%} (MC 95% {ma['ci_low']:.1%}-{ma['ci_high']:.1%} at ESS; "
                 f"epistemic {ma['epistemic_low']:.1%}-{ma['epistemic_high']:.1%})")
    c = s.get("conditional")
    if c:
        lines.append(f"P(event after {c['after']} through {c['window_end']} | none by then): prior {c['prior']:.1%}, "
                     f"matched {c['matched']:.1%} (MC 95% {c['matched_ci_low']:.1%}-{c['matched_ci_high']:.1%})")
        if c["observation_in_weights"]:
            lines.append(f"  (the weights already include the non-event through {c['after']}: the conditional is the "
                         "forecast to read; the matched P(event by horizon) above still counts earlier events)")
    lines.append("largest parameter shifts (matched minus prior mean, share of the prior range):")
    for r in m.parameters.head(5).itertuples():
        lines.append(f"  {r.parameter:<45} {r.prior_mean:8.3f} -> {r.matched_mean:8.3f} ({r.shift_in_range:+.1%})")
    return "\n".join(lines)


def save_matched(m: MatchedForecast, out_dir: Path) -> None:
    from alignsim.runs import atomic

    atomic.write_json(out_dir / "history_matched.json", m.summary)
    atomic.write_csv(out_dir / "history_matched_year_ends.csv", m.year_ends)
    atomic.write_csv(out_dir / "history_parameters.csv", m.parameters)
    atomic.write_csv(out_dir / "history_weights.csv", m.weights.rename("weight").reset_index())
