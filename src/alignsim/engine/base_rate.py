"""The reference-class base rate of the scenario's event over the forecast's own window.

A definition gives ``events`` in ``state_years`` of exposure (``scenario.base_rate``, from the
config; no number lives here). As a Poisson rate h = events / state_years, the probability of at
least one event in a window of ``years`` is ``1 - exp(-h years)``; the 90% interval uses
Jeffreys' Gamma(events + 1/2) quantiles for h.
"""

from __future__ import annotations

import math

from scipy import stats

from alignsim.scenario import Scenario
from alignsim.scenario.schema import RateDefinition
from alignsim.scenario.timeaxis import Quarter


def window_probability(d: RateDefinition, years: float) -> dict:
    """P(at least one event in ``years``) under definition ``d``, with a Jeffreys 90% interval."""
    h = d.events / d.state_years
    lo, hi = (stats.gamma.ppf(q, d.events + 0.5) / d.state_years for q in (0.05, 0.95))
    p = lambda rate: 1.0 - math.exp(-rate * years)  # noqa: E731
    return {"per_year": h, "estimate": p(h), "low90": p(lo), "high90": p(hi)}


def forecast_windows(s: Scenario) -> list[tuple[str, str, str, float]]:
    """(name, first quarter, last quarter, years) of the headline window and, with ``observed``,
    of the conditional window after ``observed.through``."""
    out = [("headline", s.start, s.end, s.axis.n_steps / 4)]
    obs = s.observed
    if obs is not None and not obs.occurred:
        first = Quarter.parse(obs.through) + 1
        out.append(("conditional", str(first), obs.window_end, (Quarter.parse(obs.window_end) - first + 1) / 4))
    return out


def base_rates(s: Scenario) -> dict | None:
    """The main definition's and every alternative's probability over each forecast window.

    None when the scenario names no base-rate definition or its event is a status at a date
    (``member_at``), for which a rate of events per state-year says nothing.
    """
    br = s.base_rate
    if br is None or br.definition is None or s.event.kind in ("member_at", "status_at"):
        return None
    same = {k: d for k, d in br.definitions.items() if d.event == s.event.kind}
    windows = forecast_windows(s)
    rows = []
    for key, d in same.items():
        row = {"definition": key, "label": d.label, "main": key == br.definition, "events": d.events,
               "state_years": d.state_years, "source": d.source, "note": d.note}
        for name, first, last, years in windows:
            wp = window_probability(d, years)
            row["per_year"] = wp["per_year"]
            row[name] = {"from": first, "to": last, "years": years,
                         "estimate": wp["estimate"], "low90": wp["low90"], "high90": wp["high90"]}
        rows.append(row)
    main = next(r for r in rows if r["main"]) if any(r["main"] for r in rows) else None
    return {"reference_class": br.reference_class, "source_note": br.source_note,
            "definition": br.definition, "main": main, "alternatives": [r for r in rows if not r["main"]]}
