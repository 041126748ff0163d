"""Sobol indices that spend replicates where they matter: Morris screening, then grouped Sobol.

1. **Screening** (SALib Morris over every uncertain prior of the scenario): the ``keep`` priors
   with the largest ``mu_star`` are kept as their own Sobol groups.
2. **Grouped Sobol** (SALib Saltelli sampling and Jansen/Saltelli-2010 estimators with
   ``groups``): each kept prior is a group of one; every screened-out prior is still sampled,
   together as one group ``screened out (n priors)``, whose total index is the share of the
   variance the screening set aside (nothing is fixed). The design has ``G + 2`` points per row
   for ``G = keep + 1`` groups instead of ``D + 2`` for ``D`` priors.
3. **A second seed** (a new Sobol scramble and new engine random numbers) repeats step 2; the
   two seeds' indices are compared within their intervals, and a pooled estimate (SALib on
   both designs' rows together) is reported with them.

Both stages run through ``block_model.BlockModel``: the points of one design row share ``R``
replicates, rows have independent ones, so the bootstrap intervals include the inner noise.

**Inner-replicate noise.** ``y = P + e`` with ``Var(e) ~ P(1-P)/R``. The Jansen total-order
estimator ``ST_j = E[(y_A - y_ABj)^2] / (2 Var y)`` is biased upward by
``E[Var(e_A - e_ABj)] / (2 Var y)``, Saltelli's ``S1_j = E[y_B (y_ABj - y_A)] / Var y`` by
``E[Cov(e_B, e_ABj - e_A)] / Var y``, and ``Var y`` itself by ``E[Var e]``. Each of these is
estimated without bias from the replicates of the row (sample variances / covariances over the
R replicates, divided by R - 1; ``noise_terms``), reported as ``S1_noise``, ``ST_noise`` and
``noise_share``, and removed in ``S1_adj = (S1 - S1_noise) / (1 - noise_share)`` (``ST_adj``
alike; half-widths scaled by the same factor).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze

from alignsim.analyses.block_model import BlockModel
from alignsim.analyses.sensitivity import morris_screening, sobol_indices, with_basis
from alignsim.analyses.sweep import PointRunner
from alignsim.engine.priors import salib_problem
from alignsim.errors import ConfigError
from alignsim.outputs.figures import new_figure
from alignsim.scenario import Scenario

SCREENED = "screened out"


def screen(scenario: Scenario, runner: PointRunner, seed: int, trajectories: int, levels: int,
           replicates: int, keep: int) -> pd.DataFrame:
    """Morris screening of every uncertain prior; ``kept`` marks the ``keep`` largest ``mu_star``.

    Returns the SALib Morris table (one row per prior, effects per unit of quantile) with
    ``basis``, ``rank`` (1 = largest mu_star) and ``kept``, sorted by rank.
    """
    problem = salib_problem(scenario)
    D = problem["num_vars"]
    if not 1 <= int(keep) <= D:
        raise ConfigError("sobol.screen.keep", keep, f"between 1 and the {D} uncertain priors of the scenario")
    model = BlockModel(scenario, runner, problem["names"], seed, replicates, D + 1)
    table, _, _ = morris_screening(problem, model, trajectories, seed, levels)
    table = with_basis(scenario, table).sort_values(["mu_star", "name"], ascending=[False, True])
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["kept"] = table["rank"] <= int(keep)
    return table.reset_index(drop=True)


def groups_of(names: list[str], kept: set[str]) -> list[str]:
    """SALib ``groups``: a kept prior is its own group, the others one ``screened out (n priors)``."""
    n_out = sum(n not in kept for n in names)
    label = f"{SCREENED} ({n_out} priors)"
    return [n if n in kept else label for n in names]


def noise_terms(hits: np.ndarray) -> tuple[pd.DataFrame, float]:
    """The inner-noise bias of each group's S1 and ST, and the noise share of ``Var y``.

    Args:
        hits: (N, G + 2, R) bool outcomes of a Saltelli design in SALib's row order
            ``A, AB_1 .. AB_G, B``; the points of a row share their R replicates.
    Returns:
        (table, noise_share): ``table`` has one row per group (in SALib's order) with
        ``S1_noise`` = mean_i Cov_r(h_B, h_ABj - h_A) / (R - 1) / Var y and
        ``ST_noise`` = mean_i Var_r(h_A - h_ABj) / (R - 1) / (2 Var y), where ``Var y`` is the
        variance of the A and B outputs (SALib's denominator); ``noise_share`` is
        mean P(1-P)/(R - 1) over the A and B points over ``Var y``.
    """
    N, k, R = hits.shape
    A, B = hits[:, 0, :].astype(np.float64), hits[:, -1, :].astype(np.float64)
    yA, yB = A.mean(axis=1), B.mean(axis=1)
    var_y = float(np.var(np.r_[yA, yB]))
    if var_y <= 0:
        return pd.DataFrame({"S1_noise": np.zeros(k - 2), "ST_noise": np.zeros(k - 2)}), 0.0
    s1, st = [], []
    for j in range(1, k - 1):
        d = A - hits[:, j, :]
        dm = d.mean(axis=1)
        var_d = ((d * d).mean(axis=1) - dm ** 2) / (R - 1)
        cov = ((B * -d).mean(axis=1) - yB * -dm) / (R - 1)
        st.append(0.5 * float(var_d.mean()) / var_y)
        s1.append(float(cov.mean()) / var_y)
    y = np.r_[yA, yB]
    share = float(np.mean(y * (1 - y)) / (R - 1) / var_y)
    return pd.DataFrame({"S1_noise": s1, "ST_noise": st}), share


def indices_with_noise(problem: dict, y: np.ndarray, hits: np.ndarray, seed: int, num_resamples: int) -> pd.DataFrame:
    """SALib's first/total order indices of ``y`` (no second order), with the noise columns."""
    res = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=num_resamples, seed=seed)
    total, first = res.to_df()
    table = first.join(total).reset_index(names="name")
    noise, share = noise_terms(hits)
    table[["S1_noise", "ST_noise"]] = noise.to_numpy()
    scale = 1.0 / (1.0 - share) if share < 1 else np.nan
    table["noise_share"] = share
    for s in ("S1", "ST"):
        table[f"{s}_adj"] = (table[s] - table[f"{s}_noise"]) * scale
        table[f"{s}_adj_conf"] = table[f"{s}_conf"] * scale
    return table


def grouped_sobol(scenario: Scenario, runner: PointRunner, groups: list[str], n_base: int, replicates: int,
                  seeds: list[int], num_resamples: int = 200) -> pd.DataFrame:
    """Grouped Sobol indices for each seed and pooled over the seeds (tidy, one row per sample x group).

    Columns: ``sample`` ("seed <s>" or "pooled"), ``seed``, ``name`` (group), ``priors`` (its
    size), SALib's ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (95% bootstrap half-widths), the
    noise columns of ``noise_terms`` and the adjusted ``S1_adj``, ``ST_adj`` with half-widths.
    The pooled row is SALib run on both seeds' rows together (2N rows).
    """
    problem = dict(salib_problem(scenario), groups=list(groups))
    n_groups = len(pd.unique(np.array(groups)))
    parts, ys, hits = [], [], []
    for seed in seeds:
        model = BlockModel(scenario, runner, problem["names"], seed, replicates, n_groups + 2)
        _, _, y = sobol_indices(problem, model, n_base, seed, num_resamples=num_resamples)
        ys.append(y)
        hits.append(model.hits)
        parts.append(indices_with_noise(problem, y, model.hits, seed, num_resamples).assign(sample=f"seed {seed}", seed=seed))
    if len(seeds) > 1:
        pooled = indices_with_noise(problem, np.concatenate(ys), np.concatenate(hits), seeds[0], num_resamples)
        parts.append(pooled.assign(sample="pooled", seed=-1))
    table = pd.concat(parts, ignore_index=True)
    size = pd.Series(groups).value_counts()
    table.insert(0, "priors", table["name"].map(size).astype(int))
    lead = ["sample", "seed", "name", "priors"]
    table = table[lead + [c for c in table.columns if c not in lead]]
    table["n_base"] = n_base * np.where(table["sample"] == "pooled", len(seeds), 1)
    table["replicates"] = replicates
    return table


def agreement(table: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Per group: the two seeds' adjusted indices, their difference and its 95% half-width.

    ``S1_agree`` holds when ``|S1_a - S1_b| <= sqrt(S1_conf_a^2 + S1_conf_b^2)`` (the 95% interval
    of a difference of two independent estimates); ``ST_agree`` alike.
    """
    a = table[table["seed"] == seeds[0]].set_index("name")
    b = table[table["seed"] == seeds[1]].set_index("name").loc[a.index]
    out = pd.DataFrame({"name": a.index, "priors": a["priors"].to_numpy()})
    for s in ("S1", "ST"):
        va, vb = a[f"{s}_adj"].to_numpy(), b[f"{s}_adj"].to_numpy()
        ca, cb = a[f"{s}_adj_conf"].to_numpy(), b[f"{s}_adj_conf"].to_numpy()
        out[f"{s}_seed_a"], out[f"{s}_seed_b"] = va, vb
        out[f"{s}_conf_a"], out[f"{s}_conf_b"] = ca, cb
        out[f"{s}_diff"] = va - vb
        out[f"{s}_diff_conf"] = np.hypot(ca, cb)
        out[f"{s}_agree"] = np.abs(out[f"{s}_diff"]) <= out[f"{s}_diff_conf"]
    out.insert(1, "seed_a", seeds[0])
    out.insert(2, "seed_b", seeds[1])
    return out


def top_priors(table: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The ``n`` single priors (not the screened-out group) with the largest best-estimate ``ST_adj``.

    The best estimate is the pooled one when there are two seeds, else the only seed's.
    """
    best = table[table["sample"] == "pooled"] if (table["sample"] == "pooled").any() else table
    single = best[~best["name"].str.startswith(SCREENED)]
    return single.sort_values("ST_adj", ascending=False).head(n)


def screened_sobol_figure(table: pd.DataFrame, top: int = 15):
    """S1 and ST (noise-adjusted) of the largest groups with 95% intervals, one marker per seed and pooled."""
    best = top_priors(table, top)["name"].tolist()
    best += [n for n in table["name"].unique() if n.startswith(SCREENED)]
    samples = list(dict.fromkeys(table["sample"]))
    fig, axes = new_figure((11, 0.42 * len(best) + 1.8), 1, 2, sharey=True, squeeze=False)
    y0 = np.arange(len(best))[::-1]
    colors = {"pooled": "black"}
    palette = iter(["#1b9e77", "#d95f02", "#7570b3"])
    for ax, s in zip(axes[0], ("S1", "ST")):
        for k, sample in enumerate(samples):
            sub = table[table["sample"] == sample].set_index("name").loc[best]
            off = (k - (len(samples) - 1) / 2) * 0.22
            color = colors.get(sample) or next(palette)
            colors[sample] = color
            ax.errorbar(sub[f"{s}_adj"], y0 + off, xerr=sub[f"{s}_adj_conf"], fmt="o", ms=3.5, capsize=2,
                        color=color, label=sample)
        ax.axvline(0, color="grey", lw=0.8)
        ax.grid(alpha=0.3, axis="x")
        ax.set_xlabel(f"{s} (noise-adjusted; bars: 95% bootstrap interval)")
        ax.set_title("first order S1" if s == "S1" else "total order ST")
    axes[0][0].set_yticks(y0, best, fontsize=7)
    axes[0][1].legend(fontsize=7, loc="lower right")
    n_base = int(table["n_base"].iloc[0])
    fig.suptitle(f"Grouped Sobol after Morris screening (N={n_base} per seed, "
                 f"{int(table['replicates'].iloc[0])} replicates per point)")
    return fig
