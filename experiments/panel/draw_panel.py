"""Draw the out-of-sample panel from config/panel/case-list.csv (stdlib only).

Rule (see config/panel/SELECTION.md): stratified by alliance; every alliance gets a floor
of FLOOR cases, the remaining N_PANEL - 6*FLOOR are allocated in proportion to the number
of listed rows (largest-remainder rounding); within an alliance a simple random sample
without replacement is drawn from the case_ids sorted alphabetically, using
random.Random(SEED). The draw reads no outcome: case-list.csv holds none.

Run from the repository root:  python experiments/panel/draw_panel.py
"""
import csv
import random
from collections import defaultdict
from pathlib import Path

SEED = 20261128
N_PANEL = 48
FLOOR = 6
LIST = Path("config/panel/case-list.csv")
OUT = Path("config/panel/panel.csv")


def allocate(sizes, n, floor):
    alloc = {a: min(floor, s) for a, s in sizes.items()}
    rest = n - sum(alloc.values())
    total = sum(sizes.values())
    quota = {a: rest * s / total for a, s in sizes.items()}
    for a in sizes:
        alloc[a] += int(quota[a])
    left = n - sum(alloc.values())
    for a in sorted(sizes, key=lambda a: (-(quota[a] - int(quota[a])), a))[:left]:
        alloc[a] += 1
    return alloc


def main():
    rows = list(csv.DictReader(LIST.open()))
    by = defaultdict(list)
    for r in rows:
        by[r["alliance"]].append(r)
    alloc = allocate({a: len(v) for a, v in by.items()}, N_PANEL, FLOOR)
    rng = random.Random(SEED)
    drawn = []
    for a in sorted(by):  # fixed order so the seed reproduces the draw
        pool = sorted(by[a], key=lambda r: r["case_id"])
        drawn += rng.sample(pool, alloc[a])
    drawn.sort(key=lambda r: r["case_id"])
    cols = ["case_id", "alliance", "state", "window_start", "window_end", "status_at_start",
            "at_risk_of", "decision_group"]
    with OUT.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["draw_seed"])
        for r in drawn:
            w.writerow([r[c] for c in cols] + [SEED])
    print(f"seed {SEED}; list {len(rows)} rows; panel {len(drawn)} cases -> {OUT}")
    for a in sorted(by):
        print(f"  {a}: {alloc[a]} of {len(by[a])}")


if __name__ == "__main__":
    main()
