"""Rule-based against strategic powers on a panel of alliance cases, scored out of fold.

Every case of a backtest folder whose ``powers:`` section gives at least one power options to
choose on is run twice, once with ``powers.model: rule`` and once with ``strategic``, with the same
seed, outer draws and inner replicates (common random numbers wherever the two share a prior).
Each run is a full backtest (``backtest.backtest_cases``): draws weighted by the outcomes of the
other decision groups, so each case's forecast is out of fold. The two out-of-fold forecasts per
case are then compared with ``scoring.paired_grouped_se`` (decision groups as clusters).

The rule for the default: strategic, unless its mean Brier score is worse than the rule-based
one's by more than the paired, grouped standard error of the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alignsim.analyses import backtest, history, scoring
from alignsim.errors import ConfigError
from alignsim.scenario import Scenario

MODELS = ("rule", "strategic")
FORECASTER = "model_matched_oof"


def has_powers(case: Scenario) -> bool:
    """Whether a case's powers have options to choose on (so the strategic model can run)."""
    return any(a.options for a in case.powers.actors.values())


def with_model(case: Scenario, model: str) -> Scenario:
    """The case with ``powers.model`` set to ``model`` (everything else unchanged)."""
    return case.model_copy(update={"powers": case.powers.model_copy(update={"model": model})})


@dataclass
class PowerComparison:
    """Out-of-fold forecasts of both power models (tidy: case, group, forecaster, p_event,
    occurred, brier, log_score), their paired comparison and the decision."""

    forecasts: pd.DataFrame
    paired: pd.DataFrame          # metric, difference (strategic - rule), se, cases, groups
    summary: pd.DataFrame         # per forecaster: scoring.summary
    skipped: list[str]            # cases without strategic powers
    default: str                  # "strategic" or "rule"
    reason: str


def decide(paired: pd.DataFrame) -> tuple[str, str]:
    """Strategic unless its Brier score is worse by more than one paired, grouped standard error."""
    row = paired.set_index("metric").loc["brier"]
    diff, se = float(row["difference"]), float(row["se"])
    if diff > se:
        return "rule", (f"strategic powers score worse: mean Brier difference {diff:+.4f} (strategic - rule) "
                        f"exceeds its paired, grouped standard error {se:.4f}")
    return "strategic", (f"strategic powers score no worse than rule-based ones by more than the error: mean "
                         f"Brier difference {diff:+.4f} (strategic - rule), paired grouped se {se:.4f}")


def compare_power_models(folder: str | Path, n_draws: int = 500, inner: int = history.MIN_INNER,
                         seed: int = 0, n_boot: int = 2000) -> PowerComparison:
    """Backtest the cases of ``folder`` that have strategic powers under both power models."""
    folder = Path(folder)
    cases = backtest.load_cases(folder)
    eligible = {k: c for k, c in cases.items() if has_powers(c)}
    skipped = sorted(set(cases) - set(eligible))
    if len(eligible) < 2:
        raise ConfigError("backtest folder", str(folder),
                          f"at least 2 cases whose powers have options (powers.actors.*.options); found "
                          f"{len(eligible)} of {len(cases)}")
    ref_path = folder / backtest.REFERENCE_FILE
    ref = backtest.load_reference_class(ref_path) if ref_path.is_file() else None
    frames = []
    for model in MODELS:
        res = backtest.backtest_cases({k: with_model(c, model) for k, c in eligible.items()}, ref,
                                      n_draws, inner, seed, n_boot)
        oof = res.scored[res.scored["forecaster"] == FORECASTER].assign(forecaster=model)
        frames.append(oof)
    forecasts = pd.concat(frames, ignore_index=True)
    paired = scoring.paired_grouped_se(forecasts, "strategic", "rule")
    default, reason = decide(paired)
    return PowerComparison(forecasts, paired, scoring.summary(forecasts, n_boot=n_boot, seed=seed),
                           skipped, default, reason)


def format_comparison(c: PowerComparison) -> str:
    """Plain-text table of the comparison and the decision."""
    lines = [f"Power models on {c.paired['cases'].iloc[0]} cases in {c.paired['groups'].iloc[0]} decision groups "
             f"(out-of-fold forecasts; {len(c.skipped)} cases without strategic powers left out)"]
    for _, r in c.summary.iterrows():
        lines.append(f"  {r['forecaster']:10s} mean Brier {r['brier']:.4f}  mean log {r['log']:.4f}  AUC {r['auc']:.3f}")
    for _, r in c.paired.iterrows():
        lines.append(f"  strategic - rule, {r['metric']:5s}: {r['difference']:+.4f} (paired grouped se {r['se']:.4f})")
    lines.append(f"Default: {c.default} ({c.reason})")
    return "\n".join(lines)
