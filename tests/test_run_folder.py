"""The run folder's owner: one folder whatever the entry point, one manifest writer, arguments
checked before a folder exists, run identity on every batch, a lock, umask, and a presentation
failure that leaves a complete run with a note."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import alignsim
from alignsim.apps.cli import main
from alignsim.engine.ensemble import batch_bounds
from alignsim.errors import RunError
from alignsim.runs import api
from alignsim.runs.folder import BATCH_DIR, RunFolder, identity_digest

from conftest import CONFIG, ROOT

BASE = CONFIG / "base.yaml"
SRC = ROOT / "src" / "alignsim"


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


def _partial(out: Path, after: int = 2, config=BASE, **kw) -> Path:
    with pytest.raises(KeyboardInterrupt), contextlib.redirect_stderr(io.StringIO()):  # not the test's stderr
        api.run(config, replicates=2000, batch_size=500, out=out, map_batches=_Interrupt(after), report=False, **kw)
    return out


def _numbers(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("output")
    return summary


def _edit_manifest(run_dir: Path, keep_identity: bool = False, **changes) -> None:
    path = run_dir / "manifest.json"
    data = json.loads(path.read_text())
    data.update(changes)
    if keep_identity:  # a careful tamper: the identity digest recomputed to match
        data["identity_sha256"] = identity_digest(data)
    path.write_text(json.dumps(data))


# ---------------------------------------------------------------- one folder, one writer

@pytest.mark.slow
def test_cli_and_python_write_the_same_folder(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    cp = subprocess.run([sys.executable, "-m", "alignsim", "run", "config/base.yaml", "--replicates", "20000",
                         "--seed", "3", "--out", str(a)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stderr
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        alignsim.run("config/base.yaml", replicates=20000, seed=3, out=str(b))
    finally:
        os.chdir(cwd)

    def names(d: Path) -> list[str]:
        return sorted(str(p.relative_to(d)) for p in d.rglob("*"))

    assert names(a) == names(b) and "report.html" in names(a) and "cumulative.png" in names(a)
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    assert sa["probability"] == sb["probability"] and sa["cumulative"] == sb["cumulative"]
    assert sa["replicates"] == 20000
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (a, b))
    assert ma["identity_sha256"] == mb["identity_sha256"] and ma["status"] == mb["status"] == "complete"


def test_one_module_writes_manifest_json():
    """Static: outside runs/folder.py no module names manifest.json next to a write."""
    writers = []
    for path in SRC.rglob("*.py"):
        if path == SRC / "runs" / "folder.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "manifest" in line and re.search(r"write_\w+\(|\.dump\(|open\(.*[\"']w", line):
                writers.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert writers == []


@pytest.mark.slow
def test_every_manifest_write_comes_from_the_folder_owner(tmp_path, monkeypatch):
    """Behavioural: a run (fresh, then resumed) and a sweep write manifest.json only through RunFolder."""
    import inspect

    from alignsim.analyses.sweep import run_sweep_file
    from alignsim.runs import atomic

    seen: list[str] = []
    real = atomic.atomic_write

    def spy(path, write):
        if Path(path).name == "manifest.json":
            names = [f.frame.f_globals["__name__"] for f in inspect.stack()[1:]]
            seen.append(next(n for n in names if n != "alignsim.runs.atomic"))
        return real(path, write)

    monkeypatch.setattr(atomic, "atomic_write", spy)
    run_dir = _partial(tmp_path / "run")
    api.run(None, resume=run_dir, report=False)
    run_sweep_file(CONFIG / "sweeps" / "western_condemnation_rate.yaml", out=tmp_path / "sweep", workers=1,
                   replicates=100)
    assert len(seen) == 4 and set(seen) == {"alignsim.runs.folder"}  # start + complete, twice


# ---------------------------------------------------------------- checked before any folder exists

@pytest.mark.parametrize("args, field", [
    (["--replicates", "1000000000000"], "--replicates"),
    (["--batch-size", "100000000"], "--batch-size"),
    (["--scheduler", "tcp://127.0.0.1:9", "--replicates", "10"], "--backend dask"),
    (["--backend", "dask", "--precision", "0.01", "--history-matched"], "--history-matched"),
])
def test_argument_errors_leave_no_folder(args, field, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["run", str(BASE), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and field in err, err
    assert list(tmp_path.iterdir()) == []  # not even runs/


def test_replicates_limit_is_the_schema_limit(capsys, tmp_path):
    code = main(["run", str(BASE), "--replicates", "100000001", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "--replicates: got 100000001" in err and "monte_carlo.replicates" in err
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- resume and reproduce

def test_resume_refuses_set_and_seed_changes(tmp_path, capsys):
    run_dir = _partial(tmp_path / "run")
    for extra in (["--set", "drivers.us_investment.weight=0.9"], ["--seed", "4"], ["--replicates", "3000"]):
        code = main(["run", "--resume", str(run_dir), *extra])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and extra[0] in err, err
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"


@pytest.mark.slow
def test_resume_and_from_manifest_work_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    run_dir = _partial(tmp_path / "run", config="config/base.yaml", overrides=["drivers.us_investment.weight=0.9"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    resumed = api.run(None, resume=run_dir, report=False)
    again = api.run(from_manifest=run_dir / "manifest.json", out=tmp_path / "again", report=False)
    whole = api.run(BASE, replicates=2000, batch_size=500, overrides=["drivers.us_investment.weight=0.9"], save=False)
    assert resumed.summary["probability"] == again.summary["probability"] == whole.summary["probability"]
    m = json.loads((run_dir / "manifest.json").read_text())
    assert Path(m["config_path"]).is_absolute() and m["config_path_given"] == "config/base.yaml"
    assert (run_dir / m["config_path_relative"]).resolve() == BASE.resolve()
    assert sorted(Path(p).name for p in m["config_files"]) == ["base.yaml", "priors.yaml"]  # the include too


def test_a_bad_manifest_is_refused_in_one_line(tmp_path, capsys):
    run_dir = _partial(tmp_path / "run")
    text = (run_dir / "manifest.json").read_text()
    for bad in ("{not json", json.dumps({"seed": 1}), text.replace('"format_version": 2', '"format_version": 1')):
        (run_dir / "manifest.json").write_text(bad)
        code = main(["run", "--resume", str(run_dir)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err


def test_an_edited_seed_is_refused(tmp_path, capsys):
    run_dir = _partial(tmp_path / "run")
    _edit_manifest(run_dir, seed=99)
    code = main(["run", "--resume", str(run_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "manifest was edited" in err and err.count("\n") == 1


@pytest.mark.slow
def test_a_careful_seed_tamper_reruns_every_batch_never_mixes(tmp_path):
    run_dir = _partial(tmp_path / "run")  # 2 of 4 batches saved with the scenario's seed
    _edit_manifest(run_dir, keep_identity=True, seed=99)
    resumed = api.run(None, resume=run_dir, report=False)
    seed99 = api.run(BASE, replicates=2000, batch_size=500, seed=99, save=False)
    original = api.run(BASE, replicates=2000, batch_size=500, save=False)
    pd.testing.assert_frame_equal(resumed.ensemble.replicates_table, seed99.ensemble.replicates_table)
    assert resumed.summary["probability"] == seed99.summary["probability"] != original.summary["probability"]


@pytest.mark.slow
def test_bad_batches_are_run_again(tmp_path, capsys):
    whole = api.run(BASE, replicates=2000, batch_size=500, save=False)
    run_dir = _partial(tmp_path / "run", after=3)
    folder = RunFolder.open(run_dir)
    table0, totals1 = folder.batch_paths(0)[0], folder.batch_paths(1)[1]
    table0.write_bytes(table0.read_bytes()[:100])  # truncated
    totals1.write_bytes(totals1.read_bytes()[:-50])  # truncated mark
    other = _partial(tmp_path / "other", after=3, seed=7)  # a batch of another run (other seed)
    t2, m2 = folder.batch_paths(2)
    for src, dst in zip(RunFolder.open(other).batch_paths(2), (t2, m2)):
        dst.write_bytes(src.read_bytes())
    assert set(folder.load_batches(batch_bounds(2000, 500))[0]) == set()  # all three rejected (and removed)
    run_dir2 = _partial(tmp_path / "run2", after=3)
    RunFolder.open(run_dir2).batch_paths(1)[0].write_bytes(b"PAR1 not really")
    resumed = api.run(None, resume=run_dir2, report=False)
    assert "1 saved batch(es) did not verify" in capsys.readouterr().err
    pd.testing.assert_frame_equal(resumed.ensemble.replicates_table, whole.ensemble.replicates_table)


@pytest.mark.slow
def test_temporary_files_are_cleaned_on_resume(tmp_path):
    run_dir = _partial(tmp_path / "run")
    leftovers = [run_dir / ".replicates.parquet.1a2b3c4d.tmp", run_dir / BATCH_DIR / ".batch-00003.parquet.ffff0000.tmp"]
    for p in leftovers:
        p.write_bytes(b"x" * 1000)
    api.run(None, resume=run_dir, report=False)
    assert not any(p.exists() for p in leftovers)
    assert not [p for p in run_dir.rglob("*.tmp")] and not (run_dir / BATCH_DIR).exists()
    assert not (run_dir / ".lock").exists()


@pytest.mark.slow
def test_a_locked_folder_is_refused(tmp_path, capsys):
    run_dir = _partial(tmp_path / "run")
    holder = RunFolder(run_dir)
    holder.lock()  # another open file description: flock conflicts as with another process
    try:
        with pytest.raises(RunError, match="another alignsim process is working on this run folder"):
            api.run(None, resume=run_dir)
        code = main(["run", "--resume", str(run_dir)])
        assert code == 2 and "another alignsim process" in capsys.readouterr().err
    finally:
        holder.unlock()
    assert api.run(None, resume=run_dir, report=False).summary["replicates"] == 2000


@pytest.mark.slow
def test_a_second_process_cannot_resume_while_one_works(tmp_path):
    run_dir = _partial(tmp_path / "run")
    code = ("import sys, time; from alignsim.runs.folder import RunFolder; f = RunFolder(sys.argv[1]); f.lock(); "
            "print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match="another alignsim process"):
            api.run(None, resume=run_dir)
    finally:
        holder.kill()  # the kernel releases the lock with the process
        holder.wait()
    assert api.run(None, resume=run_dir, report=False).summary["replicates"] == 2000


# ---------------------------------------------------------------- files and presentation

@pytest.mark.slow
def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        api.run(BASE, replicates=300, batch_size=100, out=tmp_path / "run", report=False)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert modes and set(modes.values()) == {0o640}, modes


@pytest.mark.slow  # over 1 s since base runs strategic powers (fast tier: 30 s)
def test_a_figure_failure_leaves_a_complete_run_with_a_note(tmp_path, monkeypatch, capsys):
    from alignsim.outputs import figures

    def broken(*a, **k):
        raise ValueError("\n$\\undefinedmacro{$\n^\nParseException: Unknown symbol: \\undefinedmacro")

    monkeypatch.setattr(figures, "cumulative_figure", broken)
    out = tmp_path / "run"
    code = main(["run", str(BASE), "--replicates", "300", "--batch-size", "100", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and len(m["notes"]) == 2, m["notes"]
    assert m["notes"][0].startswith("figures not drawn: ValueError") and m["notes"][1].startswith("report not written")
    assert all("\n" not in n for n in m["notes"]) and err.count("note: ") == 2
    assert (out / "summary.json").is_file() and (out / "replicates.parquet").is_file()
    assert not list(out.glob("*.png")) and not (out / "report.html").exists() and not (out / "report_figures").exists()
    assert not (out / BATCH_DIR).exists() and not list(out.rglob("*.tmp"))


def test_batch_identity_is_in_every_batch_file(tmp_path):
    run_dir = _partial(tmp_path / "run")
    _, mark = RunFolder.open(run_dir).batch_paths(1)
    m = json.loads((run_dir / "manifest.json").read_text())
    with np.load(mark) as z:
        assert str(z["config_sha256"]) == m["config_sha256"] and int(z["seed"]) == m["seed"]
        assert (int(z["start"]), int(z["stop"])) == (500, 1000) and len(str(z["table_sha256"])) == 64
