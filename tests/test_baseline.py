"""The scalar Mesa baseline (one replicate per Model, mesa.batch_run) agrees with the engine."""

from __future__ import annotations

import numpy as np
import pytest

from alignsim import load_scenario, run_ensemble
from alignsim.engine.mesa_baseline import ScalarModel, batch_run_outcomes
from alignsim.engine.estimates import event_step
from alignsim.engine.priors import replicate_params, sample_draws

from conftest import CONFIG


@pytest.fixture(scope="module")
def base():
    """The first version's model, which the scalar baseline implements: rule-based powers and the
    drivers added up (no soft maximum over outside options, no strategic powers)."""
    return load_scenario(CONFIG / "base-rule.yaml", ["outside_options=null"])


def test_scalar_model_uses_the_engines_parameters(base):
    draws = sample_draws(base, 6, 50)
    m = ScalarModel(base, draws, replicate=123, seed=6)
    row = replicate_params(draws, 124, 123, 124).iloc[0]
    assert m.focal.join_intercept == row["decision.join_intercept"]
    assert m.focal.barrier.value == row["barrier.initial"]
    assert [w for _, w in m.focal.drivers] == [d.sign * row[f"drivers.{k}.weight"] * (row[f"drivers.{d.family}.weight"] if d.family else 1.0)
                                               for k, d in base.drivers.items()]


@pytest.mark.slow
def test_batch_run_baseline_agrees_with_engine_within_3_se(base):
    n_base, n_eng, seed = 2500, 100_000, 13
    b = batch_run_outcomes(base, n_base, seed)
    assert len(b) == n_base and b["replicate"].tolist() == list(range(n_base))
    e = run_ensemble(base, n_eng, seed, keep_table=False)
    pb = float((b["first_entry_step"] > 0).mean())
    pe = float((event_step(e) > 0).mean())
    se = np.sqrt(pb * (1 - pb) / n_base + pe * (1 - pe) / n_eng)
    assert abs(pb - pe) < 3 * se, f"baseline {pb:.4f} vs engine {pe:.4f}: {abs(pb - pe) / se:.2f} SE"
    # not a trivial agreement: the event is neither (almost) impossible nor certain
    assert 0.02 < pe < 0.6
    # membership at the horizon agrees too
    pm_b = float(b["member"].mean())
    pm_e = e.totals.member[-1] / e.totals.n
    se_m = np.sqrt(pm_b * (1 - pm_b) / n_base + pm_e * (1 - pm_e) / n_eng)
    assert abs(pm_b - pm_e) < 3 * se_m
