"""Compiled (numba) loops for the strategic powers' quarter and the focal state's soft maximum.

Each kernel does, element by element, the IEEE double operations of the numpy code it replaces
(``choice.Strategy.choose_numpy`` with the linear look-ahead, ``alternatives.Alternatives.
combine_numpy``) in the same order, so the results are equal bit for bit (numba compiles
without fast-math: no fused multiply-add, no reassociation). The transcendental functions
(``tanh``, ``exp``, ``log``) are NOT in the kernels: the caller applies numpy's own ufuncs to the
arrays the kernels write, between kernel calls, so they are the very functions the reference
calls, whatever SIMD code numpy picks on the machine.

One quarter of the choice is three kernels and two numpy calls (P powers, O chosen policies in
``Strategy.chosen`` order, n replicates, H the look-ahead horizon):

1. ``shifted_logits``: per power, the pull shifted by the other powers' last choices ``y``
   (P, n) and minus the switching logit ``mz`` (P, n);        numpy: T = tanh(y), E = exp(mz).
2. ``linear_logits``: per policy, precision * EU(retreat) and precision * EU(expand), clipped
   to [-700, 700], rows 2o and 2o + 1 of ``out`` (2 O, n);   numpy: exp(out, out=out).
3. ``pick``: the choice a in {-1, 0, 1} from the policy's uniform, the new level, the counts.

The soft maximum is two kernels around numpy's exp, sum and log (``offers``, ``rescale``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from alignsim.engine.kernels import CHUNK

# observable codes in ``term_of`` (a value >= 0 is a state-matrix row)
OBS_MEMBER, OBS_TILT, OBS_BEST = -1, -2, -3
# term kinds in ``term_kind``
TERM_TILT, TERM_MEMBER, TERM_FIXED, TERM_PRODUCT = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _max(a, b):
    """np.maximum for doubles as one select (so that loops over it vectorise): NaN if either is
    NaN, else the larger, ``b`` when they are equal (as numpy: max(-0.0, 0.0) is 0.0)."""
    return a if (a > b or a != a) else b


@njit(cache=True, inline="always")
def _min(a, b):
    """np.minimum for doubles as one select: NaN if either is NaN, else the smaller, ``b`` when equal."""
    return a if (a < b or a != a) else b


@njit(cache=True, inline="always")
def _clip_select(x, lo, hi):
    """np.clip(x, lo, hi) for doubles as two selects: NaN kept, ``x`` itself when it equals a bound."""
    y = x if (x >= lo or x != x) else lo
    return y if (y <= hi or x != x) else hi


@njit(cache=True, error_model="numpy")
def shifted_logits(pull, gap, member, join_i, leave_i, last, step, ramp, share, y, mz):
    """Per power i: y[i] = pull + shift_i and mz[i] = -z_i, shapes (P, n).

    shift_i = sum over policies o with ``share[i, o]`` (another power's policy whose last
    choice is not all zero) of (last[o] step[o]) ramp[o], added in policy order (the first
    term taken as it is); without such a policy y[i] = pull and the gap is unshifted.
    z_i = leave - (gap + shift_i) for a member, join + (gap + shift_i) otherwise.
    ``pull``, ``gap``, ``join_i``, ``leave_i`` (n,); ``member`` (n,) bool; ``last``, ``step``,
    ``ramp`` (O, n); ``share`` (P, O) int8.
    """
    P, n_opt = share.shape
    n = pull.shape[0]
    acc = np.empty(n)
    for i in range(P):
        has = False
        for o in range(n_opt):
            if share[i, o]:
                lo, so, ro = last[o], step[o], ramp[o]
                if has:
                    for r in range(n):
                        acc[r] = acc[r] + (lo[r] * so[r]) * ro[r]
                else:
                    for r in range(n):
                        acc[r] = (lo[r] * so[r]) * ro[r]
                has = True
        yi, mzi = y[i], mz[i]
        if has:
            for r in range(n):
                yi[r] = pull[r] + acc[r]
                g = gap[r] + acc[r]
                mzi[r] = -(leave_i[r] - g if member[r] else join_i[r] + g)
        else:
            for r in range(n):
                yi[r] = pull[r]
                g = gap[r]
                mzi[r] = -(leave_i[r] - g if member[r] else join_i[r] + g)


@njit(cache=True, inline="always")
def _observe(code, r, state, member, tilt, best):
    if code >= 0:
        return state[code, r]
    if code == OBS_MEMBER:
        return 1.0 if member[r] else 0.0
    if code == OBS_TILT:
        return tilt[r]
    return best[r]


@njit(cache=True, error_model="numpy")
def linear_logits(T, E, uses, disc0, delta, discounted, H, power_opts, power_terms, term_kind, term_of, term_times,
                  weights, gains, fixed_row, pull_row, paths_row, gain_of, gain_times, x_row, step, curve,
                  low, high, precision, state, member, tilt, best, out):
    """precision * EU(retreat / expand) of every chosen policy by the linear look-ahead, clipped
    to [-700, 700]: ``out`` (2 O, n), rows 2o (retreat) and 2o + 1 (expand).

    Per power i (``Strategy.slopes``): p = 1 / (1 + E[i]) the switching chance at the shifted
    gap, slope p (1 - p), q = 1 - p, rho = delta q (q undiscounted); membership weights
    w[0] = disc0 slope, w[h] = w[h-1] rho (h < H), w[H] = w[H-1] rho / (1 - rho),
    w[H+1] = w[H] / (1 - rho) (0 undiscounted); tilt slope 1 - T[i]**2.
    Per policy o of power i (``Strategy._linear_pm``): the marginal utility m starts from its
    fixed part and adds, term by term, weight * d with d = tilt slope * G_pull (tilt),
    sum_h w[h] P_h (member, from 0.0 in order h = 0..H+1), G_of (a variable); a term with a
    factor v uses v d + obs G_v. With down / up the step clipped at the bounds,
    EU = d (m - curve (2 x + d)).

    ``uses`` (P, 2) int8: whether power i has a tilt term (column 0), a membership term (1);
    the slopes it lacks are not computed (nor are its rows of ``T`` / ``E`` read).

    Shapes: ``T``, ``E`` (P, n); ``disc0``, ``delta``, ``precision`` (n,); ``power_opts`` (P + 1,)
    and ``power_terms`` (P + 1,) offsets; ``term_kind``, ``term_of``, ``term_times`` (K,);
    ``weights`` (K, n) signed; ``gains`` (rows, n); ``fixed_row``, ``pull_row``, ``paths_row``,
    ``x_row`` (O,); ``gain_of``, ``gain_times`` (O, Kmax) rows of ``gains``; ``step``, ``curve``
    (O, n); ``low``, ``high`` (O,); ``state`` (rows, n); ``member`` bool, ``tilt``, ``best`` (n,).
    """
    P = T.shape[0]
    n = T.shape[1]
    w = np.empty((H + 2, CHUNK))
    scratch = np.empty((6, CHUNK))
    rho, ts, m, d, obs, memf = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4], scratch[5]
    for c0 in range(0, n, CHUNK):
        c1 = min(n, c0 + CHUNK)
        nc = c1 - c0
        mb = member[c0:c1]
        for r in range(nc):
            memf[r] = 1.0 if mb[r] else 0.0
        for i in range(P):
            Ei, Ti, dl, d0 = E[i, c0:c1], T[i, c0:c1], delta[c0:c1], disc0[c0:c1]
            if uses[i, 1]:  # membership weights, only for a power with a membership term
                w0 = w[0]
                for r in range(nc):  # branch-free passes, so that LLVM vectorises them
                    p = 1.0 / (1.0 + Ei[r])
                    rho[r] = 1.0 - p
                    w0[r] = d0[r] * (p * (1.0 - p))
                if discounted:
                    for r in range(nc):
                        rho[r] = dl[r] * rho[r]
                for h in range(1, H):
                    wp, wh = w[h - 1], w[h]
                    for r in range(nc):
                        wh[r] = wp[r] * rho[r]
                wl, wH, wH1 = w[H - 1], w[H], w[H + 1]
                if discounted:
                    for r in range(nc):
                        inv = 1.0 / (1.0 - rho[r])
                        last = (wl[r] * rho[r]) * inv
                        wH[r] = last
                        wH1[r] = last * inv
                else:
                    for r in range(nc):
                        wH[r] = 0.0
                        wH1[r] = 0.0
            if uses[i, 0]:  # the tilt slope, only for a power with a tilt term
                for r in range(nc):
                    ts[r] = 1.0 - Ti[r] * Ti[r]
            for o in range(power_opts[i], power_opts[i + 1]):
                fx = gains[fixed_row[o], c0:c1]
                for r in range(nc):
                    m[r] = fx[r]
                for k in range(power_terms[i], power_terms[i + 1]):
                    kind = term_kind[k]
                    if kind == TERM_FIXED:
                        continue
                    kl = k - power_terms[i]
                    if kind == TERM_TILT:
                        gp = gains[pull_row[o], c0:c1]
                        for r in range(nc):
                            d[r] = ts[r] * gp[r]
                    elif kind == TERM_MEMBER:
                        for r in range(nc):
                            d[r] = 0.0
                        for h in range(H + 2):
                            wh, gh = w[h], gains[paths_row[o] + h, c0:c1]
                            for r in range(nc):
                                d[r] = d[r] + wh[r] * gh[r]
                    else:
                        go = gains[gain_of[o, kl], c0:c1]
                        for r in range(nc):
                            d[r] = go[r]
                    if term_times[k] >= 0:
                        code = term_of[k]
                        src = state[code, c0:c1] if code >= 0 else memf[:nc] if code == OBS_MEMBER \
                            else tilt[c0:c1] if code == OBS_TILT else best[c0:c1]
                        for r in range(nc):
                            obs[r] = src[r]
                        v, gt = state[term_times[k], c0:c1], gains[gain_times[o, kl], c0:c1]
                        for r in range(nc):
                            d[r] = v[r] * d[r] + obs[r] * gt[r]
                    wk = weights[k, c0:c1]
                    for r in range(nc):
                        m[r] = m[r] + wk[r] * d[r]
                x, so, cu = state[x_row[o], c0:c1], step[o, c0:c1], curve[o, c0:c1]
                lo, hi, pr = low[o], high[o], precision[c0:c1]
                om, op = out[2 * o, c0:c1], out[2 * o + 1, c0:c1]
                for r in range(nc):
                    xr = x[r]
                    down = _max(xr - so[r], lo) - xr
                    up = _min(xr + so[r], hi) - xr
                    two_x = 2.0 * xr
                    om[r] = _clip_select(pr[r] * (down * (m[r] - cu[r] * (two_x + down))), -700.0, 700.0)
                    op[r] = _clip_select(pr[r] * (up * (m[r] - cu[r] * (two_x + up))), -700.0, 700.0)


@njit(cache=True, inline="always")
def _tilt_bin(x, edges):
    """clip(searchsorted(edges, x, 'right') - 1, 0, len(edges) - 2); NaN sorts last.

    A guess from evenly spaced edges, corrected against the edges themselves."""
    nb = edges.shape[0] - 1
    if x != x:
        return nb - 1
    lo, hi = edges[0], edges[nb]
    if x < lo:
        return 0
    j = int(math.floor((x - lo) * (nb / (hi - lo)))) + 1 if x < hi else nb + 1
    j = min(max(j, 1), nb + 1)  # j = how many edges are <= x
    while j > 0 and x < edges[j - 1]:
        j -= 1
    while j <= nb and x >= edges[j]:
        j += 1
    return min(max(j - 1, 0), nb - 1)


@njit(cache=True, error_model="numpy")
def pick(expo, u, state, x_row, step, low, high, tilt, edges, t, counts, tilt_counts, a, level):
    """Each policy's choice and new level; the step's counts.

    With e_- = expo[2o], e_+ = expo[2o + 1] and total = 1 + e_- + e_+: a = [u >= e_-/total]
    + [u >= 1 - e_+/total] - 1; level = clip(x + step a, low, high). When 0 <= t < len(counts):
    counts[t, o] = the counts of a = -1, 0, 1 and tilt_counts[o, bin(tilt), a + 1] += 1.
    Shapes: ``expo`` (2 O, n); ``u``, ``step`` (O, n); ``x_row``, ``low``, ``high`` (O,);
    ``tilt`` (n,); ``counts`` (steps, O, 3); ``tilt_counts`` (O, bins, 3); ``a`` (O, n) int8;
    ``level`` (O, n).
    """
    n_opt, n = u.shape
    for o in range(n_opt):
        em, ep, uo, ao, lv = expo[2 * o], expo[2 * o + 1], u[o], a[o], level[o]
        x, so, lo, hi = state[x_row[o]], step[o], low[o], high[o]
        for r in range(n):
            total = 1.0 + em[r] + ep[r]
            c = np.int8((uo[r] >= em[r] / total)) + np.int8((uo[r] >= 1.0 - ep[r] / total)) - np.int8(1)
            ao[r] = c
            lv[r] = _clip_select(x[r] + so[r] * float(c), lo, hi)
    if not 0 <= t < counts.shape[0]:
        return
    bins = np.empty(n, dtype=np.int64)
    for r in range(n):
        bins[r] = _tilt_bin(tilt[r], edges)
    for o in range(n_opt):
        ao = a[o]
        c3 = np.zeros(3, dtype=np.int64)
        tc = tilt_counts[o]
        for r in range(n):
            k = ao[r] + 1
            c3[k] += 1
            tc[bins[r], k] += 1
        for k in range(3):
            counts[t, o, k] = c3[k]


@njit(cache=True, error_model="numpy")
def offers(contributions, rows, starts, k, arg, top, total):
    """Each partner's offer v_j = -sum of its rows' contributions (first row taken as it is),
    their running maximum ``top`` and sum ``total`` over j (n,), and arg[j] = k (v_j - top).
    ``contributions`` (drivers, n); ``rows`` the partners' rows one after another, partner j's
    from ``starts[j]`` to ``starts[j + 1]``; ``k`` (n,); ``arg`` (J, n).
    """
    J = starts.shape[0] - 1
    n = contributions.shape[1]
    for j in range(J):
        aj = arg[j]
        for s in range(starts[j], starts[j + 1]):
            c = contributions[rows[s]]
            if s == starts[j]:
                for r in range(n):
                    aj[r] = c[r]
            else:
                for r in range(n):
                    aj[r] = aj[r] + c[r]
        if starts[j + 1] == starts[j]:
            for r in range(n):
                aj[r] = 0.0
        for r in range(n):
            aj[r] = -aj[r]
    a0 = arg[0]
    for r in range(n):
        top[r] = a0[r]
        total[r] = a0[r]
    for j in range(1, J):
        aj = arg[j]
        for r in range(n):
            top[r] = _max(top[r], aj[r])
            total[r] = total[r] + aj[r]
    for j in range(J):
        aj = arg[j]
        for r in range(n):
            aj[r] = k[r] * (aj[r] - top[r])


@njit(cache=True, error_model="numpy")
def rescale(top, log_sum, k, log_j, total, contributions, rows, best):
    """best = top + log_sum / k - log_j / k (n,); each of ``rows`` (unique) of ``contributions``
    multiplied by best / total where total > 0, else by 0."""
    n = top.shape[0]
    scale = np.empty(n)
    for r in range(n):
        b = top[r] + log_sum[r] / k[r] - log_j / k[r]
        best[r] = b
        scale[r] = b / total[r] if total[r] > 0 else 0.0
    for s in range(rows.shape[0]):
        c = contributions[rows[s]]
        for r in range(n):
            c[r] = c[r] * scale[r]
