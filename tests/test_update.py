"""Updating on news: weighting against exact rejection, rejuvenation against a known posterior,
and bad news files refused in one line with nothing written."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import yaml
from scipy import integrate

from alignsim import run_ensemble
from alignsim.analyses.update import condition, weighted_summary
from alignsim.apps.cli import main
from alignsim.engine.estimates import clustered_interval, event_step
from alignsim.runs.api import run
from alignsim.scenario import validate_document

from conftest import logit, minimal_doc, uniform
from test_forecast import planted_doc


def with_news(doc: dict, observations: list[dict], through: str, complete: list[str]) -> dict:
    out = json.loads(json.dumps(doc))
    out["observed"] = {"through": through, "window_end": out["end"], "observations": observations,
                       "complete_shocks": complete, "basis": "setting", "note": "test"}
    return out


def shock(date: str, name: str = "A") -> dict:
    return {"date": date, "kind": "shock", "shock": name, "basis": "setting", "note": "test"}


def no_event(date: str) -> dict:
    return {"date": date, "kind": "event", "event": "first_entry", "occurred": False, "basis": "setting", "note": "t"}


def rejection(parent_doc: dict, replicates: int, seed: int, draws: int, pattern: int, through: int,
              first: int, last: int) -> tuple[float, float]:
    """P(first <= event <= last | shock A fired exactly in ``pattern`` (bits of steps 1..through) and
    no event by ``through``), by keeping only the matching replicates of the unforced ensemble."""
    s = validate_document(parent_doc)
    ens = run_ensemble(s, replicates=replicates, seed=seed, draws=draws)
    steps = event_step(ens)
    bits = ens.outcomes["shock_bits.A"].to_numpy() & np.uint64((1 << through) - 1)
    keep = (bits == np.uint64(pattern)) & ((steps <= 0) | (steps > through))
    hit = (steps >= first) & (steps <= last) & keep
    ids, g = np.unique(ens.outcomes["draw"].to_numpy(), return_inverse=True)
    ci = clustered_interval(np.bincount(g, weights=hit, minlength=len(ids)), np.bincount(g, weights=keep, minlength=len(ids)))
    return float(ci["estimate"]), float(ci["se"])


def test_weighting_agrees_with_exact_rejection_from_the_same_ensemble():
    doc = planted_doc(("A",), rate=0.2)
    doc["end"] = "2023-Q4"
    doc["shocks"]["A"]["rate"] = uniform(0.05, 0.4)
    child = validate_document(with_news(doc, [shock("2020-Q2"), no_event("2020-Q4")], "2020-Q4", ["A"]))
    c = condition(child, replicates=40000, seed=11, n_draws=400, batch_size=10000, min_ess=0)
    assert len(c.generations) == 1  # weighting only, no rejuvenation
    cond = weighted_summary(c)["conditional"]
    se_w = (cond["ci_high"] - cond["ci_low"]) / (2 * 1.96)
    p_r, se_r = rejection(doc, 40000, 11, 400, 0b0010, 4, 5, 16)
    assert abs(cond["estimate"] - p_r) < 3 * math.hypot(se_w, se_r)
    # the observation matters: unconditioned, the same window's probability is far lower
    plain = validate_document(with_news(doc, [no_event("2020-Q4")], "2020-Q4", []))
    base = weighted_summary(condition(plain, 20000, 11, 400, 10000, min_ess=0))["conditional"]["estimate"]
    assert cond["estimate"] > base + 0.1


def toy_doc() -> dict:
    """Join hazard h = sigmoid(a), a ~ U(logit 0.02, logit 0.3); shock A (rate theta ~ U(0.05, 0.95))
    does nothing. A's record is complete through 2021-Q4 (it fired in steps 1-3, not in 4-8), and
    no event happened in those 8 quarters: the posterior is theta ~ theta^3 (1 - theta)^5 and
    a ~ (1 - h)^8 (independent), known by quadrature."""
    doc = minimal_doc()
    doc["start"], doc["end"] = "2020-Q1", "2022-Q4"
    doc["decision"]["join_intercept"] = uniform(logit(0.02), logit(0.3))
    doc["shocks"] = {"A": {"label": "Shock A", "direction": "toward", "rate": uniform(0.05, 0.95),
                           "basis": "setting", "note": "test"}}
    return with_news(doc, [shock("2020-Q1"), shock("2020-Q2"), shock("2020-Q3"), no_event("2021-Q4")],
                     "2021-Q4", ["A"])


def known_posterior() -> tuple[float, float]:
    lo, hi = logit(0.02), logit(0.3)
    h = lambda a: 1 / (1 + math.exp(-a))  # noqa: E731
    z = integrate.quad(lambda a: (1 - h(a)) ** 8, lo, hi)[0]
    p = integrate.quad(lambda a: (1 - h(a)) ** 8 * (1 - (1 - h(a)) ** 4), lo, hi)[0] / z
    theta = (integrate.quad(lambda t: t**4 * (1 - t) ** 5, 0.05, 0.95)[0]
             / integrate.quad(lambda t: t**3 * (1 - t) ** 5, 0.05, 0.95)[0])
    return p, theta


@pytest.mark.slow
def test_rejuvenation_agrees_with_a_known_posterior_and_with_rejection():
    child = validate_document(toy_doc())
    c = condition(child, replicates=60000, seed=3, n_draws=1000, batch_size=20000,
                  min_ess=10**9, max_generations=2)  # force two rejuvenations
    assert len(c.generations) == 3
    seeds = [g["seed"] for g in c.generations]
    assert len(set(seeds)) == 3  # fresh stream keys for each generation
    p_true, theta_true = known_posterior()
    cond = weighted_summary(c)["conditional"]
    se = (cond["ci_high"] - cond["ci_low"]) / (2 * 1.96)
    assert abs(cond["estimate"] - p_true) < 3 * se + 0.003
    theta = c.ensemble.draws["shocks.A.rate"].to_numpy()[c.ensemble.outcomes["draw"].to_numpy()]
    assert np.sum(c.weights * theta) / c.weights.sum() == pytest.approx(theta_true, abs=0.02)
    parent = toy_doc()
    del parent["observed"]
    # exact rejection from the unforced ensemble: A fired in steps 1-3 and not 4-8, no event by step 8
    s = validate_document(parent)
    ens = run_ensemble(s, replicates=60000, seed=3, draws=1000)
    steps = event_step(ens)
    bits = ens.outcomes["shock_bits.A"].to_numpy() & np.uint64(0xFF)
    keep = (bits == np.uint64(0b0111)) & ((steps <= 0) | (steps > 8))
    p_rej = ((steps >= 9) & (steps <= 12) & keep).sum() / keep.sum()
    se_rej = math.sqrt(p_rej * (1 - p_rej) / keep.sum())
    assert abs(cond["estimate"] - p_rej) < 3 * math.hypot(se, se_rej) + 0.003
    assert abs(p_rej - p_true) < 3 * se_rej + 0.003


# ---------------------------------------------------------------- the command line

@pytest.fixture(scope="module")
def parent_template(tmp_path_factory):
    """One finished parent run for the module (a run takes about a second): tests get copies."""
    root = tmp_path_factory.mktemp("parent-template")
    (root / "seeds").mkdir()
    (root / "seeds" / "source.txt").write_text("A test source text with a quotable sentence.",
                                               encoding="utf-8")
    doc = planted_doc(("A",), rate=0.1)
    doc["monte_carlo"] = {"replicates": 400, "draws": 40, "seed": 2, "batch_size": 400}
    path = root / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out = root / "parent"
    run(path, out=out)
    return out


@pytest.fixture
def parent_run(tmp_path, parent_template):
    """A private copy of the module's parent run, so no test sees another's writes."""
    out = tmp_path / "parent"
    shutil.copytree(parent_template, out)
    return out


def write_news(tmp_path, observations: list[dict], **extra):
    path = tmp_path / "news.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "observations": observations, **extra}), encoding="utf-8")
    return path


@pytest.mark.parametrize("observation, words", [  # the last: the event cannot happen while A is absent
    ({"date": "2020-13", "kind": "shock", "shock": "A", "source": "x"}, ["observations.0", "date", "YYYY-Qn"]),
    ({"date": "2020-Q2", "kind": "event", "event": "first_exit", "occurred": False, "source": "x"}, ["observations.0.event", "first_entry"]),
    ({"date": "2020-Q2", "kind": "shock", "shock": "Z", "source": "x"}, ["observations.0.shock"]),
    ({"date": "2020-Q1", "kind": "event", "event": "first_entry", "occurred": True, "source": "x"},
     ["observations.0", "2020-Q1 event first_entry occurred", "widen the priors"]),
])
def test_bad_news_ends_in_one_line_and_writes_nothing(tmp_path, parent_run, capsys, observation, words):
    before = sorted(p.name for p in parent_run.iterdir())
    news = write_news(tmp_path, [observation], through="2020-Q1", complete_shocks=["A"])
    child = tmp_path / "child"
    assert main(["update", str(parent_run), str(news), "--out", str(child)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    for w in words:
        assert w in err
    assert not child.exists()
    assert sorted(p.name for p in parent_run.iterdir()) == before


def test_update_writes_a_child_folder_recording_parent_and_ess(tmp_path, parent_run, capsys):
    news = write_news(tmp_path, [shock("2020-Q2"), no_event("2020-Q3")])
    child = tmp_path / "child"
    assert main(["update", str(parent_run), str(news), "--out", str(child)]) == 0
    man = json.loads((child / "manifest.json").read_text())
    summary = json.loads((child / "summary.json").read_text())
    assert man["parent"] == str(parent_run) and man["kind"] == "update"
    assert summary["update"]["ess"] > 0 and summary["update"]["parent"] == str(parent_run)
    assert (child / "report.md").read_text().count("What changed since the parent run") == 1
    assert (child / "weights.parquet").is_file()
    assert {"P(event by the horizon)"} <= {r["quantity"] for r in summary["changes_since_parent"]}


def test_observed_observations_in_a_scenario_condition_it_from_scratch(tmp_path, write_doc):
    doc = planted_doc(("A",), rate=0.1)
    doc["monte_carlo"] = {"replicates": 400, "draws": 40, "seed": 2, "batch_size": 400}
    path = write_doc(with_news(doc, [shock("2020-Q2"), no_event("2020-Q3")], "2020-Q3", ["A"]))
    child = tmp_path / "conditioned"
    assert main(["update", "--scenario", str(path), "--out", str(child)]) == 0
    man = json.loads((child / "manifest.json").read_text())
    assert man["parent"] is None and man["ess"] > 0
    assert "No parent run" in (child / "report.md").read_text()
