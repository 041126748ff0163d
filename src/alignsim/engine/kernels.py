"""Compiled (numba) loops for the engine's hot path: one quarter of a mechanism block, the
focal state's decision and the per-quarter totals.

Each kernel does, element by element, the same IEEE double operations in the same order as
the numpy expressions it replaces (``mechanisms.core_update``, ``agents.FocalAgent.decide``,
``ensemble.FixedRowSums``), so results are equal bit for bit: numba compiles without fast-math,
so no multiply-add is fused and no sum is reassociated. The one transcendental function here,
``exp`` in the decision's logistic, is the C library's in both: numpy calls libm's ``exp`` for
float64 on CPUs without AVX-512F, and numba lowers ``math.exp`` to the same libm call (the
reference-path comparison in tests/test_kernels.py checks this on the machine it runs on).
``tanh`` and the normal quantile stay in numpy/scipy (numpy has its own SIMD ``tanh``).

A mechanism block is described by an int64 ``program`` and a float64 ``table`` (rows of
per-replicate coefficients), built once per batch by ``mechanisms.KindBlock``:

    program = [offset of the 1st variable advanced, offset of the 2nd, ..., end, <variable>, ...]
    <variable> = v (its row in the block), n_params, param rows..., n_inputs,
                 (state row, table row) x n_inputs, n_jumps, (shock row, table row) x n_jumps,
                 n_resets, (shock row, table row) x n_resets, noise table row (-1: none),
                 its row in ``z``, n_redraw, shock rows...

The offsets give the order in which the variables of a chunk are advanced: any order gives the
same numbers when ``out`` is separate from ``state``; writing ``out`` into the block's own rows of
``state`` is the same when every variable is advanced before the variables it reads
(``mechanisms.KindBlock.plan_in_place``).

Shapes: ``state`` (rows, n), ``shocks`` (shocks, n) bool, ``table`` (table rows, n), ``z`` / ``u``
(noisy / redrawn variables of the block, n), ``out`` (block variables, n), ``drive`` (n,).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

KIND_CODES = {"shock_level": 0, "partial_adjustment": 1, "logistic_growth": 2, "redraw_on_shock": 3, "product": 4}
FIXED_POINT = 2.0**32


@njit(cache=True, inline="always")
def _maximum(a, b):
    """np.maximum for doubles: NaN if either is NaN, else the larger (``a`` when equal)."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a >= b else b


@njit(cache=True, inline="always")
def _clip(x, lo, hi):
    """np.clip for doubles: min(max(x, lo), hi), NaN kept."""
    if x != x:
        return x
    y = x if x > lo else lo
    return y if y < hi else hi


CHUNK = 1024  # replicates per pass: a block's rows of one chunk stay in the L1/L2 cache


@njit(cache=True)
def advance_block(kind, program, table, state, start, shocks, z, u, low, high, reset_max, out, drive):
    """One quarter of a block of variables of one kind; writes ``out`` (``state`` only if ``out`` is its rows).

    Replicates are taken ``CHUNK`` at a time; each variable's update is a few passes over the
    chunk, each pass a loop over contiguous views from index 0 (so LLVM vectorises it). A
    variable without inputs adds a row of zeros as its drive (the same ``+ 0.0``, no pass to
    fill it), and one without jumps, noise or resets is clipped in its update pass.
    """
    nv = out.shape[0]
    n = out.shape[1]
    zeros = np.zeros(min(n, CHUNK))
    fired = np.zeros(min(n, CHUNK), dtype=np.bool_)
    for c0 in range(0, n, CHUNK):
        c1 = min(n, c0 + CHUNK)
        m = c1 - c0
        for j in range(nv):
            p = program[j]
            v = program[p]
            p += 1
            x = state[start + v, c0:c1]
            o = out[v, c0:c1]
            n_par = program[p]
            par0 = program[p + 1] if n_par > 0 else 0
            par1 = program[p + 2] if n_par > 1 else 0
            p += 1 + n_par
            n_in = program[p]
            p += 1
            inputs = p
            p += 2 * n_in
            n_jump = program[p]
            jumps = p + 1
            p += 1 + 2 * n_jump
            n_reset = program[p]
            resets = p + 1
            p += 1 + 2 * n_reset
            noise_row = program[p]
            z_row = program[p + 1]
            n_redraw = program[p + 2]
            redraw = p + 3
            lo_b, hi_b = low[v], high[v]
            plain = n_jump == 0 and n_reset == 0 and noise_row < 0  # clip at once
            d = zeros[:m]
            if kind != 4 and n_in > 0:  # drive = ((0 + c_1 v_1) + c_2 v_2) + ..., the first pass starting from 0.0
                d = drive[:m]
                for k in range(n_in):
                    src = state[program[inputs + 2 * k], c0:c1]
                    c = table[program[inputs + 2 * k + 1], c0:c1]
                    if k == 0:
                        for i in range(m):
                            d[i] = 0.0 + c[i] * src[i]
                    else:
                        for i in range(m):
                            d[i] = d[i] + c[i] * src[i]
            if kind == 0:  # shock_level: x + speed (baseline - x) + drive
                sp, bl = table[par0, c0:c1], table[par1, c0:c1]
                if plain:
                    for i in range(m):
                        o[i] = _clip(x[i] + sp[i] * (bl[i] - x[i]) + d[i], lo_b, hi_b)
                else:
                    for i in range(m):
                        o[i] = x[i] + sp[i] * (bl[i] - x[i]) + d[i]
            elif kind == 1:  # partial_adjustment: x + speed (base + drive - x)
                sp, bs = table[par0, c0:c1], table[par1, c0:c1]
                if plain:
                    for i in range(m):
                        o[i] = _clip(x[i] + sp[i] * (bs[i] + d[i] - x[i]), lo_b, hi_b)
                else:
                    for i in range(m):
                        o[i] = x[i] + sp[i] * (bs[i] + d[i] - x[i])
            elif kind == 2:  # logistic_growth: x + rate x (1 - x) + drive
                r = table[par0, c0:c1]
                if plain:
                    for i in range(m):
                        o[i] = _clip(x[i] + r[i] * x[i] * (1.0 - x[i]) + d[i], lo_b, hi_b)
                else:
                    for i in range(m):
                        o[i] = x[i] + r[i] * x[i] * (1.0 - x[i]) + d[i]
            elif kind == 4:  # product: prod_k (c_k v_k)
                for i in range(m):
                    o[i] = 1.0
                for k in range(n_in):
                    src = state[program[inputs + 2 * k], c0:c1]
                    c = table[program[inputs + 2 * k + 1], c0:c1]
                    for i in range(m):
                        o[i] = o[i] * (c[i] * src[i])
                if plain:
                    for i in range(m):
                        o[i] = _clip(o[i], lo_b, hi_b)
            elif kind == 3:  # redraw_on_shock: low + (high - low) u where a listed shock fired, else x; + drive
                lo, hi = table[par0, c0:c1], table[par1, c0:c1]
                uv = u[v, c0:c1]
                f = fired[:m]
                for i in range(m):
                    f[i] = False
                for k in range(n_redraw):
                    sh = shocks[program[redraw + k], c0:c1]
                    for i in range(m):
                        f[i] = f[i] | sh[i]
                for i in range(m):
                    fresh = lo[i] + (hi[i] - lo[i]) * uv[i]
                    o[i] = (fresh if f[i] else x[i]) + d[i]
                if plain:
                    for i in range(m):
                        o[i] = _clip(o[i], lo_b, hi_b)
            if plain:
                continue
            for k in range(n_jump):
                sh = shocks[program[jumps + 2 * k], c0:c1]
                c = table[program[jumps + 2 * k + 1], c0:c1]
                for i in range(m):
                    o[i] = o[i] + c[i] * (1.0 if sh[i] else 0.0)
            if noise_row >= 0:
                sd = table[noise_row, c0:c1]
                zz = z[z_row, c0:c1]
                for i in range(m):
                    o[i] = o[i] + sd[i] * zz[i]
            rmax = reset_max[v]
            for k in range(n_reset):
                sh = shocks[program[resets + 2 * k], c0:c1]
                level = table[program[resets + 2 * k + 1], c0:c1]
                for i in range(m):
                    if sh[i]:
                        o[i] = _maximum(o[i], level[i]) if rmax else level[i]
            for i in range(m):
                o[i] = _clip(o[i], lo_b, hi_b)


@njit(cache=True)
def weighted_rows(state, rows, weights, out):
    """out[k] = weights[k] * state[rows[k]] (the drivers' signed contributions)."""
    for k in range(rows.shape[0]):
        src = state[rows[k]]
        w = weights[k]
        o = out[k]
        for i in range(out.shape[1]):
            o[i] = w[i] * src[i]


@njit(cache=True, inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def decide(state, driver_rows, weights, weigh, contributions, barrier, u, join_i, leave_i, suspend_i, resume_i,
           sexit_i, flags, join_shift, leave_shift, step, status, pull, gap, new_status, first_entry, first_exit,
           first_suspension, switches):
    """One quarter's membership transitions (``agents.FocalAgent`` explains the rule).

    With ``weigh`` true, first writes ``contributions[k] = weights[k] * state[driver_rows[k]]``
    (as ``weighted_rows``); else reads the given ``contributions``. The rows are weighed and
    summed row by row (vectorised passes; one pass per replicate through all rows is several
    times slower, the rows being 8 * replicates bytes apart), then each replicate decides.
    ``flags``: (has suspend, has resume, has suspended-exit) intercepts. Writes ``pull`` (the
    column sums of ``contributions``, added row by row), ``gap``, ``new_status`` and updates the
    first-event steps and ``switches`` in place.
    """
    K, n = contributions.shape
    has_suspend, has_resume, has_sexit = flags[0] != 0, flags[1] != 0, flags[2] != 0
    if K == 0:
        for i in range(n):
            pull[i] = 0.0
    for k in range(K):  # row by row (vectorised): pull = ((c_0 + c_1) + c_2) + ... per replicate
        c = contributions[k]
        if weigh:
            src, w = state[driver_rows[k]], weights[k]
            for i in range(n):
                c[i] = w[i] * src[i]
        if k == 0:
            for i in range(n):
                pull[i] = c[i]
        else:
            for i in range(n):
                pull[i] = pull[i] + c[i]
    for i in range(n):
        g = pull[i] - barrier[i]
        gap[i] = g
        st = status[i]
        member = st == 1
        suspended = st == 2
        if member:
            first = leave_i[i] - g + leave_shift[i]
        else:
            first = join_i[i] + g + join_shift[i]
        if suspended:
            first = (sexit_i[i] - g + leave_shift[i]) if has_sexit else -np.inf
        p_first = _sigmoid(first)
        ui = u[i]
        move_first = ui < p_first
        second = False
        if has_suspend and member and not move_first:
            second = ui < p_first + (1.0 - p_first) * _sigmoid(suspend_i[i] - g)
        if has_resume and suspended and not move_first:
            second = ui < p_first + (1.0 - p_first) * _sigmoid(resume_i[i] + g)
        new = st
        if move_first:
            if st == 0:
                new = 1
                if first_entry[i] < 0:
                    first_entry[i] = step
            else:
                new = 0
                if first_exit[i] < 0:
                    first_exit[i] = step
        elif second:
            if member:
                new = 2
                if first_suspension[i] < 0:
                    first_suspension[i] = step
            else:
                new = 1
        if move_first or second:
            switches[i] += 1
        new_status[i] = new


@njit(cache=True, inline="always")
def _fixed(x):
    return np.int64(np.rint(x * FIXED_POINT))


MAGIC = 1.5 * 2.0**52  # y + MAGIC rounds y to an integer (ties to even) when |y| < 2**51
MAGIC_BITS = np.float64(MAGIC).view(np.int64)
FAST_LIMIT = 2.0**18  # |x| below this: |x * 2**32| < 2**50, inside the exact range of MAGIC
MAX_DOUBLE = np.finfo(np.float64).max


@njit(cache=True)
def fixed_sum_finite(x):
    """(sum_i int64(rint(x[i] * 2**32)) exactly, whether every x[i] is finite), in one vectorised pass.

    For |y| < 2**51 the double y + 1.5 * 2**52 is y rounded to an integer k (ties to even, as
    rint), and its bit pattern is that of 1.5 * 2**52 plus k; so each k is its bit pattern
    minus the constant's. Rows with a larger (or NaN) value take the plain rint loop.
    """
    n = x.shape[0]
    small = True
    finite = True
    total = np.int64(0)
    for i in range(n):
        a = abs(x[i])
        small &= a < FAST_LIMIT
        finite &= a <= MAX_DOUBLE
        total += np.float64(x[i] * FIXED_POINT + MAGIC).view(np.int64) - MAGIC_BITS
    if not small:
        total = np.int64(0)
        for i in range(n):
            total += _fixed(x[i])
    return total, finite


@njit(cache=True)
def fixed_sum(x):
    """sum_i int64(rint(x[i] * 2**32)), exactly (``fixed_sum_finite``'s first half)."""
    return fixed_sum_finite(x)[0]


@njit(cache=True)
def record_quarter(t, step, member, draw_local, gap, edges, contributions, state, var_rows, shocks,
                   member_total, member_by_draw, gap_total, gap_hist, contribution_totals, variable_totals,
                   contrib_sum, shock_first, shock_count, shock_bits, full):
    """The quarter's totals (``ensemble.QuarterTotals`` row ``t``) and the shock record, in place.

    Fixed-point sums add int64(rint(x * 2**32)) exactly (order-free); ``gap_hist`` counts
    searchsorted(edges, gap, side="right"); ``contrib_sum`` adds this quarter's contributions.
    ``full`` false skips what only the full replicate table shows (``contrib_sum`` and the shock
    record). Returns whether ``gap`` and the ``var_rows`` of ``state`` are all finite.
    """
    n = member.shape[0]
    count = 0
    nb = edges.shape[0] - 1
    lo, hi = edges[0], edges[nb]
    for i in range(n):
        if member[i]:
            count += 1
            member_by_draw[t, draw_local[i]] += 1
        g = gap[i]
        j = 0  # searchsorted(edges, g, "right"): how many edges are <= g
        if g >= lo:
            guess = int(math.floor((g - lo) * (nb / (hi - lo)))) + 1 if g < hi else nb + 1
            j = min(max(guess, 1), nb + 1)
            while j > 0 and g < edges[j - 1]:
                j -= 1
            while j <= nb and g >= edges[j]:
                j += 1
        gap_hist[t, j] += 1
    member_total[t] = count
    gap_total[t], finite = fixed_sum_finite(gap)
    for k in range(contributions.shape[0]):
        c = contributions[k]
        if full:
            cs = contrib_sum[k]
            for i in range(n):
                cs[i] = cs[i] + c[i]
        contribution_totals[t, k] = fixed_sum(c)
    for r in range(var_rows.shape[0]):
        variable_totals[t, r], ok = fixed_sum_finite(state[var_rows[r]])
        finite &= ok
    if not full:
        return finite
    bit = np.uint64(1) << np.uint64(step - 1) if step <= 64 else np.uint64(0)
    one, zero, s16 = np.int16(1), np.int16(0), np.int16(step)
    for k in range(shocks.shape[0]):  # branch-free: shocks are rare, so a branch mispredicts on each firing
        f = shocks[k]
        first, cnt, bits = shock_first[k], shock_count[k], shock_bits[k]
        for i in range(n):
            fi = f[i]
            first[i] = s16 if fi and first[i] < 0 else first[i]
            cnt[i] += one if fi else zero
            bits[i] |= bit if fi else np.uint64(0)
    return finite
