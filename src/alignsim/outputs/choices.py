"""What the strategic powers chose: shares, entropy and the shift with the focal state's tilt.

Input: the tidy tables a strategic run writes (``choices.csv``: step, quarter, power, policy,
option, label, count, share; ``choices_by_tilt.csv``: power, policy, tilt_low, tilt_high, option,
label, count, share), summed over every replicate. Output: one row per (power, policy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OPTIONS = (-1, 0, 1)


def entropy_bits(counts: np.ndarray) -> float:
    """Entropy in bits of the shares ``counts / counts.sum()`` (three options: at most log2 3 = 1.585)."""
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum())


def _shares_text(frame: pd.DataFrame) -> str:
    c = frame.groupby("option")["count"].sum().reindex(OPTIONS, fill_value=0)
    labels = frame.drop_duplicates("option").set_index("option")["label"].reindex(OPTIONS)
    total = max(int(c.sum()), 1)
    return " / ".join(f"{labels[o]} {100.0 * c[o] / total:.0f}%" for o in OPTIONS)


def choice_summary(choices: pd.DataFrame, by_tilt: pd.DataFrame, min_share: float = 0.05) -> pd.DataFrame:
    """Per (power, policy): entropy of all its choices and of the first and last year's, the shares
    over all quarters, and the shares in the lowest and the highest tilt bin holding at least
    ``min_share`` of the choices (bins of width 0.2: the tails of the tilt as the powers saw it)."""
    rows = []
    choices = choices.assign(year=choices["quarter"].str[:4])
    years = sorted(choices["year"].unique())
    for (power, policy), g in choices.groupby(["power", "policy"], sort=False):
        t = by_tilt[(by_tilt["power"] == power) & (by_tilt["policy"] == policy)]
        per_bin = t.groupby("tilt_low")["count"].sum()
        kept = per_bin[per_bin >= min_share * per_bin.sum()].index
        lo, hi = (kept.min(), kept.max()) if len(kept) else (np.nan, np.nan)
        count = lambda f: f.groupby("option")["count"].sum().reindex(OPTIONS, fill_value=0).to_numpy()  # noqa: E731
        first, last = g[g["year"] == years[0]], g[g["year"] == years[-1]]
        row = {"power": power, "policy": policy,
               "entropy (bits)": entropy_bits(count(g)),
               f"entropy {years[0]}": entropy_bits(count(first)),
               f"entropy {years[-1]}": entropy_bits(count(last)),
               "all quarters": _shares_text(g),
               f"{years[0]}": _shares_text(first), f"{years[-1]}": _shares_text(last)}
        if len(kept):
            row["lowest tilt bin"] = f"[{lo:+.1f}, {lo + 0.2:+.1f}): " + _shares_text(t[t["tilt_low"] == lo])
            row["highest tilt bin"] = f"[{hi:+.1f}, {hi + 0.2:+.1f}): " + _shares_text(t[t["tilt_low"] == hi])
        rows.append(row)
    return pd.DataFrame(rows)
