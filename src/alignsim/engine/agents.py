"""Mesa agents holding their state as arrays over the replicate dimension.

A ``PowerAgent`` owns its policy variables; the ``FocalAgent`` owns the drivers, the
non-utility states, the barrier, membership and the decision. Each array has shape
(replicates,), so one agent step advances a whole batch; a batch of one is one trajectory.
An agent's variables are rows of the model's state matrix, advanced one ``KindBlock`` (all its
variables of one mechanism kind) at a time.
"""

from __future__ import annotations

import mesa
import numpy as np

from alignsim.engine.kernels import decide as kernel_decide
from alignsim.engine.kernels import weighted_rows
from alignsim.engine.mechanisms import CompiledVariable, KindBlock

Array = np.ndarray


class StateAgent(mesa.Agent):
    """An actor whose state is a set of compiled variables, grouped in blocks by kind."""

    def __init__(self, model: mesa.Model, actor_id: str, blocks: list[KindBlock]) -> None:
        super().__init__(model)
        self.actor_id = actor_id
        self.blocks = blocks
        self.variables: list[CompiledVariable] = [v for b in blocks for v in b.variables]

    def propose(self, state: Array) -> list[tuple[KindBlock, Array]]:
        """Each block's values next quarter, from ``state`` (the phase's snapshot), to be committed
        at once: a block planned in place writes its own rows of it, read by no block after it
        (``KindBlock.plan_in_place``), and its value is that view."""
        model = self.model
        return [(b, b.advance(state, model.shock_matrix, model.uniform_rows, model.normal_rows, in_place=True))
                for b in self.blocks]

    def values(self) -> dict[str, Array]:
        return {v.ref: v.value for v in self.variables}


class PowerAgent(StateAgent):
    """A power (including the bloc's patron): sets its policies from last quarter's observables.

    ``ruled``: the blocks its rules advance. Strategic powers (``choice.Strategy``) ``hold`` the
    rows they choose: a block all of whose rows are chosen is left out, since the choice
    overwrites every value its rule would propose.
    """

    def __init__(self, model: mesa.Model, actor_id: str, blocks: list[KindBlock]) -> None:
        super().__init__(model, actor_id, blocks)
        self.ruled = list(blocks)

    def hold(self, rows: set[int]) -> None:
        """Leave out the blocks whose state rows are all in ``rows`` (the chosen policies)."""
        self.ruled = [b for b in self.blocks if not rows.issuperset(range(b.start, b.stop))]

    def propose(self, state: Array) -> list[tuple[KindBlock, Array]]:
        """Each ruled block's values next quarter, from ``state`` (as ``StateAgent.propose``)."""
        model = self.model
        return [(b, b.advance(state, model.shock_matrix, model.uniform_rows, model.normal_rows, in_place=True))
                for b in self.ruled]


OUT, MEMBER, SUSPENDED = 0, 1, 2
STATUS_CODES = {"out": OUT, "member": MEMBER, "suspended": SUSPENDED}


def _sigmoid(logit: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-logit))


class FocalAgent(StateAgent):
    """The focal state: drivers, states and barrier; decides on membership each quarter.

    Membership has three levels, ``status`` 0 out, 1 member, 2 suspended. Each quarter one
    uniform ``u`` per replicate decides (with ``p`` the transition probabilities, ``s`` the
    scheduled decision point's shifts, zero outside one):

    - out: join (-> member) if u < sigmoid(a_in + dU + s_join);
    - member: leave (-> out) if u < p_leave = sigmoid(a_out - dU + s_leave), else suspend if
      u < p_leave + (1 - p_leave) sigmoid(a_susp - dU);
    - suspended: exit (-> out) if u < p_exit = sigmoid(a_sexit - dU + s_leave), else resume
      (-> member) if u < p_exit + (1 - p_exit) sigmoid(a_resume + dU).

    A transition without an intercept has probability 0: then a member decides exactly as in the
    two-level model (same u, same threshold).

    Attributes (all shape (replicates,)):
        status: int8 status code; ``member`` is ``status == 1``.
        first_entry / first_exit / first_suspension: int, step of the first out -> member,
            (member or suspended) -> out, member -> suspended; -1 if none yet.
        switches: int, number of status changes.
        gap: float, the utility gap dU of the last decision.
    """

    alternatives = None  # an ``alternatives.Alternatives`` when the scenario has outside options

    def __init__(self, model: mesa.Model, actor_id: str, blocks: list[KindBlock],
                 drivers: list[tuple[CompiledVariable, Array]], barrier: CompiledVariable,
                 status: Array, intercepts: dict[str, Array | None]) -> None:
        super().__init__(model, actor_id, blocks)
        self.drivers = drivers  # (variable, signed weight)
        self._driver_rows = np.array([model.row_of[v.ref] for v, _ in drivers], dtype=np.intp)
        self._weights = np.stack([w for _, w in drivers]) if drivers else np.empty((0, status.shape[0]))
        self.barrier = barrier
        self.status = status.astype(np.int8)
        self.member = self.status == MEMBER
        self.join_intercept = intercepts["join"]
        self.leave_intercept = intercepts["leave"]
        self.suspend_intercept = intercepts.get("suspend")
        self.resume_intercept = intercepts.get("resume")
        self.suspended_exit_intercept = intercepts.get("suspended_exit")
        n = status.shape[0]
        self.best_alternative = np.zeros(status.shape[0])
        self.first_entry = np.full(n, -1, dtype=np.int32)
        self.first_exit = np.full(n, -1, dtype=np.int32)
        self.first_suspension = np.full(n, -1, dtype=np.int32)
        self.switches = np.zeros(n, dtype=np.int32)
        optional = [intercepts.get(k) for k in ("suspend", "resume", "suspended_exit")]
        self._optional_intercepts = (*(np.zeros(n) if a is None else a for a in optional),
                                     np.array([a is not None for a in optional], dtype=np.int64))
        self._no_shift = np.zeros(n)  # a decision point's logit shifts outside one
        self.contributions = self.current_contributions()
        self.pull = self.contributions.sum(axis=0)
        self.gap = self.pull - barrier.value

    def current_contributions(self) -> Array:
        """Signed weight x value per driver, shape (drivers, replicates)."""
        out = np.empty(self._weights.shape)
        weighted_rows(self.model.state_matrix, self._driver_rows, self._weights, out)
        if self.alternatives is not None:
            self.best_alternative = self.alternatives.combine(out)
        return out

    def decide(self, join_shift: Array | float = 0.0, leave_shift: Array | float = 0.0) -> None:
        """One quarter's transitions (see the class docstring); shifts from a decision point.

        The compiled ``kernels.decide``; ``decide_numpy`` is the same in numpy (the reference).
        """
        model = self.model
        weigh = self.alternatives is None  # then the kernel weighs the drivers in its own pass
        if weigh:
            self.contributions = np.empty(self._weights.shape)
        else:  # weighed, then the outside options' soft maximum
            self.contributions = self.current_contributions()
        n = self.status.shape[0]
        shifts = [self._no_shift if isinstance(x, float) and x == 0.0
                  else np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)) for x in (join_shift, leave_shift)]
        self.pull, self.gap, new = np.empty(n), np.empty(n), np.empty(n, dtype=np.int8)
        self.first_entry, self.first_exit = self.first_entry.copy(), self.first_exit.copy()
        self.first_suspension = self.first_suspension.copy()
        kernel_decide(model.state_matrix, self._driver_rows, self._weights, weigh, self.contributions,
                      self.barrier.value, model.uniform("decision"), self.join_intercept,
                      self.leave_intercept, *self._optional_intercepts, *shifts, model.steps, self.status,
                      self.pull, self.gap, new, self.first_entry, self.first_exit, self.first_suspension,
                      self.switches)
        self.status = new
        self.member = new == MEMBER

    def decide_numpy(self, join_shift: Array | float = 0.0, leave_shift: Array | float = 0.0) -> None:
        """``decide`` in numpy array operations (the reference the compiled kernel must equal)."""
        model = self.model
        values = model.state_matrix[self._driver_rows]  # (drivers, replicates), a gathered copy
        self.contributions = np.multiply(self._weights, values, out=values)
        if self.alternatives is not None:
            self.best_alternative = self.alternatives.combine(self.contributions)
        self.pull = self.contributions.sum(axis=0)
        self.gap = gap = self.pull - self.barrier.value
        status = self.status
        member = status == MEMBER
        suspended = status == SUSPENDED
        out = status == OUT
        u = model.uniform("decision")
        first = np.where(member, self.leave_intercept - gap + leave_shift, self.join_intercept + gap + join_shift)
        if self.suspended_exit_intercept is not None:
            first = np.where(suspended, self.suspended_exit_intercept - gap + leave_shift, first)
        elif suspended.any():
            first = np.where(suspended, -np.inf, first)
        p_first = _sigmoid(first)
        move_first = u < p_first
        second = np.zeros(status.shape, dtype=bool)
        if self.suspend_intercept is not None:
            p = p_first + (1.0 - p_first) * _sigmoid(self.suspend_intercept - gap)
            second |= member & ~move_first & (u < p)
        if self.resume_intercept is not None:
            p = p_first + (1.0 - p_first) * _sigmoid(self.resume_intercept + gap)
            second |= suspended & ~move_first & (u < p)
        joins = move_first & out
        exits = move_first & ~out
        suspends = second & member
        resumes = second & suspended
        step = model.steps
        self.first_entry = np.where(joins & (self.first_entry < 0), step, self.first_entry)
        self.first_exit = np.where(exits & (self.first_exit < 0), step, self.first_exit)
        self.first_suspension = np.where(suspends & (self.first_suspension < 0), step, self.first_suspension)
        self.switches += move_first | second
        new = np.where(joins | resumes, MEMBER, status)
        new = np.where(exits, OUT, new)
        new = np.where(suspends, SUSPENDED, new)
        self.status = new.astype(np.int8)
        self.member = self.status == MEMBER
