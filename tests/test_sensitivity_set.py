"""The sensitivity command: one settings file, every analysis, the same tables from Python and the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from alignsim.analyses.sensitivity_set import run_sensitivity
from alignsim.apps.cli import main

from conftest import logit, minimal_doc, uniform

ROOT = Path(__file__).resolve().parents[1]


def _scenario(write_doc) -> Path:
    doc = minimal_doc()
    doc["decision"]["join_intercept"] = uniform(logit(0.005), logit(0.05))
    doc["barrier"]["initial"] = {"dist": "uniform", "low": 0.0, "high": 2.0, "basis": "judgement",
                                 "quote": "A test source text"}
    doc["monte_carlo"].update(draws=20, batch_size=500)
    return write_doc(doc)


def _settings(path: Path, scenario: Path, **sections) -> Path:
    doc = {"scenario": scenario.name, "seed": 4, "workers": 1, "basis": "setting", "note": "test", **sections}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


SMALL = {"tornado": {"replicates": 200}, "sobol": {"n_base": 4, "replicates": 40},
         "morris": {"trajectories": 3, "replicates": 40}}
SCREENED = {"sobol": {"n_base": 8, "replicates": 40, "second_seed": 5,
                      "screen": {"trajectories": 2, "replicates": 40, "keep": 1}},
            "basis_share": {"n_base": 4, "replicates": 20},
            "discovery": {"samples": 20, "replicates": 20, "interest": 0.2, "min_density": 0.4}}


def test_cli_and_python_give_the_same_tables(tmp_path, write_doc, capsys):
    settings = _settings(tmp_path / "sens.yaml", _scenario(write_doc), **SMALL)
    assert main(["sensitivity", str(settings), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "## Tornado" in printed and f"Sensitivity folder: {tmp_path / 'out'}" in printed
    for name in ("tornado.csv", "tornado.png", "sobol.csv", "sobol.png", "morris.csv", "summary.md", "manifest.json"):
        assert (tmp_path / "out" / name).is_file(), name
    py = run_sensitivity(settings, save=False, progress=None)
    assert py.folder is None and set(py.tables) == {"tornado", "sobol", "morris"}
    for name, table in py.tables.items():
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / f"{name}.csv"), table.reset_index(drop=True),
                                      check_dtype=False, rtol=1e-12)
    tor = py.tables["tornado"].set_index("name")
    # a higher join intercept means more joining; a higher barrier less: the signs are known
    assert tor.loc["decision.join_intercept", "swing_low"] > 0
    assert tor.loc["barrier.initial", "swing_high"] < 0


@pytest.mark.slow
def test_workers_do_not_change_the_tables(tmp_path, write_doc):
    settings = _settings(tmp_path / "sens.yaml", _scenario(write_doc), tornado={"replicates": 200}, **SCREENED)
    one = run_sensitivity(settings, workers=1, save=False, progress=None)
    two = run_sensitivity(settings, workers=2, save=False, progress=None)
    assert set(one.tables) == {"tornado", "screening", "sobol", "sobol_agreement", "basis_share",
                               "discovery_boxes", "discovery_limits"}
    for name, table in one.tables.items():
        pd.testing.assert_frame_equal(table, two.tables[name], obj=name)
    sob = one.tables["sobol"]
    assert set(sob["sample"]) == {"seed 4", "seed 5", "pooled"}
    assert sob["name"].str.startswith("screened out (1 priors)").any()  # the screened-out prior, still sampled
    assert "Seeds 4 and 5 agree" in one.summary


def test_second_seed_must_differ(tmp_path, write_doc, capsys):
    sections = {"sobol": {"n_base": 4, "replicates": 40, "second_seed": 4}}
    settings = _settings(tmp_path / "sens.yaml", _scenario(write_doc), **sections)
    assert main(["sensitivity", str(settings), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "second_seed" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("sections, field", [
    ({"tornado": {"replicates": 5}}, "tornado.replicates"),
    ({"tornado": {"replicates": 100, "low": 0.9, "high": 0.1}}, "tornado"),
    ({"sobol": {"n_base": 4, "replicates": 40, "extra": 1}}, "sobol.extra"),
    ({"sobol": {"n_base": 4, "replicates": 40, "screen": {"trajectories": 2, "replicates": 20, "keep": 0}}},
     "sobol.screen.keep"),
    ({}, "<document>"),
])
def test_bad_settings_are_one_line_naming_the_field(tmp_path, write_doc, capsys, sections, field):
    settings = _settings(tmp_path / "sens.yaml", _scenario(write_doc), **sections)
    assert main(["sensitivity", str(settings), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {field}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_smoke_settings_file_runs(tmp_path, capsys):
    assert main(["sensitivity", str(ROOT / "config/sensitivity/smoke.yaml"), "--out", str(tmp_path / "out")]) == 0
    made = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"tornado.csv", "screening.csv", "sobol.csv", "sobol.png", "sobol_agreement.csv", "basis_share.csv",
            "morris.csv", "discovery_boxes.csv", "discovery.txt", "summary.md", "manifest.json"} <= made
