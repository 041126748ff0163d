"""Stopping by precision: add batches until the headline probability is known well enough.

The headline probability is P(event by the horizon) (``estimates.cumulative``, last quarter).
After each round the half-width ``(high - low) / 2`` of its Monte Carlo interval (Wilson's at
the cluster-robust effective sample size: replicates of one parameter draw are not independent)
is compared with the target ``H``; if it is wider, the next round grows the run to the size the
current estimate and design effect say is needed (rounded up to whole batches, at least one
more batch, at most ``max_replicates``).

Adding replicates to a fixed set of draws cannot shrink the part of the error that comes from
the draws themselves, so a precision run uses ``PRECISION_DRAWS`` outer draws (fewer if the cap
is smaller): early rounds have about one replicate per draw, and every round adds draws.
Replicate ``i`` always takes draw ``i % n_draws`` and its own random numbers, so earlier batches
are kept as they are (never re-run) and the final ensemble equals a plain run of the same size,
seed and number of draws, number for number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from alignsim.engine.ensemble import (EVENT_COLUMNS, OUTCOME_COLUMNS, BatchResult, EnsembleResult, record_columns,
                                          run_ensemble)
from alignsim.errors import ConfigError
from alignsim.engine.estimates import Z95
from alignsim.scenario import Scenario


@dataclass(frozen=True)
class PrecisionReport:
    """How a run stopped: target and achieved half-width, replicates used, per-round history."""

    target: float
    half_width: float
    estimate: float
    replicates: int
    max_replicates: int
    reached: bool
    rounds: list[tuple[int, float]] = field(default_factory=list)  # (replicates, half-width)

    def as_dict(self) -> dict:
        return {"target_half_width": self.target, "half_width": self.half_width,
                "estimate": self.estimate, "replicates_used": self.replicates,
                "max_replicates": self.max_replicates, "reached": self.reached,
                "rounds": [{"replicates": n, "half_width": h} for n, h in self.rounds]}


PRECISION_DRAWS = 50_000  # outer draws of a precision run (a 4 MB-per-column draw table)


def headline_half_width(result: EnsembleResult) -> tuple[float, float]:
    """(estimate, 95% half-width) of P(event by the horizon), as reported in ``summary.json``."""
    from alignsim.engine.estimates import cumulative

    last = cumulative(result).iloc[-1]
    return float(last["estimate"]), float(last["ci_high"] - last["ci_low"]) / 2.0


def design_effect(result: EnsembleResult) -> float:
    """Replicates per effective replicate of the headline probability (>= 1)."""
    from alignsim.engine.estimates import cumulative

    last = cumulative(result).iloc[-1]
    return max(1.0, result.replicates / max(float(last["n_eff"]), 1.0))


def needed_replicates(p: float, half_width: float, z: float = Z95) -> int:
    """Replicates for a normal-approximation 95% half-width ``half_width`` at probability ``p``."""
    p = min(max(p, 1e-4), 1 - 1e-4)  # avoid zero when no event has been seen yet
    return int(math.ceil(z * z * p * (1 - p) / half_width**2))


def _slim(res: BatchResult) -> BatchResult:
    """Keep only the outcome columns of a finished batch (the parameters are not needed again)."""
    cols = [c for c in OUTCOME_COLUMNS + EVENT_COLUMNS if c in res.replicates] + record_columns(res.replicates)
    return BatchResult(res.replicates[cols].copy(), res.totals)


def run_to_precision(scenario: Scenario, half_width: float, seed: int | None = None,
                     draws: int | None = None, batch_size: int | None = None,
                     max_replicates: int | None = None, map_batches: Callable | None = None,
                     on_batch: Callable[[int, BatchResult], None] | None = None
                     ) -> tuple[EnsembleResult, PrecisionReport]:
    """Grow an ensemble in whole batches until the headline half-width is at most ``half_width``.

    Args:
        half_width: target Wilson 95% half-width, in probability units (0 < H < 0.5).
        max_replicates: the cap (default ``max(10 x the scenario's replicates, 10^6)``),
            rounded down to whole batches (at least one).
        map_batches, on_batch: as in ``ensemble.run_ensemble``; ``on_batch`` sees each batch once.

    Returns:
        The final ensemble (without the per-replicate table) and a ``PrecisionReport``.
    """
    h = float(half_width)
    if not (0.0 < h < 0.5) or math.isnan(h):
        raise ConfigError("precision", half_width, "a half-width between 0 and 0.5, e.g. 0.01")
    mc = scenario.monte_carlo
    seed = mc.seed if seed is None else int(seed)
    batch = mc.batch_size if batch_size is None else int(batch_size)
    cap = max(10 * mc.replicates, 10**6) if max_replicates is None else int(max_replicates)
    n_draws = min(PRECISION_DRAWS, cap) if draws is None else int(draws)
    if cap < 1:
        raise ConfigError("max_replicates", max_replicates, "a whole number >= 1")
    cap_batches = max(1, cap // batch)
    n_batches = 1
    done: dict[int, BatchResult] = {}
    rounds: list[tuple[int, float]] = []

    def keep(k: int, res: BatchResult) -> None:
        if on_batch is not None:
            on_batch(k, res)
        done[k] = _slim(res)

    while True:
        replicates = n_batches * batch
        result = run_ensemble(scenario, replicates, seed, draws=n_draws, batch_size=batch, keep_table=False,
                              on_batch=keep, map_batches=map_batches, done=dict(done), cap_draws=False)
        p, hw = headline_half_width(result)
        rounds.append((replicates, hw))
        if hw <= h or n_batches >= cap_batches:
            break
        want = math.ceil(needed_replicates(p, h) * design_effect(result) / batch)
        n_batches = min(cap_batches, max(n_batches + 1, want))
    report = PrecisionReport(h, hw, p, replicates, cap_batches * batch, hw <= h, rounds)
    result.extra["precision"] = report.as_dict()
    return result, report
