"""Reading scenario files: safe YAML with limits, ``include:`` merging, ``--set`` overrides, validation.

``load_scenario(path, overrides)`` is the one way in: it reads the file and what it includes,
applies overrides, validates the merged mapping against ``schema.Scenario`` and checks every
quote and URL against ``seeds/`` (``evidence.check_scenario_evidence``).

Limits on every YAML file read (scenario, include, sweep, settings), each refused with one line:

- size: at most ``MAX_BYTES`` (16 MiB) on disk, checked before a byte is parsed (the largest
  legitimate files are a few hundred kB; a 2 MB scenario or sweep loads);
- expansion: at most ``MAX_NODES`` (2,000,000) nodes once every alias is expanded, counted by
  ``LimitedLoader`` on the composed node graph (each distinct node once, with memoised subtree
  sizes, so an alias bomb is refused in time linear in the file, before any object is built);
- nesting: at most ``MAX_DEPTH`` (40) levels, counted on the same graph; recursive aliases refused;
- duplicate keys in one mapping refused, naming the key and both line numbers.

Messages name the file, the line and the problem; they never quote the file's text (an included
file may be anything, e.g. a credentials file given by mistake).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from alignsim.errors import ConfigError
from alignsim.scenario.evidence import check_scenario_evidence
from alignsim.scenario.schema import FieldProblem, Scenario, check_references

MAX_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_DEPTH = 40


class YamlLimit(yaml.YAMLError):
    """A YAML document over one of the loader's limits (carries the line of the offending node)."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class LimitedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and documents over the node/depth limits.

    ``get_single_node`` composes the document (aliases become shared references to one node)
    and then counts its expanded size: ``size(node) = 1 + sum(size(child))`` computed once per
    distinct node, so ``lolN: &aN [*aN-1, ...]`` costs O(file) to count however large it expands.
    """

    max_nodes = MAX_NODES
    max_depth = MAX_DEPTH

    def get_single_node(self):  # noqa: D102 - yaml API
        node = super().get_single_node()
        if node is not None:
            self._check_expansion(node)
        return node

    def _check_expansion(self, root: yaml.Node) -> None:
        size: dict[int, int] = {}
        depth: dict[int, int] = {}
        on_path: set[int] = set()
        stack: list[tuple[yaml.Node, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            key = id(node)
            kids = _children(node)
            if done:
                on_path.discard(key)
                size[key] = 1 + sum(size[id(c)] for c in kids)
                depth[key] = 1 + max((depth[id(c)] for c in kids), default=0)
                if size[key] > self.max_nodes:
                    raise YamlLimit(f"at most {self.max_nodes:,} values once aliases are expanded", node.start_mark)
                if depth[key] > self.max_depth + 1:
                    raise YamlLimit(f"values nested at most {self.max_depth} levels deep", node.start_mark)
                continue
            if key in size:
                continue
            if key in on_path:
                raise YamlLimit("no recursive alias (an anchor used inside itself)", node.start_mark)
            on_path.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in kids if id(c) not in size)

    def construct_mapping(self, node, deep=False):  # noqa: D102 - yaml API
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeConstructor refuses it with its own message
                    continue
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise YamlLimit(f"each key once in a mapping, but key {_short(key)} is on line {first} "
                                    f"and again on line {line}", key_node.start_mark)
                seen[key] = line
        return super().construct_mapping(node, deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_yaml(text: str) -> Any:
    """Parse YAML text with ``LimitedLoader`` (plain data only; limits as in the module doc)."""
    loader = LimitedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


_PARSED: "OrderedDict[str, Any]" = OrderedDict()  # sha256 of the text -> parsed data (LRU)
PARSED_CACHE_SIZE = 128


def parse_yaml_cached(text: str) -> Any:
    """``parse_yaml`` remembered by the text's SHA-256 (the last ``PARSED_CACHE_SIZE`` texts); a
    deep copy is returned, so callers may change it. The shared priors files are read for every
    scenario and panel case that includes them (80 cases load ``priors-panel.yaml`` and
    ``priors-alliance.yaml``); keyed by content, an edited file is parsed again. Errors are not
    remembered: a bad text raises every time."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if key in _PARSED:
        _PARSED.move_to_end(key)
    else:
        _PARSED[key] = parse_yaml(text)
        if len(_PARSED) > PARSED_CACHE_SIZE:
            _PARSED.popitem(last=False)
    return copy.deepcopy(_PARSED[key])


def read_yaml(path: Path, field: str = "config") -> dict[str, Any]:
    """Read one YAML mapping safely (no object-constructing tags), within the loader's limits."""
    if not path.is_file():
        raise ConfigError(field, str(path), "an existing YAML file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(field, str(path), f"a YAML file of at most {MAX_BYTES // 2**20} MiB "
                          f"(this one has {size / 2**20:.1f} MiB)")
    raw = path.read_bytes()[: MAX_BYTES + 1]
    if len(raw) > MAX_BYTES:  # grew after the size check
        raise ConfigError(field, str(path), f"a YAML file of at most {MAX_BYTES // 2**20} MiB")
    if b"\x00" in raw:
        raise ConfigError(field, str(path), "a text YAML file, not binary data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(field, str(path), "a UTF-8 text YAML file") from None
    try:
        doc = parse_yaml_cached(text)
    except RecursionError:
        raise ConfigError(field, str(path), f"YAML nested at most {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as exc:
        raise ConfigError(field, str(path), f"valid YAML with plain data only{_where(exc)}: {_problem(exc)}") from None
    if not isinstance(doc, dict):
        raise ConfigError(field, type(doc).__name__, f"a YAML mapping of fields in {path}")
    for key in doc:
        if not isinstance(key, str):
            raise ConfigError(field, type(key).__name__, f"field names as text in {path}")
    return doc


def _where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def _problem(exc: yaml.YAMLError) -> str:
    """The parser's problem without any of the file's text (PyYAML quotes tokens in some messages)."""
    if isinstance(exc, YamlLimit):
        return exc.problem
    problem = str(getattr(exc, "problem", None) or "not valid YAML")
    # PyYAML quotes tokens ('<scalar>', ',') but also text of the file (an alias's or tag's name,
    # an escape character): keep the first kind, blank the second.
    return re.sub(r"'([^']*)'|\"([^\"]*)\"", _blank_quoted, problem)


def _blank_quoted(match: re.Match) -> str:
    inner = match.group(1) if match.group(1) is not None else match.group(2)
    token = inner.startswith("<") and inner.endswith(">") or (len(inner) == 1 and not inner.isalnum())
    return match.group(0) if token else "'...'"


def check_depth(doc: Any) -> None:
    """Refuse documents nested deeper than ``MAX_DEPTH`` (no schema field is), naming the path.

    Files are already limited by ``LimitedLoader``; this check is for mappings built in code.
    Each distinct container is visited once (shared references are not walked again).
    """
    stack: list[tuple[str, Any, int]] = [("", doc, 0)]
    seen: set[int] = set()
    while stack:
        path, node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(path, "...", f"fields nested at most {MAX_DEPTH} levels deep")
        if id(node) in seen:
            continue
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append((f"{path}.{key}" if path else str(key), value, depth + 1))


Model = TypeVar("Model", bound=BaseModel)


def validate_model(cls: type[Model], doc: Any) -> Model:
    """Validate a plain mapping against a pydantic model, turning the first error into one ``ConfigError``.

    The one translation of pydantic's errors for every schema (scenario, sweep, settings,
    reference class): the field's dotted path, the value given and what was expected. A value
    given for a field that does not exist is not quoted (it may come from any file).
    """
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problem = (err.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):
            where = ".".join(p for p in (loc, problem.field) if p)
            raise ConfigError(where, problem.value, problem.expected) from None
        value = err.get("input")
        if err["type"] == "extra_forbidden":
            msg = "no such field (check its spelling and place)"
            value = "..."
        elif err["type"] == "missing":
            msg = "this required field"
            value = None
        raise ConfigError(loc, value, msg) from None


def merge_include(shared: dict[str, Any], own: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Merge a scenario over its shared priors; a scenario may add fields but never change one."""
    out = dict(shared)
    for key, value in own.items():
        path = f"{prefix}{key}"
        if key not in shared:
            out[key] = value
        elif isinstance(shared[key], dict) and isinstance(value, dict) and "dist" not in shared[key]:
            out[key] = merge_include(shared[key], value, path + ".")
        else:
            raise ConfigError(path, value, "no value here: it is a shared prior set in the included "
                              "file, and a scenario may add fields but not override them")
    return out


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError("--set", item, "path=value, e.g. drivers.us_investment.initial=0.2")
    path, text = item.split("=", 1)
    keys = path.strip().split(".")
    if not all(keys):
        raise ConfigError("--set", item, "a dotted path of field names before '='")
    try:
        value = parse_yaml(text)
    except yaml.YAMLError:
        raise ConfigError(path, text, "a plain YAML value (number, text, true/false)") from None
    return keys, value


def apply_override(doc: dict[str, Any], item: str) -> dict[str, Any]:
    """Apply one ``path=value`` override. A number at a prior's path makes it a fixed prior."""
    keys, value = _parse_override(item)
    node: Any = doc
    for i, key in enumerate(keys[:-1]):
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict) and key in node:
            node = node[key]
        else:
            raise ConfigError(".".join(keys[: i + 1]), key, "an existing field to override")
    last = keys[-1]
    if not isinstance(node, dict):
        raise ConfigError(".".join(keys), value, "a path to a field of a mapping")
    current = node.get(last)
    if isinstance(current, dict) and "dist" in current and not isinstance(value, dict):
        value = {"dist": "fixed", "value": value, "basis": "setting",
                 "note": f"set by override {item}"}
    node[last] = value
    return doc


def find_seeds(config_path: Path, doc: dict[str, Any]) -> Path:
    """The seeds folder: ``seeds:`` relative to the file, else the nearest ``seeds/`` above it."""
    if doc.get("seeds"):
        if not isinstance(doc["seeds"], str) or "\x00" in doc["seeds"]:
            raise ConfigError("seeds", doc["seeds"], "the path of the folder of source texts, as text")
        return (config_path.parent / doc["seeds"]).resolve()
    for parent in config_path.resolve().parents:
        if (parent / "seeds").is_dir():
            return parent / "seeds"
    raise ConfigError("seeds", None, f"a seeds/ folder above {config_path} holding the cited sources")


BACKTEST_FIELDS = ("name", "question", "event", "actors", "bloc", "monte_carlo", "include", "seeds",
                   "start", "end", "member_at_start", "scripted", "outcome", "decision_group", "left_out",
                   "decision_points", "resolution", "base_rate")
BACKTEST_STATE_SECTIONS = ("drivers", "states", "policies", "barrier")


def check_backtest_fields(own: dict[str, Any]) -> None:
    """A backtest may set only its dates, initial state, scripted events, outcome and which power
    model runs (``powers: {model: ...}``, a choice of model, not a prior).

    Everything else (weights, speeds, shock rates, intercepts) must come from the included
    shared priors, so that every case is scored with one set of priors.
    """
    if not own.get("include"):
        raise ConfigError("include", own.get("include"), "a backtest includes the shared priors file")
    if own.get("outcome") is None:
        raise ConfigError("outcome", None, "a backtest states its observed outcome (occurred, date)")
    for key, value in own.items():
        if key in BACKTEST_FIELDS:
            continue
        if key == "powers":
            extra = sorted(set(value) - {"model"}) if isinstance(value, dict) else [str(value)]
            if extra:
                raise ConfigError(f"powers.{extra[0]}" if isinstance(value, dict) else "powers", value,
                                  "only powers.model in a backtest (the powers' priors come from the shared file)")
            continue
        if key not in BACKTEST_STATE_SECTIONS:
            raise ConfigError(key, value, "no such field in a backtest: it may set only "
                              f"{', '.join(BACKTEST_FIELDS)} and initial values of variables")
        if key == "barrier":
            leaves = {"barrier": value}
        elif key == "policies" and isinstance(value, dict):
            leaves = {f"policies.{a}.{k}": v for a, vs in value.items()
                      for k, v in (vs.items() if isinstance(vs, dict) else [(None, vs)])}
        else:
            leaves = {f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value}
        for where, node in leaves.items():
            extra = sorted(set(node) - {"initial"}) if isinstance(node, dict) else [str(node)]
            if extra:
                raise ConfigError(f"{where}.{extra[0]}", node.get(extra[0]) if isinstance(node, dict) else node,
                                  "only 'initial' under a variable in a backtest (the rest is the shared priors')")


MAX_INCLUDE_DEPTH = 4


def read_shared(folder: Path, inc: Any, chain: tuple[str, ...] = ()) -> dict[str, Any]:
    """A shared priors file with what it includes merged under it (a layered ontology).

    A priors file may include one more general priors file (e.g. a region's priors over the
    alliance ontology, ``config/priors.yaml`` over ``config/priors-alliance.yaml``); each layer
    may add fields to the one it includes but not change them (``merge_include``). At most
    ``MAX_INCLUDE_DEPTH`` layers; a file may not include itself, directly or through others.
    """
    if not isinstance(inc, str):
        raise ConfigError("include", inc, "the path of a shared priors file, as text")
    target = (folder / inc).resolve()
    if str(target) in chain:
        raise ConfigError("include", inc, "a chain of priors files without a cycle (this file is already included)")
    if len(chain) >= MAX_INCLUDE_DEPTH:
        raise ConfigError("include", inc, f"at most {MAX_INCLUDE_DEPTH} layers of included priors files")
    shared = read_yaml(folder / inc, "include")
    below = shared.pop("include", None)
    if below is None:
        return shared
    return merge_include(read_shared(target.parent, below, (*chain, str(target))), shared)


def load_document(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The scenario as a plain merged mapping (include resolved, overrides applied)."""
    path = Path(path)
    own = read_yaml(path)
    if own.get("outcome") is not None or "backtests" in path.resolve().parent.parts:
        check_backtest_fields(own)
    doc = merge_include(read_shared(path.parent, own["include"]), own) if own.get("include") is not None else own
    for item in overrides:
        doc = apply_override(doc, item)
    return drop_left_out(doc)


def drop_left_out(doc: dict[str, Any]) -> dict[str, Any]:
    """Remove the drivers named under ``left_out`` (a driver that does not apply to this scenario).

    Each name must be a driver of the merged document, and the scenario may not also give it an
    initial value; the reason stays in ``left_out`` (a cited item). Contribution of a left-out
    driver: none (the same as weight 0), so its shared weight prior is simply not used.
    """
    left = doc.get("left_out")
    if not left:
        return doc
    if not isinstance(left, dict):
        raise ConfigError("left_out", left, "a mapping of driver name -> {basis, note} saying why it does not apply")
    drivers = doc.get("drivers")
    if not isinstance(drivers, dict):
        raise ConfigError("left_out", sorted(left), "drivers to leave out, but the scenario has no drivers")
    kept = dict(drivers)
    for name in left:
        if name not in kept:
            raise ConfigError(f"left_out.{name}", name, f"a driver of the shared priors: {sorted(drivers)}")
        if isinstance(kept[name], dict) and "initial" in kept[name]:
            raise ConfigError(f"drivers.{name}.initial", kept[name]["initial"],
                              "no initial value for a driver listed under left_out")
        del kept[name]
    return {**doc, "drivers": kept}


def validate_document(doc: dict[str, Any]) -> Scenario:
    """Validate a merged mapping against the schema, then check cross-references."""
    scenario = validate_model(Scenario, doc)
    check_references(scenario)
    return scenario


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                  check_evidence: bool = True) -> Scenario:
    """Load, merge, override and validate a scenario file; check its quotes against seeds/."""
    path = Path(path)
    doc = load_document(path, overrides)
    scenario = validate_document(doc)
    if check_evidence:
        check_scenario_evidence(scenario, find_seeds(path, doc))
    return scenario
