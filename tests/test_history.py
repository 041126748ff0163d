"""History matching: weights, effective sample size, and recovery of a known parameter draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alignsim.analyses import history
from alignsim.engine.ensemble import simulate
from alignsim.engine.estimates import happened_by
from alignsim.errors import ConfigError
from alignsim.engine.priors import point_params
from alignsim.scenario import Outcome, validate_document

from conftest import fixed, logit, minimal_doc, uniform

JOIN = "decision.join_intercept"


def test_kish_ess_equal_and_degenerate_weights():
    assert history.kish_ess(np.ones(40)) == pytest.approx(40.0)
    assert history.kish_ess(np.array([1.0, 0.0, 0.0])) == pytest.approx(1.0)
    assert history.kish_ess(np.array([0.5, 0.25, 0.25])) == pytest.approx(1.0 / (0.25 + 0.0625 + 0.0625))


def test_weighted_quantile_matches_midpoint_rule_and_follows_weights():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    flat = np.full(4, 0.25)
    assert history.weighted_quantile(x, flat, 0.5) == pytest.approx(2.5)
    heavy = np.array([0.0, 0.0, 0.0, 1.0])
    assert history.weighted_quantile(x, heavy, 0.5) == pytest.approx(4.0)


def test_leave_one_out_likelihood_ignores_the_left_out_outcome():
    probs = pd.DataFrame({"draw": [0, 0, 1, 1], "case": ["a", "b", "a", "b"], "p": [0.2, 0.9, 0.6, 0.3]})
    one = history.outcome_likelihood(probs, {"a": True, "b": False}, use=["b"])
    two = history.outcome_likelihood(probs, {"a": False, "b": False}, use=["b"])
    pd.testing.assert_series_equal(one, two)
    full = history.outcome_likelihood(probs, {"a": True, "b": False})
    assert full.to_numpy() == pytest.approx([0.2 * 0.1, 0.6 * 0.7])


def _scenario(name: str = "synthetic", occurred: bool | None = None, steps_end: str = "2021-Q4"):
    doc = minimal_doc()
    doc["name"] = name
    doc["end"] = steps_end
    doc["decision"]["join_intercept"] = uniform(logit(0.005), logit(0.25))
    s = validate_document(doc)
    if occurred is not None:
        s = s.model_copy(update={"outcome": Outcome(occurred=occurred, basis="setting")})
    return s


def _synthetic_cases(true_hazard: float, k: int, seed: int) -> dict:
    """k cases whose outcomes are simulated from one known parameter draw."""
    base = _scenario()
    params = point_params(base, k)
    params[JOIN] = logit(true_hazard)
    params.index = pd.RangeIndex(0, k, name="replicate")
    hits = happened_by(base, simulate(base, params, seed).replicates)
    return {f"case{i}": _scenario(f"case{i}", bool(h)) for i, h in enumerate(hits)}


@pytest.mark.parametrize("true_hazard", [0.2, 0.008])
def test_outcomes_from_a_known_draw_pull_the_matched_mean_toward_it(true_hazard):
    cases = _synthetic_cases(true_hazard, k=8, seed=11)
    draws = history.outer_draws(cases, seed=3, n_draws=60)
    probs = history.case_probabilities(cases, draws, inner=200, seed=5)
    occurred = {k: bool(c.outcome.occurred) for k, c in cases.items()}
    w = history.normalised(history.outcome_likelihood(probs, occurred))
    shift = history.parameter_shift(draws, w).set_index("parameter").loc[JOIN]
    truth = logit(true_hazard)
    assert abs(shift["matched_mean"] - truth) < abs(shift["prior_mean"] - truth) - 0.2
    assert 1.0 <= history.kish_ess(w.to_numpy()) < 60


def test_case_probabilities_do_not_depend_on_chunking():
    cases = {"a": _scenario("a", True), "b": _scenario("b", False)}
    draws = history.outer_draws(cases, seed=1, n_draws=9)
    one = history.case_probabilities(cases, draws, inner=50, seed=2, chunk_draws=4)
    two = history.case_probabilities(cases, draws, inner=50, seed=2, chunk_draws=50)
    pd.testing.assert_frame_equal(one, two)
    assert ((one["p"] > 0) & (one["p"] < 1)).all()


def test_case_params_share_the_draw_and_vary_the_initial_state():
    doc = minimal_doc()
    doc["barrier"]["initial"] = uniform(0.0, 1.0)
    s = validate_document(doc)
    draws = history.outer_draws({"s": s}, seed=0, n_draws=3)
    assert "barrier.initial" not in draws
    p = history.case_params(s, draws, inner=10, seed=0)
    assert p.shape[0] == 30 and list(p.index[:2]) == [0, 1]
    assert p.groupby("draw")["barrier.initial"].nunique().min() > 1
    assert p.groupby("draw")[JOIN].nunique().max() == 1


def test_cases_with_different_shared_priors_are_refused():
    a = _scenario("a", True)
    doc = minimal_doc()
    doc["decision"]["join_intercept"] = fixed(-3.0)
    b = validate_document(doc)
    with pytest.raises(ConfigError, match="decision.join_intercept"):
        history.outer_draws({"a": a, "b": b}, seed=0, n_draws=4)


def test_a_decision_group_counts_as_one_observation():
    probs = pd.DataFrame({"draw": [0, 0, 0, 1, 1, 1], "case": ["a", "b", "c"] * 2,
                          "p": [0.8, 0.8, 0.5, 0.2, 0.2, 0.5]})
    occurred = {"a": True, "b": True, "c": False}
    grouped = history.outcome_likelihood(probs, occurred, groups={"a": "g", "b": "g", "c": None})
    # a and b share one decision: their joint likelihood is the geometric mean, one factor of 0.8 (0.2)
    assert grouped.to_numpy() == pytest.approx([0.8 * 0.5, 0.2 * 0.5])
    alone = history.outcome_likelihood(probs, {"a": True, "c": False})
    pd.testing.assert_series_equal(grouped, alone)
    assert history.effective_groups(["a", "b", "c"], {"a": "g", "b": "g"}) == 2
