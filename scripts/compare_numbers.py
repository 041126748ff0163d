"""Check that a refactor left the numbers alone: run, backtest, one sweep and the Armenia scenario.

Runs each command through the command line (``python -m alignsim ...``) into a temporary folder,
collects its probabilities into one flat table and compares them with
``scripts/reference_numbers.json`` (written by ``--write`` at commit 8f6e4a9, before the
layered package). Exit 0 when every number is equal to the last bit, 1 otherwise.

    python scripts/compare_numbers.py            # compare
    python scripts/compare_numbers.py --write    # record the reference (only at a known-good commit)
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scripts" / "reference_numbers.json"

COMMANDS = {
    "run_base": ["run", "config/base.yaml", "--replicates", "20000", "--seed", "3", "--no-report"],
    "run_armenia": ["run", "config/armenia.yaml", "--replicates", "20000", "--seed", "3", "--no-report"],
    "backtest": ["backtest", "config/backtests/", "--draws", "60", "--inner", "200", "--seed", "0"],
    "sweep": ["sweep", "config/sweeps/western_condemnation_rate.yaml", "--replicates", "2000"],
}


def _numbers(kind: str, out: Path) -> dict[str, float]:
    """Every probability a command wrote, keyed by file and position (floats, full precision)."""
    found: dict[str, float] = {}
    if kind.startswith("run_"):
        summary = json.loads((out / "summary.json").read_text())
        _flatten(summary, kind, found, skip={"seconds", "elapsed_s", "run_dir", "created"})
        return found
    for csv in sorted(out.glob("*.csv")):
        table = pd.read_csv(csv)
        for column in table.select_dtypes("number").columns:
            if "second" in column:
                continue
            for i, value in enumerate(table[column]):
                found[f"{kind}/{csv.name}/{column}/{i}"] = float(value)
    return found


def _flatten(value, key: str, found: dict[str, float], skip: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in skip:
                _flatten(v, f"{key}/{k}", found, skip)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{key}/{i}", found, skip)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        found[key] = float(value)


def measure() -> dict[str, float]:
    numbers: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, args in COMMANDS.items():
            out = Path(tmp) / kind
            subprocess.run([sys.executable, "-m", "alignsim", *args, "--out", str(out)], cwd=ROOT,
                           check=True, stdout=subprocess.DEVNULL)
            numbers.update(_numbers(kind, out))
    return numbers


def _same(a: float, b: float) -> bool:
    """Equal to the last bit, NaN equal to NaN."""
    return a == b or (math.isnan(a) and math.isnan(b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the reference numbers")
    args = parser.parse_args()
    numbers = measure()
    if args.write:
        REFERENCE.write_text(json.dumps(numbers, indent=0, sort_keys=True) + "\n")
        print(f"wrote {len(numbers)} numbers to {REFERENCE.relative_to(ROOT)}")
        return 0
    reference = json.loads(REFERENCE.read_text())
    missing = sorted(set(reference) - set(numbers))
    changed = sorted(k for k in reference if k in numbers and not _same(numbers[k], reference[k]))
    for key in missing:
        print(f"missing: {key}")
    for key in changed:
        print(f"changed: {key}: {reference[key]!r} -> {numbers[key]!r}")
    print(f"{len(reference) - len(missing) - len(changed)} of {len(reference)} numbers identical")
    return 1 if missing or changed else 0


if __name__ == "__main__":
    sys.exit(main())
