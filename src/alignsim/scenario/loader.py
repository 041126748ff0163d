"""Reading scenario files: safe YAML, ``include:`` merging, ``--set`` overrides, validation.

``load_scenario(path, overrides)`` is the one way in: it reads the file and what it includes,
applies overrides, validates the merged mapping against ``schema.Scenario`` and checks every
quote and URL against ``seeds/`` (``evidence.check_scenario_evidence``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alignsim.errors import ConfigError
from alignsim.scenario.evidence import check_scenario_evidence
from alignsim.scenario.schema import FieldProblem, Scenario, check_references


def read_yaml(path: Path, field: str = "config") -> dict[str, Any]:
    """Read one YAML mapping safely (no object-constructing tags)."""
    if not path.is_file():
        raise ConfigError(field, str(path), "an existing YAML file")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise ConfigError(field, str(path), "a text YAML file, not binary data")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(field, str(path), "a UTF-8 text YAML file") from None
    try:
        doc = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(field, str(path), f"YAML nested at most {MAX_DEPTH} levels deep") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(field, str(path), f"valid YAML with plain data only{line}: {problem}") from None
    if not isinstance(doc, dict):
        raise ConfigError(field, type(doc).__name__, f"a YAML mapping of fields in {path}")
    for key in doc:
        if not isinstance(key, str):
            raise ConfigError(field, key, "field names as text")
    check_depth(doc)
    return doc


MAX_DEPTH = 40


def check_depth(doc: Any) -> None:
    """Refuse documents nested deeper than ``MAX_DEPTH`` (no schema field is), naming the path."""
    stack: list[tuple[str, Any, int]] = [("", doc, 0)]
    while stack:
        path, node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(path, "...", f"fields nested at most {MAX_DEPTH} levels deep")
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append((f"{path}.{key}" if path else str(key), value, depth + 1))


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
        value = yaml.safe_load(text)
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
                   "start", "end", "member_at_start", "scripted", "outcome", "resolution", "base_rate")
BACKTEST_STATE_SECTIONS = ("drivers", "states", "policies", "barrier")


def check_backtest_fields(own: dict[str, Any]) -> None:
    """A backtest may set only its dates, initial state, scripted events and outcome.

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


def load_document(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The scenario as a plain merged mapping (include resolved, overrides applied)."""
    path = Path(path)
    own = read_yaml(path)
    if own.get("outcome") is not None or "backtests" in path.resolve().parent.parts:
        check_backtest_fields(own)
    if own.get("include") is not None:
        inc = own["include"]
        if not isinstance(inc, str):
            raise ConfigError("include", inc, "the path of a shared priors file, as text")
        shared = read_yaml(path.parent / inc, "include")
        if "include" in shared:
            raise ConfigError("include", inc, "a priors file that includes nothing itself")
        doc = merge_include(shared, own)
    else:
        doc = own
    for item in overrides:
        doc = apply_override(doc, item)
    return doc


def validate_document(doc: dict[str, Any]) -> Scenario:
    """Validate a merged mapping against the schema, then check cross-references."""
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        problem = (err.get("ctx") or {}).get("error")
        if isinstance(problem, FieldProblem):
            where = ".".join(p for p in (loc, problem.field) if p)
            raise ConfigError(where, problem.value, problem.expected) from None
        if err["type"] == "extra_forbidden":
            msg = "no such field (check its spelling and place)"
        elif err["type"] == "missing":
            msg = "this required field"
            err["input"] = None
        raise ConfigError(loc, err.get("input"), msg) from None
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
