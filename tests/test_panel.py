"""The alliance panel: every case loads with the shared priors, unchanged, and sets none of them."""

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from alignsim.analyses import history
from alignsim.errors import ConfigError
from alignsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "config" / "panel"
PRIORS = ROOT / "config" / "priors-alliance.yaml"
CASE_FILES = sorted(PANEL.glob("*.yaml"))


def leaf_paths(node, prefix=""):
    if isinstance(node, dict) and "dist" not in node:
        for k, v in node.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix


def test_every_drawn_case_has_a_file():
    drawn = {r["case_id"] for r in csv.DictReader((PANEL / "panel.csv").open())}
    assert {p.stem for p in CASE_FILES} == drawn and len(drawn) == 48


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.stem)
def test_case_loads_with_the_shared_priors_and_sets_none(path):
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert own["include"] == "../priors-alliance.yaml"
    shared = set(leaf_paths(yaml.safe_load(PRIORS.read_text(encoding="utf-8"))))
    mine = set(leaf_paths(own))
    assert not mine & shared, f"{path.name} sets shared priors {sorted(mine & shared)}"
    for name, var in own.get("drivers", {}).items():
        assert set(var) == {"initial"}, f"{path.name}: drivers.{name} sets more than its initial value"
    case = load_scenario(path)
    assert case.outcome is not None
    assert set(case.drivers) | set(case.left_out) == set(yaml.safe_load(PRIORS.read_text())["drivers"])
    for name, d in case.drivers.items():
        assert d.initial.basis in ("judgement", "setting", "measured") and (d.initial.note or d.initial.quote)


@pytest.mark.slow
def test_the_panel_shares_one_set_of_priors():
    cases = {p.stem: load_scenario(p) for p in CASE_FILES}
    draws = history.outer_draws(cases, seed=0, n_draws=3)
    assert "drivers.decision_point.weight" in draws  # some cases leave it out, others keep it
    assert any(c.left_out for c in cases.values()) and any("decision_point" in c.drivers for c in cases.values())


def _write(tmp_path, extra: str) -> Path:
    case = (PANEL / "anzus-nzl-2000.yaml").read_text(encoding="utf-8")
    (tmp_path / "priors-alliance.yaml").write_text(PRIORS.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "seeds").symlink_to(ROOT / "seeds")
    path = tmp_path / "case.yaml"
    path.write_text(case.replace("include: ../priors-alliance.yaml", "include: priors-alliance.yaml") + extra,
                    encoding="utf-8")
    return path


def test_a_case_that_sets_a_shared_prior_is_refused(tmp_path):
    path = _write(tmp_path, "decision:\n  leave_intercept: {dist: fixed, value: -3, basis: setting}\n")
    with pytest.raises(ConfigError, match="decision"):
        load_scenario(path)


def test_left_out_must_name_a_driver_without_an_initial_value(tmp_path):
    path = _write(tmp_path, "")
    text = path.read_text()
    bad = text.replace("left_out:\n  decision_point:", "left_out:\n  no_such_driver:")
    path.write_text(bad)
    with pytest.raises(ConfigError, match="left_out.no_such_driver"):
        load_scenario(path)
    both = text.replace("left_out:\n  decision_point:", "left_out:\n  external_threat:")
    path.write_text(both)
    with pytest.raises(ConfigError, match="drivers.external_threat.initial"):
        load_scenario(path)


@pytest.mark.slow
def test_backtest_holds_out_a_whole_decision_group(tmp_path):
    from alignsim.analyses import backtest

    (tmp_path / "config" / "panel").mkdir(parents=True)
    (tmp_path / "config" / "priors-alliance.yaml").write_text(PRIORS.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "seeds").symlink_to(ROOT / "seeds")
    for name in ("seato-aus-1975", "seato-gbr-1975", "nato-bel-2010", "rio-bra-1970"):
        (tmp_path / "config" / "panel" / f"{name}.yaml").write_text((PANEL / f"{name}.yaml").read_text(encoding="utf-8"))
    res = backtest.run_backtest(tmp_path / "config" / "panel", n_draws=6, inner=200, seed=2, n_boot=50)
    assert res.extra["groups"] == 3 and res.extra["effective_groups"] == 3
    occurred = res.scored.drop_duplicates("case").set_index("case")["occurred"].to_dict()
    # seato-aus-1975 is matched on the two NATO/Rio cases only, never on its group partner
    w = history.normalised(history.outcome_likelihood(res.probabilities, occurred, ["nato-bel-2010", "rio-bra-1970"]))
    mine = res.probabilities[res.probabilities["case"] == "seato-aus-1975"].set_index("draw")
    expected = float((w * mine["events"] / mine["n"]).sum())
    got = res.scored.query("case == 'seato-aus-1975' and forecaster == 'model_matched_oof'")["p_event"].item()
    assert got == pytest.approx(expected)
    assert set(res.summary["forecaster"]) == {"model_prior", "model_matched_oof", "base_rate_oof", "nothing_changes"}
    # out-of-fold base rate for a SEATO case: only the two other members' exposure, no events
    br = res.scored.query("case == 'seato-aus-1975' and forecaster == 'base_rate_oof'")["p_event"].item()
    assert br == pytest.approx(1 - np.exp(-5 * 0.5 / 10.0))
