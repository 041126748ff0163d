"""The fused engine draws and moves exactly what the one-variable-at-a-time path does."""

from __future__ import annotations

import numpy as np
import pytest

from alignsim.engine.mechanisms import CompiledVariable, KindBlock, advance
from alignsim.engine.streams import StreamSource, normals, uniforms


@pytest.mark.parametrize("start,stop", [(0, 1), (3, 17), (20_001, 20_050), (7, 7 + 4 * 9)])
def test_stream_source_equals_the_per_call_functions(start, stop):
    source = StreamSource(11)
    for purpose, step in [("shock:a", 0), ("decision", 5), ("noise:x", 399)]:
        assert np.array_equal(source.uniforms(purpose, step, start, stop), uniforms(11, purpose, step, start, stop))
        out = np.full(stop - start, np.nan)
        source.normals(purpose, step, start, stop, out=out)
        assert np.array_equal(out, normals(11, purpose, step, start, stop))


def _variable(ref, kind, rng, n, inputs=(), jumps=(), resets=(), redraw_on=(), noise=False):
    params = {"shock_level": ("speed", "baseline"), "partial_adjustment": ("speed", "base"),
              "logistic_growth": ("rate",), "redraw_on_shock": ("low", "high"), "product": ()}[kind]
    col = lambda: rng.uniform(-0.5, 1.0, n)  # noqa: E731
    return CompiledVariable(ref, kind, {p: col() for p in params}, [(r, col()) for r in inputs],
                            [(s, col()) for s in jumps], [(s, col()) for s in resets], list(redraw_on),
                            col() if noise else None, (-0.2, 0.9), col())


@pytest.mark.parametrize("kind", ["shock_level", "partial_adjustment", "logistic_growth", "redraw_on_shock"])
def test_a_block_moves_its_variables_bit_for_bit_like_advance(kind):
    rng = np.random.default_rng(5)
    n = 257
    shock_names = ["s0", "s1", "s2"]
    others = [_variable(f"o{i}", "partial_adjustment", rng, n) for i in range(2)]
    block_vars = [  # ragged: different numbers of inputs, jumps and resets per variable
        _variable("a", kind, rng, n, inputs=["o0", "o1", "b"], jumps=["s1"], redraw_on=["s0", "s2"], noise=True),
        _variable("b", kind, rng, n, resets=["s2", "s0"], redraw_on=["s1"]),
        _variable("c", kind, rng, n, inputs=["o1"], jumps=["s0", "s2"], resets=["s1"], noise=True),
        _variable("d", kind, rng, n),  # plain (no jumps, noise or resets: clipped in its update pass)
        _variable("e", kind, rng, n, inputs=["a", "o0"], redraw_on=["s0"]),  # plain, with inputs
    ]
    everything = others + block_vars
    row_of = {v.ref: i for i, v in enumerate(everything)}
    state = np.stack([v.value for v in everything])
    shocks = rng.uniform(size=(3, n)) < 0.4
    source = StreamSource(3)
    rows = lambda draw: lambda purposes: np.stack([draw(p, 4, 10, 10 + n) for p in purposes])  # noqa: E731

    block = KindBlock(block_vars, len(others), row_of, {s: i for i, s in enumerate(shock_names)})
    fused = block.advance(state, shocks, rows(source.uniforms), rows(source.normals))

    snapshot = {v.ref: state[row_of[v.ref]] for v in everything}
    shock_dict = dict(zip(shock_names, shocks))
    one_by_one = [advance(v, snapshot, shock_dict, lambda p: uniforms(3, p, 4, 10, 10 + n),
                          lambda p: normals(3, p, 4, 10, 10 + n)) for v in block_vars]
    assert fused.shape == (5, n)
    assert np.array_equal(fused, np.stack(one_by_one))
    assert np.array_equal(state[len(others):], np.stack([v.value for v in block_vars]))  # state not written


def _chain_block(kind, reads, n=300, seed=7):
    """A block of variables v0, v1, ... where ``reads[i]`` lists the block variables v_i reads."""
    rng = np.random.default_rng(seed)
    other = _variable("o", "partial_adjustment", rng, n)
    block_vars = [_variable(f"v{i}", kind, rng, n, inputs=["o", *(f"v{j}" for j in r)], jumps=["s0"] if i % 2 else (),
                            redraw_on=["s0"]) for i, r in enumerate(reads)]
    everything = [other] + block_vars
    row_of = {v.ref: i for i, v in enumerate(everything)}
    state = np.stack([v.value for v in everything])
    shocks = rng.uniform(size=(1, n)) < 0.5
    return KindBlock(block_vars, 1, row_of, {"s0": 0}), state, shocks


@pytest.mark.parametrize("kind", ["shock_level", "partial_adjustment", "logistic_growth", "redraw_on_shock", "product"])
def test_in_place_equals_a_separate_output_when_readers_go_first(kind):
    """Planted: v0 reads v2, v2 reads v1 and itself; advanced v0, v2, v1 in the state's own rows."""
    reads = [[2], [], [1] + ([2] if kind != "product" else [])]
    block, state, shocks = _chain_block(kind, reads)
    source = StreamSource(3)
    rows = lambda purposes: np.stack([source.uniforms(p, 2, 0, state.shape[1]) for p in purposes])  # noqa: E731
    expected = block.advance(state, shocks, rows, rows)  # not planned: a new array, state untouched
    assert block.plan_in_place(state, set())
    assert [block._program[block._program[j]] for j in range(3)] == [0, 2, 1]  # readers first
    before = state.copy()
    fresh = block.advance(state, shocks, rows, rows)  # in place not asked: a new array, state untouched
    assert not np.shares_memory(fresh, state) and np.array_equal(state, before)
    got = block.advance(state, shocks, rows, rows, in_place=True)
    assert np.shares_memory(got, state) and np.array_equal(got, expected)
    assert np.array_equal(state[0], before[0])  # rows outside the block untouched
    copy = state.copy()
    again = block.advance(copy, shocks, rows, rows, in_place=True)  # not the planned array: not written
    assert not np.shares_memory(again, copy) and np.array_equal(copy, state)


def test_in_place_is_refused_when_it_would_change_numbers():
    """Planted refusals: a cycle of reads, a product reading itself, rows read by a later block."""
    block, state, _ = _chain_block("partial_adjustment", [[1], [0]])
    assert not block.plan_in_place(state, set())
    block, state, _ = _chain_block("product", [[0]])
    assert not block.plan_in_place(state, set())
    block, state, _ = _chain_block("partial_adjustment", [[], []])
    assert not block.plan_in_place(state, {2})
    assert block.plan_in_place(state, {0})  # row 0 is outside the block
