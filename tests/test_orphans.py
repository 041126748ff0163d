"""Workers die with their parent: kill -9 of a ``--workers 2`` run leaves no process behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, grandchildren, ...), from /proc."""
    parent = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and (st := _stat(int(p.name))) is not None:
            parent[int(p.name)] = int(st[1])
    found, todo = set(), [pid]
    while todo:
        here = todo.pop()
        kids = {c for c, pp in parent.items() if pp == here and c not in found}
        found |= kids
        todo += kids
    return found


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z"  # a zombie has ended (its parent, init, reaps it)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_kill_9_of_a_two_worker_run_leaves_no_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "alignsim", "run", "config/base.yaml", "--replicates", "400000",
                             "--workers", "2", "--no-report", "--out", str(tmp_path / "run")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        tree: set[int] = set()
        # forkserver + 2 workers + resource tracker, and the run under way in the workers
        while time.monotonic() < deadline and not (len(tree) >= 4 and any(tmp_path.glob("run/**/batch-*"))):
            assert proc.poll() is None, "the run ended before it could be killed"
            tree = _descendants(proc.pid)
            time.sleep(0.2)
        tree = _descendants(proc.pid)  # the snapshot taken just before the kill
        assert len(tree) >= 4, tree
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    left = [p for p in tree if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = [p for p in tree if _alive(p)]
    for p in left:  # clean up before failing, so a failure leaves nothing running either
        subprocess.run(["kill", "-9", str(p)], check=False)
    assert not left, f"processes outlived the killed run: {left}"
