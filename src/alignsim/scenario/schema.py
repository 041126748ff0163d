"""The scenario schema: YAML in, frozen typed objects out, with errors that name the field.

A scenario file includes a shared priors file (``include:``) and adds what is specific to its
date and place: the question, the event, the horizon, the actors, the initial state and the
scripted events. It may not change a value the priors file sets (see ``merge_include``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alignsim.errors import ConfigError
from alignsim.scenario.timeaxis import Quarter, TimeAxis

Finite = Annotated[float, Field(allow_inf_nan=False)]
Basis = Literal["measured", "judgement", "calibrated", "setting"]
DIST_FIELDS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"),
    "beta": ("alpha", "beta"),
    "loguniform": ("low", "high"),
}
PHASES = ("shocks", "policies", "drivers", "decision")
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    "shock_level": ("baseline", "speed"),
    "partial_adjustment": ("base", "speed"),
    "logistic_growth": ("rate",),
    "redraw_on_shock": ("low", "high"),
    "product": (),
}
KINDS = Literal["shock_level", "partial_adjustment", "logistic_growth", "redraw_on_shock", "product"]
STATUSES = ("out", "member", "suspended")
Status = Literal["out", "member", "suspended"]
EVENT_KINDS = ("first_entry", "first_exit", "first_suspension", "member_at", "status_at")
FOCAL_OBSERVABLES = ("member", "tilt")
MAX_ABS = 1e6


class FieldProblem(ValueError):
    """Raised inside a model validator to name the sub-field at fault (``""`` for the model itself),
    the value found there and what was expected; ``validate_document`` turns it into a ConfigError."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(expected)
        self.field, self.value, self.expected = field, value, expected


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cited(Frozen):
    """Where a number comes from. ``quote`` must appear verbatim in ``seeds/``."""

    basis: Basis
    quote: str | None = None
    source: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _needs_citation(self) -> "Cited":
        if self.basis == "judgement" and not (self.quote or (self.source and self.note)):
            raise FieldProblem("", {"basis": self.basis}, "basis 'judgement' needs a 'quote' from seeds/, or a 'source' "
                               "URL listed in seeds/notes/ with a 'note' saying what it justifies")
        if self.basis == "measured" and not (self.quote or self.source):
            raise FieldProblem("", {"basis": self.basis}, "basis 'measured' needs a 'quote' from seeds/ or a 'source' URL")
        if self.basis == "calibrated" and not (self.source or self.note):
            raise FieldProblem("", {"basis": self.basis}, "basis 'calibrated' needs a 'source' or 'note' saying how")
        return self


class Prior(Cited):
    """A distribution over one number (``dist: fixed`` for a point value)."""

    dist: Literal["fixed", "uniform", "triangular", "normal", "beta", "loguniform"]
    value: Finite | None = None
    low: Finite | None = None
    high: Finite | None = None
    mode: Finite | None = None
    mean: Finite | None = None
    sd: Finite | None = None
    alpha: Finite | None = None
    beta: Finite | None = None

    @model_validator(mode="after")
    def _shape(self) -> "Prior":
        needed = DIST_FIELDS[self.dist]
        given = {k for k in ("value", "low", "high", "mode", "mean", "sd", "alpha", "beta")
                 if getattr(self, k) is not None}
        missing = [k for k in needed if k not in given]
        extra = sorted(given - set(needed))
        if missing:
            raise FieldProblem("", {k: getattr(self, k) for k in ("dist", *sorted(given))}, f"a {self.dist} prior needs {', '.join(needed)}; missing {', '.join(missing)}")
        if extra:
            raise FieldProblem(extra[0], getattr(self, extra[0]),
                               f"a {self.dist} prior takes only {', '.join(needed)}; remove {', '.join(extra)}")
        for k in given:
            if abs(getattr(self, k)) > MAX_ABS:
                raise FieldProblem(k, getattr(self, k), f"a number within +/-{MAX_ABS:g}")
        if self.dist in ("uniform", "loguniform", "triangular") and not self.low < self.high:  # type: ignore[operator]
            raise FieldProblem("", {"low": self.low, "high": self.high}, "low < high")
        if self.dist == "triangular" and not self.low <= self.mode <= self.high:  # type: ignore[operator]
            raise FieldProblem("", {"low": self.low, "mode": self.mode, "high": self.high}, "low <= mode <= high")
        if self.dist == "loguniform" and self.low <= 0:  # type: ignore[operator]
            raise FieldProblem("low", self.low, "low > 0 for a loguniform prior")
        if self.dist == "normal" and not self.sd > 0:  # type: ignore[operator]
            raise FieldProblem("sd", self.sd, "sd > 0 for a normal prior")
        if self.dist == "beta" and not (self.alpha > 0 and self.beta > 0):  # type: ignore[operator]
            raise FieldProblem("", {"alpha": self.alpha, "beta": self.beta}, "alpha > 0 and beta > 0 for a beta prior")
        return self

    @property
    def is_fixed(self) -> bool:
        return self.dist == "fixed"

    def support(self) -> tuple[float, float]:
        """The range a draw can take (normal: mean +/- 4 sd)."""
        if self.dist == "fixed":
            return (self.value, self.value)  # type: ignore[return-value]
        if self.dist == "normal":
            return (self.mean - 4 * self.sd, self.mean + 4 * self.sd)  # type: ignore[operator]
        if self.dist == "beta":
            return (0.0, 1.0)
        return (self.low, self.high)  # type: ignore[return-value]


class Variable(Frozen):
    """A state variable of one actor, updated each quarter by a mechanism ``kind``.

    Update: kind-specific core (see ``mechanisms``) + sum of ``inputs`` (reference -> coefficient)
    + ``shocks`` jumps + ``noise`` * N(0,1); then ``resets`` (shock -> level) and clipping to
    ``bounds``. ``reset: set`` puts the variable at the level; ``reset: max`` keeps the higher of
    the current value and the level (a reset never lowers it: a formal stance that each new
    statement restates, and an official denial can never weaken).
    """

    kind: KINDS
    label: str
    scale: str
    mechanism: str
    initial: Prior
    params: dict[str, Prior] = {}
    inputs: dict[str, Prior] = {}
    shocks: dict[str, Prior] = {}
    resets: dict[str, Prior] = {}
    redraw_on: list[str] = []
    noise: Prior | None = None
    bounds: tuple[Finite, Finite] = (0.0, 1.0)
    reset: Literal["set", "max"] = "set"

    @model_validator(mode="after")
    def _kind_params(self) -> "Variable":
        needed = KIND_PARAMS[self.kind]
        if sorted(self.params) != sorted(needed):
            raise FieldProblem("params", sorted(self.params), f"exactly {list(needed)} for kind {self.kind!r}")
        if self.kind == "product" and not self.inputs:
            raise FieldProblem("inputs", {}, "at least one input for kind 'product' (its value is their product)")
        if (self.kind == "redraw_on_shock") != bool(self.redraw_on):
            raise FieldProblem("redraw_on", self.redraw_on,
                               "a list of shocks for kind 'redraw_on_shock' only (and at least one for it)")
        if not self.bounds[0] < self.bounds[1]:
            raise FieldProblem("bounds", list(self.bounds), "[low, high] with low < high")
        if max(abs(self.bounds[0]), abs(self.bounds[1])) > MAX_ABS:
            raise FieldProblem("bounds", list(self.bounds), f"[low, high] within +/-{MAX_ABS:g}")
        return self


class Driver(Variable):
    """A focal-state variable that enters the utility gap with weight ``weight`` (>= 0).

    Its contribution is ``+weight * x`` when ``direction`` is ``toward`` membership and
    ``-weight * x`` when ``away``.

    ``family: F`` makes the driver an instance of driver ``F`` of the shared driver ontology
    (config/priors-alliance.yaml): it has F's direction, and its effective weight is
    ``weight * w_F`` (``Scenario.weight_paths``), so ``weight`` is its share of the family's
    weight (1 for a family's only instance) and the family's weight, calibrated and matched on
    the panel of alliance histories, scales every instance. A family driver whose value a
    scenario carries entirely by instances starts at 0 there.
    """

    direction: Literal["toward", "away"]
    weight: Prior
    family: str | None = None

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "toward" else -1.0


class Shock(Cited):
    """A random event: each quarter with probability ``rate``, or only at ``schedule`` quarters
    with probability ``probability``. ``direction`` is its claimed effect on membership."""

    label: str
    direction: Literal["toward", "away", "mixed"]
    rate: Prior | None = None
    schedule: list[str] = []
    probability: Prior | None = None

    @model_validator(mode="after")
    def _one_process(self) -> "Shock":
        if (self.rate is None) == (self.probability is None):
            raise FieldProblem("rate", self.rate and "given", "either 'rate' (per quarter) or 'schedule' with 'probability'")
        if (self.probability is not None) != bool(self.schedule):
            raise FieldProblem("schedule", self.schedule, "a non-empty 'schedule' of quarters with 'probability'")
        for i, q in enumerate(self.schedule):
            try:
                Quarter.parse(q)
            except ValueError as exc:
                raise FieldProblem(f"schedule.{i}", q, str(exc).split(", got")[0]) from None
        return self


class Actor(Frozen):
    name: str
    role: Literal["focal", "patron", "power"]
    color: str | None = None


class Bloc(Cited):
    name: str
    short: str


class Event(Frozen):
    """Which transition resolves the question.

    Membership has three levels (out, member, suspended). ``first_entry``: out -> member;
    ``first_exit``: member or suspended -> out (a formal exit); ``first_suspension``: member ->
    suspended (participation frozen without leaving); ``status_at``: the status at ``date`` is
    ``status``; ``member_at`` (kept from 0.1) is ``status_at`` with status member.
    """

    kind: Literal["first_entry", "first_exit", "first_suspension", "member_at", "status_at"]
    date: str | None = None
    status: Status | None = None

    @model_validator(mode="after")
    def _date(self) -> "Event":
        dated = self.kind in ("member_at", "status_at")
        if dated != (self.date is not None):
            raise FieldProblem("date", self.date, "a 'date' for kinds member_at and status_at, and only for them")
        if (self.kind == "status_at") != (self.status is not None):
            raise FieldProblem("status", self.status, f"a 'status' ({', '.join(STATUSES)}) for kind status_at, and only for it")
        if self.date is not None:
            try:
                Quarter.parse(self.date)
            except ValueError as exc:
                raise FieldProblem("date", self.date, str(exc).split(", got")[0]) from None
        return self


class Decision(Frozen):
    """Intercepts (logit per quarter) of each transition between the three membership levels.

    out -> member: ``join_intercept + dU``; member -> out: ``leave_intercept - dU``;
    member -> suspended: ``suspend_intercept - dU``; suspended -> member: ``resume_intercept + dU``;
    suspended -> out: ``suspended_exit_intercept - dU``. A transition whose intercept is not
    given never happens (so a scenario without suspension keeps the two-level model).
    """

    join_intercept: Prior
    leave_intercept: Prior
    suspend_intercept: Prior | None = None
    resume_intercept: Prior | None = None
    suspended_exit_intercept: Prior | None = None


class MemberAtStart(Cited):
    """The status at the start: ``value`` member (true) or not; ``suspended: true`` for a member
    whose participation is frozen."""

    value: bool
    suspended: bool = False

    @model_validator(mode="after")
    def _suspended_member(self) -> "MemberAtStart":
        if self.suspended and not self.value:
            raise FieldProblem("suspended", self.suspended, "suspended: true only with value: true (a suspended member)")
        return self

    @property
    def status(self) -> str:
        return "suspended" if self.suspended else ("member" if self.value else "out")


class DecisionPoint(Cited):
    """A scheduled decision (a treaty's renewal, an accession summit) at quarter ``date``.

    In that quarter the join logit moves by ``join_shift`` and the exit logits (member -> out,
    suspended -> out) by ``leave_shift`` (logit units; positive makes the move likelier, e.g. a
    renewal where leaving needs no denunciation). Outside it nothing changes.
    """

    date: str
    label: str
    join_shift: Prior | None = None
    leave_shift: Prior | None = None

    @model_validator(mode="after")
    def _point(self) -> "DecisionPoint":
        try:
            Quarter.parse(self.date)
        except ValueError as exc:
            raise FieldProblem("date", self.date, str(exc).split(", got")[0]) from None
        if self.join_shift is None and self.leave_shift is None:
            raise FieldProblem("", {"date": self.date}, "a 'join_shift' or a 'leave_shift' prior (or both)")
        return self


class Scripted(Cited):
    date: str
    shock: str

    @field_validator("date")
    @classmethod
    def _quarter(cls, v: str) -> str:
        Quarter.parse(v)
        return v


class Observed(Cited):
    """What is known to have happened after the start: the event had (not) occurred through
    ``through``; the conditional forecast covers ``through`` (exclusive) to ``window_end``.

    ``observations`` (dated news, see ``Observation``) condition the ensemble
    (``analyses.update``): observed shocks are forced in every replicate, and for each shock in
    ``complete_shocks`` the listed firings are all there were from the start to ``through`` (it
    is forced off in every other quarter). ``parent`` records the run folder this one updates.
    """

    through: str
    occurred: bool = False
    window_end: str
    observations: list[Observation] = []
    complete_shocks: list[str] = []
    parent: str | None = None


class Observation(Cited):
    """One dated observation after the start (a news item), for conditioning an ensemble.

    - ``kind: shock``: shock ``shock`` fired in quarter ``date``;
    - ``kind: event``: the scenario's event (``event`` names its kind) had ``occurred`` (or not)
      by the end of ``date``;
    - ``kind: indicator``: driver ``driver`` was inside ``range`` at the end of ``date``.
    """

    date: str
    kind: Literal["shock", "event", "indicator"]
    shock: str | None = None
    event: str | None = None
    occurred: bool | None = None
    driver: str | None = None
    range: tuple[Finite, Finite] | None = None

    @model_validator(mode="after")
    def _fields(self) -> "Observation":
        try:
            Quarter.parse(self.date)
        except ValueError as exc:
            raise FieldProblem("date", self.date, str(exc).split(", got")[0]) from None
        needed = {"shock": ("shock",), "event": ("event", "occurred"), "indicator": ("driver", "range")}[self.kind]
        for name in needed:
            if getattr(self, name) is None:
                raise FieldProblem(name, None, f"a '{name}' for an observation of kind {self.kind!r}")
        others = sorted({"shock", "event", "occurred", "driver", "range"} - set(needed))
        extra = [k for k in others if getattr(self, k) is not None]
        if extra:
            raise FieldProblem(extra[0], getattr(self, extra[0]), f"only {', '.join(needed)} for kind {self.kind!r}")
        if self.range is not None and not self.range[0] <= self.range[1]:
            raise FieldProblem("range", list(self.range), "[low, high] with low <= high")
        return self


class Outcome(Cited):
    """The observed outcome of a backtest: whether the event happened by the horizon."""

    occurred: bool
    date: str | None = None


class Resolution(Cited):
    """How the question resolves: the act that counts, the date rule, and what does not count."""

    act: str
    date_rule: str
    excludes: list[str] = []


class RateDefinition(Cited):
    """One definition of a reference-class rate: ``events`` per ``state_years`` of exposure,
    for events of kind ``event``."""

    label: str
    event: Literal["first_entry", "first_exit", "first_suspension"]
    events: int = Field(ge=0, le=100000)
    state_years: Finite = Field(gt=0)


class BaseRate(Frozen):
    """The reference class behind the base rate shown beside the headline: its ``definitions``
    (usually in the shared priors file) and the one a scenario names as its main ``definition``."""

    reference_class: str
    source_note: str | None = None
    definitions: dict[str, RateDefinition]
    definition: str | None = None


class UtilityTerm(Frozen):
    """One term of a power's quarterly utility: ``+weight * x`` (gain) or ``-weight * x`` (loss).

    ``of`` is ``member`` (the focal state in the bloc, 0/1), ``tilt`` (its lean toward the bloc,
    tanh of the pull, -1..1), ``best_alternative`` (the focal state's best outside offer, in logit
    units; needs ``outside_options``) or a variable reference (``drivers.X``, ``states.X``,
    ``policies.ACTOR.X``); with ``times`` (a variable reference) the term is ``of x times``.
    Weights are in the power's utility unit (see ``Powers``).
    """

    label: str
    of: str
    times: str | None = None
    direction: Literal["gain", "loss"]
    weight: Prior

    @property
    def sign(self) -> float:
        return 1.0 if self.direction == "gain" else -1.0


class PolicyOption(Frozen):
    """The three options on one policy: retreat / hold / expand move its level by -step / 0 / +step.

    Keeping a level ``x`` costs ``cost * x**2`` utility units per quarter (courting, coercing or
    investing costs more the further it is pushed).
    """

    labels: tuple[str, str, str] = ("retreat", "hold", "expand")
    step: Prior
    cost: Prior


class PowerStrategy(Frozen):
    """A power's utility weights and the policies it chooses on (``role``: which role's terms)."""

    role: Literal["patron", "rival", "third"]
    utility: dict[str, UtilityTerm] = {}
    options: dict[str, PolicyOption] = {}


class Lookahead(Frozen):
    """How expected utility looks ahead: ``linear`` (the model's own mechanisms, linearised once
    per batch; see ``engine.choice``) or ``model`` (the model itself, ``samples`` rollouts on the
    look-ahead's own random streams) over ``horizon`` quarters; with ``Powers.discount`` the state
    at the horizon is valued as persisting beyond it (a discounted tail, see ``engine.choice``)."""

    method: Literal["linear", "model"] = "linear"
    horizon: int = Field(8, ge=1, le=40)
    samples: int = Field(4, ge=1, le=64)


class Powers(Frozen):
    """Which power model runs: ``rule`` (each policy follows its mechanism) or ``strategic``
    (each quarter every power picks an option per policy by a logit rule on expected utility:
    P(option) proportional to exp(precision * EU(option)), EU in the power's utility unit).

    ``discount`` is the powers' annual real discount rate r (quarterly factor (1 + r)**-0.25):
    a chosen level persists, so its costs and its effects are valued over their whole (discounted)
    duration, not only the look-ahead's horizon. Without it the horizon's sum is undiscounted and
    nothing after the horizon counts."""

    model: Literal["rule", "strategic"] = "rule"
    precision: Prior | None = None
    discount: Prior | None = None
    lookahead: Lookahead = Lookahead()
    actors: dict[str, PowerStrategy] = {}


class OutsideOptions(Cited):
    """The focal state's alternatives to the bloc: each partner's offer is the sum of its listed
    (``away``) drivers' contributions; the offers enter the pull through a soft maximum
    (log-sum-exp with ``sharpness``, see ``engine.alternatives``) instead of adding up."""

    partners: dict[str, list[str]]
    sharpness: Prior


class MonteCarlo(Frozen):
    replicates: int = Field(20000, ge=1, le=100_000_000)
    draws: int = Field(500, ge=1, le=10_000_000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    batch_size: int = Field(10000, ge=1, le=10_000_000)
    dU_bins: tuple[Finite, Finite, int] = (-15.0, 15.0, 600)


class Scenario(Frozen):
    """A validated scenario (the include already merged).

    ``decision_group`` names a decision point the case shares with others (one renewal date,
    one alliance's collapse): scoring and history matching treat such cases as one group.
    ``left_out`` records, per driver name, why a driver of the shared priors does not apply to
    this scenario; the loader removes those drivers before validation (``loader.drop_left_out``).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    question: str
    event: Event
    start: str
    end: str
    actors: dict[str, Actor]
    bloc: Bloc
    member_at_start: MemberAtStart
    order: list[str] = list(PHASES)
    decision: Decision
    barrier: Variable
    drivers: dict[str, Driver]
    states: dict[str, Variable] = {}
    policies: dict[str, dict[str, Variable]] = {}
    shocks: dict[str, Shock] = {}
    scripted: list[Scripted] = []
    decision_points: list[DecisionPoint] = []
    observed: Observed | None = None
    outcome: Outcome | None = None
    decision_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    left_out: dict[str, Cited] = {}
    resolution: Resolution | None = None
    base_rate: BaseRate | None = None
    monte_carlo: MonteCarlo = MonteCarlo()
    powers: Powers = Powers()
    outside_options: OutsideOptions | None = None
    include: str | None = None
    seeds: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _quarter(cls, v: str) -> str:
        Quarter.parse(v)
        return v

    @property
    def axis(self) -> TimeAxis:
        return TimeAxis(Quarter.parse(self.start), Quarter.parse(self.end))

    @property
    def focal(self) -> str:
        return next(k for k, a in self.actors.items() if a.role == "focal")

    @property
    def patron(self) -> str:
        return next(k for k, a in self.actors.items() if a.role == "patron")

    def weight_paths(self, name: str) -> tuple[str, ...]:
        """The parameter columns whose product is driver ``name``'s weight (before its sign):
        its own ``weight``, times its family's weight for an instance (``Driver.family``)."""
        family = self.drivers[name].family
        own = f"drivers.{name}.weight"
        return (own,) if family is None else (own, f"drivers.{family}.weight")

    def signed_weight(self, name: str, params: Any) -> Any:
        """``sign x product of weight_paths`` read from ``params`` (a parameter table or one row)."""
        out = self.drivers[name].sign
        for path in self.weight_paths(name):
            col = params[path]
            out = out * (col.to_numpy(dtype=float) if hasattr(col, "to_numpy") else col)
        return out


# ---------------------------------------------------------------- cross-references

def variable_refs(scenario: Scenario) -> dict[str, Variable]:
    """Every state variable by its reference: drivers.X, states.X, policies.ACTOR.X, barrier."""
    refs: dict[str, Variable] = {"barrier": scenario.barrier}
    refs.update({f"drivers.{k}": v for k, v in scenario.drivers.items()})
    refs.update({f"states.{k}": v for k, v in scenario.states.items()})
    for actor, variables in scenario.policies.items():
        refs.update({f"policies.{actor}.{k}": v for k, v in variables.items()})
    return refs


def check_references(s: Scenario) -> None:
    roles = [a.role for a in s.actors.values()]
    if roles.count("focal") != 1 or roles.count("patron") != 1:
        raise ConfigError("actors", {k: a.role for k, a in s.actors.items()},
                          "exactly one actor with role focal and one with role patron")
    axis = s.axis
    if axis.n_steps < 1:
        raise ConfigError("end", s.end, f"a quarter at or after start {s.start}")
    if axis.n_steps > 400:
        raise ConfigError("end", s.end, "a horizon of at most 400 quarters after start")
    if sorted(s.order) != sorted(PHASES):
        raise ConfigError("order", s.order, f"each of {list(PHASES)} once, in the order to run them")
    for actor in s.policies:
        if actor not in s.actors:
            raise ConfigError(f"policies.{actor}", actor, f"an actor listed in actors: {sorted(s.actors)}")
        if s.actors[actor].role == "focal":
            raise ConfigError(f"policies.{actor}", actor, "a power or patron (the focal state's variables are drivers and states)")
    refs = variable_refs(s)
    for ref, var in refs.items():
        prefix = ref if ref == "barrier" else ref
        for name in var.inputs:
            if name not in refs and name not in FOCAL_OBSERVABLES:
                raise ConfigError(f"{prefix}.inputs.{name}", name,
                                  f"a variable reference (one of {sorted(refs)}) or one of {list(FOCAL_OBSERVABLES)}")
        for section in ("shocks", "resets"):
            for name in getattr(var, section):
                if name not in s.shocks:
                    raise ConfigError(f"{prefix}.{section}.{name}", name, f"a shock defined under shocks: {sorted(s.shocks)}")
        for name in var.redraw_on:
            if name not in s.shocks:
                raise ConfigError(f"{prefix}.redraw_on", name, f"a shock defined under shocks: {sorted(s.shocks)}")
    for shock in s.shocks.values():
        for q in shock.schedule:
            if not axis.start <= Quarter.parse(q) <= axis.end:
                pass  # scheduled quarters outside the horizon simply never come up
    for i, item in enumerate(s.scripted):
        if item.shock not in s.shocks:
            raise ConfigError(f"scripted.{i}.shock", item.shock, f"a shock defined under shocks: {sorted(s.shocks)}")
        q = Quarter.parse(item.date)
        if not axis.start <= q <= axis.end:
            raise ConfigError(f"scripted.{i}.date", item.date, f"a quarter within the horizon {s.start}..{s.end}")
    if s.event.kind == "first_suspension" and s.decision.suspend_intercept is None:
        raise ConfigError("decision.suspend_intercept", None,
                          "a prior for member -> suspended when the event is first_suspension")
    dated = [("event.date", s.event.date)]
    if s.observed is not None:
        dated += [("observed.through", s.observed.through), ("observed.window_end", s.observed.window_end)]
    if s.outcome is not None and s.outcome.date is not None:
        dated.append(("outcome.date", s.outcome.date))
    for field, text in dated:
        if text is None:
            continue
        try:
            q = Quarter.parse(text)
        except ValueError as exc:
            raise ConfigError(field, text, str(exc)) from None
        if not axis.start <= q <= axis.end:
            raise ConfigError(field, text, f"a quarter within the horizon {s.start}..{s.end}")
    if s.observed is not None and Quarter.parse(s.observed.window_end) <= Quarter.parse(s.observed.through):
        raise ConfigError("observed.window_end", s.observed.window_end, f"a quarter after observed.through {s.observed.through}")
    check_observations(s)
    check_families(s)
    if s.base_rate is not None and s.base_rate.definition is not None:
        if s.base_rate.definition not in s.base_rate.definitions:
            raise ConfigError("base_rate.definition", s.base_rate.definition,
                              f"one of the reference class's definitions: {sorted(s.base_rate.definitions)}")
        main = s.base_rate.definitions[s.base_rate.definition]
        if s.event.kind != "member_at" and main.event != s.event.kind:
            raise ConfigError("base_rate.definition", s.base_rate.definition,
                              f"a definition counting the scenario's event ({s.event.kind}), not {main.event}")
    lo, hi, n = s.monte_carlo.dU_bins
    if not (lo < hi and 10 <= n <= 100000):
        raise ConfigError("monte_carlo.dU_bins", list(s.monte_carlo.dU_bins), "[low, high, n] with low < high and 10 <= n <= 100000")
    if s.monte_carlo.draws > s.monte_carlo.replicates:
        raise ConfigError("monte_carlo.draws", s.monte_carlo.draws, f"at most replicates ({s.monte_carlo.replicates})")
    for path, prior in iter_priors(s):
        if path.endswith(".rate") and path.startswith("shocks.") or path.endswith(".probability"):
            lo_, hi_ = prior.support()
            if lo_ < 0 or hi_ > 1:
                raise ConfigError(path, [lo_, hi_], "a probability prior within [0, 1]")
        if path.endswith(".weight"):
            if prior.support()[0] < 0:
                raise ConfigError(path, prior.support()[0], "a weight prior >= 0 (the sign is the driver's direction)")
    check_strategy(s)
    _ = math  # keep import for type checkers


def check_families(s: Scenario) -> None:
    """An instance names a driver of the scenario that is itself no instance, with its direction."""
    for name, d in s.drivers.items():
        if d.family is None:
            continue
        fam = s.drivers.get(d.family)
        if fam is None or fam.family is not None or d.family == name:
            roots = sorted(k for k, v in s.drivers.items() if v.family is None and k != name)
            raise ConfigError(f"drivers.{name}.family", d.family, f"a family driver of the scenario (one of {roots})")
        if fam.direction != d.direction:
            raise ConfigError(f"drivers.{name}.direction", d.direction,
                              f"the direction of its family {d.family!r} ({fam.direction})")


def check_observations(s: Scenario) -> None:
    """Observations name known shocks, the scenario's event and drivers, at quarters in the horizon."""
    if s.observed is None:
        return
    axis = s.axis
    for name in s.observed.complete_shocks:
        if name not in s.shocks:
            raise ConfigError("observed.complete_shocks", name, f"a shock defined under shocks: {sorted(s.shocks)}")
    seen: set[tuple[str, str]] = set()
    for i, ob in enumerate(s.observed.observations):
        where = f"observed.observations.{i}"
        q = Quarter.parse(ob.date)
        if not axis.start <= q <= axis.end:
            raise ConfigError(f"{where}.date", ob.date, f"a quarter within the horizon {s.start}..{s.end}")
        if ob.kind == "shock":
            if ob.shock not in s.shocks:
                raise ConfigError(f"{where}.shock", ob.shock, f"a shock defined under shocks: {sorted(s.shocks)}")
            if (ob.shock, ob.date) in seen:
                raise ConfigError(f"{where}.shock", ob.shock, f"at most one observation of a shock per quarter ({ob.date})")
            seen.add((ob.shock, ob.date))
            if ob.shock in s.observed.complete_shocks and q > Quarter.parse(s.observed.through):
                raise ConfigError(f"{where}.date", ob.date, f"a quarter up to observed.through {s.observed.through}")
        elif ob.kind == "event" and ob.event != s.event.kind:
            raise ConfigError(f"{where}.event", ob.event, f"the scenario's event kind {s.event.kind!r}")
        elif ob.kind == "indicator" and ob.driver not in s.drivers:
            raise ConfigError(f"{where}.driver", ob.driver, f"a driver of the scenario: {sorted(s.drivers)}")


def check_strategy(s: Scenario) -> None:
    """Cross-references of ``powers`` and ``outside_options`` (actors, policies, drivers, terms)."""
    refs = variable_refs(s)
    observables = (*FOCAL_OBSERVABLES, "best_alternative")
    p = s.powers
    if p.model == "strategic" and p.precision is None:
        raise ConfigError("powers.precision", None, "a prior for the logit choice precision when powers.model is strategic")
    if p.discount is not None and not p.discount.support()[0] > 0.0:
        raise ConfigError("powers.discount", p.discount.support()[0],
                          "an annual discount rate above 0 (the look-ahead values the state after the horizon)")
    if p.model == "strategic" and not any(a.options for a in p.actors.values()):
        raise ConfigError("powers.actors", sorted(p.actors), "at least one power with options when powers.model is strategic")
    for actor, strat in p.actors.items():
        where = f"powers.actors.{actor}"
        if actor not in s.actors or s.actors[actor].role == "focal":
            raise ConfigError(where, actor, f"a power or patron listed in actors: {sorted(s.actors)}")
        for name, term in strat.utility.items():
            if term.of not in refs and term.of not in observables:
                raise ConfigError(f"{where}.utility.{name}.of", term.of,
                                  f"a variable reference (one of {sorted(refs)}) or one of {list(observables)}")
            if term.times is not None and term.times not in refs:
                raise ConfigError(f"{where}.utility.{name}.times", term.times, f"a variable reference (one of {sorted(refs)})")
            if term.of == "best_alternative" and s.outside_options is None and p.model == "strategic":
                raise ConfigError(f"{where}.utility.{name}.of", term.of, "an 'outside_options' section to define it")
        for policy in strat.options:
            if policy not in s.policies.get(actor, {}):
                raise ConfigError(f"{where}.options.{policy}", policy,
                                  f"a policy of {actor} (one of {sorted(s.policies.get(actor, {}))})")
    o = s.outside_options
    if o is not None:
        seen: set[str] = set()
        if len(o.partners) < 1:
            raise ConfigError("outside_options.partners", {}, "at least one partner with its drivers")
        for partner, names in o.partners.items():
            if not names:
                raise ConfigError(f"outside_options.partners.{partner}", names, "a non-empty list of drivers")
            for name in names:
                d = s.drivers.get(name)
                if d is None or d.direction != "away":
                    raise ConfigError(f"outside_options.partners.{partner}", name,
                                      f"a driver with direction away (one of {sorted(k for k, v in s.drivers.items() if v.direction == 'away')})")
                if name in seen:
                    raise ConfigError(f"outside_options.partners.{partner}", name, "each driver in one partner only")
                seen.add(name)


def walk(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every node below ``node`` with its dotted path, depth first in field order.

    Descends into pydantic models (by declared field order), dicts (by key order) and lists (by
    index). The one walker of the scenario tree: priors, cited items and evidence all use it.
    """
    out: list[tuple[str, Any]] = []

    def visit(path: str, item: Any) -> None:
        out.append((path, item))
        if isinstance(item, BaseModel):
            for name in type(item).model_fields:
                visit(f"{path}.{name}" if path else name, getattr(item, name))
        elif isinstance(item, dict):
            for k, v in item.items():
                visit(f"{path}.{k}", v)
        elif isinstance(item, list):
            for i, v in enumerate(item):
                visit(f"{path}.{i}", v)

    visit(prefix, node)
    return out


PRIOR_SECTIONS = ("decision", "barrier", "drivers", "states", "policies", "shocks", "decision_points")
STRATEGIC_SECTIONS = ("powers",)


def iter_priors(s: Scenario) -> list[tuple[str, Prior]]:
    """Every prior in the scenario with its dotted path, in a stable order (sections as
    ``PRIOR_SECTIONS``, then field order): the column order of every parameter matrix.

    The power utilities count only when ``powers.model`` is ``strategic``:
    a rule-based run samples (and a sensitivity analysis varies) exactly what it uses."""
    sections = PRIOR_SECTIONS + ("outside_options",) + (STRATEGIC_SECTIONS if s.powers.model == "strategic" else ())
    return [(path, node) for name in sections for path, node in walk(getattr(s, name), name)
            if isinstance(node, Prior)]


def iter_cited(s: Scenario) -> list[tuple[str, Cited]]:
    """Every cited item (priors, shocks, scripted events, facts) with its dotted path."""
    return [(path, node) for path, node in walk(s) if isinstance(node, Cited) and path]
