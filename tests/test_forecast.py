"""The analyst's forecast: resolution, base rate, the shock record, pathways and signposts.

Pathways and signposts are checked on planted scenarios with known answers: the event can only
follow shock A (its barrier drops to zero when A fires); B and C fire at the same rate and do
nothing.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from alignsim import load_scenario, run_ensemble
from alignsim.analyses.pathways import find_pathways
from alignsim.analyses.signposts import moves_the_odds, signposts
from alignsim.engine.ensemble import simulate
from alignsim.engine.estimates import summarise
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.errors import ConfigError
from alignsim.outputs.report_text import headline_text
from alignsim.scenario import validate_document

from conftest import CONFIG, fixed, logit, minimal_doc, uniform


def planted_doc(routes: tuple[str, ...] = ("A",), rate: float = 0.06) -> dict:
    """The event (join hazard 0.25 a quarter once open) can only follow a shock in ``routes``:
    each resets a barrier of 30 to 0. Shocks A, B, C fire at ``rate`` a quarter."""
    doc = minimal_doc()
    doc["start"], doc["end"] = "2020-Q1", "2027-Q4"
    doc["decision"]["join_intercept"] = fixed(logit(0.25))
    doc["barrier"] = {"kind": "shock_level", "label": "b", "scale": "s", "mechanism": "m", "bounds": [0, 40],
                      "initial": fixed(30.0), "params": {"baseline": fixed(30.0), "speed": fixed(0.0)},
                      "resets": {k: fixed(0.0) for k in routes}}
    doc["shocks"] = {k: {"label": f"Shock {k}", "direction": "toward", "rate": uniform(rate * 0.5, rate * 1.5),
                         "basis": "setting", "note": "test"} for k in ("A", "B", "C")}
    doc["monte_carlo"] = {"replicates": 20000, "draws": 200, "seed": 5, "batch_size": 5000}
    return doc


# ---------------------------------------------------------------- resolution and base rate

def test_resolution_and_base_rate_beside_the_headline():
    s = load_scenario(CONFIG / "base.yaml")
    sm = summarise(run_ensemble(s, replicates=2000, seed=1))
    assert "Collective Security Council" in sm["resolution"]["act"]
    b = sm["base_rate"]
    assert b["definition"] == "b1" and b["main"]["events"] == 4
    years = s.axis.n_steps / 4  # 2017-Q3..2030-Q4: 54 quarters
    assert b["main"]["headline"]["estimate"] == pytest.approx(1 - math.exp(-4 / 179.55 * years))
    assert b["main"]["conditional"]["from"] == "2026-Q1" and b["main"]["conditional"]["years"] == 5
    alts = {a["definition"] for a in b["alternatives"]}
    assert {"b2", "b3", "b4"} <= alts and not any(d.startswith("a") for d in alts)  # exits are another event
    text = headline_text(sm, s)
    assert "Resolves on:" in text and "Base rate over the same window, 2017-Q3..2030-Q4" in text


def test_armenia_base_rate_counts_exits():
    s = load_scenario(CONFIG / "armenia.yaml")
    sm = summarise(run_ensemble(s, replicates=500, seed=1))
    assert sm["base_rate"]["main"]["definition"] == "a1"
    assert "freeze" in " ".join(sm["resolution"]["excludes"])


def test_base_rate_definition_must_count_the_scenario_event():
    doc = minimal_doc()
    doc["base_rate"] = {"reference_class": "r", "definition": "x",
                        "definitions": {"x": {"label": "exits", "event": "first_exit", "events": 1,
                                              "state_years": 10, "basis": "setting"}}}
    with pytest.raises(ConfigError, match="base_rate.definition.*first_entry"):
        validate_document(doc)


# ---------------------------------------------------------------- the shock record

def test_shock_record_matches_the_trace_and_ignores_batch_size():
    s = load_scenario(CONFIG / "base.yaml")
    draws = sample_draws(s, 9, 20)
    res = simulate(s, replicate_params(draws, 60, 0, 60), 9, trace=True)
    tr = res.trace
    for k in s.shocks:
        fired = tr[tr.series == f"shock.{k}"].pivot(index="replicate", columns="step", values="value").to_numpy() > 0
        rec = res.replicates
        assert np.array_equal(rec[f"shock_count.{k}"].to_numpy(), fired.sum(axis=1))
        first = np.where(fired.any(axis=1), fired.argmax(axis=1) + 1, -1)
        assert np.array_equal(rec[f"shock_first.{k}"].to_numpy(), first)
        bits = sum(fired[:, t].astype(np.uint64) << np.uint64(t) for t in range(min(64, fired.shape[1])))
        assert np.array_equal(rec[f"shock_bits.{k}"].to_numpy(), bits)
    a = run_ensemble(s, replicates=3000, seed=4, batch_size=700).outcomes
    b = run_ensemble(s, replicates=3000, seed=4, batch_size=3000).outcomes
    cols = [c for c in a.columns if c.startswith("shock_")]
    assert len(cols) == 3 * len(s.shocks)
    assert a[cols].equals(b[cols])


# ---------------------------------------------------------------- pathways

def test_a_planted_single_route_is_one_pathway_a():
    s = validate_document(planted_doc(("A",)))
    r = run_ensemble(s)
    paths = find_pathways(r)
    assert list(paths["pathway"]) == ["A"]
    assert paths["share"].iloc[0] == 1.0
    assert "After a shock A:" in paths["description"].iloc[0]


def test_two_planted_routes_give_the_same_pathways_for_two_seeds():
    doc = planted_doc(("A", "B"), rate=0.03)
    tables = [find_pathways(run_ensemble(validate_document(doc), seed=seed)) for seed in (1, 2)]
    names = [sorted(t["pathway"]) for t in tables]
    assert names[0] == names[1]
    assert {"A", "B"} <= set(names[0]) and "C" not in " ".join(names[0])
    shares = [t.set_index("pathway")["share"] for t in tables]
    assert (shares[0] - shares[1]).abs().max() < 0.05


def test_pathway_features_count_only_shocks_up_to_the_event_quarter():
    """A shock first fired after the event is not a feature; in the event's own quarter it is
    when shocks are drawn before the decision, and not when the decision comes first."""
    import pandas as pd

    from alignsim.analyses.pathways import cutoff_steps, fired_by

    out = pd.DataFrame({"shock_first.A": [3, 5, 6, -1]})
    event = np.array([5, 5, 5, 5])
    s = validate_document(planted_doc())
    assert fired_by(out, "A", cutoff_steps(s, event)).tolist() == [True, True, False, False]
    doc = planted_doc()
    doc["order"] = ["decision", "shocks", "policies", "drivers"]
    late = validate_document(doc)
    assert fired_by(out, "A", cutoff_steps(late, event)).tolist() == [True, False, False, False]


# ---------------------------------------------------------------- signposts

def test_a_signpost_tied_to_the_cause_moves_the_odds_and_an_unrelated_one_does_not():
    s = validate_document(planted_doc(("A",), rate=0.05))
    table = signposts(run_ensemble(s, replicates=40000, seed=3))
    row = lambda k, w: table[(table.signpost == k) & (table.window == w)].iloc[0]  # noqa: E731
    for w in (4, 8):
        assert moves_the_odds(row("A", w)) and row("A", w)["ratio"] > 1.3
        assert not moves_the_odds(row("C", w))
        assert 0.8 < row("C", w)["ratio"] < 1.25
    assert row("A", 8)["p_seen"] == pytest.approx(1 - (1 - 0.05) ** 8, abs=0.02)


def test_signposts_and_pathways_of_the_uzbekistan_base_run():
    s = load_scenario(CONFIG / "current.yaml")
    r = run_ensemble(s, replicates=4000, seed=2)
    table = signposts(r)
    assert set(table["window"]) == {4, 8}
    assert {"official_denial", "china_weight"} <= set(table["signpost"])
    assert (table["p_seen"].between(0, 1)).all()
    assert len(find_pathways(r)) <= 6


def test_planted_doc_is_not_shared_between_tests():
    a, b = planted_doc(), planted_doc()
    a["shocks"]["A"]["label"] = "changed"
    assert b["shocks"]["A"]["label"] == "Shock A"
    assert copy.deepcopy(b) == planted_doc()
