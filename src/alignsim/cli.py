"""The command line: ``python -m alignsim run|validate ...``.

Exit codes: 0 success, 2 bad input (one line, no traceback), 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .errors import AlignsimError, ConfigError

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


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


@command("run", "run a scenario and write its run folder")
def _run_setup(p: argparse.ArgumentParser):
    p.add_argument("config", help="scenario YAML file, e.g. config/base.yaml")
    p.add_argument("--replicates", type=_positive, help="number of replicates (default: the scenario's)")
    p.add_argument("--seed", type=_seed, help="master seed (default: the scenario's)")
    p.add_argument("--batch-size", type=_positive, help="replicates per batch (results do not depend on it)")
    p.add_argument("--out", help="run folder to create (must not exist); default runs/<scenario>-<time>")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value, e.g. --set drivers.us_investment.initial=0.3")

    def go(a: argparse.Namespace) -> int:
        from .api import run
        from .report_text import headline_text

        result = run(a.config, replicates=a.replicates, seed=a.seed, out=a.out, overrides=a.set,
                     batch_size=a.batch_size, progress=True)
        print(headline_text(result.summary, result.scenario, result.wall_seconds))
        return 0
    return go


@command("validate", "check a scenario file and its evidence without running it")
def _validate_setup(p: argparse.ArgumentParser):
    p.add_argument("config", help="scenario YAML file")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="override a config value")

    def go(a: argparse.Namespace) -> int:
        from .priors import prior_paths
        from .scenario import load_scenario

        s = load_scenario(a.config, a.set)
        print(f"{a.config}: valid. Scenario {s.name!r}, {s.start}..{s.end} ({s.axis.n_steps} quarters), "
              f"{len(s.drivers)} drivers, {len(s.shocks)} shocks, {len(prior_paths(s))} priors; every quote found in seeds/.")
        return 0
    return go


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m alignsim", description="Scenario forecasts of geopolitical alignment.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on failure")
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
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place failures become an exit code
        if args.debug:
            raise
        print(f"failed: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1
