"""Counter-based random streams: a number depends only on (seed, purpose, step, replicate).

Each (seed, purpose, step) names a Philox key; replicate ``i`` takes the ``i``-th 64-bit word of
that key's stream. A batch covering replicates ``[start, stop)`` therefore sees the same numbers
whatever the batch size or worker, and two runs that differ only in a parameter share every
random number (common random numbers).
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.special import ndtri

_SCALE = 1.0 / 2.0**53


def stream_key(seed: int, purpose: str, step: int) -> np.ndarray:
    """The 128-bit Philox key for one (seed, purpose, step)."""
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(purpose.encode("utf-8")), int(step)]
    return np.random.SeedSequence(entropy).generate_state(2, np.uint64)


def uniforms(seed: int, purpose: str, step: int, start: int, stop: int) -> np.ndarray:
    """Uniform(0, 1) doubles for replicates ``start..stop-1`` (53-bit resolution, in [0, 1))."""
    bitgen = np.random.Philox(key=stream_key(seed, purpose, step))
    block = start // 4  # Philox yields four 64-bit words per counter value
    bitgen.advance(block)
    raw = bitgen.random_raw(stop - block * 4)[start - block * 4:]
    return (raw >> np.uint64(11)).astype(np.float64) * _SCALE


def normals(seed: int, purpose: str, step: int, start: int, stop: int) -> np.ndarray:
    """Standard normal draws by inversion of the same uniforms (finite: u is never 0 or 1 here)."""
    u = uniforms(seed, purpose, step, start, stop)
    return ndtri(np.clip(u, _SCALE, 1.0 - _SCALE))
