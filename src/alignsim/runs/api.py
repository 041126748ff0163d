"""One call for notebooks and the command line: config in, result object with DataFrames out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alignsim.engine import estimates

from alignsim.outputs import figures

from alignsim.runs import folder as runstore
from alignsim.engine.ensemble import EnsembleResult, run_ensemble
from alignsim.errors import ConfigError
from alignsim.scenario.evidence import evidence_table
from alignsim.scenario import Scenario, load_scenario


@dataclass
class RunResult:
    """A finished run: ``summary`` (plain data, as in summary.json) and tidy tables."""

    scenario: Scenario
    ensemble: EnsembleResult
    summary: dict
    out_dir: Path | None
    wall_seconds: float

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
    def replicates(self) -> pd.DataFrame | None:
        return self.ensemble.replicates_table

    @property
    def evidence(self) -> pd.DataFrame:
        return evidence_table(self.scenario)


def run(config: str | Path | Scenario | None, replicates: int | None = None, seed: int | None = None,
        out: str | Path | None = None, overrides: list[str] | tuple[str, ...] = (),
        save: bool = True, batch_size: int | None = None, progress: bool = False,
        map_batches=None, resume: str | Path | None = None, workers: int | None = None,
        backend: str = "local", scheduler: str | None = None, precision: float | None = None,
        keep_table: bool | None = None) -> RunResult:
    """Run a scenario and (with ``save``) write its run folder.

    Args:
        config: a scenario file path or a loaded ``Scenario``.
        replicates, seed, batch_size: override the scenario's Monte Carlo settings.
        out: the run folder (must not exist); default ``runs/<scenario>-<timestamp>``.
        overrides: ``path=value`` strings, validated like the file.
        map_batches: a parallel batch map (see ``ensemble.run_ensemble``); default in-process.
        resume: an interrupted run folder to complete in place (``config`` may then be None:
            the recorded one is used; a different config is refused). See ``resume``.
        workers, backend, scheduler: run batches in a local process pool (``workers`` > 1) or on
            Dask (``backend="dask"``, at ``scheduler`` or a LocalCluster); see ``parallel``.
            Results are identical to the single-process run.
        precision: stop once the headline probability's Wilson 95% half-width is at most this,
            adding whole batches (``replicates``, if given, is then the cap); see ``precision``.
        keep_table: hold the per-replicate table in memory (default: only up to
            ``KEEP_TABLE_MAX`` replicates and without ``precision``); otherwise it is streamed to
            ``replicates.parquet`` batch by batch, so memory stays flat.
    """
    from alignsim.runs import resume as resuming

    if precision is not None and resume is not None:
        raise ConfigError("precision", precision, "no --precision when resuming (resume the fixed-size run)")
    cap = replicates

    done = None
    if resume is not None:
        plan = resuming.prepare_resume(resume, config, overrides, replicates, seed, batch_size)
        scenario, config, overrides = plan.scenario, plan.config_path, plan.overrides
        replicates, seed, batch_size = plan.replicates, plan.seed, plan.batch_size
        out_dir, done = plan.run_dir, plan.done
    else:
        if config is None:
            raise ConfigError("config", None, "a scenario file (or --resume RUN_DIR)")
        scenario = config if isinstance(config, Scenario) else load_scenario(config, overrides)
        mc = scenario.monte_carlo
        replicates = mc.replicates if replicates is None else replicates
        seed = mc.seed if seed is None else seed
        batch_size = mc.batch_size if batch_size is None else batch_size
        out_dir = runstore.new_run_dir(scenario.name, out) if save else None
        if out_dir is not None:
            resuming.start_manifest(out_dir, scenario, None if isinstance(config, Scenario) else str(config), seed,
                                    replicates, min(scenario.monte_carlo.draws, replicates), batch_size, overrides)
    bar = _progress(replicates, progress)
    if bar and done:
        bar.update(sum(len(b.replicates) for b in done.values()))
    on_batch = (lambda k, res: bar.update(len(res.replicates))) if bar else None
    if out_dir is not None:
        on_batch = resuming.BatchSaver(out_dir, on_batch)
    if keep_table is None:
        keep_table = precision is None and replicates <= KEEP_TABLE_MAX
    started = time.perf_counter()
    try:
        ens = _run_batches(scenario, replicates, seed, batch_size, on_batch, map_batches, done, workers, backend,
                           scheduler, precision, cap, keep_table)
    except KeyboardInterrupt:
        if out_dir is not None:
            resuming.interrupted_note(out_dir)
        raise
    wall = time.perf_counter() - started
    if bar:
        bar.close()
    summary = estimates.summarise(ens)
    summary["powers_model"] = scenario.powers.model  # which power model ran: rule or strategic
    if "precision" in ens.extra:
        summary["precision"] = ens.extra["precision"]
    result = RunResult(scenario, ens, summary, out_dir, wall)
    if out_dir is not None:
        summary["output"] = str(out_dir)
        if ens.replicates_table is None:
            _join_batch_parquet(out_dir, ens, batch_size)
        save_run(result, None if isinstance(config, Scenario) else config and str(config), list(overrides))
        resuming.finish(out_dir, batch_size, resumed=done is not None)
    return result


KEEP_TABLE_MAX = 200_000  # larger runs stream their per-replicate table instead of holding it


def _run_batches(scenario, replicates, seed, batch_size, on_batch, map_batches, done, workers, backend,
                 scheduler, precision, cap, keep_table) -> EnsembleResult:
    """The ensemble, in this process or a pool (``parallel.open_pool``), fixed-size or to a precision."""
    from alignsim.engine.parallel import open_pool
    from alignsim.engine.precision import run_to_precision

    pool = open_pool(backend, workers, scheduler) if map_batches is None else None
    try:
        mapper = pool.map_batches if pool is not None else map_batches
        if precision is None:
            return run_ensemble(scenario, replicates, seed, batch_size=batch_size, keep_table=keep_table,
                                on_batch=on_batch, map_batches=mapper, done=done)
        return run_to_precision(scenario, precision, seed, batch_size=batch_size, max_replicates=cap,
                                map_batches=mapper, on_batch=on_batch)[0]
    finally:
        if pool is not None:
            pool.close()


def _join_batch_parquet(out_dir: Path, ens: EnsembleResult, batch_size: int) -> None:
    """Stream the saved per-batch tables into one ``replicates.parquet``, one batch in memory at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from alignsim.engine.ensemble import batch_bounds
    from alignsim.runs.resume import batch_paths

    paths = [batch_paths(out_dir, k)[0] for k in range(len(batch_bounds(ens.replicates, batch_size)))]
    if not all(p.is_file() for p in paths):
        return  # nothing streamed (e.g. a run not saved batch by batch)

    def write(tmp: Path) -> None:
        writer = None
        try:
            for p in paths:  # the replicate index becomes a column, so batches share one schema
                table = pa.Table.from_pandas(pd.read_parquet(p), preserve_index=True)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

    runstore._atomic(out_dir / "replicates.parquet", write)


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="rep", desc="replicates", disable=None, leave=False)


def save_run(result: RunResult, config_path: str | None, overrides: list[str]) -> None:
    """Write the run folder: config, manifest, summary, tables and figures."""
    d = result.out_dir
    if d is None:
        raise ValueError("save_run needs a run folder")
    s, ens = result.scenario, result.ensemble
    runstore.write_config(d / "config.resolved.yaml", s)
    runstore.write_json(d / "manifest.json", runstore.manifest(
        s, config_path, ens.seed, ens.replicates, len(ens.draws), s.monte_carlo.batch_size,
        result.wall_seconds, overrides))
    runstore.write_json(d / "summary.json", result.summary)
    if ens.replicates_table is not None:
        runstore.write_parquet(d / "replicates.parquet", ens.replicates_table)
    cum = result.cumulative
    quarters = cum.merge(result.membership, on=["step", "quarter"], suffixes=("", "_member"))
    quarters = quarters.merge(result.gap_quantiles.add_prefix("dU_").rename(columns={"dU_quarter": "quarter"}), on="quarter")
    runstore.write_csv(d / "quarters.csv", quarters)
    runstore.write_csv(d / "contributions.csv", result.contributions)
    runstore.write_csv(d / "year_ends.csv", result.year_ends)
    runstore.write_csv(d / "evidence.csv", result.evidence)
    event = s.event.kind.replace("_", " ")
    focal = s.actors[s.focal].name
    focal_color = figures.actor_colors(s)[s.focal]
    figs = {
        "cumulative.png": figures.cumulative_figure(
            cum, result.year_ends, f"{focal} and the {s.bloc.short}: P({event}) as seen from {s.start}", event,
            color=focal_color),
        "contributions.png": figures.contributions_figure(
            result.contributions, {k: v.direction for k, v in s.drivers.items()},
            f"What drives the decision: mean contribution to dU, {s.start} to {s.end}", figures.driver_colors(s)),
        "gap_fan.png": figures.gap_fan_figure(result.gap_quantiles, f"Utility gap dU across replicates ({s.name})",
                                              color=focal_color),
    }
    for name, fig in figs.items():
        runstore.save_figure(d / name, fig)
