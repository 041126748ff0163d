"""Screened Sobol: the inner-noise correction on a planted Bernoulli model, the block design's
shared replicates within a row, screening keeping the planted prior, agreement of two seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import driver, fixed, minimal_doc, uniform
from SALib.sample import sobol as sobol_sample

from alignsim.analyses.block_model import BlockModel
from alignsim.analyses.screened_sobol import (SCREENED, agreement, grouped_sobol, groups_of, indices_with_noise,
                                              screen, top_priors)
from alignsim.analyses.sweep import PointRunner
from alignsim.engine.priors import salib_problem
from alignsim.errors import ConfigError
from alignsim.scenario import validate_document

UNIT2 = {"num_vars": 2, "names": ["x1", "x2"], "bounds": [[0.0, 1.0]] * 2}


def _bernoulli_design(n_base: int, R: int, common: bool, seed: int = 0):
    """A Saltelli design of P(u) = 0.1 + 0.8 u1 (x2 inert: S1 = ST = 1 for x1, 0 for x2), each
    point run as R Bernoulli replicates: with ``common`` the points of a row share uniforms."""
    X = sobol_sample.sample(UNIT2, n_base, calc_second_order=False, seed=seed)
    P = (0.1 + 0.8 * X[:, 0]).reshape(n_base, 4)
    rng = np.random.default_rng(seed)
    if common:
        u = np.repeat(rng.random((n_base, 1, R)), 4, axis=1)
    else:
        u = rng.random((n_base, 4, R))
    hits = u < P[:, :, None]
    return hits, hits.mean(axis=2).reshape(-1)


def test_noise_correction_removes_the_bias_of_independent_inner_noise():
    # Independent noise per point (no common random numbers) and only 20 replicates: SALib's
    # total index of the inert x2 is then far above 0 and x1's first-order index well below 1
    # (the noise inflates Var y); the estimated noise terms take both back to the truth.
    hits, y = _bernoulli_design(4096, 20, common=False)
    t = indices_with_noise(UNIT2, y, hits, seed=1, num_resamples=100).set_index("name")
    assert t.loc["x2", "ST"] > 0.1  # the bias is real and large here
    assert t.loc["x1", "S1"] < 0.9
    assert 0.1 < t["noise_share"].iloc[0] < 0.3
    assert abs(t.loc["x2", "ST_adj"]) < 0.02 and abs(t.loc["x2", "S1_adj"]) < t.loc["x2", "S1_adj_conf"]
    assert abs(t.loc["x1", "ST_adj"] - 1) <= t.loc["x1", "ST_adj_conf"]
    assert abs(t.loc["x1", "S1_adj"] - 1) <= t.loc["x1", "S1_adj_conf"]


def test_common_random_numbers_within_a_row_leave_no_bias_for_an_inert_input():
    # Shared uniforms within a row: x2 changes nothing, so its indices are exactly 0; x1's are
    # still biased low by the noise in Var y, and the adjustment restores 1.
    hits, y = _bernoulli_design(4096, 20, common=True)
    t = indices_with_noise(UNIT2, y, hits, seed=1, num_resamples=100).set_index("name")
    assert t.loc["x2", "ST"] == 0.0 and t.loc["x2", "ST_noise"] == 0.0 and t.loc["x2", "ST_adj"] == 0.0
    assert t.loc["x1", "ST"] < 0.93 and t.loc["x1", "S1"] < 0.93
    for s in ("S1", "ST"):
        assert abs(t.loc["x1", f"{s}_adj"] - 1) <= t.loc["x1", f"{s}_adj_conf"]


def _scenario():
    """Join intercept (uncertain, matters), an ignored driver initial value (uncertain, weight 0)
    and an uncertain barrier start that matters a little."""
    doc = minimal_doc()
    doc["end"] = "2022-Q4"
    doc["decision"]["join_intercept"] = uniform(-5.0, -2.0)
    doc["drivers"] = {"ignored": driver(weight=fixed(0.0))}
    doc["drivers"]["ignored"]["initial"] = uniform(0.1, 0.9)
    doc["monte_carlo"].update(batch_size=300)
    return validate_document(doc)


def test_a_row_shares_its_replicates_and_rows_have_their_own():
    s = _scenario()
    names = salib_problem(s)["names"]
    with PointRunner(1) as runner:
        model = BlockModel(s, runner, names, seed=3, replicates=50, points_per_row=2)
        # two rows, each twice the same parameters except the ignored prior; row 2 = row 1
        X = np.array([[0.9, 0.1], [0.9, 0.8], [0.9, 0.1], [0.9, 0.8]])
        X = X[:, [names.index("decision.join_intercept"), names.index("drivers.ignored.initial")]]
        y = model(X)
    h = model.hits
    assert h.shape == (2, 2, 50)
    np.testing.assert_array_equal(h[:, 0], h[:, 1])   # same row: same replicates, ignored prior -> same hits
    assert not np.array_equal(h[0], h[1])              # same parameters, other row: other replicates
    assert y.shape == (4,) and 0 < y.mean() < 1


@pytest.mark.slow
def test_screening_keeps_the_planted_prior_and_the_group_carries_the_rest():
    s = _scenario()
    with PointRunner(1) as runner:
        sc = screen(s, runner, seed=2, trajectories=4, levels=4, replicates=100, keep=1)
        groups = groups_of(salib_problem(s)["names"], set(sc.loc[sc["kept"], "name"]))
        table = grouped_sobol(s, runner, groups, n_base=64, replicates=60, seeds=[5, 6], num_resamples=50)
    assert sc.loc[sc["kept"], "name"].tolist() == ["decision.join_intercept"]
    assert sc.set_index("name").loc["drivers.ignored.initial", "mu_star"] == 0.0
    assert sorted(set(groups)) == ["decision.join_intercept", f"{SCREENED} (1 priors)"]
    pooled = table[table["sample"] == "pooled"].set_index("name")
    assert pooled.loc["decision.join_intercept", "ST_adj"] > 0.8
    assert pooled.loc[f"{SCREENED} (1 priors)", "ST"] == 0.0  # the ignored prior, sampled, carries nothing
    assert set(table["sample"]) == {"seed 5", "seed 6", "pooled"}
    assert (table.loc[table["sample"] == "pooled", "n_base"] == 128).all()
    assert top_priors(table)["name"].tolist() == ["decision.join_intercept"]


def test_screening_refuses_to_keep_more_priors_than_there_are():
    with pytest.raises(ConfigError, match="sobol.screen.keep"):
        screen(_scenario(), PointRunner(1), seed=1, trajectories=2, levels=4, replicates=10, keep=3)


def test_agreement_is_the_interval_of_the_difference():
    rows = []
    for seed, s1, st in [(1, [0.50, 0.10], [0.60, 0.10]), (2, [0.45, 0.20], [0.62, 0.10])]:
        rows.append(pd.DataFrame({"sample": f"seed {seed}", "seed": seed, "name": ["a", "b"], "priors": 1,
                                  "S1_adj": s1, "S1_adj_conf": [0.04, 0.04], "ST_adj": st, "ST_adj_conf": 0.03}))
    ag = agreement(pd.concat(rows, ignore_index=True), [1, 2]).set_index("name")
    # |0.05| <= hypot(0.04, 0.04) = 0.0566: agree; |0.10| > 0.0566: not
    assert ag.loc["a", "S1_agree"] and not ag.loc["b", "S1_agree"]
    assert ag.loc["a", "ST_diff_conf"] == pytest.approx(np.hypot(0.03, 0.03))
    assert ag["ST_agree"].all()
