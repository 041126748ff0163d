"""The compiled engine (engine/kernels.py) equals its numpy reference (engine/reference.py) bit for bit.

Every column of the replicate table and every quarter total, for scenarios that between them
use every mechanism kind, resets, redraws, three membership levels, decision points, outside
options and strategic powers; and the reference really is another code path (planted check).
"""

from __future__ import annotations

import numpy as np
import pytest

from alignsim import load_scenario
from alignsim.engine import kernels
from alignsim.engine.ensemble import simulate
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.engine.reference import numpy_engine

from conftest import CONFIG


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint64) if a.dtype == np.float64 else a.view(np.uint32) if a.dtype == np.float32 else a


def _assert_identical(a, b) -> None:
    assert list(a.replicates.columns) == list(b.replicates.columns)
    for c in a.replicates.columns:
        x, y = a.replicates[c].to_numpy(), b.replicates[c].to_numpy()
        assert x.dtype == y.dtype and np.array_equal(_bits(x), _bits(y)), c
    for name in vars(a.totals):
        assert np.array_equal(np.asarray(getattr(a.totals, name)), np.asarray(getattr(b.totals, name))), name


@pytest.mark.parametrize("config", ["base.yaml", "base-rule.yaml", "armenia.yaml", "current.yaml"])
def test_compiled_engine_equals_the_numpy_reference(config):
    s = load_scenario(CONFIG / config)
    params = replicate_params(sample_draws(s, 5, 40), 10**6, 123, 123 + 700)
    compiled = simulate(s, params, 5)
    with numpy_engine():
        reference = simulate(s, params, 5)
    _assert_identical(compiled, reference)
    assert compiled.replicates["first_entry_step"].ge(0).any() or compiled.replicates["first_exit_step"].ge(0).any()


def test_the_reference_is_a_different_code_path(monkeypatch):
    """Planted: a kernel one ulp off in one block makes the two paths differ, so the test above can fail."""
    s = load_scenario(CONFIG / "base-rule.yaml")
    params = replicate_params(sample_draws(s, 5, 10), 100, 0, 100)
    with numpy_engine():
        reference = simulate(s, params, 5)
    real = kernels.advance_block

    def one_ulp_up(*args):
        real(*args)
        out = args[-2]
        if args[0] == kernels.KIND_CODES["logistic_growth"]:
            out[:] = np.nextafter(out, np.inf)

    monkeypatch.setattr("alignsim.engine.mechanisms.advance_block", one_ulp_up)
    broken = simulate(s, params, 5)
    with pytest.raises(AssertionError):
        _assert_identical(broken, reference)


def test_record_quarter_bins_like_searchsorted():
    """The histogram's bin is searchsorted(edges, x, 'right') also on and next to every edge."""
    edges = np.linspace(-4.0, 4.0, 81)
    x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [-1e300, 1e300, 0.0, -0.0]])
    n, T = len(x), 1
    hist = np.zeros((T, len(edges) + 1), np.int64)
    z = np.zeros((0, n))
    kernels.record_quarter(0, 1, np.zeros(n, bool), np.zeros(n, np.intp), x, edges, z, z, np.zeros(0, np.intp),
                           np.zeros((0, n), bool), np.zeros(T, np.int64), np.zeros((T, 1), np.int64),
                           np.zeros(T, np.int64), hist, np.zeros((T, 0), np.int64), np.zeros((T, 0), np.int64),
                           z.copy(), np.zeros((0, n), np.int16), np.zeros((0, n), np.int16), np.zeros((0, n), np.uint64), True)
    assert np.array_equal(hist[0], np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1))


@pytest.mark.parametrize("scale", [1e-9, 0.5, 3.0, 1e3, 2.0**17.9, 2.0**19])
def test_fixed_sum_equals_the_rounded_integer_sum(scale):
    """The bit-pattern rounding equals rint, ties to even included, and large rows fall back."""
    rng = np.random.default_rng(0)
    for n in (1, 7, 10_000):
        x = rng.normal(0, scale, n)
        x[: n // 3] = np.round(x[: n // 3] * 2**33) / 2**33  # exact halves of 2**-32: ties
        expected = int(np.rint(x * 2**32).astype(np.int64).sum())
        assert kernels.fixed_sum(x) == expected


def test_record_quarter_reports_non_finite_values_and_skips_the_record_when_asked():
    edges = np.linspace(-4.0, 4.0, 81)
    n, T = 50, 2
    state = np.random.default_rng(1).normal(size=(3, n))
    shocks = np.ones((1, n), bool)

    def record(state, gap, full):
        z = np.zeros((0, n))
        first, count, bits = np.full((1, n), -1, np.int16), np.zeros((1, n), np.int16), np.zeros((1, n), np.uint64)
        ok = kernels.record_quarter(0, 1, np.zeros(n, bool), np.zeros(n, np.intp), gap, edges, z, state,
                                    np.arange(2, dtype=np.intp), shocks, np.zeros(T, np.int64),
                                    np.zeros((T, 1), np.int64), np.zeros(T, np.int64),
                                    np.zeros((T, len(edges) + 1), np.int64), np.zeros((T, 0), np.int64),
                                    np.zeros((T, 2), np.int64), z.copy(), first, count, bits, full)
        return ok, first, count, bits

    gap = np.zeros(n)
    ok, first, count, bits = record(state, gap, True)
    assert ok and (first == 1).all() and (count == 1).all() and (bits == 1).all()
    ok, first, count, bits = record(state, gap, False)
    assert ok and (first == -1).all() and (count == 0).all() and (bits == 0).all()
    for bad in (np.nan, np.inf, -np.inf):
        s = state.copy()
        s[1, 7] = bad
        assert not record(s, gap, False)[0]
        g = gap.copy()
        g[3] = bad
        assert not record(state, g, True)[0]
    s = state.copy()
    s[2, 0] = np.nan  # row 2 is not recorded (var_rows 0, 1): not checked
    assert record(s, gap, False)[0]
