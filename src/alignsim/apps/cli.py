"""The command line: ``python -m alignsim run|validate ...``.

Exit codes: 0 success, 2 bad input (one line, no traceback), 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pathlib import Path

from alignsim import __version__
from alignsim.errors import AlignsimError, ConfigError, RunError

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_text: str):
    """Register a sub-command: the decorated function adds its arguments and returns a runner."""
    def wrap(setup):
        COMMANDS[name] = (help_text, setup)
        return setup
    return wrap


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every bad input
        self.exit(2, f"error: {message} (see --help)\n")


def _whole_number(low: int, high: int | None, expected: str) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high) (``high`` None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive = _whole_number(1, None, "a whole number of at least 1")
_seed = _whole_number(0, 2**63, "a whole number >= 0")


def _half_width(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a half-width between 0 and 0.5, got {text!r}") from None
    if not 0.0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"expected a half-width between 0 and 0.5, got {value}")
    return value


def _scenario_arguments(p: argparse.ArgumentParser) -> None:
    """The scenario file and its ``--set`` overrides, as every command that reads one takes them."""
    p.add_argument("config", help="scenario YAML file")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a config value")


@command("run", "run a scenario and write its run folder")
def _run_setup(p: argparse.ArgumentParser):
    p.add_argument("config", nargs="?", help="scenario YAML file, e.g. config/base.yaml "
                   "(optional with --resume or --from-manifest)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="complete an interrupted run folder in place (refused if the config differs)")
    p.add_argument("--from-manifest", metavar="FILE",
                   help="re-run the config, overrides, seed and replicates recorded in a manifest.json")
    p.add_argument("--replicates", type=_positive, help="number of replicates (default: the scenario's)")
    p.add_argument("--seed", type=_seed, help="master seed (default: the scenario's)")
    p.add_argument("--batch-size", type=_positive, help="replicates per batch (results do not depend on it)")
    p.add_argument("--workers", type=_positive, help="worker processes (local pool, or a Dask LocalCluster); "
                   "results are identical to one process")
    p.add_argument("--backend", choices=["local", "dask"], default="local",
                   help="where batches run: a local process pool or a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (with --backend dask; "
                   "default: start a LocalCluster)")
    p.add_argument("--precision", type=_half_width, metavar="H",
                   help="add batches until the headline probability's 95%% interval half-width is <= H "
                   "(--replicates is then the cap; default cap max(10x the scenario's, 10^6))")
    p.add_argument("--out", help="run folder to create (must not exist); default runs/<scenario>-<time>")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value, e.g. --set drivers.us_investment.initial=0.3")
    p.add_argument("--history-matched", action="store_true",
                   help="also report the forecast with draws weighted by the backtest outcomes "
                   "(cases ending before the scenario's start; the panel by default, see --backtests)")
    p.add_argument("--backtests", metavar="DIR",
                   help="backtest folder for --history-matched (default: panel/ beside the scenario file, the "
                   "panel of alliance histories; e.g. config/backtests for the country's own cases)")
    p.add_argument("--include-later-outcomes", action="store_true",
                   help="with --history-matched, also use cases whose windows end after the scenario's start")
    p.add_argument("--no-report", action="store_true",
                   help="skip the HTML/Markdown report (report.html, report.md) in the run folder")

    def go(a: argparse.Namespace) -> int:
        from alignsim.analyses.backtest import format_matched
        from alignsim.analyses.forecast import run
        from alignsim.outputs.report_text import headline_text

        if not (a.config or a.resume or a.from_manifest):
            raise ConfigError("config", None, "a scenario file, --resume RUN_DIR or --from-manifest FILE")
        result = run(a.config, resume=a.resume, from_manifest=a.from_manifest, replicates=a.replicates, seed=a.seed,
                     batch_size=a.batch_size, overrides=a.set, precision=a.precision, out=a.out,
                     report=not a.no_report, history_matched=a.history_matched, backtests=a.backtests,
                     include_later_outcomes=a.include_later_outcomes, workers=a.workers, backend=a.backend,
                     scheduler=a.scheduler, progress=True)
        print(headline_text(result.summary, result.scenario, result.wall_seconds))
        prec = result.summary.get("precision")
        if prec:
            print(f"Precision: half-width {prec['half_width']:.4f} (target {prec['target_half_width']}) "
                  f"{'reached' if prec['reached'] else 'NOT reached (cap hit)'} with "
                  f"{prec['replicates_used']:,} replicates (cap {prec['max_replicates']:,}).")
        if "history_matched" in result.analyses:
            print(format_matched(result.analyses["history_matched"]))
        if result.out_dir is not None and not a.no_report and (result.out_dir / "report.html").is_file():
            print(f"Report: {result.out_dir / 'report.html'} (Markdown: {result.out_dir / 'report.md'})")
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        return 0
    return go


@command("update", "condition a finished run on a news file of dated observations; writes a child run folder")
def _update_setup(p: argparse.ArgumentParser):
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="a finished run folder (the parent)")
    p.add_argument("news", metavar="NEWS", nargs="?", help="news YAML file of dated observations (see config/news/)")
    p.add_argument("--scenario", metavar="FILE", help="instead of RUN_DIR NEWS: a scenario whose observed: lists "
                   "its observations, conditioned from scratch")
    p.add_argument("--out", help="child folder to create (must not exist); default runs/<scenario>-update-<time>")
    p.add_argument("--min-ess", type=_positive, help="rejuvenate while the effective sample size is below this "
                   "(default: a tenth of the replicates)")
    p.add_argument("--max-generations", type=int, default=3, help="at most this many rejuvenations (default 3)")
    p.add_argument("--no-report", action="store_true", help="skip report.html / report.md in the child folder")

    def go(a: argparse.Namespace) -> int:
        from alignsim.analyses.update import format_update, update_run, update_scenario

        if a.max_generations < 0:
            raise ConfigError("--max-generations", a.max_generations, "a whole number >= 0")
        if a.scenario is not None:
            if a.run_dir or a.news:
                raise ConfigError("--scenario", a.scenario, "either RUN_DIR NEWS or --scenario FILE, not both")
            result = update_scenario(a.scenario, out=a.out, min_ess=a.min_ess, max_generations=a.max_generations)
        elif a.run_dir and a.news:
            result = update_run(a.run_dir, a.news, out=a.out, min_ess=a.min_ess, max_generations=a.max_generations)
        else:
            raise ConfigError("update", a.run_dir, "RUN_DIR and NEWS (or --scenario FILE with observed: observations)")
        print(format_update(result.summary))
        if not result.pathways.empty:
            print("Pathways: " + "; ".join(f"{r.pathway} {r.share:.0%}" for r in result.pathways.itertuples()))
        if not a.no_report:
            from alignsim.runs.report import build_update_report

            html_path, _ = build_update_report(result.out_dir)
            print(f"Report: {html_path}")
        print(f"Results: {result.out_dir}")
        return 0
    return go


@command("backtest", "score the model and two baselines against the backtest cases in a folder")
def _backtest_setup(p: argparse.ArgumentParser):
    p.add_argument("folder", metavar="DIR", help="folder of case files and reference-class.yaml, e.g. config/backtests/")
    p.add_argument("--draws", type=_positive, default=500, help="outer parameter draws (default 500)")
    p.add_argument("--inner", type=_positive, default=200, help="inner replicates per draw per case (>= 200)")
    p.add_argument("--seed", type=_seed, default=0, help="master seed (default 0)")
    p.add_argument("--out", help="output folder to create (must not exist); default runs/backtest-<time>")
    p.add_argument("--compare-powers", action="store_true",
                   help="score rule-based against strategic powers (out of fold, paired, grouped standard "
                        "error) on the cases whose powers have options; writes power_models.csv")

    def go(a: argparse.Namespace) -> int:
        from alignsim.analyses.backtest import format_table, run_backtest, save_backtest
        from alignsim.runs.folder import new_run_dir

        if a.out is not None and Path(a.out).exists():  # refuse an existing folder before computing
            raise RunError(f"--out {a.out}: the folder exists; choose a new one (runs never overwrite)")
        if a.compare_powers:
            from alignsim.analyses.power_models import compare_power_models, format_comparison

            comparison = compare_power_models(a.folder, n_draws=a.draws, inner=a.inner, seed=a.seed)
            from alignsim.runs import atomic

            out_dir = new_run_dir("backtest", a.out)
            atomic.write_csv(out_dir / "power_models_forecasts.csv", comparison.forecasts)
            atomic.write_csv(out_dir / "power_models.csv", comparison.paired.assign(default=comparison.default))
            print(format_comparison(comparison))
            print(f"Results: {out_dir} (power_models.csv, power_models_forecasts.csv)")
            return 0
        result = run_backtest(a.folder, n_draws=a.draws, inner=a.inner, seed=a.seed)
        out_dir = new_run_dir("backtest", a.out)  # made only once there is something to write
        save_backtest(result, out_dir)
        print(format_table(result))
        print(f"Results: {out_dir} (scores.csv, reliability.png, parameters_prior_vs_matched.csv)")
        return 0
    return go


@command("validate", "check a scenario file and its evidence without running it")
def _validate_setup(p: argparse.ArgumentParser):
    _scenario_arguments(p)

    def go(a: argparse.Namespace) -> int:
        from alignsim.engine.priors import prior_paths
        from alignsim.scenario import load_scenario

        s = load_scenario(a.config, a.set)
        print(f"{a.config}: valid. Scenario {s.name!r}, {s.start}..{s.end} ({s.axis.n_steps} quarters), "
              f"{len(s.drivers)} drivers, {len(s.shocks)} shocks, {len(prior_paths(s))} priors; every quote found in seeds/.")
        return 0
    return go


@command("report", "write the HTML and Markdown report of a run folder")
def _report_setup(p: argparse.ArgumentParser):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder, e.g. runs/base-20250101-120000")
    for kind, what in (("sweep", "a sweep"), ("sensitivity", "a sensitivity analysis"), ("backtest", "a backtest")):
        p.add_argument(f"--{kind}", action="append", default=[], metavar="DIR",
                       help=f"output folder of {what} to include (its *.png and *.csv); repeatable")
    p.add_argument("--out", metavar="DIR", help="folder for report.html / report.md (default: RUN_DIR)")
    p.add_argument("--replace", action="store_true", help="rewrite an existing report")

    def go(a: argparse.Namespace) -> int:
        from alignsim.runs.report import build_report

        html_path, md_path = build_report(a.run_dir, sweeps=a.sweep, sensitivity=a.sensitivity,
                                          backtests=a.backtest, out=a.out, replace=a.replace)
        print(f"Report: {html_path} (Markdown: {md_path})")
        return 0
    return go


@command("explain", "print each driver's mechanism, prior, basis and evidence, without running")
def _explain_setup(p: argparse.ArgumentParser):
    _scenario_arguments(p)
    p.add_argument("--csv", action="store_true", help="print the driver table as CSV instead of text")

    def go(a: argparse.Namespace) -> int:
        from alignsim.outputs.explain import driver_table, explain_text
        from alignsim.scenario import load_scenario

        s = load_scenario(a.config, a.set)
        print(driver_table(s).to_csv(index=False) if a.csv else explain_text(s), end="\n" if not a.csv else "")
        return 0
    return go


@command("sweep", "run a parameter sweep file (config/sweeps/*.yaml) under common random numbers")
def _sweep_setup(p: argparse.ArgumentParser):
    p.add_argument("sweep", help="sweep YAML file, e.g. config/sweeps/western_condemnation_rate.yaml")
    p.add_argument("--replicates", type=_positive, help="replicates per point (default: the sweep file's)")
    p.add_argument("--workers", type=_positive, help="worker processes (default: the sweep file's)")
    p.add_argument("--out", help="folder to create (must not exist); default runs/sweep-<name>-<time>")

    def go(a: argparse.Namespace) -> int:
        from alignsim.analyses.sweep import run_sweep_file

        _, table, out_dir = run_sweep_file(a.sweep, out=a.out, workers=a.workers, replicates=a.replicates)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"Sweep folder: {out_dir}")
        return 0
    return go


@command("sensitivity", "run tornado / heatmap / Sobol / Morris / PRIM from a sensitivity settings file")
def _sensitivity_setup(p: argparse.ArgumentParser):
    p.add_argument("settings", help="settings YAML file, e.g. config/sensitivity/smoke.yaml "
                   "(its scenario and heatmap paths are relative to it)")
    p.add_argument("--workers", type=_positive, help="worker processes (default: the settings file's); "
                   "results do not depend on it")
    p.add_argument("--out", help="folder to create (must not exist); default runs/sensitivity-<scenario>-<time>")

    def go(a: argparse.Namespace) -> int:
        from alignsim.analyses.sensitivity_set import run_sensitivity

        result = run_sensitivity(a.settings, workers=a.workers, out=a.out,
                                 progress=lambda line: print(line, flush=True))
        print(result.summary)
        print(f"Sensitivity folder: {result.folder}")
        return 0
    return go


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m alignsim", description="Scenario forecasts of geopolitical alignment.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on failure")
    parser.add_argument("--version", action="version", version=f"alignsim {__version__}",
                        help="print the installed version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (help_text, setup) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_go=setup(p))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._go(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AlignsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place failures become an exit code
        if args.debug:
            raise
        print(f"failed: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
