"""Rule-based against strategic powers on a planted panel (analyses.power_models, issue 14).

The planted cases are test_powers' patron, who can court the focal state (a driver toward
membership) and values membership; rule-based, its courting stays at 0.3. Strategic, it courts
more, so P(join) is higher. If every planted case joined, the strategic forecasts must score
better; if none joined, worse, and by more than the paired, grouped standard error.
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from alignsim.analyses import power_models, scoring
from alignsim.apps.cli import main
from alignsim.errors import ConfigError

from test_powers import fixed, load, planted


CASE_KEYS = ("name", "question", "event", "actors", "bloc", "start", "end", "member_at_start", "monte_carlo")


def panel(tmp_path, occurred: bool, with_powers: bool = True):
    """Six planted cases in three decision groups, sharing one priors file (the patron, its
    policies, the focal state's driver and decision); they differ in the driver's initial value."""
    folder = tmp_path / ("yes" if occurred else "no")
    folder.mkdir()
    doc = planted(member_weight=5.0, discount=0.08)
    doc["decision"]["join_intercept"] = fixed(-5.0)
    doc["drivers"]["courted"]["weight"] = {"dist": "uniform", "low": 2.5, "high": 3.5, "basis": "setting",
                                           "note": "planted"}  # one varying shared prior to match on
    if not with_powers:
        doc["powers"] = {"model": "rule"}
    shared = {k: v for k, v in doc.items() if k not in CASE_KEYS}
    shared["drivers"] = {"courted": {k: v for k, v in doc["drivers"]["courted"].items() if k != "initial"}}
    load(tmp_path, {**doc, "name": "shared"}, f"shared-{folder.name}.yaml")  # valid on its own, too
    (tmp_path / f"shared-{folder.name}.yaml").write_text(yaml.safe_dump(shared))
    for i, start in enumerate((0.1, 0.2, 0.3, 0.4, 0.5, 0.6)):
        case = {k: doc[k] for k in CASE_KEYS} | {
            "name": f"case{i}", "include": f"../shared-{folder.name}.yaml",
            "drivers": {"courted": {"initial": fixed(start)}},
            "outcome": {"occurred": occurred, "basis": "setting", "note": "planted",
                        **({"date": "2024-Q1"} if occurred else {})},
            "decision_group": f"g{i // 2}"}  # three groups of two cases
        (folder / f"case{i}.yaml").write_text(yaml.safe_dump(case))
    return folder


def test_paired_grouped_se_by_hand():
    t = pd.DataFrame({"case": ["a", "b", "c", "a", "b", "c"], "group": ["x", "x", "y"] * 2,
                      "forecaster": ["m"] * 3 + ["r"] * 3, "p_event": [0.5, 0.5, 0.5, 0.0, 1.0, 0.5],
                      "occurred": [True, True, False] * 2})
    row = scoring.paired_grouped_se(t, "m", "r").set_index("metric").loc["brier"]
    d = [0.25 - 1.0, 0.25 - 0.0, 0.25 - 0.25]           # per-case Brier differences
    mean = sum(d) / 3
    sums = [(d[0] - mean) + (d[1] - mean), d[2] - mean]  # group x, group y
    assert row["difference"] == pytest.approx(mean)
    assert row["se"] == pytest.approx((2 / 1 * sum(s * s for s in sums)) ** 0.5 / 3)


@pytest.mark.parametrize("occurred, expected", [(True, "strategic"), (False, "rule")])
def test_planted_panel_picks_the_model_that_forecasts_the_outcome(tmp_path, occurred, expected):
    c = power_models.compare_power_models(panel(tmp_path, occurred), n_draws=4, inner=200, seed=3, n_boot=50)
    brier = c.paired.set_index("metric").loc["brier"]
    p = c.forecasts.groupby("forecaster")["p_event"].mean()
    assert p["strategic"] > p["rule"] + 0.05, p  # the strategic patron courts: more joins
    if occurred:
        assert brier["difference"] < 0, brier
    else:
        assert brier["difference"] > brier["se"] > 0, brier
    assert c.default == expected, c.reason
    assert set(c.forecasts["case"]) == {f"case{i}" for i in range(6)} and c.skipped == []


def test_cases_without_strategic_powers_are_refused_with_one_line(tmp_path, capsys):
    folder = panel(tmp_path, True, with_powers=False)
    with pytest.raises(ConfigError, match="whose powers have options"):
        power_models.compare_power_models(folder, n_draws=4)
    assert main(["backtest", str(folder), "--compare-powers", "--draws", "4", "--out", str(tmp_path / "o")]) == 2
    assert "whose powers have options" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
