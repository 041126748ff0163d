"""The YAML loader's limits: size, alias expansion, nesting, duplicate keys, no quoting of another file."""

from __future__ import annotations

import copy

import pytest
import yaml

from alignsim.errors import ConfigError
from alignsim.scenario import loader
from alignsim.scenario.loader import MAX_BYTES, load_scenario, parse_yaml, read_yaml

from conftest import minimal_doc


def _bomb(levels: int, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.timeout(60)  # the hang guard: before the limit, 10 levels took minutes
def test_an_alias_bomb_trips_the_node_limit(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb(10), encoding="utf-8")
    assert path.stat().st_size < 600
    with pytest.raises(ConfigError, match=r"at most 2,000,000 values once aliases are expanded"):
        read_yaml(path)


def test_shared_aliases_below_the_limit_still_load():
    doc = parse_yaml(_bomb(4))  # 9^5 = 59,049 leaves once expanded: fine
    assert len(doc["a4"]) == 9 and doc["a4"][0] is doc["a3"]


def test_a_recursive_alias_is_refused():
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        parse_yaml("a: &a [1, *a]\n")


def test_a_50_mb_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.yaml"
    with path.open("w", encoding="utf-8") as f:
        f.write("items:\n")
        line = "  - 1234567\n"
        f.write(line * (50 * 2**20 // len(line) + 1))
    monkeypatch.setattr(loader, "parse_yaml", lambda text: pytest.fail("parsed a file over the size cap"))
    with pytest.raises(ConfigError, match=r"at most 16 MiB \(this one has 50\.0 MiB\)"):
        read_yaml(path)


@pytest.mark.slow
def test_a_legitimate_2_mb_scenario_loads(write_doc, tmp_path):
    doc = minimal_doc()
    doc["question"] = "A long question. " * 20_000   # ~340 kB of text
    path = write_doc(doc)
    with path.open("a", encoding="utf-8") as f:  # comments and a long note bring it past 2 MB
        f.write(("# a comment line of a long, carefully documented scenario file\n") * 30_000)
    assert path.stat().st_size > 2 * 2**20
    assert load_scenario(path).question.startswith("A long question.")


@pytest.mark.slow
def test_a_2_mb_list_of_numbers_loads(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("values: [" + ", ".join(str(i) for i in range(300_000)) + "]\n", encoding="utf-8")
    assert path.stat().st_size > 2 * 2**20
    assert read_yaml(path)["values"][-1] == 299_999


def test_nesting_deeper_than_the_limit_is_refused(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 60 + "]" * 60 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested at most 40 levels"):
        read_yaml(path)


def test_duplicate_keys_are_refused_naming_the_key_and_both_lines(write_doc):
    path = write_doc(minimal_doc())
    text = path.read_text(encoding="utf-8")
    assert text.count("\nend: 2024-Q4\n") == 1
    path.write_text(text + "end: 2030-Q4\n", encoding="utf-8")
    first = text.splitlines().index("end: 2024-Q4") + 1
    last = len(text.splitlines()) + 1
    with pytest.raises(ConfigError, match=rf"key 'end' is on line {first} and again on line {last}"):
        load_scenario(path)


def test_duplicate_keys_deep_inside_are_refused_too():
    with pytest.raises(yaml.YAMLError, match=r"key 'low' is on line 2 and again on line 3"):
        parse_yaml("w:\n  low: 1\n  low: 2\n")


def test_merge_keys_are_not_duplicates():
    assert parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")["other"] == {"x": 1, "y": 2}


SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize("included", [
    f"[default]\naws_secret_access_key = {SECRET}\n",
    f"aws_secret_access_key: {SECRET}\n",
    f"{SECRET}\n",
    f"password: \"{SECRET}\\q\"\n",
    f"key: *{SECRET}\n",
    f"key: !!python/object:{SECRET} x\n",
    f"key: [{SECRET}\n",
], ids=["ini", "mapping", "scalar", "escape", "alias", "tag", "unclosed"])
def test_an_included_non_scenario_file_is_never_quoted(write_doc, tmp_path, included):
    (tmp_path / "credentials").write_text(included, encoding="utf-8")
    doc = copy.deepcopy(minimal_doc())
    doc["include"] = "credentials"
    with pytest.raises(ConfigError) as info:
        load_scenario(write_doc(doc))
    assert SECRET[:12] not in str(info.value)
    assert "\n" not in str(info.value)


def test_the_size_cap_is_stated():
    assert MAX_BYTES == 16 * 2**20


def test_parsed_texts_are_remembered_by_content_and_handed_out_as_copies(tmp_path):
    """The loader's parse cache: an edited file is parsed again (keyed by content, not by path),
    and a caller changing what it got does not change what the next caller gets."""
    from alignsim.scenario.loader import read_yaml

    path = tmp_path / "a.yaml"
    path.write_text("x: {y: 1}\n", encoding="utf-8")
    first = read_yaml(path)
    first["x"]["y"] = 99
    assert read_yaml(path) == {"x": {"y": 1}}
    path.write_text("x: {y: 2}\n", encoding="utf-8")
    assert read_yaml(path) == {"x": {"y": 2}}
    path.write_text("x: 1\nx: 2\n", encoding="utf-8")  # a bad text raises every time, never cached
    for _ in range(2):
        with pytest.raises(ConfigError, match="each key once"):
            read_yaml(path)
