"""`explain`: every driver's mechanism, prior, basis and evidence, read from the config."""

from __future__ import annotations

import copy
import io
import subprocess
import sys

import pandas as pd
import pytest

from alignsim import load_scenario
from alignsim.scenario.evidence import describe_prior
from alignsim.outputs.explain import assumption_table, driver_table, explain_text

from conftest import CONFIG, ROOT, driver, minimal_doc


def test_driver_table_carries_each_driver_from_the_config():
    s = load_scenario(CONFIG / "base.yaml")
    t = driver_table(s)
    assert list(t["driver"]) == list(s.drivers)
    for row in t.itertuples():
        d = s.drivers[row.driver]
        assert row.direction == d.direction
        share = "" if d.family is None else f" x weight of {d.family}"
        assert row.weight == describe_prior(d.weight) + share and row.weight_basis == d.weight.basis
        assert row.family == (d.family or row.driver)
        assert row.mechanism == " ".join(d.mechanism.split())
        if d.weight.quote:
            assert d.weight.quote in row.weight_evidence
        if d.initial.source:
            assert d.initial.source in row.initial_evidence
    # attribution follows the config's inputs: a driver fed by a power's policy belongs to that power
    for name, d in s.drivers.items():
        powers = [r.split(".")[1] for r in d.inputs if r.startswith("policies.")]
        expected = s.actors[powers[0]].name if powers else s.actors[s.focal].name
        assert t.set_index("driver").loc[name, "actor"] == expected


def test_assumptions_list_shocks_intercepts_and_facts():
    s = load_scenario(CONFIG / "base.yaml")
    a = assumption_table(s)
    items = set(a["item"])
    assert {"decision.join_intercept", "decision.leave_intercept", "barrier.initial", "member_at_start"} <= items
    assert {f"shocks.{k}" for k in s.shocks} <= items
    assert (s.observed is None) or "observed" in items
    assert a["basis"].isin(["measured", "judgement", "calibrated", "setting"]).all()


def test_explain_follows_a_changed_config(write_doc):
    doc = minimal_doc()
    doc["drivers"] = {"alpha": driver(direction="away", mechanism="Alpha pulls away in a test.")}
    text = explain_text(load_scenario(write_doc(doc)))
    assert "alpha: d [away from membership" in text and "Alpha pulls away in a test." in text
    doc2 = copy.deepcopy(doc)
    doc2["drivers"]["alpha"]["weight"] = {"dist": "uniform", "low": 0.25, "high": 0.75, "basis": "setting",
                                          "note": "changed"}
    text2 = explain_text(load_scenario(write_doc(doc2, "other.yaml")))
    assert "uniform(0.25, 0.75) [setting] note: changed" in text2 and "uniform(0.25, 0.75)" not in text


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """The command in this process (as ``python -m alignsim`` runs it): exit code, stdout, stderr."""
    from alignsim.apps.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_explain_command_text_csv_and_bad_input(capsys):
    s = load_scenario(CONFIG / "base.yaml")
    code, out, err = _cli(capsys, "explain", str(CONFIG / "base.yaml"))
    assert code == 0, err
    for name, d in s.drivers.items():
        assert f"  {name}: {d.label}" in out
    assert s.question in out
    code, out, _ = _cli(capsys, "explain", str(CONFIG / "base.yaml"), "--csv")
    assert code == 0
    assert list(pd.read_csv(io.StringIO(out))["driver"]) == list(s.drivers)
    _, out, _ = _cli(capsys, "explain", str(CONFIG / "base.yaml"), "--set", "drivers.us_investment.weight=0.9")
    assert "fixed(0.9) x weight of outside_options [setting]" in out  # an instance: its share x the family weight
    # and as a user runs it: a bad path is one line on stderr, exit 2, no traceback
    bad = subprocess.run([sys.executable, "-m", "alignsim", "explain", str(ROOT / "config" / "missing.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.yaml" in bad.stderr
    assert "Traceback" not in bad.stderr
