"""The alignment model: one ``mesa.Model`` steps a batch of replicates through the quarters."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd

from alignsim.engine.agents import STATUS_CODES, FocalAgent, PowerAgent
from alignsim.engine.alternatives import Alternatives
from alignsim.engine.choice import Strategy
from alignsim.errors import RunError
from alignsim.engine.mechanisms import CompiledVariable, KindBlock, readers_first
from alignsim.scenario import Scenario, Variable, variable_refs
from alignsim.engine.streams import StreamSource
from alignsim.scenario.timeaxis import Quarter

Array = np.ndarray


class ParamColumns:
    """The float columns of a parameter matrix as contiguous (replicates,) arrays, by name.

    One transposed copy of the whole matrix (none when pandas holds it in that layout, as
    ``priors.replicate_params`` makes it) instead of a pandas column look-up per parameter. A
    column is always the same view object, so ``row_index`` can tell a column's row in ``matrix``
    (a mechanism block then uses ``matrix`` as its coefficient table without copying it).
    """

    def __init__(self, params: pd.DataFrame) -> None:
        names = [c for c in params.columns if c != "draw"]
        self._row = {name: i for i, name in enumerate(names)}
        self.matrix = np.ascontiguousarray(params[names].to_numpy(dtype=np.float64).T)
        self._views = list(self.matrix)
        self._index = {id(view): i for i, view in enumerate(self._views)}

    def __contains__(self, name: str) -> bool:
        return name in self._row

    def __getitem__(self, name: str) -> Array:
        return self._views[self._row[name]]

    def row_index(self, column: Array) -> int | None:
        """The row of ``matrix`` that ``column`` is (one of this object's columns), else None."""
        i = self._index.get(id(column))
        return i if i is not None and self._views[i] is column else None


def compile_variable(ref: str, var: Variable, params: pd.DataFrame | ParamColumns) -> CompiledVariable:
    """Resolve a variable's priors to the per-replicate columns of ``params``."""
    columns = params if isinstance(params, ParamColumns) else ParamColumns(params)
    col = columns.__getitem__
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
        reset=var.reset,
    )


class KeyedStreamsOnly:
    """Stands in for Mesa's ``model.rng`` / ``model.random`` on an ``AlignmentModel``.

    Mesa seeds one generator per Model; ours steps a whole batch of replicates, so a number drawn
    from it would depend on the batch's size and position and break "same seed, same numbers
    for any batch size". Every attribute access (``rng.random()``, ``random.shuffle(...)``,
    ``rng.bit_generator``) raises ``RunError`` naming the keyed streams to use instead. Mesa
    itself touches ``rng`` only inside ``Model.__init__`` (to record its state and seed
    ``random``), before the guard is put in place; the AgentSet of all agents, made there with
    the seeded ``random``, gets the guard too. Passing the guard on, as Mesa does when it makes
    an ``AgentSet`` per agent type, is harmless.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str):
        raise RunError(f"model.{self._name}.{attr}: Mesa's per-model generator is switched off in AlignmentModel "
                       "(one generator per batch would make results depend on the batch size); draw from the "
                       "keyed streams instead: model.uniform(purpose) / model.normal(purpose) "
                       "(alignsim.engine.streams, keyed by seed, purpose, step and replicate)")

    def __setattr__(self, attr: str, value) -> None:
        self.__getattr__(attr)

    def __repr__(self) -> str:
        return f"<model.{self._name} switched off: use the keyed streams>"


def forced_shocks(scenario: Scenario) -> dict[int, dict[str, bool]]:
    """Shocks fixed by ``observed.observations``: step -> {shock: fired}.

    An observed firing is forced on; a shock in ``observed.complete_shocks`` is forced off in
    every other quarter from the start to ``observed.through``. Empty without observations, so
    runs without news draw every shock as before.
    """
    obs = scenario.observed
    if obs is None or not (obs.observations or obs.complete_shocks):
        return {}
    axis = scenario.axis
    out: dict[int, dict[str, bool]] = {}
    last = min(axis.step_of(Quarter.parse(obs.through)), axis.n_steps)
    for name in obs.complete_shocks:
        for step in range(1, last + 1):
            out.setdefault(step, {})[name] = False
    for ob in obs.observations:
        if ob.kind == "shock":
            out.setdefault(axis.step_of(Quarter.parse(ob.date)), {})[ob.shock] = True
    return out


class AlignmentModel(mesa.Model):
    """A batch of replicates of one scenario.

    Args:
        scenario: the validated scenario.
        params: parameter matrix, one row per replicate, one column per prior path
            (``priors.replicate_params``); its index gives the global replicate numbers.
        seed: the run's master seed; every random number comes from ``streams`` keyed by
            (seed, purpose, step) at the replicate's global index.
    """

    stream_tag = ""  # prefixed to every purpose; the strategic look-ahead sets its own
    check_finite = True  # step() ends with _check_finite (ensemble.simulate checks in its record pass instead)

    def __init__(self, scenario: Scenario, params: pd.DataFrame, seed: int, record_choices: bool = False) -> None:
        super().__init__(rng=np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D657361])))
        self.rng = KeyedStreamsOnly("rng")  # type: ignore[assignment]
        self.random = KeyedStreamsOnly("random")  # type: ignore[assignment]
        self.agents.random = self.random  # Mesa made this AgentSet with its seeded random (shuffle_do)
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
        self.streams = StreamSource(self.seed)
        frame, params = params, ParamColumns(params)  # the model reads columns; the strategy the frame
        self._prepare_shocks(params)
        refs = variable_refs(scenario)
        compiled = {ref: compile_variable(ref, var, params) for ref, var in refs.items()}
        owners = [[compiled[f"policies.{actor}.{k}"] for k in variables]
                  for actor, variables in scenario.policies.items()]
        focal_vars = [compiled[r] for r in refs if not r.startswith("policies.")]
        self._build_state(owners + [focal_vars], params)
        for (actor, _), blocks in zip(scenario.policies.items(), self._blocks):
            PowerAgent(self, actor, blocks)
        drivers = [(compiled[f"drivers.{k}"], np.asarray(scenario.signed_weight(k, params), dtype=np.float64))
                   for k in scenario.drivers]
        status = np.full(self.n, STATUS_CODES[scenario.member_at_start.status], dtype=np.int8)
        intercepts = {name: (params[f"decision.{name}_intercept"]
                             if getattr(scenario.decision, f"{name}_intercept") is not None else None)
                      for name in ("join", "leave", "suspend", "resume", "suspended_exit")}
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite parameters: see _check_finite
            self.focal = FocalAgent(self, scenario.focal, self._blocks[-1], drivers,
                                    compiled["barrier"], status, intercepts)
        self._prepare_decision_points(params)
        self.driver_names = list(scenario.drivers)
        read = {ref for v in self.variables for ref, _ in v.inputs}
        self._observed = [name for name in ("member", "tilt") if name in read]
        self._attach_strategy(scenario, params, frame, record_choices)
        self._observe(self._observed)

    def _attach_strategy(self, scenario: Scenario, params: ParamColumns, frame: pd.DataFrame, record: bool) -> None:
        """Outside options as alternatives (if any) and, for ``powers.model: strategic``, the choice."""
        focal = self.focal
        if scenario.outside_options is not None:
            names = list(scenario.drivers)
            groups = [[names.index(d) for d in ds] for ds in scenario.outside_options.partners.values()]
            focal.alternatives = Alternatives(groups, params["outside_options.sharpness"])
            with np.errstate(over="ignore", invalid="ignore"):
                focal.contributions = focal.current_contributions()
                focal.pull = focal.contributions.sum(axis=0)
                focal.gap = focal.pull - focal.barrier.value
        self.strategy: Strategy | None = None
        if scenario.powers.model == "strategic":
            self._check_finite_columns(frame, "powers.")
            self.strategy = Strategy(self, scenario, frame, record=record)

    def _check_finite_columns(self, frame: pd.DataFrame, prefix: str) -> None:
        """Stop at the first quarter, before it runs, if a parameter column starting with ``prefix`` is NaN or
        infinite: a choice from non-finite utilities would still pick an option, silently."""
        columns = [c for c in frame.columns if c.startswith(prefix)]
        values = frame[columns].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            i, j = (int(k[0]) for k in np.nonzero(bad))
            raise self._non_finite(columns[j], values[i, j], i, 1)

    def _build_state(self, owners: list[list[CompiledVariable]], columns: ParamColumns | None = None) -> None:
        """One state matrix (rows, replicates): every variable, then ``member`` and ``tilt``.

        Each owner's variables take consecutive rows, grouped by mechanism kind, so each
        (owner, kind) is one ``KindBlock`` over a slice of rows. ``CompiledVariable.value``
        becomes a view of its row. An owner's blocks are listed (and advanced) readers first,
        which changes no number (they all read the start-of-phase state) but lets a block write
        its rows in place when no block advanced after it in the phase reads them.
        """
        ordered = [[v for kind in dict.fromkeys(v.kind for v in vs) for v in vs if v.kind == kind]
                   for vs in owners]
        flat = [v for vs in ordered for v in vs]
        self.row_of = {v.ref: i for i, v in enumerate(flat)}
        self.n_variables = len(flat)
        self.row_of["member"], self.row_of["tilt"] = len(flat), len(flat) + 1
        self.state_matrix = np.empty((len(flat) + 2, self.n))
        for i, v in enumerate(flat):
            self.state_matrix[i] = v.value
            v.value = self.state_matrix[i]
        self.variables = flat
        self._blocks = []
        for vs in ordered:
            blocks, start = [], self.row_of[vs[0].ref] if vs else 0
            for kind in dict.fromkeys(v.kind for v in vs):
                members = [v for v in vs if v.kind == kind]
                blocks.append(KindBlock(members, start, self.row_of, self.shock_row, columns))
                start += len(members)
            self._blocks.append(blocks)
        for phase in (self._blocks[:-1], self._blocks[-1:]):  # the powers' policies, then the focal state
            for k, blocks in enumerate(phase):
                rows = [set(range(b.start, b.stop)) for b in blocks]
                order = readers_first([{j for j, r in enumerate(rows) if b.read_rows() & r} for b in blocks])
                blocks[:] = [blocks[i] for i in order] if order is not None else blocks
                others = {r for j, bs in enumerate(phase) if j != k for b in bs for r in b.read_rows()}
                for i, b in enumerate(blocks):  # blocks advanced later in the phase must not read b's rows
                    b.plan_in_place(self.state_matrix, others.union(*(later.read_rows() for later in blocks[i + 1:])))

    # ------------------------------------------------------------ randomness
    def uniform(self, purpose: str) -> Array:
        """Uniforms for this batch's replicates at the current step."""
        return self.streams.uniforms(self.stream_tag + purpose, self.steps, self.first_replicate, self.first_replicate + self.n)

    def normal(self, purpose: str) -> Array:
        return self.streams.normals(self.stream_tag + purpose, self.steps, self.first_replicate, self.first_replicate + self.n)

    def uniform_rows(self, purposes: list[str]) -> Array:
        """One row of uniforms per purpose, shape (len(purposes), replicates)."""
        out = np.empty((len(purposes), self.n))
        a, b = self.first_replicate, self.first_replicate + self.n
        for row, purpose in zip(out, purposes):
            self.streams.uniforms(self.stream_tag + purpose, self.steps, a, b, out=row)
        return out

    def normal_rows(self, purposes: list[str]) -> Array:
        out = np.empty((len(purposes), self.n))
        a, b = self.first_replicate, self.first_replicate + self.n
        for row, purpose in zip(out, purposes):
            self.streams.normals(self.stream_tag + purpose, self.steps, a, b, out=row)
        return out

    def _prepare_shocks(self, params: ParamColumns) -> None:
        s = self.scenario
        self._shock_prob: dict[str, dict[int, Array] | Array] = {}
        for name, shock in s.shocks.items():
            if shock.rate is not None:
                self._shock_prob[name] = params[f"shocks.{name}.rate"]
            else:
                p = params[f"shocks.{name}.probability"]
                self._shock_prob[name] = {self.axis.step_of(Quarter.parse(q)): p for q in shock.schedule}
        self._scripted: dict[int, set[str]] = {}
        for item in s.scripted:
            self._scripted.setdefault(self.axis.step_of(Quarter.parse(item.date)), set()).add(item.shock)
        self.shock_row = {name: i for i, name in enumerate(self._shock_prob)}
        self.shock_matrix = np.zeros((len(self._shock_prob), self.n), dtype=bool)
        self.shocks: dict[str, Array] = {name: self.shock_matrix[i] for name, i in self.shock_row.items()}
        self._u = np.empty(self.n)
        self._forced = forced_shocks(s)

    def _prepare_decision_points(self, params: ParamColumns) -> None:
        """Per step, the summed (join, leave) logit shifts of the decision points falling on it."""
        self._points: dict[int, tuple[Array, Array]] = {}
        for i, point in enumerate(self.scenario.decision_points):
            step = self.axis.step_of(Quarter.parse(point.date))
            if not 1 <= step <= self.axis.n_steps:
                continue  # outside the horizon: never comes up
            zero = np.zeros(self.n)
            join = (params[f"decision_points.{i}.join_shift"]
                    if point.join_shift is not None else zero)
            leave = (params[f"decision_points.{i}.leave_shift"]
                     if point.leave_shift is not None else zero)
            j0, l0 = self._points.get(step, (zero, zero))
            self._points[step] = (j0 + join, l0 + leave)

    def decision_shifts(self) -> tuple[Array | float, Array | float]:
        """The (join, leave) logit shifts of this step's decision points (0.0 outside one)."""
        return self._points.get(self.steps, (0.0, 0.0))

    def draw_shocks(self) -> None:
        """Shock ``k`` fires iff its uniform is below its probability (or it is scripted now)."""
        step = self.steps
        scripted = self._scripted.get(step, set())
        a, b = self.first_replicate, self.first_replicate + self.n
        forced = self._forced.get(step, {})
        for (name, prob), row in zip(self._shock_prob.items(), self.shock_matrix):
            if name in forced:  # an observed shock (or its observed absence) overrides the rest
                row[:] = forced[name]
                continue
            if name in scripted:
                row[:] = True
                continue
            p = prob.get(step) if isinstance(prob, dict) else prob
            if p is None:
                row[:] = False
            else:
                np.less(self.streams.uniforms(f"{self.stream_tag}shock:{name}", step, a, b, out=self._u), p, out=row)

    # ------------------------------------------------------------ the quarter
    def _observe(self, names: list[str]) -> None:
        """Write the focal observables ``names`` (of ``member``, ``tilt`` = tanh(pull)) into the state.

        They change only in the decision, so the model refreshes the ones some input reads once
        after each decision (and at the start); every phase then reads them from the matrix.
        """
        m = self.state_matrix
        if "member" in names:
            m[self.row_of["member"]] = self.focal.member
        if "tilt" in names:
            np.tanh(self.focal.pull, out=m[self.row_of["tilt"]])

    def snapshot(self) -> dict[str, Array]:
        """Every variable's current value, plus ``member`` and ``tilt`` (views of the state matrix)."""
        self._observe(["member", "tilt"])
        m = self.state_matrix
        return {ref: m[row] for ref, row in self.row_of.items()}

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
                    if powers is not None:  # every power reads the state at the phase's start
                        picks = self.strategy.choose() if self.strategy is not None else None
                        self._commit([p for proposed in powers.map("propose", self.state_matrix) for p in proposed])
                        if picks is not None:  # chosen policies move by the choice, not their rule
                            self.strategy.apply(picks)
                elif phase == "drivers":
                    self._commit(self.focal.propose(self.state_matrix))
                elif phase == "decision":
                    self.focal.decide(*self.decision_shifts())
                    self._observe(self._observed)
        if self.check_finite:
            self._check_finite()

    def _commit(self, proposed: list[tuple[KindBlock, Array]]) -> None:
        for block, values in proposed:
            if values.base is not self.state_matrix:  # an in-place block has written its rows already
                self.state_matrix[block.start:block.stop] = values

    def _check_finite(self) -> None:
        """Stop at the first quarter where any state variable or the utility gap is NaN or infinite."""
        if np.isfinite(self.state_matrix[:self.n_variables]).all() and np.isfinite(self.focal.gap).all():
            return
        series = [("utility gap", self.focal.gap)]
        series += [(v.ref, v.value) for v in self.variables]  # each agent's variables, agents in order
        for name, values in series:
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.argmax(bad))
                raise self._non_finite(name, values[i], i, self.steps)

    def _non_finite(self, name: str, value: float, i: int, step: int) -> RunError:
        """The one-line error for a NaN or infinite ``name`` in replicate row ``i`` at ``step``."""
        return RunError(f"non-finite {name} ({float(value)}) at replicate {self.first_replicate + i} "
                        f"(parameter draw {int(self.draw[i])}), quarter {self.axis.quarter_of(step)}; "
                        "check that draw's parameters in the prior ranges")
