"""Local process pool and Dask give the single-process numbers, bit for bit; the pool is reused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alignsim import load_scenario, run_ensemble
from alignsim.runs.api import run
from alignsim.apps.cli import main
from alignsim.errors import ConfigError, RunError
from alignsim.engine.parallel import DaskPool, LocalPool, _warm, open_pool

from conftest import CONFIG

REPS, BATCH, SEED = 12000, 2000, 31


@pytest.fixture(scope="module")
def base():
    return load_scenario(CONFIG / "base.yaml")


@pytest.fixture(scope="module")
def serial(base):
    return run_ensemble(base, REPS, SEED, batch_size=BATCH)


def assert_identical(a, b):
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes)
    pd.testing.assert_frame_equal(a.draws, b.draws)
    for name in ("member", "gap", "gap_hist", "contributions", "variables"):
        assert np.array_equal(getattr(a.totals, name), getattr(b.totals, name)), name
    assert a.totals.n == b.totals.n


@pytest.mark.slow
def test_local_pool_equals_one_process_and_is_reused(base, serial):
    with LocalPool(2, start_method="spawn") as pool:
        assert pool._pool._mp_context.get_start_method() == "spawn"  # explicit, whatever the global is
        pids = set(pool._pool._processes)  # the worker processes, started in LocalPool()
        a = run_ensemble(base, REPS, SEED, batch_size=BATCH, map_batches=pool.map_batches)
        # a second ensemble (other seed) through the same pool: no new processes were started
        c = run_ensemble(base, 4000, SEED + 1, batch_size=BATCH, map_batches=pool.map_batches, keep_table=False)
        after = set(pool._pool._processes)
        used = {f.result() for f in [pool._pool.submit(_warm) for _ in range(8)]}
    assert len(pids) == 2 and after == pids and used <= pids
    assert_identical(serial, a)
    pd.testing.assert_frame_equal(serial.replicates_table, a.replicates_table)
    assert not c.outcomes.equals(a.outcomes.iloc[:4000])  # the pool really ran the other seed


@pytest.mark.slow
def test_dask_local_cluster_equals_one_process(base, serial):
    with DaskPool(workers=2) as pool:
        assert len(pool.client.nthreads()) == 2
        a = run_ensemble(base, REPS, SEED, batch_size=BATCH, map_batches=pool.map_batches)
    assert_identical(serial, a)
    pd.testing.assert_frame_equal(serial.replicates_table, a.replicates_table)


@pytest.mark.slow
def test_cli_workers_2_equals_one_process(tmp_path):
    args = ["run", str(CONFIG / "base.yaml"), "--replicates", "4000", "--batch-size", "1000", "--seed", "5"]
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    assert main(args + ["--workers", "2", "--out", str(tmp_path / "two")]) == 0
    one = json.loads((tmp_path / "one" / "summary.json").read_text())
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    one.pop("output"), two.pop("output")
    assert one == two
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "replicates.parquet"),
                                  pd.read_parquet(tmp_path / "two" / "replicates.parquet"))


@pytest.mark.slow
def test_streamed_replicates_parquet_equals_kept_table(tmp_path, base):
    kept = run(base, replicates=5000, seed=3, batch_size=2000, out=tmp_path / "kept", keep_table=True)
    streamed = run(base, replicates=5000, seed=3, batch_size=2000, out=tmp_path / "streamed", keep_table=False)
    assert streamed.replicates is None and kept.replicates is not None
    table = pd.read_parquet(tmp_path / "streamed" / "replicates.parquet")
    pd.testing.assert_frame_equal(table, kept.replicates)
    assert streamed.summary["probability"] == kept.summary["probability"]


@pytest.mark.slow
def test_bad_parallel_settings_are_one_line_errors(capsys):
    with pytest.raises(ConfigError, match="backend: got 'spark'"):
        open_pool("spark", 2)
    with pytest.raises(ConfigError, match="workers: got 0"):
        open_pool("local", 0)
    assert open_pool("local", 1) is None
    with pytest.raises(RunError, match="tcp://127.0.0.1:9: could not connect"):
        DaskPool("tcp://127.0.0.1:9", timeout=1)
    code = main(["run", str(CONFIG / "base.yaml"), "--scheduler", "tcp://127.0.0.1:9", "--replicates", "10"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--backend dask" in err
    with pytest.raises(SystemExit) as exc:
        main(["run", str(CONFIG / "base.yaml"), "--workers", "0"])
    assert exc.value.code == 2
