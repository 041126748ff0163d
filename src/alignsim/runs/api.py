"""Running a plan and writing its folder: the one path behind ``alignsim.run`` and ``alignsim run``.

``execute(plan, execution, finishing)`` does, in order:

1. open the pool (a bad backend, worker count or scheduler fails here, before any folder exists)
   and check the finishing steps' inputs (``Step.preflight``);
2. create and lock the folder and record the manifest (fresh), or lock the folder, clean its
   temporary files and load the batches that verify (resume);
3. run the batches, saving each as it completes;
4. write summary, tables and figures, run the finishing steps (e.g. history matching), write the
   report, drop the batch files, and mark the manifest complete. A figure or report that fails
   (e.g. a label matplotlib cannot draw) leaves a complete run with a note in the manifest
   (``notes``) and in ``RunResult.notes``, never a half-written folder.

``run(config, **settings)`` is the keyword form for notebooks and tests.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import pandas as pd

from alignsim.engine import estimates
from alignsim.engine.ensemble import EnsembleResult, batch_bounds, run_ensemble
from alignsim.errors import ConfigError
from alignsim.outputs import figures
from alignsim.runs.folder import RunFolder
from alignsim.runs.plan import RunPlan
from alignsim.scenario import Scenario
from alignsim.scenario.evidence import evidence_table

KEEP_TABLE_MAX = 200_000  # larger runs stream their per-replicate table instead of holding it


@dataclass
class RunResult:
    """A finished run: ``summary`` (plain data, as in summary.json) and tidy tables.

    ``notes`` lists what could not be written (e.g. a figure); ``analyses`` holds the finishing
    steps' results by name (e.g. "history_matched").
    """

    scenario: Scenario
    ensemble: EnsembleResult
    summary: dict
    out_dir: Path | None
    wall_seconds: float
    notes: list[str] = field(default_factory=list)
    analyses: dict[str, Any] = field(default_factory=dict)

    @property
    def cumulative(self) -> pd.DataFrame:
        return estimates.cumulative(self.ensemble)

    @property
    def year_ends(self) -> pd.DataFrame:
        return estimates.year_ends(self.ensemble)

    @property
    def membership(self) -> pd.DataFrame:
        return estimates.membership(self.ensemble)

    @property
    def contributions(self) -> pd.DataFrame:
        return estimates.contributions(self.ensemble)

    @property
    def gap_quantiles(self) -> pd.DataFrame:
        return estimates.gap_quantiles(self.ensemble)

    @property
    def choices(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """Strategic powers' choice shares (per quarter, by tilt bin); None for rule-based powers."""
        return estimates.choices(self.ensemble)

    @property
    def replicates(self) -> pd.DataFrame | None:
        return self.ensemble.replicates_table

    @property
    def evidence(self) -> pd.DataFrame:
        return evidence_table(self.scenario)


@dataclass
class Execution:
    """How batches run; none of it changes the numbers.

    ``map_batches``: a batch map (see ``ensemble.run_ensemble``) used instead of a pool.
    ``keep_table``: hold the per-replicate table in memory (default: up to ``KEEP_TABLE_MAX``
    replicates, without precision); otherwise it is streamed from the batch files.
    """

    workers: int | None = None
    backend: str = "local"
    scheduler: str | None = None
    map_batches: Callable | None = None
    progress: bool = False
    keep_table: bool | None = None


class Step(Protocol):
    """A finishing step run on a complete ensemble before the report (e.g. history matching)."""

    name: str

    def preflight(self, plan: RunPlan) -> None: ...

    def __call__(self, result: RunResult, folder: RunFolder | None) -> Any: ...


@dataclass
class Finishing:
    """What is written after the numbers: the report, and extra steps (their results in ``analyses``)."""

    report: bool = True
    steps: tuple[Step, ...] = ()


def run(config: str | Path | Scenario | None = None, *, resume: str | Path | None = None,
        from_manifest: str | Path | None = None, replicates: int | None = None, seed: int | None = None,
        batch_size: int | None = None, overrides: list[str] | tuple[str, ...] = (), precision: float | None = None,
        out: str | Path | None = None, save: bool = True, report: bool = True,
        steps: tuple[Step, ...] = (), **execution: Any) -> RunResult:
    """Run a scenario and (with ``save``) write its run folder; see ``RunPlan`` and ``Execution``.

    Exactly one source: ``config`` (a file or ``Scenario``), ``resume`` (an interrupted run
    folder, completed in place; ``config`` optional and then checked) or ``from_manifest``.
    ``execution``: ``workers``, ``backend``, ``scheduler``, ``map_batches``, ``progress``,
    ``keep_table`` (see ``Execution``).
    """
    return execute(make_plan(config, resume=resume, from_manifest=from_manifest, replicates=replicates, seed=seed,
                             batch_size=batch_size, overrides=overrides, precision=precision, out=out, save=save),
                   Execution(**execution), Finishing(report=report, steps=tuple(steps)))


def make_plan(config: str | Path | Scenario | None = None, *, resume: str | Path | None = None,
              from_manifest: str | Path | None = None, replicates: int | None = None, seed: int | None = None,
              batch_size: int | None = None, overrides: list[str] | tuple[str, ...] = (),
              precision: float | None = None, out: str | Path | None = None, save: bool = True) -> RunPlan:
    """The plan for one coherent source of a run (``ConfigError`` for an incoherent combination)."""
    if resume is not None and from_manifest is not None:
        raise ConfigError("--from-manifest", str(from_manifest), "either --resume RUN_DIR or --from-manifest FILE, not both")
    if resume is not None:
        if out is not None:
            raise ConfigError("--out", str(out), "no --out with --resume (the run folder is completed in place)")
        if precision is not None:
            raise ConfigError("precision", precision, "no --precision when resuming (resume the fixed-size run)")
        return RunPlan.resume(resume, config, overrides, replicates, seed, batch_size)
    if from_manifest is not None:
        if config is not None or overrides:
            raise ConfigError("--from-manifest", str(from_manifest), "no config file or --set with --from-manifest "
                              "(they come from the manifest)")
        return RunPlan.from_manifest(from_manifest, replicates, seed, batch_size, out, save)
    return RunPlan.fresh(config, overrides, replicates, seed, batch_size, precision, out, save)


def execute(plan: RunPlan, execution: Execution | None = None, finishing: Finishing | None = None) -> RunResult:
    """Run ``plan`` and write its folder (see the module docstring for the order of things)."""
    from alignsim.engine.parallel import open_pool

    execution = execution or Execution()
    finishing = finishing or Finishing()
    for step in finishing.steps:
        step.preflight(plan)
    folder, done = None, {}
    if plan.resume_dir is not None:  # lock first: a second process must not touch the folder at all
        folder = RunFolder.open(plan.resume_dir)
        folder.lock()
    try:
        pool = open_pool(execution.backend, execution.workers, execution.scheduler) \
            if execution.map_batches is None else None
        try:
            if folder is not None:
                folder.clean_temporary()
                done, rejected = folder.load_batches(batch_bounds(plan.replicates, plan.batch_size))
                if rejected:
                    print(f"note: {len(rejected)} saved batch(es) did not verify against the run and are run again: "
                          f"{', '.join(map(str, rejected[:10]))}{' ...' if len(rejected) > 10 else ''}", file=sys.stderr)
            elif plan.save:
                folder = RunFolder.create(plan.scenario.name, plan.out)
                folder.start(plan.scenario, plan.manifest())
            mapper = pool.map_batches if pool is not None else execution.map_batches
            ens, wall = _run_batches(plan, execution, folder, mapper, done)
        finally:
            if pool is not None:
                pool.close()
        result = _result(plan, ens, folder, wall)
        if folder is not None:
            _write_outputs(result, folder, plan)
        for step in finishing.steps:
            result.analyses[step.name] = step(result, folder)
        if folder is not None:
            if finishing.report:
                _guarded(result, "report not written", _report, folder)
            folder.remove_batches()
            outcome: dict[str, Any] = {"wall_seconds": round(wall, 3), "notes": result.notes}
            if plan.source == "resume":
                outcome["resumed"] = True
            if plan.precision is not None:
                outcome["replicates_run"] = ens.replicates
            folder.finish(**outcome)
        return result
    finally:
        if folder is not None:
            folder.close(remove_lock=folder._manifest is not None and folder.complete)


def _run_batches(plan: RunPlan, execution: Execution, folder: RunFolder | None, mapper, done):
    """The ensemble, fixed-size or to a precision, saving each batch to ``folder`` as it completes."""
    from alignsim.engine.precision import run_to_precision

    bar = _progress(plan.replicates, execution.progress)
    if bar and done:
        bar.update(sum(len(b.replicates) for b in done.values()))

    def on_batch(k, res) -> None:
        if folder is not None:
            folder.save_batch(k, res)
        if bar:
            bar.update(len(res.replicates))

    keep_table = execution.keep_table
    if keep_table is None:
        keep_table = plan.precision is None and plan.replicates <= KEEP_TABLE_MAX
    started = time.perf_counter()
    try:
        if plan.precision is None:
            ens = run_ensemble(plan.scenario, plan.replicates, plan.seed, batch_size=plan.batch_size,
                               keep_table=keep_table, on_batch=on_batch, map_batches=mapper, done=done)
        else:
            ens = run_to_precision(plan.scenario, plan.precision, plan.seed, batch_size=plan.batch_size,
                                   max_replicates=plan.cap, map_batches=mapper, on_batch=on_batch)[0]
    except KeyboardInterrupt:
        if folder is not None:
            print(f"interrupted: {folder.saved_batches()} completed batches are saved in {folder.path}; finish with "
                  f"python -m alignsim run --resume {folder.path}", file=sys.stderr)
        raise
    finally:
        if bar:
            bar.close()
    return ens, time.perf_counter() - started


def _result(plan: RunPlan, ens: EnsembleResult, folder: RunFolder | None, wall: float) -> RunResult:
    summary = estimates.summarise(ens)
    summary["powers_model"] = plan.scenario.powers.model  # which power model ran: rule or strategic
    if "precision" in ens.extra:
        summary["precision"] = ens.extra["precision"]
    if folder is not None:
        summary["output"] = str(folder.path)
    return RunResult(plan.scenario, ens, summary, None if folder is None else folder.path, wall)


def _write_outputs(result: RunResult, folder: RunFolder, plan: RunPlan) -> None:
    """summary.json, the per-replicate table and the tidy CSVs; then the figures (guarded)."""
    ens = result.ensemble
    folder.write_json("summary.json", result.summary)
    if ens.replicates_table is not None:
        folder.write_parquet("replicates.parquet", ens.replicates_table)
    else:
        folder.join_batches(len(batch_bounds(ens.replicates, plan.batch_size)))
    cum = result.cumulative
    quarters = cum.merge(result.membership, on=["step", "quarter"], suffixes=("", "_member"))
    quarters = quarters.merge(result.gap_quantiles.add_prefix("dU_").rename(columns={"dU_quarter": "quarter"}),
                              on="quarter")
    folder.write_csv("quarters.csv", quarters)
    folder.write_csv("contributions.csv", result.contributions)
    folder.write_csv("year_ends.csv", result.year_ends)
    folder.write_csv("evidence.csv", result.evidence)
    chosen = result.choices
    if chosen is not None:  # strategic powers: what each chose, when, and at which tilt
        folder.write_csv("choices.csv", chosen[0])
        folder.write_csv("choices_by_tilt.csv", chosen[1])
    _guarded(result, "figures not drawn", _figures, folder)


def _figures(result: RunResult, folder: RunFolder) -> None:
    s = result.scenario
    event = s.event.kind.replace("_", " ")
    focal = s.actors[s.focal].name
    focal_color = figures.actor_colors(s)[s.focal]
    draw = {
        "cumulative.png": lambda: figures.cumulative_figure(
            result.cumulative, result.year_ends, f"{focal} and the {s.bloc.short}: P({event}) as seen from {s.start}",
            event, color=focal_color),
        "contributions.png": lambda: figures.contributions_figure(
            result.contributions, {k: v.direction for k, v in s.drivers.items()},
            f"What drives the decision: mean contribution to dU, {s.start} to {s.end}", figures.driver_colors(s)),
        "gap_fan.png": lambda: figures.gap_fan_figure(result.gap_quantiles, f"Utility gap dU across replicates ({s.name})",
                                                      color=focal_color),
    }
    for name, make in draw.items():
        folder.save_figure(name, make())


def _report(result: RunResult, folder: RunFolder) -> None:
    from alignsim.runs.report import build_report

    build_report(folder.path, replace=True)


def _guarded(result: RunResult, what: str, write: Callable[[RunResult, RunFolder], None], folder: RunFolder) -> None:
    """Run ``write``; a failure becomes a one-line note on the result instead of a half-written folder."""
    try:
        write(result, folder)
    except Exception as exc:  # noqa: BLE001 - presentation must not lose a finished run
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        result.notes.append(f"{what}: {type(exc).__name__}: {first}")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="rep", desc="replicates", disable=None, leave=False)
