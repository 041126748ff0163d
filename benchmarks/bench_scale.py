"""Scale benchmark for the base scenario: prints figures, asserts nothing.

    .venv/bin/python benchmarks/bench_scale.py [--config config/base-rule.yaml] [--set outside_options=null]
        [--workers 2] [--sizes 10000,100000,1000000] [--baseline 1000] [--strategic config/base.yaml]
        [--no-startup] [--write docs/results/benchmark.md]

The engine lines and the Mesa baseline run the first version's model: ``--config`` (rule-based
powers) with ``--set outside_options=null`` (the drivers added up), which is what the baseline
implements, so the two agree and the ratio compares like with like. The default model of the
Uzbekistan scenarios (strategic powers, outside options as a soft maximum) has its own line
(``--strategic``), and ``benchmarks/bench_powers.py`` times it at 10^6.

Prints, in one run (each engine run in a fresh subprocess, so peaks do not carry over; runs keep
per-draw counts only, ``run_ensemble(keep_table=False, keep_outcomes=False)``):
- the engine at each size, one process and ``--workers`` processes: wall and CPU seconds
  (summed over the main process and the workers) and peak memory summed over processes;
- the numpy reference engine (``engine.reference.numpy_engine``) at 10^5, and its ratio to the
  compiled one;
- the strategic powers (``--strategic``) at 10^5: its own line, its ratio to its own
  random-number floor, to the rule-based engine and to batch_run;
- the Mesa baseline (``alignsim.engine.mesa_baseline``: scalar state, one replicate per Model, through
  ``mesa.batch_run``, a seed per replicate) on ``--baseline`` replicates, its agreement with the
  engine (in standard errors) and the ratio of CPU time per replicate;
- the random-number floor: the CPU time to draw, alone, every uniform/normal the model consumes
  for the same purposes, steps and replicates, three ways: one ``streams.uniforms`` call each (a
  fresh numpy generator per call), through one ``streams.StreamSource`` into a reused array (the
  engine's own way, the compiled Philox of ``engine/philox.py``, the fastest; the ratio is to
  this one) and through one reused numpy generator (the engine's way before that: the ratio to
  it is printed too, for comparison with earlier runs);
- worker-pool start-up times (local pool: spawn and forkserver; Dask LocalCluster).
Targets (>= 300x batch_run, <= 2x the floor, 10^6 in <= 10 s on 2 cores, < 1 GB summed over
processes and flat) are printed next to the figures. All ratios are of CPU time (the machine
may be shared). The ratios at sizes above ``--baseline`` use the baseline's per-replicate rate
(extrapolated: batch_run is only run on ``--baseline``). With ``--write`` the printed lines
also go to that Markdown file, stamped with the commit and the machine.
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


def one_size(config: str, replicates: int, workers: int, seed: int, reference: bool = False,
             overrides: tuple[str, ...] = ()) -> dict:
    """Run one ensemble (counts only: no per-replicate table or outcomes kept); time, CPU and memory.

    CPU seconds are this process's plus, with workers, each worker's CPU during the run (from
    ``LocalPool.worker_usage`` before and after). ``reference`` runs the numpy reference engine.
    """
    import contextlib

    from alignsim import load_scenario
    from alignsim.engine.ensemble import run_ensemble
    from alignsim.engine.estimates import summarise
    from alignsim.engine.parallel import LocalPool
    from alignsim.engine.reference import numpy_engine

    s = load_scenario(config, list(overrides))
    pool = LocalPool(workers) if workers > 1 else None
    try:
        before = pool.worker_usage() if pool else {}
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        with numpy_engine() if reference else contextlib.nullcontext():
            ens = run_ensemble(s, replicates, seed, keep_table=False, keep_outcomes=False,
                               map_batches=pool.map_batches if pool else None)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        after = pool.worker_usage() if pool else {}
        p = summarise(ens)["probability"]
    finally:
        if pool is not None:
            pool.close()
    worker_cpu = sum(c - before.get(pid, (0.0, 0.0))[1] for pid, (_, c) in after.items())
    me, _ = _peak_mb()
    return {"replicates": replicates, "workers": workers, "seconds": seconds, "cpu_seconds": cpu + worker_cpu,
            "rep_quarters_per_s": replicates * s.axis.n_steps / seconds,
            "peak_mb_main": me, "peak_mb_workers": [mb for mb, _ in after.values()],
            "estimate": p["estimate"], "se": p["se"], "startup_s": pool.startup_seconds if pool else 0.0}


def in_subprocess(config: str, replicates: int, workers: int, seed: int, reference: bool = False,
                  overrides: tuple[str, ...] = ()) -> dict:
    cmd = [sys.executable, __file__, "--one", str(replicates), "--workers", str(workers),
           "--config", config, "--seed", str(seed)] + (["--reference"] if reference else [])
    cmd += [f"--set={item}" for item in overrides]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def numpy_generator_draws(seed: int, calls: list[tuple[str, str, int]], bounds: list[tuple[int, int]]) -> float:
    """CPU seconds for the same draws through one reused numpy Philox generator (key and counter
    set per call, the engine's way before ``engine/philox.py``), as uniforms into a reused array."""
    import numpy as np
    from scipy.special import ndtri

    from alignsim.engine import streams

    gen = np.random.Philox(key=np.zeros(2, np.uint64))
    state, counter = gen.state, np.zeros(4, np.uint64)
    out = np.empty(max(b - a for a, b in bounds))
    t0 = time.process_time()
    for a, b in bounds:
        u = out[:b - a]
        for kind, purpose, step in calls:
            counter[0] = a // 4
            state["state"]["counter"], state["state"]["key"] = counter, streams.stream_key(seed, purpose, step)
            state["buffer_pos"] = 4
            gen.state = state
            raw = gen.random_raw(b - a // 4 * 4)[a % 4:]
            np.right_shift(raw, np.uint64(11), out=raw)
            np.copyto(u, raw, casting="unsafe")
            np.multiply(u, 2.0**-53, out=u)
            if kind == "n":
                ndtri(np.clip(u, 2.0**-53, 1 - 2.0**-53, out=u), out=u)
    return time.process_time() - t0


def random_floor(config: str, replicates: int, seed: int, overrides: tuple[str, ...] = ()) -> tuple[float, float, int, float]:
    """CPU seconds to draw every random number a run of ``replicates`` consumes, three ways, and how many calls.

    Returns (one ``streams.uniforms``/``normals`` call per draw, the same draws through one
    ``StreamSource`` into a reused array, draws per batch, the same through one reused numpy
    generator: ``numpy_generator_draws``).
    """
    import numpy as np

    from alignsim import load_scenario
    from alignsim.engine import streams
    from alignsim.engine.ensemble import batch_bounds, simulate
    from alignsim.engine.priors import replicate_params, sample_draws

    s = load_scenario(config, list(overrides))
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
    t0 = time.process_time()
    for a, b in bounds:
        for kind, purpose, step in calls:
            (streams.uniforms if kind == "u" else streams.normals)(seed, purpose, step, a, b)
    per_call = time.process_time() - t0
    t0 = time.process_time()
    source = streams.StreamSource(seed)
    buffer = np.empty(max(b - a for a, b in bounds))
    for a, b in bounds:
        out = buffer[:b - a]
        for kind, purpose, step in calls:
            (source.uniforms if kind == "u" else source.normals)(purpose, step, a, b, out=out)
    floor = time.process_time() - t0
    return per_call, floor, len(calls), numpy_generator_draws(seed, calls, bounds)


def baseline(config: str, replicates: int, seed: int, overrides: tuple[str, ...] = ()) -> dict:
    from alignsim import load_scenario
    from alignsim.engine.mesa_baseline import batch_run_outcomes

    s = load_scenario(config, list(overrides))
    t0 = time.perf_counter()
    c0 = time.process_time()
    out = batch_run_outcomes(s, replicates, seed)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    p = float((out["first_entry_step"] > 0).mean())
    return {"replicates": replicates, "seconds": seconds, "cpu_seconds": cpu, "estimate": p,
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
    ap.add_argument("--config", default="config/base-rule.yaml",
                    help="the rule-based scenario of the engine lines and the batch_run baseline")
    ap.add_argument("--strategic", default="config/base.yaml",
                    help="the strategic-powers scenario (the default model) for its own line ('' to skip)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--baseline", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20170706)
    ap.add_argument("--no-startup", action="store_true", help="skip the pool start-up timings")
    ap.add_argument("--write", default="docs/results/benchmark.md",
                    help="Markdown file for the figures ('' to skip)")
    ap.add_argument("--set", action="append", dest="rule_set", metavar="PATH=VALUE",
                    help="override of --config for the engine lines and the baseline (repeatable; default "
                         "outside_options=null: the first version's model, the one mesa.batch_run implements; "
                         "an empty --set= applies none; a --one run applies exactly the ones it is given)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--reference", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    default = [] if a.one else ["outside_options=null"]
    rule_set = tuple(x for x in (a.rule_set if a.rule_set is not None else default) if x)
    if a.one:
        builtins.print(json.dumps(one_size(a.config, a.one, a.workers, a.seed, a.reference, rule_set)))
        return

    from alignsim.runs.folder import cpu_name, versions

    lines: list[str] = []

    def print(text: str = "", **_) -> None:  # noqa: A001  (every printed line also goes to --write)
        lines.append(text)
        builtins.print(text, flush=True)

    def engine_line(label: str, r: dict) -> None:
        mem = r["peak_mb_main"] + sum(r["peak_mb_workers"])
        workers = (f" + {len(r['peak_mb_workers'])} workers " + "/".join(f"{m:.0f}" for m in r["peak_mb_workers"])
                   if r["peak_mb_workers"] else "")
        print(f"{label:10s} {r['replicates']:>9,} replicates  {r['workers']} proc  {r['seconds']:7.2f} s wall  "
              f"{r['cpu_seconds']:7.2f} s CPU  peak {mem:5.0f} MB summed (main {r['peak_mb_main']:.0f}{workers})  "
              f"P = {r['estimate']:.4f} +/- {r['se']:.4f}")

    v = versions()
    sets = "".join(f" --set {x}" for x in rule_set)
    print(f"CPU: {cpu_name()} ({os.cpu_count()} logical cores); Python {v['python']}, numpy {v['numpy']}, "
          f"mesa {v['mesa']}; config {a.config}{sets}, seed {a.seed}; load average at start {os.getloadavg()[0]:.1f}")
    print("Ratios use CPU seconds (user + system, summed over processes), so other load on the machine "
          "inflates them less than wall-clock times.")
    sizes = [int(x) for x in a.sizes.split(",")]
    n_ref = min(100_000, max(sizes))
    rows = []
    for workers in sorted({1, a.workers}):
        for n in sizes:
            r = in_subprocess(a.config, n, workers, a.seed, overrides=rule_set)
            rows.append(r)
            engine_line("engine", r)
    ref = in_subprocess(a.config, n_ref, 1, a.seed, reference=True, overrides=rule_set)
    engine_line("numpy ref", ref)
    strat = in_subprocess(a.strategic, n_ref, 1, a.seed) if a.strategic else None
    if strat:
        engine_line("strategic", strat)

    b = baseline(a.config, a.baseline, a.seed, rule_set)
    one = [r for r in rows if r["workers"] == 1]
    top = max(one, key=lambda r: r["replicates"])
    z = abs(b["estimate"] - top["estimate"]) / (b["se"] ** 2 + top["se"] ** 2) ** 0.5
    base_rate = b["cpu_seconds"] / b["replicates"]  # batch_run CPU seconds per replicate
    print(f"mesa.batch_run baseline  {b['replicates']:,} replicates  {b['seconds']:.2f} s wall  {b['cpu_seconds']:.2f} s CPU  "
          f"P = {b['estimate']:.4f} +/- {b['se']:.4f} ({z:.2f} SE from the engine's {top['estimate']:.4f}; target < 3)")
    for r in rows:
        extrapolated = " (batch_run rate extrapolated from its run)" if r["replicates"] > b["replicates"] else ""
        print(f"  engine/batch_run at {r['replicates']:>9,} x {r['workers']} proc: "
              f"{base_rate * r['replicates'] / r['cpu_seconds']:7.0f}x by CPU time "
              f"(target >= 300x in one process){extrapolated}")

    per_call_s, floor_s, n_calls, numpy_s = random_floor(a.config, n_ref, a.seed, rule_set)
    eng = next((r for r in one if r["replicates"] == n_ref), None)
    print(f"random-number floor at {n_ref:,} replicates ({n_calls} stream draws per batch): "
          f"{floor_s:.2f} s CPU through one StreamSource (compiled Philox), {per_call_s:.2f} s as separate "
          f"streams.uniforms calls, {numpy_s:.2f} s through one reused numpy generator (the floor before engine/philox.py)")
    if eng:
        print(f"  engine {eng['cpu_seconds']:.2f} s CPU = {eng['cpu_seconds'] / floor_s:.1f}x the floor (target <= 2x), "
              f"{eng['cpu_seconds'] / numpy_s:.1f}x the numpy-generator floor; "
              f"numpy reference {ref['cpu_seconds']:.2f} s CPU = {ref['cpu_seconds'] / floor_s:.1f}x, "
              f"{ref['cpu_seconds'] / eng['cpu_seconds']:.1f}x the compiled engine")
    if strat:
        s_floor = random_floor(a.strategic, n_ref, a.seed)[1]
        print(f"strategic powers ({a.strategic}) at {n_ref:,}: {strat['cpu_seconds']:.2f} s CPU = "
              f"{strat['cpu_seconds'] / s_floor:.1f}x its own floor ({s_floor:.2f} s), "
              f"{strat['cpu_seconds'] / eng['cpu_seconds'] if eng else float('nan'):.2f}x the rule-based engine, "
              f"{base_rate * n_ref / strat['cpu_seconds']:.0f}x batch_run (rule-based baseline, by CPU time)")

    if not a.no_startup:
        for name, sec in startup_times(a.workers).items():
            print(f"start-up of a {a.workers}-worker {name}: {sec:.2f} s")

    for r in [r for r in rows if r["replicates"] == max(sizes)]:
        print(f"largest run ({r['replicates']:,}) with {r['workers']} proc: {r['seconds']:.1f} s wall, "
              f"{r['cpu_seconds']:.1f} s CPU (target 10^6 <= 10 s on 2 cores)")
    for workers in sorted({r["workers"] for r in rows}):
        peaks = [(r["replicates"], r["peak_mb_main"] + sum(r["peak_mb_workers"])) for r in rows if r["workers"] == workers]
        print(f"peak memory summed over processes, {workers} proc: "
              + ", ".join(f"{n:,}: {mb:.0f} MB" for n, mb in peaks) + " (target < 1024 MB, flat)")
    print(f"load average at end {os.getloadavg()[0]:.1f} (other processes share the {os.cpu_count()} cores)")
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
            "- ratios are of CPU seconds measured in the same run; wall-clock seconds depend on what",
            "  else the machine was doing.", "", "```", *lines, "```", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(page))
    builtins.print(f"wrote {path}")


if __name__ == "__main__":
    main()
