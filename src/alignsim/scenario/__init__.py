"""The scenario layer: typed schema, YAML loading with limits, ``--set``, evidence, the time axis.

Imports nothing of alignsim but ``alignsim.errors``. Everything above it takes a frozen
``Scenario`` from ``load_scenario``.
"""

from alignsim.scenario.loader import (
    BACKTEST_FIELDS,
    BACKTEST_STATE_SECTIONS,
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    LimitedLoader,
    apply_override,
    check_backtest_fields,
    check_depth,
    find_seeds,
    load_document,
    load_scenario,
    merge_include,
    parse_yaml,
    read_yaml,
    validate_document,
    validate_model,
)
from alignsim.scenario.schema import (
    DIST_FIELDS,
    FOCAL_OBSERVABLES,
    MAX_ABS,
    PHASES,
    PRIOR_SECTIONS,
    STATUSES,
    Actor,
    Bloc,
    Cited,
    Decision,
    DecisionPoint,
    Driver,
    Event,
    FieldProblem,
    Frozen,
    MemberAtStart,
    MonteCarlo,
    Observed,
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
    "BACKTEST_FIELDS", "BACKTEST_STATE_SECTIONS", "DIST_FIELDS", "FOCAL_OBSERVABLES", "MAX_ABS", "MAX_BYTES", "MAX_DEPTH", "MAX_NODES",
    "PHASES", "PRIOR_SECTIONS", "STATUSES", "Actor", "Bloc", "Cited", "Decision", "DecisionPoint", "Driver", "Event", "FieldProblem", "Frozen", "LimitedLoader",
    "MemberAtStart", "MonteCarlo", "Observed", "Outcome", "Prior", "Scenario", "Scripted", "Shock", "Variable",
    "apply_override", "check_backtest_fields", "check_depth", "check_references", "find_seeds", "iter_cited",
    "iter_priors", "load_document", "load_scenario", "merge_include", "parse_yaml", "read_yaml",
    "validate_document", "validate_model",
    "variable_refs", "walk",
]
