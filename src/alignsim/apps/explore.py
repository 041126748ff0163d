"""One trajectory to explore: a batch of one with weights set by hand, for a Mesa SolaraViz page.

``ExploreModel`` is the ordinary ``AlignmentModel`` over one replicate whose parameters are the
priors' medians (``priors.point_params``), except the driver weights and the join intercept (and,
for a scenario with strategic powers, the powers' utility weights ``u_<actor>_<term>``), which
come from keyword arguments (the page's sliders). It records every agent's state each quarter
in ``history`` (a tidy table: step, quarter, actor, series, value). ``gap_figure`` and
``states_figure`` draw that history; the page (``explore_app.py``) shows them and also serves
them as PNG at ``/alignsim/gap.png`` and ``/alignsim/states.png`` (query string = slider values).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd

from alignsim.outputs import figures
from alignsim.errors import ConfigError
from alignsim.outputs.figures import new_figure
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import point_params
from alignsim.scenario import Scenario, load_scenario

DEFAULT_CONFIG = "config/base.yaml"
LINESTYLES = ("-", "--", ":", "-.")


def config_path() -> str:
    """The scenario the page explores: ``$ALIGNSIM_CONFIG``, else config/base.yaml (from the cwd)."""
    return os.environ.get("ALIGNSIM_CONFIG", DEFAULT_CONFIG)


@functools.lru_cache(maxsize=8)
def cached_scenario(path: str) -> Scenario:
    return load_scenario(path)


def slider_name(path: str) -> str:
    """Keyword for a prior path: ``drivers.us_investment.weight`` -> ``w_us_investment``."""
    if path.startswith("drivers.") and path.endswith(".weight"):
        return "w_" + path.split(".")[1]
    if path.startswith("powers.actors.") and path.endswith(".weight"):  # a power's utility weight
        parts = path.split(".")
        return f"u_{parts[2]}_{parts[4]}"
    return path.replace(".", "__")


def slider_specs(scenario: Scenario) -> dict[str, dict]:
    """The page's sliders: each driver weight and the join intercept (and, with strategic powers,
    each power's utility weights), over its prior's support, starting at its median. Keys are
    keyword names; values are Mesa ``SliderFloat`` specs."""
    med = point_params(scenario, 1).iloc[0]
    specs = {}
    paths = [f"drivers.{k}.weight" for k in scenario.drivers] + ["decision.join_intercept"]
    priors = {f"drivers.{k}.weight": d.weight for k, d in scenario.drivers.items()}
    priors["decision.join_intercept"] = scenario.decision.join_intercept
    if scenario.powers.model == "strategic":
        for actor, strat in scenario.powers.actors.items():
            for name, term in strat.utility.items():
                path = f"powers.actors.{actor}.utility.{name}.weight"
                paths.append(path)
                priors[path] = term.weight
    for path in paths:
        lo, hi = priors[path].support()
        if lo == hi:
            lo, hi = lo - 1.0, hi + 1.0
        unit = "utility units" if path.startswith("powers.") else "logit units"
        if path.startswith("drivers.") and scenario.drivers[path.split(".")[1]].family:
            unit = f"share of {scenario.drivers[path.split('.')[1]].family}'s weight"
        specs[slider_name(path)] = {"type": "SliderFloat", "value": round(float(med[path]), 3),
                                    "label": f"{path} ({unit})", "min": float(lo), "max": float(hi),
                                    "step": round((hi - lo) / 50, 4), "path": path}
    return specs


class ExploreModel(AlignmentModel):
    """A batch of one replicate of a scenario, stepped quarter by quarter.

    Args:
        config: scenario file.
        seed: master seed for the shocks and decisions.
        **kwargs: slider values by keyword (``slider_specs``); unknown names are a ConfigError.
            (Named ``kwargs`` because Mesa 3.3's SolaraViz accepts any slider only when the model's
            ``__init__`` has a var-keyword parameter of exactly that name; any other name makes
            the page fail with "Missing required model parameter".)
    """

    def __init__(self, config: str | None = None, seed: int = 0, **kwargs: float) -> None:
        scenario = cached_scenario(str(config or config_path()))
        specs = slider_specs(scenario)
        params = point_params(scenario, 1)
        for key, value in kwargs.items():
            if key not in specs:
                raise ConfigError(key, value, f"one of the sliders {sorted(specs)}")
            params[specs[key]["path"]] = float(value)
        super().__init__(scenario, params, int(seed))
        self.history_rows: list[pd.DataFrame] = [self._record()]

    def _record(self) -> pd.DataFrame:
        """This quarter's values: every variable under its actor, plus dU and membership."""
        s = self.scenario
        step = self.steps
        quarter = str(self.axis.quarter_of(step)) if step else f"start {s.start}"
        rows = []
        for agent in self.agents:
            for var in agent.variables:
                rows.append((agent.actor_id, var.ref, float(var.value[0])))
        f = self.focal
        rows += [(s.focal, "gap", float(f.gap[0])), (s.focal, "pull", float(f.pull[0])),
                 (s.focal, "member", float(f.member[0]))]
        frame = pd.DataFrame(rows, columns=["actor", "series", "value"])
        frame.insert(0, "quarter", quarter)
        frame.insert(0, "step", step)
        return frame

    def step(self) -> None:
        super().step()
        self.history_rows.append(self._record())
        if self.steps >= self.axis.n_steps:
            self.running = False

    @property
    def history(self) -> pd.DataFrame:
        """Tidy table: step (0 = initial state), quarter, actor, series, value."""
        return pd.concat(self.history_rows, ignore_index=True)


def _x(history: pd.DataFrame, scenario: Scenario) -> np.ndarray:
    """Steps as decimal years (end of quarter; step 0 = start of the first quarter)."""
    start = scenario.axis.start
    return start.year + (start.q - 1) / 4.0 + history["step"].to_numpy() / 4.0


def gap_figure(history: pd.DataFrame, scenario: Scenario):
    """The utility gap dU of one trajectory, its drivers' pull and the barrier, with membership shaded."""
    colors = figures.actor_colors(scenario)
    c = colors[scenario.focal]
    fig, ax = new_figure((8, 4.2))
    for series, style, label in (("gap", dict(lw=2.5), "utility gap dU"),
                                 ("pull", dict(lw=1.2, ls="--"), "drivers' pull (dU + barrier)")):
        sub = history[history["series"] == series]
        ax.plot(_x(sub, scenario), sub["value"], color=c, label=label, **style)
    member = history[history["series"] == "member"]
    xs, on = _x(member, scenario), member["value"].to_numpy() > 0.5
    if on.any():
        ax.fill_between(xs, 0, 1, where=on, step="post", transform=ax.get_xaxis_transform(),
                        color=c, alpha=0.12, label=f"{scenario.bloc.short} member")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_title(f"Utility gap of {scenario.actors[scenario.focal].name} in one trajectory")
    ax.set_xlabel("year (end of quarter)")
    ax.set_ylabel("utility gap dU (logit units)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def states_figure(history: pd.DataFrame, scenario: Scenario):
    """Every agent's state variables over time: one panel per actor, all in the actor's colour."""
    colors = figures.actor_colors(scenario)
    data = history[~history["series"].isin(["gap", "pull", "member"])]
    actors = [a for a in scenario.actors if a in set(data["actor"])]
    fig, axes = new_figure((9, 2.6 * len(actors)), len(actors), 1, sharex=True, squeeze=False)
    for ax, actor in zip(axes[:, 0], actors):
        sub = data[data["actor"] == actor]
        for i, (series, g) in enumerate(sub.groupby("series", sort=False)):
            ax.plot(_x(g, scenario), g["value"], color=colors[actor], ls=LINESTYLES[i % 4],
                    alpha=1.0 - 0.5 * (i // 4) / max(1, (len(sub["series"].unique()) - 1) // 4 + 1),
                    lw=1.4, label=series.split(".")[-1])
        ax.set_title(scenario.actors[actor].name, color=colors[actor], fontsize=10, loc="left")
        ax.set_ylabel("index (0-1; barrier\nin logit units)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))
    axes[-1, 0].set_xlabel("year (end of quarter)")
    fig.suptitle("The agents' states in one trajectory")
    fig.tight_layout()
    return fig


def png_bytes(fig) -> bytes:
    return figures.png_bytes(fig, dpi=90)


MAX_PARAM_CHARS = 64      # a query parameter's name or value, at most (the longest slider name is far shorter)
MAX_SEED = 2**63 - 1      # as the scenario schema's seed


def query_values(scenario: Scenario, values: dict[str, str]) -> tuple[int, dict[str, float]]:
    """Check a query string's values against the sliders: ``(seed, {slider: value})``.

    Every parameter must be a slider name (or ``seed``) of at most ``MAX_PARAM_CHARS``
    characters; a weight a finite number within its slider's range; the seed a whole number in
    0..2**63-1. Anything else is one short ``ConfigError`` (the page answers 400) that never
    repeats an over-long name or value.
    """
    specs = slider_specs(scenario)
    if len(values) > len(specs) + 1:
        raise ConfigError("query", f"{len(values)} parameters", f"at most {len(specs) + 1} (the sliders and seed)")
    seed, weights = 0, {}
    for key, text in values.items():
        if len(key) > MAX_PARAM_CHARS or len(text) > MAX_PARAM_CHARS:
            raise ConfigError("query", f"a parameter of {max(len(key), len(text))} characters",
                              f"names and values of at most {MAX_PARAM_CHARS} characters")
        if key != "seed" and key not in specs:
            raise ConfigError(key, text, f"one of the sliders {sorted(specs)} or seed")
        if key == "seed":
            digits = text.strip()
            if not (digits.isascii() and digits.isdigit() and int(digits) <= MAX_SEED):
                raise ConfigError(key, text, "a whole number from 0 to 2**63-1")
            seed = int(digits)
            continue
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(key, text, "a number") from None
        lo, hi = specs[key]["min"], specs[key]["max"]
        if not lo <= number <= hi:  # also refuses nan, inf and overflowing text such as 1e399
            raise ConfigError(key, text, f"a number from {lo:g} to {hi:g} (the slider's range)")
        weights[key] = number
    return seed, weights


def trajectory_png(which: str, values: dict[str, str], config: str | None = None) -> bytes:
    """Run one trajectory to the horizon with slider ``values`` (text, as in a query string) and
    return the ``which`` figure ("gap" or "states") as PNG bytes; bad values are a ConfigError."""
    scenario = cached_scenario(str(config or config_path()))
    seed, weights = query_values(scenario, values)
    model = ExploreModel(config, seed=seed, **weights)
    while model.running:
        model.step()
    draw = {"gap": gap_figure, "states": states_figure}[which]
    return png_bytes(draw(model.history, model.scenario))


APP_FILE = Path(__file__).with_name("explore_app.py")
