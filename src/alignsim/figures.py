"""Matplotlib figures of a run: cumulative probability, driver contributions, dU fan chart."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DIRECTION_COLORS = {"toward": plt.get_cmap("Oranges"), "away": plt.get_cmap("Blues")}


def _quarter_x(quarters: pd.Series) -> np.ndarray:
    """Quarter labels "YYYY-Qn" as decimal years at the quarter's end."""
    parts = quarters.str.split("-Q", expand=True).astype(int)
    return (parts[0] + parts[1] / 4.0).to_numpy()


def cumulative_figure(cum: pd.DataFrame, year_ends: pd.DataFrame, title: str, event: str):
    """Cumulative P(event) by quarter with its Monte Carlo band and year-end epistemic ranges."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = _quarter_x(cum["quarter"])
    ax.fill_between(x, cum["ci_low"], cum["ci_high"], alpha=0.35, color="#d95f02",
                    label="Monte Carlo 95% interval (Wilson)")
    ax.plot(x, cum["estimate"], color="#d95f02", lw=2, label="probability (all draws)")
    xe = _quarter_x(year_ends["quarter"])
    ax.vlines(xe, year_ends["epistemic_low"], year_ends["epistemic_high"], color="#444444", lw=1.5,
              label="epistemic range (5th-95th pct. across parameter draws)")
    ax.plot(xe, year_ends["estimate"], "o", ms=3, color="#444444")
    ax.set_title(title)
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel(f"P({event} by date)")
    ax.set_ylim(0, max(0.05, float(year_ends["epistemic_high"].max()) * 1.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return fig


def contributions_figure(contrib: pd.DataFrame, directions: dict[str, str], title: str):
    """Mean contribution of each driver to dU over time (logit units)."""
    fig, ax = plt.subplots(figsize=(9, 5))
    toward = [d for d, v in directions.items() if v == "toward"]
    away = [d for d, v in directions.items() if v == "away"]
    for group, cmap in ((toward, DIRECTION_COLORS["toward"]), (away, DIRECTION_COLORS["away"])):
        for i, name in enumerate(group):
            sub = contrib[contrib["driver"] == name]
            color = cmap(0.35 + 0.6 * (i + 1) / (len(group) + 1))
            ax.plot(_quarter_x(sub["quarter"]), sub["contribution"], color=color, lw=1.5, label=name)
    for name, style in (("barrier", dict(color="black", ls="--")), ("dU (total)", dict(color="black", lw=2.5))):
        sub = contrib[contrib["driver"] == name]
        ax.plot(_quarter_x(sub["quarter"]), sub["contribution"], label=name, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel("mean contribution to dU (logit units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5),
              title="orange: toward membership, blue: away", title_fontsize=7)
    return fig


def gap_fan_figure(quantiles: pd.DataFrame, title: str):
    """Fan chart of the utility gap dU (quantiles from fixed-bin histograms)."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = _quarter_x(quantiles["quarter"])
    ax.fill_between(x, quantiles["q05"], quantiles["q95"], color="#7570b3", alpha=0.25, label="5th-95th percentile")
    ax.fill_between(x, quantiles["q25"], quantiles["q75"], color="#7570b3", alpha=0.45, label="25th-75th percentile")
    ax.plot(x, quantiles["q50"], color="#3b3590", lw=2, label="median")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel("utility gap dU (logit units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
