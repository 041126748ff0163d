"""Benchmark of the two power models: rule-based (config/base-rule.yaml) and strategic
(config/base.yaml, the default). Prints figures and ratios measured in one run; asserts nothing.

    .venv/bin/python benchmarks/bench_powers.py [--replicates 1000000] [--workers 2]

Each run is a fresh subprocess (``bench_scale.py --one``), so peak memory does not carry over.
Target printed beside the figures: 10^6 replicates of base under 60 s on 2 cores with the
strategic model; the cost of the strategic model relative to rule-based powers. The cost is also
printed as CPU seconds of one process (``resource.getrusage``, ``--cpu-replicates``), which other
jobs on a shared machine inflate much less than wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import in_subprocess  # noqa: E402


def cpu_seconds(config: str, replicates: int, seed: int, numpy_choice: bool = False) -> float:
    """User + system CPU seconds of ``run_ensemble`` in this process (after a small warm-up run);
    ``numpy_choice``: the strategic choice and soft maximum on their numpy reference code."""
    import contextlib

    from alignsim import load_scenario, run_ensemble
    from alignsim.engine import reference

    s = load_scenario(config)
    with reference.numpy_choice() if numpy_choice else contextlib.nullcontext():
        run_ensemble(s, 1000, seed, keep_table=False)
        before = resource.getrusage(resource.RUSAGE_SELF)
        run_ensemble(s, replicates, seed, keep_table=False)
        after = resource.getrusage(resource.RUSAGE_SELF)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicates", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20170706)
    ap.add_argument("--cpu-replicates", type=int, default=100_000)
    args = ap.parse_args()
    print(f"cores available: {os.cpu_count()}; replicates {args.replicates:,}; workers {args.workers}")
    results = {}
    for model, config in (("rule", "config/base-rule.yaml"), ("strategic", "config/base.yaml")):
        r = in_subprocess(config, args.replicates, args.workers, args.seed)
        results[model] = r
        print(f"{model:9s} {config:28s} {r['seconds']:7.1f} s  {r['rep_quarters_per_s']:,.0f} rep-quarters/s  "
              f"peak worker {max(r['peak_mb_workers'], default=r['peak_mb_main']):.0f} MB  P(event) {r['estimate']:.4f} (se {r['se']:.4f})")
    cpu = {}
    for model, config in (("rule", "config/base-rule.yaml"), ("strategic", "config/base.yaml")):
        cpu[model] = cpu_seconds(config, args.cpu_replicates, args.seed)
        print(f"{model:9s} CPU {cpu[model]:6.2f} s for {args.cpu_replicates:,} replicates in one process")
    print(f"strategic / rule CPU time: {cpu['strategic'] / cpu['rule']:.2f}x")
    slow = cpu_seconds("config/base.yaml", args.cpu_replicates, args.seed, numpy_choice=True)
    print(f"strategic CPU {slow:6.2f} s with the choice in numpy (engine.reference.numpy_choice): "
          f"{slow / cpu['rule']:.2f}x rule; the compiled choice saves {slow - cpu['strategic']:.2f} s")
    s = results["strategic"]["seconds"]
    ratio = s / results["rule"]["seconds"]
    scaled = s * 1_000_000 / args.replicates
    print(f"strategic / rule time: {ratio:.2f}x")
    print(f"strategic, 10^6 replicates on {args.workers} workers: {scaled:.1f} s "
          f"(target < 60 s: {'met' if scaled < 60 else 'MISSED'})")


if __name__ == "__main__":
    main()
