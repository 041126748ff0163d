"""The baseline a competent Mesa user would write: scalar agent state, one replicate per Model.

Same scenario, same mechanisms (``mechanisms.core_update`` on Python floats), same parameters
(replicate ``i`` takes outer draw ``i % n_draws`` of ``priors.sample_draws``), same phase order;
but every agent holds floats, each ``ScalarModel`` is one trajectory, random numbers come from
the Model's own ``rng`` seeded per replicate, and ensembles go through ``mesa.batch_run``.
It exists to check the vectorised engine (its probabilities must agree within Monte Carlo error)
and to time against it (``benchmarks/bench_scale.py``); it is not used for forecasts.
"""

from __future__ import annotations

import math

import mesa
import numpy as np
import pandas as pd

from alignsim.engine.mechanisms import core_update
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.scenario import Scenario, variable_refs
from alignsim.scenario.timeaxis import Quarter


class ScalarVariable:
    """One state variable of one replicate; every parameter is a float."""

    def __init__(self, ref: str, var, row: dict[str, float]) -> None:
        self.ref = ref
        self.kind = var.kind
        self.params = {k: row[f"{ref}.params.{k}"] for k in var.params}
        self.inputs = [(k, row[f"{ref}.inputs.{k}"]) for k in var.inputs]
        self.jumps = [(k, row[f"{ref}.shocks.{k}"]) for k in var.shocks]
        self.resets = [(k, row[f"{ref}.resets.{k}"]) for k in var.resets]
        self.redraw_on = list(var.redraw_on)
        self.noise = row[f"{ref}.noise"] if var.noise is not None else None
        self.low, self.high = float(var.bounds[0]), float(var.bounds[1])
        self.reset = var.reset
        self.value = min(max(row[f"{ref}.initial"], self.low), self.high)

    def advance(self, snapshot: dict[str, float], shocks: dict[str, bool], rng: np.random.Generator) -> float:
        """One quarter, as ``mechanisms.advance`` but for one replicate."""
        drive = 0.0
        for ref, coef in self.inputs:
            drive += coef * snapshot[ref]
        fired = u = None
        if self.kind == "redraw_on_shock":
            fired = any(shocks[name] for name in self.redraw_on)
            u = rng.random()
        if self.kind == "product":
            new = math.prod(coef * snapshot[ref] for ref, coef in self.inputs)
        else:
            new = float(core_update(self.kind, self.value, self.params, drive, fired, u))
        for name, jump in self.jumps:
            if shocks[name]:
                new += jump
        if self.noise is not None:
            new += self.noise * rng.standard_normal()
        for name, level in self.resets:
            if shocks[name]:
                new = max(new, level) if self.reset == "max" else level
        return min(max(new, self.low), self.high)


class ScalarActor(mesa.Agent):
    """An actor holding scalar variables; ``update`` advances them from one snapshot."""

    def __init__(self, model: "ScalarModel", variables: list[ScalarVariable]) -> None:
        super().__init__(model)
        self.variables = variables

    def update(self, snapshot: dict[str, float]) -> None:
        new = [v.advance(snapshot, self.model.shocks, self.model.rng) for v in self.variables]
        for v, x in zip(self.variables, new):
            v.value = x


class ScalarPower(ScalarActor):
    """A power setting its policies."""


class ScalarFocal(ScalarActor):
    """The focal state: drivers, barrier, membership and the join/leave decision (floats)."""

    def __init__(self, model: "ScalarModel", variables: list[ScalarVariable],
                 drivers: list[tuple[ScalarVariable, float]], barrier: ScalarVariable,
                 member: bool, join_intercept: float, leave_intercept: float) -> None:
        super().__init__(model, variables)
        self.drivers, self.barrier = drivers, barrier
        self.member = member
        self.join_intercept, self.leave_intercept = join_intercept, leave_intercept
        self.first_entry = self.first_exit = -1
        self.switches = 0
        self.pull = sum(w * v.value for v, w in drivers)
        self.gap = self.pull - barrier.value

    def decide(self) -> None:
        self.pull = sum(w * v.value for v, w in self.drivers)
        self.gap = self.pull - self.barrier.value
        logit = (self.leave_intercept - self.gap) if self.member else (self.join_intercept + self.gap)
        if self.model.rng.random() < 1.0 / (1.0 + math.exp(-logit)):
            step = self.model.steps
            if self.member and self.first_exit < 0:
                self.first_exit = step
            if not self.member and self.first_entry < 0:
                self.first_entry = step
            self.switches += 1
            self.member = not self.member


class ScalarModel(mesa.Model):
    """One replicate of a scenario with scalar state.

    Args:
        scenario: the validated scenario.
        draws: the outer draw table (``priors.sample_draws``); replicate ``replicate`` uses row
            ``replicate % len(draws)``.
        replicate: the replicate number (also seeds this Model's ``rng`` with ``seed``).
        seed: the run's master seed.
    """

    def __init__(self, scenario: Scenario, draws: pd.DataFrame, replicate: int, seed: int) -> None:
        super().__init__(rng=np.random.default_rng([int(seed), int(replicate)]))
        self.scenario = scenario
        row = draws.iloc[int(replicate) % len(draws)].to_dict()
        self.axis = scenario.axis
        self.n_steps = self.axis.n_steps
        refs = variable_refs(scenario)
        comp = {ref: ScalarVariable(ref, var, row) for ref, var in refs.items()}
        for actor, variables in scenario.policies.items():
            ScalarPower(self, [comp[f"policies.{actor}.{k}"] for k in variables])
        drivers = [(comp[f"drivers.{k}"], scenario.signed_weight(k, row)) for k in scenario.drivers]
        self.focal = ScalarFocal(self, [comp[r] for r in refs if not r.startswith("policies.")], drivers,
                                 comp["barrier"], bool(scenario.member_at_start.value),
                                 row["decision.join_intercept"], row["decision.leave_intercept"])
        self.powers = list(self.agents_by_type.get(ScalarPower, []))
        self.all_variables = list(comp.values())
        self.shock_prob: dict[str, object] = {}
        for name, shock in scenario.shocks.items():
            if shock.rate is not None:
                self.shock_prob[name] = row[f"shocks.{name}.rate"]
            else:
                p = row[f"shocks.{name}.probability"]
                self.shock_prob[name] = {self.axis.step_of(Quarter.parse(q)): p for q in shock.schedule}
        self.scripted: dict[int, set[str]] = {}
        for item in scenario.scripted:
            self.scripted.setdefault(self.axis.step_of(Quarter.parse(item.date)), set()).add(item.shock)
        self.shocks: dict[str, bool] = {}
        self.datacollector = mesa.DataCollector(model_reporters={
            "first_entry_step": lambda m: m.focal.first_entry,
            "first_exit_step": lambda m: m.focal.first_exit,
            "member": lambda m: m.focal.member})
        self.datacollector.collect(self)

    def snapshot(self) -> dict[str, float]:
        snap = {v.ref: v.value for v in self.all_variables}
        snap["member"] = float(self.focal.member)
        snap["tilt"] = math.tanh(self.focal.pull)
        return snap

    def draw_shocks(self) -> None:
        scripted = self.scripted.get(self.steps, set())
        for name, prob in self.shock_prob.items():
            p = prob.get(self.steps) if isinstance(prob, dict) else prob
            self.shocks[name] = name in scripted or (p is not None and self.rng.random() < p)

    def step(self) -> None:
        for phase in self.scenario.order:
            if phase == "shocks":
                self.draw_shocks()
            elif phase == "policies":
                snap = self.snapshot()
                for power in self.powers:
                    power.update(snap)
            elif phase == "drivers":
                self.focal.update(self.snapshot())
            elif phase == "decision":
                self.focal.decide()
        self.datacollector.collect(self)
        if self.steps >= self.n_steps:
            self.running = False


def batch_run_outcomes(scenario: Scenario, replicates: int, seed: int, draws: int | None = None,
                       start: int = 0) -> pd.DataFrame:
    """Replicates ``start..start+replicates-1`` through ``mesa.batch_run`` (one process).

    Returns one row per replicate: ``replicate``, ``first_entry_step``, ``first_exit_step``,
    ``member`` (at the horizon). Parameters come from the same draw table as the engine's run
    with this seed and number of draws (default the scenario's ``monte_carlo.draws``).
    """
    n_draws = scenario.monte_carlo.draws if draws is None else int(draws)
    table = sample_draws(scenario, seed, n_draws)
    rows = mesa.batch_run(ScalarModel, {"scenario": [scenario], "draws": [table],
                                        "replicate": range(start, start + replicates), "seed": int(seed)},
                          number_processes=1, iterations=1, data_collection_period=-1,
                          max_steps=scenario.axis.n_steps, display_progress=False)
    out = pd.DataFrame(rows)[["replicate", "first_entry_step", "first_exit_step", "member"]]
    return out.sort_values("replicate", ignore_index=True)


def check_parameters(scenario: Scenario, seed: int, replicate: int, draws: int | None = None) -> dict[str, float]:
    """The parameters the engine gives ``replicate`` (to compare with a ``ScalarModel``'s row)."""
    n_draws = scenario.monte_carlo.draws if draws is None else int(draws)
    table = sample_draws(scenario, seed, n_draws)
    return replicate_params(table, replicate + 1, replicate, replicate + 1).iloc[0].to_dict()
