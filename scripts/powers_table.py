"""Powers that choose: choice shares, entropy, tilt deciles and the look-ahead's error.

    .venv/bin/python scripts/powers_table.py [--config config/base-strategic.yaml]
        [--replicates 20000] [--check 400] [--out docs/results/powers.md]

Writes docs/results/powers.md (stamped with commit and machine):
1. per power and policy: the share of each option, the entropy of the choices (bits; 1.585 is
   uniform over three options) and the shares among replicate-quarters in the lowest and the
   highest decile of the focal state's tilt as the powers saw it;
2. when: the share of each option by year;
3. the linear look-ahead's error: choice probabilities from ``linear`` against the model's own
   look-ahead (``model``, 16 samples) at a few quarters, beside the model look-ahead's own
   sampling noise (8 samples against 8 others);
4. P(event) under the rule-based and the strategic model (same seed, same replicates).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from alignsim import load_scenario, run_ensemble
from alignsim.engine.choice import choice_table
from alignsim.engine.estimates import summarise
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws

ROOT = Path(__file__).resolve().parents[1]
SEED = 20170706


def recorded_choices(scenario, replicates: int, batch: int = 5000) -> pd.DataFrame:
    draws = sample_draws(scenario, SEED, scenario.monte_carlo.draws)
    frames = []
    for start in range(0, replicates, batch):
        stop = min(replicates, start + batch)
        model = AlignmentModel(scenario, replicate_params(draws, replicates, start, stop), SEED, record_choices=True)
        for _ in range(scenario.axis.n_steps):
            model.step()
        frames.append(choice_table(model.strategy.history, start))
    return pd.concat(frames, ignore_index=True)


def labels_of(scenario) -> dict[str, tuple[str, str, str]]:
    return {f"policies.{a}.{p}": o.labels for a, st in scenario.powers.actors.items() for p, o in st.options.items()}


def entropy_bits(shares: np.ndarray) -> float:
    s = shares[shares > 0]
    return float(-(s * np.log2(s)).sum())


def _shares(choice: pd.Series) -> np.ndarray:
    return np.array([(choice == a).mean() for a in (-1, 0, 1)])


def _fmt(labels: tuple[str, str, str], shares: np.ndarray) -> str:
    return " / ".join(f"{name} {x:.1%}" for name, x in zip(labels, shares))


def shares_table(scenario, table: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """Per policy: option shares overall and in the lowest / highest tilt decile, and entropy."""
    labels = labels_of(scenario)
    lo, hi = table["tilt"].quantile([0.1, 0.9])
    rows = []
    for ref, g in table.groupby("policy", sort=False):
        all_ = _shares(g["choice"])
        low, high = _shares(g.loc[g["tilt"] <= lo, "choice"]), _shares(g.loc[g["tilt"] >= hi, "choice"])
        rows.append({"power": ref.split(".")[1], "policy": ref.split(".")[2],
                     "entropy (bits)": round(entropy_bits(all_), 3),
                     "all quarters": _fmt(labels[ref], all_),
                     "lowest tilt decile": _fmt(labels[ref], low),
                     "highest tilt decile": _fmt(labels[ref], high),
                     "expand share: high - low decile": f"{high[2] - low[2]:+.1%}"})
    return pd.DataFrame(rows), float(lo), float(hi)


def by_year(scenario, table: pd.DataFrame) -> pd.DataFrame:
    """Option shares per policy and year (wide: one column per policy)."""
    axis = scenario.axis
    labels = labels_of(scenario)
    year = table["step"].map(lambda t: str(axis.quarter_of(t))[:4])
    cells: dict[tuple[str, str], str] = {}
    for (ref, y), g in table.assign(year=year).groupby(["policy", "year"], sort=False):
        sh = _shares(g["choice"])
        cells[(y, ref)] = " / ".join(f"{x:.0%}" for x in sh)
    refs = list(dict.fromkeys(table["policy"]))
    years = sorted({y for y, _ in cells})
    return pd.DataFrame([{"year": y, **{f"{r.removeprefix('policies.')} ({'/'.join(labels[r])})": cells.get((y, r), "")
                                         for r in refs}} for y in years])


def probabilities(eu: np.ndarray, precision: np.ndarray) -> np.ndarray:
    z = precision * eu
    z = z - z.max(axis=0)
    p = np.exp(z)
    return p / p.sum(axis=0)


def lookahead_error(scenario, n: int, steps=(1, 8, 20, 40)) -> pd.DataFrame:
    """Mean |p_linear - p_model| and the model look-ahead's own noise, per power and policy."""
    draws = sample_draws(scenario, SEED, scenario.monte_carlo.draws)
    model = AlignmentModel(scenario, replicate_params(draws, n, 0, n), SEED)
    strat = model.strategy
    rows = []
    for t in range(1, max(steps) + 1):
        if t in steps:
            for power in strat.powers:
                for opt in power.options:
                    lin = probabilities(strat.lookahead_linear(power, opt), strat.precision)
                    strat.samples = 8
                    a = strat.lookahead_model(power, opt, 0)
                    b = strat.lookahead_model(power, opt, 8)
                    exact = probabilities((a + b) / 2, strat.precision)
                    noise = np.abs(probabilities(a, strat.precision) - probabilities(b, strat.precision)).mean() / 2
                    rows.append({"step": t, "quarter": str(model.axis.quarter_of(t)), "policy": opt.ref.removeprefix("policies."),
                                 "mean abs(p_linear - p_model)": np.abs(lin - exact).mean(),
                                 "model noise (16 samples)": noise,
                                 "corr of EU(expand)-EU(retreat)": np.corrcoef(
                                     (lambda e: e[2] - e[0])(strat.lookahead_linear(power, opt)),
                                     ((a + b) / 2)[2] - ((a + b) / 2)[0])[0, 1]})
        model.step()
    return pd.DataFrame(rows)


def md(frame: pd.DataFrame) -> str:
    """A markdown table (floats to 3 decimals)."""
    cell = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="config/base-strategic.yaml")
    ap.add_argument("--rule-config", default="config/base.yaml")
    ap.add_argument("--replicates", type=int, default=20000)
    ap.add_argument("--check", type=int, default=400)
    ap.add_argument("--out", default="docs/results/powers.md")
    args = ap.parse_args()
    s = load_scenario(ROOT / args.config)
    rule = load_scenario(ROOT / args.rule_config)
    t0 = time.perf_counter()
    table = recorded_choices(s, args.replicates)
    shares, lo, hi = shares_table(s, table)
    years = by_year(s, table)
    err = lookahead_error(s, args.check)
    p_rule = summarise(run_ensemble(rule, args.replicates, SEED, keep_table=False))["probability"]
    p_strat = summarise(run_ensemble(s, args.replicates, SEED, keep_table=False))["probability"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    out = ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    err_sum = err.groupby("policy", sort=False)[["mean abs(p_linear - p_model)", "model noise (16 samples)",
                                                  "corr of EU(expand)-EU(retreat)"]].mean().reset_index()
    text = f"""# Powers that choose: what the powers chose

Written by `scripts/powers_table.py` at commit {commit} on {platform.node()} ({platform.machine()},
{platform.python_version()}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, in {time.perf_counter() - t0:.0f} s.
Scenario `{args.config}` (powers.model = {s.powers.model}, look-ahead {s.powers.lookahead.method},
horizon {s.powers.lookahead.horizon} quarters), {args.replicates} replicates, seed {SEED}.

## Choices per power and policy

Share of each option over all replicate-quarters; entropy of those shares in bits (three options:
at most 1.585); shares among replicate-quarters whose tilt (tanh of the focal state's pull, as the
powers saw it when choosing) is in the lowest decile (<= {lo:.3f}) and the highest (>= {hi:.3f}).

{md(shares)}

## When: shares by year

Each cell: the shares of the three options, in the order the column names them.

{md(years)}

## The linear look-ahead against the model's own look-ahead

{args.check} replicates; at each listed quarter of one linear-strategic run, the choice probabilities
from the linear look-ahead against the model look-ahead (16 samples of its own streams, the same
horizon), and the model look-ahead's own sampling noise (half the mean |p| difference between
two sets of 8 samples). Mean over quarters:

{md(err_sum)}

By quarter:

{md(err)}

## P(event) by power model (same seed, {args.replicates} replicates)

| power model | scenario | P(event) | 95% MC interval |
|---|---|---|---|
| rule | {args.rule_config} | {p_rule['estimate']:.3%} | {p_rule['ci_low']:.3%}-{p_rule['ci_high']:.3%} |
| strategic | {args.config} | {p_strat['estimate']:.3%} | {p_strat['ci_low']:.3%}-{p_strat['ci_high']:.3%} |

The default stays rule-based for existing scenarios. The comparison that should decide it, the
panel's out-of-fold scores of both power models (issue 13), is pending: the panel's cases
(config/panel/, config/priors-alliance.yaml) have no policy variables for their powers yet, so
the strategic model has nothing to choose on there.
"""
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
