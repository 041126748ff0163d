"""The closed registry of mechanism kinds: how one state variable moves in one quarter.

All arrays have shape (replicates,). ``drive`` is the sum over the variable's inputs of
coefficient x input value (values read from the snapshot taken at the start of the phase).

- ``shock_level``:        x' = x + speed (baseline - x) + drive
- ``partial_adjustment``: x' = x + speed (base + drive - x)
- ``logistic_growth``:    x' = x + rate x (1 - x) + drive
- ``redraw_on_shock``:    x' = low + (high - low) u where a ``redraw_on`` shock fired, else x; + drive

Then, for every kind: + jump for each shock that fired, + noise sd * z, reset to a level
where a ``resets`` shock fired, and clip to ``bounds``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray


@dataclass
class CompiledVariable:
    """A variable with its parameters resolved to per-replicate arrays."""

    ref: str
    kind: str
    params: dict[str, Array]
    inputs: list[tuple[str, Array]]
    jumps: list[tuple[str, Array]]
    resets: list[tuple[str, Array]]
    redraw_on: list[str]
    noise: Array | None
    bounds: tuple[float, float]
    initial: Array
    value: Array = field(init=False)

    def __post_init__(self) -> None:
        self.value = np.clip(self.initial, *self.bounds)


def core_update(kind: str, x: Array, p: dict[str, Array], drive: Array,
                redraw_fired: Array | None, redraw_u: Array | None) -> Array:
    """The kind-specific part of the update (before jumps, noise, resets and clipping)."""
    if kind == "shock_level":
        return x + p["speed"] * (p["baseline"] - x) + drive
    if kind == "partial_adjustment":
        return x + p["speed"] * (p["base"] + drive - x)
    if kind == "logistic_growth":
        return x + p["rate"] * x * (1.0 - x) + drive
    if kind == "redraw_on_shock":
        fresh = p["low"] + (p["high"] - p["low"]) * redraw_u
        return np.where(redraw_fired, fresh, x) + drive
    raise ValueError(f"unknown mechanism kind {kind!r}")  # the schema admits only the four above


def advance(var: CompiledVariable, snapshot: dict[str, Array], shocks: dict[str, Array],
            uniform, normal) -> Array:
    """One quarter of ``var``; ``uniform(purpose)``/``normal(purpose)`` give per-replicate draws."""
    x = var.value
    drive = np.zeros_like(x)
    for ref, coef in var.inputs:
        drive = drive + coef * snapshot[ref]
    fired = u = None
    if var.kind == "redraw_on_shock":
        fired = np.zeros(x.shape, dtype=bool)
        for name in var.redraw_on:
            fired |= shocks[name]
        u = uniform(f"redraw:{var.ref}")
    new = core_update(var.kind, x, var.params, drive, fired, u)
    for name, jump in var.jumps:
        new = new + jump * shocks[name]
    if var.noise is not None:
        new = new + var.noise * normal(f"noise:{var.ref}")
    for name, level in var.resets:
        new = np.where(shocks[name], level, new)
    return np.clip(new, *var.bounds)
