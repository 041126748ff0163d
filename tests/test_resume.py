"""Interruption: batches saved as they finish, a killed run resumed to identical numbers,
resume refused on a different config, atomic writes, and never overwriting a run folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alignsim.runs import api
from alignsim.runs import folder as runstore
from alignsim.errors import ConfigError, RunError
from alignsim.engine.ensemble import batch_bounds
from alignsim.runs.folder import BATCH_DIR, RunFolder

from conftest import CONFIG, ROOT

BASE = CONFIG / "base.yaml"
REPLICATES, BATCH = 20000, 400  # 50 batches: long enough to kill mid-way, short for a test


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignsim", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, **kw)


def _main(capsys, *args: str) -> tuple[int, str]:
    """The CLI in this process (no interpreter start-up): exit code and stderr."""
    from alignsim.apps.cli import main

    code = main(list(args))
    return code, capsys.readouterr().err


def _numbers(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("output")
    return summary


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of the same settings (in-process; same code path as the CLI)."""
    out = tmp_path_factory.mktemp("ref") / "run"
    api.run(BASE, replicates=REPLICATES, batch_size=BATCH, out=out)
    return out


def load_batches(run_dir: Path, replicates: int, batch_size: int) -> dict:
    """The saved batches that verify against the run's manifest (the others are deleted)."""
    return RunFolder.open(run_dir).load_batches(batch_bounds(replicates, batch_size))[0]


def _saved_batches(run_dir: Path) -> int:
    return len(list((run_dir / BATCH_DIR).glob("batch-*.parquet"))) if (run_dir / BATCH_DIR).is_dir() else 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_killed_run_resumes_to_identical_numbers(sig, reference, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "alignsim", "run", str(BASE), "--replicates", str(REPLICATES),
                             "--batch-size", str(BATCH), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _saved_batches(out) < 5 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    saved = _saved_batches(out)
    assert proc.returncode != 0, "the run finished before it could be killed; the test proves nothing"
    assert not (out / "summary.json").exists()
    assert 5 <= saved < REPLICATES // BATCH, f"killed after {saved} batches"
    # the partial folder is valid: a running manifest and whole batch files only
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "running" and manifest["batch_size"] == BATCH
    assert len(load_batches(out, REPLICATES, BATCH)) >= saved - 1  # the last may lack its totals file
    if sig == signal.SIGINT:
        assert f"--resume {out}" in err and "Traceback" not in err
    if sig == signal.SIGKILL:  # the full path: a second process resumes through the command line
        done = _cli("run", "--resume", str(out))
        assert done.returncode == 0, done.stderr
    else:
        api.run(None, resume=out)
    assert _numbers(out) == _numbers(reference)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "replicates.parquet"),
                                  pd.read_parquet(reference / "replicates.parquet"))
    final = json.loads((out / "manifest.json").read_text())
    assert final["status"] == "complete" and final["resumed"] is True
    assert not (out / BATCH_DIR).exists()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


class _Interrupt:
    """A batch map that runs batches in order and raises KeyboardInterrupt after ``after`` of them."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, scenario, draws, replicates, seed, tasks):
        from alignsim.engine.ensemble import run_batch

        for i, (k, a, b) in enumerate(tasks):
            if i == self.after:
                raise KeyboardInterrupt
            yield k, run_batch(scenario, draws, replicates, seed, a, b)


@pytest.mark.slow
def test_resume_in_process_gives_identical_ensemble(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        api.run(BASE, replicates=6000, batch_size=1000, out=out, map_batches=_Interrupt(3))
    assert "--resume" in capsys.readouterr().err
    assert sorted(load_batches(out, 6000, 1000)) == [0, 1, 2]
    # a second interruption after one more batch: resuming is itself resumable
    with pytest.raises(KeyboardInterrupt):
        api.run(None, resume=out, map_batches=_Interrupt(1))
    assert sorted(load_batches(out, 6000, 1000)) == [0, 1, 2, 3]
    resumed = api.run(None, resume=out)
    whole = api.run(BASE, replicates=6000, batch_size=1000, save=False)
    pd.testing.assert_frame_equal(resumed.ensemble.replicates_table, whole.ensemble.replicates_table)
    for field in ("member", "gap", "gap_hist", "contributions", "variables"):
        assert np.array_equal(getattr(resumed.ensemble.totals, field), getattr(whole.ensemble.totals, field))
    assert resumed.summary["probability"] == whole.summary["probability"]


@pytest.fixture
def partial(tmp_path) -> Path:
    out = tmp_path / "partial"
    with pytest.raises(KeyboardInterrupt):
        api.run(BASE, replicates=3000, batch_size=1000, out=out, map_batches=_Interrupt(1))
    return out


@pytest.mark.slow
def test_resume_refuses_a_different_config(partial, capsys):
    with pytest.raises(RunError, match="config differs from the recorded one"):
        api.run(BASE, resume=partial, overrides=["drivers.us_investment.weight=0.9"])
    code, err = _main(capsys, "run", str(BASE), "--resume", str(partial), "--set", "monte_carlo.seed=5")
    assert code == 2
    assert err.count("\n") == 1 and "config differs" in err and "Traceback" not in err
    with pytest.raises(RunError, match="--seed 4 differs from the recorded"):
        api.run(None, resume=partial, seed=4)
    # the refused attempts left the partial run resumable
    assert api.run(BASE, resume=partial).summary["replicates"] == 3000


@pytest.mark.slow
def test_resume_refuses_complete_or_missing_runs(tmp_path, partial, capsys):
    api.run(None, resume=partial)
    with pytest.raises(RunError, match="already complete"):
        api.run(None, resume=partial)
    with pytest.raises(ConfigError, match="manifest.json"):
        api.run(None, resume=tmp_path / "nowhere")
    code, err = _main(capsys, "run", "--resume", str(partial), "--out", str(tmp_path / "x"))
    assert code == 2 and err.startswith("error: --out") and err.count("\n") == 1


@pytest.mark.slow
def test_from_manifest_reproduces_the_numbers(tmp_path):
    first = tmp_path / "first"
    api.run(str(BASE), replicates=4000, seed=3, batch_size=1500, overrides=["drivers.us_investment.weight=0.9"],
            out=first)
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["replicates"] == 4000 and manifest["batch_size"] == 1500
    assert manifest["overrides"] == ["drivers.us_investment.weight=0.9"]
    assert len(manifest["config_sha256"]) == 64 and manifest["platform"] and manifest["versions"]["numpy"]
    again = tmp_path / "again"
    cp = _cli("run", "--from-manifest", str(first / "manifest.json"), "--out", str(again))
    assert cp.returncode == 0, cp.stderr
    assert _numbers(again) == _numbers(first)
    # without the override the numbers differ, so the comparison above can fail
    other = api.run(BASE, replicates=4000, seed=3, save=False)
    assert other.summary["probability"] != _numbers(first)["probability"]


@pytest.mark.slow
def test_from_manifest_refuses_a_changed_config(tmp_path, write_doc, capsys):
    from conftest import minimal_doc

    doc = minimal_doc()
    path = write_doc(doc)
    run_dir = tmp_path / "run"
    api.run(path, replicates=500, out=run_dir)
    doc["decision"]["join_intercept"]["value"] = -2.0
    write_doc(doc)
    code, err = _main(capsys, "run", "--from-manifest", str(run_dir / "manifest.json"), "--out", str(tmp_path / "b"))
    assert code == 2 and "different config" in err and err.count("\n") == 1


def test_atomic_write_leaves_the_old_file_whole(tmp_path):
    path = tmp_path / "summary.json"
    runstore.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        runstore.write_json(path, {"a": object()})  # fails half-way through serialising
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_run_never_overwrites_a_folder(tmp_path, capsys):
    out = tmp_path / "exists"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="exists"):
        api.run(BASE, replicates=100, out=out)
    code, err = _main(capsys, "run", str(BASE), "--replicates", "100", "--out", str(out))
    assert code == 2 and "exists" in err and err.count("\n") == 1
    assert os.listdir(out) == ["keep.txt"]
