"""The analyst's report of a run folder: one self-contained HTML file and a Markdown version.

``build_report(run_dir)`` reads what a run wrote (``RunFolder.read_run``: summary.json, manifest.json,
config.resolved.yaml and the quarter / year-end / contribution tables), draws the figures
again in the actors' colours, and writes ``report.html`` (figures embedded as base64 PNGs, no
network needed) and ``report.md`` (figures in ``report_figures/``). Outputs of other analyses
(sweeps, sensitivity, backtests) are embedded generically: every ``*.png`` and ``*.csv`` in the
given folders, plus the top-level fields of a ``manifest.json`` there.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from alignsim.outputs import figures

from alignsim.runs import atomic
from alignsim.runs.folder import RunFolder
from alignsim.errors import ConfigError, RunError
from alignsim.outputs.choices import choice_summary
from alignsim.outputs.explain import assumption_table, driver_table
from alignsim.outputs.report_text import base_rate_text, conditional_sentence, headline_sentence, pct, resolution_text
from alignsim.scenario import Scenario, validate_document
from alignsim.scenario.timeaxis import Quarter

RUN_FILES = RunFolder.RUN_FILES
MAX_TABLE_ROWS = 40
EXTRA_KINDS = ("sweep", "sensitivity", "backtest")


@dataclass
class Section:
    """One part of the report, rendered to both formats: blocks are ("p"|"h3"|"table"|"figure", payload)."""

    title: str
    anchor: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def p(self, text: str, element_id: str | None = None, data: dict | None = None) -> None:
        self.blocks.append(("p", (text, element_id, data or {})))

    def h3(self, text: str) -> None:
        self.blocks.append(("h3", text))

    def table(self, frame: pd.DataFrame, caption: str = "") -> None:
        self.blocks.append(("table", (frame, caption)))

    def figure(self, name: str, png: bytes, caption: str) -> None:
        self.blocks.append(("figure", (name, png, caption)))


# ---------------------------------------------------------------- reading a run

def read_run(run_dir: Path) -> tuple[dict, dict, Scenario, dict[str, pd.DataFrame]]:
    """(summary, manifest, scenario, tables) of a run folder whose results are written; RunError if not."""
    return RunFolder(run_dir).read_run()


def _png(fig) -> bytes:
    return figures.png_bytes(fig, dpi=100)


def _fmt(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers to short text (4 significant digits), so tables stay readable."""
    out = frame.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
    return out.astype(str)


# ---------------------------------------------------------------- sections

def headline_section(summary: dict, scenario: Scenario, tables: dict[str, pd.DataFrame]) -> Section:
    s = Section("The forecast", "forecast")
    p = summary["probability"]
    s.p(headline_sentence(summary, scenario), "headline",
        {"estimate": p["estimate"], "ci-low": p["ci_low"], "ci-high": p["ci_high"],
         "epistemic-low": p["epistemic_low"], "epistemic-high": p["epistemic_high"]})
    med = summary.get("median_event_quarter")
    s.p(f"Among replicates where the event happens, its median quarter is {med}." if med
        else "The event happened in no replicate within the horizon.")
    add_resolution_and_base_rate(s, summary)
    model = scenario.powers.model
    s.p(f"Powers: {model}-based" + (" (each power picks an option per policy each quarter by a logit rule on "
                                     "expected utility; config powers:)." if model == "strategic" else
                                     " (each policy follows its configured adjustment rule)."), "powers-model")
    ye = tables["year_ends"]
    s.table(pd.DataFrame({
        "year-end": ye["date"], "P(event by date)": ye["estimate"].map(pct),
        "Monte Carlo 95%": [f"{pct(a)}-{pct(b)}" for a, b in zip(ye["ci_low"], ye["ci_high"])],
        "epistemic 5-95%": [f"{pct(a)}-{pct(b)}" for a, b in zip(ye["epistemic_low"], ye["epistemic_high"])],
        "P(member)": ye["member"].map(pct)}), "Cumulative probability at each year-end.")
    return s


def add_resolution_and_base_rate(s: Section, summary: dict) -> None:
    """The resolution rule and the reference-class base rate (main and alternative definitions)."""
    text = resolution_text(summary)
    if text:
        s.p(text, "resolution")
    b = summary.get("base_rate")
    if not b or not b.get("main"):
        return
    for window in ("headline", "conditional"):
        line = base_rate_text(summary, window)
        if line:
            s.p(line, f"base-rate-{window}", {"estimate": b["main"][window]["estimate"]})
    rows = []
    for d in [b["main"], *b["alternatives"]]:
        row = {"definition": d["definition"] + (" (main)" if d["main"] else ""), "what it counts": d["label"],
               "events / state-years": f"{d['events']} / {d['state_years']:g}", "per year": f"{d['per_year']:.4f}"}
        for window in ("headline", "conditional"):
            if window in d:
                w = d[window]
                row[f"P over {w['from']}..{w['to']}"] = f"{pct(w['estimate'])} ({pct(w['low90'])}-{pct(w['high90'])})"
        rows.append(row)
    s.table(pd.DataFrame(rows), f"Base rates of the same event over the same windows ({b['reference_class']}; "
            f"{b.get('source_note') or ''}): 1 - exp(-rate x years), 90% Jeffreys interval in brackets.")


def pathways_section(run_dir: Path) -> Section | None:
    """Pathways (``pathways.csv``, written by ``analyses.pathways``), if the folder has them."""
    frame = _optional_csv(run_dir / "pathways.csv")
    if frame is None:
        return None
    s = Section("How it would happen: pathways", "pathways")
    if frame.empty:
        s.p("The event happened in no replicate, so there are no pathways.")
        return s
    s.p("The replicates in which the event happens, grouped by the shocks that fired before it (at most "
        "two splits of a shallow tree over the shock record; only shocks before the event quarter count).")
    for text in frame["description"]:
        s.p(str(text))
    s.table(_fmt(frame[["pathway", "rules", "share", "probability", "median_quarter"]]),
            "share = share of P(event); probability = share x P(event by the horizon).")
    return s


def signposts_section(run_dir: Path) -> Section | None:
    """Signposts (``signposts.csv``, written by ``analyses.signposts``), if the folder has them."""
    frame = _optional_csv(run_dir / "signposts.csv")
    if frame is None or frame.empty:
        return None
    s = Section("What to watch: signposts", "signposts")
    s.p("Observable, sourced events and indicators in the next quarters, from the same ensemble: the chance of "
        "seeing each, and the probability of the event by the horizon if it is seen and if it is not.")
    for text in frame["description"].head(5):
        s.p(str(text))
    cols = ["signpost", "kind", "window", "by", "p_seen", "p_event_if_seen", "p_event_if_not_seen", "ratio"]
    s.table(_fmt(frame[cols].head(MAX_TABLE_ROWS)), "Sorted by how much seeing the signpost moves the odds "
            "(ratio = P(event | seen) / P(event | not seen)).")
    return s


def _optional_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: not a readable table ({exc})") from None


def since_section(summary: dict, scenario: Scenario) -> Section | None:
    """What has happened since a start in the past, and the conditional odds from then on."""
    obs = scenario.observed
    if obs is None:
        return None
    s = Section(f"Since {scenario.start}", "since")
    today = Quarter.parse(f"{pd.Timestamp.today().year}-Q{(pd.Timestamp.today().month - 1) // 3 + 1}")
    years = (today - Quarter.parse(scenario.start)) / 4
    s.p(f"The forecast starts at {scenario.start}, {years:.1f} years before this report was written. "
        f"Known since: through {obs.through} the event {'has' if obs.occurred else 'has not'} occurred"
        + (f" ({' '.join(obs.note.split())})" if obs.note else "") + (f" Source: {obs.source}." if obs.source else ""))
    done = [f"{x.date}: {x.shock}" for x in scenario.scripted if Quarter.parse(x.date) <= Quarter.parse(obs.through)]
    if done:
        s.p("Scripted (known) events in that period, applied in every replicate: " + "; ".join(done) + ".")
    cond = summary.get("conditional")
    if cond:
        s.p(conditional_sentence(cond, summary["event"]), "conditional", {"estimate": cond["estimate"]})
    elif obs.occurred:
        s.p("The event has already occurred, so no conditional forecast is given.")
    return s


def figure_section(summary: dict, scenario: Scenario, tables: dict[str, pd.DataFrame]) -> Section:
    s = Section("Probability over time and the utility gap", "figures")
    colors = figures.actor_colors(scenario)
    focal = scenario.actors[scenario.focal].name
    event = scenario.event.kind.replace("_", " ")
    q = tables["quarters"]
    s.figure("cumulative.png", _png(figures.cumulative_figure(
        q, tables["year_ends"], f"{focal} and the {scenario.bloc.short}: P({event}) as seen from {scenario.start}",
        event, color=colors[scenario.focal])),
        "Cumulative probability by quarter, with its Monte Carlo band and the epistemic range at year-ends.")
    fan = q[["quarter"] + [c for c in q.columns if c.startswith("dU_q")]].rename(columns=lambda c: c.removeprefix("dU_"))
    s.figure("gap_fan.png", _png(figures.gap_fan_figure(
        fan, f"Utility gap dU of {focal} across replicates", color=colors[scenario.focal])),
        "Fan chart of the utility gap dU; above zero the drivers outweigh the barrier.")
    return s


def powers_section(run_dir: Path, scenario: Scenario) -> Section | None:
    """What each strategic power chose, how often and when (``choices.csv``, ``choices_by_tilt.csv``)."""
    chosen, by_tilt = _optional_csv(run_dir / "choices.csv"), _optional_csv(run_dir / "choices_by_tilt.csv")
    if chosen is None or by_tilt is None or chosen.empty:
        return None
    s = Section("What the powers chose", "powers")
    s.p("Each quarter every power picks an option per policy by a logit rule on expected utility "
        "(config powers:). Shares over all replicates; entropy in bits (1.585 = the three options "
        "equally often); the tilt deciles are those of the focal state's lean toward the bloc as the powers "
        "saw it when choosing (tanh of the pull), to the nearest bin of width 0.05 (the share in brackets).",
        "powers-choices")
    s.table(_fmt(choice_summary(chosen, by_tilt)), "Choice shares and entropy per power and policy.")
    s.figure("choices.png", _png(figures.choice_shares_figure(
        chosen, figures.actor_colors(scenario), "Share of each option by quarter (dark = expand, light = hold)")),
        "Which option each power chose, by quarter: retreat (bottom), hold (middle), expand (top).")
    return s


def drivers_section(scenario: Scenario, contrib: pd.DataFrame) -> Section:
    s = Section("What pushes toward and away from membership", "drivers")
    drivers = [d for d in scenario.drivers if d in set(contrib["driver"])]
    if not drivers:
        s.p("This scenario has no drivers: its utility gap is the intercepts, the barrier and the "
            "scripted shocks alone, so there is no driver balance to show.")
    else:
        wide = contrib[contrib["driver"].isin(drivers)].pivot(index="quarter", columns="driver",
                                                               values="contribution")
        wide = wide.loc[list(dict.fromkeys(contrib["quarter"]))]
        half = max(1, len(wide) // 2)
        first, last = wide.iloc[:half].mean(), wide.iloc[half:].mean() if len(wide) > 1 else wide.iloc[:half].mean()
        whole = wide.mean()
        top, bottom = whole.idxmax(), whole.idxmin()
        change = (last - first)
        grew = change.abs().idxmax()
        s.p(f"Over the whole horizon the strongest pull toward membership is {top} "
            f"({whole[top]:+.2f} logit units on average) and the strongest push away is {bottom} "
            f"({whole[bottom]:+.2f}). From the first half of the horizon ({wide.index[0]} on) to the second "
            f"(to {wide.index[-1]}), the contribution that changes most is {grew} "
            f"({first[grew]:+.2f} to {last[grew]:+.2f}).")
        s.figure("driver_balance.png", _png(figures.driver_balance_figure(contrib, scenario)),
                 "Mean contribution of each driver to dU in each period; colour = the actor the driver is "
                 "attributed to.")
    s.figure("contributions.png", _png(figures.contributions_figure(
        contrib, {k: v.direction for k, v in scenario.drivers.items()},
        f"Mean contribution to dU by quarter, {scenario.start} to {scenario.end}",
        figures.driver_colors(scenario))),
        "Each driver's mean contribution over time, with the barrier and the total dU.")
    return s


def evidence_section(scenario: Scenario) -> Section:
    s = Section("Evidence: drivers, mechanisms, priors and sources", "evidence")
    t = driver_table(scenario)
    if t.empty:
        s.p("No drivers: the evidence for the barrier, intercepts and shocks is in the assumptions below.")
        return s
    s.table(t[["driver", "family", "actor", "direction", "mechanism", "weight", "weight_basis", "weight_evidence",
               "initial", "initial_basis", "initial_evidence"]],
            "Weights are in logit units per unit of the driver (drivers are indices on [0, 1]); an instance "
            "of an ontology family weighs its share times the family's weight.")
    return s


def assumptions_section(scenario: Scenario, manifest: dict, summary: dict) -> Section:
    s = Section("Shocks, assumptions and reproducibility", "assumptions")
    s.table(assumption_table(scenario), "The barrier, decision intercepts, policies, shocks and facts assumed.")
    v = manifest.get("versions", {})
    s.table(pd.DataFrame([
        ("scenario", manifest.get("scenario")), ("config", manifest.get("config_path")),
        ("overrides", ", ".join(manifest.get("overrides") or []) or "none"),
        ("config sha256", manifest.get("config_sha256")), ("seed", summary.get("seed")),
        ("replicates", summary.get("replicates")), ("parameter draws", summary.get("draws")),
        ("versions", ", ".join(f"{k} {val}" for k, val in v.items())),
        ("platform", manifest.get("platform")), ("created", manifest.get("created")),
        ("wall time (s)", manifest.get("wall_seconds"))], columns=["what", "value"]).astype(str),
        "Rerun with the same config, seed and replicates to get the same numbers.")
    return s


def extra_section(kind: str, folder: Path) -> Section:
    """Any analysis output folder: its manifest fields, every CSV (first rows) and every PNG."""
    if not folder.is_dir():
        raise RunError(f"--{kind} {folder}: not a folder; expected an output folder of a {kind}")
    s = Section(f"{kind.capitalize()}: {folder.name}", f"{kind}-{folder.name}")
    man = folder / "manifest.json"
    if man.is_file():
        try:
            data = json.loads(man.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            data = {}
        flat = [(k, json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in data.items()] \
            if isinstance(data, dict) else []
        if flat:
            s.table(pd.DataFrame(flat, columns=["field", "value"]), "manifest.json")
    csvs, pngs = sorted(folder.glob("*.csv")), sorted(folder.glob("*.png"))
    for path in csvs:
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            s.p(f"{path.name}: could not be read as CSV ({type(exc).__name__}).")
            continue
        note = f" (first {MAX_TABLE_ROWS} of {len(frame)} rows)" if len(frame) > MAX_TABLE_ROWS else ""
        s.table(_fmt(frame.head(MAX_TABLE_ROWS)), f"{path.name}{note}")
    for path in pngs:
        s.figure(f"{kind}-{folder.name}-{path.name}", path.read_bytes(), path.name)
    if not csvs and not pngs:
        s.p(f"No tables (*.csv) or figures (*.png) found in {folder}.")
    return s


# ---------------------------------------------------------------- rendering

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
#headline{font-size:1.2em;background:#f3f6f4;border-left:4px solid %s;padding:.6em 1em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1.5em}td,th{border:1px solid #ddd;padding:.25em .5em;
vertical-align:top;text-align:left}th{background:#f5f5f5}caption{caption-side:bottom;text-align:left;color:#555;
font-size:.9em}figure{margin:1em 0}figure img{max-width:100%%}figcaption{color:#555;font-size:.9em}"""


def _html_block(kind: str, payload) -> str:
    if kind == "p":
        text, element_id, data = payload
        attrs = (f' id="{element_id}"' if element_id else "") + "".join(
            f' data-{k}="{html.escape(repr(v) if isinstance(v, float) else str(v))}"' for k, v in data.items())
        return f"<p{attrs}>{html.escape(text)}</p>"
    if kind == "h3":
        return f"<h3>{html.escape(payload)}</h3>"
    if kind == "table":
        frame, caption = payload
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
                       for r in frame.itertuples(index=False))
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    name, png, caption = payload
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" data-name="{html.escape(name)}" '
            f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def render_html(title: str, sections: list[Section], accent: str) -> str:
    nav = " · ".join(f'<a href="#{x.anchor}">{html.escape(x.title)}</a>' for x in sections)
    body = "".join(f'<section id="{x.anchor}"><h2>{html.escape(x.title)}</h2>'
                   + "".join(_html_block(k, v) for k, v in x.blocks) + "</section>" for x in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS % accent}</style></head><body><h1>{html.escape(title)}</h1><nav>{nav}</nav>"
            f"{body}</body></html>\n")


def _md_cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, sections: list[Section], fig_dir: Path, md_dir: Path) -> tuple[str, dict[Path, bytes]]:
    """The Markdown text and the figure files it links to (path -> PNG bytes)."""
    lines, files = [f"# {title}", ""], {}
    for x in sections:
        lines += [f"## {x.title}", ""]
        for kind, payload in x.blocks:
            if kind == "p":
                lines += [payload[0] if payload[1] != "headline" else f"**{payload[0]}**", ""]
            elif kind == "h3":
                lines += [f"### {payload}", ""]
            elif kind == "table":
                frame, caption = payload
                lines.append("| " + " | ".join(_md_cell(c) for c in frame.columns) + " |")
                lines.append("|" + "---|" * len(frame.columns))
                lines += ["| " + " | ".join(_md_cell(v) for v in r) + " |" for r in frame.itertuples(index=False)]
                lines += ["", f"*{caption}*" if caption else "", ""]
            else:
                name, png, caption = payload
                files[fig_dir / name] = png
                rel = Path(os.path.relpath(fig_dir / name, md_dir)).as_posix()
                lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return "\n".join(lines) + "\n", files


def build_report(run_dir: str | Path, sweeps: list[str | Path] = (), sensitivity: list[str | Path] = (),
                 backtests: list[str | Path] = (), out: str | Path | None = None,
                 replace: bool = False) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (+ ``report_figures/``) for a run folder.

    Args:
        run_dir: a finished run folder.
        sweeps, sensitivity, backtests: output folders of those analyses to embed (any *.png, *.csv).
        out: folder for the report files (default: ``run_dir``).
        replace: rewrite an existing report; without it an existing report.html is an error.

    Returns:
        (path of report.html, path of report.md).
    """
    run_dir = Path(run_dir)
    summary, manifest, scenario, tables = read_run(run_dir)
    out_dir = Path(out) if out is not None else run_dir
    html_path, md_path = out_dir / "report.html", out_dir / "report.md"
    if not replace:
        for existing in (html_path, md_path, out_dir / "report_figures"):
            if existing.exists():
                raise RunError(f"{existing}: a report exists; pass --replace to rewrite it or --out for a new folder")
    extras = [(kind, Path(p)) for kind, paths in zip(EXTRA_KINDS, (sweeps, sensitivity, backtests)) for p in paths]
    sections = [headline_section(summary, scenario, tables), since_section(summary, scenario),
                pathways_section(run_dir), signposts_section(run_dir),
                figure_section(summary, scenario, tables), powers_section(run_dir, scenario),
                drivers_section(scenario, tables["contributions"]),
                evidence_section(scenario), *[extra_section(k, p) for k, p in extras],
                assumptions_section(scenario, manifest, summary)]
    sections = [x for x in sections if x is not None]
    title = scenario.question
    accent = figures.actor_colors(scenario)[scenario.focal]
    md, files = render_markdown(title, sections, out_dir / "report_figures", out_dir)
    page = render_html(title, sections, accent)  # everything is drawn before the first file is written
    for path, png in files.items():
        atomic.write_bytes(path, png)
    atomic.write_text(md_path, md)
    atomic.write_text(html_path, page)
    return html_path, md_path


# ---------------------------------------------------------------- a child run updated on news

def update_sections(child_dir: Path) -> tuple[str, list[Section], str]:
    """(title, sections, accent) of a child folder written by ``alignsim update``."""
    try:
        summary = json.loads((child_dir / "summary.json").read_text(encoding="utf-8"))
        manifest = json.loads((child_dir / "manifest.json").read_text(encoding="utf-8"))
        scenario = validate_document(yaml.safe_load((child_dir / "config.resolved.yaml").read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, yaml.YAMLError, ConfigError) as exc:
        raise RunError(f"RUN_DIR {child_dir}: not a readable update folder ({exc})") from None
    u = summary["update"]
    head = Section("The updated forecast", "forecast")
    p = summary["probability"]
    head.p(f"Updated on {u['observations']} dated observations through {u['through']} (news file "
           f"{manifest.get('news_file')}), from the parent run {manifest.get('parent')}: the probability that the "
           f"event happens by the end of {summary['horizon']} is {pct(p['estimate'])} (Monte Carlo 95% "
           f"{pct(p['ci_low'])}-{pct(p['ci_high'])}).", "headline", {"estimate": p["estimate"]})
    cond = summary.get("conditional")
    if cond:
        head.p(f"Given the news, the probability of the event after {cond['after']} and by the end of "
               f"{cond['window_end']} is {pct(cond['estimate'])} (Monte Carlo 95% {pct(cond['ci_low'])}-"
               f"{pct(cond['ci_high'])}; epistemic {pct(cond['epistemic_low'])}-{pct(cond['epistemic_high'])}).",
               "conditional", {"estimate": cond["estimate"]})
    add_resolution_and_base_rate(head, summary)
    gens = pd.DataFrame(u["generations"])
    head.p(f"Effective sample size {u['ess']:.0f} of {summary['replicates']} replicates "
           f"({u['ess_fraction']:.1%}); {len(gens) - 1} rejuvenation(s) (draws resampled and re-simulated from the "
           "start under fresh seeds).", "ess", {"ess": u["ess"]})
    head.table(_fmt(gens), "Each generation: its seed, ESS and replicates consistent with every observation.")
    changed = Section("What changed since the parent run", "changes")
    frame = _optional_csv(child_dir / "changes.csv")
    if frame is None:
        changed.p("No parent run: the scenario was conditioned on its own observations from the start.")
    elif not frame.empty:
        changed.table(_fmt(frame), "Parent (no news) and child (conditioned on the news) over the same quarters.")
    state = _optional_csv(child_dir / "state_at_through.csv")
    if state is not None and not state.empty:
        changed.table(_fmt(state), f"Where the news leaves each variable at {u['through']} (weighted quantiles).")
    obs = Section("The news", "news")
    table = _optional_csv(child_dir / "observations.csv")
    if table is not None:
        obs.table(table.astype(str), "Observations conditioned on (shocks forced; the rest weight replicates). "
                  f"Shocks listed as complete (absent = did not fire): {', '.join(u['complete_shocks']) or 'none'}.")
    sections = [head, changed, pathways_section(child_dir), signposts_section(child_dir), obs]
    return scenario.question + " (updated on news)", [x for x in sections if x is not None], \
        figures.actor_colors(scenario)[scenario.focal]


def build_update_report(child_dir: str | Path, replace: bool = False) -> tuple[Path, Path]:
    """Write report.html and report.md for a child folder written by ``alignsim update``."""
    child_dir = Path(child_dir)
    html_path, md_path = child_dir / "report.html", child_dir / "report.md"
    if not replace and (html_path.exists() or md_path.exists()):
        raise RunError(f"{html_path}: a report exists; pass --replace to rewrite it")
    title, sections, accent = update_sections(child_dir)
    md, _ = render_markdown(title, sections, child_dir / "report_figures", child_dir)
    atomic.write_text(md_path, md)
    atomic.write_text(html_path, render_html(title, sections, accent))
    return html_path, md_path
