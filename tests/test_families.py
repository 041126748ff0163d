"""Driver families of the alliance ontology: instances, layered priors files, panel matching.

A driver with ``family: F`` weighs its share (``weight``) times F's weight; priors files may be
layered (config/priors.yaml over config/priors-alliance.yaml); ``--history-matched`` uses the
panel, drawing the priors of drivers the target leaves out as the run would have.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from alignsim import load_scenario, simulate
from alignsim.analyses import backtest
from alignsim.analyses.forecast import HistoryMatching
from alignsim.engine.ensemble import EnsembleResult
from alignsim.engine.estimates import event_step
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.errors import ConfigError
from alignsim.scenario import iter_priors

from conftest import CONFIG, driver, fixed, logit, minimal_doc


def _family_doc(share: float, family_weight: float, hazard: float = 0.02) -> dict:
    """A family driver held at 0 and one instance held at 1: dU = share x family_weight."""
    doc = minimal_doc(hazard)
    doc["drivers"] = {
        "fam": driver("partial_adjustment", weight=fixed(family_weight), initial=0.0,
                      params={"base": fixed(0.0), "speed": fixed(0.0)}),
        "inst": driver("partial_adjustment", weight=fixed(share), initial=1.0, family="fam",
                       params={"base": fixed(1.0), "speed": fixed(0.0)}),
    }
    return doc


def test_an_instance_weighs_its_share_times_the_family_weight(write_doc):
    """Planted answer: share 0.25 x family weight 2 = dU 0.5; with the join intercept lowered
    by 0.5 the hazard is 0.02 a quarter, so P(event in 20 quarters) = 1 - 0.98^20 = 0.332."""
    doc = _family_doc(0.25, 2.0)
    doc["decision"]["join_intercept"] = fixed(logit(0.02) - 0.5)
    s = load_scenario(write_doc(doc))
    params = replicate_params(sample_draws(s, 5, 10), 10, 0, 10)
    assert s.weight_paths("inst") == ("drivers.inst.weight", "drivers.fam.weight")
    assert np.allclose(s.signed_weight("inst", params), 0.5)
    res = simulate(s, replicate_params(sample_draws(s, 5, 10), 20000, 0, 20000), 5)

    hit = event_step(EnsembleResult(s, 5, None, res.replicates, res.totals)) > 0
    expected = 1 - 0.98 ** s.axis.n_steps
    se = np.sqrt(expected * (1 - expected) / hit.size)
    assert abs(hit.mean() - expected) < 4 * se
    # a family weight of 0 silences the instance: back to the intercept alone (hazard e^-0.5 lower)
    doc0 = _family_doc(0.25, 0.0)
    doc0["decision"]["join_intercept"] = fixed(logit(0.02) - 0.5)
    s0 = load_scenario(write_doc(doc0, "zero.yaml"))
    res0 = simulate(s0, replicate_params(sample_draws(s0, 5, 10), 20000, 0, 20000), 5)
    hit0 = event_step(EnsembleResult(s0, 5, None, res0.replicates, res0.totals)) > 0
    assert hit0.mean() < hit.mean() - 8 * se


@pytest.mark.parametrize("change, field, expected", [
    (lambda d: d["drivers"]["inst"].update(family="nope"), "drivers.inst.family", "a family driver"),
    (lambda d: d["drivers"]["inst"].update(direction="away"), "drivers.inst.direction", "the direction of its family"),
    (lambda d: d["drivers"].update(inst2=driver(family="inst")), "drivers.inst2.family", "a family driver"),
])
def test_bad_families_are_refused_with_the_field(write_doc, change, field, expected):
    doc = _family_doc(0.5, 1.0)
    change(doc)
    with pytest.raises(ConfigError, match=expected) as info:
        load_scenario(write_doc(doc))
    assert info.value.field == field


def _write(path, doc):
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_priors_files_may_be_layered_but_not_override(write_doc, tmp_path):
    doc = minimal_doc()
    shared = {k: doc.pop(k) for k in ("decision", "barrier")}
    _write(tmp_path / "ontology.yaml", shared)
    _write(tmp_path / "region.yaml", {"include": "ontology.yaml", "drivers": {"need": {
        k: v for k, v in driver().items() if k != "initial"}}})
    scen = dict(doc, include="region.yaml", drivers={"need": {"initial": fixed(0.3)}})
    s = load_scenario(write_doc(scen))
    assert s.drivers["need"].initial.value == 0.3 and s.decision.join_intercept.dist == "fixed"
    # the region layer may not change what the ontology sets
    _write(tmp_path / "region.yaml", {"include": "ontology.yaml", "decision": {"join_intercept": fixed(-1.0)}})
    with pytest.raises(ConfigError, match="may add fields but not override"):
        load_scenario(write_doc(dict(doc, include="region.yaml")))
    # a cycle is refused, not followed
    _write(tmp_path / "ontology.yaml", dict(copy.deepcopy(shared), include="region.yaml"))
    _write(tmp_path / "region.yaml", {"include": "ontology.yaml"})
    with pytest.raises(ConfigError, match="without a cycle"):
        load_scenario(write_doc(dict(doc, include="region.yaml")))


@pytest.mark.slow
def test_uzbekistan_shares_the_panel_priors_and_matching_draws_fill_left_out_drivers():
    base = load_scenario(CONFIG / "base.yaml")
    cases = backtest.load_cases(CONFIG / "panel")
    backtest.check_shared(cases, base)  # no error: the layer includes the ontology unchanged
    gone = next(d for d in base.left_out if any(d in c.drivers for c in cases.values()))
    with_it = next(c for c in cases.values() if gone in c.drivers)
    path = f"drivers.{gone}.weight"
    assert path not in {p for p, _ in iter_priors(base)}
    ens = SimpleNamespace(draws=sample_draws(base, 11, 30), seed=11, scenario=base)
    used = np.arange(0, 30, 3)
    draws = backtest.matching_draws(ens, cases, used)
    own = sample_draws(with_it, 11, 30)  # drawn as a run of that case would have drawn it
    assert np.array_equal(draws[path].to_numpy(), own[path].to_numpy()[used])
    assert np.array_equal(draws["decision.join_intercept"].to_numpy(),
                          ens.draws["decision.join_intercept"].to_numpy()[used])
    # a path both have under different priors (the panel layer's suspension intercept, fitted on
    # the panel; Uzbekistan's from the CSTO reference class) is the cases' own, drawn independently
    matched, own = backtest.shared_split(cases, base)
    assert "decision.join_intercept" in matched and "decision.suspend_intercept" in own
    assert not np.array_equal(draws["decision.suspend_intercept"].to_numpy(),
                              ens.draws["decision.suspend_intercept"].to_numpy()[used])
    lo, hi = own["decision.suspend_intercept"].support()
    assert draws["decision.suspend_intercept"].between(lo, hi).all()
    armenia = load_scenario(CONFIG / "armenia.yaml")
    with pytest.raises(ConfigError, match="shared priors file"):
        backtest.check_shared(cases, armenia)


def test_history_matching_defaults_to_the_panel():
    plan = SimpleNamespace(config_path=str(CONFIG / "current.yaml"))
    assert HistoryMatching().folder_for(plan) == CONFIG / "panel"
    assert HistoryMatching("elsewhere").folder_for(plan).name == "elsewhere"
