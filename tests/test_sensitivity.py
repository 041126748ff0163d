"""Sensitivity and discovery: SALib pipeline against the Ishigami function's known indices, Morris on a
linear model, common random numbers zeroing an ignored prior, the judgement share, tornado, PRIM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import driver, fixed, minimal_doc, uniform

from alignsim.analyses.discovery import prim_boxes
from alignsim.errors import ConfigError
from alignsim.scenario import validate_document
from alignsim.analyses.sensitivity import basis_share, morris_screening, scenario_model, sobol_indices, tornado
from alignsim.analyses.sweep import PointRunner

A, B = 7.0, 0.1  # Ishigami constants
V = A**2 / 8 + B * np.pi**4 / 5 + B**2 * np.pi**8 / 18 + 0.5
S1_TRUE = np.array([0.5 * (1 + B * np.pi**4 / 5) ** 2, A**2 / 8, 0.0]) / V
ST_TRUE = np.array([0.5 * (1 + B * np.pi**4 / 5) ** 2 + 8 * B**2 * np.pi**8 / 225, A**2 / 8,
                    8 * B**2 * np.pi**8 / 225]) / V
UNIT3 = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[0.0, 1.0]] * 3}


def ishigami(U: np.ndarray) -> np.ndarray:
    """The Ishigami function on quantiles U in [0, 1]^3 (each x uniform on [-pi, pi])."""
    x = -np.pi + 2 * np.pi * U
    return np.sin(x[:, 0]) + A * np.sin(x[:, 1]) ** 2 + B * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_sobol_pipeline_recovers_ishigami_indices():
    table, X, y = sobol_indices(UNIT3, ishigami, 4096, seed=3)
    assert len(X) == 4096 * 5 and y.shape == (len(X),)
    np.testing.assert_allclose(table["S1"], S1_TRUE, atol=0.03)
    np.testing.assert_allclose(table["ST"], ST_TRUE, atol=0.03)
    assert (table["S1_conf"] < 0.06).all() and (table["ST_conf"] < 0.06).all()
    # the reported intervals are the estimate +/- the half-width and hold the true values
    assert (table["ST_low"] <= ST_TRUE).all() and (ST_TRUE <= table["ST_high"]).all()


def test_grouped_sobol_gives_closed_indices():
    table, _, _ = sobol_indices(dict(UNIT3, groups=["g", "g", "x3"]), ishigami, 2048, seed=4)
    g = table.set_index("name")
    assert g.loc["g", "S1"] == pytest.approx(S1_TRUE[0] + S1_TRUE[1], abs=0.05)  # no x1-x2 interaction
    assert g.loc["x3", "ST"] == pytest.approx(ST_TRUE[2], abs=0.04)


def test_sobol_needs_a_power_of_two():
    with pytest.raises(ConfigError, match="n_base"):
        sobol_indices(UNIT3, ishigami, 100, seed=0)


def test_morris_recovers_linear_effects():
    coef = np.array([3.0, 0.0, 1.0])
    table, _, _ = morris_screening(UNIT3, lambda U: U @ coef, trajectories=8, seed=5)
    np.testing.assert_allclose(table["mu_star"], coef, atol=1e-9)
    np.testing.assert_allclose(table["sigma"], 0.0, atol=1e-9)


def _scenario():
    """A constant join hazard with an uncertain intercept, plus an uncertain prior the model ignores
    (a driver with weight 0) whose basis is judgement."""
    doc = minimal_doc()
    doc["end"] = "2022-Q4"
    doc["decision"]["join_intercept"] = uniform(-5.0, -2.0)
    doc["drivers"] = {"ignored": driver(weight=fixed(0.0))}
    doc["drivers"]["ignored"]["initial"] = {"dist": "uniform", "low": 0.1, "high": 0.9, "basis": "judgement",
                                            "quote": "A test source text"}
    return validate_document(doc)


@pytest.mark.slow
def test_common_random_numbers_zero_the_indices_of_an_ignored_prior():
    s = _scenario()
    with PointRunner(1) as runner:
        model = scenario_model(s, runner, seed=11, replicates=300)
        problem = {"num_vars": 2, "names": ["decision.join_intercept", "drivers.ignored.initial"],
                   "bounds": [[0.0, 1.0]] * 2}
        table, X, y = sobol_indices(problem, model, 16, seed=2)
        again = model(X[:10])
        share = basis_share(s, model, 16, seed=2).set_index("name")
        tor = tornado(s, runner, seed=11, replicates=400)
    np.testing.assert_array_equal(again, y[:10])  # noise averaged and frozen: a deterministic f(u)
    t = table.set_index("name")
    assert t.loc["drivers.ignored.initial", "ST"] == 0.0 and t.loc["drivers.ignored.initial", "S1"] == 0.0
    assert t.loc["decision.join_intercept", "ST"] > 0.8
    assert share.loc["judgement", "S1"] == 0.0 and share.loc["judgement", "ST"] == 0.0
    tt = tor.set_index("name")
    assert tt.loc["drivers.ignored.initial", "swing"] == 0.0
    assert tt.loc["decision.join_intercept", "swing"] > 0 and tt.loc["decision.join_intercept", "swing_low"] > 0
    assert tor["name"].iloc[0] == "decision.join_intercept"


@pytest.mark.slow
def test_prim_finds_the_planted_box():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((2000, 5)), columns=[f"p{i}" for i in range(5)])
    interest = np.array((x.p0 > 0.7) & (x.p1 < 0.3), dtype=bool)
    interest ^= rng.random(2000) < 0.02  # a little label noise
    boxes, limits = prim_boxes(x, interest, min_density=0.7, max_boxes=2)
    first = boxes.iloc[0]
    assert first["density"] > 0.7 and first["coverage"] > 0.6
    lim = limits[limits["box"] == 1].set_index("name")
    assert {"p0", "p1"} <= set(lim.index)
    assert lim.loc["p0", "low"] == pytest.approx(0.7, abs=0.05)
    assert 0.25 < lim.loc["p1", "high"] < 0.5  # widest box with density >= 0.7: a little past 0.3
    k = interest.sum()
    assert first["coverage"] == pytest.approx(first["of_interest"] / k)
    assert first["density"] == pytest.approx(first["of_interest"] / first["cases"])
