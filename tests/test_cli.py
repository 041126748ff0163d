"""The command line as a user meets it: printed numbers match summary.json, exit codes, no overwrite."""

from __future__ import annotations

import json
import subprocess
import sys
import pytest

from alignsim import load_scenario

from conftest import CONFIG, ROOT


def _cli(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alignsim", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.mark.slow
def test_run_prints_what_summary_json_holds(tmp_path):
    out = tmp_path / "run"
    proc = _cli("run", str(CONFIG / "base.yaml"), "--replicates", "4000", "--seed", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    text = proc.stdout
    assert summary["replicates"] == 4000 and summary["seed"] == 5
    p = summary["probability"]
    assert f"is {100 * p['estimate']:.1f}%" in text
    assert f"{100 * p['epistemic_low']:.1f}%-{100 * p['epistemic_high']:.1f}%" in text
    cond = summary["conditional"]
    assert f"by the end of {cond['window_end']} is {100 * cond['estimate']:.1f}%" in text
    assert f"Results: {out}" in text
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("seed", "replicates", "versions", "cpu", "wall_seconds", "config_sha256"):
        assert key in manifest
    for pkg in ("numpy", "pandas", "mesa"):
        assert manifest["versions"][pkg] != "not installed"
    for name in ("replicates.parquet", "quarters.csv", "cumulative.png", "contributions.png", "gap_fan.png",
                 "config.resolved.yaml"):
        assert (out / name).stat().st_size > 0, name
    # the year-end rows printed are the ones in summary.json
    for row in summary["cumulative"]:
        line = next(l for l in text.splitlines() if l.startswith(row["date"]))
        assert f"{100 * row['estimate']:.1f}%" in line


@pytest.mark.slow
def test_existing_output_folder_is_never_overwritten(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    proc = _cli("run", str(CONFIG / "base.yaml"), "--replicates", "100", "--out", str(out))
    assert proc.returncode == 2
    assert "exists" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_bad_input_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    for args in (("run", str(bad)), ("validate", str(tmp_path / "missing.yaml")),
                 ("run", str(CONFIG / "base.yaml"), "--set", "monte_carlo.seed=-1"),
                 ("run", str(CONFIG / "base.yaml"), "--replicates", "zero")):
        proc = _cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_validate_reports_a_valid_scenario():
    proc = _cli("validate", str(CONFIG / "base.yaml"))
    assert proc.returncode == 0, proc.stderr
    n = len(load_scenario(CONFIG / "base.yaml").drivers)  # 22: the ontology's families and their instances
    assert "valid" in proc.stdout and f"{n} drivers" in proc.stdout
