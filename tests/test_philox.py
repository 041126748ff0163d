"""The compiled Philox (engine/philox.py) yields numpy's Philox words, as doubles, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from alignsim.engine.philox import philox_uniforms


def _numpy_uniforms(key: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The reference: numpy's generator at counter start // 4, then (w >> 11) * 2**-53."""
    gen = np.random.Philox(key=key)
    gen.advance(start // 4)
    raw = gen.random_raw(stop - start // 4 * 4)[start % 4:]
    return (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53


@pytest.mark.parametrize("start", [0, 1, 2, 3, 4, 5, 4097, 2**33 + 3, 2**62 + 1])
def test_every_offset_and_length_matches_numpy(start):
    rng = np.random.default_rng(start % 1000)
    for length in (0, 1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33, 1001):
        key = rng.integers(0, 2**64, size=2, dtype=np.uint64, endpoint=False)
        out = np.full(length, np.nan)
        philox_uniforms(key, start, out)
        expected = _numpy_uniforms(key, start, start + length)
        assert np.array_equal(out.view(np.uint64), expected.view(np.uint64)), (start, length)


def test_extreme_keys_and_a_strided_output():
    """All-zero and all-one key words (carries in the key schedule); a row of a 2-D array."""
    for key in (np.zeros(2, np.uint64), np.full(2, 2**64 - 1, np.uint64), np.array([1, 2**63], np.uint64)):
        out = np.zeros((3, 50))[:, 1::2][1]  # strided view, 25 values
        philox_uniforms(key, 9, out)
        assert np.array_equal(out, _numpy_uniforms(key, 9, 34))
        assert out.min() >= 0.0 and out.max() < 1.0


def test_a_changed_key_bit_changes_every_word():
    """Planted: one key bit flipped gives other numbers (the comparison above can fail)."""
    key = np.array([12345, 678], np.uint64)
    a, b = np.empty(64), np.empty(64)
    philox_uniforms(key, 0, a)
    philox_uniforms(key ^ np.array([1, 0], np.uint64), 0, b)
    assert not np.any(a == b)
