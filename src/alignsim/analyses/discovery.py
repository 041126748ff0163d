"""Scenario discovery: which regions of the parameter space lead to the event.

PRIM (Friedman and Fisher's patient rule induction) from the EMA Workbench finds boxes, i.e.
ranges on a few parameters, in which cases of interest are dense. Per box we report:

- coverage: the share of all cases of interest that fall in the box;
- density: the share of cases in the box that are of interest;
- mass: the share of all cases in the box.

Boxes are found one after another (PRIM's covering: each box is taken out of the data before
the next is sought). On each box's peeling trajectory we select the entry with the largest
coverage among those with density >= ``min_density`` and at most ``max_dims`` restricted
parameters, so boxes stay readable.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from alignsim.errors import ConfigError


def _prim_module():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "ipyparallel not installed": not needed here
        try:
            from ema_workbench.analysis import prim
        except ImportError:
            raise ConfigError("discovery", "PRIM", "an installed EMA Workbench: pip install "
                              "'alignsim[discovery]'") from None
    logging.getLogger("EMA").setLevel(logging.WARNING)
    return prim


def prim_boxes(x: pd.DataFrame, interest: np.ndarray, min_density: float = 0.5, max_boxes: int = 3,
               max_dims: int = 3, peel_alpha: float = 0.05, mass_min: float = 0.05
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """PRIM boxes for the cases of interest.

    Args:
        x: one row per case, one float column per parameter (shape (n, D)).
        interest: (n,) bool, the case is of interest (e.g. its probability of the event is high).
        min_density: the least density a selected box may have (PRIM's threshold).
        max_boxes, max_dims: at most this many boxes, each restricting at most ``max_dims`` parameters.
    Returns:
        (boxes, limits): ``boxes`` has one row per box (coverage, density, mass, cases, of_interest,
        restricted); ``limits`` one row per (box, restricted parameter) with its ``low``/``high``
        and the parameter's range in the data.
    """
    interest = np.asarray(interest, dtype=bool)
    if interest.shape != (len(x),):
        raise ConfigError("interest", interest.shape, f"one flag per case, shape ({len(x)},)")
    if not 0 < min_density <= 1:
        raise ConfigError("min_density", min_density, "a share in (0, 1]")
    if not interest.any():
        raise ConfigError("interest", 0, "at least one case of interest to describe")
    prim = _prim_module()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"ema_workbench")  # pandas deprecations inside PRIM
        return _covering(prim, x.reset_index(drop=True).astype(float), interest, min_density, max_boxes,
                         max_dims, peel_alpha, mass_min)


def _covering(prim, x: pd.DataFrame, interest: np.ndarray, min_density: float, max_boxes: int, max_dims: int,
              peel_alpha: float, mass_min: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    alg = prim.Prim(x, interest.astype(int), threshold=min_density, peel_alpha=peel_alpha, mass_min=mass_min)
    init = alg.box_init
    boxes, limits = [], []
    for b in range(1, max_boxes + 1):
        box = alg.find_box()
        if box is None:
            break
        traj = box.peeling_trajectory
        ok = traj[(traj["density"] >= min_density) & (traj["res_dim"] <= max_dims) & (traj["res_dim"] > 0)]
        if ok.empty:
            alg._boxes.pop()  # the dump box: no readable box meets the density any more
            break
        i = int(ok.sort_values(["coverage", "density"], ascending=False).index[0])
        box.select(i)
        lims = box.box_lims[i]
        restricted = [c for c in x.columns if not np.allclose(lims[c].to_numpy(), init[c].to_numpy())]
        row = traj.loc[i]
        boxes.append({"box": b, "coverage": float(row["coverage"]), "density": float(row["density"]),
                      "mass": float(row["mass"]), "cases": int(row["n"]), "of_interest": int(row["k"]),
                      "restricted": ", ".join(restricted)})
        for c in restricted:
            limits.append({"box": b, "name": c, "low": float(lims[c].iloc[0]), "high": float(lims[c].iloc[1]),
                           "data_low": float(init[c].iloc[0]), "data_high": float(init[c].iloc[1])})
    boxes_t = pd.DataFrame(boxes, columns=["box", "coverage", "density", "mass", "cases", "of_interest", "restricted"])
    limits_t = pd.DataFrame(limits, columns=["box", "name", "low", "high", "data_low", "data_high"])
    return boxes_t, limits_t


def discovery_text(boxes: pd.DataFrame, limits: pd.DataFrame, base_rate: float, label: str) -> str:
    """Plain-text summary of the boxes, one paragraph per box."""
    lines = [f"Cases of interest: {label}; {base_rate:.1%} of all cases."]
    if boxes.empty:
        lines.append("PRIM found no box meeting the density threshold.")
    for _, b in boxes.iterrows():
        lines.append(f"Box {b['box']}: coverage {b['coverage']:.2f}, density {b['density']:.2f}, "
                     f"mass {b['mass']:.3f} ({b['of_interest']} of {b['cases']} cases)")
        for _, r in limits[limits["box"] == b["box"]].iterrows():
            lines.append(f"    {r['low']:.4g} <= {r['name']} <= {r['high']:.4g}   (data range {r['data_low']:.4g}..{r['data_high']:.4g})")
    return "\n".join(lines)
