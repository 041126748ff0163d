"""Bad input: whatever is thrown at the loader ends in one ConfigError naming the field, the value
and what was expected (property-based, in-process); a handful of cases through the CLI end in one
line on stderr and exit code 2."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from alignsim import ConfigError, load_scenario
from alignsim.scenario import load_document

from conftest import CONFIG, ROOT, minimal_doc, driver, fixed, uniform

# examples per property from the profile (tests/conftest.py: dev 60, ci 1000 with print_blob)
SETTINGS = settings(deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def full_doc() -> dict:
    """A minimal scenario with one of each section, so mutations reach every kind of field."""
    doc = minimal_doc()
    doc["drivers"] = {"need": driver(weight=uniform(0.5, 1.5), shocks={"crisis": fixed(0.2)}),
                      "cost": driver(kind="partial_adjustment", direction="away",
                                     inputs={"policies.patron.coop": fixed(1.0)})}
    doc["actors"]["power"] = {"name": "Power", "role": "power"}
    doc["policies"] = {"patron": {"coop": {"kind": "partial_adjustment", "label": "c", "scale": "s",
                                           "mechanism": "m", "initial": fixed(0.3),
                                           "params": {"base": fixed(0.3), "speed": fixed(0.1)},
                                           "inputs": {"tilt": uniform(0.0, 0.2)}}}}
    doc["shocks"] = {"crisis": {"label": "c", "direction": "toward", "rate": uniform(0.01, 0.05),
                                "basis": "setting"},
                     "vote": {"label": "v", "direction": "mixed", "schedule": ["2021-Q1"],
                              "probability": fixed(0.5), "basis": "setting"}}
    doc["scripted"] = [{"date": "2020-Q3", "shock": "crisis", "basis": "setting"}]
    doc["observed"] = {"through": "2021-Q4", "occurred": False, "window_end": "2024-Q4", "basis": "setting"}
    return doc


def paths(node, prefix=()) -> list[tuple]:
    """Every path (tuple of keys / list indices) into a nested document, inner nodes included."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


DOC = full_doc()
PATHS = paths(DOC)

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**63, -1, 0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324]),
    st.text(max_size=30),
    st.sampled_from(["2020-Q5", "1999-Q1", "9999-Q4", "", "\x00", "nowhere", "uniform", "toward"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)), max_leaves=6)


def set_path(doc: dict, path: tuple, value) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def del_path(doc: dict, path: tuple) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


def assert_clear(exc: ConfigError) -> None:
    """One line naming the field, the value given and what was expected."""
    text = str(exc)
    assert "\n" not in text, text
    assert exc.expected and isinstance(exc.expected, str), text
    assert isinstance(exc.field, str), text
    assert text.startswith(f"{exc.field or '<document>'}: got "), text


def load_or_config_error(path: Path) -> None:
    try:
        load_scenario(path)
    except ConfigError as exc:
        assert_clear(exc)


# ---------------------------------------------------------------- property tests, in-process

@pytest.mark.slow
@SETTINGS
@given(path=st.sampled_from(PATHS), value=values)
def test_any_value_anywhere_is_accepted_or_named(write_doc, path, value):
    doc = copy.deepcopy(DOC)
    set_path(doc, path, value)
    load_or_config_error(write_doc(doc))


@pytest.mark.slow
@SETTINGS
@given(path=st.sampled_from(PATHS))
def test_missing_fields_are_named(write_doc, path):
    doc = copy.deepcopy(DOC)
    del_path(doc, path)
    load_or_config_error(write_doc(doc))


@pytest.mark.slow
@SETTINGS
@given(path=st.sampled_from([p for p in PATHS if isinstance(p[-1], str)] + [()]),
       key=st.text(min_size=1, max_size=12), value=values)
def test_extra_fields_are_named(write_doc, path, key, value):
    doc = copy.deepcopy(DOC)
    node = doc
    for k in path:
        node = node[k]
    assume(isinstance(node, dict) and key not in node)
    node[key] = value
    try:
        load_scenario(write_doc(doc))
    except ConfigError as exc:
        assert_clear(exc)
    else:
        assert "quote" == key or "note" == key or "source" == key or "color" == key or path == ("bloc",) \
            or path[:1] in (("drivers",), ("states",), ("policies",), ("shocks",), ("actors",)), \
            f"extra field {key!r} at {path} was accepted"


@SETTINGS
@given(text=st.text(max_size=300))
def test_random_text_files(tmp_path, text):
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8")
    load_or_config_error(path)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_random_bytes_files(tmp_path, data):
    path = tmp_path / "random.yaml"
    path.write_bytes(data)
    load_or_config_error(path)


@pytest.mark.slow
@SETTINGS
@given(item=st.tuples(st.sampled_from([".".join(map(str, p)) for p in PATHS] + ["", ".", "a..b", "x"]),
                      st.sampled_from(["=", ""]),
                      st.one_of(st.text(max_size=20),
                                st.sampled_from([".nan", ".inf", "-.inf", "1e400", "-5", "[1, 2]", "{a: 1}",
                                                 "!!python/object/apply:os.getcwd []", "2099-Q1", "null"]))))
def test_set_overrides_go_through_the_same_validation(item):
    text = "".join(item)
    base = CONFIG / "base.yaml"
    try:
        load_scenario(base, [text], check_evidence=False)
    except ConfigError as exc:
        assert_clear(exc)


# ---------------------------------------------------------------- the named cases

def _expect(doc_or_path, field: str, match: str, write_doc=None, overrides=()):
    path = write_doc(doc_or_path) if isinstance(doc_or_path, dict) else doc_or_path
    with pytest.raises(ConfigError, match=match) as info:
        load_scenario(path, overrides)
    assert info.value.field.startswith(field), str(info.value)
    assert_clear(info.value)
    return info.value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1e12, -1e12, 10**400])
def test_nan_infinite_and_huge_numbers(write_doc, value):
    doc = copy.deepcopy(DOC)
    doc["drivers"]["need"]["weight"] = uniform(0.5, value) if value > 0 else uniform(value, 0.5)
    with pytest.raises(ConfigError) as info:
        load_scenario(write_doc(doc))
    assert info.value.field.startswith("drivers.need.weight")
    assert_clear(info.value)


@pytest.mark.parametrize("path, value, field", [
    (("monte_carlo", "replicates"), -5, "monte_carlo.replicates"),
    (("monte_carlo", "replicates"), 10**12, "monte_carlo.replicates"),
    (("monte_carlo", "seed"), -1, "monte_carlo.seed"),
    (("monte_carlo", "batch_size"), 0, "monte_carlo.batch_size"),
    (("drivers", "need", "weight"), uniform(-1.0, 1.0), "drivers.need.weight"),
    (("drivers", "need", "bounds"), [0, 1e300], "drivers.need.bounds"),
    (("shocks", "crisis", "rate"), uniform(0.5, 1.5), "shocks.crisis.rate"),
])
def test_out_of_range_numbers(write_doc, path, value, field):
    doc = copy.deepcopy(DOC)
    set_path(doc, path, value)
    with pytest.raises(ConfigError) as info:
        load_scenario(write_doc(doc))
    assert info.value.field.startswith(field), str(info.value)
    assert_clear(info.value)


def test_prior_low_above_high(write_doc):
    doc = copy.deepcopy(DOC)
    doc["drivers"]["need"]["weight"] = uniform(2.0, 1.0)
    err = _expect(doc, "drivers.need.weight", "low < high", write_doc)
    assert err.value["low"] == 2.0


@pytest.mark.parametrize("where, field", [
    (lambda d: d["scripted"][0].update(date="2031-Q1"), "scripted.0.date"),
    (lambda d: d["observed"].update(through="2019-Q4"), "observed.through"),
    (lambda d: d.update(event={"kind": "member_at", "date": "2040-Q2"}), "event.date"),
    (lambda d: d["shocks"]["vote"].update(schedule=["2021-Q7"]), "shocks.vote.schedule"),
])
def test_date_outside_the_horizon_or_malformed(write_doc, where, field):
    doc = copy.deepcopy(DOC)
    where(doc)
    _expect(doc, field, "quarter", write_doc)


@pytest.mark.parametrize("where, field", [
    (lambda d: d["policies"].update(nobody=d["policies"].pop("patron")), "policies.nobody"),
    (lambda d: d["drivers"]["cost"].update(inputs={"policies.nobody.coop": fixed(1.0)}),
     "drivers.cost.inputs.policies.nobody.coop"),
    (lambda d: d["scripted"][0].update(shock="unknown"), "scripted.0.shock"),
])
def test_unknown_actor_or_reference(write_doc, where, field):
    doc = copy.deepcopy(DOC)
    where(doc)
    _expect(doc, field, "an actor listed|a variable reference|a shock defined", write_doc)


def test_yaml_tags_that_construct_objects(tmp_path):
    for text in ["!!python/object/apply:os.system ['echo owned']", "name: !!python/name:os.system ''",
                 "a: !!binary aGVsbG8=\n", "!!set {a, b}", "start: 2017-07-06\n"]:
        path = tmp_path / "tagged.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_scenario(path)
        assert_clear(info.value)


@pytest.mark.slow
def test_deeply_nested_yaml(tmp_path):
    for text in ["a: " + "[" * 5000 + "]" * 5000, "a: " + "{b: " * 60 + "1" + "}" * 60]:
        path = tmp_path / "deep.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match="nested at most") as info:
            load_scenario(path)
        assert_clear(info.value)


def test_bad_seeds_folder(write_doc, tmp_path):
    doc = minimal_doc()
    doc["seeds"] = "a\x00b"
    _expect(doc, "seeds", "folder", write_doc)
    (tmp_path / "seeds" / "latin1.txt").write_bytes(b"caf\xe9")
    _expect(minimal_doc(), "seeds", "UTF-8", write_doc)


def test_empty_and_binary_files(tmp_path):
    for data, match in [(b"", "mapping"), (b"   \n# only a comment\n", "mapping"),
                        (b"\x00\x01\x02PNG", "binary"), (b"\xff\xfe\xfa", "UTF-8"), (b"- 1\n- 2\n", "mapping")]:
        path = tmp_path / "odd.yaml"
        path.write_bytes(data)
        with pytest.raises(ConfigError, match=match) as info:
            load_scenario(path)
        assert_clear(info.value)
    with pytest.raises(ConfigError, match="existing YAML file"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="existing YAML file"):
        load_scenario(tmp_path)


def test_scenario_that_overrides_a_shared_prior(tmp_path):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "s.txt").write_text("text", encoding="utf-8")
    shared = {"decision": minimal_doc()["decision"]}
    own = minimal_doc()
    own["include"] = "shared.yaml"
    (tmp_path / "shared.yaml").write_text(yaml.safe_dump(shared), encoding="utf-8")
    own_path = tmp_path / "case.yaml"
    own_path.write_text(yaml.safe_dump(own), encoding="utf-8")
    with pytest.raises(ConfigError, match="shared prior") as info:
        load_scenario(own_path)
    assert info.value.field == "decision.join_intercept"


def _backtest_case(tmp_path) -> tuple[Path, dict]:
    """A folder with config/priors*.yaml copied and config/backtests/; the path of a case file
    there and a minimal backtest case (base's dates and actors, an outcome) to write to it."""
    backtests = tmp_path / "config" / "backtests"
    backtests.mkdir(parents=True)
    for name in ("priors.yaml", "priors-alliance.yaml"):
        (tmp_path / "config" / name).write_text((CONFIG / name).read_text(), encoding="utf-8")
    base = yaml.safe_load((CONFIG / "base.yaml").read_text())
    case = {k: base[k] for k in ("name", "question", "event", "start", "end", "actors", "bloc", "member_at_start")}
    case.update(include="../priors.yaml", outcome={"occurred": False, "basis": "setting"})
    return backtests / "case.yaml", case


def test_backtest_that_overrides_a_shared_prior(tmp_path):
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "s.txt").write_text("text", encoding="utf-8")
    path, case = _backtest_case(tmp_path)
    case.update(drivers={"regional_instability": {"weight": fixed(9.0)}})
    path.write_text(yaml.safe_dump(case), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert info.value.field.startswith("drivers.regional_instability")
    assert_clear(info.value)


def test_backtest_may_choose_the_power_model_but_not_the_powers_priors(tmp_path):
    path, case = _backtest_case(tmp_path)
    for model in ("rule", "strategic"):
        path.write_text(yaml.safe_dump({**case, "powers": {"model": model}}), encoding="utf-8")
        assert load_document(path)["powers"]["model"] == model
    path.write_text(yaml.safe_dump({**case, "powers": {"model": "strategic", "precision": fixed(3.0)}}),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="only powers.model") as info:
        load_document(path)
    assert info.value.field == "powers.precision"
    assert_clear(info.value)


def test_set_is_validated_like_the_file():
    base = CONFIG / "base.yaml"
    for item, field in [("drivers.us_investment.weight=-1", "drivers.us_investment.weight"),
                        ("drivers.us_investment.weight=.nan", "drivers.us_investment.weight.value"),
                        ("monte_carlo.replicates=abc", "monte_carlo.replicates"),
                        ("drivers.nope.weight=1", "drivers.nope"),
                        ("end=2010-Q1", "end"),
                        ("start=2017Q3", "start")]:
        with pytest.raises(ConfigError) as info:
            load_scenario(base, [item], check_evidence=False)
        assert info.value.field == field, (item, str(info.value))
        assert_clear(info.value)


def test_config_error_message_stays_one_line():
    err = ConfigError("a.b", "x\ny" * 50, "one\nthing")
    assert "\n" not in str(err)


# ---------------------------------------------------------------- through the command line

CLI_CASES = [
    ("name: [unclosed\n", "valid YAML"),
    ("!!python/object/apply:os.system ['echo owned']\n", "plain data"),
]


@pytest.mark.slow
@pytest.mark.parametrize("text, match", CLI_CASES)
def test_cli_bad_file_is_one_line_exit_2(tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    cp = subprocess.run([sys.executable, "-m", "alignsim", "run", str(path), "--out", str(tmp_path / "o")],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 2
    assert cp.stderr.count("\n") == 1 and match in cp.stderr and "Traceback" not in cp.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, match", [
    (["--set", "drivers.us_investment.weight=.inf"], "drivers.us_investment.weight"),
    (["--set", "drivers.nope.weight=1"], "drivers.nope"),
])
def test_cli_bad_set_or_flag_is_one_line_exit_2(tmp_path, args, match):
    cp = subprocess.run([sys.executable, "-m", "alignsim", "run", str(CONFIG / "base.yaml"), *args,
                         "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 2
    assert cp.stderr.count("\n") == 1 and match in cp.stderr and "Traceback" not in cp.stderr
