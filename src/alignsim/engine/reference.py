"""The engine's hot path in plain numpy: the reference the compiled kernels must equal bit for bit.

``numpy_engine()`` runs the model with the numpy versions of its compiled steps (a mechanism
block's quarter, the focal state's decision, the per-quarter totals, the strategic powers'
choice and the soft maximum over outside options). The compiled
path is the default; this one is for checking it (tests/test_kernels.py) and for timing it
(benchmarks/bench_scale.py prints both).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from alignsim.engine import ensemble
from alignsim.engine.agents import FocalAgent
from alignsim.engine.alternatives import Alternatives
from alignsim.engine.choice import Strategy
from alignsim.engine.mechanisms import KindBlock

Array = np.ndarray


def record_quarter_numpy(t, step, member, draw_local, gap, edges, contributions, state, var_rows, shocks,
                         member_total, member_by_draw, gap_total, gap_hist, contribution_totals,
                         variable_totals, contrib_sum, shock_first, shock_count, shock_bits, full) -> bool:
    """``kernels.record_quarter`` in numpy (same arguments, same in-place results and return)."""
    with np.errstate(invalid="ignore"):  # a non-finite value (reported by the caller) rounds to garbage
        return _record_quarter_numpy(t, step, member, draw_local, gap, edges, contributions, state, var_rows,
                                     shocks, member_total, member_by_draw, gap_total, gap_hist,
                                     contribution_totals, variable_totals, contrib_sum, shock_first,
                                     shock_count, shock_bits, full)


def _record_quarter_numpy(t, step, member, draw_local, gap, edges, contributions, state, var_rows, shocks,
                          member_total, member_by_draw, gap_total, gap_hist, contribution_totals,
                          variable_totals, contrib_sum, shock_first, shock_count, shock_bits, full) -> bool:
    fixed = ensemble._fixed
    member_total[t] = int(member.sum())
    member_by_draw[t] = np.bincount(draw_local, weights=member.astype(np.float64), minlength=member_by_draw.shape[1])
    gap_total[t] = int(fixed(gap).sum())
    gap_hist[t] = np.bincount(np.searchsorted(edges, gap, side="right"), minlength=gap_hist.shape[1])
    if len(contributions):
        contribution_totals[t] = fixed(contributions).sum(axis=1)
        if full:
            contrib_sum += contributions
    if len(var_rows):
        variable_totals[t] = fixed(state[var_rows]).sum(axis=1)
    finite = bool(np.isfinite(gap).all() and np.isfinite(state[var_rows]).all())
    if not full:
        return finite
    for k in range(len(shocks)):
        f = shocks[k]
        shock_first[k][(shock_first[k] < 0) & f] = step
        shock_count[k] += f
        if step <= ensemble.ShockLog.BITS:
            shock_bits[k] |= f.astype(np.uint64) << np.uint64(step - 1)
    return finite


@contextmanager
def numpy_engine() -> Iterator[None]:
    """Within the block, models advance, decide and record with the numpy reference code."""
    saved = KindBlock.advance, FocalAgent.decide, ensemble.record_quarter
    KindBlock.advance, FocalAgent.decide = KindBlock.advance_numpy, FocalAgent.decide_numpy
    ensemble.record_quarter = record_quarter_numpy
    with numpy_choice():
        try:
            yield
        finally:
            KindBlock.advance, FocalAgent.decide, ensemble.record_quarter = saved


@contextmanager
def numpy_choice() -> Iterator[None]:
    """Within the block, strategic powers choose and outside options combine in numpy."""
    saved = Strategy.choose, Alternatives.combine
    Strategy.choose, Alternatives.combine = Strategy.choose_numpy, Alternatives.combine_numpy
    try:
        yield
    finally:
        Strategy.choose, Alternatives.combine = saved
