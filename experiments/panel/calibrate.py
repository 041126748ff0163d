"""Calibration by simulation: solve the decision intercepts so the model's hazard on the panel's
state-years equals the observed rate (issue 13, item 4), for each transition of the three-level
decision (``TRANSITIONS``: member -> out, member -> suspended, suspended -> out, suspended ->
member, out -> member).

For each outer draw d of the shared priors (config/priors-panel.yaml over priors-alliance.yaml):
1. simulate every panel case with the draw's weights and speeds and ``inner`` replicates of its
   initial values and shocks, with switching switched off, recording the utility gap dU_t per
   quarter and the scheduled exit shift s_t of its decision points (the drivers do not depend on
   membership, so this is the gap path at risk);
2. per transition, over the cases at risk of it (status at the window start), count its events in
   config/panel/outcomes.csv and the years at risk, and draw a target rate
   r_d ~ Gamma(events + 1/2, exposure) per state-year;
3. solve, by bisection, the intercept a_d with produced rate = r_d, where the produced rate is
   4 E[events] / E[quarters at risk], E over cases and replicates, with per-quarter hazard
   sigmoid(a_d - dU_t + s_t) for exits, sigmoid(a_d - dU_t) for suspension and
   sigmoid(a_d + dU_t) for entry and resumption, and survival S_t (competing transitions are
   ignored in the fit; the engine check below has them).
The fitted intercepts are summarised as a normal prior: sd over draws, and the mean shifted (one
common hazard scale) so that with draws independent of the weights the mean produced rate equals
the observed (events + 1/2) / exposure; marked `calibrated` with this script named. Check: a fresh
engine run of the panel with the fitted priors (new draws, real switching) must produce event
rates within 10% of the observed (events + 1/2) / exposure; the CSTO reference-class rates
(config/backtests/reference-class.yaml) are shown beside them.

Run from the repository root:
    python experiments/panel/calibrate.py [--draws 200] [--inner 100] [--seed 0] [--write]
--write replaces the `decision:` blocks of config/priors-alliance.yaml (join, leave) and
config/priors-panel.yaml (the suspension transitions) and writes
docs/results/panel-calibration.md.
"""
from __future__ import annotations

import argparse
import csv
import platform
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtri

from alignsim.analyses import backtest, history
from alignsim.engine.model import AlignmentModel
from alignsim.engine.streams import uniforms
from alignsim.scenario.timeaxis import Quarter

PANEL = Path("config/panel")
PRIORS = Path("config/priors-alliance.yaml")
LAYER = Path("config/priors-panel.yaml")
OUTCOMES = PANEL / "outcomes.csv"
OUT_MD = Path("docs/results/panel-calibration.md")
Z_PER_DRAW = 10  # independent normal quantiles per draw when centring the fitted prior
OFF = -60.0  # an intercept that switches nobody (sigmoid(-60) ~ 1e-26)
# Each transition of the three-level decision: its intercept, the cases at risk (status at the
# window start), the sign of dU in its logit, the outcomes.csv events that count, the priors file
# that holds it, and the engine column that checks it (None: no first-event column).
TRANSITIONS = [
    ("decision.leave_intercept", "member", -1.0, {"exit"}, PRIORS, "first_exit_step"),
    ("decision.suspend_intercept", "member", -1.0, {"suspension", "freeze"}, LAYER, "first_suspension_step"),
    ("decision.suspended_exit_intercept", "suspended", -1.0, {"exit"}, LAYER, "first_exit_step"),
    ("decision.resume_intercept", "suspended", 1.0, {"entry"}, LAYER, None),
    ("decision.join_intercept", "out", 1.0, {"entry"}, PRIORS, "first_entry_step"),
]
INTERCEPTS = [t[0] for t in TRANSITIONS]


def gap_paths(case, draws: pd.DataFrame, inner: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """dU per quarter at risk and the scheduled exit-logit shift, each (T, draws, inner), with
    switching off (every intercept at OFF)."""
    params = history.case_params(case, draws, inner, history.case_seed(seed, case.name))
    for path in INTERCEPTS:
        if path in params:
            params[path] = OFF
    model = AlignmentModel(case, params, history.case_seed(seed, case.name))
    T = case.axis.n_steps
    out = np.empty((T, len(params)))
    shift = np.zeros((T, len(params)))
    for i, point in enumerate(case.decision_points):
        step = case.axis.step_of(Quarter.parse(point.date))
        if 1 <= step <= T and point.leave_shift is not None:
            shift[step - 1] += params[f"decision_points.{i}.leave_shift"].to_numpy(dtype=np.float64)
    for t in range(T):
        model.step()
        out[t] = model.focal.gap
    return out.reshape(T, len(draws), inner), shift.reshape(T, len(draws), inner)


def case_events(case, kinds: set[str], outcomes: dict[str, dict]) -> tuple[int, float]:
    """(1 if outcomes.csv codes an event of ``kinds`` inside the window else 0, years at risk)."""
    row = outcomes[case.name]
    hit = row["event"] in kinds and case.start <= row["date"] <= case.end
    if hit:
        return 1, (case.axis.step_of(Quarter.parse(row["date"])) + 1) / 4.0
    return 0, case.axis.n_steps / 4.0


def produced_rate(a: np.ndarray, gaps: list[np.ndarray], sign: float) -> np.ndarray:
    """Per draw: 4 x expected events / expected quarters at risk, hazard sigmoid(a + sign dU)."""
    events = np.zeros(len(a))
    quarters = np.zeros(len(a))
    for g in gaps:
        h = 1.0 / (1.0 + np.exp(-(a[None, :, None] + sign * g)))
        surv = np.cumprod(1.0 - h, axis=0)
        before = np.concatenate([np.ones_like(surv[:1]), surv[:-1]], axis=0)
        events += (before * h).sum(axis=(0, 2))
        quarters += before.sum(axis=(0, 2))
    return 4.0 * events / quarters


def solve(target: np.ndarray, gaps: list[np.ndarray], sign: float) -> np.ndarray:
    """Bisection per draw on the intercept (the produced rate rises with it)."""
    lo, hi = np.full(len(target), -25.0), np.full(len(target), 10.0)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        high = produced_rate(mid, gaps, sign) > target
        hi = np.where(high, mid, hi)
        lo = np.where(high, lo, mid)
    return 0.5 * (lo + hi)


def engine_check(cases, draws: pd.DataFrame, inner: int, seed: int) -> dict[str, tuple[int, float, float]]:
    """Per transition with a first-event column: events and exposure years counted in an engine
    run (real three-level switching) over the cases at risk of it, and the mean over draws of
    each draw's rate (events / exposure), the definition of "produced rate per draw" of the fit."""
    from alignsim.engine.ensemble import simulate

    runs = {}
    for case in cases.values():
        own = history.case_seed(seed + 1, case.name)
        runs[case.name] = simulate(case, history.case_params(case, draws, inner, own), own).replicates
    out = {}
    for path, status, _, _, _, column in TRANSITIONS:
        if column is None:
            continue
        ev = np.zeros(len(draws))
        expo = np.zeros(len(draws))
        for case in (c for c in cases.values() if c.member_at_start.status == status):
            T = case.axis.n_steps
            step = runs[case.name][column].to_numpy().reshape(len(draws), inner)
            hit = step > 0
            ev += hit.sum(axis=1)
            expo += (np.where(hit, step, T) / 4.0).sum(axis=1)
        out[path] = (int(ev.sum()), float(expo.sum()), float((ev / expo).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--inner", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-draws", type=int, default=1000, help="fresh draws for the engine check")
    ap.add_argument("--refine", type=int, default=0,
                    help="correction steps of the fitted means by the engine check's rate ratio")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    cases = backtest.load_cases(PANEL)
    outcomes = {r["case_id"]: r for r in csv.DictReader(OUTCOMES.open())}
    draws = history.outer_draws(cases, a.seed, a.draws)
    ref = backtest.load_reference_class(Path("config/backtests/reference-class.yaml"))
    ref_rates = {"decision.leave_intercept": ref.exit.per_year, "decision.join_intercept": ref.entry.per_year,
                 "decision.suspend_intercept": ref.suspension.per_year if ref.suspension is not None else float("nan")}
    paths = {name: gap_paths(c, draws, a.inner, a.seed) for name, c in cases.items()}
    fitted, rows = {}, []
    for path, status, sign, kinds, _, _ in TRANSITIONS:
        at_risk = [c for c in cases.values() if c.member_at_start.status == status]
        # exits feel the scheduled shifts: hazard sigmoid(a - dU + s) = sigmoid(a - (dU - s))
        gaps = [paths[c.name][0] - (paths[c.name][1] if sign < 0 and "exit" in kinds else 0.0) for c in at_risk]
        counted = [case_events(c, kinds, outcomes) for c in at_risk]
        events, exposure = sum(k for k, _ in counted), sum(y for _, y in counted)
        u = uniforms(a.seed, f"calibrate:{path}", 0, 0, a.draws)
        target = stats.gamma.ppf(u, events + 0.5, scale=1.0 / exposure)
        a_d = solve(target, gaps, sign)
        got = produced_rate(a_d, gaps, sign)
        # A normal prior drawn independently of the weights loses the per-draw pairing; shift its
        # mean (a common hazard scale) so that, with independent z, the mean produced rate is the
        # observed (events + 1/2) / exposure.
        sd = float(a_d.std(ddof=1))
        zs = ndtri(np.clip(uniforms(a.seed, f"calibrate-z:{path}", 0, 0, a.draws * Z_PER_DRAW),
                           1e-12, 1 - 1e-12)).reshape(Z_PER_DRAW, a.draws)
        lo, hi = -25.0, 10.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            mean_rate = np.mean([produced_rate(mid + sd * z, gaps, sign) for z in zs])
            if mean_rate > (events + 0.5) / exposure:
                hi = mid
            else:
                lo = mid
        fitted[path] = (0.5 * (lo + hi), sd)
        rows.append({"transition": path.removeprefix("decision.").removesuffix("_intercept"), "at_risk": status,
                     "cases": len(at_risk), "events": events, "exposure_years": exposure,
                     "observed_rate": (events + 0.5) / exposure, "target_mean": float(target.mean()),
                     "produced_at_fit_mean": float(got.mean()),
                     "max_rel_error_per_draw": float(np.max(np.abs(got / target - 1))),
                     "intercept_mean": fitted[path][0], "intercept_sd": fitted[path][1],
                     "csto_reference_rate": ref_rates.get(path, float("nan"))})
    table = pd.DataFrame(rows)
    # check with fresh draws from the fitted normal priors, real switching in the engine
    check_draws = history.outer_draws(cases, a.seed + 7, a.check_draws)
    for path, (m, s_) in fitted.items():
        z = uniforms(a.seed + 7, f"check:{path}", 0, 0, a.check_draws)
        check_draws[path] = m + s_ * ndtri(np.clip(z, 1e-12, 1 - 1e-12))
    produced = engine_check(cases, check_draws, a.inner, a.seed)
    observed_rate = dict(zip(INTERCEPTS, table["observed_rate"]))
    for _ in range(a.refine):
        # The fit ignores competing transitions and averages a ratio of expectations; correct each
        # checked mean by the log of observed / engine rate (the logit shift that scales a small
        # hazard by that ratio) and check again with the same draws and quantiles.
        for path, (m, s_) in list(fitted.items()):
            if path in produced and produced[path][2] > 0:
                fitted[path] = (m + float(np.log(observed_rate[path] / produced[path][2])), s_)
                z = uniforms(a.seed + 7, f"check:{path}", 0, 0, a.check_draws)
                check_draws[path] = fitted[path][0] + s_ * ndtri(np.clip(z, 1e-12, 1 - 1e-12))
        produced = engine_check(cases, check_draws, a.inner, a.seed)
    if a.refine:
        # the reported check: fresh draws of the corrected priors, not the ones the correction used
        check_draws = history.outer_draws(cases, a.seed + 9, a.check_draws)
        for path, (m, s_) in fitted.items():
            z = uniforms(a.seed + 9, f"check:{path}", 0, 0, a.check_draws)
            check_draws[path] = m + s_ * ndtri(np.clip(z, 1e-12, 1 - 1e-12))
        produced = engine_check(cases, check_draws, a.inner, a.seed + 2)
    table["intercept_mean"] = [fitted[p][0] for p in INTERCEPTS]
    nan3 = (0, float("nan"), float("nan"))
    table["engine_events"] = [produced.get(p, nan3)[0] for p in INTERCEPTS]
    table["engine_exposure_years"] = [produced.get(p, nan3)[1] for p in INTERCEPTS]
    table["engine_rate"] = [produced.get(p, nan3)[2] for p in INTERCEPTS]
    table["engine_vs_observed"] = table["engine_rate"] / table["observed_rate"] - 1
    pd.set_option("display.width", 250)
    print(table.to_string(index=False))
    if a.write:
        write(table, fitted, a)


def decision_block(paths: list[str], fitted: dict[str, tuple[float, float]], table: pd.DataFrame, a, commit: str) -> str:
    block = ["decision:"]
    for path in paths:
        r = table.set_index("transition").loc[path.removeprefix("decision.").removesuffix("_intercept")]
        m, s_ = fitted[path]
        block += [f"  {path.removeprefix('decision.')}:", "    dist: normal", f"    mean: {m:.3f}", f"    sd: {s_:.3f}",
                  "    basis: calibrated", "    note: >-",
                  f"      Fitted by experiments/panel/calibrate.py (--draws {a.draws} --inner {a.inner} --seed {a.seed},"
                  f" commit {commit}): per outer draw, the intercept at which the hazard the model produces on"
                  f" the panel's {r['at_risk']} state-years ({r['cases']} cases) equals a rate drawn from"
                  f" Gamma({r['events']} + 1/2, {r['exposure_years']:g} years); normal over draws; mean corrected"
                  f" by {a.refine} engine check(s). See docs/results/panel-calibration.md."]
    return "\n".join(block) + "\n"


def write(table: pd.DataFrame, fitted: dict[str, tuple[float, float]], a) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    for file in (PRIORS, LAYER):
        mine = [t[0] for t in TRANSITIONS if t[4] == file]
        text = file.read_text(encoding="utf-8")
        nxt = "barrier" if file == PRIORS else "drivers"
        block = "\n" + decision_block(mine, fitted, table, a, commit)
        text, n = re.subn(rf"\ndecision:\n.*?\n(?=\n{nxt}:)", lambda _m, block=block: block, text, flags=re.S)
        if n != 1:
            raise SystemExit(f"{file}: cannot find its decision block")
        file.write_text(text, encoding="utf-8")
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Panel calibration: intercepts solved so produced hazards equal observed rates", "",
             f"Written by `experiments/panel/calibrate.py --draws {a.draws} --inner {a.inner} --seed {a.seed}"
             f" --check-draws {a.check_draws} --refine {a.refine}"
             f" --write` at commit {commit} on {platform.node()} ({platform.machine()}).", "",
             "One row per transition of the three-level decision, fitted on the panel cases at risk of it",
             "(status at the window start). Rates are events per state-year. `observed_rate` = (events + 1/2) /",
             "exposure (the mean of the Gamma posterior the targets are drawn from); `produced_at_fit_mean`: the",
             "model's expected rate at each draw's solved intercept (exits include the scheduled decision-point",
             "shifts); `engine_rate`: the mean over draws of each draw's events / exposure, counted in a fresh",
             "engine run with new draws of the fitted normal priors (real three-level switching; `engine_events`",
             "and `engine_exposure_years` are the totals; resume has no first-event column, so no engine check).",
             f"`intercept_mean` includes {a.refine} correction step(s): mean += log(observed / engine rate), each",
             "followed by a new engine check with the same draws (the fit ignores competing transitions); the",
             "engine columns shown come from a further check with fresh draws (seed + 9) of the corrected priors.",
             "`csto_reference_rate`: the CSTO reference class (config/backtests/reference-class.yaml), shown as a",
             "check, not used in the fit. Intercepts: join and leave in config/priors-alliance.yaml, the",
             "suspension transitions in config/priors-panel.yaml.", "",
             "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for r in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    checked = table.dropna(subset=["engine_rate"])
    ok = (checked["engine_vs_observed"].abs() <= 0.10)
    lines += ["", "Within 10% (engine rate vs observed): " + ", ".join(
        f"{e}: {'yes' if k else 'NO'} ({v:+.1%})" for e, k, v in zip(checked["transition"], ok, checked["engine_vs_observed"]))]
    OUT_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {PRIORS} and {LAYER} (decision blocks) and {OUT_MD}")


if __name__ == "__main__":
    main()
