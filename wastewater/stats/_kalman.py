"""Compiled Kalman-filter kernels of the "AR(1) plus measurement noise" model, many series at once.

The series of a batch are stored one after another ("ragged"): rows ``off[b]:off[b + 1]`` belong
to series ``b``, ``pos`` is the day number of each row (strictly increasing within a series) and
``use`` says whether the row is observed (rows that are not are treated as missing days).

State of the scalar filter [DurbinKoopman2012]_ (§2.2; missing observations §2.7), total variance 1:
``u_t = φ·u_{t−1} + w_t`` with stationary variance ``1 − λ``, observation ``y_t = u_t + ε_t``
with ``Var ε_t = λ``. Between two observations ``d`` days apart the prediction is
``a ← φ^d·a``, ``P ← φ^{2d}·P + (1 − λ)(1 − φ^{2d})`` (``d − 1`` missing days in between); at an
observation ``F = P + λ``, ``K = P/F``, ``v = z − a``, ``a ← a + K·v``, ``P ← P − K·P``. The
standardised innovations ``v/√F`` of the response and of every design column are the exactly
whitened rows, so ``Σ_t (v/√F)(v/√F)'`` is ``Z'Σ⁻¹Z`` and ``log|Σ| = Σ_t log F_t`` [Harvey1989]_ (§3.4).

The kernels are compiled with numba (one machine-code loop per series instead of one numpy call
per day: the batch of all operation tests of a country runs in seconds). The likelihood kernel
takes consecutive series whose rows coincide (the windows of several events on one series) through
their rows side by side, which keeps the processor busy while one series' recursion waits on the
previous row; each series' numbers are those of the series alone. Without numba (an
environment that cannot install it) the same Python functions run uncompiled: same numbers,
much slower.

Citations are entries of the bibliography ``wastewater/data/references.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

__all__ = ["censored_em", "crossproduct_derivatives", "crossproducts", "gram", "gram_row",
           "layout", "masked_gram", "missing_information", "profile_loglik", "residuals", "rewhiten", "solve", "whiten"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: Fast-math flags of the kernels: reassociation and contraction, but NaN and infinity keep
#: their IEEE meaning (degenerate problems must come out as NaN, not as garbage).
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

try:  # pragma: no cover - exercised by whichever environment runs the tests
    import numba

    def _jit(func: _F) -> _F:
        return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FASTMATH)(func))

    def _jit_inline(func: _F) -> _F:
        # for helpers: numba inlines their code into each kernel that calls them (no call at run time)
        return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FASTMATH,
                                   inline="always")(func))
except ImportError:  # pragma: no cover
    def _jit(func: _F) -> _F:
        return func

    def _jit_inline(func: _F) -> _F:
        return func



#: Filter lanes of one pass of :func:`_loglik_kernel`: series whose rows coincide (the windows of
#: several events on one series) run side by side, each grid point of each series one lane.
LANES = 128


@_jit
def _same_rows(use: np.ndarray, pos: np.ndarray, off: np.ndarray, b: int, c: int) -> bool:  # pragma: no cover
    # the rows of series c are those of series b on their common length (same use, same days)
    n = min(off[b + 1] - off[b], off[c + 1] - off[c])
    for t in range(n):
        i, j = off[b] + t, off[c] + t
        if use[i] != use[j] or (use[i] and pos[i] != pos[j]):
            return False
    return True


@_jit
def _group(use: np.ndarray, pos: np.ndarray, off: np.ndarray, b: int, gmax: int,
           members: np.ndarray, nlen: np.ndarray) -> int:  # pragma: no cover
    # the group starting at series b: it and the following series whose rows are a prefix of
    # the longest one's (at most gmax); members longest first, with their numbers of rows
    n_series = len(off) - 1
    ref = b
    nq = 1
    while nq < gmax and b + nq < n_series and _same_rows(use, pos, off, ref, b + nq):
        if off[b + nq + 1] - off[b + nq] > off[ref + 1] - off[ref]:
            ref = b + nq
        nq += 1
    for j in range(nq):  # insertion sort (a group is small)
        c = b + j
        n_c = off[c + 1] - off[c]
        p = j
        while p > 0 and nlen[p - 1] < n_c:
            members[p] = members[p - 1]
            nlen[p] = nlen[p - 1]
            p -= 1
        members[p] = c
        nlen[p] = n_c
    return nq


@_jit_inline
def _group_loglik(out: np.ndarray, members: np.ndarray, nq: int, n_grid: int, df: np.ndarray,
                  ss: np.ndarray, ld: np.ndarray, pr: np.ndarray) -> None:  # pragma: no cover
    # the end of a group of the likelihood kernels: ℓ = −½[df·log(r'Σ⁻¹r / df) + log|Σ|]
    # [Harvey1989]_ (§3.4) of grid point g of series members[j] from lane j·n_grid + g: r'Σ⁻¹r
    # in ss, log|Σ| = ld + log pr (pr: the product of F not yet folded into ld)
    for j in range(nq):
        c = members[j]
        for g in range(n_grid):
            lane = j * n_grid + g
            out[c, g] = -0.5 * (df[c] * math.log(max(ss[lane], 1e-300) / df[c]) + ld[lane]
                                + math.log(pr[lane]))


@_jit
def _loglik_kernel(r: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                   phi: np.ndarray, lam: np.ndarray, df: np.ndarray) -> np.ndarray:  # pragma: no cover
    # consecutive series with the same rows (up to the shorter one's end) go through the rows
    # together, all their grid points side by side (independent recursions the processor
    # overlaps; each lane's arithmetic is that of its series alone); log F is accumulated as
    # a product, rescaled every 32 used rows
    n_series, n_grid = phi.shape
    out = np.empty((n_series, n_grid))
    gmax = max(1, LANES // max(n_grid, 1))
    nl = gmax * n_grid
    a = np.zeros(nl)
    P = np.zeros(nl)
    ss = np.zeros(nl)
    ld = np.zeros(nl)
    pr = np.ones(nl)
    q = np.zeros(nl)
    ph = np.zeros(nl)
    lm = np.zeros(nl)
    ph2 = np.zeros(nl)
    rl = np.zeros(nl)
    members = np.zeros(gmax, dtype=np.int64)
    nlen = np.zeros(gmax, dtype=np.int64)
    b = 0
    while b < n_series:
        nq = _group(use, pos, off, b, gmax, members, nlen)
        for j in range(nq):
            c = members[j]
            for g in range(n_grid):
                lane = j * n_grid + g
                ph[lane] = phi[c, g]
                lm[lane] = lam[c, g]
                a[lane] = 0.0
                P[lane] = 1.0 - lm[lane]
                ss[lane] = 0.0
                ld[lane] = 0.0
                pr[lane] = 1.0
                ph2[lane] = ph[lane] * ph[lane]
                q[lane] = (1.0 - lm[lane]) * (1.0 - ph2[lane])
        act = nq
        last = -1
        count = 0
        first = off[members[0]]
        for t in range(nlen[0]):
            while nlen[act - 1] <= t:
                act -= 1
            i = first + t
            if not use[i]:
                continue
            for j in range(act):
                ri = r[off[members[j]] + t]
                for g in range(n_grid):
                    rl[j * n_grid + g] = ri
            L = act * n_grid
            if last >= 0:
                d = pos[i] - last
                if d == 1:
                    for lane in range(L):
                        a[lane] *= ph[lane]
                        P[lane] = ph2[lane] * P[lane] + q[lane]
                else:
                    for lane in range(L):
                        f = ph[lane] ** d
                        a[lane] *= f
                        P[lane] = f * f * P[lane] + (1.0 - lm[lane]) * (1.0 - f * f)
            last = pos[i]
            for lane in range(L):
                F = P[lane] + lm[lane]
                Fi = 1.0 / F
                v = rl[lane] - a[lane]
                K = P[lane] * Fi
                a[lane] += K * v
                P[lane] -= K * P[lane]
                ss[lane] += v * v * Fi
                pr[lane] *= F
            count += 1
            if count == 32:
                count = 0
                for lane in range(L):
                    ld[lane] += math.log(pr[lane])
                    pr[lane] = 1.0
        _group_loglik(out, members, nq, n_grid, df, ss, ld, pr)
        b += nq
    return out


#: Series per pass of :func:`_loglik_shared_kernel` (all series at the same grid points).
SHARED_SERIES = 16


@_jit
def _loglik_shared_kernel(r: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                          phi: np.ndarray, lam: np.ndarray, df: np.ndarray) -> np.ndarray:  # pragma: no cover
    # _loglik_kernel when every series has the same grid points phi, lam (n_grid,): the data-free
    # part of the filter (P, F, K, the product of F) is the same for a group's series, computed
    # once per grid point, the same operations as per lane; the residual recursion per lane
    n_series = len(off) - 1
    n_grid = len(phi)
    out = np.empty((n_series, n_grid))
    gmax = SHARED_SERIES
    nl = gmax * n_grid
    a = np.zeros(nl)
    ss = np.zeros(nl)
    ldm = np.zeros(nl)
    prm = np.ones(nl)
    P = np.zeros(n_grid)
    ld = np.zeros(n_grid)
    pr = np.ones(n_grid)
    ph2 = np.zeros(n_grid)
    q = np.zeros(n_grid)
    fg = np.zeros(n_grid)
    Kg = np.zeros(n_grid)
    Fig = np.zeros(n_grid)
    members = np.zeros(gmax, dtype=np.int64)
    nlen = np.zeros(gmax, dtype=np.int64)
    b = 0
    while b < n_series:
        nq = _group(use, pos, off, b, gmax, members, nlen)
        for g in range(n_grid):
            P[g] = 1.0 - lam[g]
            ld[g] = 0.0
            pr[g] = 1.0
            ph2[g] = phi[g] * phi[g]
            q[g] = (1.0 - lam[g]) * (1.0 - ph2[g])
        for lane in range(nq * n_grid):
            a[lane] = 0.0
            ss[lane] = 0.0
        act = nq
        last = -1
        count = 0
        first = off[members[0]]
        for t in range(nlen[0] + 1):
            while act > 0 and nlen[act - 1] <= t:  # a series ends: its share of log|Σ|
                for g in range(n_grid):
                    ldm[(act - 1) * n_grid + g] = ld[g]
                    prm[(act - 1) * n_grid + g] = pr[g]
                act -= 1
            if act == 0:
                break
            i = first + t
            if not use[i]:
                continue
            predict = last >= 0
            if predict:
                d = pos[i] - last
                if d == 1:
                    for g in range(n_grid):
                        fg[g] = phi[g]
                        P[g] = ph2[g] * P[g] + q[g]
                else:
                    for g in range(n_grid):
                        f = phi[g] ** d
                        fg[g] = f
                        P[g] = f * f * P[g] + (1.0 - lam[g]) * (1.0 - f * f)
            last = pos[i]
            for g in range(n_grid):
                F = P[g] + lam[g]
                Fi = 1.0 / F
                K = P[g] * Fi
                P[g] -= K * P[g]
                pr[g] *= F
                Kg[g] = K
                Fig[g] = Fi
            for j in range(act):
                ri = r[off[members[j]] + t]
                base = j * n_grid
                if predict:
                    for g in range(n_grid):
                        a[base + g] *= fg[g]
                for g in range(n_grid):
                    v = ri - a[base + g]
                    a[base + g] += Kg[g] * v
                    ss[base + g] += v * v * Fig[g]
            count += 1
            if count == 32:
                count = 0
                for g in range(n_grid):
                    ld[g] += math.log(pr[g])
                    pr[g] = 1.0
        _group_loglik(out, members, nq, n_grid, df, ss, ldm, prm)
        b += nq
    return out


@_jit
def _whiten_kernel(Z: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                   phi: np.ndarray, lam: np.ndarray, active: np.ndarray,
                   m: int, W: np.ndarray, gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    # into W (N, m) and gains (N, 3), zeros first; also the data-free part of the filter per
    # row: prediction factor f, gain K, 1/√F
    n_series = len(off) - 1
    W[:, :] = 0.0
    gains[:, :] = 0.0
    a = np.zeros(m)
    for b in range(n_series):
        if not active[b]:
            continue
        ph = phi[b]
        la = lam[b]
        ph2 = ph * ph
        q = (1.0 - la) * (1.0 - ph2)
        P = 1.0 - la
        a[:] = 0.0
        last = -1
        for i in range(off[b], off[b + 1]):
            if not use[i]:
                continue
            f = 0.0
            if last >= 0:
                d = pos[i] - last
                if d == 1:
                    f = ph
                    P = ph2 * P + q
                else:
                    f = ph ** d
                    P = f * f * P + (1.0 - la) * (1.0 - f * f)
                for j in range(m):
                    a[j] *= f
            last = pos[i]
            F = P + la
            K = P / F
            sf = 1.0 / math.sqrt(F)
            for j in range(m):
                v = Z[i, j] - a[j]
                a[j] += K * v
                W[i, j] = v * sf
            P -= K * P
            gains[i, 0] = f
            gains[i, 1] = K
            gains[i, 2] = sf
    return W, gains


@_jit
def _rewhiten_kernel(y: np.ndarray, gains: np.ndarray, use: np.ndarray, off: np.ndarray,
                     active: np.ndarray) -> np.ndarray:  # pragma: no cover
    w = np.zeros(len(y))
    for b in range(len(off) - 1):
        if not active[b]:
            continue
        a = 0.0
        for i in range(off[b], off[b + 1]):
            if not use[i]:
                continue
            a *= gains[i, 0]
            v = y[i] - a
            a += gains[i, 1] * v
            w[i] = v * gains[i, 2]
    return w


@_jit
def _gram_kernel(W: np.ndarray, off: np.ndarray, active: np.ndarray) -> np.ndarray:  # pragma: no cover
    # four rows at a time: each sum is still taken row by row in order, but every load and
    # store of the accumulator serves four rows (the loop was bound by those memory accesses)
    n_series = len(off) - 1
    m = W.shape[1]
    S = np.zeros((n_series, m, m))
    Sb = np.zeros((m, m))
    for b in range(n_series):
        if not active[b]:
            continue
        Sb[:, :] = 0.0
        t = off[b]
        e = off[b + 1]
        while t + 4 <= e:
            for j in range(m):  # the full square: the inner loop vectorises
                w0 = W[t, j]
                w1 = W[t + 1, j]
                w2 = W[t + 2, j]
                w3 = W[t + 3, j]
                for k in range(m):
                    acc = Sb[j, k]
                    acc += w0 * W[t, k]
                    acc += w1 * W[t + 1, k]
                    acc += w2 * W[t + 2, k]
                    acc += w3 * W[t + 3, k]
                    Sb[j, k] = acc
            t += 4
        while t < e:
            for j in range(m):
                wj = W[t, j]
                for k in range(m):
                    Sb[j, k] += wj * W[t, k]
            t += 1
        for j in range(m):
            for k in range(j, m):
                S[b, j, k] = Sb[j, k]
                S[b, k, j] = Sb[j, k]
    return S


@_jit
def _masked_gram_kernel(Z: np.ndarray, cols: np.ndarray, use: np.ndarray,
                        off: np.ndarray) -> np.ndarray:  # pragma: no cover
    # Z[use, cols]'Z[use, cols] of each series, four used rows at a time (as _gram_kernel)
    n_series = len(off) - 1
    m = len(cols)
    S = np.zeros((n_series, m, m))
    Sb = np.zeros((m, m))
    w4 = np.zeros((4, m))
    for b in range(n_series):
        Sb[:, :] = 0.0
        slot = 0
        for i in range(off[b], off[b + 1]):
            if not use[i]:
                continue
            for j in range(m):
                w4[slot, j] = Z[i, cols[j]]
            slot += 1
            if slot == 4:
                slot = 0
                for j in range(m):
                    w0, w1, w2, w3 = w4[0, j], w4[1, j], w4[2, j], w4[3, j]
                    for k in range(m):
                        acc = Sb[j, k]
                        acc += w0 * w4[0, k]
                        acc += w1 * w4[1, k]
                        acc += w2 * w4[2, k]
                        acc += w3 * w4[3, k]
                        Sb[j, k] = acc
        for u in range(slot):
            for j in range(m):
                wj = w4[u, j]
                for k in range(m):
                    Sb[j, k] += wj * w4[u, k]
        for j in range(m):
            for k in range(j, m):
                S[b, j, k] = Sb[j, k]
                S[b, k, j] = Sb[j, k]
    return S


@_jit
def _row_kernel(w: np.ndarray, W: np.ndarray, off: np.ndarray,
                active: np.ndarray) -> np.ndarray:  # pragma: no cover
    n_series = len(off) - 1
    m = W.shape[1]
    out = np.zeros((n_series, m))
    for b in range(n_series):
        if not active[b]:
            continue
        for t in range(off[b], off[b + 1]):
            wt = w[t]
            for j in range(m):
                out[b, j] += wt * W[t, j]
    return out


@_jit
def _fused_kernel(Z: np.ndarray, cols: np.ndarray, use: np.ndarray, pos: np.ndarray,
                  off: np.ndarray, phi: np.ndarray, lam: np.ndarray,
                  active: np.ndarray) -> np.ndarray:  # pragma: no cover
    # whitening and cross-products in one pass, for several (φ, λ) per series at once
    n_series, n_par = phi.shape
    m = len(cols)
    S = np.zeros((n_series, n_par, m, m))
    a = np.zeros((n_par, m))
    w = np.zeros((n_par, m))
    Sb = np.zeros((n_par, m, m))
    P = np.zeros(n_par)
    for b in range(n_series):
        if not active[b]:
            continue
        Sb[:, :, :] = 0.0
        a[:, :] = 0.0
        for g in range(n_par):
            P[g] = 1.0 - lam[b, g]
        prev = -1
        for i in range(off[b], off[b + 1]):
            if not use[i]:
                continue
            d = pos[i] - prev
            for g in range(n_par):
                ph = phi[b, g]
                la = lam[b, g]
                if prev >= 0:
                    f = ph if d == 1 else ph ** d
                    for j in range(m):
                        a[g, j] *= f
                    P[g] = f * f * P[g] + (1.0 - la) * (1.0 - f * f)
                F = P[g] + la
                K = P[g] / F
                sf = 1.0 / math.sqrt(F)
                for j in range(m):
                    v = Z[i, cols[j]] - a[g, j]
                    a[g, j] += K * v
                    w[g, j] = v * sf
                P[g] -= K * P[g]
                for j in range(m):
                    wj = w[g, j]
                    for k in range(m):
                        Sb[g, j, k] += wj * w[g, k]
            prev = pos[i]
        S[b] = Sb
    return S


@_jit
def _deriv_kernel(Z: np.ndarray, cols: np.ndarray, use: np.ndarray, pos: np.ndarray,
                  off: np.ndarray, phi: np.ndarray, lam: np.ndarray,
                  active: np.ndarray) -> np.ndarray:  # pragma: no cover
    # forward-mode derivatives of the filter in (φ, λ): dS = dW'W + W'dW for both parameters
    n_series = len(off) - 1
    m = len(cols)
    out = np.zeros((n_series, 2, m, m))
    a = np.zeros(m)
    da = np.zeros((2, m))
    w4 = np.zeros((4, m))  # the last rows' whitened values and derivatives, summed four at a time
    dw4 = np.zeros((4, 2, m))
    acc = np.zeros((2, m, m))
    for b in range(n_series):
        if not active[b]:
            continue
        slot = 0
        ph = phi[b]
        la = lam[b]
        P = 1.0 - la
        dP0 = 0.0
        dP1 = -1.0
        a[:] = 0.0
        da[:, :] = 0.0
        acc[:, :, :] = 0.0
        prev = -1
        for i in range(off[b], off[b + 1]):
            if not use[i]:
                continue
            if prev >= 0:
                d = pos[i] - prev
                if d == 1:
                    f = ph
                    dfp = 1.0
                else:
                    f = ph ** d
                    dfp = d * ph ** (d - 1)
                for j in range(m):
                    da[0, j] = dfp * a[j] + f * da[0, j]
                    da[1, j] = f * da[1, j]
                    a[j] *= f
                n0 = 2.0 * f * dfp * P + f * f * dP0 - (1.0 - la) * 2.0 * f * dfp
                n1 = f * f * dP1 - (1.0 - f * f)
                P = f * f * P + (1.0 - la) * (1.0 - f * f)
                dP0, dP1 = n0, n1
            prev = pos[i]
            F = P + la
            dF0 = dP0
            dF1 = dP1 + 1.0
            K = P / F
            dK0 = (dP0 - K * dF0) / F
            dK1 = (dP1 - K * dF1) / F
            sf = 1.0 / math.sqrt(F)
            for j in range(m):
                v = Z[i, cols[j]] - a[j]
                dv0 = -da[0, j]
                dv1 = -da[1, j]
                w4[slot, j] = v * sf
                dw4[slot, 0, j] = (dv0 - 0.5 * v * dF0 / F) * sf
                dw4[slot, 1, j] = (dv1 - 0.5 * v * dF1 / F) * sf
                a[j] += K * v
                da[0, j] += dK0 * v + K * dv0
                da[1, j] += dK1 * v + K * dv1
            n0 = dP0 * (1.0 - K) - P * dK0
            n1 = dP1 * (1.0 - K) - P * dK1
            P -= K * P
            dP0, dP1 = n0, n1
            slot += 1
            if slot == 4:  # each sum still row by row in order; one load and store per four rows
                slot = 0
                for p in range(2):
                    for j in range(m):
                        d0, d1, d2, d3 = dw4[0, p, j], dw4[1, p, j], dw4[2, p, j], dw4[3, p, j]
                        for k in range(m):
                            s = acc[p, j, k]
                            s += d0 * w4[0, k]
                            s += d1 * w4[1, k]
                            s += d2 * w4[2, k]
                            s += d3 * w4[3, k]
                            acc[p, j, k] = s
        for u in range(slot):
            for p in range(2):
                for j in range(m):
                    dwj = dw4[u, p, j]
                    for k in range(m):
                        acc[p, j, k] += dwj * w4[u, k]
        for p in range(2):
            for j in range(m):
                for k in range(m):
                    out[b, p, j, k] = acc[p, j, k] + acc[p, k, j]
    return out


@_jit
def _residual_kernel(Z: np.ndarray, off: np.ndarray, beta: np.ndarray,
                     r: int) -> np.ndarray:  # pragma: no cover
    out = np.empty(Z.shape[0])
    k = Z.shape[1] - r
    for b in range(len(off) - 1):
        for i in range(off[b], off[b + 1]):
            acc = Z[i, 0]
            for j in range(k):
                acc -= Z[i, r + j] * beta[b, j, 0]
            out[i] = acc
    return out


@_jit
def _solve_one(Sb: np.ndarray, r: int, inv: np.ndarray, beta: np.ndarray, ssr: np.ndarray,
               L: np.ndarray, Li: np.ndarray) -> bool:  # pragma: no cover
    # Cholesky inverse of one X'Σ⁻¹X block (zero rows/columns = padding → identity)
    m = Sb.shape[0]
    k = m - r
    L[:, :] = 0.0
    for j in range(k):
        for i in range(j, k):
            acc = Sb[r + i, r + j]
            if i == j and acc == 0.0:
                acc = 1.0
            for p in range(j):
                acc -= L[i, p] * L[j, p]
            if i == j:
                if acc <= 1e-13 * max(abs(Sb[r + j, r + j]), 1e-300) or not acc > 0.0:
                    return False
                L[j, j] = math.sqrt(acc)
            else:
                L[i, j] = acc / L[j, j]
    # inverse of L (lower triangular), then inv = Li' Li
    Li[:, :] = 0.0
    for i in range(k):
        Li[i, i] = 1.0 / L[i, i]
        for j in range(i):
            acc = 0.0
            for p in range(j, i):
                acc -= L[i, p] * Li[p, j]
            Li[i, j] = acc / L[i, i]
    for i in range(k):
        for j in range(i + 1):
            acc = 0.0
            for p in range(i, k):
                acc += Li[p, i] * Li[p, j]
            inv[i, j] = acc
            inv[j, i] = acc
    for c in range(r):
        for i in range(k):
            acc = 0.0
            for j in range(k):
                acc += inv[i, j] * Sb[r + j, c]
            beta[i, c] = acc
        acc = Sb[c, c]
        for i in range(k):
            acc -= Sb[r + i, c] * beta[i, c]
        ssr[c] = acc
    return True


@_jit
def _solve_kernel(S: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray]:  # pragma: no cover
    n_series, m, _ = S.shape
    k = m - r
    inv = np.zeros((n_series, k, k))
    beta = np.zeros((n_series, k, r))
    ssr = np.zeros((n_series, r))
    ok = np.ones(n_series, dtype=np.bool_)
    L = np.zeros((k, k))
    Li = np.zeros((k, k))
    for b in range(n_series):
        ok[b] = _solve_one(S[b], r, inv[b], beta[b], ssr[b], L, Li)
    return inv, beta, ssr, ok


@_jit
def _missing_info_kernel(W: np.ndarray, gains: np.ndarray, off: np.ndarray, vrow: np.ndarray,
                         r: int, active: np.ndarray) -> np.ndarray:  # pragma: no cover
    # G = R⁻¹X by the backward (smoothing) recursion of the filter, then Σ_c v_c G_c G_c'
    n_series = len(off) - 1
    k = W.shape[1] - r
    out = np.zeros((n_series, k, k))
    rr = np.zeros(k)
    g = np.zeros(k)
    for b in range(n_series):
        if not active[b]:
            continue
        rr[:] = 0.0
        s, e = off[b], off[b + 1]
        for i in range(e - 1, s - 1, -1):
            f_next = gains[i + 1, 0] if i + 1 < e else 0.0
            pf = gains[i, 1]
            kk = f_next * pf
            ll = f_next * (1.0 - pf)
            for j in range(k):
                vf = W[i, r + j] * gains[i, 2]  # v/F = (v/√F)·(1/√F)
                g[j] = vf - kk * rr[j]
                rr[j] = vf + ll * rr[j]
            if vrow[i] > 0.0:
                for j in range(k):
                    for q in range(k):
                        out[b, j, q] += vrow[i] * g[j] * g[q]
    return out


@_jit
def _log_ndtr(x: float) -> float:  # pragma: no cover
    # log Φ(x); below −30 the asymptotic series of the Mills ratio [AbramowitzStegun1964]_ 26.2.12
    if x > -30.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    x2 = x * x
    return (-0.5 * x2 - math.log(-x) - 0.5 * math.log(2.0 * math.pi)
            + math.log(1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2)))


@_jit
def _em_kernel(Z: np.ndarray, r: int, upper: np.ndarray, cens: np.ndarray, off: np.ndarray,
               gains: np.ndarray,
               W: np.ndarray, S: np.ndarray, inv: np.ndarray, beta: np.ndarray, ssr: np.ndarray,
               dfr: np.ndarray, has: np.ndarray, iterations: int) -> tuple[np.ndarray, np.ndarray,
                                                                           np.ndarray]:  # pragma: no cover
    # the filter is linear: the whitened residuals are W[:, 0] − W[:, r:]β (no recursion per
    # refit); the data-free parts of the backward recursion (D_t and its coefficients) and of
    # the forward one (a_{t+1} = f_t·a_t + g_t·y_t) are computed once per series, and the
    # whitened columns are copied column by column so that the sums over rows vectorise
    n_series = len(off) - 1
    m = Z.shape[1]
    k = m - r
    extra = np.zeros(n_series)
    vrow = np.zeros(Z.shape[0])
    ok = np.ones(n_series, dtype=np.bool_)
    c = 1.0 / math.sqrt(2.0 * math.pi)
    longest = 0
    for b in range(n_series):
        longest = max(longest, off[b + 1] - off[b])
    Wt = np.zeros((m, longest))  # whitened columns of one series
    vf = np.zeros(longest)  # v_t/F_t of the current residuals
    uu = np.zeros(longest)  # smoothing error u_t = (R⁻¹e)_t
    dd = np.zeros(longest)  # its variance D_t = (R⁻¹)_tt
    kc = np.zeros(longest)  # backward recursion: u_t = v_t/F_t − k_t·r_t, r_{t−1} = v_t/F_t + l_t·r_t
    lc = np.zeros(longest)
    gc = np.zeros(longest)  # forward: a_{t+1} = l_t·a_t + g_t·y_t (prediction of the next row)
    g2 = np.zeros(longest)  # 1/√F_t
    yc = np.zeros(longest)
    crow = np.zeros(longest, dtype=np.int64)
    for b in range(n_series):
        if not has[b]:
            continue
        s, e = off[b], off[b + 1]
        n = e - s
        nc = 0
        for t in range(n):
            i = s + t
            for j in range(m):
                Wt[j, t] = W[i, j]
            g2[t] = gains[i, 2]
            yc[t] = Z[i, 0]
            if cens[i]:  # (a NaN test would not survive fastmath)
                crow[nc] = t
                nc += 1
        ns = 0.0
        for t in range(n - 1, -1, -1):
            i = s + t
            f_next = gains[i + 1, 0] if t + 1 < n else 0.0
            kk = f_next * gains[i, 1]
            ll = f_next * (1.0 - gains[i, 1])
            fi = gains[i, 2] * gains[i, 2]
            kc[t] = kk
            lc[t] = ll
            gc[t] = kk
            dd[t] = fi + kk * kk * ns
            ns = fi + ll * ll * ns
        sd = math.sqrt(max(ssr[b, 0], 1e-300) / dfr[b])
        ev = 0.0
        for _ in range(iterations):
            ev = 0.0
            # whitened residuals, then the backward (smoothing) recursion
            for t in range(n):
                vf[t] = Wt[0, t]
            for j in range(k):
                bj = beta[b, j, 0]
                for t in range(n):
                    vf[t] -= Wt[r + j, t] * bj
            for t in range(n):
                vf[t] *= g2[t]
            rs = 0.0
            for t in range(n - 1, -1, -1):
                uu[t] = vf[t] - kc[t] * rs
                rs = vf[t] + lc[t] * rs
            for q in range(nc):
                t = crow[q]
                i = s + t
                # distribution of this value given all the others: mean y − u/D, variance s²/D
                mu = yc[t] - uu[t] / dd[t]
                cs = sd / math.sqrt(dd[t])
                al = (upper[i] - mu) / cs
                if al > -30.0:  # ϕ(α)/Φ(α) without the logarithm
                    mills = math.exp(-0.5 * al * al) * c / (0.5 * math.erfc(-al / math.sqrt(2.0)))
                else:
                    mills = math.exp(-_log_ndtr(al) - 0.5 * al * al) * c
                yc[t] = mu - cs * mills
                vrow[i] = cs * cs * (1.0 - al * mills - mills * mills)
                ev += vrow[i] * dd[t]  # its share of E[e'R⁻¹e]
            # the new response through the filter, then its cross-products
            a = 0.0
            for t in range(n):
                y0 = yc[t]
                Wt[0, t] = (y0 - a) * g2[t]
                a = lc[t] * a + gc[t] * y0
            for j in range(m):
                acc = 0.0
                for t in range(n):
                    acc += Wt[0, t] * Wt[j, t]
                S[b, 0, j] = acc
                S[b, j, 0] = acc
            # only the response changed: X'Σ⁻¹X and its inverse stay
            acc0 = S[b, 0, 0]
            for i in range(k):
                bi = 0.0
                for j in range(k):
                    bi += inv[b, i, j] * S[b, r + j, 0]
                beta[b, i, 0] = bi
                acc0 -= S[b, r + i, 0] * bi
            ssr[b, 0] = acc0
            sd = math.sqrt(max(ssr[b, 0] + ev, 1e-300) / dfr[b])
        for t in range(n):
            Z[s + t, 0] = yc[t]
            W[s + t, 0] = Wt[0, t]
        extra[b] = ev
    return extra, ok, vrow


@_jit
def _layout_kernel(day: np.ndarray, y: np.ndarray, cens: np.ndarray, dow: np.ndarray,
                   i0: np.ndarray, n: np.ndarray, ref: np.ndarray, est_all: np.ndarray,
                   starts: np.ndarray, ends: np.ndarray, log_factors: np.ndarray, log_sub: float,
                   k: int, during: int, after: int,
                   Zbuf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                              np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    n_tests = len(n)
    off = np.zeros(n_tests + 1, dtype=np.int64)
    for b in range(n_tests):
        off[b + 1] = off[b] + n[b]
    N = off[n_tests]
    r = 1 + len(log_factors)
    Z = Zbuf[:N]
    Z[:, :] = 0.0
    pid = np.zeros(N, dtype=np.int64)
    pos = np.zeros(N, dtype=np.int64)
    est = np.zeros(N, dtype=np.bool_)
    upper = np.full(N, np.nan)
    for b in range(n_tests):
        for u in range(n[b]):
            i = off[b] + u
            src = i0[b] + u
            yi = y[src]
            ci = cens[src]
            pid[i] = b
            pos[i] = day[src]
            Z[i, 0] = yi
            for j in range(len(log_factors)):
                Z[i, 1 + j] = yi + log_factors[j] * (1.0 if ci else 0.0)
            Z[i, r] = 1.0
            d = dow[src]
            if d != ref[b]:
                Z[i, r + 1 + d - (1 if d > ref[b] else 0)] = 1.0
            t = day[src]
            Z[i, r + during] = 1.0 if (t >= starts[b] and t <= ends[b]) else 0.0
            Z[i, r + after] = 1.0 if t > ends[b] else 0.0
            est[i] = (not ci) or est_all[b]
            if ci:
                upper[i] = yi - log_sub
    return off, pid, pos, est, Z, upper


def layout(day: np.ndarray, y: np.ndarray, cens: np.ndarray, dow: np.ndarray, i0: np.ndarray,
           n: np.ndarray, ref: np.ndarray, est_all: np.ndarray, starts: np.ndarray, ends: np.ndarray,
           log_factors: np.ndarray, log_sub: float, k: int, during: int, after: int,
           out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                   np.ndarray, np.ndarray]:
    """Rows ``i0[b] : i0[b] + n[b]`` of a store of daily series, one test after another, as the
    ragged layout of :mod:`wastewater.stats._statespace`: offsets, test of each row, day, estimation
    rows (uncensored, or all where ``est_all``), ``Z`` = ``[y, y + log f·censored for each f of
    log_factors, const, weekday indicators (weekday ``ref`` the reference), …, during, after]``
    (``k`` design columns, during/after at those positions) and the log LOQ of censored rows
    (``y − log_sub``, NaN elsewhere). ``out``: a C-contiguous float buffer of at least
    ``(Σn, 1 + len(log_factors) + k)`` to hold ``Z`` (a reused buffer; ``Z`` is a view of it).
    """
    rows, cols = int(np.sum(n)), 1 + len(log_factors) + int(k)
    Zbuf = np.empty((rows, cols)) if out is None else out
    return _layout_kernel(_c(day, np.int64), _c(y, np.float64), _c(cens, np.bool_), _c(dow, np.int64),
                          _c(i0, np.int64), _c(n, np.int64), _c(ref, np.int64), _c(est_all, np.bool_),
                          _c(starts, np.int64), _c(ends, np.int64), _c(log_factors, np.float64),
                          float(log_sub), int(k), int(during), int(after), Zbuf)


def censored_em(Z: np.ndarray, r: int, upper: np.ndarray, off: np.ndarray, gains: np.ndarray,
                W: np.ndarray, S: np.ndarray, inv: np.ndarray, beta: np.ndarray, ssr: np.ndarray,
                dfr: np.ndarray, has: np.ndarray,
                iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refits that replace each censored response by its conditional mean below the LOQ,
    ``E[y | y < L] = μ − s·ϕ(α)/Φ(α)``, ``α = (L − μ)/s`` [Tobin1958]_, ``iterations`` times (an
    EM for censored data whose scale adds the conditional variances ``v = s²(1 − αm − m²)``,
    ``m = ϕ(α)/Φ(α)``, each weighted by ``D = (R⁻¹)_cc``). ``μ`` and ``s`` are the distribution of
    the value given all the other values of the series under the AR(1) + noise model, not its
    marginal one: ``μ = y_c − u_c/D_c``, ``s² = σ²/D_c`` with the smoothing error ``u = R⁻¹e`` and
    its variance ``D`` from the backward recursion [DurbinKoopman2012]_ (§4.5, the auxiliary
    residuals of [deJong1989]_), the others at their current values (a Jacobi-type sweep of
    the multivariate truncated normal's moments by one-dimensional conditionals). Updates
    ``Z[:, 0]``, the whitened ``W[:, 0]`` (filter gains of :func:`whiten`), ``S``, ``inv``,
    ``beta`` and ``ssr`` in place (all rows used); returns the weighted conditional variances
    per series, ``ok`` (False where a refit was singular) and the
    conditional variance of each censored row (0 elsewhere).
    """
    return _em_kernel(Z, int(r), _c(upper, np.float64), ~np.isnan(upper), _c(off, np.int64),
                      _c(gains, np.float64),
                      W, S, inv, beta, ssr, _c(dfr, np.float64), _c(has, np.bool_), int(iterations))


def missing_information(W: np.ndarray, gains: np.ndarray, off: np.ndarray, vrow: np.ndarray,
                        r: int, active: np.ndarray | None = None) -> np.ndarray:
    """``Σ_c v_c (R⁻¹X)_c (R⁻¹X)_c'`` ``(B, k, k)`` over the censored rows ``c`` (conditional
    variance ``v_c``), the missing information of the censored-value refits (Louis' formula
    [Louis1982]_: observed = complete − missing). ``R⁻¹X`` comes from the backward recursion
    ``u_t = v_t/F_t − K_t r_t``, ``r_{t−1} = v_t/F_t + L_t r_t`` [DurbinKoopman2012]_ (§4.5), with the
    whitened ``X`` columns ``W[:, r:]`` and the gains of :func:`whiten`.
    """
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    return _missing_info_kernel(_c(W, np.float64), _c(gains, np.float64), _c(off, np.int64),
                                _c(vrow, np.float64), int(r), _c(act, np.bool_))


def profile_loglik(r: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                   phi: np.ndarray, lam: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Profiled Gaussian log-likelihood of residual series at a grid of ``(φ, λ)`` per series.

    ``ℓ = −½[df·log(r'Σ⁻¹r / df) + log|Σ|]`` with ``Σ`` the AR(1) + noise correlation of the
    used rows (total variance 1, the scale profiled out) [Harvey1989]_ (§3.4); ``phi``, ``lam``
    are ``(B, G)``, ``df`` ``(B,)``; returns ``(B, G)``.
    """
    if len(phi) and np.all(phi == phi[:1]) and np.all(lam == lam[:1]):  # one grid for all series
        return _loglik_shared_kernel(_c(r, np.float64), _c(use, np.bool_), _c(pos, np.int64),
                                     _c(off, np.int64), _c(phi[0], np.float64), _c(lam[0], np.float64),
                                     _c(df, np.float64))
    return _loglik_kernel(
        np.ascontiguousarray(r, dtype=np.float64), np.ascontiguousarray(use, dtype=np.bool_),
        np.ascontiguousarray(pos, dtype=np.int64), np.ascontiguousarray(off, dtype=np.int64),
        np.ascontiguousarray(phi, dtype=np.float64), np.ascontiguousarray(lam, dtype=np.float64),
        np.ascontiguousarray(df, dtype=np.float64))


def _c(x: np.ndarray, dtype: Any) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=dtype)


def whiten(Z: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray, phi: np.ndarray,
           lam: np.ndarray, active: np.ndarray | None = None,
           columns: int | None = None,
           out: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Standardised innovations ``v/√F`` of the first ``columns`` columns of ``Z`` (all by
    default; rows ``(N, columns)``, unused rows and inactive series 0): the rows of
    ``Σ^{−1/2}Z`` for a Cholesky factor [DurbinKoopman2012]_ (§2.2, missing observations §2.7).
    Also returns the filter's data-free quantities per row ``(N, 3)``: prediction factor
    ``φ^d``, gain ``K`` and ``1/√F``, with which :func:`rewhiten` whitens a new response.
    ``out`` = ``(W, gains)``: C-contiguous float arrays of those shapes to fill (reused buffers).
    """
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    m = Z.shape[1] if columns is None else int(columns)
    W, gains = (np.empty((Z.shape[0], m)), np.empty((Z.shape[0], 3))) if out is None else out
    return _whiten_kernel(_c(Z, np.float64), _c(use, np.bool_), _c(pos, np.int64),
                          _c(off, np.int64), _c(phi, np.float64), _c(lam, np.float64),
                          _c(act, np.bool_), m, W, gains)


def rewhiten(y: np.ndarray, gains: np.ndarray, use: np.ndarray, off: np.ndarray,
             active: np.ndarray | None = None) -> np.ndarray:
    """Whitened rows of a new response ``y`` with the gains of :func:`whiten` (same ``(φ, λ)``)."""
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    return _rewhiten_kernel(_c(y, np.float64), _c(gains, np.float64),
                                             _c(use, np.bool_), _c(off, np.int64),
                                             _c(act, np.bool_))


def gram(W: np.ndarray, off: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """``W_b'W_b`` ``(B, m, m)`` of each series' block of whitened rows."""
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    return _gram_kernel(_c(W, np.float64), _c(off, np.int64), _c(act, np.bool_))


def masked_gram(Z: np.ndarray, cols: np.ndarray, use: np.ndarray, off: np.ndarray) -> np.ndarray:
    """``Z_b'Z_b`` ``(B, m, m)`` of the used rows and the columns ``cols`` of each series: the
    cross-products of :func:`crossproducts` at ``φ = λ = 0`` (OLS), the same sums in the same order.
    """
    return _masked_gram_kernel(_c(Z, np.float64), _c(cols, np.int64), _c(use, np.bool_), _c(off, np.int64))


def gram_row(w: np.ndarray, W: np.ndarray, off: np.ndarray,
             active: np.ndarray | None = None) -> np.ndarray:
    """``w_b'W_b`` ``(B, m)``: one whitened column against all (a refit with a new response)."""
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    return _row_kernel(_c(w, np.float64), _c(W, np.float64), _c(off, np.int64),
                                        _c(act, np.bool_))


def crossproducts(Z: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                  phi: np.ndarray, lam: np.ndarray, active: np.ndarray | None = None,
                  cols: np.ndarray | None = None) -> np.ndarray:
    """Whitened cross-products ``Z'Σ⁻¹Z`` of every series at its ``(φ, λ)`` [DurbinKoopman2012]_
    (§2.2, §2.7), in one pass without storing the whitened rows. ``phi``, ``lam`` ``(B,)`` give
    ``(B, m, m)``; ``(B, P)`` (several parameter pairs per series) give ``(B, P, m, m)``.
    Inactive series give zeros; ``cols`` picks columns of ``Z`` (all by default). At
    ``φ = λ = 0`` this is the OLS ``Z'Z``.
    """
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    cl = np.arange(Z.shape[1]) if cols is None else cols
    two = np.ndim(phi) == 2
    ph = np.asarray(phi, dtype=np.float64).reshape(len(off) - 1, -1)
    la = np.asarray(lam, dtype=np.float64).reshape(len(off) - 1, -1)
    S = _fused_kernel(_c(Z, np.float64), _c(cl, np.int64), _c(use, np.bool_),
                                       _c(pos, np.int64),
                                       _c(off, np.int64), _c(ph, np.float64), _c(la, np.float64),
                                       _c(act, np.bool_))
    return S if two else S[:, 0]


def crossproduct_derivatives(Z: np.ndarray, use: np.ndarray, pos: np.ndarray, off: np.ndarray,
                             phi: np.ndarray, lam: np.ndarray, active: np.ndarray | None = None,
                             cols: np.ndarray | None = None) -> np.ndarray:
    """``∂(Z'Σ⁻¹Z)/∂φ`` and ``∂(Z'Σ⁻¹Z)/∂λ`` ``(B, 2, m, m)`` at each series' ``(φ, λ)``, by
    differentiating the filter recursions (forward mode; the derivative of the Kalman filter's
    innovations and variances, as for the analytic score of the likelihood [Harvey1989]_, ch. 3).
    """
    act = np.ones(len(off) - 1, dtype=np.bool_) if active is None else active
    cl = np.arange(Z.shape[1]) if cols is None else cols
    return _deriv_kernel(_c(Z, np.float64), _c(cl, np.int64), _c(use, np.bool_), _c(pos, np.int64),
                         _c(off, np.int64), _c(phi, np.float64), _c(lam, np.float64),
                         _c(act, np.bool_))


def residuals(Z: np.ndarray, off: np.ndarray, beta: np.ndarray, r: int) -> np.ndarray:
    """``y − Xβ`` of every row (``y`` = column 0 of ``Z``, ``X`` = columns ``r:``)."""
    return _residual_kernel(_c(Z, np.float64), _c(off, np.int64),
                                             _c(beta, np.float64), int(r))


def solve(S: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GLS from cross-products ``S = [Y X]'Σ⁻¹[Y X]`` (``r`` responses first): ``(X'Σ⁻¹X)⁻¹``,
    coefficients ``(B, k, r)``, residual sums of squares ``(B, r)`` by Cholesky [Harvey1989]_
    (§3.4); all-zero design columns (padding) get an identity block. ``ok`` is False where the
    design is (numerically) singular.
    """
    return _solve_kernel(_c(S, np.float64), int(r))
