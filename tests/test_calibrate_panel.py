"""The calibration script's solver on gap paths with a known answer."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "panel" / "calibrate.py"


@pytest.fixture(scope="module")
def cal():
    spec = importlib.util.spec_from_file_location("panel_calibrate", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_constant_hazard_produces_four_times_the_quarterly_rate(cal):
    gaps = [np.zeros((20, 3, 5))]  # T quarters x draws x replicates, dU = 0
    a = np.array([-5.0, -3.0, -1.0])
    h = 1 / (1 + np.exp(-a))
    assert cal.produced_rate(a, gaps, -1.0) == pytest.approx(4 * h)  # events / quarters at risk = h


def test_solver_recovers_the_intercept_that_gives_a_target_rate(cal):
    rng = np.random.default_rng(0)
    gaps = [rng.normal(2.0, 1.0, (20, 4, 30)), rng.normal(1.0, 0.5, (12, 4, 30))]
    target = np.array([0.005, 0.02, 0.08, 0.3])
    a = cal.solve(target, gaps, -1.0)
    assert cal.produced_rate(a, gaps, -1.0) == pytest.approx(target, rel=1e-8)
    # members with a larger gap need a larger intercept for the same rate
    shifted = cal.solve(target, [g + 1.0 for g in gaps], -1.0)
    assert np.all(shifted > a)
