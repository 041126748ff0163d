"""Plain-text rendering of a run's headline for the terminal."""

from __future__ import annotations

from alignsim.scenario import Scenario


MIN_PER_DRAW = 50  # fewer inner replicates than this and a draw's probability is mostly noise
MIN_DRAWS = 500    # outer draws advised for an epistemic range


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def headline_sentence(summary: dict, scenario: Scenario) -> str:
    p = summary["probability"]
    when = "" if summary.get("event_kind") in ("member_at", "status_at") else f" by the end of {summary['horizon']}"
    mc = f"Monte Carlo 95% interval {pct(p['ci_low'])}-{pct(p['ci_high'])}"
    per_draw = summary.get("replicates_per_draw")
    if per_draw is not None and per_draw < MIN_PER_DRAW:
        spread = f"{mc}; no epistemic range: only {per_draw} replicate(s) per parameter draw"
    else:
        spread = (f"epistemic range {pct(p['epistemic_low'])}-{pct(p['epistemic_high'])} across parameter "
                  f"draws; {mc}")
    return (f"As seen from {summary['start']}, the probability that {summary['event']}{when} is "
            f"{pct(p['estimate'])} ({spread}).")


def conditional_sentence(cond: dict, event: str) -> str:
    """The conditional forecast (``estimates.conditional``) in one sentence, for the terminal and the report."""
    return (f"Given that it had not happened by {cond['after']}, the probability that {event} "
            f"after {cond['after']} and by the end of {cond['window_end']} is {pct(cond['estimate'])} "
            f"(epistemic range {pct(cond['epistemic_low'])}-{pct(cond['epistemic_high'])}; Monte Carlo 95% "
            f"interval {pct(cond['ci_low'])}-{pct(cond['ci_high'])}; {cond['at_risk']} replicates at risk).")


def resolution_text(summary: dict) -> str | None:
    """One line: the act that resolves the question, its date rule and what does not count."""
    r = summary.get("resolution")
    if not r:
        return None
    text = f"Resolves on: {r['act']} Date: {r['date_rule']}"
    if r.get("excludes"):
        text += " Does not count: " + "; ".join(r["excludes"]) + "."
    return text


def base_rate_text(summary: dict, window: str = "headline") -> str | None:
    """The reference-class base rate over the forecast's ``window`` ("headline" or "conditional"),
    main definition first, then the alternatives' values over the same window."""
    b = summary.get("base_rate")
    if not b or not b.get("main") or window not in b["main"]:
        return None
    m = b["main"]
    w = m[window]
    alts = ", ".join(f"{a['definition']} {pct(a[window]['estimate'])}" for a in b["alternatives"])
    return (f"Base rate over the same window, {w['from']}..{w['to']} ({w['years']:g} years): {pct(w['estimate'])} "
            f"(90% {pct(w['low90'])}-{pct(w['high90'])}) by definition {m['definition']}, {m['label']} "
            f"({m['events']} in {m['state_years']:g} state-years, {m['per_year']:.4f}/yr)"
            + (f"; alternative definitions: {alts}" if alts else "") + ".")


def headline_text(summary: dict, scenario: Scenario, wall_seconds: float | None = None) -> str:
    lines = [scenario.question, "", headline_sentence(summary, scenario), ""]
    for extra in (base_rate_text(summary), base_rate_text(summary, "conditional"), resolution_text(summary)):
        if extra:
            lines += [extra, ""]
    per_draw = summary.get("replicates_per_draw")
    if per_draw is not None and per_draw < MIN_PER_DRAW:
        lines += [f"warning: only {per_draw} replicate(s) per parameter draw ({summary['draws']} draws): the "
                  f"epistemic ranges below are mostly Monte Carlo noise; a fixed-size run with at least "
                  f"{MIN_PER_DRAW} replicates per draw gives them.", ""]
    if summary.get("draws", MIN_DRAWS) < MIN_DRAWS:
        lines += [f"warning: only {summary['draws']} parameter draws (at least {MIN_DRAWS} are advised for the "
                  "epistemic range).", ""]
    lines.append(f"{'year-end':<12}{'P(event by)':>12}{'MC 95% CI':>18}{'epistemic 5-95%':>20}{'P(member)':>11}")
    for c, m in zip(summary["cumulative"], summary["member_at_year_end"]):
        lines.append(f"{c['date']:<12}{pct(c['estimate']):>12}{pct(c['ci_low']) + '-' + pct(c['ci_high']):>18}"
                     f"{pct(c['epistemic_low']) + '-' + pct(c['epistemic_high']):>20}{pct(m['estimate']):>11}")
    med = summary["median_event_quarter"]
    lines.append("")
    if summary.get("event_kind") not in ("member_at", "status_at"):
        lines.append(f"Median quarter of the event, among replicates where it happens: {med or 'none happened'}")
    cond = summary.get("conditional")
    if cond:
        lines.append(conditional_sentence(cond, summary["event"]))
    tail = f"Replicates: {summary['replicates']} ({summary['draws']} parameter draws), seed {summary['seed']}"
    if wall_seconds is not None:
        tail += f", {wall_seconds:.1f} s"
    lines.append(tail)
    if summary.get("output"):
        lines.append(f"Results: {summary['output']}")
    return "\n".join(lines)
