"""Philox4x64-10 uniforms in one compiled loop: the same numbers as ``numpy.random.Philox``.

``streams.StreamSource`` draws a stream's words ``start..stop-1`` with numpy's Philox (key set,
counter at ``start // 4``, buffer empty) and turns each word ``w`` into ``(w >> 11) * 2**-53``.
numpy yields word ``i`` of a key's stream as lane ``i mod 4`` of the Philox4x64-10 block
function at counter ``(i // 4 + 1, 0, 0, 0)`` (its generator increments the counter before
each block), and spends ~4.6 ns a word behind a function pointer; here the block function
(Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3", the constants of Random123
and numpy's ``philox.h``) runs inline, with the 64 x 64 -> 128-bit product as one LLVM ``mul
i128`` (a single ``mul`` instruction on x86-64, as numpy's C uses), and the conversion to a double is fused into the same loop. Integer arithmetic
and an exact conversion: the words, and so the doubles, are equal bit for bit
(tests/test_streams.py checks against numpy's generator across keys, offsets and lengths).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_M0 = np.uint64(0xD2E7470EE14C6C93)
_M1 = np.uint64(0xCA5A826395121157)
_W0 = np.uint64(0x9E3779B97F4A7C15)
_W1 = np.uint64(0xBB67AE8584CAA73B)
_S11 = np.uint64(11)
_ONE = np.uint64(1)
_TWO = np.uint64(2)
_THREE = np.uint64(3)
_FOUR = np.uint64(4)
_SCALE = 1.0 / 2.0**53


@intrinsic
def _mulhilo(typingctx, a, b):
    """(high, low) 64-bit halves of the 128-bit product a * b (uint64 operands): one ``mul i128``."""
    if a != types.uint64 or b != types.uint64:
        return None
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        low = builder.trunc(product, ir.IntType(64))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (high, low))

    return sig, codegen


@njit(cache=True, inline="always")
def _block(c0, k0, k1):
    """Philox4x64-10 of the counter (c0, 0, 0, 0) under key (k0, k1): four 64-bit words."""
    x0, x1, x2, x3 = c0, np.uint64(0), np.uint64(0), np.uint64(0)
    for r in range(10):
        if r > 0:
            k0 += _W0
            k1 += _W1
        hi0, lo0 = _mulhilo(_M0, x0)
        hi1, lo1 = _mulhilo(_M1, x2)
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


@njit(cache=True, inline="always")
def _uniform(w):
    """(w >> 11) * 2**-53: exact (the shifted word has at most 53 bits)."""
    return np.float64(np.int64(w >> _S11)) * _SCALE


@njit(cache=True, inline="always")
def _store(out, j, x0, x1, x2, x3):
    out[j], out[j + 1], out[j + 2], out[j + 3] = _uniform(x0), _uniform(x1), _uniform(x2), _uniform(x3)


@njit(cache=True)
def _full_blocks(k0, k1, b0, nb, out):
    """out[4 i + lane] = uniform of lane ``lane`` of block ``b0 + i`` (counter b0 + i + 1), i < nb.

    Four blocks per pass: their ten dependent rounds interleave, so the multiplier is kept busy
    (one block at a time waits on each round's product: twice as slow).
    """
    c = np.uint64(b0) + _ONE
    whole = nb - nb % 4
    for i in range(0, whole, 4):
        ci = c + np.uint64(i)
        a0, a1, a2, a3 = _block(ci, k0, k1)
        b0_, b1, b2, b3 = _block(ci + _ONE, k0, k1)
        c0, c1, c2, c3 = _block(ci + _TWO, k0, k1)
        d0, d1, d2, d3 = _block(ci + _THREE, k0, k1)
        _store(out, 4 * i, a0, a1, a2, a3)
        _store(out, 4 * i + 4, b0_, b1, b2, b3)
        _store(out, 4 * i + 8, c0, c1, c2, c3)
        _store(out, 4 * i + 12, d0, d1, d2, d3)
    for i in range(whole, nb):
        x0, x1, x2, x3 = _block(c + np.uint64(i), k0, k1)
        _store(out, 4 * i, x0, x1, x2, x3)


@njit(cache=True)
def _partial_block(k0, k1, b, lo, hi, out):
    """out[j] = uniform of lane ``lo + j`` of block ``b``, for lanes lo..hi-1."""
    x0, x1, x2, x3 = _block(np.uint64(b) + _ONE, k0, k1)
    words = (x0, x1, x2, x3)
    for lane in range(lo, hi):
        out[lane - lo] = _uniform(words[lane])


@njit(cache=True)
def philox_uniforms(key, start, out):
    """out[j] = uniform of word ``start + j`` of the stream with Philox key ``key`` (shape (2,) uint64)."""
    n = out.shape[0]
    k0, k1 = key[0], key[1]
    stop = start + n
    head = min(stop, (start + 3) // 4 * 4)  # words before the first whole block
    if head > start:
        _partial_block(k0, k1, start // 4, start % 4, head - (start // 4) * 4, out[:head - start])
    nb = (stop - head) // 4
    _full_blocks(k0, k1, head // 4, nb, out[head - start:])
    tail = head + 4 * nb
    if stop > tail:
        _partial_block(k0, k1, tail // 4, 0, stop - tail, out[tail - start:])
