"""Loading and validating scenarios: the evidence check and errors that name the field."""

from __future__ import annotations

import re

import pytest

from alignsim import ConfigError, load_scenario
from alignsim.scenario.evidence import evidence_table

from conftest import CONFIG, ROOT, minimal_doc, uniform


def test_base_loads_and_every_number_is_cited():
    scenario = load_scenario(CONFIG / "base.yaml")
    table = evidence_table(scenario)
    priors = table[table["prior"] != ""]
    assert len(priors) > 60
    assert set(table["basis"]) <= {"measured", "judgement", "calibrated", "setting"}
    judged = priors[priors["basis"] == "judgement"]
    # a judgement quotes seeds/ or rests on a listed source with a note saying what it justifies
    assert ((judged["quote"].str.len() > 10) | ((judged["source"] != "") & (judged["note"].str.len() > 10))).all()
    measured = priors[priors["basis"] == "measured"]
    assert ((measured["quote"] != "") | (measured["source"] != "")).all()


def test_quote_not_in_seeds_is_rejected(write_doc):
    doc = minimal_doc()
    doc["bloc"] = {"name": "Bloc", "short": "BL", "basis": "judgement", "quote": "words that no source contains"}
    with pytest.raises(ConfigError, match=r"bloc\.quote.*verbatim"):
        load_scenario(write_doc(doc))


def test_quote_found_only_in_notes_does_not_pass(write_doc, tmp_path):
    notes = tmp_path / "seeds" / "notes"
    notes.mkdir()
    (notes / "mine.md").write_text("An analyst's own note, https://example.org/x 2026-01-01", encoding="utf-8")
    doc = minimal_doc()
    doc["bloc"] = {"name": "Bloc", "short": "BL", "basis": "judgement", "quote": "An analyst's own note"}
    with pytest.raises(ConfigError, match="verbatim"):
        load_scenario(write_doc(doc))
    # a URL listed in the notes does pass as a measured source; an unlisted one does not
    doc["bloc"] = {"name": "Bloc", "short": "BL", "basis": "measured", "source": "https://example.org/x"}
    load_scenario(write_doc(doc))
    doc["bloc"]["source"] = "https://example.org/unlisted"
    with pytest.raises(ConfigError, match=r"bloc\.source"):
        load_scenario(write_doc(doc))


def test_quote_matching_ignores_typographic_apostrophes(write_doc):
    doc = minimal_doc()
    doc["bloc"] = {"name": "Bloc", "short": "BL", "basis": "judgement", "quote": "A test source text"}
    load_scenario(write_doc(doc))


@pytest.mark.parametrize("mutate, field, expected", [
    (lambda d: d.update(unknown_key=1), "unknown_key", "no such field"),
    (lambda d: d["monte_carlo"].update(replicates="many"), "monte_carlo.replicates", "integer"),
    (lambda d: d["monte_carlo"].update(replicates=0), "monte_carlo.replicates", "greater than or equal to 1"),
    (lambda d: d["decision"].update(join_intercept=uniform(2.0, 1.0)), "decision.join_intercept", "low < high"),
    (lambda d: d["decision"].update(join_intercept={"dist": "uniform", "low": 0, "basis": "setting"}),
     "decision.join_intercept", "needs low, high"),
    (lambda d: d.update(start="2020-Q5"), "start", "YYYY-Qn"),
    (lambda d: d.update(end="2019-Q1"), "end", "at or after start"),
    (lambda d: d["decision"]["join_intercept"].update(value=float("nan")), "decision.join_intercept.value", "finite"),
    (lambda d: d["decision"]["join_intercept"].update(basis="guess"), "decision.join_intercept.basis", "measured"),
    (lambda d: d["decision"].update(join_intercept={"dist": "fixed", "value": 1, "basis": "judgement"}),
     "decision.join_intercept", "needs a 'quote'"),
    (lambda d: d.update(scripted=[{"date": "2020-Q2", "shock": "nothing", "basis": "setting"}]),
     "scripted.0.shock", "a shock defined"),
    (lambda d: d["actors"].update(other={"name": "X", "role": "focal"}), "actors", "exactly one actor"),
    (lambda d: d.update(policies={"ghost": {}}), "policies.ghost", "an actor listed"),
    (lambda d: d.update(event={"kind": "member_at", "date": "2031-Q1"}), "event.date", "within the horizon"),
])
def test_validation_errors_name_field_value_and_expectation(write_doc, mutate, field, expected):
    doc = minimal_doc()
    mutate(doc)
    with pytest.raises(ConfigError) as info:
        load_scenario(write_doc(doc))
    assert info.value.field == field
    assert expected in str(info.value)
    assert re.match(rf"^{re.escape(field)}: got .*; expected ", str(info.value))


def test_scenario_may_not_override_shared_prior(write_doc, tmp_path):
    import yaml

    (tmp_path / "shared.yaml").write_text(yaml.safe_dump({"decision": minimal_doc()["decision"]}))
    doc = minimal_doc()
    doc["include"] = "shared.yaml"
    with pytest.raises(ConfigError, match=r"decision\.join_intercept.*shared prior"):
        load_scenario(write_doc(doc))
    del doc["decision"]
    assert load_scenario(write_doc(doc)).decision.join_intercept.value == minimal_doc()["decision"]["join_intercept"]["value"]


def test_override_sets_a_fixed_prior_and_is_validated():
    s = load_scenario(CONFIG / "base.yaml", ["drivers.us_investment.initial=0.3"])
    assert s.drivers["us_investment"].initial.dist == "fixed"
    assert s.drivers["us_investment"].initial.value == 0.3
    with pytest.raises(ConfigError, match="drivers.nonexistent"):
        load_scenario(CONFIG / "base.yaml", ["drivers.nonexistent.initial=0.3"])
    with pytest.raises(ConfigError, match="low < high"):
        load_scenario(CONFIG / "base.yaml", ["drivers.us_investment.weight.low=5"])


def test_yaml_tags_that_construct_objects_are_rejected(tmp_path):
    (tmp_path / "seeds").mkdir()
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="valid YAML with plain data only"):
        load_scenario(path)


def test_no_scenario_names_in_source_code():
    words = re.compile(r"\b(uzbekistan|russia|china|united.?states|csto|tashkent|moscow)\b", re.I)
    for path in (ROOT / "src" / "alignsim").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not words.search(code), f"{path.name}:{n}: {line.strip()}"
