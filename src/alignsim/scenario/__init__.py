"""The scenario layer: typed schema, YAML loading with limits, ``--set``, evidence, the time axis.

Imports nothing of alignsim but ``alignsim.errors``. Everything above it takes a frozen
``Scenario`` from ``load_scenario``.
"""

from alignsim.scenario.loader import (
    BACKTEST_FIELDS,
    BACKTEST_STATE_SECTIONS,
    MAX_DEPTH,
    apply_override,
    check_backtest_fields,
    check_depth,
    find_seeds,
    load_document,
    load_scenario,
    merge_include,
    read_yaml,
    validate_document,
)
from alignsim.scenario.schema import (
    DIST_FIELDS,
    FOCAL_OBSERVABLES,
    MAX_ABS,
    PHASES,
    PRIOR_SECTIONS,
    Actor,
    Bloc,
    Cited,
    Decision,
    Driver,
    Event,
    FieldProblem,
    Frozen,
    MemberAtStart,
    MonteCarlo,
    BaseRate,
    Observation,
    Observed,
    RateDefinition,
    Resolution,
    Outcome,
    Prior,
    Scenario,
    Scripted,
    Shock,
    Variable,
    check_references,
    iter_cited,
    iter_priors,
    variable_refs,
    walk,
)

__all__ = [
    "BACKTEST_FIELDS", "BACKTEST_STATE_SECTIONS", "DIST_FIELDS", "FOCAL_OBSERVABLES", "MAX_ABS", "MAX_DEPTH",
    "PHASES", "PRIOR_SECTIONS", "Actor", "Bloc", "Cited", "Decision", "Driver", "Event", "FieldProblem", "Frozen",
    "MemberAtStart", "MonteCarlo", "Observed", "Outcome", "BaseRate", "Observation", "RateDefinition", "Resolution", "Prior", "Scenario", "Scripted", "Shock", "Variable",
    "apply_override", "check_backtest_fields", "check_depth", "check_references", "find_seeds", "iter_cited",
    "iter_priors", "load_document", "load_scenario", "merge_include", "read_yaml", "validate_document",
    "variable_refs", "walk",
]
