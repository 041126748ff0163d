"""Property tests (Hypothesis; profile from HYPOTHESIS_PROFILE, see conftest.py) for the YAML loader,
``--set`` and the explore page's query validator, each against an answer known in advance."""

from __future__ import annotations

import copy
import math
from unittest.mock import patch

import yaml
from hypothesis import given
from hypothesis import strategies as st

from alignsim.apps.explore import MAX_PARAM_CHARS, cached_scenario, query_values, slider_specs
from alignsim.errors import ConfigError
from alignsim.scenario import LimitedLoader, apply_override, parse_yaml

from conftest import CONFIG, minimal_doc

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32),
                    st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12))
keys = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)
plain = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                     st.dictionaries(keys, kids, max_size=4)), max_leaves=25)


@given(doc=st.dictionaries(keys, plain, max_size=6))
def test_plain_data_round_trips_through_the_limited_loader(doc):
    assert parse_yaml(yaml.safe_dump(doc, allow_unicode=True)) == doc


@given(doc=st.dictionaries(keys, scalars, min_size=1, max_size=8), data=st.data())
def test_a_duplicated_key_is_named_with_both_lines(doc, data):
    lines = [yaml.safe_dump({k: v}, allow_unicode=True, width=10**6).rstrip("\n") for k, v in doc.items()]
    assert all("\n" not in line for line in lines)
    first = data.draw(st.integers(0, len(lines) - 1))
    again = data.draw(st.integers(first + 1, len(lines)))
    key = list(doc)[first]
    lines.insert(again, yaml.safe_dump({key: 1}).rstrip("\n"))
    try:
        parse_yaml("\n".join(lines) + "\n")
    except yaml.YAMLError as exc:
        assert f"key '{key}' is on line {first + 1} and again on line {again + 1}" in str(exc)
    else:
        raise AssertionError("a duplicate key was accepted")


@given(width=st.integers(1, 6), levels=st.integers(0, 6), limit=st.integers(10, 5000))
def test_the_node_limit_counts_expanded_aliases_exactly(width, levels, limit):
    text = "a0: &a0 [" + ", ".join(["x"] * width) + "]\n"
    for i in range(1, levels + 1):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]\n"
    sizes = [1 + width]                        # a sequence node and its scalars
    for _ in range(levels):
        sizes.append(1 + width * sizes[-1])   # each alias expands to the whole anchored node
    expanded = 1 + sum(1 + s for s in sizes)   # the root mapping, each key, each value
    with patch.object(LimitedLoader, "max_nodes", limit):
        try:
            doc = parse_yaml(text)
        except yaml.YAMLError as exc:
            assert expanded > limit and "once aliases are expanded" in str(exc)
        else:
            assert expanded <= limit and len(doc) == levels + 1


PRIOR = "decision.join_intercept"
NUMBER = "monte_carlo.replicates"


@given(path=st.sampled_from([PRIOR, NUMBER, "start", "bloc.name"]),
       value=st.one_of(st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False),
                       st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=10)))
def test_set_puts_the_value_at_its_path(path, value):
    doc = copy.deepcopy(minimal_doc())
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n...\n").rstrip("\n")
    out = apply_override(doc, f"{path}={text}")
    node = out
    for k in path.split("."):
        node = node[k]
    expected = parse_yaml(text)
    if path == PRIOR and not isinstance(expected, dict):
        assert node == {"dist": "fixed", "value": expected, "basis": "setting", "note": f"set by override {path}={text}"}
    else:
        assert node == expected or (isinstance(expected, float) and math.isnan(expected))


@given(path=st.text(max_size=30), value=st.text(max_size=30))
def test_set_with_any_text_is_applied_or_one_clear_line(path, value):
    try:
        apply_override(copy.deepcopy(minimal_doc()), f"{path}={value}")
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


SCENARIO = cached_scenario(str(CONFIG / "base.yaml"))
SPECS = slider_specs(SCENARIO)
numbers = st.one_of(st.floats(), st.integers(-10**400, 10**400).map(str), st.sampled_from(["nan", "inf", "-inf", "1e399",
                                                                                            "-1e6", " 3 ", "0x10", ""]))
query_keys = st.one_of(st.sampled_from(sorted(SPECS) + ["seed"]), st.text(max_size=3 * MAX_PARAM_CHARS))
query_values_ = st.one_of(numbers.map(str), st.text(max_size=3 * MAX_PARAM_CHARS))


@given(values=st.dictionaries(query_keys, query_values_, max_size=len(SPECS) + 3))
def test_explore_query_is_within_the_sliders_or_refused_in_one_short_line(values):
    try:
        seed, weights = query_values(SCENARIO, values)
    except ConfigError as exc:  # short: never longer than the list of sliders it may name, whatever the input
        assert "\n" not in str(exc) and len(str(exc)) < 300 + len(str(sorted(SPECS)))
        return
    assert 0 <= seed < 2**63 and isinstance(seed, int)
    assert set(weights) <= set(SPECS)
    for key, w in weights.items():
        assert math.isfinite(w) and SPECS[key]["min"] <= w <= SPECS[key]["max"]
        assert w == float(values[key])
