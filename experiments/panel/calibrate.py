"""Calibration by simulation: solve the decision intercepts so the model's hazard on the panel's
state-years equals the observed rate (issue 13, item 4).

For each outer draw d of the shared priors (config/priors-alliance.yaml):
1. simulate every panel case with the draw's weights and speeds and ``inner`` replicates of its
   initial values and shocks, with switching switched off, recording the utility gap dU_t per
   quarter (the drivers do not depend on membership, so this is the gap path at risk);
2. draw a target rate r_d ~ Gamma(events + 1/2, exposure) per state-year (exposure in years to
   the event or the window's end), separately for exits of members and entries of outsiders;
3. solve, by bisection, the intercept a_d with produced rate = r_d, where the produced rate is
   4 E[events] / E[quarters at risk], E over cases and replicates, with per-quarter hazard
   sigmoid(a_d - dU_t) (members; sigmoid(a_d + dU_t) for outsiders) and survival S_t.
The fitted intercepts are summarised as a normal prior: sd over draws, and the mean shifted (one
common hazard scale) so that with draws independent of the weights the mean produced rate equals
the observed (events + 1/2) / exposure; marked `calibrated` with this script named. Check: a fresh engine run of the panel with the fitted priors
(new draws, real switching) must produce event rates within 10% of the observed
(events + 1/2) / exposure; the CSTO reference-class rates (config/backtests/reference-class.yaml)
are shown beside them.

Run from the repository root:
    python experiments/panel/calibrate.py [--draws 200] [--inner 100] [--seed 0] [--write]
--write replaces the `decision:` block of config/priors-alliance.yaml and writes
docs/results/panel-calibration.md.
"""
from __future__ import annotations

import argparse
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

PANEL = Path("config/panel")
PRIORS = Path("config/priors-alliance.yaml")
OUT_MD = Path("docs/results/panel-calibration.md")
Z_PER_DRAW = 10  # independent normal quantiles per draw when centring the fitted prior
OFF = -60.0  # an intercept that switches nobody (sigmoid(-60) ~ 1e-26)


def gap_paths(case, draws: pd.DataFrame, inner: int, seed: int) -> np.ndarray:
    """dU per quarter at risk, shape (T, draws, inner), with switching off."""
    params = history.case_params(case, draws, inner, history.case_seed(seed, case.name))
    params["decision.leave_intercept"] = OFF
    params["decision.join_intercept"] = OFF
    model = AlignmentModel(case, params, history.case_seed(seed, case.name))
    T = case.axis.n_steps
    out = np.empty((T, len(params)))
    for t in range(T):
        model.step()
        out[t] = model.focal.gap
    return out.reshape(T, len(draws), inner)


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


def observed(cases, kind: str) -> tuple[int, float]:
    sel = [c for c in cases.values() if c.event.kind == kind]
    return sum(bool(c.outcome.occurred) for c in sel), sum(backtest.exposure_years(c) for c in sel)


def engine_check(cases, draws: pd.DataFrame, inner: int, seed: int) -> dict[str, tuple[int, float, float]]:
    """Per event kind: events and exposure years counted in an engine run (real switching), and
    the mean over draws of each draw's rate (events / exposure over cases and replicates), the
    same definition of "produced rate per draw" as the fit's."""
    from alignsim.engine.ensemble import simulate

    out = {}
    for kind, step_col in (("first_exit", "first_exit_step"), ("first_entry", "first_entry_step")):
        ev = np.zeros(len(draws))
        expo = np.zeros(len(draws))
        for case in (c for c in cases.values() if c.event.kind == kind):
            own = history.case_seed(seed + 1, case.name)
            res = simulate(case, history.case_params(case, draws, inner, own), own).replicates
            step = res[step_col].to_numpy().reshape(len(draws), inner)
            hit = step > 0
            ev += hit.sum(axis=1)
            expo += (np.where(hit, step, case.axis.n_steps) / 4.0).sum(axis=1)
        out[kind] = (int(ev.sum()), float(expo.sum()), float((ev / expo).mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--inner", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check-draws", type=int, default=1000, help="fresh draws for the engine check")
    ap.add_argument("--write", action="store_true")
    a = ap.parse_args()
    cases = backtest.load_cases(PANEL)
    draws = history.outer_draws(cases, a.seed, a.draws)
    ref = backtest.load_reference_class(Path("config/backtests/reference-class.yaml"))
    fitted, rows = {}, []
    for kind, path, sign, ref_rate in (("first_exit", "decision.leave_intercept", -1.0, ref.exit),
                                       ("first_entry", "decision.join_intercept", 1.0, ref.entry)):
        gaps = [gap_paths(c, draws, a.inner, a.seed) for c in cases.values() if c.event.kind == kind]
        events, exposure = observed(cases, kind)
        u = uniforms(a.seed, f"calibrate:{kind}", 0, 0, a.draws)
        target = stats.gamma.ppf(u, events + 0.5, scale=1.0 / exposure)
        a_d = solve(target, gaps, sign)
        got = produced_rate(a_d, gaps, sign)
        # A normal prior drawn independently of the weights loses the per-draw pairing; shift its
        # mean (a common hazard scale) so that, with independent z, the mean produced rate is the
        # observed (events + 1/2) / exposure.
        sd = float(a_d.std(ddof=1))
        zs = ndtri(np.clip(uniforms(a.seed, f"calibrate-z:{kind}", 0, 0, a.draws * Z_PER_DRAW),
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
        rows.append({"event": kind, "events": events, "exposure_years": exposure,
                     "observed_rate": (events + 0.5) / exposure, "target_mean": float(target.mean()),
                     "produced_at_fit_mean": float(got.mean()),
                     "max_rel_error_per_draw": float(np.max(np.abs(got / target - 1))),
                     "per_draw_intercept_mean": float(a_d.mean()),
                     "intercept_mean": fitted[path][0], "intercept_sd": fitted[path][1],
                     "csto_reference_rate": ref_rate.per_year})
    table = pd.DataFrame(rows)
    # check with fresh draws from the fitted normal priors, real switching in the engine
    check_draws = history.outer_draws(cases, a.seed + 7, a.check_draws)
    for path, (m, s) in fitted.items():
        z = uniforms(a.seed + 7, f"check:{path}", 0, 0, a.check_draws)
        check_draws[path] = m + s * ndtri(np.clip(z, 1e-12, 1 - 1e-12))
    produced = engine_check(cases, check_draws, a.inner, a.seed)
    table["engine_events"] = [produced[k][0] for k in table["event"]]
    table["engine_exposure_years"] = [produced[k][1] for k in table["event"]]
    table["engine_rate"] = [produced[k][2] for k in table["event"]]
    table["engine_vs_observed"] = table["engine_rate"] / table["observed_rate"] - 1
    pd.set_option("display.width", 200)
    print(table.to_string(index=False))
    if a.write:
        write(table, a)


def write(table: pd.DataFrame, a) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    block = ["decision:"]
    for r in table.itertuples():
        path = "leave_intercept" if r.event == "first_exit" else "join_intercept"
        block += [f"  {path}:", "    dist: normal", f"    mean: {r.intercept_mean:.3f}", f"    sd: {r.intercept_sd:.3f}",
                  "    basis: calibrated", "    note: >-",
                  f"      Fitted by experiments/panel/calibrate.py (--draws {a.draws} --inner {a.inner} --seed {a.seed},"
                  f" commit {commit}): per outer draw, the intercept at which the hazard the model produces on"
                  f" the panel's state-years equals a rate drawn from Gamma({r.events} + 1/2, {r.exposure_years:g} years);"
                  " normal over draws. See docs/results/panel-calibration.md."]
    text = PRIORS.read_text(encoding="utf-8")
    text = re.sub(r"\ndecision:\n.*?\n(?=\nbarrier:)", "\n" + "\n".join(block) + "\n", text, flags=re.S)
    PRIORS.write_text(text, encoding="utf-8")
    OUT_MD.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Panel calibration: intercepts solved so produced hazards equal observed rates", "",
             f"Written by `experiments/panel/calibrate.py --draws {a.draws} --inner {a.inner} --seed {a.seed}"
             f" --check-draws {a.check_draws}"
             f" --write` at commit {commit} on {platform.node()} ({platform.machine()}).", "",
             "Rates are events per state-year. `observed_rate` = (events + 1/2) / exposure (the mean of the Gamma",
             "posterior the targets are drawn from); `produced_at_fit_mean`: the model's expected rate at each draw's",
             "solved intercept; `engine_rate`: the mean over draws of each draw's events / exposure, counted in a",
             "fresh engine run with new draws of the fitted normal priors (real switching; `engine_events` and",
             "`engine_exposure_years` are the totals). `csto_reference_rate`: the CSTO reference class",
             "(config/backtests/reference-class.yaml), shown as a check, not used in the fit.", "",
             "| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    for r in table.itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    ok = (table["engine_vs_observed"].abs() <= 0.10)
    lines += ["", "Within 10% (engine rate vs observed): " + ", ".join(
        f"{e}: {'yes' if k else 'NO'} ({v:+.1%})" for e, k, v in zip(table["event"], ok, table["engine_vs_observed"]))]
    OUT_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {PRIORS} (decision block) and {OUT_MD}")


if __name__ == "__main__":
    main()
