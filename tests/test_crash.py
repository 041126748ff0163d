"""Crash test: a run killed at any moment resumes to bit-identical results, leaving no temporary
file and no orphan process.

Each case forks a child from this (already imported) test process, so a case costs the run, not
an interpreter start. The child is killed either

- by ``SIGKILL`` from here after a seeded random delay (``SEEDED_KILLS`` moments per worker count), or
- by itself at the N-th atomic write (half the temporary file written) or just before the N-th
  rename, through the ``ALIGNSIM_FAULT`` hook of ``runs.atomic`` (``os._exit(137)``, no cleanup:
  what ``kill -9`` leaves) -- every write and every rename of a run, with one worker; the batch
  phase's writes and renames again with two workers.

Then a second child resumes the folder (``--resume``), and the folder must match the
uninterrupted run: the same file names and byte-identical numbers (summary, tables, the
per-replicate table). Before each kill the child's process tree is snapshotted with psutil;
every process in it must be gone within ``ORPHAN_DEADLINE`` seconds.

To keep the test near a minute, the scenario is a small one built in code (one driver, a constant
hazard) and the figures are drawn as 1x1-pixel placeholders in the children (drawing is not what
is tested; every file is still written through the same atomic path, report included). With two
workers, the fault points are the writes and renames of the batches' completion marks (the rest of
a run is the same code with one or two workers) and those cases resume with one worker (results do
not depend on it).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml

from alignsim.errors import RunError
from alignsim.runs import atomic
from alignsim.runs.plan import RunPlan

from conftest import driver, minimal_doc

pytestmark = pytest.mark.slow

REPLICATES, BATCH = 400, 100  # 4 batches
SEEDED_KILLS = {1: 12, 2: 8}  # 20 in all
ORPHAN_DEADLINE = 20.0
NUMBER_FILES = ("summary.json", "quarters.csv", "contributions.csv", "year_ends.csv", "evidence.csv")
_FORK = multiprocessing.get_context("fork")


def _placeholder_figures() -> None:
    """Cheap figures in a child: every figure function returns a 1x1-pixel Figure."""
    from matplotlib.figure import Figure

    from alignsim.outputs import figures

    def tiny(*args, **kwargs):
        return Figure(figsize=(0.01, 0.01), dpi=100)

    for name in ("cumulative_figure", "contributions_figure", "gap_fan_figure"):
        setattr(figures, name, tiny)


def _child(config: str, out: str, workers: int, fault: str | None, resume: bool, counts: str | None) -> None:
    from alignsim.runs import api

    atomic._counts.update(write=0, rename=0)
    if fault:
        os.environ[atomic.FAULT_ENV] = fault
    else:
        os.environ.pop(atomic.FAULT_ENV, None)
    _placeholder_figures()
    try:
        if resume:
            api.run(None, resume=out, workers=workers)
        else:
            api.run(config, replicates=REPLICATES, batch_size=BATCH, out=out, workers=workers)
    except BaseException as exc:  # noqa: BLE001 - reported through the exit code
        print(f"child failed: {type(exc).__name__}: {exc}")
        os._exit(3)
    if counts:
        Path(counts).write_text(json.dumps(atomic._counts))
    os._exit(0)


def _start(out: Path, workers: int, fault: str | None = None, resume: bool = False, counts: Path | None = None):
    proc = _FORK.Process(target=_child, args=(str(_SCENARIO), str(out), workers, fault, resume, counts and str(counts)))
    proc.start()
    return proc


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _wait_gone(tree: list[psutil.Process]) -> list[str]:
    """The processes of ``tree`` still alive at the deadline (zombies count as gone)."""
    deadline = time.monotonic() + ORPHAN_DEADLINE
    alive = tree
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.05)
    return [f"{p.pid} {p.name()}" for p in alive if _alive(p)]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _finish(proc, timeout: float = 120) -> int:
    proc.join(timeout)
    assert proc.exitcode is not None, "a child did not finish in time"
    return proc.exitcode


def _files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))


def _check_same(run_dir: Path, reference: Path, label: str) -> None:
    assert _files(run_dir) == _files(reference), label
    for name in NUMBER_FILES:
        a, b = (run_dir / name).read_text(), (reference / name).read_text()
        if name == "summary.json":
            a, b = (json.loads(t) for t in (a, b))
            a.pop("output"), b.pop("output")
        assert a == b, f"{label}: {name} differs"
    pd.testing.assert_frame_equal(pd.read_parquet(run_dir / "replicates.parquet"),
                                  pd.read_parquet(reference / "replicates.parquet"), obj=label)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["notes"] == [], label


def _resume_and_check(out: Path, reference: Path, workers: int, label: str) -> None:
    """Resume ``out`` (with ``workers``) unless complete, then compare it with ``reference``."""
    if not out.exists():  # killed before the folder was made (e.g. while the pool started): nothing to resume
        return
    if not (out / "manifest.json").is_file():
        # killed before the manifest's first rename: nothing was computed, and resume says so in one line
        assert {p.name for p in out.iterdir() if not atomic.is_temporary(p.name)} <= {".lock", "config.resolved.yaml"}, label
        with pytest.raises(RunError, match="stopped before its manifest was written"):
            RunPlan.resume(out)
        return
    if json.loads((out / "manifest.json").read_text()).get("status") != "complete":
        code = _finish(_start(out, workers, resume=True))
        assert code == 0, f"{label}: resume failed ({code})"
    _check_same(out, reference, label)
    assert not [p for p in out.rglob("*") if atomic.is_temporary(p.name)], f"{label}: temporary file left"


_SCENARIO = Path()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, int, int, float]:
    """The uninterrupted run: (folder, its number of writes, of batch-phase writes, seconds)."""
    global _SCENARIO
    home = tmp_path_factory.mktemp("scenario")
    (home / "seeds").mkdir()
    (home / "seeds" / "source.txt").write_text("A test source.", encoding="utf-8")
    doc = minimal_doc(0.03)
    doc["drivers"] = {"pull": driver(initial=0.4)}
    doc["monte_carlo"]["draws"] = 50
    _SCENARIO = home / "scenario.yaml"
    _SCENARIO.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = tmp_path_factory.mktemp("crash") / "reference"
    counts = out.parent / "counts.json"
    started = time.monotonic()
    assert _finish(_start(out, 1, fault="count:0", counts=counts)) == 0  # an unknown fault kind only counts
    seconds = time.monotonic() - started
    n = json.loads(counts.read_text())
    assert n["write"] == n["rename"]
    files = len([p for p in out.rglob("*") if p.is_file()])
    assert n["write"] == files + 1 + 2 * (REPLICATES // BATCH)  # each file once, the manifest twice, the batches
    batch_phase = 2 + 2 * (REPLICATES // BATCH)  # config, manifest, then the batches
    return out, n["write"], batch_phase, seconds


def _fault_points(n_writes: int) -> list[str]:
    return [f"{kind}:{n}" for n in range(1, n_writes + 1) for kind in ("write", "rename")]


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_at_every_write_and_rename_then_resume(workers, reference, tmp_path):
    ref, writes, batch_phase, _ = reference
    points = _fault_points(writes) if workers == 1 else \
        [p for p in _fault_points(batch_phase) if int(p.split(":")[1]) > 2 and int(p.split(":")[1]) % 2 == 0]  # batch marks
    running: list[tuple[str, Path, object]] = []
    for i, fault in enumerate(points):
        out = tmp_path / f"f{i}"
        running.append((fault, out, _start(out, workers, fault)))
        if len(running) == 2 or i == len(points) - 1:  # two at a time (two cores)
            for label, folder, proc in running:
                code = _finish(proc)
                assert code == 137, f"{label}: the child was not killed by the fault ({code})"
            for label, folder, proc in running:
                _resume_and_check(folder, ref, 1, f"workers={workers} {label}")
            running = []
    # the last write is the manifest's "complete": its fault leaves a run that only the resume completes
    assert f"rename:{writes}" in points or workers == 2


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_at_seeded_moments_then_resume(workers, reference, tmp_path):
    ref, _, _, seconds = reference
    rng = random.Random(20260101 + workers)
    orphans, killed_mid_run = [], 0
    span = seconds  # a run's length; load on the machine changes it, so it is re-measured below
    for i in range(SEEDED_KILLS[workers]):
        out = tmp_path / f"k{i}"
        started = time.monotonic()
        proc = _start(out, workers)
        proc.join(max(0.05, rng.uniform(0.0, 1.1) * span))  # the seeded moment, as a share of a run
        if proc.exitcode is not None:  # the run ended first: its own length is the better estimate
            span = time.monotonic() - started
        else:
            tree = _tree(proc.pid)
            os.kill(proc.pid, signal.SIGKILL)  # not yet joined: a process that just ended is a zombie
            proc.join(30)
            orphans += _wait_gone(tree)
            killed_mid_run += proc.exitcode == -signal.SIGKILL
        _resume_and_check(out, ref, workers, f"workers={workers} kill {i}")
    assert orphans == [], f"processes outlived their killed parent: {orphans}"
    assert killed_mid_run >= SEEDED_KILLS[workers] // 2, "most kills came after the run ended; the test proves little"
