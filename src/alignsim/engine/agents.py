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
        """Each block's values next quarter, from ``state`` (the phase's snapshot; not written)."""
        model = self.model
        return [(b, b.advance(state, model.shock_matrix, model.uniform_rows, model.normal_rows))
                for b in self.blocks]

    def values(self) -> dict[str, Array]:
        return {v.ref: v.value for v in self.variables}


class PowerAgent(StateAgent):
    """A power (including the bloc's patron): sets its policies from last quarter's observables."""


class FocalAgent(StateAgent):
    """The focal state: drivers, states and barrier; decides on membership each quarter.

    Attributes (all shape (replicates,)):
        member: bool, current membership.
        first_entry / first_exit: int, step of the first join / leave, -1 if none yet.
        switches: int, number of membership changes.
        gap: float, the utility gap dU of the last decision.
    """

    def __init__(self, model: mesa.Model, actor_id: str, blocks: list[KindBlock],
                 drivers: list[tuple[CompiledVariable, Array]], barrier: CompiledVariable,
                 member: Array, join_intercept: Array, leave_intercept: Array) -> None:
        super().__init__(model, actor_id, blocks)
        self.drivers = drivers  # (variable, signed weight)
        self._driver_rows = np.array([model.row_of[v.ref] for v, _ in drivers], dtype=np.intp)
        self._weights = np.stack([w for _, w in drivers]) if drivers else np.empty((0, member.shape[0]))
        self.barrier = barrier
        self.member = member.copy()
        self.join_intercept = join_intercept
        self.leave_intercept = leave_intercept
        n = member.shape[0]
        self.first_entry = np.full(n, -1, dtype=np.int32)
        self.first_exit = np.full(n, -1, dtype=np.int32)
        self.switches = np.zeros(n, dtype=np.int32)
        self.contributions = self.current_contributions()
        self.pull = self.contributions.sum(axis=0)
        self.gap = self.pull - barrier.value

    def current_contributions(self) -> Array:
        """Signed weight x value per driver, shape (drivers, replicates)."""
        values = self.model.state_matrix[self._driver_rows]  # (drivers, replicates), a gathered copy
        return np.multiply(self._weights, values, out=values)

    def decide(self) -> None:
        """Join with probability sigmoid(a_in + dU) if outside, leave with sigmoid(a_out - dU) if in."""
        model = self.model
        self.contributions = self.current_contributions()
        self.pull = self.contributions.sum(axis=0)
        self.gap = self.pull - self.barrier.value
        logit = np.where(self.member, self.leave_intercept - self.gap, self.join_intercept + self.gap)
        switch = model.uniform("decision") < 1.0 / (1.0 + np.exp(-logit))
        joins = switch & ~self.member
        leaves = switch & self.member
        step = model.steps
        self.first_entry = np.where(joins & (self.first_entry < 0), step, self.first_entry)
        self.first_exit = np.where(leaves & (self.first_exit < 0), step, self.first_exit)
        self.switches += switch
        self.member = self.member ^ switch
