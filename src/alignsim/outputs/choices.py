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


def tail_bins(per_bin: pd.Series, share: float = 0.1) -> tuple[list[float], list[float]]:
    """The fixed tilt bins (by lower edge) making up about the lowest and the highest ``share``
    of the choices: bins are added from each end until they hold at least ``share`` of them."""
    total = per_bin.sum()
    low_end = per_bin.index[np.searchsorted(per_bin.cumsum().to_numpy(), share * total)]
    high_end = per_bin.index[::-1][np.searchsorted(per_bin[::-1].cumsum().to_numpy(), share * total)]
    return [b for b in per_bin.index if b <= low_end], [b for b in per_bin.index if b >= high_end]


def choice_summary(choices: pd.DataFrame, by_tilt: pd.DataFrame) -> pd.DataFrame:
    """Per (power, policy): entropy of all its choices and of the first and last year's, the shares
    over all quarters, and the shares in about the lowest and the highest decile of the focal
    state's tilt as the powers saw it (``tail_bins`` over the fixed bins of ``choices_by_tilt``)."""
    rows = []
    choices = choices.assign(year=choices["quarter"].str[:4])
    years = sorted(choices["year"].unique())
    for (power, policy), g in choices.groupby(["power", "policy"], sort=False):
        t = by_tilt[(by_tilt["power"] == power) & (by_tilt["policy"] == policy)]
        per_bin = t.groupby("tilt_low")["count"].sum().sort_index()
        width = float(t["tilt_high"].iloc[0] - t["tilt_low"].iloc[0])
        low, high = tail_bins(per_bin)
        count = lambda f: f.groupby("option")["count"].sum().reindex(OPTIONS, fill_value=0).to_numpy()  # noqa: E731
        first, last = g[g["year"] == years[0]], g[g["year"] == years[-1]]
        total = per_bin.sum()
        rows.append({"power": power, "policy": policy,
                     "entropy (bits)": entropy_bits(count(g)),
                     f"entropy {years[0]}": entropy_bits(count(first)),
                     f"entropy {years[-1]}": entropy_bits(count(last)),
                     "all quarters": _shares_text(g),
                     f"{years[0]}": _shares_text(first), f"{years[-1]}": _shares_text(last),
                     "lowest tilt decile": f"tilt < {max(low) + width:+.2f} ({100 * per_bin[low].sum() / total:.0f}%): "
                                           + _shares_text(t[t["tilt_low"].isin(low)]),
                     "highest tilt decile": f"tilt >= {min(high):+.2f} ({100 * per_bin[high].sum() / total:.0f}%): "
                                            + _shares_text(t[t["tilt_low"].isin(high)])})
    return pd.DataFrame(rows)
