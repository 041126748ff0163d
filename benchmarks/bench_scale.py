"""Scale benchmark for the base scenario: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_scale.py [--config config/base.yaml] [--workers 2]
        [--sizes 10000,100000,1000000] [--baseline 1000] [--write docs/results/benchmark.md]

Prints, in one run:
- the engine's replicate-quarters per second at each size, one process and ``--workers``
  processes, with peak memory (each size in a fresh subprocess, so peaks do not carry over);
- the Mesa baseline (``alignsim.engine.mesa_baseline``: scalar state, one replicate per Model, through
  ``mesa.batch_run``, a seed per replicate) on ``--baseline`` replicates, its agreement with the
  engine (in standard errors) and the throughput ratio;
- the random-number floor: the time to draw, alone, every uniform/normal the model consumes
  for the same purposes, steps and replicates, two ways: one ``streams.uniforms`` call each (a
  fresh generator per call, as before the fused engine) and through one ``streams.StreamSource``
  into a reused array (the engine's own way, the faster of the two); the ratio is to the latter;
- worker-pool start-up times (local pool: spawn and forkserver; Dask LocalCluster).
Targets (>= 300x batch_run, <= 2x the floor, 10^6 in <= 10 s on 2 cores, < 1 GB summed over
processes and flat) are printed next to the figures. The ratios at sizes above ``--baseline``
use the baseline's per-replicate rate (extrapolated: batch_run is only run on ``--baseline``).
With ``--write`` the printed lines also go to that Markdown file, stamped with the commit and
the machine.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_mb() -> tuple[float, float]:
    """(this process, largest child) peak resident memory in MB (Linux reports KB)."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, kids


def one_size(config: str, replicates: int, workers: int, seed: int) -> dict:
    """Run one ensemble (no per-replicate table kept) and report time and peak memory."""
    from alignsim import load_scenario
    from alignsim.engine.ensemble import run_ensemble
    from alignsim.engine.estimates import summarise
    from alignsim.engine.parallel import LocalPool

    s = load_scenario(config)
    pool = LocalPool(workers) if workers > 1 else None
    try:
        t0 = time.perf_counter()
        ens = run_ensemble(s, replicates, seed, keep_table=False,
                           map_batches=pool.map_batches if pool else None)
        seconds = time.perf_counter() - t0
        p = summarise(ens)["probability"]
        worker_mb = pool.worker_peak_mb() if pool else 0.0
    finally:
        if pool is not None:
            pool.close()
    me, _ = _peak_mb()
    return {"replicates": replicates, "workers": workers, "seconds": seconds,
            "rep_quarters_per_s": replicates * s.axis.n_steps / seconds,
            "peak_mb_main": me, "peak_mb_worker": worker_mb,
            "estimate": p["estimate"], "se": p["se"], "startup_s": pool.startup_seconds if pool else 0.0}


def in_subprocess(config: str, replicates: int, workers: int, seed: int) -> dict:
    cmd = [sys.executable, __file__, "--one", str(replicates), "--workers", str(workers),
           "--config", config, "--seed", str(seed)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def random_floor(config: str, replicates: int, seed: int) -> tuple[float, float, int]:
    """Seconds to draw every random number a run of ``replicates`` consumes, two ways, and how many calls.

    Returns (one ``streams.uniforms``/``normals`` call per draw, the same draws through one
    ``StreamSource`` into a reused array, draws per batch).
    """
    import numpy as np

    from alignsim import load_scenario
    from alignsim.engine import streams
    from alignsim.engine.ensemble import batch_bounds, simulate
    from alignsim.engine.priors import replicate_params, sample_draws

    s = load_scenario(config)
    calls: list[tuple[str, str, int]] = []
    real_u, real_n = streams.StreamSource.uniforms, streams.StreamSource.normals
    in_normal = [False]  # normals draw their uniforms through ``uniforms``: count them once

    def counting(self, purpose, step, a, b, out=None):
        if not in_normal[0]:
            calls.append(("u", purpose, step))
        return real_u(self, purpose, step, a, b, out)

    def counting_n(self, purpose, step, a, b, out=None):
        calls.append(("n", purpose, step))
        in_normal[0] = True
        try:
            return real_n(self, purpose, step, a, b, out)
        finally:
            in_normal[0] = False

    streams.StreamSource.uniforms, streams.StreamSource.normals = counting, counting_n
    try:  # one replicate shows which streams are drawn at which steps (the same for every replicate)
        simulate(s, replicate_params(sample_draws(s, seed, 1), 1, 0, 1), seed)
    finally:
        streams.StreamSource.uniforms, streams.StreamSource.normals = real_u, real_n
    bounds = batch_bounds(replicates, s.monte_carlo.batch_size)
    t0 = time.perf_counter()
    for a, b in bounds:
        for kind, purpose, step in calls:
            (streams.uniforms if kind == "u" else streams.normals)(seed, purpose, step, a, b)
    per_call = time.perf_counter() - t0
    t0 = time.perf_counter()
    source = streams.StreamSource(seed)
    buffer = np.empty(max(b - a for a, b in bounds))
    for a, b in bounds:
        out = buffer[:b - a]
        for kind, purpose, step in calls:
            (source.uniforms if kind == "u" else source.normals)(purpose, step, a, b, out=out)
    return per_call, time.perf_counter() - t0, len(calls)


def baseline(config: str, replicates: int, seed: int) -> dict:
    from alignsim import load_scenario
    from alignsim.engine.mesa_baseline import batch_run_outcomes

    s = load_scenario(config)
    t0 = time.perf_counter()
    out = batch_run_outcomes(s, replicates, seed)
    seconds = time.perf_counter() - t0
    p = float((out["first_entry_step"] > 0).mean())
    return {"replicates": replicates, "seconds": seconds, "estimate": p,
            "se": (p * (1 - p) / replicates) ** 0.5, "rep_quarters_per_s": replicates * s.axis.n_steps / seconds}


def startup_times(workers: int) -> dict:
    from alignsim.engine.parallel import DaskPool, LocalPool

    out = {}
    for method in ("spawn", "forkserver"):
        pool = LocalPool(workers, start_method=method)
        out[f"local pool ({method})"] = pool.startup_seconds
        pool.close()
    pool = DaskPool(workers=workers)
    out["Dask LocalCluster"] = pool.startup_seconds
    pool.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="config/base.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--baseline", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20170706)
    ap.add_argument("--write", default="docs/results/benchmark.md",
                    help="Markdown file for the figures ('' to skip)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        builtins.print(json.dumps(one_size(a.config, a.one, a.workers, a.seed)))
        return

    from alignsim.runs.folder import cpu_name, versions

    lines: list[str] = []

    def print(text: str = "", **_) -> None:  # noqa: A001  (every printed line also goes to --write)
        lines.append(text)
        builtins.print(text, flush=True)

    v = versions()
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores); Python {v['python']}, numpy {v['numpy']}, "
          f"mesa {v['mesa']}; config {a.config}, seed {a.seed}; load average at start {os.getloadavg()[0]:.1f}")
    sizes = [int(x) for x in a.sizes.split(",")]
    rows = []
    for workers in sorted({1, a.workers}):
        for n in sizes:
            r = in_subprocess(a.config, n, workers, a.seed)
            rows.append(r)
            print(f"engine  {n:>9,} replicates  {workers} proc  {r['seconds']:7.2f} s  "
                  f"{r['rep_quarters_per_s'] / 1e6:6.2f} M rep-quarters/s  peak {r['peak_mb_main']:6.0f} MB main"
                  + (f", {r['peak_mb_worker']:5.0f} MB per worker" if workers > 1 else "")
                  + f"  P = {r['estimate']:.4f} +/- {r['se']:.4f}", flush=True)

    b = baseline(a.config, a.baseline, a.seed)
    ref = max((r for r in rows if r["workers"] == 1), key=lambda r: r["replicates"])
    z = abs(b["estimate"] - ref["estimate"]) / (b["se"] ** 2 + ref["se"] ** 2) ** 0.5
    print(f"mesa.batch_run baseline  {b['replicates']:,} replicates  {b['seconds']:.2f} s  "
          f"{b['rep_quarters_per_s']:,.0f} rep-quarters/s  P = {b['estimate']:.4f} +/- {b['se']:.4f} "
          f"({z:.2f} SE from the engine's {ref['estimate']:.4f}; target < 3)")
    for r in rows:
        extrapolated = " (batch_run rate extrapolated from its run)" if r["replicates"] > b["replicates"] else ""
        print(f"  engine/batch_run at {r['replicates']:>9,} x {r['workers']} proc: "
              f"{r['rep_quarters_per_s'] / b['rep_quarters_per_s']:7.0f}x (target >= 300x in one process){extrapolated}")

    n_floor = min(100_000, max(sizes))
    per_call_s, floor_s, n_calls = random_floor(a.config, n_floor, a.seed)
    eng = next((r for r in rows if r["workers"] == 1 and r["replicates"] == n_floor), None)
    print(f"random-number floor at {n_floor:,} replicates ({n_calls} stream draws per batch): "
          f"{floor_s:.2f} s through one StreamSource, {per_call_s:.2f} s as separate streams.uniforms calls"
          + (f"; engine {eng['seconds']:.2f} s = {eng['seconds'] / floor_s:.1f}x the floor (target <= 2x)" if eng else ""))

    for name, sec in startup_times(a.workers).items():
        print(f"start-up of a {a.workers}-worker {name}: {sec:.2f} s")

    big = [r for r in rows if r["replicates"] == max(sizes)]
    for r in big:
        print(f"10^6-class run ({r['replicates']:,}) with {r['workers']} proc: {r['seconds']:.1f} s (target <= 10 s on 2 cores)")
    peaks = [r["peak_mb_main"] + r["workers"] * r["peak_mb_worker"] for r in rows]
    print(f"load average at end {os.getloadavg()[0]:.1f} (other processes share the {os.cpu_count()} cores)")
    print(f"peak memory (main + workers) over all sizes: {min(peaks):.0f}-{max(peaks):.0f} MB (target < 1024 MB, flat)")
    if a.write:
        write_results(Path(a.write), lines, sys.argv[1:])


def write_results(path: Path, lines: list[str], argv: list[str]) -> None:
    """The printed figures as a Markdown page, stamped with the commit, the machine and the command."""
    import platform

    from alignsim.runs.folder import cpu_name

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    page = ["# Scale benchmark (written by benchmarks/bench_scale.py)", "",
            f"- commit: `{commit}`{' (with uncommitted changes)' if dirty else ''}",
            f"- machine: {cpu_name()}, {os.cpu_count()} logical cores, {platform.platform()}",
            f"- measured: {stamp}; command: `python benchmarks/bench_scale.py {' '.join(argv)}`",
            "- timings are wall-clock on a machine that may be shared: compare the ratios, which are",
            "  measured in the same run, rather than absolute seconds across runs.", "", "```", *lines, "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(page))
    builtins.print(f"wrote {path}")


if __name__ == "__main__":
    main()
