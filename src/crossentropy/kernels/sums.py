"""Reduction-fused softmax cross-entropy kernels: ``Σ_i ℓ_i`` and ``Σ_i w_i`` without per-row arrays.

The plain case of the public entry points (class-index labels, no class or sample weight)
needs only two numbers from the logits, ``Σℓ`` and ``Σw`` (docs/semantics.md §4), and, for
forward+backward, the gradient. These kernels read the logits (a flat C-contiguous array of
``N·C`` elements) and the labels once, check every label inside the compiled loop
(``ignore_index`` → masked row, not a class → counted as *bad*: the caller then takes the
general path, whose validation raises its one message, or whose NaN rows it computes), and
return per-chunk float64 sums added in chunk order (the result does not depend on the number
of threads).

Short rows (``C <= SHORT``) are taken ``ROWS`` rows at a time and shifted by the **block's**
maximum ``M_B`` (one vectorised max over ``k·C`` elements instead of ``k`` scalar row maxima):
``S_i = Σ_c exp(x_ic − M_B)`` (vectorised exp), ``log q_ic = (x_ic − M_B) − log S_i``, which is
the same value as with the row's own maximum as long as the row's largest term is not lost to
underflow. A row with ``S_i < TINY`` (its maximum more than ~27 below ``M_B``), a NaN, or a
block without a finite maximum takes the per-row online log-sum-exp (``softmax.row_lse``):
the same values as every other kernel. Long rows take the per-row path directly.
Without smoothing, the forward sum of short rows is ``Σ_i log S_i − Σ_i (x_{i,y_i} − M_B)``
with one ``log`` per ``PRODUCT`` rows (of their product) instead of one per row.

The smoothed target ``y' = α y + β m`` (``crossentropy._rows``) enters as in every kernel.
"""

import math

import numpy as np
from numba import njit, prange

from ._rowmath import JIT, cast_like, index_row_loss
from ._simd import FASTMATH, vexp, vmax
from .softmax import ROWS, SHORT, index_row_grad, lse_exp, row_lse, zero_row

#: a row's exp-sum under the block shift below this is recomputed with its own maximum:
#: its largest term is then ≥ TINY / C, and terms that underflowed (< 1.2e-38) are < 1e-25 of it
TINY = 2.0**-40
#: rows whose exp-sums are multiplied before one log (each S_i in [TINY, SHORT]: no overflow
#: nor underflow of the float64 product)
PRODUCT = 16
#: rows of a chunk of long rows (each chunk's sums are added in chunk order)
LONG_ROWS = 16
#: labels per chunk of :func:`label_counts`
COUNT_ROWS = 1 << 16


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _block_exp(xf, n, ex, tot):
    """``ex = exp(x − M_B)`` for a flat block of rows of ``n`` classes, ``tot[r] = Σ_c`` of row r.

    Returns ``M_B`` (the block's maximum, NaN ignored); when it is not finite nothing is written.
    """
    m = xf.shape[0]
    ninf = cast_like(xf, -np.inf)
    big = ninf
    for j in range(m):
        big = vmax(big, xf[j])
    if not (big > ninf and big < -ninf):
        return big
    for j in range(m):
        ex[j] = vexp(xf[j] - big)
    for r in range(m // n):
        seg = ex[r * n : (r + 1) * n]
        acc = cast_like(xf, 0.0)
        for c in range(n):
            acc += seg[c]
        tot[r] = float(acc)
    return big


@njit(inline="always", **JIT)
def _shift(row, ex, big_b, total, ok):
    """``(M, log S)`` of a row from the block shift, or its own online LSE (refilling ``ex``)."""
    if ok and total >= TINY:
        return big_b, math.log(total)
    big, logs = row_lse(row)
    bigx = cast_like(row, big)
    for c in range(row.shape[0]):
        ex[c] = vexp(row[c] - bigx)
    return big, logs


@njit(inline="always", **JIT)
def _label(t, n, ignore, has_ignore):
    """0: a class; 1: ``ignore_index`` (masked); 2: not a class (bad)."""
    if has_ignore and t == ignore:
        return 1
    if t < 0 or t >= n:
        return 2
    return 0


@njit(inline="always", **JIT)
def _add_chunks(out):
    """``(Σℓ, Σw, bad rows)``: the chunks' sums added in chunk order."""
    loss = 0.0
    w = 0.0
    bad = 0.0
    for k in range(out.shape[0]):
        loss += out[k, 0]
        w += out[k, 1]
        bad += out[k, 2]
    return loss, w, int(bad)


@njit(inline="always", **JIT)
def _chunks(n_rows, n):
    """(rows per chunk, a buffer of one ``(Σℓ, Σw, bad)`` per chunk)."""
    step = ROWS if n <= SHORT else LONG_ROWS
    return step, np.zeros(((n_rows + step - 1) // step, 3))


@njit(parallel=True, **JIT)
def index_sums(xf, n, y, ignore, has_ignore, alpha, beta):
    """``(Σℓ, Σw, bad rows)``, summed per chunk of ``ROWS`` (short rows) or ``LONG_ROWS`` rows."""
    n_rows = y.shape[0]
    short = n <= SHORT
    step, out = _chunks(n_rows, n)
    dummy = np.ones(1)
    for k in prange(out.shape[0]):
        r0 = k * step
        r1 = min(r0 + step, n_rows)
        ex = np.empty((r1 - r0) * n if short else n, dtype=xf.dtype)
        tot = np.empty(r1 - r0)
        big_b = 0.0
        ok = False
        if short:
            b = _block_exp(xf[r0 * n : r1 * n], n, ex, tot)
            ok = b > -np.inf and b < np.inf
            big_b = float(b)
        loss = 0.0
        w = 0.0
        bad = 0
        prod = 1.0  # Π S_i of up to PRODUCT rows of the block shift: one log for them all
        held = 0
        picked = 0.0  # Σ (x_it − M_B) of those rows
        for r in range(r1 - r0):
            i = r0 + r
            t = y[i]
            kind = _label(t, n, ignore, has_ignore)
            if kind == 1:
                continue
            if kind == 2:
                bad += 1
                continue
            w += 1.0
            if short and ok and beta == 0.0 and tot[r] >= TINY:
                prod *= tot[r]
                picked += float(xf[i * n + t]) - big_b
                held += 1
                if held == PRODUCT:
                    loss += alpha * math.log(prod)
                    prod = 1.0
                    held = 0
                continue
            row = xf[i * n : (i + 1) * n]
            if short:
                big, logs = _shift(row, ex[r * n : (r + 1) * n], big_b, tot[r], ok)
            else:
                big, logs = row_lse(row)
            loss -= index_row_loss(row, t, dummy, False, alpha, beta, big, logs)
        out[k, 0] = loss + alpha * (math.log(prod) - picked)
        out[k, 1] = w
        out[k, 2] = bad
    return _add_chunks(out)


@njit(parallel=True, **JIT)
def label_counts(y, n, ignore, has_ignore):
    """``(active rows, bad rows)`` of the labels, counted per chunk of ``COUNT_ROWS``."""
    n_rows = y.shape[0]
    out = np.zeros(((n_rows + COUNT_ROWS - 1) // COUNT_ROWS, 2), dtype=np.int64)
    for k in prange(out.shape[0]):
        a = 0
        bad = 0
        for i in range(k * COUNT_ROWS, min(k * COUNT_ROWS + COUNT_ROWS, n_rows)):
            kind = _label(y[i], n, ignore, has_ignore)
            a += kind == 0
            bad += kind == 2
        out[k, 0] = a
        out[k, 1] = bad
    return out[:, 0].sum(), out[:, 1].sum()


@njit(inline="always", **JIT)
def _plain_row_grad(gr, t, alpha, r, total):
    """``g_c = r α (e_c / S − [c = t])`` from ``gr = e = exp(x − M_B)`` and ``S = Σ_c e_c``

    (no smoothing: ``A = α``, ``a_c = α [c = t]``): a division instead of ``exp(−log S)``.
    """
    ra = r * alpha
    if ra == 0.0:
        zero_row(gr)
        return
    q_t = float(gr[t]) / total
    scale = cast_like(gr, ra / total)
    for c in range(gr.shape[0]):
        gr[c] = scale * gr[c]
    gr[t] = ra * (q_t - 1.0)


@njit(parallel=True, **JIT)
def index_sums_grad(xf, n, y, ignore, has_ignore, alpha, beta, scale, gf):
    """:func:`index_sums` and the gradient of ``scale · Σℓ`` written into ``gf`` (flat, like ``xf``).

    ``g_ic = scale · (A q_ic − a_ic)`` with ``A = α + β C``, ``a_ic = α [c = y_i] + β``; masked
    rows get zeros. Bad labels are counted only (the caller does not use the gradient then).
    """
    n_rows = y.shape[0]
    short = n <= SHORT
    step, out = _chunks(n_rows, n)
    dummy = np.ones(1)
    wsum_all = float(n)
    for k in prange(out.shape[0]):
        r0 = k * step
        r1 = min(r0 + step, n_rows)
        tot = np.empty(r1 - r0)
        big_b = 0.0
        ok = False
        if short:
            b = _block_exp(xf[r0 * n : r1 * n], n, gf[r0 * n : r1 * n], tot)
            ok = b > -np.inf and b < np.inf
            big_b = float(b)
        loss = 0.0
        w = 0.0
        bad = 0
        prod = 1.0  # as in index_sums: one log per PRODUCT rows of the block shift
        held = 0
        picked = 0.0
        for r in range(r1 - r0):
            i = r0 + r
            t = y[i]
            gr = gf[i * n : (i + 1) * n]
            kind = _label(t, n, ignore, has_ignore)
            if kind != 0:
                bad += kind == 2
                zero_row(gr)
                continue
            if short and ok and beta == 0.0 and tot[r] >= TINY:
                w += 1.0
                prod *= tot[r]
                picked += float(xf[i * n + t]) - big_b
                held += 1
                if held == PRODUCT:
                    loss += alpha * math.log(prod)
                    prod = 1.0
                    held = 0
                _plain_row_grad(gr, t, alpha, scale, tot[r])
                continue
            row = xf[i * n : (i + 1) * n]
            if short:
                big, logs = _shift(row, gr, big_b, tot[r], ok)
            else:
                big, logs = lse_exp(row, gr)
            loss -= index_row_loss(row, t, dummy, False, alpha, beta, big, logs)
            w += 1.0
            index_row_grad(row, gr, t, dummy, False, alpha, beta, wsum_all, scale, big, logs)
        out[k, 0] = loss + alpha * (math.log(prod) - picked)
        out[k, 1] = w
        out[k, 2] = bad
    return _add_chunks(out)
