"""Batches of replicates through the model: ``simulate`` for one parameter matrix, ``run_ensemble``
for outer prior draws x inner replicates. Results are tidy pandas tables.

Per-quarter means are accumulated as integers (values rounded to 2**-32), so the totals are the
same whatever the batch size or the order batches finish in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.scenario import Scenario, variable_refs
from alignsim.scenario.timeaxis import Quarter

Array = np.ndarray
FIXED_POINT = 2.0**32


def _fixed(x: Array) -> Array:
    return np.round(np.asarray(x, dtype=np.float64) * FIXED_POINT).astype(np.int64)


class FixedSum:
    """Exact sums of values rounded to multiples of 2**-32, reusing two scratch arrays.

    ``FixedSum(n)(x)`` equals ``int(_fixed(x).sum())`` for any float array ``x`` of length ``n``
    (``np.round`` with no decimals is ``np.rint``), without allocating per call.
    """

    def __init__(self, n: int) -> None:
        self._f = np.empty(n, dtype=np.float64)
        self._i = np.empty(n, dtype=np.int64)

    def __call__(self, x: Array) -> int:
        np.multiply(x, FIXED_POINT, out=self._f)
        np.rint(self._f, out=self._f)
        np.copyto(self._i, self._f, casting="unsafe")
        return int(self._i.sum())


class FixedRowSums:
    """``FixedSum`` for every row of a (rows, n) matrix at once: shape (rows,) int64 sums.

    Row ``r`` of the result equals ``FixedSum(n)(x[r])``: the rounding is element by element and
    integer sums do not depend on the order of addition. With ``bound`` (every |x| <= bound, e.g.
    clipped variables) and n * bound * 2**32 < 2**53, the rounded values are summed as doubles:
    every partial sum is then an integer below 2**53, exact in any order, so the integer cast of
    each element is skipped.
    """

    def __init__(self, rows: int, n: int, bound: float | None = None) -> None:
        self._f = np.empty((rows, n), dtype=np.float64)
        self._exact_in_float = bound is not None and n * bound * FIXED_POINT < 2.0**53
        self._i = None if self._exact_in_float else np.empty((rows, n), dtype=np.int64)

    def __call__(self, x: Array) -> Array:
        np.multiply(x, FIXED_POINT, out=self._f)
        np.rint(self._f, out=self._f)
        if self._exact_in_float:
            return self._f.sum(axis=1).astype(np.int64)
        np.copyto(self._i, self._f, casting="unsafe")
        return self._i.sum(axis=1)


def _bin_index(x: Array, edges: Array) -> Array:
    """``np.searchsorted(edges, x, side="right")`` for evenly spaced ``edges``, in O(n).

    The arithmetic guess is at most one bin off near an edge; comparing with the edges
    themselves corrects it, so the result is exactly searchsorted's.
    """
    nb = len(edges) - 1
    guess = np.floor((x - edges[0]) * (nb / (edges[-1] - edges[0]))) + 1.0
    idx = np.clip(np.nan_to_num(guess, nan=nb + 1.0), 0, nb + 1).astype(np.intp)
    padded = np.concatenate([[-np.inf], edges, [np.inf]])  # padded[i] = edges[i - 1]
    idx -= x < padded[idx]          # guess too high: x below the bin's lower edge
    idx += x >= padded[idx + 1]     # guess too low: x at or above the bin's upper edge
    return idx


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


def simulate(scenario: Scenario, params: pd.DataFrame, seed: int, trace: bool = False) -> BatchResult:
    """Run the model over one parameter matrix (one row per replicate).

    ``params`` has a column per prior path (see ``priors.replicate_params``), optionally ``draw``;
    its index is the replicates' global numbers, which select their random numbers.
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
    fixed_sum = FixedSum(n)
    state = model.state_matrix[:model.n_variables]  # rows in the model's order; totals in ``refs`` order
    var_order = np.array([model.row_of[r] for r in refs], dtype=np.intp)
    bound = max((max(abs(lo), abs(hi)) for v in model.variables for lo, hi in [v.bounds]), default=0.0)
    variable_sums = FixedRowSums(len(state), n, bound)
    contribution_sums = FixedRowSums(len(drivers), n)
    member_f = np.empty(n)
    for step in range(1, T + 1):
        model.step()
        t = step - 1
        totals.member[t] = int(focal.member.sum())
        np.copyto(member_f, focal.member)
        totals.member_by_draw[t] = np.bincount(draw_local, weights=member_f, minlength=len(draw_ids))
        totals.gap[t] = fixed_sum(focal.gap)
        totals.gap_hist[t] = np.bincount(_bin_index(focal.gap, edges), minlength=len(edges) + 1)
        if drivers:
            totals.contributions[t] = contribution_sums(focal.contributions)
            contrib_sum += focal.contributions
        if refs:
            totals.variables[t] = variable_sums(state)[var_order]
        shock_log.add(step, model.shocks)
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
    not depend on the batch size; 8 shocks take 96 MB at 10^6 replicates.
    """

    BITS = 64

    def __init__(self, shocks: list[str], n: int) -> None:
        self.first = {k: np.full(n, -1, np.int16) for k in shocks}
        self.count = {k: np.zeros(n, np.int16) for k in shocks}
        self.bits = {k: np.zeros(n, np.uint64) for k in shocks}

    def add(self, step: int, fired: dict[str, Array]) -> None:
        for k, f in fired.items():
            self.first[k][(self.first[k] < 0) & f] = step
            self.count[k] += f
            if step <= self.BITS:
                self.bits[k] |= f.astype(np.uint64) << np.uint64(step - 1)

    def columns(self) -> dict[str, Array]:
        out: dict[str, Array] = {}
        for k in self.first:
            out[f"shock_first.{k}"] = self.first[k]
            out[f"shock_count.{k}"] = self.count[k]
            out[f"shock_bits.{k}"] = self.bits[k]
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
    """
    import mesa

    mesa.Agent._ids.pop(model, None)


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
    outcomes: pd.DataFrame
    totals: QuarterTotals
    replicates_table: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)

    @property
    def replicates(self) -> int:
        return len(self.outcomes)


def iter_batches(scenario: Scenario, draws: pd.DataFrame, replicates: int, seed: int,
                 batch_size: int, skip: set[int] | None = None) -> Iterator[tuple[int, int, int]]:
    for k, (start, stop) in enumerate(batch_bounds(replicates, batch_size)):
        if skip and k in skip:
            continue
        yield k, start, stop


def run_batch(scenario: Scenario, draws: pd.DataFrame, replicates: int, seed: int,
              start: int, stop: int) -> BatchResult:
    """One batch of an ensemble: replicates ``start..stop-1``."""
    return simulate(scenario, replicate_params(draws, replicates, start, stop), seed)


def run_ensemble(scenario: Scenario, replicates: int | None = None, seed: int | None = None,
                 draws: int | None = None, batch_size: int | None = None,
                 keep_table: bool = True,
                 on_batch: Callable[[int, BatchResult], None] | None = None,
                 map_batches: Callable | None = None,
                 done: dict[int, BatchResult] | None = None, cap_draws: bool = True) -> EnsembleResult:
    """Outer prior draws x inner replicates, in batches; the result does not depend on batch size.

    Args:
        on_batch: called with (batch number, result) as each batch completes (e.g. to save it).
        map_batches: optional parallel map
            ``f(scenario, draw_table, replicates, seed, tasks) -> iterator of (k, BatchResult)``
            yielding in any order; tasks are ``(k, start, stop)``. The default runs batches one
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
    if map_batches is None:
        results = ((k, run_batch(scenario, draw_table, replicates, seed, a, b)) for k, a, b in tasks)
    else:
        results = map_batches(scenario, draw_table, replicates, seed, tasks)
    parts: dict[int, pd.DataFrame] = {}
    tables: dict[int, pd.DataFrame] = {}
    totals: QuarterTotals | None = None
    def completed():
        yield from done.items()
        for k, res in results:
            if on_batch is not None:
                on_batch(k, res)
            yield k, res

    for k, res in completed():
        totals = res.totals if totals is None else totals + res.totals
        # .copy(): under pandas copy-on-write a column selection would keep the whole batch alive
        keep = OUTCOME_COLUMNS + [c for c in EVENT_COLUMNS if c in res.replicates]
        parts[k] = res.replicates[keep + record_columns(res.replicates)].copy()
        if keep_table:
            tables[k] = res.replicates
    outcomes = pd.concat([parts[k] for k in sorted(parts)])
    table = pd.concat([tables[k] for k in sorted(tables)]) if keep_table else None
    if totals is None:
        raise ValueError("an ensemble needs at least one replicate")
    return EnsembleResult(scenario, seed, draw_table, outcomes, totals, table)
