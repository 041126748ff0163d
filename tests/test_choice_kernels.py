"""The compiled strategic choice and soft maximum (engine/choice_kernels.py, choice_plan.py)
equal their numpy reference (``Strategy.choose_numpy``, ``Alternatives.combine_numpy``) bit for bit.

On planted inputs (the soft maximum over random offers; two planted powers whose utilities use
every kind of term: tilt, membership, a variable, each alone and times a factor, and the best
outside offer; discounted and not) and on real strategic runs; and a kernel one ulp off is
caught, so the comparison can fail.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from alignsim import load_scenario
from alignsim.engine import choice_kernels as ck
from alignsim.engine.alternatives import Alternatives
from alignsim.engine.choice import TILT_EDGES, Strategy
from alignsim.engine.ensemble import simulate
from alignsim.engine.model import AlignmentModel
from alignsim.engine.priors import replicate_params, sample_draws
from alignsim.engine.reference import numpy_choice

from conftest import CONFIG
from test_powers import SET, fixed, load, planted


def _bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint64) if a.dtype == np.float64 else a


def _same(a, b) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(_bits(a), _bits(b))


@pytest.mark.parametrize("n", [1, 2, 7, 3001])
def test_soft_maximum_equals_numpy(n):
    """Groups of one and three rows, a row shared by two partners, zero and negative offers."""
    rng = np.random.default_rng(n)
    groups = [[0], [1, 2, 3], [3, 4], [5]]
    for trial in range(20):
        c = rng.normal(0.0, 10.0 ** rng.uniform(-3, 1), (6, n))
        c[5, : n // 3] = 0.0  # a partner offering nothing
        c[0, n // 2:] *= -1.0
        k = rng.uniform(0.5, 8.0, n)
        alt = Alternatives(groups, k)
        a, b = c.copy(), c.copy()
        best, best_np = alt.combine(a), alt.combine_numpy(b)
        assert _same(best, best_np) and _same(a, b), trial


def test_tilt_bins_like_searchsorted():
    """The counts' bin is clip(searchsorted(edges, x, 'right') - 1) on, next to and beyond every edge."""
    e = TILT_EDGES
    x = np.concatenate([e, np.nextafter(e, -np.inf), np.nextafter(e, np.inf), [-5.0, 5.0, np.nan, -0.0]])
    expected = np.clip(np.searchsorted(e, x, side="right") - 1, 0, len(e) - 2)
    got = np.array([ck._tilt_bin.py_func(v, e) for v in x])
    assert np.array_equal(got, expected)


def two_powers(discount=None, products=True) -> dict:
    """The planted patron of tests/test_powers.py and a rival whose aid feeds an ``away`` driver
    (an outside option); every kind of utility term, some times a factor."""
    doc = planted(member_weight=3.0, tilt_weight=1.0, discount=discount)
    doc["actors"]["rival"] = {"name": "R", "role": "power"}
    doc["policies"]["rival"] = copy.deepcopy(doc["policies"]["patron"])
    del doc["policies"]["rival"]["neutral"]
    doc["policies"]["rival"]["aid"] = doc["policies"]["rival"].pop("court")
    doc["drivers"]["aided"] = {"kind": "partial_adjustment", "label": "a", "scale": "s", "mechanism": "m",
                               "direction": "away", "weight": fixed(2.0), "initial": fixed(0.2),
                               "params": {"base": fixed(0.0), "speed": fixed(0.5)},
                               "inputs": {"policies.rival.aid": fixed(1.0)},
                               "noise": {"dist": "fixed", "value": 0.05, **SET}}
    doc["outside_options"] = {"partners": {"rival": ["aided"]}, "sharpness": fixed(3.0), **SET}
    term = lambda of, w, direction="gain", times=None: {"label": "x", "of": of, "direction": direction,  # noqa: E731
                                                        "weight": fixed(w), **({"times": times} if times else {})}
    patron = doc["powers"]["actors"]["patron"]["utility"]
    patron["influence"] = term("best_alternative", 0.5, "loss")
    rival = {"deny": term("member", 2.0, "loss"), "own": term("tilt", 1.0, "loss"),
             "ties": term("drivers.aided", 0.7)}
    if products:
        patron["courted_ties"] = term("drivers.courted", 0.4, times="policies.patron.neutral")
        rival["deny_aided"] = term("member", 1.5, "loss", times="policies.rival.aid")
        rival["lean_aided"] = term("tilt", 0.8, "loss", times="drivers.aided")
        rival["alt_aided"] = term("best_alternative", 0.3, times="policies.rival.aid")
    doc["powers"]["actors"]["rival"] = {"role": "rival", "utility": rival,
                                        "options": {"aid": {"step": fixed(0.05), "cost": fixed(0.8)}}}
    return doc


def _run(scenario, n=600, seed=5, numpy=False):
    draws = sample_draws(scenario, 9, 30)
    params = replicate_params(draws, n, 0, n)
    with numpy_choice() if numpy else _nothing():
        model = AlignmentModel(scenario, params, seed, record_choices=True)
        for _ in range(scenario.axis.n_steps):
            model.step()
    return model


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _assert_same_runs(a, b) -> None:
    sa, sb = a.strategy, b.strategy
    assert len(sa.history) == len(sb.history) == a.scenario.axis.n_steps
    for ha, hb in zip(sa.history, sb.history):
        assert ha.keys() == hb.keys()
        for k in ha:
            assert _same(np.asarray(ha[k]), np.asarray(hb[k])), k
    assert _same(sa.counts, sb.counts) and _same(sa.tilt_counts, sb.tilt_counts)
    rows = a.n_variables  # the member / tilt rows after them are written only when observed
    assert _same(a.state_matrix[:rows], b.state_matrix[:rows])
    for name in ("pull", "gap", "best_alternative", "first_entry", "first_exit", "switches"):
        assert _same(getattr(a.focal, name), getattr(b.focal, name)), name


@pytest.mark.parametrize("discount", [None, 0.08])
@pytest.mark.parametrize("products", [False, True])
def test_planted_choices_equal_the_numpy_reference(tmp_path, discount, products):
    s = load(tmp_path, two_powers(discount, products))
    compiled, reference = _run(s), _run(s, numpy=True)
    _assert_same_runs(compiled, reference)
    chosen = np.concatenate([h["policies.rival.aid"] for h in compiled.strategy.history])
    assert {-1, 0, 1} <= set(chosen.tolist())  # every option taken: the comparison covers them
    assert compiled.focal.first_entry.max() >= 0 and compiled.focal.best_alternative.std() > 0


@pytest.mark.parametrize("config, overrides", [("base.yaml", ()),
                                               ("panel/anzus-nzl-1990.yaml", ("powers.model=strategic",))])
def test_real_strategic_run_equals_the_numpy_reference(config, overrides):
    """Choices, levels, counts and the whole replicate table of a real run, to the bit."""
    s = load_scenario(CONFIG / config, overrides)
    compiled, reference = _run(s, n=500, seed=20170706), _run(s, n=500, seed=20170706, numpy=True)
    _assert_same_runs(compiled, reference)
    params = replicate_params(sample_draws(s, 5, 40), 400, 100, 500)
    a = simulate(s, params, 5)
    with numpy_choice():
        b = simulate(s, params, 5)
    for c in a.replicates.columns:
        assert _same(a.replicates[c].to_numpy(), b.replicates[c].to_numpy()), c


def test_a_kernel_one_ulp_off_is_caught(tmp_path, monkeypatch):
    """Planted: new levels one ulp up make the runs differ, so the comparisons above can fail."""
    s = load(tmp_path, two_powers(0.08))
    reference = _run(s, n=200, numpy=True)
    real = ck.pick

    def one_ulp_up(*args):
        real(*args)
        level = args[-1]
        level[:] = np.nextafter(level, np.inf)

    monkeypatch.setattr(ck, "pick", one_ulp_up)
    with pytest.raises(AssertionError):
        _assert_same_runs(_run(s, n=200), reference)


def test_choice_table_of_a_run_is_byte_identical(tmp_path):
    """The recorded choice table (as the run folder writes it) is the same bytes either way."""
    from alignsim.engine.choice import choice_table

    s = load_scenario(CONFIG / "base.yaml")
    tables = [choice_table(_run(s, n=300, numpy=flag).strategy.history, 0) for flag in (False, True)]
    csv = [t.to_csv(index=False).encode() for t in tables]
    assert isinstance(tables[0], pd.DataFrame) and len(tables[0]) > 0 and csv[0] == csv[1]


@pytest.mark.parametrize("planted_case", [False, True])
def test_reused_blocks_give_the_same_responses_as_advancing_every_block(tmp_path, monkeypatch, planted_case):
    """The look-ahead's bumped paths take the base path's values for the blocks a bump cannot
    reach; advancing every block instead gives the same responses, bit for bit. Planted: the
    patron's ``neutral`` policy feeds nothing, so it reaches no block."""
    s = load(tmp_path, two_powers(0.08)) if planted_case else load_scenario(CONFIG / "base.yaml")
    params = replicate_params(sample_draws(s, 3, 20), 300, 0, 300)
    model = AlignmentModel(s, params, 3)
    if planted_case:
        blocks = model.focal.blocks  # every policy is chosen here, so no power block advances
        assert model.strategy._reachable("policies.patron.neutral", blocks) == set()
        assert model.strategy._reachable("policies.patron.court", blocks) == {1}
    reused = model.strategy.linear_responses()
    monkeypatch.setattr(Strategy, "_reachable", lambda self, bumped, blocks: set(range(len(blocks))))
    advanced = AlignmentModel(s, params, 3).strategy.linear_responses()
    assert reused.keys() == advanced.keys()
    for ref in reused:
        for k in reused[ref]:
            assert _same(reused[ref][k], advanced[ref][k]), (ref, k)


def test_select_forms_equal_numpy_on_edge_values():
    """The kernels' one-select max / min / clip give numpy's values (NaN, signed zeros, infinities)."""
    v = np.array([np.nan, -np.inf, -700.0, -1.0, -0.0, 0.0, 1e-300, 0.5, 700.0, np.inf])
    for a in v:
        for b in v:
            assert _same(np.float64(ck._max.py_func(a, b)), np.maximum(a, b)), (a, b)
            assert _same(np.float64(ck._min.py_func(a, b)), np.minimum(a, b)), (a, b)
            for hi in (b, 700.0):
                lo = -700.0
                assert _same(np.float64(ck._clip_select.py_func(a, lo, hi)), np.clip(np.float64(a), lo, hi)), (a, lo, hi)
