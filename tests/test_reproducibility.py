"""Reproducibility and numerical safety: the same config and seed give the same numbers for any
batch size and worker count; the config hash identifies a resolved config; a NaN or infinity in a
trajectory stops the run with a message naming the parameter draw and the quarter."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from alignsim import RunError, load_scenario, simulate
from alignsim.runs import api
from alignsim.engine import priors as priors_module
from alignsim.engine.priors import point_params
from alignsim.runs.folder import config_hash

from conftest import CONFIG, ROOT

BASE = CONFIG / "base.yaml"


@pytest.mark.slow
def test_same_numbers_for_any_batch_size_and_worker_count():
    a = api.run(BASE, replicates=3000, seed=5, batch_size=3000, save=False)
    b = api.run(BASE, replicates=3000, seed=5, batch_size=700, save=False, workers=2)
    assert a.summary == b.summary
    pd.testing.assert_frame_equal(a.ensemble.replicates_table, b.ensemble.replicates_table)
    c = api.run(BASE, replicates=3000, seed=6, batch_size=700, save=False)
    assert c.summary["probability"] != a.summary["probability"]


def test_config_hash_identifies_the_resolved_config():
    one = config_hash(load_scenario(BASE))
    assert one == config_hash(load_scenario(BASE))
    assert one != config_hash(load_scenario(BASE, ["monte_carlo.seed=1"]))
    assert one != config_hash(load_scenario(BASE, ["drivers.us_investment.weight=0.5"]))


def _with_bad_draw(scenario, column: str, draw: int, value: float):
    params = point_params(scenario, n=6)
    params["draw"] = np.arange(6)
    params.loc[draw, column] = value
    return params


@pytest.mark.slow
@pytest.mark.parametrize("column, value", [
    ("drivers.us_investment.weight", np.inf),
    ("barrier.params.speed", np.nan),
    ("powers.actors.russia.utility.in_bloc.weight", np.nan),
    ("powers.discount", np.inf),
])
def test_non_finite_trajectory_names_draw_and_quarter(column, value):
    s = load_scenario(BASE)
    params = _with_bad_draw(s, column, 4, value)
    with pytest.raises(RunError, match=rf"non-finite .*parameter draw 4\), quarter {s.start}") as info:
        simulate(s, params, seed=1)
    assert "\n" not in str(info.value)
    # the same parameters with finite values run through
    simulate(s, _with_bad_draw(s, column, 4, 0.5), seed=1)


def test_non_finite_stops_a_whole_run(monkeypatch):
    """End to end: a prior draw that is infinite stops ``api.run`` before anything is summarised."""
    real = priors_module.ppf
    weight = load_scenario(BASE).drivers["patron_investment"].weight

    def ppf(prior, u):
        out = real(prior, u)
        if prior == weight and out.size > 7:  # outer draw 7 of this weight is infinite
            out = out.copy()
            out[7] = np.inf
        return out

    monkeypatch.setattr(priors_module, "ppf", ppf)
    with pytest.raises(RunError, match=r"parameter draw 7\), quarter 2017-Q3"):
        api.run(BASE, replicates=200, save=False)


WRAPPER = """
import sys, numpy as np
import alignsim.engine.priors as p
real = p.ppf
def ppf(prior, u):
    out = real(prior, u)
    if prior.dist == "uniform" and (prior.low, prior.high) == (0.2, 1.0) and out.size > 7:  # instance shares
        out = out.copy(); out[7] = np.inf
    return out
p.ppf = ppf
from alignsim.apps.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_non_finite_through_the_cli_is_one_line_exit_2(tmp_path):
    out = tmp_path / "run"
    cp = subprocess.run([sys.executable, "-c", WRAPPER, "run", str(BASE), "--replicates", "200", "--out", str(out)],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 2, cp.stderr
    assert cp.stderr.count("\n") == 1, cp.stderr  # one line: no traceback, no numpy warnings
    assert cp.stderr.startswith("error: non-finite") and "parameter draw 7), quarter 2017-Q3" in cp.stderr
    assert not (out / "summary.json").exists()
