"""Write docs/results/mechanics.md: the Uzbekistan forecasts before and after issue 12's decision
mechanics, and what moved them, one switch at a time.

"Before" is the code and config of commit 4c81144, run from a temporary ``git worktree`` (removed
afterwards). "After" is this checkout. Between them, the current code is run with every new
mechanism switched back to the old behaviour (``--set`` overrides), then the switches are turned
on one at a time, cumulatively, in the order of the table. All runs of one scenario share the
seed, replicate numbers and outer draws of that scenario's config (common random numbers).

Usage: python scripts/results_mechanics.py [--replicates N]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "4c81144"
SCENARIOS = ("base", "current")
OLD_SPEED = "{dist: uniform, low: 0.02, high: 0.08, basis: setting, note: the erosion prior before issue 12}"

# (label, overrides that undo this switch). The ladder starts with all of them applied and
# removes them one at a time, from the top.
SWITCHES: list[tuple[str, list[str]]] = [
    ("denials restate the stance (`reset: max`, was: set to U(1, 3))", ["barrier.reset=set"]),
    ("time erosion U(0, 0.02) a quarter (was U(0.02, 0.08))", [f"barrier.params.speed={OLD_SPEED}"]),
    ("trigger: a leadership change lowers the stance by U(0, 1.5)", ["barrier.shocks.leadership_change=0"]),
    ("trigger: a rupture with the West (Western condemnation) lowers it by U(0.5, 2)",
     ["barrier.shocks.western_condemnation=0"]),
    ("trigger: a regional crisis (Afghan, Tajik) lowers it by U(0, 0.5)",
     ["barrier.shocks.afghan_crisis=0", "barrier.shocks.tajik_crisis=0"]),
    ("trigger: a change of the law (rate U(0, 0.01)) lowers it by U(1.5, 3)", ["barrier.shocks.law_change=0"]),
    ("three levels: suspension and its transitions (intercept -1000: probability exactly 0)", [
        "decision.suspend_intercept=-1000", "decision.resume_intercept=-1000",
        "decision.suspended_exit_intercept=-1000"]),
    ("coercion cuts both ways (patron_leverage weight U(0, 8), was 0)", ["drivers.patron_leverage.weight=0"]),
]

PROBE = r"""
import json, sys
from alignsim import load_scenario, run_ensemble
from alignsim.engine.estimates import summarise
path, reps, overrides = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
s = load_scenario(path, overrides)
sm = summarise(run_ensemble(s, replicates=reps, keep_table=False))
print(json.dumps({"cumulative": {c["quarter"]: [c["estimate"], c["ci_low"], c["ci_high"]] for c in sm["cumulative"]},
                  "conditional": sm["conditional"]}))
"""


def probe(src: Path, config: Path, replicates: int, overrides: list[str]) -> dict:
    """Run one scenario with the code under ``src`` in a fresh interpreter; its year-end numbers."""
    env = {"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(config), str(replicates), json.dumps(overrides)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def before_numbers(replicates: int) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), BEFORE],
                       check=True, capture_output=True)
        try:
            return {name: probe(tree / "src", tree / "config" / f"{name}.yaml", replicates, [])
                    for name in SCENARIOS}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=True, capture_output=True)


def ladder(name: str, replicates: int) -> list[tuple[str, dict]]:
    config = ROOT / "config" / f"{name}.yaml"
    rows = []
    for k in range(len(SWITCHES) + 1):
        undo = [o for _, overrides in SWITCHES[k:] for o in overrides]
        label = "all switches off (old mechanics in the new code)" if k == 0 else f"+ {SWITCHES[k - 1][0]}"
        rows.append((label, probe(ROOT / "src", config, replicates, undo)))
    return rows


def headline_quarters(name: str) -> list[str]:
    return ["2025-Q4", "2030-Q4"] if name == "base" else ["2028-Q4", "2030-Q4", "2035-Q4"]


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def cell(res: dict, q: str) -> str:
    est, lo, hi = res["cumulative"][q]
    return f"{pct(est)} ({pct(lo)}-{pct(hi)})"


def table(name: str, before: dict, rows: list[tuple[str, dict]]) -> list[str]:
    qs = headline_quarters(name)
    cond = name == "base"
    head = "| run | " + " | ".join(f"P(by {q})" for q in qs) + (" | P(2026-2030 \\| none by 2025) |" if cond else " |")
    lines = [head, "|" + "---|" * (len(qs) + 1 + cond)]

    def line(label: str, res: dict) -> str:
        extra = ""
        if cond and res.get("conditional"):
            c = res["conditional"]
            extra = f" {pct(c['estimate'])} ({pct(c['ci_low'])}-{pct(c['ci_high'])}) |"
        return f"| {label} | " + " | ".join(cell(res, q) for q in qs) + " |" + extra

    lines.append(line(f"before: commit {BEFORE}", before))
    lines += [line(label, res) for label, res in rows]
    lines.append(line("after: this commit (= the last row)", rows[-1][1]))
    return lines


def commit() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=20000)
    args = ap.parse_args(argv)
    before = before_numbers(args.replicates)
    out = ["# Decision mechanics (issue 12): the Uzbekistan forecasts before and after", "",
           f"Written by `scripts/results_mechanics.py` at commit {commit()} (uncommitted changes, if any, "
           f"included) on {platform.node()} ({platform.machine()}, Python {platform.python_version()}). "
           f"{args.replicates} replicates per run, each scenario's own seed and outer draws; "
           "95% intervals are the cluster-robust Wilson intervals of `summary.json`.", "",
           "Rows after the first are the current code: first with every new mechanism switched back "
           "to the old behaviour by `--set` overrides, then with the switches turned on one at a time, "
           "cumulatively. The change from one row to the next is what that switch moved. All rows "
           "of one scenario share every random number (common random numbers).", ""]
    for name in SCENARIOS:
        out += [f"## {name}.yaml", ""] + table(name, before[name], ladder(name, args.replicates)) + [""]
    out += ["Unchanged by the audit of `basis: measured` (labels only). The panel calibration "
            "(issue 13) was not available, so the time-erosion prior was not checked against it.", ""]
    dest = ROOT / "docs" / "results" / "mechanics.md"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(out), encoding="utf-8")
    print(dest)


if __name__ == "__main__":
    main()
