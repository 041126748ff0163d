"""Stopping by precision: adds whole batches until the headline half-width is small enough."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alignsim import load_scenario, run_ensemble
from alignsim.apps.cli import main
from alignsim.errors import ConfigError
from alignsim.engine.estimates import wilson
from alignsim.engine.estimates import cumulative
from alignsim.engine.precision import PRECISION_DRAWS, headline_half_width, needed_replicates, run_to_precision

from conftest import CONFIG


@pytest.fixture(scope="module")
def base():
    return load_scenario(CONFIG / "base.yaml")


@pytest.mark.slow
def test_stops_at_the_target_and_equals_a_plain_run(base):
    result, report = run_to_precision(base, 0.01, seed=4, batch_size=1000)
    assert report.reached and report.half_width <= 0.01
    assert len(report.rounds) >= 2 and report.rounds[0][1] > 0.01  # it had to add batches
    assert report.replicates == result.replicates == report.rounds[-1][0]
    assert report.replicates % 1000 == 0
    # one batch fewer would not have been enough (normal approximation, so allow a batch's slack)
    assert report.replicates <= needed_replicates(report.estimate, 0.01) + 2000
    # the reported half-width is that of the run's own (cluster-robust) Monte Carlo interval
    last = cumulative(result).iloc[-1]
    assert (last["ci_high"] - last["ci_low"]) / 2 == pytest.approx(report.half_width)
    # about one replicate per parameter draw here, so it is close to the plain Wilson interval
    low, high = wilson(int(round(report.estimate * report.replicates)), report.replicates)
    assert (high - low) / 2 == pytest.approx(report.half_width, rel=0.05)
    plain = run_ensemble(base, report.replicates, 4, draws=PRECISION_DRAWS, batch_size=1000,
                         keep_table=False, cap_draws=False)
    pd.testing.assert_frame_equal(plain.outcomes, result.outcomes)
    assert np.array_equal(plain.totals.gap_hist, result.totals.gap_hist)
    assert headline_half_width(plain) == (report.estimate, report.half_width)


@pytest.mark.slow
def test_adding_replicates_to_few_draws_does_not_fake_precision(base):
    """With 20 draws, the draws' own spread bounds the precision: the interval stays wide."""
    few = run_ensemble(base, 20000, 4, draws=20, batch_size=5000, keep_table=False)
    _, half = headline_half_width(few)
    low, high = wilson(int((cumulative(few)["events"].iloc[-1])), 20000)
    assert half > 2 * (high - low) / 2  # a binomial interval would claim far more precision


def test_cap_is_respected_and_reported(base):
    result, report = run_to_precision(base, 0.002, seed=4, batch_size=2000, max_replicates=7000)
    assert not report.reached
    assert report.replicates == 6000 == result.replicates  # whole batches under the cap
    assert report.half_width > 0.002


def test_each_batch_is_seen_once(base):
    seen = []
    run_to_precision(base, 0.012, seed=8, batch_size=1000, on_batch=lambda k, res: seen.append(k))
    assert len(seen) == len(set(seen)) and sorted(seen) == list(range(len(seen)))


@pytest.mark.slow
def test_cli_precision_writes_its_report(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", str(CONFIG / "base.yaml"), "--precision", "0.01", "--batch-size", "1000",
                 "--seed", "2", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    prec = summary["precision"]
    assert prec["reached"] and prec["half_width"] <= 0.01
    p = summary["probability"]
    assert (p["ci_high"] - p["ci_low"]) / 2 <= 0.01
    assert summary["replicates"] == prec["replicates_used"]
    assert f"{prec['replicates_used']:,} replicates" in text
    assert len(pd.read_parquet(out / "replicates.parquet")) == prec["replicates_used"]


def test_bad_precision_is_refused(base, capsys):
    with pytest.raises(ConfigError, match="precision: got 0.7"):
        run_to_precision(base, 0.7)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(CONFIG / "base.yaml"), "--precision", "0"])
    assert exc.value.code == 2
    assert "half-width between 0 and 0.5" in capsys.readouterr().err
