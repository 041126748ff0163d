"""Matplotlib figures of a run: cumulative probability, driver contributions, dU fan chart.

Every figure is a ``matplotlib.figure.Figure`` made by ``new_figure`` (no pyplot, no global
backend: importing alignsim leaves a notebook's backend alone) and written by ``save_png``,
which renders every label as plain text: mathtext is off for the figure's texts and for the
tick labels made while drawing, so an actor or driver name such as ``$\\undefinedmacro{$``
is drawn as written instead of failing.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplots) -> tuple[Figure, object]:
    """A new ``Figure`` of ``figsize`` inches and its axes (``Figure.subplots(nrows, ncols, **subplots)``)."""
    with matplotlib.rc_context(PLAIN_TEXT):
        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **subplots)


def plain_text(fig: Figure) -> Figure:
    """Turn mathtext off for every text already in ``fig`` (titles, labels, legends, tick labels)."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
    return fig


def save_png(fig: Figure, target: str | Path | IO[bytes], dpi: int = 110) -> None:
    """Write ``fig`` as PNG to a path or a binary file, every label as plain text."""
    plain_text(fig)
    with matplotlib.rc_context(PLAIN_TEXT):  # tick labels made while drawing read the rc
        fig.savefig(target, format="png", dpi=dpi, bbox_inches="tight")


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """``fig`` as PNG bytes (``save_png``)."""
    buf = io.BytesIO()
    save_png(fig, buf, dpi)
    return buf.getvalue()


def _quarter_x(quarters: pd.Series) -> np.ndarray:
    """Quarter labels "YYYY-Qn" as decimal years at the quarter's end."""
    parts = quarters.str.split("-Q", expand=True).astype(int)
    return (parts[0] + parts[1] / 4.0).to_numpy()


def cumulative_figure(cum: pd.DataFrame, year_ends: pd.DataFrame, title: str, event: str,
                      color: str = "#d95f02"):
    """Cumulative P(event) by quarter with its Monte Carlo band and year-end epistemic ranges.

    ``color``: the focal actor's colour (see ``actor_colors``)."""
    fig, ax = new_figure((8, 4.5))
    x = _quarter_x(cum["quarter"])
    ax.fill_between(x, cum["ci_low"], cum["ci_high"], alpha=0.35, color=color,
                    label="Monte Carlo 95% interval (cluster-robust Wilson)")
    ax.plot(x, cum["estimate"], color=color, lw=2, label="probability (all draws)")
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


def contributions_figure(contrib: pd.DataFrame, directions: dict[str, str], title: str,
                         colors: dict[str, str] | None = None):
    """Mean contribution of each driver to dU over time (logit units).

    ``colors``: a colour per driver (``driver_colors``: shades of the actor it is attributed
    to); solid lines push toward membership, dashed lines away."""
    fig, ax = new_figure((9, 5))
    fallback = matplotlib.colormaps["tab20"]
    for i, (name, direction) in enumerate(directions.items()):
        sub = contrib[contrib["driver"] == name]
        color = colors[name] if colors else fallback(i % 20)
        ax.plot(_quarter_x(sub["quarter"]), sub["contribution"], color=color, lw=1.6,
                ls="-" if direction == "toward" else "--", label=f"{name} ({direction})")
    for name, style in (("barrier", dict(color="black", ls=":")), ("dU (total)", dict(color="black", lw=2.5))):
        sub = contrib[contrib["driver"] == name]
        ax.plot(_quarter_x(sub["quarter"]), sub["contribution"], label=name, **style)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel("mean contribution to dU (logit units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5),
              title="colour: actor; solid: toward membership, dashed: away", title_fontsize=7)
    return fig


def gap_fan_figure(quantiles: pd.DataFrame, title: str, color: str = "#7570b3"):
    """Fan chart of the utility gap dU (quantiles from fixed-bin histograms).

    ``color``: the focal actor's colour (see ``actor_colors``)."""
    fig, ax = new_figure((8, 4.5))
    x = _quarter_x(quantiles["quarter"])
    ax.fill_between(x, quantiles["q05"], quantiles["q95"], color=color, alpha=0.25, label="5th-95th percentile")
    ax.fill_between(x, quantiles["q25"], quantiles["q75"], color=color, alpha=0.45, label="25th-75th percentile")
    ax.plot(x, quantiles["q50"], color=color, lw=2.5, label="median")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel("utility gap dU (logit units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- actors' colours (issue 7)


def driver_colors(scenario) -> dict[str, str]:
    """A colour per driver: shades (darker to lighter) of the colour of the actor it is attributed to."""
    from matplotlib.colors import to_hex, to_rgb

    base = actor_colors(scenario)
    owners = driver_actors(scenario)
    out: dict[str, str] = {}
    for actor in base:
        names = [d for d, a in owners.items() if a == actor]
        for i, name in enumerate(names):
            mix = -0.35 + 0.8 * i / max(len(names) - 1, 1) if len(names) > 1 else 0.0
            rgb = np.array(to_rgb(base[actor]))
            shade = rgb * (1 + mix) if mix < 0 else rgb + (1 - rgb) * mix
            out[name] = to_hex(np.clip(shade, 0, 1))
    return out


FALLBACK_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def actor_colors(scenario) -> dict[str, str]:
    """One colour per actor id: the actor's ``color`` in the config, else a fixed palette by order."""
    out: dict[str, str] = {}
    for i, (key, actor) in enumerate(scenario.actors.items()):
        out[key] = actor.color or FALLBACK_COLORS[i % len(FALLBACK_COLORS)]
    return out


def driver_actors(scenario) -> dict[str, str]:
    """The actor each driver is attributed to: the first power whose policy feeds it
    (an ``inputs`` reference ``policies.<actor>.*``), else the focal state."""
    out: dict[str, str] = {}
    for name, drv in scenario.drivers.items():
        owners = [ref.split(".")[1] for ref in drv.inputs if ref.startswith("policies.")]
        out[name] = owners[0] if owners else scenario.focal
    return out


def driver_balance_figure(contrib: pd.DataFrame, scenario, periods: int = 3):
    """Mean contribution of each driver to dU in successive periods of the horizon.

    ``contrib``: long table (quarter, driver, contribution) as ``estimates.contributions``;
    one panel per period (the horizon's quarters split into ``periods`` near-equal parts);
    bars right of zero push toward membership, left away; bar colour = the driver's actor
    (``driver_actors``), so the colours match every other figure.
    """
    colors = actor_colors(scenario)
    owner = driver_actors(scenario)
    drivers = [d for d in scenario.drivers if d in set(contrib["driver"])]
    quarters = list(dict.fromkeys(contrib["quarter"]))
    chunks = [c for c in np.array_split(np.array(quarters), min(periods, len(quarters))) if len(c)]
    wide = contrib[contrib["driver"].isin(drivers)].pivot(index="quarter", columns="driver", values="contribution")
    order = wide.mean().reindex(drivers).sort_values().index.tolist()
    lim = float(np.abs(wide.to_numpy()).max()) * 1.1 if wide.size else 1.0
    fig, axes = new_figure((3.2 * len(chunks) + 2.2, 0.32 * len(order) + 1.8), 1, len(chunks),
                           sharey=True, squeeze=False)
    for ax, chunk in zip(axes[0], chunks):
        means = wide.loc[list(chunk)].mean().reindex(order)
        ax.barh(range(len(order)), means.to_numpy(), color=[colors[owner[d]] for d in order])
        ax.axvline(0, color="grey", lw=0.8)
        ax.set_xlim(-lim, lim)
        ax.set_title(f"{chunk[0]} to {chunk[-1]}", fontsize=9)
        ax.set_xlabel("mean contribution to dU\n(logit units; < 0 away, > 0 toward)", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(order)))
    axes[0][0].set_yticklabels(order, fontsize=8)
    used = list(dict.fromkeys(owner[d] for d in order))
    handles = [Rectangle((0, 0), 1, 1, color=colors[a]) for a in used]
    fig.legend(handles, [scenario.actors[a].name for a in used], title="driver attributed to",
               loc="lower center", ncol=len(used), fontsize=8, title_fontsize=8, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Which drivers push toward and away from membership, by period of the horizon")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def choice_shares_figure(choices: pd.DataFrame, colors: dict[str, str], title: str):
    """One panel per (power, policy): the shares of retreat / hold / expand by quarter (stacked),
    from the tidy ``choices`` table (quarter, power, policy, option, label, share); ``colors`` by power."""
    policies = list(dict.fromkeys(zip(choices["power"], choices["policy"])))
    fig, axes = new_figure((9.0, 1.9 * len(policies) + 0.6), nrows=len(policies), ncols=1, sharex=True, squeeze=False)
    shades = {-1: 0.35, 0: 0.12, 1: 0.85}
    for ax, (power, policy) in zip(axes[:, 0], policies):
        g = choices[(choices["power"] == power) & (choices["policy"] == policy)]
        wide = g.pivot(index="quarter", columns="option", values="share").reindex(columns=[-1, 0, 1], fill_value=0.0)
        labels = g.drop_duplicates("option").set_index("option")["label"]
        x = _quarter_x(pd.Series(wide.index))
        ax.stackplot(x, *(wide[o].to_numpy() for o in (-1, 0, 1)),
                     labels=[str(labels.get(o, o)) for o in (-1, 0, 1)],
                     colors=[colors.get(power, "#555555")] * 3, alpha=1.0)
        for poly, o in zip(ax.collections, (-1, 0, 1)):
            poly.set_alpha(shades[o])
        ax.axhline(1 / 3, color="k", lw=0.6, ls=":")
        ax.axhline(2 / 3, color="k", lw=0.6, ls=":")
        ax.set_ylim(0, 1)
        ax.set_ylabel("share")
        ax.set_title(f"{power}: {policy}", fontsize=9, loc="left")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("quarter (end)")
    fig.suptitle(title, fontsize=10)
    return fig
