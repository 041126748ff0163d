"""One quarter of the strategic powers' choice with the linear look-ahead, on compiled loops.

``LinearChoicePlan`` packs a batch's constants once (the powers' terms as integer codes, their
weights, the look-ahead's responses, steps, costs and bounds as (rows, replicates) arrays) and
then runs each quarter as the kernels of ``choice_kernels`` with numpy's tanh and exp between
them. It gives the same choices, levels and counts, bit for bit, as
``choice.Strategy.choose_numpy`` (tests/test_choice_kernels.py).
"""

from __future__ import annotations

import numpy as np

from alignsim.engine import choice_kernels as ck

Array = np.ndarray


def _term_code(of: str, row_of: dict[str, int]) -> int:
    """An observable's code for the kernels: a state-matrix row, or one of ``ck.OBS_*``."""
    special = {"member": ck.OBS_MEMBER, "tilt": ck.OBS_TILT, "best_alternative": ck.OBS_BEST}
    return special[of] if of in special else row_of[of]


class LinearChoicePlan:
    """A batch's packed constants for ``choose`` (built after ``Strategy._prepare_linear``).

    Shapes (P powers, O chosen policies in ``strategy.chosen`` order, K utility terms, n
    replicates): ``power_opts`` / ``power_terms`` (P + 1,) offsets; ``term_kind`` / ``term_of`` /
    ``term_times`` (K,); ``weights`` (K, n); ``gains`` (rows, n) with the per-policy row
    indices ``fixed_row`` / ``pull_row`` / ``paths_row`` (O,) and ``gain_of`` / ``gain_times``
    (O, max terms of a power); ``step`` / ``curve`` (= cost * annuity) / ``ramp`` (O, n).
    """

    def __init__(self, strategy, tilt_edges: Array) -> None:
        model = strategy.model
        self.tilt_edges = tilt_edges
        row_of = model.row_of  # no reference to ``strategy`` is kept: no cycle, freed with it
        self.chosen = strategy.chosen
        powers = strategy.powers
        n, n_opt = model.n, len(self.chosen)
        self.owner = np.array([i for i, pw in enumerate(powers) for _ in pw.options], dtype=np.intp)
        self.power_opts = np.cumsum([0] + [len(pw.options) for pw in powers]).astype(np.intp)
        self.power_terms = np.cumsum([0] + [len(pw.terms) for pw in powers]).astype(np.intp)
        terms = [t for pw in powers for t in pw.terms]
        self.term_kind = np.array([ck.TERM_TILT if of == "tilt" else ck.TERM_MEMBER if of == "member"
                                   else ck.TERM_FIXED if times is None else ck.TERM_PRODUCT
                                   for of, times, _ in terms], dtype=np.intp)
        self.term_of = np.array([_term_code(of, row_of) for of, _, _ in terms], dtype=np.intp)
        self.term_times = np.array([row_of[times] if times else -1 for _, times, _ in terms], dtype=np.intp)
        self.weights = np.ascontiguousarray(np.stack([w for _, _, w in terms]) if terms else np.zeros((0, n)))
        self._pack_gains(strategy, powers)
        opts = self.chosen
        self.step = np.ascontiguousarray(np.stack([o.step for o in opts]))
        self.curve = np.ascontiguousarray(np.stack([o.cost * strategy.annuity for o in opts]))
        self.ramp = np.ascontiguousarray(np.stack([strategy._gains[o.ref]["_ramp"] for o in opts]))
        self.x_row = np.array([row_of[o.ref] for o in opts], dtype=np.intp)
        bounds = [strategy._vars[o.ref].bounds for o in opts]
        self.low = np.array([b[0] for b in bounds], dtype=np.float64)
        self.high = np.array([b[1] for b in bounds], dtype=np.float64)
        self.discounted = strategy.delta is not None
        self.delta = np.ascontiguousarray(strategy.delta if self.discounted else np.ones(n))
        self.disc0 = np.ascontiguousarray(strategy.disc[0])
        self.precision = np.ascontiguousarray(strategy.precision, dtype=np.float64)
        self.purposes = [f"choice:{o.ref}" for o in opts]
        P = len(powers)
        self._last = np.empty((n_opt, n))
        self._y, self._mz, self._logits = np.empty((P, n)), np.empty((P, n)), np.empty((2 * n_opt, n))
        # tanh of the shifted pull only for powers with a tilt term, exp(-z) only for those with a
        # membership term: the other rows are never read (they stay 0)
        self._T, self._E = np.zeros((P, n)), np.zeros((P, n))
        self.tilt_rows = [i for i, pw in enumerate(powers) if any(of == "tilt" for of, _, _ in pw.terms)]
        self.member_rows = [i for i, pw in enumerate(powers) if any(of == "member" for of, _, _ in pw.terms)]
        self.uses = np.zeros((P, 2), dtype=np.int8)
        self.uses[self.tilt_rows, 0], self.uses[self.member_rows, 1] = 1, 1

    def _pack_gains(self, strategy, powers) -> None:
        """Every response a policy's marginal utility reads, as rows of one (rows, n) array."""
        rows: list[Array] = []

        def add(a: Array) -> int:
            rows.append(a)
            return len(rows) - 1

        n_opt = len(self.chosen)
        kmax = max([len(pw.terms) for pw in powers] + [1])
        self.fixed_row, self.pull_row, self.paths_row = (np.zeros(n_opt, np.intp) for _ in range(3))
        self.gain_of, self.gain_times = np.full((n_opt, kmax), -1, np.intp), np.full((n_opt, kmax), -1, np.intp)
        o = 0
        for pw in powers:
            for opt in pw.options:
                g = strategy._gains[opt.ref]
                ofs = {of for of, _, _ in pw.terms}
                self.fixed_row[o] = add(strategy._fixed_marginal[opt.ref])
                if "tilt" in ofs:  # rows only for the terms the power has (the kernel reads no others)
                    self.pull_row[o] = add(g["pull"])
                if "member" in ofs:
                    self.paths_row[o] = len(rows)
                    for path in g["_member_paths"]:
                        add(path)
                for k, (of, times, _) in enumerate(pw.terms):
                    if times is not None:
                        self.gain_times[o, k] = add(g[times])
                        if of not in ("tilt", "member"):
                            self.gain_of[o, k] = add(g[of])
                o += 1
        self.gains = np.ascontiguousarray(np.stack(rows))

    def choose(self, s) -> tuple[Array, Array, Array]:
        """One quarter of ``s`` (the ``Strategy`` this plan was built for): (tilt (n,), choices
        a (O, n) int8, new levels (O, n)); updates its counts."""
        model, focal = s.model, s.model.focal
        tilt = np.tanh(focal.pull)  # the focal state's lean as the powers see it
        n_opt, P = len(self.chosen), len(self.power_opts) - 1
        share = np.zeros((P, n_opt), dtype=np.int8)  # power i's shift includes policy o's last choice
        for o, opt in enumerate(self.chosen):
            self._last[o] = opt.last
            if opt.last.any():
                share[:, o] = 1
                share[self.owner[o], o] = 0
        ck.shifted_logits(focal.pull, focal.gap, focal.member, focal.join_intercept, focal.leave_intercept,
                          self._last, self.step, self.ramp, share, self._y, self._mz)
        T, E = self._T, self._E
        for i in self.tilt_rows:
            np.tanh(self._y[i], out=T[i])
        for i in self.member_rows:
            np.exp(self._mz[i], out=E[i])
        ck.linear_logits(T, E, self.uses, self.disc0, self.delta, self.discounted, s.horizon, self.power_opts,
                         self.power_terms, self.term_kind, self.term_of, self.term_times, self.weights,
                         self.gains, self.fixed_row, self.pull_row, self.paths_row, self.gain_of,
                         self.gain_times, self.x_row, self.step, self.curve, self.low, self.high,
                         self.precision, model.state_matrix, focal.member, tilt, focal.best_alternative,
                         self._logits)
        np.exp(self._logits, out=self._logits)
        u = model.uniform_rows(self.purposes)
        a, level = np.empty((n_opt, model.n), dtype=np.int8), np.empty((n_opt, model.n))
        ck.pick(self._logits, u, model.state_matrix, self.x_row, self.step, self.low, self.high, tilt,
                self.tilt_edges, model.steps - 1, s.counts, s.tilt_counts, a, level)
        return tilt, a, level
