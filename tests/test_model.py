"""The model's accounting: contributions sum to dU, scripted shocks give a hand-computed dU,
and a power with zero response coefficients ignores the focal state."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignsim import load_scenario, simulate
from alignsim.engine.priors import point_params

from conftest import CONFIG, driver, fixed, minimal_doc


def test_contributions_sum_to_gap_every_quarter():
    scenario = load_scenario(CONFIG / "base.yaml")
    params = point_params(scenario, n=50, quantile=0.5)
    result = simulate(scenario, params, seed=3, trace=True)
    wide = result.trace.pivot_table(index=["step", "replicate"], columns="series", values="value")
    contrib = wide[[f"contrib.{d}" for d in scenario.drivers]].sum(axis=1)
    gap = contrib - wide["barrier"]
    np.testing.assert_allclose(gap.to_numpy(), wide["gap"].to_numpy(), rtol=0, atol=1e-12)
    # contributions are signed: an 'away' driver never contributes positively
    away = [d for d, v in scenario.drivers.items() if v.direction == "away"]
    assert (wide[[f"contrib.{d}" for d in away]] <= 0).all().all()


def test_scripted_shocks_reproduce_hand_computed_gap(write_doc):
    doc = minimal_doc(0.01)
    doc["shocks"] = {
        "crisis": {"label": "c", "direction": "toward", "rate": fixed(0.0), "basis": "setting"},
        "denial": {"label": "d", "direction": "away", "rate": fixed(0.0), "basis": "setting"},
    }
    doc["drivers"] = {"need": driver("shock_level", "toward", weight=fixed(1.5), initial=0.3,
                                     shocks={"crisis": fixed(0.4)})}
    doc["barrier"]["params"] = {"baseline": fixed(0.0), "speed": fixed(0.1)}
    doc["barrier"]["initial"] = fixed(2.0)
    doc["barrier"]["resets"] = {"denial": fixed(1.5)}
    doc["scripted"] = [{"date": "2020-Q3", "shock": "crisis", "basis": "setting"},
                       {"date": "2021-Q2", "shock": "denial", "basis": "setting"},
                       {"date": "2022-Q1", "shock": "crisis", "basis": "setting"}]
    scenario = load_scenario(write_doc(doc))
    params = point_params(scenario, n=1)
    result = simulate(scenario, params, seed=0, trace=True)
    got = result.trace[result.trace["series"] == "gap"]["value"].to_numpy()

    # by hand: x' = x + 0.1 (0.2 - x) + 0.4 [crisis]; clip to [0, 1]
    #          b' = b + 0.1 (0 - b), reset to 1.5 on denial; dU = 1.5 x - b
    crisis_steps, denial_steps = {3, 9}, {6}
    x, b, expected = 0.3, 2.0, []
    for step in range(1, scenario.axis.n_steps + 1):
        x = min(max(x + 0.1 * (0.2 - x) + (0.4 if step in crisis_steps else 0.0), 0.0), 1.0)
        b = 1.5 if step in denial_steps else b + 0.1 * (0.0 - b)
        expected.append(1.5 * x - b)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def _power_doc(coef: float) -> dict:
    doc = minimal_doc(0.05)
    doc["drivers"] = {"need": driver("shock_level", "toward", weight=fixed(2.0), initial=0.5)}
    doc["policies"] = {"patron": {"courtship": {
        "kind": "partial_adjustment", "label": "c", "scale": "s", "mechanism": "m",
        "initial": fixed(0.3), "params": {"base": fixed(0.2), "speed": fixed(0.5)},
        "inputs": {"tilt": fixed(coef), "member": fixed(coef), "drivers.need": fixed(coef)},
        "noise": fixed(0.05)}}}
    return doc


def test_power_with_zero_response_ignores_focal_state(write_doc):
    trajectories = {}
    for coef in (0.0, 0.3):
        for need0 in (0.1, 0.9):
            doc = _power_doc(coef)
            doc["drivers"]["need"]["initial"] = fixed(need0)
            scenario = load_scenario(write_doc(doc, f"s-{coef}-{need0}.yaml"))
            tr = simulate(scenario, point_params(scenario, n=200), seed=5, trace=True).trace
            trajectories[coef, need0] = tr[tr["series"] == "policies.patron.courtship"]["value"].to_numpy()
    np.testing.assert_array_equal(trajectories[0.0, 0.1], trajectories[0.0, 0.9])
    assert not np.array_equal(trajectories[0.3, 0.1], trajectories[0.3, 0.9])


def test_trace_of_one_replicate_is_one_trajectory():
    scenario = load_scenario(CONFIG / "base.yaml")
    res = simulate(scenario, point_params(scenario, n=1), seed=1, trace=True)
    assert res.trace["replicate"].nunique() == 1
    assert res.trace["step"].nunique() == scenario.axis.n_steps
    assert isinstance(res.replicates, pd.DataFrame) and len(res.replicates) == 1


def _feedback_doc(order: list[str]) -> dict:
    """A power whose policy reads the focal state's tilt, a driver mirroring that policy, and a
    logistic driver: every kind of cross-actor flow, with no randomness (no shocks, no noise)."""
    doc = minimal_doc(0.01)
    doc["order"] = order
    doc["barrier"]["initial"] = fixed(0.5)
    doc["policies"] = {"patron": {"courtship": {
        "kind": "partial_adjustment", "label": "c", "scale": "s", "mechanism": "m", "initial": fixed(0.3),
        "params": {"base": fixed(0.2), "speed": fixed(0.5)}, "inputs": {"tilt": fixed(0.3)}}}}
    doc["drivers"] = {
        "coop": driver("partial_adjustment", "toward", weight=fixed(2.0), initial=0.1,
                       params={"base": fixed(0.0), "speed": fixed(1.0)},
                       inputs={"policies.patron.courtship": fixed(1.0)}),
        "need": {"kind": "logistic_growth", "label": "n", "scale": "s", "mechanism": "m", "direction": "away",
                 "weight": fixed(1.0), "initial": fixed(0.2), "params": {"rate": fixed(0.1)}},
    }
    return doc


@pytest.mark.parametrize("order", [["shocks", "policies", "drivers", "decision"],
                                   ["shocks", "drivers", "policies", "decision"]])
def test_phase_order_and_feedback_reproduce_a_hand_computed_gap(write_doc, order):
    scenario = load_scenario(write_doc(_feedback_doc(order)))
    tr = simulate(scenario, point_params(scenario, n=1), seed=0, trace=True).trace
    got = tr[tr["series"] == "gap"]["value"].to_numpy()

    # by hand; tilt is tanh of the last decision's pull (2 coop - need), from initial values at first
    court, coop, need = 0.3, 0.1, 0.2
    pull = 2.0 * coop - 1.0 * need
    expected = []
    for _ in range(scenario.axis.n_steps):
        new_court = min(max(court + 0.5 * (0.2 + 0.3 * np.tanh(pull) - court), 0.0), 1.0)
        # policies first: the driver mirrors this quarter's policy; drivers first: last quarter's
        mirrored = new_court if order.index("policies") < order.index("drivers") else court
        coop = min(max(coop + 1.0 * (0.0 + 1.0 * mirrored - coop), 0.0), 1.0)
        need = min(max(need + 0.1 * need * (1.0 - need), 0.0), 1.0)
        court = new_court
        pull = 2.0 * coop - 1.0 * need
        expected.append(pull - 0.5)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
