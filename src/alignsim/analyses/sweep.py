"""Parameter sweeps: the event probability at parameter points that share common random numbers.

Every point is evaluated by ``ensemble.simulate`` with the same seed and the same replicate
indices ``0..R-1``; only the swept parameter column(s) change (a prior path swept to a value
becomes a fixed prior, as with ``--set``). The model's own randomness is therefore identical at
every point, so differences between points come from the parameters, not from noise, and a
rerun with the same seed gives the same table whatever the number of workers.

Shapes: a *point* is a mapping ``{prior path: value}``; ``hits`` is a bool array of shape
``(R,)`` (the event happened by ``by_step`` in replicate ``r``); tables are tidy, one row per
point with the parameter values as columns.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from alignsim.engine.ensemble import simulate
from alignsim.engine.parallel import LocalPool
from alignsim.outputs.figures import new_figure
from alignsim.errors import ConfigError
from alignsim.engine.priors import draw_of_replicate
from alignsim.engine.estimates import clustered_interval, happened_by, standard_error, wilson
from alignsim.engine.priors import point_params, prior_paths, replicate_params, sample_draws
from alignsim.scenario import (Scenario, apply_override, find_seeds, load_document, read_yaml,
                               validate_document, validate_model)
from alignsim.scenario.timeaxis import Quarter

Others = Literal["prior", "median"]
CHUNK_POINTS = 100  # points per task sent to a worker, at most (more tasks only for small sweeps)
MAX_TASKS = 10      # tasks a worker process runs before it is replaced


# ---------------------------------------------------------------- evaluating points

def base_params(scenario: Scenario, replicates: int, seed: int, others: Others = "prior") -> pd.DataFrame:
    """The parameter matrix shared by every point: ``replicates`` rows indexed ``0..R-1``.

    ``others="prior"``: every prior sampled as in a forecast run (outer draws, replicate ``i``
    takes draw ``i mod draws``), so a point's probability averages over the other priors.
    ``others="median"``: every prior at its median.
    """
    if others == "median":
        frame = point_params(scenario, replicates)
        frame.index = pd.RangeIndex(0, replicates, name="replicate")
        return frame
    n_draws = min(scenario.monte_carlo.draws, replicates)
    return replicate_params(sample_draws(scenario, seed, n_draws), replicates, 0, replicates)


def evaluate_point(scenario: Scenario, base: pd.DataFrame, seed: int, values: dict[str, float],
                   by_step: int | None = None, batch_size: int | None = None) -> np.ndarray:
    """(R,) bool hits at one point: ``base`` with the columns in ``values`` set, same seed."""
    params = base.assign(**{path: float(value) for path, value in values.items()})
    size = batch_size or scenario.monte_carlo.batch_size
    parts = [happened_by(scenario, simulate(scenario, params.iloc[a:a + size], seed).replicates, by_step)
             for a in range(0, len(params), size)]
    return np.concatenate(parts)


Task = tuple[Scenario, dict[str, float]]


def _run_chunk(seed: int, replicates: int, others: Others, by_step: int | None,
               tasks: list[Task]) -> list[np.ndarray]:
    """Evaluate a list of (scenario, values) points; the base matrix is built once per scenario."""
    bases: dict[int, pd.DataFrame] = {}
    out = []
    for scenario, values in tasks:
        if id(scenario) not in bases:
            bases[id(scenario)] = base_params(scenario, replicates, seed, others)
        out.append(evaluate_point(scenario, bases[id(scenario)], seed, values, by_step))
    return out


def _timed(fn, args: tuple, chunk):
    """``(fn(*args, chunk), CPU seconds it took in the process that ran it)``."""
    started = time.process_time()
    result = fn(*args, chunk)
    return result, time.process_time() - started


class PointRunner:
    """Evaluates many points, in this process (``workers=1``) or in the package's process pool.

    With ``workers > 1`` the points go, in chunks, to one ``engine.parallel.LocalPool`` created
    on first use and kept until ``close()``, so interpreter start-up and the Mesa import are
    paid once per worker; a worker is replaced after ``MAX_TASKS`` chunks (memory stays
    bounded). ``worker_cpu_seconds`` sums the CPU time of the tasks run in workers (add this
    process's own ``time.process_time()`` for the whole; neither depends on other load). Results come back in the order of the points; each point's numbers do not depend
    on the worker count or chunking.
    """

    def __init__(self, workers: int = 1) -> None:
        if int(workers) < 1:
            raise ConfigError("workers", workers, "a whole number >= 1")
        self.workers = int(workers)
        self._pool: LocalPool | None = None
        self._used = 0
        self.worker_cpu_seconds = 0.0  # CPU time of the tasks run in worker processes so far

    def __enter__(self) -> "PointRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _executor(self) -> LocalPool:
        if self._pool is None:
            self._pool = LocalPool(self.workers)
            self._used = 0
        return self._pool

    def hits(self, tasks: Sequence[Task], seed: int, replicates: int, others: Others = "prior",
             by_step: int | None = None) -> np.ndarray:
        """(P, R) bool: hits of each of the P points over the same R replicates."""
        tasks = list(tasks)
        if not tasks:
            return np.zeros((0, replicates), dtype=bool)
        if self.workers == 1 or len(tasks) == 1:
            rows = _run_chunk(seed, replicates, others, by_step, tasks)
        else:
            n_chunks = min(len(tasks), max(self.workers * 8, -(-len(tasks) // CHUNK_POINTS)))
            bounds = np.linspace(0, len(tasks), n_chunks + 1).astype(int)
            chunks = [tasks[a:b] for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
            rows = [row for part in self.map(_run_chunk, (seed, replicates, others, by_step), chunks) for row in part]
        return np.vstack(rows)

    def map(self, fn, args: tuple, chunks: Sequence) -> list:
        """``[fn(*args, chunk) for chunk in chunks]``, in order; in the pool when ``workers > 1``.

        ``fn`` must be importable by name. Workers are replaced after about ``MAX_TASKS`` chunks
        each, so memory that a long analysis leaves behind in a worker process stays bounded.
        """
        chunks = list(chunks)
        if self.workers == 1 or len(chunks) == 1:
            return [fn(*args, c) for c in chunks]
        timed = []
        wave = self.workers * MAX_TASKS
        for w in range(0, len(chunks), wave):
            pool = self._executor()
            if self._used + len(chunks[w:w + wave]) > wave:
                pool.renew()
                self._used = 0
            futures = [pool.submit(_timed, fn, args, c) for c in chunks[w:w + wave]]
            timed += [f.result() for f in futures]
            self._used += len(futures)
        self.worker_cpu_seconds += sum(t for _, t in timed)
        return [r for r, _ in timed]


def probability_table(hits: np.ndarray, draw: np.ndarray | None = None) -> pd.DataFrame:
    """Per point (row of ``hits``): replicates, events, estimate, 95% interval, se.

    ``draw``: each replicate's outer parameter draw (shape (R,)); replicates of one draw are
    not independent, so the interval is the cluster-robust one of ``estimates``. Without it
    (every replicate with the same parameters) the replicates are independent: plain Wilson.
    """
    n = hits.shape[1]
    k = hits.sum(axis=1)
    if draw is None:
        low, high = wilson(k, n)
        est = k / n
        return pd.DataFrame({"replicates": n, "events": k, "estimate": est, "ci_low": low, "ci_high": high,
                             "se": standard_error(est, n)})
    ids, g = np.unique(draw, return_inverse=True)
    k_g = np.stack([np.bincount(g, weights=row, minlength=len(ids)) for row in hits.astype(float)], axis=1)
    ci = clustered_interval(k_g, np.bincount(g, minlength=len(ids)))
    return pd.DataFrame({"replicates": n, "events": k, "estimate": ci["estimate"], "ci_low": ci["ci_low"],
                         "ci_high": ci["ci_high"], "se": ci["se"]})


# ---------------------------------------------------------------- sweep files

class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Spec):
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    n: int = Field(ge=2, le=1000)

    @model_validator(mode="after")
    def _order(self) -> "Range":
        if not self.low < self.high:
            raise ValueError(f"low < high, got low={self.low!r}, high={self.high!r}")
        return self


class Axis(_Spec):
    """One swept value: its config path and the values (a list, or an evenly spaced range)."""

    path: str
    values: list[float] | None = None
    range: Range | None = None

    @model_validator(mode="after")
    def _one(self) -> "Axis":
        if (self.values is None) == (self.range is None):
            raise ValueError("either 'values' (a list) or 'range' ({low, high, n})")
        if self.values is not None and not 1 <= len(self.values) <= 1000:
            raise ValueError("between 1 and 1000 values")
        if self.values is not None and not all(np.isfinite(self.values)):
            raise ValueError("finite numbers")
        return self

    def points(self) -> list[float]:
        if self.values is not None:
            return [float(v) for v in self.values]
        r = self.range
        return [float(v) for v in np.linspace(r.low, r.high, r.n)]  # type: ignore[union-attr]


class SweepSpec(_Spec):
    """A sweep file (``config/sweeps/*.yaml``).

    ``mode: grid`` evaluates every combination of the parameters' values (one parameter: a line,
    two: a heatmap); ``mode: oat`` sweeps each parameter in turn, the others left as they are.
    The numbers in a sweep file are analysis settings: ``basis: setting`` and a ``note``.
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    scenario: str
    set: list[str] = []
    mode: Literal["grid", "oat"] = "grid"
    parameters: list[Axis] = Field(min_length=1, max_length=20)
    replicates: int = Field(4000, ge=10, le=10_000_000)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    others: Others = "prior"
    by: str | None = None
    workers: int = Field(1, ge=1, le=256)
    basis: Literal["setting"]
    note: str

    def check(self) -> "SweepSpec":
        """Cross-field checks, raising ``ConfigError`` with the field's path."""
        paths = [a.path for a in self.parameters]
        if self.mode == "grid" and len(paths) > 2:
            raise ConfigError("parameters", paths, "at most 2 parameters in mode 'grid' (use mode 'oat' for more)")
        if len(set(paths)) != len(paths):
            raise ConfigError("parameters", paths, "each path once")
        if self.by is not None:
            try:
                Quarter.parse(self.by)
            except ValueError as exc:
                raise ConfigError("by", self.by, str(exc)) from None
        return self


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep file; errors name the field, the value and what was expected."""
    return validate_model(SweepSpec, read_yaml(Path(path), "sweep")).check()


class Sweep:
    """A sweep bound to its scenario: validates every point before anything runs."""

    def __init__(self, spec: SweepSpec, scenario_path: str | Path) -> None:
        from alignsim.scenario.evidence import check_scenario_evidence

        self.spec = spec.check()
        self.scenario_path = Path(scenario_path)
        self.doc = load_document(self.scenario_path, spec.set)
        self.scenario = validate_document(copy.deepcopy(self.doc))
        check_scenario_evidence(self.scenario, find_seeds(self.scenario_path, self.doc))
        self.seed = self.scenario.monte_carlo.seed if spec.seed is None else spec.seed
        self.by_step = None
        if spec.by is not None:
            axis = self.scenario.axis
            q = Quarter.parse(spec.by)
            if not axis.start <= q <= axis.end:
                raise ConfigError("by", spec.by, f"a quarter within the horizon {self.scenario.start}..{self.scenario.end}")
            self.by_step = axis.step_of(q)
        self.priors = set(prior_paths(self.scenario))
        self.points = self._points()
        self.tasks = [self._task(p) for p in self.points]

    @classmethod
    def from_file(cls, path: str | Path) -> "Sweep":
        spec = load_sweep(path)
        return cls(spec, Path(path).parent / spec.scenario)

    def _points(self) -> list[dict[str, float]]:
        axes = self.spec.parameters
        if self.spec.mode == "grid":
            return [dict(zip([a.path for a in axes], combo)) for combo in itertools.product(*[a.points() for a in axes])]
        return [{a.path: v} for a in axes for v in a.points()]

    def _task(self, point: dict[str, float]) -> Task:
        """Validate the point as ``--set`` overrides; prior paths become parameter columns."""
        doc = copy.deepcopy(self.doc)
        for path, value in point.items():
            doc = apply_override(doc, f"{path}={value!r}")
        scenario = validate_document(doc)
        if all(p in self.priors for p in point):
            return self.scenario, dict(point)  # same scenario; only the columns change
        if set(prior_paths(scenario)) != self.priors:
            raise ConfigError(next(iter(point)), point, "a value that keeps the scenario's set of priors")
        return scenario, {p: v for p, v in point.items() if p in self.priors}

    def run(self, runner: PointRunner | None = None, replicates: int | None = None) -> pd.DataFrame:
        """The tidy table: one row per point, the parameter values, then the probability."""
        reps = self.spec.replicates if replicates is None else int(replicates)
        own = runner is None
        runner = runner or PointRunner(self.spec.workers)
        try:
            hits = runner.hits(self.tasks, self.seed, reps, self.spec.others, self.by_step)
        finally:
            if own:
                runner.close()
        draw = None
        if self.spec.others == "prior":  # as base_params: replicate i takes draw i mod draws
            draw = draw_of_replicate(np.arange(reps), reps, min(self.scenario.monte_carlo.draws, reps))
        probs = probability_table(hits, draw)
        if self.spec.mode == "grid":
            values = pd.DataFrame(self.points)
        else:
            values = pd.DataFrame({"path": [next(iter(p)) for p in self.points],
                                   "value": [next(iter(p.values())) for p in self.points]})
        table = pd.concat([values, probs], axis=1)
        table.insert(0, "point", np.arange(len(table)))
        return table


def sweep_figure(sweep: Sweep, table: pd.DataFrame, event: str):
    """A line with its 95% band (one parameter, or one panel per parameter in 'oat'), or a heatmap."""
    paths = [a.path for a in sweep.spec.parameters]
    if sweep.spec.mode == "grid" and len(paths) == 2:
        grid = table.pivot(index=paths[1], columns=paths[0], values="estimate")
        fig, ax = new_figure((7, 5.5))
        im = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [f"{v:.3g}" for v in grid.columns], rotation=45)
        ax.set_yticks(range(grid.shape[0]), [f"{v:.3g}" for v in grid.index])
        for (i, j), v in np.ndenumerate(grid.to_numpy()):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < grid.to_numpy().mean() else "black")
        ax.set_xlabel(paths[0])
        ax.set_ylabel(paths[1])
        fig.colorbar(im, ax=ax, label=f"P({event})")
        ax.set_title(f"Sweep {sweep.spec.name}: P({event}), {int(table['replicates'].iloc[0])} replicates per cell")
        return fig
    panels = paths if sweep.spec.mode == "oat" else paths[:1]
    fig, axes = new_figure((5 * len(panels), 4), 1, len(panels), squeeze=False, sharey=True)
    for ax, path in zip(axes[0], panels):
        sub = table[table["path"] == path] if sweep.spec.mode == "oat" else table
        x = sub["value"] if sweep.spec.mode == "oat" else sub[path]
        ax.fill_between(x, sub["ci_low"], sub["ci_high"], alpha=0.3, color="#d95f02", label="Monte Carlo 95% interval")
        ax.plot(x, sub["estimate"], "o-", color="#d95f02", label="probability")
        ax.set_xlabel(path)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"P({event})")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Sweep {sweep.spec.name}: common random numbers at every point")
    return fig


def run_sweep_file(path: str | Path, out: str | Path | None = None, workers: int | None = None,
                   replicates: int | None = None, save: bool = True) -> tuple[Sweep, pd.DataFrame, Path | None]:
    """Load, run and (with ``save``) write a sweep folder: sweep.csv, sweep.png, sweep.yaml, manifest."""
    from alignsim.runs import atomic
    from alignsim.runs.folder import RunFolder, manifest

    sweep = Sweep.from_file(path)
    reps = sweep.spec.replicates if replicates is None else int(replicates)
    limits = type(sweep.spec).model_fields["replicates"].metadata  # the schema's bounds apply to --replicates too
    low = next((m.ge for m in limits if getattr(m, "ge", None) is not None), 1)
    if reps < low:
        raise ConfigError("--replicates", reps, f"at least {low} replicates per point, as in a sweep file")
    s = sweep.scenario
    folder = RunFolder.create(f"sweep-{sweep.spec.name}", out) if save else None
    if folder is not None:
        folder.start(s, manifest(s, sweep.scenario_path, sweep.seed, reps, min(s.monte_carlo.draws, reps),
                                 s.monte_carlo.batch_size, sweep.spec.set,
                                 sweep=str(path), sweep_name=sweep.spec.name, mode=sweep.spec.mode,
                                 others=sweep.spec.others, by=sweep.spec.by or s.end, common_random_numbers=True,
                                 workers=sweep.spec.workers if workers is None else workers))
    started = time.perf_counter()
    try:
        with PointRunner(sweep.spec.workers if workers is None else workers) as runner:
            table = sweep.run(runner, reps)
        wall = time.perf_counter() - started
        if folder is not None:
            folder.write_csv("sweep.csv", table)
            atomic.write_text(folder / "sweep.yaml", _yaml(sweep.spec.model_dump(mode="json")))
            fig = sweep_figure(sweep, table, s.event.kind.replace("_", " "))
            folder.save_figure("sweep.png", fig)
            folder.finish(points=len(table), wall_seconds=round(wall, 3))
    finally:
        if folder is not None:
            folder.close(remove_lock=True)
    out_dir = None if folder is None else folder.path
    return sweep, table, out_dir


def _yaml(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
