"""A sampling design run row by row: the points of one design row share a block of replicates.

SALib's Sobol and Morris designs come in rows: Saltelli's row ``i`` is the points
``A_i, AB_i1, ..., AB_iG, B_i`` (``G + 2`` points), a Morris trajectory is ``G + 1`` points.
The estimators use *differences between points of one row* (``f(A_i) - f(AB_ij)``,
``f(x + delta) - f(x)``), so ``BlockModel`` gives every point of row ``i`` the same replicates
``i*R .. i*R + R - 1`` of the engine (common random numbers within a row: noise that does not
depend on the parameters cancels in the differences) and different rows different replicates
(the inner noise is independent between rows, so SALib's bootstrap over rows carries it into the
intervals instead of freezing one draw of it into every row).

Because replicate numbers are consecutive across rows, one engine call runs the same point
position of many rows at once (``rows x R`` replicates wide), so a small ``R`` costs no
per-point overhead. Results do not depend on how rows are chunked or on the worker count (the
engine gives the same numbers for any batch size).

Shapes: ``X`` (rows * k, D) quantiles in SALib's row order; ``hits`` (rows, k, R) bool;
the model's output ``y`` (rows * k,) is the share of a point's R replicates with the event.
"""

from __future__ import annotations

import numpy as np

from alignsim.analyses.sweep import PointRunner
from alignsim.engine.ensemble import simulate
from alignsim.engine.estimates import happened_by
from alignsim.engine.priors import params_from_quantiles
from alignsim.errors import ConfigError
from alignsim.scenario import Scenario


def _run_rows(scenario: Scenario, names: list[str], seed: int, replicates: int, by_step: int | None,
              chunk: tuple[int, np.ndarray]) -> np.ndarray:
    """(m, k, R) hits of design rows ``row0 .. row0 + m - 1`` (``chunk = (row0, U)``, U (m, k, D))."""
    row0, U = chunk
    m, k, _ = U.shape
    R = int(replicates)
    size = scenario.monte_carlo.batch_size
    out = np.empty((m, k, R), dtype=bool)
    index = np.arange(row0 * R, (row0 + m) * R)
    for j in range(k):
        params = params_from_quantiles(scenario, names, U[:, j, :])
        params = params.loc[params.index.repeat(R)]
        params["draw"] = np.repeat(np.arange(row0, row0 + m), R)
        params.index = index
        hits = [happened_by(scenario, simulate(scenario, params.iloc[a:a + size], seed).replicates, by_step)
                for a in range(0, len(params), size)]
        out[:, j, :] = np.concatenate(hits).reshape(m, R)
    return out


class BlockModel:
    """The scenario as ``f(X) -> P(event)`` for a design of rows of ``points_per_row`` points.

    Args:
        scenario: the scenario; ``names`` are the prior paths of X's columns (quantile space).
        runner: evaluates the chunks of rows (in its process pool with ``workers > 1``).
        seed: the engine's seed; replicate numbers come from the row (see the module doc).
        replicates: R, the replicates per point.
        points_per_row: k, the points of one design row (Saltelli ``G + 2``; Morris ``G + 1``).
    After a call, ``hits`` holds the (rows, k, R) bool outcomes (for the noise terms).
    """

    def __init__(self, scenario: Scenario, runner: PointRunner, names: list[str], seed: int, replicates: int,
                 points_per_row: int, by_step: int | None = None) -> None:
        if int(replicates) < 2:
            raise ConfigError("replicates", replicates, "at least 2 replicates per point")
        self.scenario, self.runner, self.names = scenario, runner, list(names)
        self.seed, self.replicates, self.k, self.by_step = int(seed), int(replicates), int(points_per_row), by_step
        self.hits: np.ndarray | None = None

    def rows_per_chunk(self, rows: int) -> int:
        """Rows per task: one engine call of at most about ``batch_size`` replicates per point
        position and, with several workers, at least two tasks per worker when there are rows
        enough (the chunking never changes the numbers)."""
        wide = -(-self.scenario.monte_carlo.batch_size // self.replicates)
        if self.runner.workers == 1:
            return wide
        return max(1, min(wide, -(-rows // (2 * self.runner.workers))))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.names) or len(X) % self.k:
            raise ValueError(f"X of shape (rows * {self.k}, {len(self.names)}) expected, got {X.shape}")
        U = X.reshape(-1, self.k, X.shape[1])
        step = self.rows_per_chunk(len(U))
        chunks = [(a, U[a:a + step]) for a in range(0, len(U), step)]
        parts = self.runner.map(_run_rows, (self.scenario, self.names, self.seed, self.replicates, self.by_step),
                                chunks)
        self.hits = np.concatenate(parts)
        return self.hits.mean(axis=2).reshape(-1)
