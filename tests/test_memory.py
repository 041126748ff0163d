"""A finished batch is freed at once (by reference counting), not when the cyclic collector runs."""

from __future__ import annotations

import gc

from alignsim import load_scenario
from alignsim.engine.ensemble import simulate
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws

from conftest import CONFIG


def _live_models() -> int:
    return sum(isinstance(o, AlignmentModel) for o in gc.get_objects())


def test_batches_are_freed_without_the_cyclic_collector():
    for config in ("base.yaml", "base-strategic.yaml"):
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
