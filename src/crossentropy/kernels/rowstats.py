"""Fused per-row evaluation pass for the Accumulator, compiled with numba (imported lazily).

One read of each logit row gives every per-example number of a dataset-level
report (docs/semantics.md §4 and §10):

    ℓ_i, w_i           the loss term and its weight (as the core's fused kernel)
    conf_i = max_c q_ic = 1 / S_i,        S_i = Σ_c exp(x_ic − M_i)
    q_true_i = exp(x_i,y_i − M_i) / S_i
    brier_i = Σ_c q_ic² − 2 q_true_i + 1 = S2_i / S_i² − 2 q_true_i + 1,   S2_i = Σ_c exp(x_ic − M_i)²
    correct_i = [argmax_c x_ic == y_i]    (first maximum, as ``np.argmax``)

The log-sum-exp is the online one of :mod:`crossentropy.kernels.softmax`: blocks of
``BLOCK`` logits, a running maximum ``M`` (the running sums are rescaled when it grows),
sub-block sums of ``exp(x − M)`` in the row's dtype then a float64 total; ``log q`` is
formed as ``(x − M) − log S`` without re-association (the exp-sum alone is compiled with
re-association, in :func:`_row_sums`). ``ℓ_i`` and ``w_i`` are rounded to the row's dtype,
as the core's kernel stores them.

A second, serial pass (:func:`bin_rows`) adds the per-row numbers into the binned sums
(calibration bins, the 4096 fine sub-bins, the per-class table, the p(true) and NLL
histograms) **in row order**, exactly as ``np.bincount`` does, so the sums do not depend
on the number of threads.

For top-k accuracy and the confusion matrix, :func:`rank_rows` gives each row's predicted class
and the rank of its true class (as NumPy's ``argmax`` and a comparison count), and
:func:`rank_sums` / :func:`confusion_sums` add them up in row order, as ``np.bincount`` does.

Non-finite rows follow the core: a NaN logit makes the row's ``S`` NaN (ℓ, conf,
q_true, brier NaN); a row with no finite logit has ``M = −inf`` (ℓ NaN, the rest NaN).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from ._rowmath import JIT, SUB, cast_like, index_row_loss
from ._simd import BLOCK, FASTMATH, vexp

# exp of a non-positive float64 for the exp-sums, written with plain arithmetic so that the loop
# vectorises (libm's exp is a call per element): n = round(v·log2 e), r = v − n·ln 2 (two-part
# constant, |r| ≤ ln2/2), exp(r) by its Taylor series to r^13 (truncation < 1e-17; Estrin's
# scheme), times 2^n
# built from the exponent bits. Relative error about 2 ulp; v < −708 gives 0 (the terms are
# added to S ≥ 1, so nothing of them would survive the sum), −inf → 0, NaN → NaN.
_LOG2E64 = 1.4426950408889634
_LN2_HI64 = 6.93147180369123816490e-01
_LN2_LO64 = 1.90821492927058770002e-10
_LO64 = -708.0
_INV_FACT = tuple(1.0 / math.factorial(k) for k in range(14))


@intrinsic
def _bits_to_f64(typingctx, v):
    """Reinterpret the bits of an int64 as a float64 (an LLVM ``bitcast``)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


def sexp(v):  # pragma: no cover - replaced by the overload inside compiled code
    """exp of a non-positive value for the exp-sums; only callable from compiled code."""
    return math.exp(v)


@overload(sexp, jit_options={"fastmath": FASTMATH - {"reassoc"}})
def _sexp_overload(v):
    if isinstance(v, types.Float) and v.bitwidth == 64:
        c2, c3, c4, c5, c6, c7 = _INV_FACT[2:8]
        c8, c9, c10, c11, c12, c13 = _INV_FACT[8:14]

        def expd(v):
            x = v if v > _LO64 else _LO64  # NaN -> _LO64 here; restored below
            fn = np.floor(x * _LOG2E64 + 0.5)
            r = (x - fn * _LN2_HI64) - fn * _LN2_LO64
            r2 = r * r  # Estrin's scheme: a short dependency chain for short rows (C ~ 10)
            r4 = r2 * r2
            b0 = (c2 + c3 * r) + (c4 + c5 * r) * r2
            b1 = (c6 + c7 * r) + (c8 + c9 * r) * r2
            b2 = (c10 + c11 * r) + (c12 + c13 * r) * r2
            q = b0 + (b1 + b2 * r4) * r4
            p = q * r2 + r + 1.0
            scale = _bits_to_f64((np.int64(fn) + np.int64(1023)) << np.int64(52))
            e = p * scale
            e = 0.0 if v < _LO64 else e
            return v if v != v else e

        return expd

    def other(v):
        return vexp(v)

    return other


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _row_sums(row):
    """Online (M, S, S2, argmax) of one row: S = Σ exp(x − M), S2 = Σ exp(x − M)², in float64."""
    n = row.shape[0]
    ninf = cast_like(row, -np.inf)
    big = ninf
    arg = 0
    total = 0.0
    total2 = 0.0
    for b0 in range(0, n, BLOCK):
        b1 = min(b0 + BLOCK, n)
        bmax = ninf
        barg = b0
        for c in range(b0, b1):
            v = row[c]
            if v > bmax:
                bmax = v
                barg = c
        if bmax == ninf:
            for c in range(b0, b1):
                if row[c] != row[c]:
                    total = np.nan
                    total2 = np.nan
            continue
        if bmax > big:
            if total != 0.0:
                f = math.exp(float(big) - float(bmax))
                total = total * f
                total2 = total2 * (f * f)
            big = bmax
            arg = barg
        for s0 in range(b0, b1, SUB):
            acc = cast_like(row, 0.0)
            acc2 = cast_like(row, 0.0)
            for c in range(s0, min(s0 + SUB, b1)):
                e = sexp(row[c] - big)
                acc += e
                acc2 += e * e
            total += float(acc)
            total2 += float(acc2)
    return float(big), total, total2, arg


@njit(parallel=True, **JIT)
def eval_rows(x, y, valid, w, has_w, s, has_s, alpha, beta, ell, wsum, wc, wb, conf, qt):
    """Per-row ℓ, w, w·correct, w·brier (0 on invalid rows), confidence and q of the true class.

    ``y``: int64 targets (any value on invalid rows); ``valid``: uint8, 0 = masked row
    (ℓ = w = 0, statistics 0). Out-of-range targets on valid rows give NaN.
    """
    n_rows, n_classes = x.shape
    for i in prange(n_rows):
        if valid[i] == 0:
            ell[i] = 0.0
            wsum[i] = 0.0
            wc[i] = 0.0
            wb[i] = 0.0
            conf[i] = 0.0
            qt[i] = 0.0
            continue
        row = x[i]
        t = y[i]
        si = s[i] if has_s else 1.0
        big, total, total2, a = _row_sums(row)
        logs = math.log(total)
        if t < 0 or t >= n_classes:  # unvalidated out-of-range target
            ell[i] = np.nan
            wsum[i] = np.nan
            wc[i] = np.nan
            wb[i] = np.nan
            conf[i] = np.nan
            qt[i] = np.nan
            continue
        li = float(cast_like(row, -si * index_row_loss(row, t, w, has_w, alpha, beta, big, logs)))
        wi = float(cast_like(row, si * (w[t] if has_w else 1.0)))
        ell[i] = li
        wsum[i] = wi
        if not (total == total) or big == -np.inf:
            conf[i] = np.nan
            qt[i] = np.nan
            wb[i] = np.nan
            wc[i] = (
                wi if t == 0 else 0.0
            )  # argmax taken as 0, as the NumPy fallback's fused path did
            continue
        c = 1.0 / total
        q = math.exp(float(row[t]) - big) / total
        brier = total2 / (total * total) - 2.0 * q + 1.0
        conf[i] = c
        qt[i] = q
        wc[i] = wi if a == t else 0.0
        wb[i] = wi * brier


@njit(inline="always", **JIT)
def _bin(v, bins):
    """``min(floor(v·B), B−1)`` clipped at 0 (v not NaN), as calibration.bin_index."""
    f = math.floor(v * bins)
    if f < 0.0:
        return 0
    if f > bins - 1:
        return bins - 1
    return int(f)


@njit(inline="always", **JIT)
def _search_right(edges, v):
    """``np.searchsorted(edges, v, side="right")`` of sorted ``edges`` (NaN: ``len(edges)``):
    the number of edges ≤ v, counted without branches (a few dozen edges: vector compares)."""
    n = edges.shape[0]
    if v != v:
        return n
    k = 0
    for j in range(n):
        k += edges[j] <= v
    return k


@njit(**JIT)
def bin_rows(
    y, valid, ell, wsum, wc, conf, qt, nll_inner, cal_u, cal_f, per_class, p_true, nll_hist
):
    """Add the rows into the binned sums in row order; returns (n_nan, n_nan_conf).

    ``cal_u`` (4, B) / ``cal_f`` (4, F): count, Σw, Σw·conf, Σw·correct over valid rows
    with a non-NaN confidence; ``per_class`` (4, C): count, Σw, Σℓ, Σw·correct by true
    class; ``p_true`` (2, P) and ``nll_hist`` (2, H): count and Σw. Arrays start at 0.
    """
    n = ell.shape[0]
    B = cal_u.shape[1]
    F = cal_f.shape[1]
    P = p_true.shape[1]
    C = per_class.shape[1]
    n_nan = 0
    n_nan_conf = 0
    for i in range(n):
        if valid[i] == 0:
            continue
        li = ell[i]
        wi = wsum[i]
        ci = conf[i]
        wci = wc[i]
        if li != li or ci != ci:
            n_nan += 1
        t = y[i]
        if 0 <= t < C:
            per_class[0, t] += 1.0
            per_class[1, t] += wi
            per_class[2, t] += li
            per_class[3, t] += wci
        if ci != ci:
            n_nan_conf += 1
        else:
            b = _bin(ci, B)
            cal_u[0, b] += 1.0
            cal_u[1, b] += wi
            cal_u[2, b] += wi * ci
            cal_u[3, b] += wci
            b = _bin(ci, F)
            cal_f[0, b] += 1.0
            cal_f[1, b] += wi
            cal_f[2, b] += wi * ci
            cal_f[3, b] += wci
        q = qt[i]
        if q == q:
            b = _bin(q, P)
            p_true[0, b] += 1.0
            p_true[1, b] += wi
        if wi > 0.0 and li == li:
            b = _search_right(nll_inner, li / wi)
            nll_hist[0, b] += 1.0
            nll_hist[1, b] += wi
    return n_nan, n_nan_conf


@njit(inline="always", **JIT)
def _rank_row(row, t):
    """``(argmax, rank)`` of one row of scores (C ≥ 1): the argmax as ``np.argmax`` (the first
    maximum; the first NaN when the row has one), ``rank = #{c : x_c > x_t}``; rank C where
    ``t`` is not in [0, C) or ``x_t`` is NaN (``_batchrows._ranks``)."""
    C = row.shape[0]
    best = row[0]
    arg = 0
    if best == best:
        for c in range(1, C):
            v = row[c]
            if v != v:
                arg = c
                break
            if v > best:
                best = v
                arg = c
    if t < 0 or t >= C:
        return arg, C
    st = row[t]
    if st != st:
        return arg, C
    k = 0
    for c in range(C):
        k += row[c] > st
    return arg, k


@njit(**JIT)
def rank_rows(x, true, top, rank):
    """:func:`_rank_row` of every row of (N, C) scores into ``top`` and ``rank`` (serial)."""
    for i in range(x.shape[0]):
        top[i], rank[i] = _rank_row(x[i], true[i])


@njit(parallel=True, **JIT)
def rank_rows_parallel(x, true, top, rank):
    """:func:`rank_rows` over threads (large blocks)."""
    for i in prange(x.shape[0]):
        top[i], rank[i] = _rank_row(x[i], true[i])


#: a few ns a row: a thread team costs more than it saves below ~2**23 cells (2 cores, shared)
PARALLEL_RANK_CELLS = 1 << 23


@njit(**JIT)
def rank_sums(valid, true, rank, w, out):
    """Add count and ``Σw`` of the valid rows with a class and a finite-or-inf weight by the rank of
    their true class (ranks < R = ``out.shape[1]``) into ``out`` (2, R), in row order, as
    ``np.bincount`` (``taskstats.TopKSums``)."""
    R = out.shape[1]
    for i in range(rank.shape[0]):
        k = rank[i]
        wi = w[i]
        if valid[i] and true[i] >= 0 and k < R and wi == wi:
            out[0, k] += 1.0
            out[1, k] += wi


@njit(**JIT)
def confusion_sums(valid, true, top, ell, w, out):
    """Add ``w_i`` of the valid rows with a class in [0, C) and a non-NaN loss into ``out[y_i, top_i]``
    (C, C), in row order, as ``np.bincount`` (``taskstats.ConfusionSums``)."""
    C = out.shape[0]
    for i in range(top.shape[0]):
        t = true[i]
        li = ell[i]
        if valid[i] and 0 <= t < C and li == li:
            out[t, top[i]] += w[i]
