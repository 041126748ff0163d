"""Backtests: hand-computed scores, baselines, the loader's limits on case files, the command."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
import yaml

from alignsim.analyses import backtest
from alignsim.apps.cli import main
from alignsim.errors import ConfigError
from alignsim.scenario import load_document, load_scenario

from conftest import CONFIG


def test_scores_match_hand_computed_values():
    forecasts = pd.DataFrame({
        "case": ["a", "b", "c", "a", "b", "c"],
        "forecaster": ["m", "m", "m", "z", "z", "z"],
        "p_event": [0.2, 0.0, 0.9, 0.5, 0.5, 0.5],
        "occurred": [True, True, False, True, True, False],
    })
    s = backtest.score(forecasts)
    assert s["p_outcome"].tolist() == pytest.approx([0.2, 0.0, 0.1, 0.5, 0.5, 0.5])
    assert s["brier"].tolist() == pytest.approx([0.64, 1.0, 0.81, 0.25, 0.25, 0.25])
    assert s["log_score"].tolist() == pytest.approx(
        [-math.log(0.2), -math.log(0.001), -math.log(0.1)] + [math.log(2)] * 3)
    means = backtest.mean_scores(s).set_index("forecaster")
    assert means.loc["m", "mean_brier"] == pytest.approx((0.64 + 1.0 + 0.81) / 3)
    assert means.loc["z", "mean_log_score"] == pytest.approx(math.log(2))


def test_base_rate_baseline_uses_the_cited_rate_per_state_year():
    ref = backtest.load_reference_class(CONFIG / "backtests" / backtest.REFERENCE_FILE)
    entry = load_scenario(CONFIG / "backtests" / "uzbekistan-2005Q2.yaml")
    suspension = load_scenario(CONFIG / "backtests" / "uzbekistan-2011Q3.yaml")
    assert backtest.base_rate_probability(entry, ref) == pytest.approx(1 - (1 - 4 / 179.55) ** 3)
    # the 2012 case is a suspension (issue 12): suspensions per member-year, 2 / 224.0
    assert backtest.base_rate_probability(suspension, ref) == pytest.approx(1 - (1 - 2 / 224.0) ** 3)


def test_repository_cases_share_priors_with_base_and_current():
    cases = backtest.load_cases(CONFIG / "backtests")
    assert {c.event.kind for c in cases.values()} == {"first_entry", "first_suspension"}
    base = load_scenario(CONFIG / "base.yaml")
    current = load_scenario(CONFIG / "current.yaml")
    backtest.check_shared(cases, base)
    backtest.check_shared(cases, current)
    # the base scenario (2017-Q3) may not use the 2017-2025 outcome; today's outlook uses all three
    assert backtest.usable_cases(cases, base) == ["uzbekistan-2005Q2", "uzbekistan-2011Q3"]
    assert len(backtest.usable_cases(cases, current)) == 3
    assert len(backtest.usable_cases(cases, base, include_later=True)) == 3


@pytest.fixture
def case_dir(tmp_path):
    folder = tmp_path / "backtests"
    folder.mkdir()
    shutil.copy(CONFIG / "priors.yaml", tmp_path / "priors.yaml")
    return folder


def _case_doc() -> dict:
    return yaml.safe_load((CONFIG / "backtests" / "uzbekistan-2011Q3.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["drivers"]["western_pressure"].update(weight={"dist": "fixed", "value": 1.0, "basis": "setting"}),
     "drivers.western_pressure.weight"),
    (lambda d: d.update(observed={"through": "2012-Q1", "window_end": "2014-Q2", "basis": "setting"}), "observed"),
    (lambda d: d.update(shocks={"x": {}}), "shocks"),
    (lambda d: d["policies"]["russia"]["pressure"].update(params={}), "policies.russia.pressure.params"),
    (lambda d: d.pop("include"), "include"),
])
def test_backtest_files_may_set_only_dates_initial_state_events_and_outcome(case_dir, edit, field):
    doc = _case_doc()
    edit(doc)
    path = case_dir / "case.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_document(path)


def test_a_file_with_an_outcome_is_checked_wherever_it_lives(tmp_path):
    shutil.copy(CONFIG / "priors.yaml", tmp_path / "priors.yaml")
    doc = _case_doc()
    doc["include"] = "priors.yaml"
    doc["decision"] = {"join_intercept": {"dist": "fixed", "value": -3.0, "basis": "setting"}}
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match="decision"):
        load_document(path)


@pytest.mark.slow
def test_backtest_command_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    out = tmp_path / "bt"
    code = main(["backtest", str(CONFIG / "backtests"), "--draws", "12", "--inner", "200", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "model_matched_oof" in text and "nothing_changes" in text and "cannot establish calibration" in text
    assert (out / "reliability.png").stat().st_size > 1000
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 3 * len(backtest.FORECASTERS)
    assert scores.loc[scores["forecaster"] == "nothing_changes", "p_event"].eq(0).all()
    prior = scores[scores["forecaster"] == "model_prior"]
    assert prior["p_event"].between(0, 1).all() and (prior["ess_draws"] == 12).all()


def test_backtest_command_refuses_too_few_inner_replicates(capsys):
    code = main(["backtest", str(CONFIG / "backtests"), "--draws", "4", "--inner", "50"])
    assert code == 2
    assert "inner" in capsys.readouterr().err


def test_backtest_of_a_missing_folder_is_one_clear_error(tmp_path, capsys):
    assert main(["backtest", str(tmp_path / "nope")]) == 2
    assert "backtest folder" in capsys.readouterr().err


@pytest.mark.slow
def test_run_history_matched_writes_prior_and_matched_forecasts(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(CONFIG / "current.yaml"), "--replicates", "2000", "--set", "monte_carlo.draws=20",
                 "--out", str(out), "--no-report", "--history-matched"])
    text = capsys.readouterr().out
    assert code == 0, text
    import json

    summary = json.loads((out / "history_matched.json").read_text())
    # the panel of alliance histories by default: cases sharing a decision point count once
    panel = backtest.load_cases(CONFIG / "panel")
    assert sorted(summary["cases"]) == sorted(panel)
    groups = {c.decision_group or f"case:{k}" for k, c in panel.items()}
    assert summary["effective_groups"] == len(groups) < len(panel)
    assert (f"History-matched on {len(panel)} case(s), {len(groups)} effective group(s)" in text
            and "Kish ESS" in text)
    assert 1.0 <= summary["ess_draws"] <= 20
    assert summary["later_outcomes_used"] == []
    assert 0.0 <= summary["matched"]["ci_low"] <= summary["matched"]["estimate"] <= summary["matched"]["ci_high"] <= 1.0
    params = pd.read_csv(out / "history_parameters.csv")
    assert {"prior_q05", "matched_q05", "prior_mean", "matched_mean"} <= set(params.columns)


@pytest.mark.slow
def test_base_matched_forecast_uses_only_earlier_outcomes_unless_told():
    from alignsim.runs.api import run

    result = run(CONFIG / "base.yaml", replicates=400, save=False, overrides=["monte_carlo.draws=8"])
    m = backtest.match_run(result.ensemble, CONFIG / "backtests")
    assert m.summary["cases"] == ["uzbekistan-2005Q2", "uzbekistan-2011Q3"]
    later = backtest.match_run(result.ensemble, CONFIG / "backtests", include_later=True)
    assert later.summary["later_outcomes_used"] == ["uzbekistan-2017Q3"]
    assert "NOTE: uses outcomes observed after" in backtest.format_matched(later)
    assert m.summary["conditional"] is not None


@pytest.mark.slow
def test_second_country_runs_with_no_code_change():
    from alignsim.runs.api import run

    result = run(CONFIG / "armenia.yaml", replicates=500, save=False)
    assert result.scenario.event.kind == "first_exit" and result.scenario.focal == "armenia"
    assert 0.0 < result.summary["probability"]["estimate"] < 1.0
