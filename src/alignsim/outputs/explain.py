"""What a scenario assumes, before running it: each driver's mechanism, prior, basis and evidence.

``driver_table`` and ``assumption_table`` are tidy tables (one row per driver / per shock,
scripted event or fact) used by ``python -m alignsim explain`` and by the report's evidence
section; ``explain_text`` renders them for the terminal.
"""

from __future__ import annotations

import textwrap

import pandas as pd

from alignsim.scenario.evidence import describe_prior
from alignsim.outputs.figures import driver_actors
from alignsim.scenario import Cited, Prior, Scenario


def evidence_text(item: Cited) -> str:
    """The citation of one number as one line: the quote in double quotes, the source URL, the note."""
    parts = []
    if item.quote:
        parts.append(f'"{item.quote}"')
    if item.source:
        parts.append(f"source: {item.source}")
    if item.note:
        parts.append(f"note: {' '.join(item.note.split())}")
    return "; ".join(parts) or "(no citation)"


def driver_table(scenario: Scenario) -> pd.DataFrame:
    """One row per driver, in config order.

    Columns: driver, label, actor (name of the actor it is attributed to), direction
    (toward/away membership), family (the ontology family it belongs to: itself, or the family
    driver it is an instance of), kind, mechanism, scale, weight (prior, logit units per unit of
    the driver; for an instance its share times the family's weight), weight_basis, weight_evidence, initial (prior of the starting value),
    initial_basis, initial_evidence, params (the kind's other priors, ``name=prior [basis]``).
    """
    owner = driver_actors(scenario)
    rows = []
    for name, d in scenario.drivers.items():
        rows.append({
            "driver": name,
            "label": d.label,
            "actor": scenario.actors[owner[name]].name,
            "direction": d.direction,
            "kind": d.kind,
            "mechanism": " ".join(d.mechanism.split()),
            "scale": d.scale,
            "family": d.family or name,
            "weight": describe_prior(d.weight) + ("" if d.family is None else f" x weight of {d.family}"),
            "weight_basis": d.weight.basis,
            "weight_evidence": evidence_text(d.weight),
            "initial": describe_prior(d.initial),
            "initial_basis": d.initial.basis,
            "initial_evidence": evidence_text(d.initial),
            "params": "; ".join(f"{k}={describe_prior(p)} [{p.basis}]"
                                for section in (d.params, d.inputs, d.shocks, d.resets)
                                for k, p in section.items()),
        })
    return pd.DataFrame(rows)


def assumption_table(scenario: Scenario) -> pd.DataFrame:
    """Everything else the forecast assumes: barrier, decision intercepts, states, policies,
    shocks, scripted events and observed facts. Columns: item, what, value, basis, evidence."""
    rows: list[dict] = []

    def add(item: str, what: str, value: str, cited: Cited) -> None:
        rows.append({"item": item, "what": what, "value": value, "basis": cited.basis,
                     "evidence": evidence_text(cited)})

    b = scenario.barrier
    add("barrier.initial", b.label, describe_prior(b.initial), b.initial)
    for section in ("params", "resets"):
        for k, p in getattr(b, section).items():
            add(f"barrier.{section}.{k}", f"{b.label}: {k}", describe_prior(p), p)
    for k in ("join_intercept", "leave_intercept"):
        p: Prior = getattr(scenario.decision, k)
        add(f"decision.{k}", f"{k.replace('_', ' ')} (logit units per quarter)", describe_prior(p), p)
    for k, v in scenario.states.items():
        add(f"states.{k}.initial", v.label, describe_prior(v.initial), v.initial)
    for actor, variables in scenario.policies.items():
        for k, v in variables.items():
            add(f"policies.{actor}.{k}.initial", f"{scenario.actors[actor].name}: {v.label}",
                describe_prior(v.initial), v.initial)
    for k, s in scenario.shocks.items():
        if s.rate is not None:
            value = f"rate {describe_prior(s.rate)} per quarter"
        else:
            value = f"probability {describe_prior(s.probability)} at {', '.join(s.schedule)}"  # type: ignore[arg-type]
        add(f"shocks.{k}", f"{s.label} ({s.direction})", value, s)
    for i, item in enumerate(scenario.scripted):
        add(f"scripted.{i}", f"scripted shock {item.shock}", item.date, item)
    add("member_at_start", f"member of the {scenario.bloc.short} at {scenario.start}",
        str(scenario.member_at_start.value).lower(), scenario.member_at_start)
    if scenario.observed is not None:
        o = scenario.observed
        add("observed", f"what happened through {o.through}",
            "occurred" if o.occurred else "not occurred", o)
    if scenario.outcome is not None:
        o2 = scenario.outcome
        add("outcome", "observed outcome (backtest)", f"{'occurred' if o2.occurred else 'not occurred'}"
            + (f" {o2.date}" if o2.date else ""), o2)
    return pd.DataFrame(rows)


def _wrap(label: str, text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=f"    {label:<10}",
                         subsequent_indent=" " * 14) or [f"    {label}"]


def explain_text(scenario: Scenario, width: int = 100) -> str:
    """The drivers, then the other assumptions, as plain text for the terminal."""
    lines = [scenario.question, f"Scenario {scenario.name!r}: {scenario.start} to {scenario.end}, "
             f"event {scenario.event.kind}, focal state {scenario.actors[scenario.focal].name}, "
             f"bloc {scenario.bloc.name} ({scenario.bloc.short}).", "",
             "Utility gap dU = sum over drivers of (+weight if toward, -weight if away) x driver - barrier;",
             "each quarter a non-member joins with probability sigmoid(join_intercept + dU).", ""]
    lines.append(f"DRIVERS ({len(scenario.drivers)})")
    for r in driver_table(scenario).itertuples():
        lines.append(f"  {r.driver}: {r.label} [{r.direction}{'' if r.direction == 'toward' else ' from'} membership; actor {r.actor}; kind {r.kind}"
                     f"{'' if r.family == r.driver else '; family ' + r.family}]")
        lines += _wrap("mechanism", r.mechanism, width)
        lines += _wrap("scale", r.scale, width)
        lines += _wrap("weight", f"{r.weight} [{r.weight_basis}] {r.weight_evidence}", width)
        lines += _wrap("initial", f"{r.initial} [{r.initial_basis}] {r.initial_evidence}", width)
        if r.params:
            lines += _wrap("params", r.params, width)
        lines.append("")
    lines.append("OTHER ASSUMPTIONS")
    for r in assumption_table(scenario).itertuples():
        lines.append(f"  {r.item}: {r.what} = {r.value} [{r.basis}]")
        lines += _wrap("evidence", r.evidence, width)
    return "\n".join(lines)
