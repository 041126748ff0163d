"""The standard sensitivity set for a scenario, from one command, with its wall time.

    .venv/bin/python experiments/standard_set.py [experiments/standard_set.yaml] [--workers 2] [--out DIR]

The same as ``alignsim sensitivity experiments/standard_set.yaml``: both call
``alignsim.analyses.sensitivity_set.run_sensitivity`` (see there for the settings and the
folder it writes). Settings live in the YAML file; ``config/sensitivity/smoke.yaml`` is a tiny one. Prints the
CPU time of each analysis (this process and the workers' tasks), which does not depend on other load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alignsim.analyses.sensitivity_set import run_sensitivity
from alignsim.errors import AlignsimError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("settings", nargs="?", default=str(Path(__file__).with_name("standard_set.yaml")))
    ap.add_argument("--workers", type=int, help="worker processes (default: the settings file's)")
    ap.add_argument("--out", help="folder to create (must not exist)")
    a = ap.parse_args(argv)
    try:
        result = run_sensitivity(a.settings, workers=a.workers, out=a.out)
    except AlignsimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary)
    wall = sum(result.timings.values())
    print(f"standard set finished ({wall:.1f} s in the analyses); folder {result.folder}")
    cpu = sum(result.cpu_seconds.values())
    print(f"CPU time {cpu:.0f} s in the analyses ({', '.join(f'{k} {v:.0f}' for k, v in result.cpu_seconds.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
