"""Code outcomes for EVERY row of config/panel/case-list.csv -> config/panel/outcomes.csv.
Written after the list and the draw were committed. Stdlib only.

An event counts for a row if its state and alliance match and its quarter lies inside the
row's window. If several fall in one window the first is coded and the rest go to `note`.
`kind` separates unilateral acts from collective dissolution (an alliance ending).
Sources: seeds/notes/panel/alliances.md (all stored pages, accessed 2026-11-28).

Run from the repository root:  python experiments/panel/code_outcomes.py
"""
import csv
from pathlib import Path

LIST = Path("config/panel/case-list.csv")
OUT = Path("config/panel/outcomes.csv")

W_BLOG = "https://www.blogen.wiki/blog/no/Warszawapakten"
W_PIG = "http://piglix.com/piglix/The_Warsaw_Pact"
W_JAZ = "https://al-jazirah.com/2004/20040912/xh3.htm"
N_LIST = "https://billcolitsas74.blogspot.com/2011/11/member-states-of-nato.html"
N_RU = "http://spravo4niki.com/skolko.php?id=23"
N_EATA = "https://www.eata.ee/en/nato/nato-member-countries/"
N_GU = "https://interactive.guim.co.uk/uploader/embed/2024/03/sweden-joinsnatomap/giv-1342593NoTD86WMqC"
S_GIZ = "https://gizmo.ai/community/deck/2869251"
S_CAM = "https://homsy-staging.cambridgecore.org/core/journals/international-organization/article/abs/southeast-asia-treaty-organization/175D943647A2845FD4DB5DEBB6F3F07B"
S_WL74 = "https://search.wikileaks.org/plusd/cables/1974BANGKO12583_b.html"
S_ASK = "https://askvity.info/international-relations/why-did-pakistan-leave-seato"
S_RES = "https://discovery.researcher.life/article/southeast-asia-treaty-organization/85d8398feaa73897a25724a970dd7b17"
C_WIKI = "https://en.m.wiki.x.io/wiki/Baghdad_Pact"
C_WHO = "https://who-knows.imtqy.com/articles/G9273/index.html"
C_PAK = "http://www.indian24news.com/opinion/forty-years-ago-march-13-1979-pakistan-quits-cento/515616-news"
C_SUM = "https://wikisum.wiki/wiki/Central_Treaty_Organization"
A_ENC = "https://encyclopediahub.com/ar724180"
A_ADST = "https://adst.org/2015/06/no-nukes-for-new-zealand-breakdown-of-the-anzus-treaty/"
A_GUB = "https://wiki.gubat.org/content/wikipedia_en_all_maxi_2024-01/A/ANZUS_treaty"
R_BLOG = "https://wwdeux.blogspot.com/2019/12/47-9-2-rio-treaty.html"
R_CAR = "https://thecaravelgu.com/blog/2019/10/4/us-leads-latin-american-countries-in-invoking-rarely-used-rio-treaty"
R_TT = "https://www.sunshinetodaytt.com/ties-that-bind-tts-breach-of-the-rio-treaty-is-unacceptable/"
R_PDE = "http://avalon.law.yale.edu/20th_century/intam17.asp ; https://kudo.tips/porque-fue-excluida-cuba-de-la-oea.html"
R_ALBA = "https://townhall.com/news/world/2012/06/05/4-latin-america-nations-pull-out-of-defense-treaty-n1183386 ; https://venezuelanalysis.com/news/7041/"
R_VEN19 = "https://www.ruptly.tv/en/videos/20190723-051 ; https://dialogo-americas.com/articles/venezuelan-interim-government-requests-the-activation-of-the-inter-american-treaty-of-reciprocal-assistance-tiar/"
R_URY = "https://diariocolatino.com/uruguay-se-va-de-pacto-de-defensa-tiar-activado-por-crisis-de-venezuela ; https://www.hoybolivia.com/Noticia.php?IdNoticia=302910"

BASE = {"Warsaw Pact": W_PIG, "NATO": N_LIST, "SEATO": S_GIZ, "CENTO / Baghdad Pact": C_WIKI,
        "ANZUS": A_GUB, "Rio Treaty / TIAR": R_CAR}

# (alliance, state, quarter, event, kind, sources, note)
EVENTS = [
  ("Warsaw Pact", "Hungary", "1956-Q4", "exit", "unilateral", W_BLOG, "Nagy declared withdrawal 1956-11; reversed by Soviet invasion within days"),
  ("Warsaw Pact", "Albania", "1961-Q4", "freeze", "unilateral", W_BLOG, "stopped taking part from 1961 (quarter approximate)"),
  ("Warsaw Pact", "Albania", "1968-Q3", "exit", "unilateral", f"{W_BLOG} ; {W_JAZ}", "formal withdrawal 1968-09-13"),
  ("Warsaw Pact", "East Germany", "1990-Q3", "exit", "unilateral", W_BLOG, "left 1990-09 before unification"),
  *[("Warsaw Pact", s, "1991-Q3", "exit", "dissolution", f"{W_PIG} ; {W_JAZ}", "pact dissolved 1991-07-01")
    for s in ["Poland", "Czechoslovakia", "Hungary", "Romania", "Bulgaria"]],
  ("NATO", "Greece", "1952-Q1", "entry", "accession", N_RU, "joined 1952-02-18"),
  ("NATO", "Turkey", "1952-Q1", "entry", "accession", N_RU, "joined 1952-02-18"),
  ("NATO", "West Germany / Germany", "1955-Q2", "entry", "accession", N_RU, "joined 1955-05-09"),
  ("NATO", "France", "1966-Q1", "freeze", "unilateral", N_LIST, "left integrated military command 1966 (quarter approximate)"),
  ("NATO", "Greece", "1974-Q3", "freeze", "unilateral", N_LIST, "forces out of the military command 1974 after Cyprus"),
  ("NATO", "Greece", "1980-Q4", "entry", "return", N_LIST, "returned to the military command 1980 (quarter unsourced)"),
  ("NATO", "Spain", "1982-Q2", "entry", "accession", N_RU, "joined 1982-05-30"),
  *[("NATO", s, "1999-Q1", "entry", "accession", N_RU, "joined 1999-03-12") for s in ["Poland", "Czech Republic", "Hungary"]],
  *[("NATO", s, "2004-Q1", "entry", "accession", N_RU, "joined 2004-03-29")
    for s in ["Bulgaria", "Estonia", "Latvia", "Lithuania", "Romania", "Slovakia", "Slovenia"]],
  ("NATO", "France", "2009-Q2", "entry", "return", N_EATA, "rejoined the military command 2009"),
  ("NATO", "Albania", "2009-Q2", "entry", "accession", N_EATA, "joined 2009-04"),
  ("NATO", "Croatia", "2009-Q2", "entry", "accession", N_EATA, "joined 2009-04"),
  ("NATO", "Montenegro", "2017-Q2", "entry", "accession", N_EATA, "joined 2017"),
  ("NATO", "North Macedonia", "2020-Q1", "entry", "accession", N_EATA, "joined 2020 (quarter from memory: unsourced)"),
  ("NATO", "Finland", "2023-Q2", "entry", "accession", N_EATA, "joined 2023 (quarter from memory: unsourced)"),
  ("NATO", "Sweden", "2024-Q1", "entry", "accession", N_GU, "joined 2024-03"),
  ("SEATO", "France", "1965-Q2", "freeze", "unilateral", f"{S_CAM} ; https://paperspast.natlib.govt.nz/newspapers/CHP19650503.2.112", "no delegation to the 1965-05 Council, observer only"),
  ("SEATO", "France", "1974-Q3", "freeze", "unilateral", S_WL74, "deepening: no budget after 1974-06-30, no more meetings; treaty not renounced"),
  ("SEATO", "Pakistan", "1972-Q4", "exit", "unilateral", f"{S_GIZ} ; {S_ASK}", "withdrawal declared 1972 after the 1971 war; formal 1973-11-08"),
  *[("SEATO", s, "1977-Q2", "exit", "dissolution", f"{S_GIZ} ; {S_RES}", "phase-out agreed 1975-09; dissolved 1977-06-30")
    for s in ["United Kingdom", "Australia", "New Zealand", "Philippines", "Thailand", "France"]],
  ("CENTO / Baghdad Pact", "Iraq", "1959-Q1", "exit", "unilateral", f"{C_WHO} ; {C_WIKI}", "Qasim government withdrew, 1959-03"),
  ("CENTO / Baghdad Pact", "Iran", "1979-Q1", "exit", "unilateral", f"{C_SUM} ; https://bitlanders.com/blogs/central-treaty-organization-cento/256087", "left after the revolution"),
  ("CENTO / Baghdad Pact", "Pakistan", "1979-Q1", "exit", "unilateral", C_PAK, "quit 1979-03-12"),
  ("CENTO / Baghdad Pact", "Turkey", "1979-Q1", "exit", "dissolution", C_SUM, "dissolution called 1979-03-16 after Iran and Pakistan left"),
  ("ANZUS", "New Zealand", "1986-Q3", "suspension", "patron", A_ADST, "US suspended its obligations 1986-09-17 (nuclear-ship ban)"),
  ("Rio Treaty / TIAR", "Cuba", "1962-Q1", "suspension", "collective", R_PDE, "government excluded from the inter-American system, 1962-01-31"),
  ("Rio Treaty / TIAR", "Trinidad and Tobago", "1967-Q1", "entry", "accession", R_TT, "joined 1967 (quarter unsourced)"),
  ("Rio Treaty / TIAR", "Bahamas", "1982-Q1", "entry", "accession", R_TT, "joined 1982 (quarter unsourced)"),
  ("Rio Treaty / TIAR", "Mexico", "2002-Q3", "exit", "unilateral", R_BLOG, "denounced 2002-09; out 2004-09"),
  *[("Rio Treaty / TIAR", s, "2012-Q2", "exit", "unilateral", R_ALBA, "ALBA joint announcement of denunciation 2012-06-05")
    for s in ["Bolivia", "Ecuador", "Nicaragua", "Venezuela"]],
  ("Rio Treaty / TIAR", "Venezuela", "2019-Q3", "entry", "return", R_VEN19, "opposition-led National Assembly voted return 2019-07-23; contested"),
  ("Rio Treaty / TIAR", "Uruguay", "2019-Q3", "exit", "unilateral", R_URY, "denunciation announced 2019-09-24; whether it took effect not checked"),
]


def qnum(s):
    y, q = s.split("-Q")
    return int(y) * 4 + int(q) - 1


def main():
    rows = list(csv.DictReader(LIST.open()))
    out = []
    for r in rows:
        lo, hi = qnum(r["window_start"]), qnum(r["window_end"])
        hits = sorted((e for e in EVENTS if e[0] == r["alliance"] and e[1] == r["state"]
                       and lo <= qnum(e[2]) <= hi), key=lambda e: qnum(e[2]))
        if hits:
            e = hits[0]
            note = e[6] + "".join(f" | later in window: {h[3]} {h[2]} ({h[6]})" for h in hits[1:])
            out.append(dict(case_id=r["case_id"], event=e[3], date=e[2], source=e[5], kind=e[4], note=note))
        else:
            out.append(dict(case_id=r["case_id"], event="none", date="", source=BASE[r["alliance"]],
                            kind="", note="no event found in the window"))
    with OUT.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0]))
        w.writeheader()
        w.writerows(out)
    coded = sum(o["event"] != "none" for o in out)
    print(f"wrote {OUT}: {len(out)} rows, {coded} with an event; {len(EVENTS)} events in table")


if __name__ == "__main__":
    main()
