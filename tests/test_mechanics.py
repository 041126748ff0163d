"""Decision mechanics (issue 12): a formal stance that changes on triggers, three membership
levels, scheduled decision points.

The invariance checks are exact, per replicate, under common random numbers: two runs share
every random number (same seed, same replicate numbers, same outer draws) and differ in one
parameter column only.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from alignsim import load_scenario, simulate
from alignsim.analyses.power_models import with_model
from alignsim.engine.agents import MEMBER, SUSPENDED
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.errors import ConfigError
from alignsim.scenario import iter_priors
from alignsim.scenario.timeaxis import Quarter

from conftest import CONFIG, driver, fixed, logit, minimal_doc
from test_metamorphic import scenario_files

N, SEED = 600, 7


def _params(s, n=N, seed=SEED):
    return replicate_params(sample_draws(s, seed, n), n, 0, n)


def _never_as_inf(steps: np.ndarray) -> np.ndarray:
    return np.where(steps > 0, steps, np.iinfo(np.int32).max).astype(np.int64)


def _denial_columns(s) -> list[str]:
    """Rate (or scheduled probability) columns of the shocks that reset the barrier."""
    out = []
    for name in s.barrier.resets:
        shock = s.shocks[name]
        out.append(f"shocks.{name}.rate" if shock.rate is not None else f"shocks.{name}.probability")
    return out


# The Uzbekistan-style scenarios with a barrier and its resetting shocks; the panel's cases have no
# barrier (the alliance ontology keeps it at 0), so the metamorphic suite's panel sample is left out.
SCENARIOS = [pytest.param(f, id=f.relative_to(CONFIG).as_posix()) for f in scenario_files()
             if f.relative_to(CONFIG).parts[0] != "panel"]


@pytest.mark.parametrize("path", SCENARIOS)
def test_more_official_denials_never_bring_a_first_entry_earlier(path):
    """Per replicate: raising the rate of every barrier-resetting shock (official denials) never
    makes a first entry earlier (non-member start) and never makes the first departure from
    membership (exit or suspension) later (member start, where a first entry can only follow
    an exit and is therefore not monotone).

    Exact per replicate for rule-based powers. With strategic powers a power's discrete choice
    responds to the state, so a denial may flip one choice, after which the replicate's draws
    no longer line up (measured at 4000 replicates: 0-1 replicates the wrong way per scenario);
    there the denial mechanics are checked per replicate with the rule-based powers, and the
    strategic run must move the whole curve the right way (``_curve_moves_the_right_way``)."""
    s = load_scenario(path, check_evidence=False)
    columns = _denial_columns(s)
    assert columns, f"{path.name}: the barrier has no resetting shock"
    low = _params(s)
    high = low.copy()
    for c in columns:
        high[c] = np.minimum(1.0, low[c] + 0.3)
    exact = s if s.powers.model == "rule" else with_model(s, "rule")
    ta, tb = _first_change(s, simulate(exact, low, SEED).replicates), _first_change(s, simulate(exact, high, SEED).replicates)
    if not s.member_at_start.value:
        assert (tb >= ta).all(), f"{path.name}: {(tb < ta).sum()} replicates enter earlier with more denials"
        assert (tb > ta).any() or (ta == np.iinfo(np.int32).max).all()
    else:
        assert (tb <= ta).all(), f"{path.name}: {(tb > ta).sum()} replicates depart later with more denials"
    if exact is not s:
        _curve_moves_the_right_way(s, _first_change(s, simulate(s, low, SEED).replicates),
                                   _first_change(s, simulate(s, high, SEED).replicates))


def _first_change(s, rep) -> np.ndarray:
    """Per replicate: the step of the first entry (non-member start) or of the first departure,
    exit or suspension (member start); never = int32 max."""
    if not s.member_at_start.value:
        return _never_as_inf(rep.first_entry_step.to_numpy())
    return np.minimum(_never_as_inf(rep.first_exit_step.to_numpy()), _never_as_inf(rep.first_suspension_step.to_numpy()))


def _curve_moves_the_right_way(s, ta: np.ndarray, tb: np.ndarray) -> None:
    """With more denials, P(change by quarter t) is nowhere higher (non-member start: an entry)
    or lower (member start: a departure) by more than 3 paired standard errors, and at the
    horizon it moves the right way by more than 2 (600 replicates under common random numbers)."""
    sign = 1.0 if not s.member_at_start.value else -1.0
    z = []
    for t in range(1, s.axis.n_steps + 1):
        d = sign * ((tb <= t).astype(float) - (ta <= t))
        se = d.std(ddof=1) / np.sqrt(len(d))
        z.append(d.mean() / se if se > 0 else 0.0)
    assert max(z) < 3, f"{s.name}: more denials raise the wrong way at some quarter (z {max(z):.1f})"
    assert z[-1] < -2, f"{s.name}: more denials do not move the horizon's probability (z {z[-1]:.1f})"


def test_the_curve_check_fails_when_denials_are_taken_away():
    """Planted: the strategic curve check given the runs in the wrong order (more denials first)
    must fail, so the check above can."""
    s = load_scenario(CONFIG / "current.yaml", check_evidence=False)
    low = _params(s)
    high = low.copy()
    for c in _denial_columns(s):
        high[c] = np.minimum(1.0, low[c] + 0.3)
    ta, tb = _first_change(s, simulate(s, low, SEED).replicates), _first_change(s, simulate(s, high, SEED).replicates)
    with pytest.raises(AssertionError, match="wrong way"):
        _curve_moves_the_right_way(s, tb, ta)


def test_the_denial_check_fails_when_a_denial_may_lower_the_barrier():
    """The same check with ``reset: set`` (a denial puts the barrier at U(1, 3), below
    current.yaml's starting 2.5-4): some replicate's first entry comes earlier."""
    s = load_scenario(CONFIG / "current.yaml", ["barrier.reset=set"], check_evidence=False)
    low = _params(s, 4000)
    high = low.copy()
    high["shocks.official_denial.rate"] = np.minimum(1.0, low["shocks.official_denial.rate"] + 0.3)
    ea = _never_as_inf(simulate(s, low, SEED).replicates.first_entry_step.to_numpy())
    eb = _never_as_inf(simulate(s, high, SEED).replicates.first_entry_step.to_numpy())
    assert (eb < ea).any()


def _barrier_paths(s, params) -> np.ndarray:
    """The barrier at the start and after each quarter, shape (quarters + 1, replicates)."""
    model = AlignmentModel(s, params, SEED)
    out = [model.focal.barrier.value.copy()]
    for _ in range(s.axis.n_steps):
        model.step()
        out.append(model.focal.barrier.value.copy())
    return np.array(out)


def _triggers_off(s, params):
    """The barrier's erosion switched off: trigger jumps 0 and time erosion (speed) 0, both
    inside their priors' ranges."""
    out = params.copy()
    for name in s.barrier.shocks:
        out[f"barrier.shocks.{name}"] = 0.0
    out["barrier.params.speed"] = 0.0
    return out


@pytest.mark.parametrize("path", SCENARIOS)
def test_with_its_triggers_off_the_barrier_never_decreases(path):
    s = load_scenario(path, check_evidence=False)
    priors = dict(iter_priors(s))
    assert priors["barrier.params.speed"].support()[0] == 0.0, "time erosion's prior must include zero"
    for name in s.barrier.shocks:
        assert priors[f"barrier.shocks.{name}"].support()[1] <= 0.0, f"trigger {name} may only lower the barrier"
    paths = _barrier_paths(s, _triggers_off(s, _params(s)))
    assert (np.diff(paths, axis=0) >= 0).all()


def test_the_barrier_check_can_fail():
    """With the triggers on the barrier does fall in some replicates of the base run, and with
    ``reset: set`` a denial alone lowers it in current.yaml."""
    base = load_scenario(CONFIG / "base.yaml", check_evidence=False)
    assert (np.diff(_barrier_paths(base, _params(base)), axis=0) < 0).any()
    cur = load_scenario(CONFIG / "current.yaml", ["barrier.reset=set"], check_evidence=False)
    assert (np.diff(_barrier_paths(cur, _triggers_off(cur, _params(cur))), axis=0) < 0).any()


def test_reset_max_keeps_the_higher_level(write_doc):
    """Planted: a denial every quarter at level 2 on a barrier starting at 3 leaves it at 3;
    starting at 1 it lifts it to 2 (``reset: set`` would give 2 in both)."""
    for start, expected in ((3.0, 3.0), (1.0, 2.0)):
        doc = minimal_doc()
        doc["barrier"].update({"reset": "max", "initial": fixed(start), "resets": {"denial": fixed(2.0)}})
        doc["shocks"] = {"denial": {"label": "d", "direction": "away", "rate": fixed(1.0), "basis": "setting"}}
        s = load_scenario(write_doc(doc), check_evidence=False)
        paths = _barrier_paths(s, _params(s, 20))
        assert np.all(paths[1:] == expected)


# ---------------------------------------------------------------- three levels of membership

def _suspension_doc(h_susp: float = 0.03) -> dict:
    doc = minimal_doc()
    doc["event"] = {"kind": "first_suspension"}
    doc["member_at_start"] = {"value": True, "basis": "setting"}
    doc["decision"].update({"leave_intercept": fixed(-30.0), "suspend_intercept": fixed(logit(h_susp)),
                            "resume_intercept": fixed(-30.0), "suspended_exit_intercept": fixed(-30.0)})
    doc["monte_carlo"] = {"replicates": 20000, "draws": 10, "seed": 3, "batch_size": 5000}
    return doc


def test_a_suspension_hazard_gives_the_known_probability(write_doc):
    """Member start, only member -> suspended possible at 3% a quarter: P(by T) = 1 - 0.97^T."""
    from alignsim import run_ensemble
    from alignsim.engine.estimates import summarise

    s = load_scenario(write_doc(_suspension_doc()), check_evidence=False)
    sm = summarise(run_ensemble(s))
    T = s.axis.n_steps
    exact = 1 - 0.97 ** T
    p = sm["probability"]
    assert abs(p["estimate"] - exact) < 4 * p["se"] + 1e-9
    # suspended members are not members: membership falls by the same amount
    assert sm["member_at_year_end"][-1]["estimate"] == pytest.approx(1 - p["estimate"], abs=1e-12)


def test_status_at_a_date_counts_suspended_members(write_doc):
    doc = _suspension_doc()
    doc["event"] = {"kind": "status_at", "date": "2022-Q4", "status": "suspended"}
    s = load_scenario(write_doc(doc), check_evidence=False)
    res = simulate(s, _params(s, 4000), SEED).replicates
    step = s.axis.step_of(Quarter.parse("2022-Q4"))
    suspended_by = (res.first_suspension_step > 0) & (res.first_suspension_step <= step)
    assert ((res.status_at_event == SUSPENDED) == suspended_by).all()
    assert set(np.unique(res.status_at_event)) == {MEMBER, SUSPENDED}


def test_member_at_still_works(write_doc):
    doc = minimal_doc(0.05)
    doc["event"] = {"kind": "member_at", "date": "2022-Q4"}
    s = load_scenario(write_doc(doc), check_evidence=False)
    res = simulate(s, _params(s, 2000), SEED).replicates
    step = s.axis.step_of(Quarter.parse("2022-Q4"))
    joined = (res.first_entry_step > 0) & (res.first_entry_step <= step)
    assert ((res.status_at_event == MEMBER) == joined).all() and joined.any()


def test_first_suspension_needs_its_intercept(write_doc):
    doc = _suspension_doc()
    del doc["decision"]["suspend_intercept"]
    with pytest.raises(ConfigError, match="decision.suspend_intercept"):
        load_scenario(write_doc(doc), check_evidence=False)


@pytest.mark.slow
def test_a_question_resolved_by_a_suspension_runs_end_to_end(write_doc, tmp_path):
    """The run folder's summary.json names the suspension event; the report is written."""
    from alignsim import run
    from alignsim.runs.report import build_report

    out = tmp_path / "run"
    doc = _suspension_doc()
    doc["drivers"] = {"threat": driver(direction="away")}  # the report's driver section needs one
    run(write_doc(doc), replicates=2000, out=out, report=False)  # the report is built below
    summary = json.loads((out / "summary.json").read_text())
    assert summary["event_kind"] == "first_suspension"
    assert "suspends" in summary["event"]
    assert 0 < summary["probability"]["estimate"] < 1
    html, md = build_report(out)
    assert html.is_file() and f"{summary['probability']['estimate']:.1%}" in md.read_text(encoding="utf-8")


def test_the_2011_backtest_is_resolved_by_a_suspension():
    s = load_scenario(CONFIG / "backtests" / "uzbekistan-2011Q3.yaml")
    assert s.event.kind == "first_suspension" and s.member_at_start.status == "member"


# ---------------------------------------------------------------- scheduled decision points

def _point_doc(shift: float | None) -> dict:
    doc = minimal_doc(0.02)
    doc["monte_carlo"] = {"replicates": 40000, "draws": 10, "seed": 5, "batch_size": 20000}
    if shift is not None:
        doc["decision_points"] = [{"date": "2022-Q1", "label": "accession summit", "join_shift": fixed(shift),
                                   "basis": "setting", "note": "planted"}]
    return doc


def test_a_decision_point_changes_the_hazard_at_its_date_by_the_known_amount(write_doc):
    """Constant join hazard 2% a quarter; an accession summit in 2022-Q1 adds 2 logits there:
    the hazard that quarter is sigmoid(logit(0.02) + 2) = 0.131, 2% in every other quarter."""
    s = load_scenario(write_doc(_point_doc(2.0)), check_evidence=False)
    n = 40000
    entry = simulate(s, _params(s, n), SEED).replicates.first_entry_step.to_numpy()
    q = s.axis.step_of(Quarter.parse(s.decision_points[0].date))
    expected = 1 / (1 + np.exp(-(logit(0.02) + 2.0)))
    for t in range(1, s.axis.n_steps + 1):
        at_risk = int(((entry <= 0) | (entry >= t)).sum())
        h = float((entry == t).sum()) / at_risk
        target = expected if t == q else 0.02
        se = np.sqrt(target * (1 - target) / at_risk)
        assert abs(h - target) < 4.5 * se, f"quarter {t}: hazard {h:.4f}, expected {target:.4f}"


def test_a_decision_point_changes_nothing_but_its_quarter(write_doc):
    """Per replicate under common random numbers: with and without the point, first entries
    agree except where the point brought one forward to its own quarter."""
    with_point = load_scenario(write_doc(_point_doc(2.0), "a.yaml"), check_evidence=False)
    without = load_scenario(write_doc(_point_doc(None), "b.yaml"), check_evidence=False)
    params = _params(with_point, 20000)
    a = simulate(with_point, params, SEED).replicates.first_entry_step.to_numpy()
    b = simulate(without, params.drop(columns=["decision_points.0.join_shift"]), SEED).replicates.first_entry_step.to_numpy()
    q = with_point.axis.step_of(Quarter.parse("2022-Q1"))
    differ = a != b
    assert differ.any()
    assert (a[differ] == q).all() and ((b[differ] > q) | (b[differ] < 0)).all()


def test_a_decision_point_needs_a_shift(write_doc):
    doc = _point_doc(None)
    doc["decision_points"] = [{"date": "2022-Q1", "label": "x", "basis": "setting"}]
    with pytest.raises(ConfigError, match="decision_points.0"):
        load_scenario(write_doc(doc), check_evidence=False)


# ---------------------------------------------------------------- the audit of 'measured'

def _measured_items(node, path=""):
    """Measured numbers: priors (``dist``) and base rates (``events``); facts without a number (an
    outcome that did not occur, a bloc's name) are not numbers to audit."""
    if isinstance(node, dict):
        if node.get("basis") == "measured" and ("dist" in node or "events" in node):
            yield path, node
        for k, v in node.items():
            yield from _measured_items(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _measured_items(v, f"{path}.{i}")


def test_every_measured_value_in_config_quotes_or_cites_a_figure():
    """A measured number needs a figure: in the verbatim quote, or in the note beside a listed
    source. Anything else is a judgement (issue 12, item 5)."""
    import re

    import yaml

    digit = re.compile(r"\d")
    bad = []
    files = sorted(CONFIG.rglob("*.yaml"))
    for f in files:
        for path, item in _measured_items(yaml.safe_load(f.read_text(encoding="utf-8"))):
            quote, source, note = item.get("quote") or "", item.get("source"), item.get("note") or ""
            if not (digit.search(quote) or (source and digit.search(note))):
                bad.append(f"{f.relative_to(CONFIG)}:{path}")
    assert len(files) > 5 and not bad, f"measured without a figure: {bad}"
