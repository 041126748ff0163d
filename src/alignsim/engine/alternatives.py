"""The focal state's outside options as alternatives: a soft maximum over the partners' offers.

Each partner ``j`` offers ``v_j = -sum_{d in j} c_d``, the (non-negative) pull away from the bloc
of its listed drivers (``c_d = -weight_d * x_d`` for an ``away`` driver). The focal state weighs
its best alternative, not the sum of all of them:

    best = (1/k) log sum_j exp(k v_j) - (1/k) log J

a log-sum-exp soft maximum with sharpness ``k`` (per logit unit): increasing in every offer (a
better offer never lowers it), equal to ``v`` when all J offers equal ``v``, and between
mean_j v_j and max_j v_j (k -> infinity gives the max). For the contribution tables, the listed
drivers' contributions are scaled by ``best / sum_j v_j`` so they still add up to the pull.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


class Alternatives:
    """Soft maximum over partners' offers, applied in place to a (drivers, replicates) array.

    Args:
        groups: per partner, the row indices of its drivers in the contributions array.
        sharpness: (replicates,) the soft maximum's sharpness k (> 0).
    """

    def __init__(self, groups: list[list[int]], sharpness: Array) -> None:
        self.groups = groups
        self.sharpness = sharpness
        self.rows = [i for g in groups for i in g]

    def combine(self, contributions: Array) -> Array:
        """Rescale the listed drivers' rows in place; return the best alternative (replicates,)."""
        offers = np.stack([-contributions[g].sum(axis=0) for g in self.groups])  # (J, n)
        k = self.sharpness
        top = offers.max(axis=0)
        best = top + np.log(np.exp(k * (offers - top)).sum(axis=0)) / k - np.log(len(self.groups)) / k
        total = offers.sum(axis=0)
        scale = np.divide(best, total, out=np.zeros_like(best), where=total > 0)
        contributions[self.rows] *= scale
        return best
