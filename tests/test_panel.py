"""The alliance panel: every case loads with the shared priors, unchanged, and sets none of them."""

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from alignsim.analyses import history
from alignsim.errors import ConfigError
from alignsim.scenario import load_scenario
from alignsim.scenario.timeaxis import Quarter

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "config" / "panel"
PRIORS = ROOT / "config" / "priors-alliance.yaml"
LAYER = ROOT / "config" / "priors-panel.yaml"
CASE_FILES = sorted(PANEL.glob("*.yaml"))
DRAWS = ("panel.csv", "panel2.csv")


def leaf_paths(node, prefix=""):
    if isinstance(node, dict) and "dist" not in node:
        for k, v in node.items():
            yield from leaf_paths(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix


def merged_priors() -> dict:
    from alignsim.scenario.loader import read_shared

    return read_shared(PANEL, "../priors-panel.yaml")


def test_every_drawn_case_has_a_file():
    first = {r["case_id"] for r in csv.DictReader((PANEL / "panel.csv").open())}
    second = {r["case_id"] for r in csv.DictReader((PANEL / "panel2.csv").open())}
    assert len(first) == 48 and len(second) == 32 and not first & second
    assert {p.stem for p in CASE_FILES} == first | second


# The fast tier loads a fixed sample of 8 cases (every 10th file); the slow tier loads them all.
FAST_CASES = set(CASE_FILES[::10])
CASE_PARAMS = [pytest.param(p, id=p.stem, marks=() if p in FAST_CASES else pytest.mark.slow) for p in CASE_FILES]


@pytest.mark.parametrize("path", CASE_PARAMS)
def test_case_loads_with_the_shared_priors_and_sets_none(path):
    own = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert own["include"] == "../priors-panel.yaml"
    shared = set(leaf_paths(merged_priors()))
    mine = set(leaf_paths(own))
    assert not mine & shared, f"{path.name} sets shared priors {sorted(mine & shared)}"
    for name, var in own.get("drivers", {}).items():
        assert set(var) == {"initial"}, f"{path.name}: drivers.{name} sets more than its initial value"
    case = load_scenario(path)
    assert case.outcome is not None
    assert set(case.drivers) | set(case.left_out) == set(merged_priors()["drivers"])
    # roles from config/panel/tables/alliances.yaml: the layer's role-keyed policies apply
    assert case.patron == "patron" and "rival" in case.actors
    # the held decision_point driver is replaced by dated points in every case
    assert "decision_point" in case.left_out
    for name, d in case.drivers.items():
        assert d.initial.basis in ("judgement", "setting", "measured") and (d.initial.note or d.initial.quote)


@pytest.mark.slow
def test_the_panel_shares_one_set_of_priors():
    cases = {p.stem: load_scenario(p) for p in CASE_FILES}
    draws = history.outer_draws(cases, seed=0, n_draws=3)
    assert "drivers.decision_point.weight" not in draws  # replaced by dated points everywhere
    assert "decision_points.0.leave_shift" in draws  # some cases have a scheduled point, others none
    with_point = [c for c in cases.values() if c.decision_points]
    assert with_point and len({str(c.decision_points[0].leave_shift) for c in with_point}) == 1


def _write(tmp_path, extra: str) -> Path:
    case = (PANEL / "anzus-nzl-2000.yaml").read_text(encoding="utf-8")
    (tmp_path / "priors-alliance.yaml").write_text(PRIORS.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "priors-panel.yaml").write_text(LAYER.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "seeds").symlink_to(ROOT / "seeds")
    path = tmp_path / "case.yaml"
    path.write_text(case.replace("include: ../priors-panel.yaml", "include: priors-panel.yaml") + extra,
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
    (tmp_path / "config" / "priors-panel.yaml").write_text(LAYER.read_text(encoding="utf-8"), encoding="utf-8")
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


def test_a_case_may_not_set_a_layer_prior(tmp_path):
    path = _write(tmp_path, "shocks:\n  threat_crisis: {label: x, direction: toward, basis: setting,"
                            " rate: {dist: fixed, value: 0.5, basis: setting}}\n")
    with pytest.raises(ConfigError, match="shocks"):
        load_scenario(path)


def test_suspended_states_start_suspended_and_are_scored_on_formal_exit():
    rows = [r for d in DRAWS for r in csv.DictReader((PANEL / d).open()) if r["status_at_start"] == "suspended"]
    assert len(rows) == 9
    for r in rows:
        case = load_scenario(PANEL / f"{r['case_id']}.yaml")
        assert case.member_at_start.status == "suspended" and case.event.kind == "first_exit"
        assert case.decision.suspended_exit_intercept is not None and case.decision.resume_intercept is not None


def test_scheduled_point_raises_the_exit_hazard_in_its_quarter_only():
    """Planted: with a huge shift at Warsaw's 1975-Q2 renewal and exits otherwise impossible,
    every exit of a 1975 Warsaw member falls in that quarter."""
    from alignsim.analyses import history
    from alignsim.engine.ensemble import simulate

    name = "warsaw-hun-1975"
    case = load_scenario(PANEL / f"{name}.yaml", ("decision.leave_intercept=-40", "decision.suspend_intercept=-40",
                                                  "decision_points.0.leave_shift=60"))
    assert [p.date for p in case.decision_points] == ["1975-Q2"]
    res = simulate(case, history.case_params(case, history.outer_draws({name: case}, 0, 10), 20, 1), 1).replicates
    step = res["first_exit_step"].to_numpy()
    assert (step > 0).mean() > 0.99 and set(step[step > 0]) == {case.axis.step_of(Quarter.parse("1975-Q2"))}


@pytest.mark.parametrize("alliance", ["anzus", "cento", "nato", "rio", "seato", "warsaw"])
def test_power_roles_let_the_strategic_model_run(alliance):
    """One case per alliance (the first in the sorted list) runs with powers that choose, and
    the rule-based run is unchanged by the role-keyed policies (they start and stay at 0)."""
    from alignsim.analyses import history
    from alignsim.engine.ensemble import simulate

    path = next(p for p in CASE_FILES if p.stem.startswith(alliance))
    rule = load_scenario(path)
    strategic = load_scenario(path, ("powers.model=strategic",))
    assert {a.role for a in strategic.powers.actors.values()} == {"patron", "rival"}
    for case in (rule, strategic):
        params = history.case_params(case, history.outer_draws({case.name: case}, 0, 4), 10, 3)
        res = simulate(case, params, 3)
        assert len(res.replicates) == 40
    params = history.case_params(rule, history.outer_draws({rule.name: rule}, 0, 4), 10, 3)
    base = simulate(rule, params, 3).replicates
    zeroed = params.copy()
    for col in [c for c in params if c.startswith("drivers.") and c.endswith("_shift.weight")]:
        zeroed[col] = 0.0
    assert base["first_exit_step"].equals(simulate(rule, zeroed, 3).replicates["first_exit_step"])


def test_case_files_are_what_the_builder_writes():
    """Every case file equals the builder's output from the notes, the tables and outcomes.csv
    (no hand edits), read from the repository root as the builder is run."""
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("build_case_files", ROOT / "experiments" / "panel" / "build_case_files.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        patrons = {r["case_id"]: r["patron"] for r in csv.DictReader(mod.LIST.open())}
        outs = {r["case_id"]: r for r in csv.DictReader(mod.OUTCOMES.open())}
        table = yaml.safe_load(mod.TABLE.read_text(encoding="utf-8"))
        for panel in mod.PANELS:
            for case in csv.DictReader(panel.open()):
                built = mod.build(case, patrons[case["case_id"]], outs[case["case_id"]], table)
                written = yaml.safe_load((PANEL / f"{case['case_id']}.yaml").read_text(encoding="utf-8"))
                assert built == written, case["case_id"]
    finally:
        os.chdir(here)
