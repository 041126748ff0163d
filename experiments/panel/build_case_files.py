"""Write one backtest file per panel case: config/panel/<case_id>.yaml (stdlib + PyYAML).

Inputs: config/panel/panel.csv and panel2.csv (the two seeded draws), config/panel/case-list.csv
(patron), config/panel/outcomes.csv (the coded outcome), config/panel/tables/alliances.yaml (per
alliance: the role actors and the scheduled decision points), seeds/notes/panel/<case_id>.md
(one table row per driver family: value on [0, 1], reason, fact, URL(s), page date).

Rules (stated before any scoring; the same for every case):
- Each case includes ../priors-panel.yaml (the panel layer over ../priors-alliance.yaml) and sets
  only initial values, dates, actors, its decision_group, its scheduled decision points, left_out
  drivers and its outcome (the loader refuses anything else).
- Actors by role, from the alliances table: the focal state, `patron`, `rival` and, where the
  table names one, `third`; the role ids let the panel layer's role-keyed policies and power
  utilities apply (issue 14).
- A family with a stored page: uniform(v - 0.1, v + 0.1) clipped to [0, 1], basis judgement,
  the page's URL(s) as source and the fact + reason as note.
- A family marked "unsourced": uniform(v - 0.2, v + 0.2) clipped, basis setting, a note saying
  no stored page was found and why the value was chosen.
- Scheduled decision points: the alliance's treaty dates from the table that fall inside the
  window, for members and suspended states (leaving there needs no abrogation), each with the
  table's one leave_shift prior. The ontology's held decision_point driver is then left out
  (replaced by the dated points).
- Status at start (three levels): member -> member; suspended (a partial freeze) -> member with
  suspended: true; out -> out.
- Event: members and suspended states -> first_exit (a formal exit from the treaty, including
  its dissolution); outsiders -> first_entry. A member's suspension or freeze is its own
  transition in the model (suspend_intercept) and its own event kind (first_suspension); it is
  not the scored event, and no member in the drawn panel froze or suspended in its window.
- Outcome: occurred iff outcomes.csv codes an event of that kind inside the window (exit for
  members and suspended states; entry for outsiders).

Run from the repository root:  python experiments/panel/build_case_files.py
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

PANELS = (Path("config/panel/panel.csv"), Path("config/panel/panel2.csv"))
TABLE = Path("config/panel/tables/alliances.yaml")
LIST = Path("config/panel/case-list.csv")
OUTCOMES = Path("config/panel/outcomes.csv")
NOTES = Path("seeds/notes/panel")
OUT = Path("config/panel")
FAMILIES = {
    "threat": "external_threat",
    "patron credibility": "patron_credibility",
    "coercion / sovereignty fear": "patron_coercion",
    "outside options": "outside_options",
    "economic dependence": "economic_dependence",
    "regime affinity": "regime_affinity",
    "leadership change": "leadership_change",
    "decision points": "decision_point",
}
MEMBER_EVENTS = {"exit"}
OUTSIDER_EVENTS = {"entry"}
SHORT = {"Warsaw Pact": "WTO", "NATO": "NATO", "SEATO": "SEATO", "CENTO / Baghdad Pact": "CENTO",
         "ANZUS": "ANZUS", "Rio Treaty / TIAR": "TIAR"}
URL = re.compile(r"https?://[^\s;|]+")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def read_note(case_id: str) -> dict[str, dict]:
    """Family -> {value, reason, fact, urls, page_date} from the note's table."""
    rows = {}
    for line in (NOTES / f"{case_id}.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or cells[0] not in FAMILIES:
            continue
        m = re.match(r"([0-9.]+)\s*(?:\((.*)\))?\s*$", cells[1])
        if not m:
            raise SystemExit(f"{case_id}: cannot read value {cells[1]!r}")
        rows[FAMILIES[cells[0]]] = {"value": float(m.group(1)), "reason": m.group(2) or "",
                                    "fact": cells[2], "urls": URL.findall(cells[3]), "page_date": cells[4]}
    missing = sorted(set(FAMILIES.values()) - set(rows))
    if missing:
        raise SystemExit(f"{case_id}: note lacks families {missing}")
    return rows


def initial(row: dict) -> dict:
    v = row["value"]
    reason = f" ({row['reason']})" if row["reason"] else ""
    if row["urls"] and not row["fact"].lower().startswith("unsourced"):
        lo, hi = max(0.0, v - 0.1), min(1.0, v + 0.1)
        return {"dist": "uniform", "low": round(lo, 3), "high": round(hi, 3), "basis": "judgement",
                "source": " ; ".join(row["urls"]),
                "note": f"Value {v:g}{reason}, +/-0.1. Fact (page date {row['page_date']}): {row['fact']}"}
    lo, hi = max(0.0, v - 0.2), min(1.0, v + 0.2)
    return {"dist": "uniform", "low": round(lo, 3), "high": round(hi, 3), "basis": "setting",
            "note": f"No stored page found; analyst's value {v:g}{reason}, +/-0.2. {row['fact']}"}


def outcome(status: str, start: str, end: str, out_row: dict) -> dict:
    kinds = MEMBER_EVENTS if status in ("member", "suspended") else OUTSIDER_EVENTS
    happened = out_row["event"] in kinds and start <= out_row["date"] <= end
    item = {"occurred": happened, "basis": "measured" if out_row["source"] else "setting"}
    if happened:
        item["date"] = out_row["date"]
    if out_row["source"]:
        item["source"] = out_row["source"]
    item["note"] = (f"config/panel/outcomes.csv: event {out_row['event']}"
                    + (f" ({out_row['kind']})" if out_row["kind"] else "") + f"; {out_row['note']}")
    return item


def decision_points(entry: dict, shift: dict, start: str, end: str) -> list[dict]:
    """The alliance's scheduled points inside the window, each with the table's one shift prior."""
    points = []
    for p in entry.get("decision_points", []):
        if not start <= p["date"] <= end:
            continue
        source = p.get("source", entry.get("decision_point_source"))
        note = p.get("note", entry.get("decision_point_note", ""))
        points.append({"date": p["date"], "label": p["label"], "basis": "measured", "source": source,
                       "note": f"Scheduled by the treaty (config/panel/tables/alliances.yaml). {note}".strip(),
                       "leave_shift": dict(shift)})
    return points


def build(case: dict, patron: str, out_row: dict, table: dict) -> dict:
    cid, status = case["case_id"], case["status_at_start"]
    entry = table["alliances"][case["alliance"]]
    if entry.get("case_list_patron", entry["roles"]["patron"]["name"]) != patron:
        raise SystemExit(f"{cid}: patron {patron!r} in case-list.csv but not the table's patron of {case['alliance']!r} ({TABLE})")
    inside = status in ("member", "suspended")
    event = "first_exit" if inside else "first_entry"
    note = read_note(cid)
    focal = slug(case["state"])
    what = ("formally leave (or see dissolved)" if inside else "join")
    actors = {focal: {"name": case["state"], "role": "focal"}}
    for role in ("patron", "rival", "third"):
        if role in entry["roles"]:
            actors[role] = {"name": entry["roles"][role]["name"], "role": "patron" if role == "patron" else "power"}
    doc = {
        "name": cid,
        "include": "../priors-panel.yaml",
        "question": f"Does {case['state']} {what} {case['alliance']} between {case['window_start']} and {case['window_end']}?",
        "event": {"kind": event},
        "start": case["window_start"],
        "end": case["window_end"],
        "actors": actors,
        "bloc": {"name": case["alliance"], "short": entry["short"], "basis": "setting",
                 "note": "Alliance, roles and membership dates: config/panel/tables/alliances.yaml and seeds/notes/panel/alliances.md."},
        "member_at_start": {"value": inside, "basis": "setting",
                            "note": f"Status at window start: {status} (config/panel/case-list.csv; rules in "
                                    "config/panel/SELECTION.md; dates and sources in seeds/notes/panel/alliances.md)."},
        "outcome": outcome(status, case["window_start"], case["window_end"], out_row),
        "barrier": {"initial": {"dist": "fixed", "value": 0.0, "basis": "setting",
                                "note": "No barrier in the alliance ontology."}},
        "drivers": {},
    }
    if status == "suspended":
        doc["member_at_start"]["suspended"] = True
    if case["decision_group"]:
        doc["decision_group"] = case["decision_group"]
    points = decision_points(entry, table["leave_shift"], case["window_start"], case["window_end"]) if inside else []
    if points:
        doc["decision_points"] = points
    left = {"decision_point": {"basis": "setting", "note": (
        "Replaced by dated decision points: the treaty's scheduled dates in this window are under decision_points "
        "(config/panel/tables/alliances.yaml)." if points else
        "No scheduled treaty decision point falls in this window (config/panel/tables/alliances.yaml).")}}
    for fam, row in note.items():
        if fam != "decision_point":
            doc["drivers"][fam] = {"initial": initial(row)}
    doc["left_out"] = left
    return doc


def main() -> None:
    patrons = {r["case_id"]: r["patron"] for r in csv.DictReader(LIST.open())}
    outs = {r["case_id"]: r for r in csv.DictReader(OUTCOMES.open())}
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
    n = 0
    for panel in PANELS:
        for case in csv.DictReader(panel.open()):
            cid = case["case_id"]
            doc = build(case, patrons[cid], outs[cid], table)
            head = (f"# Panel case {cid}: written by experiments/panel/build_case_files.py from\n"
                    f"# seeds/notes/panel/{cid}.md, config/panel/tables/alliances.yaml and config/panel/outcomes.csv"
                    " (do not edit by hand).\n")
            (OUT / f"{cid}.yaml").write_text(head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
                                             encoding="utf-8")
            n += 1
    print(f"wrote {n} case files to {OUT}")


if __name__ == "__main__":
    main()
