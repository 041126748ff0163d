"""Write one backtest file per panel case: config/panel/<case_id>.yaml (stdlib + PyYAML).

Inputs: config/panel/panel.csv (the seeded draw), config/panel/case-list.csv (patron),
config/panel/outcomes.csv (the coded outcome), seeds/notes/panel/<case_id>.md (one table row
per driver family: value on [0, 1], reason, fact, URL(s), page date).

Rules (stated before any scoring; the same for every case):
- Each case includes ../priors-alliance.yaml and sets only initial values, dates, actors,
  its decision_group, left_out drivers and its outcome (the loader refuses anything else).
- A family with a stored page: uniform(v - 0.1, v + 0.1) clipped to [0, 1], basis judgement,
  the page's URL(s) as source and the fact + reason as note.
- A family marked "unsourced": uniform(v - 0.2, v + 0.2) clipped, basis setting, a note saying
  no stored page was found and why the value was chosen.
- decision points valued 0 with fact "none" (no scheduled point in the window): left out.
- Status at start: member -> event first_exit; out -> first_entry; suspended (a partial freeze)
  -> not a member, event first_entry (return to full participation) until the engine has a
  three-level status (issue 13, mechanics).
- Outcome: occurred iff outcomes.csv codes an event of that kind inside the window (exit,
  suspension or freeze for members; entry or return for outsiders).

Run from the repository root:  python experiments/panel/build_case_files.py
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

PANEL = Path("config/panel/panel.csv")
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
MEMBER_EVENTS = {"exit", "suspension", "freeze"}
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
    kinds = MEMBER_EVENTS if status == "member" else OUTSIDER_EVENTS
    happened = out_row["event"] in kinds and start <= out_row["date"] <= end
    item = {"occurred": happened, "basis": "measured" if out_row["source"] else "setting"}
    if happened:
        item["date"] = out_row["date"]
    if out_row["source"]:
        item["source"] = out_row["source"]
    item["note"] = (f"config/panel/outcomes.csv: event {out_row['event']}"
                    + (f" ({out_row['kind']})" if out_row["kind"] else "") + f"; {out_row['note']}")
    return item


def build(case: dict, patron: str, out_row: dict) -> dict:
    cid, status = case["case_id"], case["status_at_start"]
    member = status == "member"
    event = "first_exit" if member else "first_entry"
    note = read_note(cid)
    focal, pat = slug(case["state"]), slug(patron)
    what = "leave (exit, suspension or freeze)" if member else "join (or return to full participation)"
    doc = {
        "name": cid,
        "include": "../priors-alliance.yaml",
        "question": f"Does {case['state']} {what} {case['alliance']} between {case['window_start']} and {case['window_end']}?",
        "event": {"kind": event},
        "start": case["window_start"],
        "end": case["window_end"],
        "actors": {focal: {"name": case["state"], "role": "focal"}, pat: {"name": patron, "role": "patron"}},
        "bloc": {"name": case["alliance"], "short": SHORT[case["alliance"]], "basis": "setting",
                 "note": "Alliance, patron and membership dates: seeds/notes/panel/alliances.md."},
        "member_at_start": {"value": member, "basis": "setting",
                            "note": f"Status at window start: {status} (config/panel/case-list.csv; rules in "
                                    "config/panel/SELECTION.md; dates and sources in seeds/notes/panel/alliances.md)."
                                    + (" Suspended (partial freeze) is coded as not a member at risk of return "
                                       "until the engine has three statuses." if status == "suspended" else "")},
        "outcome": outcome(status, case["window_start"], case["window_end"], out_row),
        "barrier": {"initial": {"dist": "fixed", "value": 0.0, "basis": "setting",
                                "note": "No barrier in the alliance ontology."}},
        "drivers": {},
    }
    if case["decision_group"]:
        doc["decision_group"] = case["decision_group"]
    left = {}
    for fam, row in note.items():
        if fam == "decision_point" and row["value"] == 0.0 and row["fact"].lower().startswith("none"):
            left[fam] = {"basis": "setting",
                         "note": "No scheduled treaty decision point falls in this window (case note: none)."}
            continue
        doc["drivers"][fam] = {"initial": initial(row)}
    if left:
        doc["left_out"] = left
    return doc


def main() -> None:
    patrons = {r["case_id"]: r["patron"] for r in csv.DictReader(LIST.open())}
    outs = {r["case_id"]: r for r in csv.DictReader(OUTCOMES.open())}
    n = 0
    for case in csv.DictReader(PANEL.open()):
        cid = case["case_id"]
        doc = build(case, patrons[cid], outs[cid])
        head = (f"# Panel case {cid}: written by experiments/panel/build_case_files.py from\n"
                f"# seeds/notes/panel/{cid}.md and config/panel/outcomes.csv (do not edit by hand).\n")
        (OUT / f"{cid}.yaml").write_text(head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100),
                                         encoding="utf-8")
        n += 1
    print(f"wrote {n} case files to {OUT}")


if __name__ == "__main__":
    main()
