"""Counter-based random streams: a number depends only on (seed, purpose, step, replicate).

Each (seed, purpose, step) names a Philox key; replicate ``i`` takes the ``i``-th 64-bit word of
that key's stream. A batch covering replicates ``[start, stop)`` therefore sees the same numbers
whatever the batch size or worker, and two runs that differ only in a parameter share every
random number (common random numbers).

``StreamSource`` draws the same numbers as ``uniforms``/``normals`` (numpy's Philox generator,
the reference) through ``philox.philox_uniforms``, the same Philox4x64-10 compiled inline with
the conversion to doubles (about twice as fast), and writes into a caller's array, so a model
that draws many streams per quarter pays neither a generator's construction (which seeds from
the OS) nor a fresh output array per draw. Keys are memoised: a key is a pure function of
(seed, purpose, step), and every batch of a run asks for the same few hundred.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
from scipy.special import ndtri

from alignsim.engine.philox import philox_uniforms

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
    """Draws of one run's streams (``seed``) in one compiled loop each (``philox.philox_uniforms``).

    ``source.uniforms(purpose, step, start, stop)`` equals ``uniforms(seed, purpose, step, start,
    stop)`` (numpy's own Philox generator, kept as the reference) bit for bit. Stateless apart
    from the seed: one source can serve any number of models or threads.
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def uniforms(self, purpose: str, step: int, start: int, stop: int,
                 out: np.ndarray | None = None) -> np.ndarray:
        """Uniform(0, 1) doubles (53-bit resolution, in [0, 1)), shape (stop - start,), into ``out``."""
        if out is None:
            out = np.empty(stop - start, dtype=np.float64)
        philox_uniforms(_cached_key(self.seed, purpose, step), start, out)
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
