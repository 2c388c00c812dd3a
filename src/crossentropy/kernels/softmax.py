"""Fused softmax cross-entropy kernels, compiled with numba (imported lazily).

Every kernel works on an (N, C) logits array, one row per example, rows in
parallel (``prange``), and accumulates each row in float64.

Per row, the log-sum-exp is computed in one read of the row (online LSE):
the row is cut into blocks of ``BLOCK`` elements; for each block its maximum
``b`` is found, the running sum is rescaled once when the running maximum
``M`` grows (``S <- S * exp(M - b)``), then ``S += sum_c exp(x_c - M)``.
So ``lse = M + log S`` with ``S >= 1``; log q_c is formed as
``(x_c - M) - log S``, which keeps full relative accuracy when every logit
is shifted by a large constant.

Non-finite values follow docs/semantics.md §3: a block of only -inf adds 0
(a NaN in it is still propagated), a -inf logit has q = 0, a NaN anywhere in
a row makes the row's LSE NaN, a row of only -inf has LSE -inf and log q NaN.
Products ``a_c * log q_c`` with ``a_c == 0`` are 0 whatever ``log q_c``.

The target enters through ``a_c = w_c y'_c`` with the one smoothing encoding
``y'_c = α y_c + β m`` (``m`` the row mass, 1 for an index: ``y'_t = α + β``,
``y'_c = β`` elsewhere), ``(α, β)`` from ``crossentropy._rows.smoothing_coefficients``.

The kernels take plain arrays only (dummy length-1 arrays plus a flag where
the public argument is ``None``) so that one compiled specialisation per
dtype and memory layout serves every option; ``cache=True`` stores them on
disk, so a second process loads instead of compiling.
"""

import math

import numpy as np
from numba import njit, prange

from ._rowmath import JIT, SUB, cast_like, index_row_loss
from ._simd import BLOCK, FASTMATH, vexp


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _row_lse(row):
    """Online log-sum-exp of one row: returns (M, log S) with lse = M + log S.

    ``M`` is a value of the row (its dtype); ``S = sum exp(x - M)`` in float64.
    """
    n = row.shape[0]
    ninf = cast_like(row, -np.inf)
    big = ninf
    total = 0.0
    for b0 in range(0, n, BLOCK):
        b1 = min(b0 + BLOCK, n)
        bmax = ninf
        for c in range(b0, b1):
            v = row[c]
            bmax = v if v > bmax else bmax
        if bmax == ninf:
            # only -inf (adds 0) or NaN (poisons the row) in this block
            for c in range(b0, b1):
                if row[c] != row[c]:
                    total = np.nan
            continue
        if bmax > big:
            if total != 0.0:
                total = total * math.exp(float(big) - float(bmax))
            big = bmax
        for s0 in range(b0, b1, SUB):
            acc = cast_like(row, 0.0)  # short sub-block sums in the row dtype, then float64
            for c in range(s0, min(s0 + SUB, b1)):
                acc += vexp(row[c] - big)
            total += float(acc)
    if big == -ninf:
        # a +inf logit: shift by 0 as the array-API path does, so lse = +inf and a finite
        # logit's log q is -inf (a +inf entry's is NaN); a NaN still poisons the row
        for c in range(n):
            if row[c] != row[c]:
                return 0.0, np.nan
        return 0.0, np.inf
    return float(big), math.log(total)


@njit(inline="always", **JIT)
def _zero_row(gr):
    for c in range(gr.shape[0]):
        gr[c] = 0.0


@njit(inline="always", **JIT)
def _fill_nan(gr):
    for c in range(gr.shape[0]):
        gr[c] = np.nan


@njit(inline="always", **JIT)
def _index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs):
    """gr_c = r * (A q_c - a_c) for index target t, A = α w_t + β W; zero-A rows get zeros."""
    n = row.shape[0]
    wt = w[t] if has_w else 1.0
    big_a = wt * alpha + beta * wsum_all
    if big_a == 0.0:  # no coefficient: 0, or NaN under a NaN scale (a NaN divisor)
        if r != r:
            _fill_nan(gr)
        else:
            _zero_row(gr)
        return
    bigx = cast_like(row, big)
    inv_s = cast_like(row, math.exp(-logs))
    ra = cast_like(row, r * big_a)
    if beta != 0.0:
        rbeta = cast_like(row, r * beta)
        if has_w:
            for c in range(n):
                gr[c] = ra * (vexp(row[c] - bigx) * inv_s) - rbeta * cast_like(row, w[c])
        else:
            for c in range(n):
                gr[c] = ra * (vexp(row[c] - bigx) * inv_s) - rbeta
    else:
        for c in range(n):
            gr[c] = ra * (vexp(row[c] - bigx) * inv_s)
    q_t = math.exp((float(row[t]) - big) - logs)
    gr[t] = r * (big_a * q_t - wt * (alpha + beta))


@njit(parallel=True, **JIT)
def index_forward(x, y, w, has_w, s, has_s, ignore, alpha, beta, want_lse, loss, wsum, lse):
    n_rows, n_classes = x.shape
    for i in prange(n_rows):
        t = y[i]
        si = s[i] if has_s else 1.0
        masked = t == ignore or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            continue
        row = x[i]
        big, logs = _row_lse(row)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            continue
        if t < 0 or t >= n_classes:  # unvalidated out-of-range target: never a plausible value
            loss[i] = np.nan
            wsum[i] = np.nan
            continue
        loss[i] = -si * index_row_loss(row, t, w, has_w, alpha, beta, big, logs)
        wsum[i] = si * (w[t] if has_w else 1.0)


@njit(parallel=True, **JIT)
def index_grad(x, y, w, has_w, rs, ignore, alpha, beta, wsum_all, g):
    n_rows, n_classes = x.shape
    for i in prange(n_rows):
        t = y[i]
        r = rs[i]
        gr = g[i]
        if t == ignore or r == 0.0:
            _zero_row(gr)
            continue
        if t < 0 or t >= n_classes:
            _fill_nan(gr)
            continue
        row = x[i]
        big, logs = _row_lse(row)
        _index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs)


@njit(parallel=True, **JIT)
def index_forward_grad(
    x, y, w, has_w, s, has_s, rs, ignore, alpha, beta, wsum_all, want_lse, loss, wsum, lse, g
):
    n_rows, n_classes = x.shape
    for i in prange(n_rows):
        t = y[i]
        si = s[i] if has_s else 1.0
        gr = g[i]
        masked = t == ignore or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            _zero_row(gr)
            continue
        row = x[i]
        big, logs = _row_lse(row)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            _zero_row(gr)
            continue
        if t < 0 or t >= n_classes:
            loss[i] = np.nan
            wsum[i] = np.nan
            _fill_nan(gr)
            continue
        loss[i] = -si * index_row_loss(row, t, w, has_w, alpha, beta, big, logs)
        wsum[i] = si * (w[t] if has_w else 1.0)
        r = rs[i] * si
        if r == 0.0:
            _zero_row(gr)
        else:
            _index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs)


@njit(inline="always", **JIT)
def _soft_mass(yr, w, has_w):
    """(m, sum_c w_c y_c) of one target row."""
    m = 0.0
    wy = 0.0
    if has_w:
        for c in range(yr.shape[0]):
            v = float(yr[c])
            m += v
            wy += w[c] * v
    else:
        for c in range(yr.shape[0]):
            m += float(yr[c])
        wy = m
    return m, wy


@njit(inline="always", **JIT)
def _soft_row_loss(row, yr, w, has_w, alpha, beta, m, big, logs):
    """sum_c a_c log q_c, a_c = w_c (α y_c + β m) (without the sample weight)."""
    acc = 0.0
    base = beta * m
    for c in range(row.shape[0]):
        a = alpha * float(yr[c]) + base
        if has_w:
            a *= w[c]
        d = (float(row[c]) - big) - logs
        acc += a * d if a != 0.0 else 0.0
    return acc


@njit(inline="always", **JIT)
def _soft_row_grad(row, yr, gr, w, has_w, alpha, beta, m, r, big, logs):
    """gr_c = r * (A q_c - a_c), a_c = w_c (α y_c + β m); zero-A rows get zeros."""
    n = row.shape[0]
    base = beta * m
    big_a = 0.0
    for c in range(n):
        a = alpha * float(yr[c]) + base
        if has_w:
            a *= w[c]
        big_a += a
    if big_a == 0.0:  # no coefficient: 0, or NaN under a NaN scale (a NaN divisor)
        if r != r:
            _fill_nan(gr)
        else:
            _zero_row(gr)
        return
    bigx = cast_like(row, big)
    inv_s = cast_like(row, math.exp(-logs))
    ra = cast_like(row, r * big_a)
    ralpha = cast_like(row, r * alpha)
    rbase = cast_like(row, r * base)
    if has_w:
        for c in range(n):
            a = (ralpha * cast_like(row, yr[c]) + rbase) * cast_like(row, w[c])
            gr[c] = ra * (vexp(row[c] - bigx) * inv_s) - a
    else:
        for c in range(n):
            gr[c] = ra * (vexp(row[c] - bigx) * inv_s) - (ralpha * cast_like(row, yr[c]) + rbase)


@njit(parallel=True, **JIT)
def soft_forward(x, y, w, has_w, s, has_s, alpha, beta, want_lse, loss, wsum, lse):
    n_rows = x.shape[0]
    for i in prange(n_rows):
        yr = y[i]
        si = s[i] if has_s else 1.0
        m, wy = _soft_mass(yr, w, has_w)
        masked = m == 0.0 or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            continue
        row = x[i]
        big, logs = _row_lse(row)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            continue
        loss[i] = -si * _soft_row_loss(row, yr, w, has_w, alpha, beta, m, big, logs)
        wsum[i] = si * wy


@njit(parallel=True, **JIT)
def soft_grad(x, y, w, has_w, rs, alpha, beta, g):
    n_rows = x.shape[0]
    for i in prange(n_rows):
        yr = y[i]
        r = rs[i]
        gr = g[i]
        m, wy = _soft_mass(yr, w, has_w)
        if m == 0.0 or r == 0.0:
            _zero_row(gr)
            continue
        row = x[i]
        big, logs = _row_lse(row)
        _soft_row_grad(row, yr, gr, w, has_w, alpha, beta, m, r, big, logs)


@njit(parallel=True, **JIT)
def soft_forward_grad(x, y, w, has_w, s, has_s, rs, alpha, beta, want_lse, loss, wsum, lse, g):
    n_rows = x.shape[0]
    for i in prange(n_rows):
        yr = y[i]
        si = s[i] if has_s else 1.0
        gr = g[i]
        m, wy = _soft_mass(yr, w, has_w)
        masked = m == 0.0 or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            _zero_row(gr)
            continue
        row = x[i]
        big, logs = _row_lse(row)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            _zero_row(gr)
            continue
        loss[i] = -si * _soft_row_loss(row, yr, w, has_w, alpha, beta, m, big, logs)
        wsum[i] = si * wy
        r = rs[i] * si
        if r == 0.0:
            _zero_row(gr)
        else:
            _soft_row_grad(row, yr, gr, w, has_w, alpha, beta, m, r, big, logs)
