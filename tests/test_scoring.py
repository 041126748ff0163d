"""Scores with planted answers: perfect, constant, reversed and known-miscalibrated forecasters."""

import numpy as np
import pandas as pd
import pytest

from alignsim.analyses import scoring


def test_auc_perfect_reversed_constant_and_ties():
    o = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    assert scoring.auc(p, o) == 1.0
    assert scoring.auc(1 - p, o) == 0.0
    assert scoring.auc(np.full(6, 0.4), o) == 0.5
    assert scoring.auc(np.array([0.5, 0.2, 0.5]), np.array([1, 0, 0])) == pytest.approx(0.75)
    assert np.isnan(scoring.auc(p, np.zeros(6)))


def test_brier_and_log_by_hand():
    p, o = np.array([0.2, 0.9, 0.0]), np.array([0, 1, 1])
    assert scoring.brier(p, o) == pytest.approx([0.04, 0.01, 1.0])
    assert scoring.log_score(p, o, floor=1e-3) == pytest.approx([-np.log(0.8), -np.log(0.9), -np.log(1e-3)])


def test_known_logistic_miscalibration_is_recovered():
    rng = np.random.default_rng(5)
    f = rng.uniform(-4, 2, 200_000)              # the forecaster's logit
    a, b = -0.7, 1.6                               # truth: o ~ sigmoid(a + b f)
    o = rng.uniform(size=f.size) < 1 / (1 + np.exp(-(a + b * f)))
    fit = scoring.calibration_fit(1 / (1 + np.exp(-f)), o)
    assert fit["status"] == "ok"
    assert fit["slope"] == pytest.approx(b, abs=0.03)
    assert fit["intercept"] == pytest.approx(a, abs=0.03)


def test_calibrated_forecaster_has_slope_one():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.02, 0.6, 100_000)
    o = rng.uniform(size=p.size) < p
    fit = scoring.calibration_fit(p, o)
    assert fit["slope"] == pytest.approx(1.0, abs=0.04)
    assert fit["intercept"] == pytest.approx(0.0, abs=0.05)


def test_constant_forecast_and_separation_are_flagged():
    o = np.array([0, 1, 0, 0])
    const = scoring.calibration_fit(np.full(4, 0.25), o)
    assert const["status"] == "constant forecast" and np.isnan(const["slope"])
    assert const["intercept"] == pytest.approx(0.0, abs=1e-9)  # mean outcome 0.25 = the forecast
    sep = scoring.calibration_fit(np.array([0.1, 0.9, 0.2, 0.3]), o)
    assert sep["status"] == "separation" and np.isnan(sep["slope"])
    assert scoring.calibration_fit(np.array([0.1, 0.9]), np.array([0, 0]))["status"] == "single class"


def test_grouped_bootstrap_keeps_groups_together():
    codes = scoring.group_codes(["g", "g", "g", None, "", "h"])
    assert len(set(codes)) == 4 and codes[0] == codes[1] == codes[2]
    for ix in scoring.bootstrap_indices(codes, 50, seed=0):
        counts = np.bincount(ix, minlength=6)
        assert counts[0] == counts[1] == counts[2]


def _table(p_model, p_base, o, groups):
    rows = []
    for i, (pm, pb, oo, g) in enumerate(zip(p_model, p_base, o, groups)):
        rows += [dict(case=f"c{i:03d}", group=g, forecaster="model", p_event=pm, occurred=bool(oo)),
                 dict(case=f"c{i:03d}", group=g, forecaster="base", p_event=pb, occurred=bool(oo))]
    return pd.DataFrame(rows)


def test_summary_and_paired_differences_on_a_planted_panel():
    rng = np.random.default_rng(3)
    n = 400
    truth = rng.uniform(0.01, 0.5, n)
    o = rng.uniform(size=n) < truth
    t = _table(truth, np.full(n, truth.mean()), o, [None] * n)
    s = scoring.summary(t, n_boot=300, seed=1).set_index("forecaster")
    assert s.loc["model", "auc"] > 0.6 and s.loc["model", "auc_low"] < s.loc["model", "auc"] < s.loc["model", "auc_high"]
    assert s.loc["base", "cal_status"] == "constant forecast"
    d = scoring.paired_differences(t, "model", ["base"], n_boot=300, seed=1).set_index("metric")
    assert d.loc["log", "difference"] < 0 and d.loc["log", "ci_high"] < 0   # the truth beats a constant
    assert d.loc["auc", "ci_low"] > 0


def test_oof_base_rate_uses_only_other_groups_and_the_same_kind():
    events = np.array([1, 0, 0, 1])
    exposure = np.array([2.0, 5.0, 5.0, 1.0])
    kinds = ["exit", "exit", "exit", "entry"]
    codes = scoring.group_codes(["a", "a", None, None])
    p = scoring.oof_base_rate(events, exposure, kinds, np.full(4, 5.0), codes)
    assert p[0] == pytest.approx(1 - np.exp(-5 * 0.5 / 5.0))      # only case 2 trains: 0 events in 5 years
    assert p[2] == pytest.approx(1 - np.exp(-5 * 1.5 / 7.0))      # cases 0 and 1
    assert p[3] == pytest.approx(1 - np.exp(-5 * 1.5 / 12.0))     # no other entry case: pooled
