"""Sweeps: common random numbers, an ignored value gives identical points, the shock-rate direction,
reproducibility across worker counts, the run folder, and one-line errors for bad sweep files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import CONFIG, ROOT, driver, fixed, minimal_doc, uniform

from alignsim.errors import ConfigError
from alignsim.scenario import load_scenario
from alignsim.analyses.sweep import PointRunner, Sweep, SweepSpec, load_sweep, run_sweep_file


def _sweep_file(tmp_path, scenario: str, parameters: list, name: str = "test", **extra):
    doc = {"name": name, "scenario": scenario, "parameters": parameters, "replicates": 600,
           "basis": "setting", "note": "test settings"}
    doc.update(extra)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _ignored_doc() -> dict:
    """A constant join hazard plus a driver the decision ignores (weight fixed at 0)."""
    doc = minimal_doc(hazard=0.03)
    doc["decision"]["join_intercept"] = uniform(-4.0, -3.0)
    doc["drivers"] = {"ignored": driver(weight=fixed(0.0), initial=0.5)}
    doc["drivers"]["ignored"]["initial"] = uniform(0.2, 0.8)
    return doc


def test_sweeping_a_value_the_model_ignores_gives_identical_points(write_doc, tmp_path):
    scenario = write_doc(_ignored_doc())
    path = _sweep_file(tmp_path, scenario.name, [{"path": "drivers.ignored.initial", "values": [0.0, 0.3, 0.7, 1.0]}])
    table = Sweep.from_file(path).run()
    assert len(table) == 4 and list(table["drivers.ignored.initial"]) == [0.0, 0.3, 0.7, 1.0]
    assert table["events"].nunique() == 1, table  # exactly equal: same random numbers at every point
    assert 0.05 < table["estimate"].iloc[0] < 0.95


def test_a_value_the_model_reads_changes_the_points(write_doc, tmp_path):
    scenario = write_doc(_ignored_doc())
    path = _sweep_file(tmp_path, scenario.name, [{"path": "decision.join_intercept", "range": {"low": -5, "high": -2, "n": 4}}])
    est = Sweep.from_file(path).run()["estimate"].to_numpy()
    assert np.all(np.diff(est) > 0), est  # under common random numbers the hazard is monotone


@pytest.mark.slow
def test_western_condemnation_rate_moves_the_probability_as_the_config_claims(tmp_path):
    s = load_scenario(CONFIG / "base.yaml")
    direction = s.shocks["western_condemnation"].direction
    assert direction in ("toward", "away")
    path = _sweep_file(tmp_path, str(CONFIG / "base.yaml"),
                       [{"path": "shocks.western_condemnation.rate", "values": [0.0, 0.04, 0.08]}], replicates=1500)
    sweep = Sweep.from_file(path)
    with PointRunner(1) as runner:
        hits = runner.hits(sweep.tasks, sweep.seed, 1500, "prior")
    diff = hits[-1].astype(float) - hits[0].astype(float)
    se = diff.std(ddof=1) / np.sqrt(len(diff))
    sign = 1.0 if direction == "toward" else -1.0
    assert sign * diff.mean() > 3 * se, (diff.mean(), se)
    p = hits.mean(axis=1)
    assert np.all(sign * np.diff(p) > 0), p


@pytest.mark.slow
def test_same_seed_same_table_for_any_worker_count(write_doc, tmp_path):
    scenario = write_doc(_ignored_doc())
    path = _sweep_file(tmp_path, scenario.name, [{"path": "decision.join_intercept", "values": [-4.5, -3.5, -2.5]},
                                                 {"path": "drivers.ignored.initial", "values": [0.1, 0.9]}])
    one = Sweep.from_file(path).run(PointRunner(1))
    with PointRunner(2) as runner:
        two = Sweep.from_file(path).run(runner)
    assert len(one) == 6
    assert one.equals(two)


@pytest.mark.slow
def test_sweep_folder_and_cli(write_doc, tmp_path):
    scenario = write_doc(_ignored_doc())
    path = _sweep_file(tmp_path, scenario.name, [{"path": "decision.join_intercept", "values": [-4.0, -3.0]},
                                                 {"path": "drivers.ignored.initial", "values": [0.1, 0.5, 0.9]}])
    _, table, out = run_sweep_file(path, out=tmp_path / "grid")
    for name in ("sweep.csv", "sweep.png", "sweep.yaml", "manifest.json", "config.resolved.yaml"):
        assert (out / name).stat().st_size > 0, name
    assert {"decision.join_intercept", "drivers.ignored.initial", "estimate", "ci_low", "ci_high"} <= set(table)
    proc = subprocess.run([sys.executable, "-m", "alignsim", "sweep", str(path), "--out", str(tmp_path / "grid")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "exists" in proc.stderr


@pytest.mark.parametrize("change, field", [
    ({"colour": 1}, "colour"),
    ({"parameters": [{"path": "decision.join_intercept"}]}, "parameters.0"),
    ({"mode": "grid", "parameters": [{"path": p, "values": [0.1]} for p in ("a", "b", "c")]}, "parameters"),
    ({"replicates": 0}, "replicates"),
])
def test_bad_sweep_files_name_the_field(tmp_path, change, field):
    doc = {"name": "bad", "scenario": "x.yaml", "parameters": [{"path": "a", "values": [1.0]}],
           "basis": "setting", "note": "n"}
    doc.update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{field}"):
        load_sweep(path)


def test_bad_points_are_rejected_before_running(tmp_path):
    for params, match in (([{"path": "shocks.western_condemnation.rate", "values": [0.01, 1.5]}], "probability prior"),
                          ([{"path": "drivers.no_such_driver.initial", "values": [0.1]}], "drivers.no_such_driver"),
                          ([{"path": "drivers.us_investment.weight", "values": [-1.0]}], "weight prior >= 0")):
        path = _sweep_file(tmp_path, str(CONFIG / "base.yaml"), params)
        with pytest.raises(ConfigError, match=match):
            Sweep.from_file(path)


def test_committed_sweep_files_validate():
    files = sorted((CONFIG / "sweeps").glob("*.yaml"))
    assert files
    for f in files:
        sweep = Sweep.from_file(f)
        assert isinstance(sweep.spec, SweepSpec) and sweep.tasks
