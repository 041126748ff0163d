"""Measure, then write the results pages of the docs: docs/results/<name>.md, stamped.

Each page is what one command prints, captured as it ran, with the commit and the machine it ran
on; nothing on these pages is typed by hand. The base page also refreshes the short excerpt in
README.md (between the ``<!-- results:base -->`` markers).

    python scripts/write_results.py base armenia        # a few named pages
    python scripts/write_results.py --list              # what can be measured, and how long it takes
    python scripts/write_results.py all                 # every page (about 12 minutes on 2 cores)

The scale benchmark writes its own page: python benchmarks/bench_scale.py (docs/results/benchmark.md).

Output folders go to a temporary directory; nothing else in the checkout is written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
README = ROOT / "README.md"
CLI = [sys.executable, "-m", "alignsim"]


@dataclass(frozen=True)
class Page:
    """One results page: the command that measures it (``OUT`` is replaced by a fresh folder)."""

    title: str
    command: tuple[str, ...]
    about: str
    minutes: float


PAGES: dict[str, Page] = {
    "base": Page("Base scenario: the forecast from 2017-Q3",
                 (*CLI, "run", "config/base.yaml", "--out", "OUT", "--no-report"),
                 "The base scenario at its own settings (`monte_carlo:` in `config/base.yaml`).", 0.2),
    "armenia": Page("A second country: Armenia and the CSTO",
                    (*CLI, "run", "config/armenia.yaml", "--out", "OUT", "--no-report"),
                    "The Armenia scenario (`config/armenia.yaml`), run with no code change; see the caveats "
                    "in the user guide before reading it as a forecast.", 0.2),
    "backtest": Page("Backtests: the model against three historical cases",
                     (*CLI, "backtest", "config/backtests/", "--out", "OUT"),
                     "Scores of the model with its priors, history-matched leave-one-out, the base rate and "
                     "'nothing changes' (seed 0, 500 outer draws x 200 inner replicates). The methods page "
                     "defines the scores.", 1.5),
    "history-base": Page("History matching: the base scenario",
                         (*CLI, "run", "config/base.yaml", "--history-matched", "--out", "OUT", "--no-report"),
                         "The base forecast, prior and history-matched on the panel of alliance histories "
                         "(`config/panel/`, the default; cases whose windows end before 2017-Q3).", 1.5),
    "history-base-later": Page("History matching: the base scenario with later outcomes",
                               (*CLI, "run", "config/base.yaml", "--history-matched", "--include-later-outcomes",
                                "--out", "OUT", "--no-report"),
                               "As above, also matched on the panel cases whose windows end after 2017-Q3.", 1.5),
    "history-base-uzbekistan": Page("History matching: the base scenario on Uzbekistan's own cases",
                                    (*CLI, "run", "config/base.yaml", "--history-matched", "--backtests",
                                     "config/backtests", "--out", "OUT", "--no-report"),
                                    "The base forecast matched on the Uzbekistan cases of 2005-Q2 and 2011-Q3 "
                                    "(`config/backtests/`), kept out of the panel as an independent check.", 0.5),
    "history-current": Page("History matching: today's outlook",
                            (*CLI, "run", "config/current.yaml", "--history-matched", "--out", "OUT", "--no-report"),
                            "`config/current.yaml` (2026-Q4 to 2035-Q4), prior and history-matched on the panel "
                            "of alliance histories (`config/panel/`).", 1.5),
    "standard-set": Page("The standard set of analyses for the base scenario",
                         (sys.executable, "experiments/standard_set.py", "--out", "OUT"),
                         "`experiments/standard_set.py` with `experiments/standard_set.yaml`: tornado, heatmap, "
                         "Morris screening, grouped Sobol with two seeds, the judgement share and PRIM. The "
                         "settings file's note gives the sample-size budget; the CPU time at the end does not "
                         "depend on other load on the machine.", 6.0),
}


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _cpu() -> str:
    from alignsim.runs.folder import cpu_name

    return cpu_name()


def stamp(load_before: float | None, seconds: float) -> str:
    """Commit, machine and software the numbers were measured with (Markdown list)."""
    commit = _git("rev-parse", "--short", "HEAD")
    # changes to what produces the numbers (docs and scripts do not)
    dirty = _git("status", "--porcelain", "--", "src", "config", "seeds", "benchmarks", "experiments", "pyproject.toml")
    dirty = " (with uncommitted changes to the code or config)" if dirty else ""
    versions = ", ".join(f"{p} {version(p)}" for p in ("alignsim", "numpy", "pandas", "mesa"))
    load = f"; load average {load_before:.2f} at start" if load_before is not None else ""
    return "\n".join([
        f"- commit `{commit}`{dirty}, measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s",
        f"- machine: {_cpu()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}{load}",
        f"- Python {platform.python_version()}, {versions}",
    ])


def measure(name: str, page: Page) -> tuple[str, str]:
    """Run the page's command in a temporary folder; return (page Markdown, the command's stdout)."""
    with tempfile.TemporaryDirectory(prefix=f"alignsim-{name}-") as tmp:
        out = Path(tmp) / "out"
        command = [str(out) if part == "OUT" else part for part in page.command]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{name}: {' '.join(command)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        stdout = proc.stdout.replace(str(out), "RUN_DIR").replace(tmp, "TMP")
    shown = " ".join("RUN_DIR" if part == "OUT" else part for part in page.command)
    shown = shown.replace(sys.executable, "python")
    text = "\n".join([
        f"# {page.title}", "",
        "Written by `scripts/write_results.py " + name + "`; do not edit by hand. " + page.about, "",
        stamp(load, seconds), "", "Command:", "", "```bash", shown, "```", "", "Output:", "", "```text",
        stdout.rstrip(), "```", "",
    ])
    return text, stdout


def readme_excerpt(stdout: str) -> str:
    """The headline sentence, the first and last year-end rows and the closing lines of a ``run``'s output."""
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("year-end"))
    rows = [i for i in range(head + 1, len(lines)) if re.match(r"\d{4}-\d{2}-\d{2} ", lines[i])]
    headline = next((line for line in lines[:head] if "probability" in line), lines[0])
    keep = [headline, "", lines[head], lines[rows[0]], lines[rows[1]], "...", lines[rows[-1]], ""]
    keep += [line for line in lines[rows[-1] + 1:] if line.startswith(("Median", "P(event", "Replicates"))]
    return "\n".join(keep)


def update_readme(excerpt: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- results:base -->", "<!-- /results:base -->"
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block to refresh")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    README.write_text(f"{before}{start}\n```text\n{excerpt}\n```\n{end}{after}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"pages to measure: {', '.join(PAGES)}, or all")
    parser.add_argument("--list", action="store_true", help="list the pages and their rough duration")
    args = parser.parse_args(argv)
    if args.list or not args.names:
        for name, page in PAGES.items():
            print(f"{name:20s} ~{page.minutes:g} min  {page.title}")
        return 0
    names = list(PAGES) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in PAGES]
    if unknown:
        parser.error(f"unknown page {unknown[0]!r}; expected one of {', '.join(PAGES)} or all")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in names:
        text, stdout = measure(name, PAGES[name])
        (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
        print(f"wrote docs/results/{name}.md")
        if name == "base":
            update_readme(readme_excerpt(stdout))
            print("refreshed the excerpt in README.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
