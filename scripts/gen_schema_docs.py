"""Write the scenario-file reference (docs/schema.md) from the pydantic models in alignsim.scenario.schema.

The page is never edited by hand: the MkDocs hook ``docs/hooks/schema_page.py`` calls ``render()``
on every build, so the reference always matches the code it documents. Run this script to look at
the page without building the site:

    python scripts/gen_schema_docs.py            # prints the page
    python scripts/gen_schema_docs.py --out F    # writes it to F

Each model reachable from ``Scenario`` gets a section: its docstring, then one row per field
(name, type, required or default, constraints). Types are spelled for a YAML author: ``number``,
``text``, ``one of a, b``, ``map of name -> X``, ``list of X``, and a link to a model's section.
"""

from __future__ import annotations

import argparse
import inspect
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from alignsim.scenario.schema import Scenario

SIMPLE = {str: "text", float: "number", int: "whole number", bool: "true / false", type(None): "null"}


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def spell(annotation: object, found: list[type[BaseModel]]) -> str:
    """A YAML author's name for a type annotation; models met on the way are appended to ``found``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found.append(annotation)
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    if annotation in SIMPLE:
        return SIMPLE[annotation]
    if origin is typing.Annotated:
        return spell(args[0], found)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        text = " or ".join(spell(a, found) for a in kept)
        return f"{text} (or null)" if len(kept) < len(args) else text
    if origin is dict:
        return f"map of name -> {spell(args[1], found)}"
    if origin is list:
        return f"list of {spell(args[0], found)}"
    if origin is tuple:
        return "[" + ", ".join(spell(a, found) for a in args) + "]"
    return f"`{annotation}`"


def _default(info) -> str:
    if info.is_required():
        return "**required**"
    value = info.default
    if value is PydanticUndefined or value is None:
        return "optional"
    if isinstance(value, BaseModel):
        return "see its section"
    if value in ({}, [], ()):
        return "empty"
    return f"`{value!r}`" if not isinstance(value, tuple) else f"`{list(value)}`"


def _constraints(info) -> str:
    parts = []
    for item in info.metadata:
        for key in ("ge", "gt", "le", "lt", "pattern"):
            value = getattr(item, key, None)
            if value is not None:
                parts.append(f"{key} `{value}`")
    return ", ".join(parts)


def _doc(model: type[BaseModel]) -> str:
    """The first paragraph of the model's own docstring (not one it inherits), on one line."""
    text = inspect.cleandoc(model.__dict__.get("__doc__") or "")
    return " ".join(text.split("\n\n")[0].split()).replace("|", "\\|")


def render() -> str:
    """The whole reference page, Markdown."""
    found: list[type[BaseModel]] = [Scenario]
    sections = []
    i = 0
    while i < len(found):
        model = found[i]
        hints = typing.get_type_hints(model, include_extras=True)
        rows = []
        for name, info in model.model_fields.items():
            kind = spell(hints[name], found).replace("|", "\\|")
            rows.append(f"| `{name}` | {kind} | {_default(info)} | {_constraints(info)} |")
        bases = [b.__name__ for b in model.__mro__[1:] if issubclass(b, BaseModel) and b not in (BaseModel,)
                 and b.model_fields]
        inherits = f" Has the fields of {', '.join(bases)}." if bases else ""
        sections.append("\n".join([f"## {model.__name__}", "", (_doc(model) + inherits).strip(), "",
                                   "| field | type | default | constraints |", "|---|---|---|---|", *rows, ""]))
        i += 1
    head = ["# Scenario file reference", "",
            "Generated from the pydantic models in `src/alignsim/scenario/schema.py` by "
            "`scripts/gen_schema_docs.py` on every docs build; do not edit. A scenario file is one "
            "[Scenario](#scenario) after its `include:` is merged. Every model refuses unknown fields. "
            "Cross-field rules (a prior's `dist` names which of `value`, `low`, `high`, `mode`, `mean`, "
            "`sd`, `alpha`, `beta` it needs; references must name existing actors, shocks and variables; "
            "dates must lie on the horizon) are checked by the loader and reported as one `ConfigError` "
            "line naming the field.", ""]
    return "\n".join(head + sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the page here instead of printing it")
    args = parser.parse_args(argv)
    page = render()
    if args.out:
        args.out.write_text(page, encoding="utf-8")
    else:
        print(page, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
