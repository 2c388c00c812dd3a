"""Fused softmax cross-entropy kernels, compiled with numba (imported lazily).

Every kernel works on an (N, C) logits array, one row per example, rows in
parallel (``prange``), and accumulates each row in float64.

Per row, the log-sum-exp is computed in one read of the row (online LSE):
the row is cut into blocks of ``BLOCK`` elements; for each block its maximum
``b`` is found, the running sum is rescaled once when the running maximum
``M`` grows (``S <- S * exp(M - b)``), then ``S += sum_c exp(x_c - M)``.
So ``lse = M + log S`` with ``S >= 1``; log q_c is formed as
``(x_c - M) - log S``, which keeps full relative accuracy when every logit
is shifted by a large constant. Rows of at most ``SHORT`` classes are taken
``ROWS`` rows at a time instead (:func:`_block_lse`: one vectorised exp over
the block's shifted logits), since a short row does not fill a vector.

The gradient kernels read a row twice and compute one exp per element: the
row maximum ``M`` (vectorised; the row then stays in cache), then
``e_c = exp(x_c - M)`` stored into the gradient row while ``S`` is summed,
then one scaling pass ``g_c = r (A e_c / S - a_c)`` (:func:`lse_exp`). A row
without a finite maximum or with a NaN takes the online LSE above.

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
from ._simd import BLOCK, FASTMATH, vexp, vmax

#: rows of at most ``SHORT`` classes are handled ``ROWS`` rows at a time (:func:`_block_lse`).
SHORT = 64
ROWS = 256


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def row_lse(row):
    """Online log-sum-exp of one row: returns (M, log S) with lse = M + log S.

    ``M`` is a value of the row (its dtype); ``S = sum exp(x - M)`` in float64.
    Every loop runs over a slice indexed from 0, so that the compiled loop needs no
    negative-index wrap-around and vectorises; the block maximum is ``vmax`` (NaN
    ignored, vectorised), a NaN reaches ``S`` through ``vexp(NaN) = NaN``.
    """
    n = row.shape[0]
    ninf = cast_like(row, -np.inf)
    big = ninf
    total = 0.0
    for b0 in range(0, n, BLOCK):
        blk = row[b0 : min(b0 + BLOCK, n)]
        k = blk.shape[0]
        bmax = ninf
        for c in range(k):
            bmax = vmax(bmax, blk[c])
        if bmax == ninf:
            # only -inf (adds 0) or NaN (poisons the row) in this block
            for c in range(k):
                if blk[c] != blk[c]:
                    total = np.nan
            continue
        if bmax > big:
            if total != 0.0:
                total = total * math.exp(float(big) - float(bmax))
            big = bmax
        for s0 in range(0, k, SUB):
            sub = blk[s0 : min(s0 + SUB, k)]
            acc = cast_like(row, 0.0)  # short sub-block sums in the row dtype, then float64
            for c in range(sub.shape[0]):
                acc += vexp(sub[c] - big)
            total += float(acc)
    if big == -ninf:
        # a +inf logit: shift by 0 as the array-API path does, so lse = +inf and a finite
        # logit's log q is -inf (a +inf entry's is NaN); a NaN still poisons the row
        for c in range(n):
            if row[c] != row[c]:
                return 0.0, np.nan
        return 0.0, np.inf
    return float(big), math.log(total)


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _row_exp_into(row, gr):
    """``gr_c = exp(x_c - M)`` and ``(M, log S)`` for a row whose maximum ``M`` is finite.

    Two reads of the row: its maximum (from memory; the row then sits in the cache),
    then one exp per element, stored and summed. Returns ``log S = NaN`` when the fast
    path does not apply (a NaN in the row, no finite maximum): the caller then takes
    the general path, which writes every element of ``gr`` again.
    """
    n = row.shape[0]
    ninf = cast_like(row, -np.inf)
    big = ninf
    for c in range(n):
        big = vmax(big, row[c])
    if not (big > ninf and big < -ninf):
        return 0.0, np.nan
    total = 0.0
    for s0 in range(0, n, SUB):
        s1 = min(s0 + SUB, n)
        sub = row[s0:s1]
        gs = gr[s0:s1]
        acc = cast_like(row, 0.0)
        for c in range(sub.shape[0]):
            e = vexp(sub[c] - big)
            gs[c] = e
            acc += e
        total += float(acc)
    return float(big), math.log(total)


@njit(inline="always", **JIT)
def lse_exp(row, gr):
    """``(M, log S)`` of the row (as :func:`row_lse`) and ``gr_c = exp(x_c - M)``."""
    big, logs = _row_exp_into(row, gr)
    if logs != logs:
        big, logs = row_lse(row)
        bigx = cast_like(row, big)
        for c in range(row.shape[0]):
            gr[c] = vexp(row[c] - bigx)
    return big, logs


@njit(inline="always", **JIT)
def zero_row(gr):
    for c in range(gr.shape[0]):
        gr[c] = 0.0


@njit(inline="always", **JIT)
def _fill_nan(gr):
    for c in range(gr.shape[0]):
        gr[c] = np.nan


@njit(inline="always", **JIT)
def index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs):
    """gr_c = r * (A q_c - a_c) for index target t, A = α w_t + β W; zero-A rows get zeros.

    ``gr`` holds ``exp(x_c - M)`` on entry (:func:`lse_exp`): one scaling pass, no exp.
    """
    n = row.shape[0]
    wt = w[t] if has_w else 1.0
    big_a = wt * alpha + beta * wsum_all
    if big_a == 0.0:  # no coefficient: 0, or NaN under a NaN scale (a NaN divisor)
        if r != r:
            _fill_nan(gr)
        else:
            zero_row(gr)
        return
    scale = cast_like(row, r * big_a * math.exp(-logs))
    if beta != 0.0:
        rbeta = cast_like(row, r * beta)
        if has_w:
            for c in range(n):
                gr[c] = scale * gr[c] - rbeta * cast_like(row, w[c])
        else:
            for c in range(n):
                gr[c] = scale * gr[c] - rbeta
    else:
        for c in range(n):
            gr[c] = scale * gr[c]
    q_t = math.exp((float(row[t]) - big) - logs)
    gr[t] = r * (big_a * q_t - wt * (alpha + beta))


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _block_lse(xb, big, logs, scratch):
    """``(M, log S)`` of every row of a block of short rows (C <= ``SHORT``) into ``big``, ``logs``.

    A row of 10 classes fills less than one vector, so the per-row loop of :func:`row_lse`
    runs mostly in scalar remainders. Here the shifted logits ``x - M`` of all the block's
    rows go into one flat ``scratch`` buffer, whose exp is one vectorised loop over
    ``k * C`` elements, then summed per row. A row without a finite maximum or with a NaN
    takes :func:`row_lse` (same values as the per-row kernels). On return ``scratch`` holds
    ``exp(x - M)`` row after row (what :func:`lse_exp` leaves in a gradient row).
    """
    k, n = xb.shape
    flat = scratch[: k * n]
    ninf = cast_like(xb, -np.inf)
    for r in range(k):
        row = xb[r]
        bmax = ninf
        for c in range(n):
            bmax = vmax(bmax, row[c])
        big[r] = bmax
        seg = flat[r * n : (r + 1) * n]
        for c in range(n):
            seg[c] = row[c] - bmax
    for j in range(k * n):
        flat[j] = vexp(flat[j])
    for r in range(k):
        seg = flat[r * n : (r + 1) * n]
        acc = cast_like(xb, 0.0)
        for c in range(n):
            acc += seg[c]
        total = float(acc)
        if big[r] > ninf and big[r] < -ninf and total == total:
            logs[r] = math.log(total)
        else:
            big[r], logs[r] = row_lse(xb[r])
            bigx = cast_like(xb, big[r])
            for c in range(n):
                seg[c] = vexp(xb[r, c] - bigx)  # as lse_exp: the gradient kernels read it


@njit(inline="always", **JIT)
def _index_forward_row(
    i, row, t, si, masked, w, has_w, alpha, beta, big, logs, want_lse, loss, wsum, lse
):
    """Row ``i`` of :func:`index_forward` from its ``(M, log S)``."""
    if want_lse:
        lse[i] = big + logs
    if masked:
        loss[i] = 0.0
        wsum[i] = 0.0
    elif t < 0 or t >= row.shape[0]:  # unvalidated out-of-range target: never a plausible value
        loss[i] = np.nan
        wsum[i] = np.nan
    else:
        loss[i] = -si * index_row_loss(row, t, w, has_w, alpha, beta, big, logs)
        wsum[i] = si * (w[t] if has_w else 1.0)


@njit(inline="never", **JIT)
def _index_block(xb, yb, sb, w, has_w, has_s, ignore, alpha, beta, want_lse, lb, wb, eb, scratch):
    """:func:`index_forward` on a block of short rows (one :func:`_block_lse`, then each row's loss)."""
    k, n = xb.shape
    big = scratch[0]
    logs = scratch[1]
    _block_lse(xb, big[:k], logs[:k], scratch[2])
    for r in range(k):
        t = yb[r]
        si = sb[r] if has_s else 1.0
        if want_lse:
            eb[r] = big[r] + logs[r]
        if t == ignore or si == 0.0:
            lb[r] = 0.0
            wb[r] = 0.0
        elif t < 0 or t >= n:
            lb[r] = np.nan
            wb[r] = np.nan
        elif beta == 0.0 and alpha != 0.0:
            wt = w[t] if has_w else 1.0
            at = wt * alpha
            lq = (float(xb[r, t]) - big[r]) - logs[r]
            lb[r] = -si * (at * lq if at != 0.0 else 0.0)
            wb[r] = si * wt
        else:
            lb[r] = -si * index_row_loss(xb[r], t, w, has_w, alpha, beta, big[r], logs[r])
            wb[r] = si * (w[t] if has_w else 1.0)


@njit(parallel=True, **JIT)
def index_forward(x, y, w, has_w, s, has_s, ignore, alpha, beta, want_lse, loss, wsum, lse):
    n_rows, n_classes = x.shape
    if n_classes <= SHORT:  # short rows: blocks of ROWS rows, one vectorised exp per block
        for b in prange((n_rows + ROWS - 1) // ROWS):
            r0 = b * ROWS
            r1 = min(r0 + ROWS, n_rows)
            scratch = (np.empty(ROWS), np.empty(ROWS), np.empty(ROWS * n_classes, dtype=x.dtype))
            _index_block(
                x[r0:r1], y[r0:r1], s[r0:r1] if has_s else s, w, has_w, has_s, ignore, alpha,
                beta, want_lse, loss[r0:r1], wsum[r0:r1], lse[r0:r1] if want_lse else lse, scratch,
            )  # fmt: skip
        return
    for i in prange(n_rows):
        t = y[i]
        si = s[i] if has_s else 1.0
        masked = t == ignore or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            continue
        row = x[i]
        big, logs = row_lse(row)
        _index_forward_row(
            i, row, t, si, masked, w, has_w, alpha, beta, big, logs, want_lse, loss, wsum, lse
        )


@njit(parallel=True, **JIT)
def index_grad(x, y, w, has_w, rs, ignore, alpha, beta, wsum_all, g):
    n_rows, n_classes = x.shape
    for i in prange(n_rows):
        t = y[i]
        r = rs[i]
        gr = g[i]
        if t == ignore or r == 0.0:
            zero_row(gr)
            continue
        if t < 0 or t >= n_classes:
            _fill_nan(gr)
            continue
        row = x[i]
        big, logs = lse_exp(row, gr)
        index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs)


@njit(inline="never", **JIT)
def _index_block_grad(
    xb, yb, sb, rsb, w, has_w, has_s, ignore, alpha, beta, wsum_all, want_lse, lb, wb, eb, gb, tmp
):
    """:func:`index_forward_grad` on a block of short rows: one :func:`_block_lse` whose
    ``exp(x - M)`` lands in the gradient block, then each row's loss and scaling pass."""
    k, n = xb.shape
    big = tmp[0][:k]
    logs = tmp[1][:k]
    _block_lse(xb, big, logs, gb.reshape(k * n))
    for r in range(k):
        t = yb[r]
        si = sb[r] if has_s else 1.0
        gr = gb[r]
        if want_lse:
            eb[r] = big[r] + logs[r]
        if t == ignore or si == 0.0:
            lb[r] = 0.0
            wb[r] = 0.0
            zero_row(gr)
            continue
        if t < 0 or t >= n:
            lb[r] = np.nan
            wb[r] = np.nan
            _fill_nan(gr)
            continue
        row = xb[r]
        lb[r] = -si * index_row_loss(row, t, w, has_w, alpha, beta, big[r], logs[r])
        wb[r] = si * (w[t] if has_w else 1.0)
        ri = rsb[r] * si
        if ri == 0.0:
            zero_row(gr)
        else:
            index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, ri, big[r], logs[r])


@njit(parallel=True, **JIT)
def index_forward_grad(
    x, y, w, has_w, s, has_s, rs, ignore, alpha, beta, wsum_all, want_lse, loss, wsum, lse, g
):
    n_rows, n_classes = x.shape
    if n_classes <= SHORT:  # short rows: blocks of ROWS rows (see index_forward)
        for b in prange((n_rows + ROWS - 1) // ROWS):
            r0 = b * ROWS
            r1 = min(r0 + ROWS, n_rows)
            _index_block_grad(
                x[r0:r1], y[r0:r1], s[r0:r1] if has_s else s, rs[r0:r1], w, has_w, has_s, ignore,
                alpha, beta, wsum_all, want_lse, loss[r0:r1], wsum[r0:r1],
                lse[r0:r1] if want_lse else lse, g[r0:r1], (np.empty(ROWS), np.empty(ROWS)),
            )  # fmt: skip
        return
    for i in prange(n_rows):
        t = y[i]
        si = s[i] if has_s else 1.0
        gr = g[i]
        masked = t == ignore or si == 0.0
        if masked and not want_lse:
            loss[i] = 0.0
            wsum[i] = 0.0
            zero_row(gr)
            continue
        row = x[i]
        big, logs = lse_exp(row, gr)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            zero_row(gr)
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
            zero_row(gr)
        else:
            index_row_grad(row, gr, t, w, has_w, alpha, beta, wsum_all, r, big, logs)


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
    """gr_c = r * (A q_c - a_c), a_c = w_c (α y_c + β m); zero-A rows get zeros.

    ``gr`` holds ``exp(x_c - M)`` on entry (:func:`lse_exp`).
    """
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
            zero_row(gr)
        return
    scale = cast_like(row, r * big_a * math.exp(-logs))
    ralpha = cast_like(row, r * alpha)
    rbase = cast_like(row, r * base)
    if has_w:
        for c in range(n):
            a = (ralpha * cast_like(row, yr[c]) + rbase) * cast_like(row, w[c])
            gr[c] = scale * gr[c] - a
    else:
        for c in range(n):
            gr[c] = scale * gr[c] - (ralpha * cast_like(row, yr[c]) + rbase)


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
        big, logs = row_lse(row)
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
            zero_row(gr)
            continue
        row = x[i]
        big, logs = lse_exp(row, gr)
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
            zero_row(gr)
            continue
        row = x[i]
        big, logs = lse_exp(row, gr)
        if want_lse:
            lse[i] = big + logs
        if masked:
            loss[i] = 0.0
            wsum[i] = 0.0
            zero_row(gr)
            continue
        loss[i] = -si * _soft_row_loss(row, yr, w, has_w, alpha, beta, m, big, logs)
        wsum[i] = si * wy
        r = rs[i] * si
        if r == 0.0:
            zero_row(gr)
        else:
            _soft_row_grad(row, yr, gr, w, has_w, alpha, beta, m, r, big, logs)
