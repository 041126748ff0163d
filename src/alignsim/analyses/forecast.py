"""The forecast run with its optional history matching: ``alignsim.run`` and ``alignsim run``.

History matching lives in ``analyses/backtest.py`` (a layer above ``runs/``), so it joins the run
as a finishing step (``runs.api.Step``): checked before the folder is made, run on the finished
ensemble, written into the same folder (history_matched.json, ...) before the report. The
command line and ``alignsim.run(...)`` both call ``run`` here, so they write the same folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alignsim.analyses import backtest
from alignsim.analyses.pathways import find_pathways
from alignsim.analyses.signposts import signposts
from alignsim.errors import ConfigError
from alignsim.runs import api
from alignsim.runs.folder import RunFolder
from alignsim.runs.plan import RunPlan


@dataclass
class HistoryMatching:
    """Finishing step: weight the run's draws by the backtest outcomes (see ``backtest.match_run``).

    ``backtests`` defaults to the panel of alliance histories, ``panel/`` beside the scenario
    file (``config/panel`` for an in-memory scenario): cases sharing a decision point count as
    one observation (likelihoods tempered by 1/group size), and the summary gives the effective
    number of groups and the Kish ESS. The scenario must include the panel's shared priors
    (config/priors-alliance.yaml, directly or through a layer such as config/priors.yaml).
    """

    backtests: str | Path | None = None
    include_later: bool = False
    name: str = "history_matched"

    def folder_for(self, plan: RunPlan) -> Path:
        if self.backtests is not None:
            return Path(self.backtests)
        return Path(plan.config_path).parent / "panel" if plan.config_path else Path("config/panel")

    def preflight(self, plan: RunPlan) -> None:
        if plan.precision is not None:
            raise ConfigError("--history-matched", "--precision", "a fixed-size run (drop --precision)")
        self.backtests = self.folder_for(plan)
        backtest.preflight(self.backtests, plan.scenario, self.include_later)

    def __call__(self, result: api.RunResult, folder: RunFolder | None) -> backtest.MatchedForecast:
        matched = backtest.match_run(result.ensemble, self.backtests, include_later=self.include_later)
        if folder is not None:
            backtest.save_matched(matched, folder.path)
        return matched


@dataclass
class ForecastTables:
    """Finishing step: ``pathways.csv`` and ``signposts.csv`` of the run, from its shock record
    (``analyses.pathways``, ``analyses.signposts``; no new runs). Part of every saved run."""

    name: str = "forecast_tables"

    def preflight(self, plan: RunPlan) -> None:
        """Nothing to check before the run."""

    def __call__(self, result: api.RunResult, folder: RunFolder | None) -> dict[str, Any] | None:
        outcomes = result.ensemble.outcomes
        if folder is None or outcomes is None or not any(c.startswith("shock_first.") for c in outcomes.columns):
            return None  # no saved folder, or a scenario without shocks: no pathways to describe
        tables = {"pathways": find_pathways(result.ensemble), "signposts": signposts(result.ensemble)}
        for name, table in tables.items():
            folder.write_csv(f"{name}.csv", table)
        return tables


def run(config: Any = None, *, history_matched: bool = False, backtests: str | Path | None = None,
        include_later_outcomes: bool = False, **settings: Any) -> api.RunResult:
    """Run a scenario and write its run folder, as ``python -m alignsim run`` does.

    ``settings`` are those of ``runs.api.run`` (replicates, seed, batch_size, overrides, out,
    resume, from_manifest, precision, report, workers, backend, scheduler, progress, ...).
    ``history_matched`` adds the history-matched forecast (``result.analyses["history_matched"]``).
    """
    steps = tuple(settings.pop("steps", ())) + (ForecastTables(),)
    if history_matched:
        steps += (HistoryMatching(backtests, include_later_outcomes),)
    elif backtests is not None or include_later_outcomes:
        raise ConfigError("--backtests", backtests, "--history-matched as well (the backtests are for it)")
    return api.run(config, steps=steps, **settings)
