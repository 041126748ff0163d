"""Second, pre-declared draw: add cases to the panel from the rows of
config/panel/case-list.csv that the first draw (panel.csv) did not take (stdlib only).

Rule (config/panel/SELECTION.md, "Second draw"): stratified by the status at the window start
and by whether a shared decision point is scheduled in the window (the list's decision_group);
STRATA gives the number drawn from each stratum; within a stratum a simple random sample
without replacement from the case_ids sorted alphabetically, strata taken in the order of
STRATA, with random.Random(SEED). Reads only case-list.csv and panel.csv (no outcome).

Run from the repository root:  python experiments/panel/draw_panel2.py
"""
import csv
import random
from pathlib import Path

SEED = 20261130
# (status at start, decision point scheduled in the window) -> number drawn
STRATA = {("out", False): 12, ("suspended", False): 6, ("member", True): 7, ("member", False): 7}
LIST = Path("config/panel/case-list.csv")
FIRST = Path("config/panel/panel.csv")
OUT = Path("config/panel/panel2.csv")


def main() -> None:
    rows = list(csv.DictReader(LIST.open()))
    taken = {r["case_id"] for r in csv.DictReader(FIRST.open())}
    pool = [r for r in rows if r["case_id"] not in taken]
    rng = random.Random(SEED)
    drawn = []
    for (status, scheduled), n in STRATA.items():
        stratum = sorted((r for r in pool if r["status_at_start"] == status
                          and bool(r["decision_group"]) == scheduled), key=lambda r: r["case_id"])
        drawn += rng.sample(stratum, n)
        print(f"  {status:9s} decision point {'yes' if scheduled else 'no '}: {n} of {len(stratum)}")
    drawn.sort(key=lambda r: r["case_id"])
    cols = ["case_id", "alliance", "state", "window_start", "window_end", "status_at_start",
            "at_risk_of", "decision_group"]
    with OUT.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["draw_seed"])
        for r in drawn:
            w.writerow([r[c] for c in cols] + [SEED])
    print(f"seed {SEED}; pool {len(pool)} rows (list {len(rows)} minus {len(taken)} drawn); "
          f"second draw {len(drawn)} cases -> {OUT}")


if __name__ == "__main__":
    main()
