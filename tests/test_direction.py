"""Raising each driver's weight moves the probability of the event in the driver's direction,
under common random numbers (same seed, same replicates), for the base scenario."""

from __future__ import annotations

import numpy as np
import pytest

from alignsim import load_scenario, simulate
from alignsim.estimates import event_step
from alignsim.ensemble import EnsembleResult
from alignsim.priors import point_params

from conftest import CONFIG

BASE = load_scenario(CONFIG / "base.yaml")
N = 6000


def _hits(scenario, params) -> np.ndarray:
    res = simulate(scenario, params, seed=99)
    ens = EnsembleResult(scenario, 99, params, res.replicates, res.totals)
    return (event_step(ens) > 0).astype(float)


@pytest.mark.parametrize("name", list(BASE.drivers))
def test_weight_moves_probability_in_its_direction(name):
    low = point_params(BASE, n=N)
    high = low.copy()
    high[f"drivers.{name}.weight"] += 2.0
    diff = _hits(BASE, high) - _hits(BASE, low)          # paired, replicate by replicate
    mean, se = diff.mean(), diff.std(ddof=1) / np.sqrt(N)
    sign = BASE.drivers[name].sign
    assert sign * mean > 3 * se, f"{name}: change {mean:+.4f} (se {se:.4f}) not in direction {sign:+.0f}"
