"""Counter-based random streams: a number depends only on (seed, purpose, step, replicate).

Each (seed, purpose, step) names a Philox key; replicate ``i`` takes the ``i``-th 64-bit word of
that key's stream. A batch covering replicates ``[start, stop)`` therefore sees the same numbers
whatever the batch size or worker, and two runs that differ only in a parameter share every
random number (common random numbers).

``StreamSource`` draws the same numbers as ``uniforms``/``normals`` but reuses one Philox
generator (its counter and key are set per call) and writes into a caller's array, so a model
that draws many streams per quarter pays neither a generator's construction (which seeds from
the OS) nor a fresh output array per draw. Keys are memoised: a key is a pure function of
(seed, purpose, step), and every batch of a run asks for the same few hundred.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
from scipy.special import ndtri

_SCALE = 1.0 / 2.0**53
_SHIFT = np.uint64(11)


@lru_cache(maxsize=1 << 16)
def _cached_key(seed: int, purpose: str, step: int) -> np.ndarray:
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(purpose.encode("utf-8")), int(step)]
    key = np.random.SeedSequence(entropy).generate_state(2, np.uint64)
    key.flags.writeable = False  # shared by every caller of the memo
    return key


def stream_key(seed: int, purpose: str, step: int) -> np.ndarray:
    """The 128-bit Philox key for one (seed, purpose, step), shape (2,) uint64 (read-only)."""
    return _cached_key(int(seed), purpose, int(step))


class StreamSource:
    """Draws of one run's streams (``seed``) through one reusable Philox generator.

    ``source.uniforms(purpose, step, start, stop)`` equals ``uniforms(seed, purpose, step, start,
    stop)`` bit for bit. Not thread-safe: one source per model (or per thread).
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._bitgen = np.random.Philox(key=np.zeros(2, np.uint64))
        self._state = self._bitgen.state
        self._counter = np.zeros(4, dtype=np.uint64)

    def _words(self, purpose: str, step: int, start: int, stop: int) -> np.ndarray:
        """Raw 64-bit words ``start..stop-1`` of the stream (a view into a reused buffer)."""
        block = start // 4  # Philox yields four 64-bit words per counter value
        state = self._state
        self._counter[0] = block
        state["state"]["counter"] = self._counter
        state["state"]["key"] = _cached_key(self.seed, purpose, step)
        state["buffer_pos"] = 4  # empty buffer: the next word comes from the counter
        self._bitgen.state = state
        raw = self._bitgen.random_raw(stop - block * 4)
        return raw[start - block * 4:]

    def uniforms(self, purpose: str, step: int, start: int, stop: int,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Uniform(0, 1) doubles (53-bit resolution, in [0, 1)), shape (stop - start,), into ``out``."""
        raw = self._words(purpose, step, start, stop)
        np.right_shift(raw, _SHIFT, out=raw)
        if out is None:
            out = np.empty(stop - start, dtype=np.float64)
        np.copyto(out, raw, casting="unsafe")  # exact: the shifted words have at most 53 bits
        np.multiply(out, _SCALE, out=out)
        return out

    def normals(self, purpose: str, step: int, start: int, stop: int,
                out: np.ndarray | None = None) -> np.ndarray:
        """Standard normals by inversion of the same uniforms (finite: u is never 0 or 1 here)."""
        u = self.uniforms(purpose, step, start, stop, out)
        np.clip(u, _SCALE, 1.0 - _SCALE, out=u)
        return ndtri(u, out=u)


def uniforms(seed: int, purpose: str, step: int, start: int, stop: int) -> np.ndarray:
    """Uniform(0, 1) doubles for replicates ``start..stop-1`` (53-bit resolution, in [0, 1))."""
    bitgen = np.random.Philox(key=stream_key(seed, purpose, step))
    block = start // 4  # Philox yields four 64-bit words per counter value
    bitgen.advance(block)
    raw = bitgen.random_raw(stop - block * 4)[start - block * 4:]
    return (raw >> _SHIFT).astype(np.float64) * _SCALE


def normals(seed: int, purpose: str, step: int, start: int, stop: int) -> np.ndarray:
    """Standard normal draws by inversion of the same uniforms (finite: u is never 0 or 1 here)."""
    u = uniforms(seed, purpose, step, start, stop)
    return ndtri(np.clip(u, _SCALE, 1.0 - _SCALE))
