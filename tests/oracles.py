"""Independent float64 references for the test suite.

Written from the formulas of docs/semantics.md with plain NumPy/SciPy — dense
one-hot targets, explicit loops where that is clearer — and sharing no code with
the library. PyTorch, scikit-learn and SciPy oracles are called directly in the
tests, side by side with these.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, logsumexp

# Tolerance policy (../shared/reference/properties.md §2), one table keyed by dtype.
TOL = {
    np.dtype(np.float64): dict(rtol=1e-12, atol=0.0),
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
}


def assert_close(actual, expected, dtype=np.float64, *, atol=None):
    """assert_allclose with the policy tolerance of ``dtype``; also checks shape."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (a.shape, e.shape)
    tol = dict(TOL[np.dtype(dtype)])
    if atol is not None:
        tol["atol"] = atol
    np.testing.assert_allclose(a, e, equal_nan=True, **tol)


def to_np(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception:  # array-api-strict
        return np.from_dlpack(x)


def smoothed_dense(y, eps, smoothing):
    """y' for dense (N, C) targets: mass-preserving smoothing."""
    y = np.asarray(y, dtype=np.float64)
    c = y.shape[-1]
    m = y.sum(-1, keepdims=True)
    if eps == 0:
        return y
    if smoothing == "uniform":
        return (1 - eps) * y + eps * m / c
    return (1 - eps) * y + eps * (m - y) / (c - 1)


def dense_target(target, c, ignore_index=-100):
    """Index targets → one-hot rows (ignored rows all zero); distributions unchanged."""
    t = np.asarray(target)
    if t.ndim == 2 and t.shape[1] == c and np.issubdtype(t.dtype, np.floating):
        return t.astype(np.float64)
    t = t.astype(np.int64)
    y = np.zeros((t.shape[0], c))
    for i, k in enumerate(t):
        if k != ignore_index:
            y[i, k] = 1.0
    return y


def log_q(pred, kind):
    x = np.asarray(pred, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if kind == "logits":
            return log_softmax(x, axis=-1)
        if kind == "probs":
            return np.log(x)
        return x


def ref_terms(
    pred,
    target,
    *,
    kind="logits",
    weight=None,
    sample_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
):
    """(ℓ_i, w_i) for 2-D inputs (N, C), straight from docs/semantics.md §4."""
    x = np.asarray(pred, dtype=np.float64)
    n, c = x.shape
    y = dense_target(target, c, ignore_index)
    yp = smoothed_dense(y, label_smoothing, smoothing)
    wc = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    lq = log_q(x, kind)
    loss = np.zeros(n)
    wsum = np.zeros(n)
    for i in range(n):
        if y[i].sum() == 0 or s[i] == 0:
            continue
        a = wc * yp[i]
        nz = a != 0
        loss[i] = -s[i] * np.sum(a[nz] * lq[i, nz])
        wsum[i] = s[i] * np.sum(wc * y[i])
    return loss, wsum


def ref_reduce(loss, wsum, reduction, empty="nan"):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    den = wsum.sum()
    if den == 0:
        return np.nan if empty == "nan" else 0.0
    return loss.sum() / den


def ref_cross_entropy(pred, target, *, reduction="mean", **kw):
    return ref_reduce(*ref_terms(pred, target, **kw), reduction)


def ref_grad_logits(
    x,
    target,
    *,
    weight=None,
    sample_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
    reduction="mean",
):
    """Closed-form gradient by finite differences would be circular; this is the
    textbook derivation s_i (A_i softmax − a_i) / den, written independently."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape
    y = dense_target(target, c, ignore_index)
    yp = smoothed_dense(y, label_smoothing, smoothing)
    wc = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    q = np.exp(log_softmax(x, axis=-1))
    g = np.zeros_like(x)
    den = 0.0
    for i in range(n):
        if y[i].sum() == 0 or s[i] == 0:
            continue
        a = wc * yp[i]
        g[i] = s[i] * (a.sum() * q[i] - a)
        den += s[i] * np.sum(wc * y[i])
    if reduction == "mean":
        g = g / den if den else np.zeros_like(g)
    return g


def ref_entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def ref_lse(x):
    return logsumexp(np.asarray(x, dtype=np.float64), axis=-1)
