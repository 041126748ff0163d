"""Build config/panel/case-list.csv: every focal state x fixed 5-year window of six
patron-led alliances (rule in config/panel/SELECTION.md; membership dates and their
sources in seeds/notes/panel/alliances.md). Stdlib only. No outcomes are written here:
the status table below only fixes each state's status at the START of each window.

Run from the repository root:  python experiments/panel/build_case_list.py
"""
import csv
from pathlib import Path

OUT = Path("config/panel/case-list.csv")
LAST_END = (2024, 4)
# states ever party to the Collective Security Treaty: never focal cases
CST = {"Russia", "USSR", "Armenia", "Azerbaijan", "Belarus", "Georgia", "Kazakhstan",
       "Kyrgyzstan", "Tajikistan", "Uzbekistan"}

# Status timelines: list of (quarter, status); status before the first entry is "out".
# Founding rule: a state that joined in the alliance's founding year counts as a member
# from the first quarter of the first window (see SELECTION.md).
def Q(y: int, q: int) -> tuple[int, int]:
    """A quarter as (year, quarter)."""
    return (y, q)

ALLIANCES = {
  "warsaw": dict(name="Warsaw Pact", patron="USSR", first_window=1955, dissolved=Q(1991, 3), states={
    "Poland": [(Q(1955, 1), "member"), (Q(1991, 3), "dissolved")],
    "Czechoslovakia": [(Q(1955, 1), "member"), (Q(1991, 3), "dissolved")],
    "Hungary": [(Q(1955, 1), "member"), (Q(1991, 3), "dissolved")],
    "Romania": [(Q(1955, 1), "member"), (Q(1991, 3), "dissolved")],
    "Bulgaria": [(Q(1955, 1), "member"), (Q(1991, 3), "dissolved")],
    "East Germany": [(Q(1955, 1), "member"), (Q(1990, 4), "gone")],
    # de facto non-participation from 1961-62; formal withdrawal 1968-09
    "Albania": [(Q(1955, 1), "member"), (Q(1962, 1), "suspended"), (Q(1968, 3), "out")],
  }, decision_groups={1975: "warsaw-1975-renewal", 1985: "warsaw-1985-renewal",
                      1990: "warsaw-1991-dissolution"}),
  "nato": dict(name="NATO", patron="United States", first_window=1950, dissolved=None, states={
    **{s: [(Q(1950, 1), "member")] for s in ["United Kingdom", "Canada", "Belgium", "Netherlands",
        "Luxembourg", "Denmark", "Norway", "Iceland", "Italy", "Portugal"]},
    # France: left the integrated command 1966 (partial freeze), returned 2009
    "France": [(Q(1950, 1), "member"), (Q(1966, 2), "suspended"), (Q(2009, 2), "member")],
    # Greece: out of the military structure 1974-08 to 1980-10
    "Greece": [(Q(1952, 1), "member"), (Q(1974, 3), "suspended"), (Q(1980, 4), "member")],
    "Turkey": [(Q(1952, 1), "member")],
    "West Germany / Germany": [(Q(1955, 2), "member")],
    "Spain": [(Q(1982, 2), "member")],
    "Poland": [(Q(1999, 1), "member")], "Czech Republic": [(Q(1999, 1), "member")],
    "Hungary": [(Q(1999, 1), "member")],
    **{s: [(Q(2004, 1), "member")] for s in ["Bulgaria", "Estonia", "Latvia", "Lithuania",
        "Romania", "Slovakia", "Slovenia"]},
    "Albania": [(Q(2009, 2), "member")], "Croatia": [(Q(2009, 2), "member")],
    "Montenegro": [(Q(2017, 2), "member")], "North Macedonia": [((2020, 1, 3), "member")],  # 2020-03: after the 2020-Q1 start
    "Finland": [(Q(2023, 2), "member")], "Sweden": [(Q(2024, 1), "member")],
  }, decision_groups={1965: "nato-1969-article13"}),
  "seato": dict(name="SEATO", patron="United States", first_window=1955, dissolved=Q(1977, 2), states={
    **{s: [(Q(1955, 1), "member")] for s in ["United Kingdom", "Australia", "New Zealand",
        "Philippines", "Thailand"]},
    # France: observer-only from the 1965 Council; budget and meetings stopped 1974
    "France": [(Q(1955, 1), "member"), (Q(1965, 2), "suspended")],
    "Pakistan": [(Q(1955, 1), "member"), (Q(1973, 4), "out")],
  }, decision_groups={1975: "seato-1977-dissolution"}),
  "cento": dict(name="CENTO / Baghdad Pact", patron="United Kingdom (United States associate)",
                first_window=1955, dissolved=Q(1979, 1), states={
    "Turkey": [(Q(1955, 1), "member")], "Iran": [(Q(1955, 1), "member"), (Q(1979, 1), "out")],
    "Pakistan": [(Q(1955, 1), "member"), (Q(1979, 1), "out")],
    "Iraq": [(Q(1955, 1), "member"), (Q(1959, 1), "out")],
  }, decision_groups={1975: "cento-1979-collapse"}),
  "anzus": dict(name="ANZUS", patron="United States", first_window=1955, dissolved=None, states={
    "Australia": [(Q(1955, 1), "member")],
    "New Zealand": [(Q(1955, 1), "member"), (Q(1986, 3), "suspended")],
  }, decision_groups={}),
  "rio": dict(name="Rio Treaty / TIAR", patron="United States", first_window=1950, dissolved=None, states={
    **{s: [(Q(1950, 1), "member")] for s in ["Argentina", "Brazil", "Chile", "Colombia",
        "Costa Rica", "Dominican Republic", "El Salvador", "Guatemala", "Haiti", "Honduras",
        "Panama", "Paraguay", "Peru", "Uruguay"]},
    # Cuba: government excluded from the inter-American system by the Rio Treaty organ, 1962-01
    "Cuba": [(Q(1950, 1), "member"), (Q(1962, 1), "suspended")],
    "Mexico": [(Q(1950, 1), "member"), (Q(2004, 3), "out")],
    "Bolivia": [(Q(1950, 1), "member"), (Q(2014, 2), "out")],
    "Ecuador": [(Q(1950, 1), "member"), (Q(2014, 1), "out")],
    "Nicaragua": [(Q(1950, 1), "member"), (Q(2014, 2), "out")],
    # Venezuela: left 2013; opposition-led assembly re-joined 2019-07 (contested)
    "Venezuela": [(Q(1950, 1), "member"), (Q(2013, 2), "out"), (Q(2019, 3), "member")],
    "Trinidad and Tobago": [(Q(1967, 1), "member")],
    "Bahamas": [(Q(1982, 1), "member")],
  }, decision_groups={1960: "rio-1962-punta-del-este", 1980: "rio-1982-falklands",
                      2015: "rio-2019-venezuela"}),
}

# Entry-risk eligibility for states that are "out" at a window start: the state (i) is at
# some time a member of this alliance, (ii) exists as a sovereign state at the window start,
# (iii) is not then a member of a rival patron-led bloc (Warsaw Pact for NATO; NATO for Warsaw).
EXISTS_FROM = {  # first quarter as a sovereign state (only where later than 1950)
  "Czech Republic": Q(1993, 1), "Slovakia": Q(1993, 1), "Estonia": Q(1991, 3), "Latvia": Q(1991, 3),
  "Lithuania": Q(1991, 3), "Slovenia": Q(1991, 2), "Croatia": Q(1991, 2),
  "North Macedonia": Q(1991, 3), "Montenegro": Q(2006, 2), "Trinidad and Tobago": Q(1962, 3),
  "Bahamas": Q(1973, 3), "West Germany / Germany": Q(1949, 2),
}
RIVAL_UNTIL = {  # in the Warsaw Pact until this quarter (so not at risk of NATO entry)
  "Poland": Q(1991, 3), "Hungary": Q(1991, 3), "Bulgaria": Q(1991, 3), "Romania": Q(1991, 3),
  "Albania": Q(1968, 3),
}
CODES = {}


def status_at(timeline, q):
    st = "out"
    for when, s in timeline:
        if when <= q:
            st = s
    return st


def code(state):
    c = "".join(ch for ch in state.lower() if ch.isalpha())
    special = {"westgermanygermany": "deu", "unitedkingdom": "gbr", "czechrepublic": "cze",
               "czechoslovakia": "csk", "eastgermany": "ddr", "newzealand": "nzl",
               "northmacedonia": "mkd", "trinidadandtobago": "tto", "dominicanrepublic": "dom",
               "elsalvador": "slv", "costarica": "cri", "montenegro": "mne", "slovakia": "svk",
               "slovenia": "svn", "austria": "aut", "australia": "aus", "albania": "alb",
               "argentina": "arg", "bahamas": "bhs", "bulgaria": "bgr", "belgium": "bel",
               "bolivia": "bol", "brazil": "bra", "canada": "can", "chile": "chl",
               "colombia": "col", "croatia": "hrv", "cuba": "cub", "denmark": "dnk",
               "ecuador": "ecu", "estonia": "est", "finland": "fin", "france": "fra",
               "greece": "grc", "guatemala": "gtm", "haiti": "hti", "honduras": "hnd",
               "hungary": "hun", "iceland": "isl", "iran": "irn", "iraq": "irq", "italy": "ita",
               "latvia": "lva", "lithuania": "ltu", "luxembourg": "lux", "mexico": "mex",
               "netherlands": "nld", "nicaragua": "nic", "norway": "nor", "pakistan": "pak",
               "panama": "pan", "paraguay": "pry", "peru": "per", "philippines": "phl",
               "poland": "pol", "portugal": "prt", "romania": "rou", "spain": "esp",
               "sweden": "swe", "thailand": "tha", "turkey": "tur", "uruguay": "ury",
               "venezuela": "ven"}
    return special[c]


def main():
    rows = []
    for akey, a in ALLIANCES.items():
        y = a["first_window"]
        while True:
            start, end = Q(y, 1), Q(y + 4, 4)
            if end > LAST_END or (a["dissolved"] and start >= a["dissolved"]):
                break
            for state, tl in a["states"].items():
                if state in CST:
                    continue
                st = status_at(tl, start)
                if st in ("dissolved", "gone"):
                    continue
                if st == "out":
                    if start < EXISTS_FROM.get(state, Q(1900, 1)):
                        continue
                    if akey == "nato" and start < RIVAL_UNTIL.get(state, Q(1900, 1)):
                        continue
                    risk = "entry"
                elif st == "suspended":
                    risk = "exit/entry"
                else:
                    risk = "exit/suspension"
                dg = a["decision_groups"].get(y, "") if st != "out" else ""
                rows.append(dict(case_id=f"{akey}-{code(state)}-{y}", alliance=a["name"],
                                 patron=a["patron"], state=state, window_start=f"{y}-Q1",
                                 window_end=f"{y + 4}-Q4", status_at_start=st, at_risk_of=risk,
                                 decision_group=dg))
            y += 5
    # Warsaw Pact: Albania after 1968 is also "out" and at risk of re-entry (handled above).
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ids = [r["case_id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate case_id"
    print(f"wrote {OUT}: {len(rows)} rows")
    from collections import Counter
    print(Counter((r["alliance"], r["status_at_start"]) for r in rows))


if __name__ == "__main__":
    main()
