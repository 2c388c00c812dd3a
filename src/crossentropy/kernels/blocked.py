"""Row-blocked NumPy softmax cross-entropy: the path used when numba is missing.

Same contract and the same numbers as :func:`crossentropy.kernels.softmax_terms`,
in plain NumPy. The rows are processed in blocks of about ``block_bytes``
(default 2 MiB of float64 work per temporary) reusing one scratch buffer, so
the extra memory is a few blocks, not the 2–3 logits-sized temporaries of
``x - logsumexp(x)`` written whole-array.

Per block with row maxima ``M`` (``-inf``/NaN rows shifted by 0 instead):

    S   = sum_c exp(x_c - M)             (float64 sums)
    log q_c = (x_c - M) - log S
    loss_i = -s_i * sum_c a_ic log q_ic  (0 where a_ic == 0)
    a_ic = w_c (α y_ic + β m_i)          (m_i the row mass, 1 for an index)

with ``(α, β)`` the smoothing encoding of ``crossentropy._rows.smoothing_coefficients``.
"""

from __future__ import annotations

import numpy as np

from .._options import IGNORE_INDEX
from .._types import Smoothing
from ._args import softmax_args

__all__ = ["blocked_softmax_terms", "DEFAULT_BLOCK_BYTES"]

#: target size of one float64 block temporary.
DEFAULT_BLOCK_BYTES = 2 << 20


def _rows_per_block(n_classes, block_bytes):
    return max(1, int(block_bytes) // (8 * max(1, n_classes)))


def _block_lse(xb, scratch):
    """(M, log S) of a block of rows, float64; ``scratch`` has xb's shape and dtype."""
    big = xb.max(axis=1) if xb.shape[1] else np.full(xb.shape[0], -np.inf, dtype=xb.dtype)
    shift = np.where(np.isfinite(big), big, 0).astype(xb.dtype)
    np.subtract(xb, shift[:, None], out=scratch)
    with np.errstate(invalid="ignore", over="ignore"):
        np.exp(scratch, out=scratch)
    total = scratch.sum(axis=1, dtype=np.float64)
    with np.errstate(divide="ignore"):
        logs = np.log(total)
    return shift.astype(np.float64), logs


def blocked_softmax_terms(
    logits,
    target,
    *,
    weight=None,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    sample_weight=None,
    return_lse: bool = False,
    block_bytes=DEFAULT_BLOCK_BYTES,
):
    """Per-example ``(loss, wsum)`` like :func:`~crossentropy.kernels.softmax_terms`, row-blocked NumPy.

    .. math::

        \\ell_i = -s_i \\sum_c w_c\\, y'_{ic} \\log\\operatorname{softmax}(x_i)_c,
        \\qquad W_i = s_i \\sum_c w_c\\, y_{ic}

    Parameters
    ----------
    logits, target, weight, ignore_index, label_smoothing, smoothing, sample_weight, return_lse
        As in :func:`crossentropy.kernels.softmax_terms`.
    block_bytes : int
        Size of one float64 block temporary; the peak extra memory is a small
        multiple of it (independent of N).

    Returns
    -------
    loss, wsum : ndarray (N,) in the compute dtype (and ``lse`` when asked).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0, -np.inf], [np.nan, 0.0, 1.0]])
    >>> loss, wsum = blocked_softmax_terms(x, np.array([0, -100]))
    >>> bool(np.isclose(loss[0], np.log(np.exp(2.0) + 1.0) - 2.0)), loss[1] == 0.0
    (True, np.True_)
    """
    a = softmax_args(
        logits,
        target,
        weight=weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
    )
    x, y = a.x, a.y
    n, c = x.shape
    dt = x.dtype
    loss = np.empty(n, dtype=dt)
    wsum = np.empty(n, dtype=dt)
    lse = np.empty(n, dtype=dt) if return_lse else None
    w = a.w if a.has_w else None
    rb = _rows_per_block(c, block_bytes)
    scratch = np.empty((min(rb, n), c), dtype=dt)
    d = np.empty((min(rb, n), c), dtype=np.float64)
    for r0 in range(0, n, rb):
        r1 = min(n, r0 + rb)
        k = r1 - r0
        xb = x[r0:r1]
        s = a.s[r0:r1] if a.has_s else np.ones(k)
        big, logs = _block_lse(xb, scratch[:k])
        if lse is not None:
            lse[r0:r1] = big + logs
        db = d[:k]
        with np.errstate(invalid="ignore"):
            np.subtract(xb, big[:, None], out=db)  # float64 log q, row by row
            np.subtract(db, logs[:, None], out=db)
        if a.soft:
            acc, wy, mask = _soft_block(y[r0:r1], db, w, a.alpha, a.beta)
        else:
            acc, wy, mask = _index_block(y[r0:r1], db, w, a.alpha, a.beta, c, ignore_index)
        mask |= s == 0
        with np.errstate(invalid="ignore"):
            loss[r0:r1] = np.where(mask, 0.0, -s * acc)
            wsum[r0:r1] = np.where(mask, 0.0, s * wy)
    return (loss, wsum, lse) if return_lse else (loss, wsum)


def _index_block(t, db, w, alpha, beta, c, ignore_index):
    """(sum_c a_c log q_c, w_t, mask) for index targets, a_c = w_c (α [c = t] + β).

    ``db`` (log q) is overwritten.
    """
    mask = t == ignore_index
    bad = ~mask & ((t < 0) | (t >= c))
    tt = np.where(mask | bad, 0, t)
    rows = np.arange(t.shape[0])
    lq_t = db[rows, tt].copy()
    wt = w[tt] if w is not None else np.ones(t.shape[0])
    at = wt * (alpha + beta)
    with np.errstate(invalid="ignore"):
        acc = np.where(at != 0, at * lq_t, 0.0)
        if beta != 0.0:
            db[rows, tt] = 0.0  # exclude the target class from the "others" sum
            if w is not None:
                np.multiply(db, w, out=db)
                db[:, w == 0] = 0.0
            acc = acc + beta * db.sum(axis=1)
    acc = np.where(bad, np.nan, acc)
    wt = np.where(bad, np.nan, wt)
    return acc, wt, mask


def _soft_block(yb, db, w, alpha, beta):
    """(sum_c a_c log q_c, sum_c w_c y_c, mask) for soft targets, a_c = w_c (α y_c + β m).

    ``db`` (log q) is overwritten.
    """
    yb = yb.astype(np.float64)
    m = yb.sum(axis=1)
    wy = yb @ w if w is not None else m
    a = alpha * yb + beta * m[:, None]
    if w is not None:
        a = a * w
    with np.errstate(invalid="ignore"):
        np.multiply(db, a, out=db)
    db[a == 0] = 0.0
    return db.sum(axis=1), wy, m == 0
