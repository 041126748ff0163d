"""The alignment model: one ``mesa.Model`` steps a batch of replicates through the quarters."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from alignsim.engine.agents import FocalAgent, PowerAgent
from alignsim.errors import RunError
from alignsim.engine.mechanisms import CompiledVariable
from alignsim.scenario import Scenario, Variable, variable_refs
from alignsim.engine.streams import normals, uniforms
from alignsim.scenario.timeaxis import Quarter

Array = np.ndarray


def compile_variable(ref: str, var: Variable, params: pd.DataFrame) -> CompiledVariable:
    """Resolve a variable's priors to the per-replicate columns of ``params``."""
    col = lambda name: params[name].to_numpy(dtype=np.float64)  # noqa: E731
    return CompiledVariable(
        ref=ref,
        kind=var.kind,
        params={k: col(f"{ref}.params.{k}") for k in var.params},
        inputs=[(k, col(f"{ref}.inputs.{k}")) for k in var.inputs],
        jumps=[(k, col(f"{ref}.shocks.{k}")) for k in var.shocks],
        resets=[(k, col(f"{ref}.resets.{k}")) for k in var.resets],
        redraw_on=list(var.redraw_on),
        noise=col(f"{ref}.noise") if var.noise is not None else None,
        bounds=(float(var.bounds[0]), float(var.bounds[1])),
        initial=col(f"{ref}.initial"),
    )


class AlignmentModel(mesa.Model):
    """A batch of replicates of one scenario.

    Args:
        scenario: the validated scenario.
        params: parameter matrix, one row per replicate, one column per prior path
            (``priors.replicate_params``); its index gives the global replicate numbers.
        seed: the run's master seed; every random number comes from ``streams`` keyed by
            (seed, purpose, step) at the replicate's global index.
    """

    def __init__(self, scenario: Scenario, params: pd.DataFrame, seed: int) -> None:
        super().__init__(rng=np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D657361])))
        self.scenario = scenario
        self.seed = int(seed)
        index = params.index.to_numpy()
        self.first_replicate = int(index[0])
        self.n = len(params)
        if not np.array_equal(index, np.arange(self.first_replicate, self.first_replicate + self.n)):
            raise RunError("params index: expected consecutive replicate numbers")
        self.draw = (params["draw"].to_numpy(dtype=np.int64) if "draw" in params
                     else np.zeros(self.n, dtype=np.int64))
        self.axis = scenario.axis
        self._prepare_shocks(params)
        refs = variable_refs(scenario)
        compiled = {ref: compile_variable(ref, var, params) for ref, var in refs.items()}
        for actor, variables in scenario.policies.items():
            PowerAgent(self, actor, [compiled[f"policies.{actor}.{k}"] for k in variables])
        focal_refs = [r for r in refs if not r.startswith("policies.")]
        drivers = [(compiled[f"drivers.{k}"], d.sign * params[f"drivers.{k}.weight"].to_numpy(dtype=np.float64))
                   for k, d in scenario.drivers.items()]
        member = np.full(self.n, bool(scenario.member_at_start.value))
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite parameters: see _check_finite
            self.focal = FocalAgent(self, scenario.focal, [compiled[r] for r in focal_refs], drivers,
                                    compiled["barrier"], member,
                                    params["decision.join_intercept"].to_numpy(dtype=np.float64),
                                    params["decision.leave_intercept"].to_numpy(dtype=np.float64))
        self.driver_names = list(scenario.drivers)
        self.shocks: dict[str, Array] = {}

    # ------------------------------------------------------------ randomness
    def uniform(self, purpose: str) -> Array:
        """Uniforms for this batch's replicates at the current step."""
        return uniforms(self.seed, purpose, self.steps, self.first_replicate, self.first_replicate + self.n)

    def normal(self, purpose: str) -> Array:
        return normals(self.seed, purpose, self.steps, self.first_replicate, self.first_replicate + self.n)

    def _prepare_shocks(self, params: pd.DataFrame) -> None:
        s = self.scenario
        self._shock_prob: dict[str, dict[int, Array] | Array] = {}
        for name, shock in s.shocks.items():
            if shock.rate is not None:
                self._shock_prob[name] = params[f"shocks.{name}.rate"].to_numpy(dtype=np.float64)
            else:
                p = params[f"shocks.{name}.probability"].to_numpy(dtype=np.float64)
                self._shock_prob[name] = {self.axis.step_of(Quarter.parse(q)): p for q in shock.schedule}
        self._scripted: dict[int, set[str]] = {}
        for item in s.scripted:
            self._scripted.setdefault(self.axis.step_of(Quarter.parse(item.date)), set()).add(item.shock)

    def draw_shocks(self) -> None:
        """Shock ``k`` fires iff its uniform is below its probability (or it is scripted now)."""
        step = self.steps
        scripted = self._scripted.get(step, set())
        shocks = {}
        for name, prob in self._shock_prob.items():
            if name in scripted:
                shocks[name] = np.ones(self.n, dtype=bool)
                continue
            p = prob.get(step) if isinstance(prob, dict) else prob
            shocks[name] = (self.uniform(f"shock:{name}") < p) if p is not None else np.zeros(self.n, dtype=bool)
        self.shocks = shocks

    # ------------------------------------------------------------ the quarter
    def snapshot(self) -> dict[str, Array]:
        """Every variable's current value, plus the focal observables ``member`` and ``tilt``."""
        snap: dict[str, Array] = {}
        for agent in self.agents:
            snap.update(agent.values())
        snap["member"] = self.focal.member.astype(np.float64)
        snap["tilt"] = np.tanh(self.focal.pull)
        return snap

    def step(self) -> None:
        """One quarter, in the scenario's configured order of phases.

        Floating-point warnings are silenced: a saturated exp in the decision is harmless, and a
        NaN or infinity in the state is caught by ``_check_finite`` with the draw and quarter.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for phase in self.scenario.order:
                if phase == "shocks":
                    self.draw_shocks()
                elif phase == "policies":
                    powers = self.agents_by_type.get(PowerAgent)
                    if powers is not None:
                        powers.do("update", self.snapshot())
                elif phase == "drivers":
                    self.focal.update(self.snapshot())
                elif phase == "decision":
                    self.focal.decide()
        self._check_finite()

    def _check_finite(self) -> None:
        """Stop at the first quarter where any state variable or the utility gap is NaN or infinite."""
        series = [("utility gap", self.focal.gap)]
        series += [(v.ref, v.value) for agent in self.agents for v in agent.variables]
        for name, values in series:
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.argmax(bad))
                raise RunError(f"non-finite {name} ({float(values[i])}) at replicate {self.first_replicate + i} "
                               f"(parameter draw {int(self.draw[i])}), quarter {self.axis.quarter_of(self.steps)}; "
                               "check that draw's parameters in the prior ranges")
