"""Import shims for the module paths of alignsim 0.1 (a flat package), e.g. ``alignsim.priors``.

``import alignsim.priors`` or ``from alignsim.priors import point_params`` still works: the old
name is bound to the module's new home (the same module object, so attributes and monkeypatches
are shared) and a ``DeprecationWarning`` names the new path. The table is the public list of moves
(CHANGELOG.md, 0.2.0); the shims go in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    "alignsim.timeaxis": "alignsim.scenario.timeaxis",
    "alignsim.evidence": "alignsim.scenario.evidence",
    "alignsim.streams": "alignsim.engine.streams",
    "alignsim.priors": "alignsim.engine.priors",
    "alignsim.mechanisms": "alignsim.engine.mechanisms",
    "alignsim.agents": "alignsim.engine.agents",
    "alignsim.model": "alignsim.engine.model",
    "alignsim.ensemble": "alignsim.engine.ensemble",
    "alignsim.parallel": "alignsim.engine.parallel",
    "alignsim.estimates": "alignsim.engine.estimates",
    "alignsim.precision": "alignsim.engine.precision",
    "alignsim.baseline": "alignsim.engine.mesa_baseline",
    "alignsim.runstore": "alignsim.runs.folder",
    "alignsim.resume": "alignsim.runs.plan",
    "alignsim.api": "alignsim.runs.api",
    "alignsim.report": "alignsim.runs.report",
    "alignsim.sweep": "alignsim.analyses.sweep",
    "alignsim.sensitivity": "alignsim.analyses.sensitivity",
    "alignsim.discovery": "alignsim.analyses.discovery",
    "alignsim.backtest": "alignsim.analyses.backtest",
    "alignsim.history": "alignsim.analyses.history",
    "alignsim.figures": "alignsim.outputs.figures",
    "alignsim.explain": "alignsim.outputs.explain",
    "alignsim.report_text": "alignsim.outputs.report_text",
    "alignsim.cli": "alignsim.apps.cli",
    "alignsim.explore": "alignsim.apps.explore",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} moved to {self.target}; the old path goes in alignsim 0.3",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """The target module is already executed."""


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds the old flat names and hands back the module at its new path."""

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(MOVED[fullname]))


def install() -> None:
    """Add the finder once (idempotent)."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
