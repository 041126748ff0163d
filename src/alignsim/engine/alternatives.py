"""The focal state's outside options as alternatives: a soft maximum over the partners' offers.

Each partner ``j`` offers ``v_j = -sum_{d in j} c_d``, the (non-negative) pull away from the bloc
of its listed drivers (``c_d = -weight_d * x_d`` for an ``away`` driver). The focal state weighs
its best alternative, not the sum of all of them:

    best = (1/k) log sum_j exp(k v_j) - (1/k) log J

a log-sum-exp soft maximum with sharpness ``k`` (per logit unit): increasing in every offer (a
better offer never lowers it), equal to ``v`` when all J offers equal ``v``, and between
mean_j v_j and max_j v_j (k -> infinity gives the max). For the contribution tables, the listed
drivers' contributions are scaled by ``best / sum_j v_j`` so they still add up to the pull.

``combine`` runs the compiled loops of ``choice_kernels`` around numpy's exp, sum and log;
``combine_numpy`` is the same in numpy array operations (the reference it must equal bit for bit).
"""

from __future__ import annotations

import numpy as np

from alignsim.engine.choice_kernels import offers as kernel_offers
from alignsim.engine.choice_kernels import rescale as kernel_rescale

Array = np.ndarray


class Alternatives:
    """Soft maximum over partners' offers, applied in place to a (drivers, replicates) array.

    Args:
        groups: per partner, the row indices of its drivers in the contributions array.
        sharpness: (replicates,) the soft maximum's sharpness k (> 0).
    """

    def __init__(self, groups: list[list[int]], sharpness: Array) -> None:
        self.groups = groups
        self.sharpness = np.ascontiguousarray(sharpness, dtype=np.float64)
        self.rows = [i for g in groups for i in g]
        self._flat = np.array(self.rows, dtype=np.intp)
        self._starts = np.cumsum([0] + [len(g) for g in groups]).astype(np.intp)
        self._unique = np.array(list(dict.fromkeys(self.rows)), dtype=np.intp)  # a row is scaled once
        self._log_j = np.log(len(groups))

    def combine(self, contributions: Array) -> Array:
        """Rescale the listed drivers' rows in place; return the best alternative (replicates,).

        ``contributions`` (drivers, replicates) float64, C-contiguous.
        """
        n = contributions.shape[1]
        arg, top, total, best = np.empty((len(self.groups), n)), np.empty(n), np.empty(n), np.empty(n)
        kernel_offers(contributions, self._flat, self._starts, self.sharpness, arg, top, total)
        np.exp(arg, out=arg)
        log_sum = arg.sum(axis=0)  # (J, n) summed over partners, as in combine_numpy
        np.log(log_sum, out=log_sum)
        kernel_rescale(top, log_sum, self.sharpness, self._log_j, total, contributions, self._unique, best)
        return best

    def combine_numpy(self, contributions: Array) -> Array:
        """``combine`` in numpy array operations."""
        offers = np.stack([-contributions[g].sum(axis=0) for g in self.groups])  # (J, n)
        k = self.sharpness
        top = offers.max(axis=0)
        best = top + np.log(np.exp(k * (offers - top)).sum(axis=0)) / k - np.log(len(self.groups)) / k
        total = offers.sum(axis=0)
        scale = np.divide(best, total, out=np.zeros_like(best), where=total > 0)
        contributions[self.rows] *= scale
        return best
