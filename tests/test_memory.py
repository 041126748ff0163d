"""A finished batch is freed at once (by reference counting), not when the cyclic collector runs."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from alignsim import load_scenario
from alignsim.engine.ensemble import simulate
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws

from conftest import CONFIG


def _live_models() -> int:
    return sum(isinstance(o, AlignmentModel) for o in gc.get_objects())


@pytest.mark.slow
def test_batches_are_freed_without_the_cyclic_collector():
    for config in ("base.yaml", "base-rule.yaml"):
        s = load_scenario(CONFIG / config)
        draws = sample_draws(s, 1, 20)
        gc.collect()
        before = _live_models()
        gc.disable()
        try:
            for start in range(0, 300, 100):
                simulate(s, replicate_params(draws, 300, start, start + 100), 1)
            alive = _live_models() - before
        finally:
            gc.enable()
        assert alive == 0, f"{config}: {alive} batch models still alive (held by reference cycles)"


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN (summaries hold NaN where a figure is undefined)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    return a == b


@pytest.mark.slow  # over 1 s since base runs strategic powers (fast tier: 30 s)
def test_counts_only_give_the_same_summary_as_the_outcome_table():
    """keep_outcomes=False keeps per-draw event counts only; every headline number is unchanged,
    for a first entry with a conditional window, a first exit and a suspension backtest."""
    from alignsim import run_ensemble
    from alignsim.engine.estimates import conditional_by_draw, summarise

    for config in ("base.yaml", "armenia.yaml", "backtests/uzbekistan-2011Q3.yaml"):
        s = load_scenario(CONFIG / config)
        full = run_ensemble(s, replicates=3000, seed=3, draws=70, batch_size=1100, keep_table=False)
        compact = run_ensemble(s, replicates=3000, seed=3, draws=70, batch_size=700, keep_table=False,
                               keep_outcomes=False)
        assert compact.outcomes is None and compact.counts.by_step.shape == (70, s.axis.n_steps + 1)
        assert full.counts is None and compact.replicates == full.replicates == 3000
        assert _same(summarise(compact), summarise(full)), config
        a, b = conditional_by_draw(compact), conditional_by_draw(full)
        assert (a is None and b is None) or a.equals(b), config


@pytest.mark.slow
def test_counts_only_through_a_pool_equal_one_process():
    """Workers asked for outcome columns only give the same counts and totals as one process."""
    from alignsim import run_ensemble
    from alignsim.engine.parallel import LocalPool

    s = load_scenario(CONFIG / "base.yaml")
    one = run_ensemble(s, 4000, 2, draws=50, batch_size=900, keep_table=False, keep_outcomes=False)
    with LocalPool(2) as pool:
        two = run_ensemble(s, 4000, 2, draws=50, batch_size=900, keep_table=False, keep_outcomes=False,
                           map_batches=pool.map_batches)
    assert np.array_equal(one.counts.by_step, two.counts.by_step) and np.array_equal(one.counts.draws, two.counts.draws)
    for name in vars(one.totals):
        assert np.array_equal(np.asarray(getattr(one.totals, name)), np.asarray(getattr(two.totals, name))), name
