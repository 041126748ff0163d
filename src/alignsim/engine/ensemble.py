"""Batches of replicates through the model: ``simulate`` for one parameter matrix, ``run_ensemble``
for outer prior draws x inner replicates. Results are tidy pandas tables.

Per-quarter means are accumulated as integers (values rounded to 2**-32), so the totals are the
same whatever the batch size or the order batches finish in. The per-quarter bookkeeping is the
compiled ``kernels.record_quarter`` (``reference.record_quarter_numpy`` is the same in numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alignsim.engine.agents import STATUS_CODES
from alignsim.engine.kernels import FIXED_POINT, record_quarter
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.scenario import Scenario, variable_refs
from alignsim.scenario.timeaxis import Quarter

Array = np.ndarray


def _fixed(x: Array) -> Array:
    return np.round(np.asarray(x, dtype=np.float64) * FIXED_POINT).astype(np.int64)


@dataclass
class QuarterTotals:
    """Sums over replicates at each step (shape (steps, ...)); add two to merge batches."""

    n: int
    member: Array          # (T,) members at the end of each step
    gap: Array             # (T,) fixed-point sum of dU
    gap_hist: Array        # (T, bins + 2) counts of dU in fixed bins (under/overflow at the ends)
    contributions: Array   # (T, K) fixed-point sums per driver
    variables: Array       # (T, V) fixed-point sums per variable
    member_by_draw: Array  # (T, u) members per outer draw, for the draws in ``member_draw_ids``
    member_draw_ids: Array  # (u,) sorted outer draw ids present in these replicates
    choices: Array | None = None          # (T, policies, 3) strategic powers' choice counts (engine.choice)
    choices_by_tilt: Array | None = None  # (policies, tilt bins, 3) the same by the focal state's tilt

    def __add__(self, other: "QuarterTotals") -> "QuarterTotals":
        ids, inverse = np.unique(np.concatenate([self.member_draw_ids, other.member_draw_ids]),
                                 return_inverse=True)
        by_draw = np.zeros((self.member.shape[0], len(ids)), np.int64)
        np.add.at(by_draw.T, inverse, np.concatenate([self.member_by_draw, other.member_by_draw], axis=1).T)
        return QuarterTotals(self.n + other.n, self.member + other.member, self.gap + other.gap,
                             self.gap_hist + other.gap_hist, self.contributions + other.contributions,
                             self.variables + other.variables, by_draw, ids,
                             _add_optional(self.choices, other.choices),
                             _add_optional(self.choices_by_tilt, other.choices_by_tilt))


def _add_optional(a: Array | None, b: Array | None) -> Array | None:
    return a if b is None else b if a is None else a + b


FIRST_EVENT_COLUMNS = {"first_entry": "first_entry_step", "first_exit": "first_exit_step",
                       "first_suspension": "first_suspension_step"}


def event_status(scenario: Scenario) -> str:
    """The status a ``member_at`` / ``status_at`` question asks about."""
    return "member" if scenario.event.kind == "member_at" else str(scenario.event.status)


def event_steps(scenario: Scenario, outcomes: pd.DataFrame) -> Array:
    """Step of the scenario's event per replicate (-1 if it did not happen in the horizon).

    First events read their step column; ``member_at`` / ``status_at`` count at the event's
    date where the status then equals the asked one.
    """
    kind = scenario.event.kind
    if kind in FIRST_EVENT_COLUMNS:
        return outcomes[FIRST_EVENT_COLUMNS[kind]].to_numpy()
    step = scenario.axis.step_of(Quarter.parse(scenario.event.date))
    code = STATUS_CODES[event_status(scenario)]
    return np.where(outcomes["status_at_event"].to_numpy() == code, step, -1)


@dataclass
class EventCounts:
    """Replicates per outer draw and step of the scenario's event: all the headline estimates need.

    ``by_step[g, s]`` (shape (draws, steps + 1), int64) counts the replicates of draw
    ``draws[g]`` (sorted ids) whose event came at step ``s`` (1..T), column 0 those without it
    in the horizon. A few hundred kB whatever the number of replicates; add two to merge batches.
    """

    draws: Array
    by_step: Array

    @classmethod
    def of(cls, scenario: Scenario, outcomes: pd.DataFrame) -> "EventCounts":
        """From a replicate table (``draw`` and the event's columns)."""
        ids, g = np.unique(outcomes["draw"].to_numpy(), return_inverse=True)
        steps = np.maximum(event_steps(scenario, outcomes), 0).astype(np.int64)
        width = scenario.axis.n_steps + 1
        by_step = np.bincount(g * width + steps, minlength=len(ids) * width).reshape(len(ids), width)
        return cls(ids, by_step.astype(np.int64))

    def __add__(self, other: "EventCounts") -> "EventCounts":
        ids, inverse = np.unique(np.concatenate([self.draws, other.draws]), return_inverse=True)
        by_step = np.zeros((len(ids), self.by_step.shape[1]), np.int64)
        np.add.at(by_step, inverse, np.concatenate([self.by_step, other.by_step]))
        return EventCounts(ids, by_step)


@dataclass
class BatchResult:
    """What one ``simulate`` call returns.

    Attributes:
        replicates: one row per replicate: outcomes, final state, mean driver contributions
            and the parameters (column names are prior paths).
        totals: per-quarter sums for the aggregates.
        trace: long table (step, quarter, replicate, series, value), only with ``trace=True``.
    """

    replicates: pd.DataFrame
    totals: QuarterTotals
    trace: pd.DataFrame | None = None


def gap_bin_edges(scenario: Scenario) -> Array:
    lo, hi, n = scenario.monte_carlo.dU_bins
    return np.linspace(lo, hi, int(n) + 1)


def _empty_by_draw(draw: Array, T: int) -> tuple[Array, Array]:
    """Zeroed per-draw member counts (T, u) and the batch's sorted draw ids (u,)."""
    ids = np.unique(draw)
    return np.zeros((T, len(ids)), np.int64), ids


def simulate(scenario: Scenario, params: pd.DataFrame, seed: int, trace: bool = False,
             outcomes_only: bool = False) -> BatchResult:
    """Run the model over one parameter matrix (one row per replicate).

    ``params`` has a column per prior path (see ``priors.replicate_params``), optionally ``draw``;
    its index is the replicates' global numbers, which select their random numbers. With
    ``outcomes_only`` the replicate table has only ``OUTCOME_COLUMNS`` (and ``status_at_event``):
    what ``EventCounts`` needs, without the final state, record and parameters.
    """
    model = AlignmentModel(scenario, params, seed)
    axis = scenario.axis
    T, n = axis.n_steps, len(params)
    refs = list(variable_refs(scenario))
    drivers = list(scenario.drivers)
    edges = gap_bin_edges(scenario)
    totals = QuarterTotals(n, np.zeros(T, np.int64), np.zeros(T, np.int64),
                           np.zeros((T, len(edges) + 1), np.int64),
                           np.zeros((T, len(drivers)), np.int64), np.zeros((T, len(refs)), np.int64),
                           *_empty_by_draw(model.draw, T))
    draw_ids, draw_local = np.unique(model.draw, return_inverse=True)
    contrib_sum = np.zeros((len(drivers), n))
    event_status = None
    event_step = axis.step_of(Quarter.parse(scenario.event.date)) if scenario.event.date else None
    rows: list[pd.DataFrame] = []
    shock_log = ShockLog(list(scenario.shocks), n)
    record = recorded_values(scenario)
    recorded: dict[str, Array] = {}
    focal = model.focal
    values = {v.ref: v for a in model.agents for v in a.variables}
    var_rows = np.array([model.row_of[r] for r in refs], dtype=np.intp)  # totals in ``refs`` order
    draw_local = draw_local.astype(np.intp)
    model.check_finite = False  # record_quarter reads every variable and the gap anyway: it checks them
    for step in range(1, T + 1):
        model.step()
        finite = record_quarter(step - 1, step, focal.member, draw_local, focal.gap, edges, focal.contributions,
                                model.state_matrix, var_rows, model.shock_matrix, totals.member,
                                totals.member_by_draw, totals.gap, totals.gap_hist, totals.contributions,
                                totals.variables, contrib_sum, shock_log.first, shock_log.count, shock_log.bits,
                                not outcomes_only)
        if not finite:
            model._check_finite()  # raises, naming the first non-finite value
        for ref in record.get(step, ()):
            recorded[f"at.{step}.{ref}"] = values[ref].value.astype(np.float32)
        if step == event_step:
            event_status = focal.status.copy()
        if trace:
            rows.append(_trace_rows(model, step, refs, drivers, values))
    columns: dict[str, np.ndarray] = {
        "draw": model.draw,
        "first_entry_step": focal.first_entry,
        "first_exit_step": focal.first_exit,
        "first_suspension_step": focal.first_suspension,
        "switches": focal.switches,
        "member_end": focal.member,
        "gap_end": focal.gap,
    }
    if event_status is not None:
        columns["status_at_event"] = event_status  # 0 out, 1 member, 2 suspended (agents.STATUS_CODES)
    if outcomes_only:
        columns.pop("gap_end")
        release_model(model)
        return BatchResult(pd.DataFrame(columns, index=params.index), totals)
    columns.update(shock_log.columns())
    columns.update(recorded)
    columns.update({f"final.{r}": values[r].value for r in refs})
    columns.update({f"contrib.{name}": contrib_sum[k] / T for k, name in enumerate(drivers)})
    if model.strategy is not None:
        totals.choices, totals.choices_by_tilt = model.strategy.counts, model.strategy.tilt_counts
    out = pd.DataFrame(columns, index=params.index)  # built once: no per-column inserts
    param_cols = params.drop(columns=["draw"], errors="ignore")
    out = pd.concat([out, param_cols.add_prefix("param.")], axis=1)
    release_model(model)
    return BatchResult(out, totals, pd.concat(rows, ignore_index=True) if trace else None)


class ShockLog:
    """Which shocks fired in which quarter, per replicate, in 12 bytes per shock.

    Columns (shape (replicates,) each): ``shock_first.K`` (int16, first step it fired, -1 if
    never), ``shock_count.K`` (int16, quarters it fired) and ``shock_bits.K`` (uint64, bit
    ``t - 1`` set if it fired at step ``t``, for steps 1..64). Per-replicate, so the record does
    not depend on the batch size; 8 shocks take 96 MB at 10^6 replicates. Held as (shocks,
    replicates) arrays ``first``, ``count`` and ``bits``, which ``kernels.record_quarter`` fills.
    """

    BITS = 64

    def __init__(self, shocks: list[str], n: int) -> None:
        self.names = list(shocks)
        self.first = np.full((len(shocks), n), -1, np.int16)
        self.count = np.zeros((len(shocks), n), np.int16)
        self.bits = np.zeros((len(shocks), n), np.uint64)

    def add(self, step: int, fired: dict[str, Array]) -> None:
        """Record one quarter's shocks (``fired``: name -> (replicates,) bool), in numpy."""
        for k, name in enumerate(self.names):
            f = fired[name]
            self.first[k][(self.first[k] < 0) & f] = step
            self.count[k] += f
            if step <= self.BITS:
                self.bits[k] |= f.astype(np.uint64) << np.uint64(step - 1)

    def columns(self) -> dict[str, Array]:
        out: dict[str, Array] = {}
        for k, name in enumerate(self.names):
            out[f"shock_first.{name}"] = self.first[k]
            out[f"shock_count.{name}"] = self.count[k]
            out[f"shock_bits.{name}"] = self.bits[k]
        return out


SIGNPOST_WINDOWS = (4, 8)  # quarters ahead of the forecast's origin that signposts look at


def forecast_origin(scenario: Scenario) -> int:
    """First step of the forecast proper: after ``observed.through`` when the event is known not
    to have happened by then, else step 1."""
    obs = scenario.observed
    if obs is not None and not obs.occurred:
        return min(scenario.axis.step_of(Quarter.parse(obs.through)) + 1, scenario.axis.n_steps)
    return 1


def recorded_values(scenario: Scenario) -> dict[int, list[str]]:
    """Variable values to keep per replicate (step -> refs), as columns ``at.STEP.REF``:

    - each driver whose initial value is measured (an observable, sourced indicator) at the end
      of each signpost window (``SIGNPOST_WINDOWS`` quarters after ``forecast_origin``);
    - with ``observed.observations``: every variable at ``observed.through`` (the state the news
      leads to), and each driver named by an indicator observation, at its quarter.
    """
    obs = scenario.observed
    out: dict[int, list[str]] = {}
    origin = forecast_origin(scenario)
    for w in SIGNPOST_WINDOWS:
        step = origin + w - 1
        if step <= scenario.axis.n_steps:
            out[step] = [f"drivers.{k}" for k, d in scenario.drivers.items() if d.initial.basis == "measured"]
    if obs is None:
        return out
    if obs.observations:  # a conditioned run keeps its whole state at the last observed quarter
        step = min(scenario.axis.step_of(Quarter.parse(obs.through)), scenario.axis.n_steps)
        refs = out.setdefault(step, [])
        refs += [r for r in variable_refs(scenario) if r not in refs]
    for ob in obs.observations:
        if ob.kind == "indicator":
            refs = out.setdefault(scenario.axis.step_of(Quarter.parse(ob.date)), [])
            if f"drivers.{ob.driver}" not in refs:
                refs.append(f"drivers.{ob.driver}")
    return out


def record_columns(table: pd.DataFrame) -> list[str]:
    """The shock record and recorded values among a replicate table's columns."""
    return [c for c in table.columns if c.startswith(("shock_first.", "shock_count.", "shock_bits.", "at."))]


def release_model(model: AlignmentModel) -> None:
    """Let a finished model be freed.

    Mesa 3.3 keeps every Model that ever held an agent as a key of the class-level
    ``mesa.Agent._ids`` (a defaultdict of id counters), so without this each batch's model and
    all its arrays would stay in memory until the process ends (memory grew ~13 MB per batch).
    The model and its agents also refer to each other (agent.model, the model's agent registry,
    ``model.focal``, ``model.strategy``): such cycles wait for Python's cyclic collector, which
    ran only every ~20 batches, so a worker's memory grew by ~10 MB a batch until it did
    (measured: 264 -> 487 MB over 20 batches of 10^4). Removing the agents and dropping the
    model's attributes breaks the cycles, so reference counting frees a batch at once. The
    model is unusable afterwards.
    """
    import mesa

    mesa.Agent._ids.pop(model, None)
    model.remove_all_agents()
    vars(model).clear()


def _trace_rows(model: AlignmentModel, step: int, refs: list[str], drivers: list[str],
                values: dict) -> pd.DataFrame:
    focal = model.focal
    series = {r: values[r].value for r in refs}
    series.update({f"contrib.{d}": focal.contributions[k] for k, d in enumerate(drivers)})
    series["gap"] = focal.gap
    series["member"] = focal.member.astype(float)
    series["status"] = focal.status.astype(float)
    series.update({f"shock.{k}": v.astype(float) for k, v in model.shocks.items()})
    n = model.n
    return pd.DataFrame({
        "step": step,
        "quarter": str(model.axis.quarter_of(step)),
        "replicate": np.tile(np.arange(model.first_replicate, model.first_replicate + n), len(series)),
        "series": np.repeat(list(series), n),
        "value": np.concatenate([np.asarray(v, dtype=float) for v in series.values()]),
    })


def batch_bounds(replicates: int, batch_size: int) -> list[tuple[int, int]]:
    return [(i, min(i + batch_size, replicates)) for i in range(0, replicates, batch_size)]


OUTCOME_COLUMNS = ["draw", "first_entry_step", "first_exit_step", "first_suspension_step", "switches",
                   "member_end"]
EVENT_COLUMNS = ["status_at_event"]  # present only when the question is a status at a date


@dataclass
class EnsembleResult:
    """All that estimates need from a run: compact per-replicate outcomes and quarter totals."""

    scenario: Scenario
    seed: int
    draws: pd.DataFrame
    outcomes: pd.DataFrame | None
    totals: QuarterTotals
    replicates_table: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)
    counts: EventCounts | None = None  # kept instead of ``outcomes`` by run_ensemble(keep_outcomes=False)

    @property
    def replicates(self) -> int:
        return len(self.outcomes) if self.outcomes is not None else int(self.counts.by_step.sum())

    def event_counts(self) -> EventCounts:
        """The event's counts per draw and step (from ``outcomes`` unless only counts were kept)."""
        return self.counts if self.counts is not None else EventCounts.of(self.scenario, self.outcomes)


def iter_batches(scenario: Scenario, draws: pd.DataFrame, replicates: int, seed: int,
                 batch_size: int, skip: set[int] | None = None) -> Iterator[tuple[int, int, int]]:
    for k, (start, stop) in enumerate(batch_bounds(replicates, batch_size)):
        if skip and k in skip:
            continue
        yield k, start, stop


def run_batch(scenario: Scenario, draws: pd.DataFrame, replicates: int, seed: int,
              start: int, stop: int, outcomes_only: bool = False) -> BatchResult:
    """One batch of an ensemble: replicates ``start..stop-1`` (``outcomes_only``: see ``simulate``)."""
    return simulate(scenario, replicate_params(draws, replicates, start, stop), seed, outcomes_only=outcomes_only)


def run_ensemble(scenario: Scenario, replicates: int | None = None, seed: int | None = None,
                 draws: int | None = None, batch_size: int | None = None,
                 keep_table: bool = True,
                 on_batch: Callable[[int, BatchResult], None] | None = None,
                 map_batches: Callable | None = None,
                 done: dict[int, BatchResult] | None = None, cap_draws: bool = True,
                 keep_outcomes: bool = True) -> EnsembleResult:
    """Outer prior draws x inner replicates, in batches; the result does not depend on batch size.

    Args:
        keep_table: keep every batch's full replicate table (``replicates_table``).
        keep_outcomes: keep the per-replicate outcomes and shock record (``outcomes``, 165 bytes
            a replicate for the base scenario); False keeps only ``EventCounts`` (per draw and
            step), enough for ``estimates.summarise``, so memory does not grow with replicates.
        on_batch: called with (batch number, result) as each batch completes (e.g. to save it).
        map_batches: optional parallel map
            ``f(scenario, draw_table, replicates, seed, tasks) -> iterator of (k, BatchResult)``
            yielding in any order; tasks are ``(k, start, stop)``. When nothing but counts is
            kept (no table, no outcomes, no ``on_batch``) it is also given ``outcomes_only=True``,
            to pass on to ``run_batch``. The default runs batches one
            after another in this process.
        done: batches already computed (e.g. loaded when resuming), by batch number; they are
            not run again and ``on_batch`` is not called for them.
        cap_draws: use at most ``replicates`` outer draws (default). A run that will grow
            (``precision``) keeps its full draw table so earlier replicates keep their draws.
    """
    mc = scenario.monte_carlo
    replicates = mc.replicates if replicates is None else int(replicates)
    seed = mc.seed if seed is None else int(seed)
    n_draws = mc.draws if draws is None else int(draws)
    if cap_draws:
        n_draws = min(n_draws, replicates)
    batch_size = mc.batch_size if batch_size is None else int(batch_size)
    draw_table = sample_draws(scenario, seed, n_draws)
    done = done or {}
    tasks = [(k, a, b) for k, a, b in iter_batches(scenario, draw_table, replicates, seed, batch_size, set(done))]
    # counts only, nothing saved: batches return their outcome columns only (less to build and to
    # send back from workers); a map_batches then gets outcomes_only=True
    slim = {"outcomes_only": True} if not (keep_table or keep_outcomes or on_batch) else {}
    if map_batches is None:
        results = ((k, run_batch(scenario, draw_table, replicates, seed, a, b, **slim)) for k, a, b in tasks)
    else:
        results = map_batches(scenario, draw_table, replicates, seed, tasks, **slim)
    parts: dict[int, pd.DataFrame] = {}
    tables: dict[int, pd.DataFrame] = {}
    totals: QuarterTotals | None = None
    counts: EventCounts | None = None
    def completed():
        yield from done.items()
        for k, res in results:
            if on_batch is not None:
                on_batch(k, res)
            yield k, res

    for k, res in completed():
        totals = res.totals if totals is None else totals + res.totals
        if keep_outcomes:
            # .copy(): under pandas copy-on-write a column selection would keep the whole batch alive
            keep = OUTCOME_COLUMNS + [c for c in EVENT_COLUMNS if c in res.replicates]
            parts[k] = res.replicates[keep + record_columns(res.replicates)].copy()
        else:
            batch_counts = EventCounts.of(scenario, res.replicates)
            counts = batch_counts if counts is None else counts + batch_counts
        if keep_table:
            tables[k] = res.replicates
    if totals is None:
        raise ValueError("an ensemble needs at least one replicate")
    outcomes = pd.concat([parts[k] for k in sorted(parts)]) if keep_outcomes else None
    table = pd.concat([tables[k] for k in sorted(tables)]) if keep_table else None
    return EnsembleResult(scenario, seed, draw_table, outcomes, totals, table, counts=counts)
