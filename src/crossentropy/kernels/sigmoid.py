"""Elementwise binary (sigmoid) cross-entropy kernels, compiled with numba.

Works on a 2-D view (R, L) of the logits, L the last axis, so that
``pos_weight`` runs along L. ``weight`` and ``sample_weight`` are broadcast
against the logits (zero-stride views, no copy when the reshape allows it).

    softplus(z) = max(z, 0) + log1p(exp(-|z|))
    loss = s w [pw y softplus(-x) + (1 - y) softplus(x)]    (a zero coefficient gives 0)
    grad = s w [pw y (sigma(x) - 1) + (1 - y) sigma(x)]
"""

import math

import numpy as np
from numba import njit, prange

from ._args import compute_logits
from ._simd import FASTMATH

_JIT = {"cache": True, "fastmath": FASTMATH - {"reassoc"}, "nogil": True}


@njit(inline="always", **_JIT)
def _softplus(z):
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


@njit(inline="always", **_JIT)
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(parallel=True, **_JIT)
def _sigmoid_kernel(x, y, w, pw, s, grad, out):
    rows, cols = x.shape
    for i in prange(rows):
        for j in range(cols):
            f = s[i, j] * w[i, j]
            if f == 0.0:
                out[i, j] = 0.0
                continue
            xv = float(x[i, j])
            yv = float(y[i, j])
            a = pw[j] * yv
            b = 1.0 - yv
            if grad:
                sg = _sigmoid(xv)
                v = 0.0
                if a != 0.0:
                    v += a * (sg - 1.0)
                if b != 0.0:
                    v += b * sg
                if xv != xv:
                    v = np.nan
            else:
                v = 0.0
                if a != 0.0:
                    v += a * _softplus(-xv)
                if b != 0.0:
                    v += b * _softplus(xv)
                if xv != xv:
                    v = np.nan
            out[i, j] = f * v


def _as_2d(a, shape, shape2d, name):
    """``a`` broadcast against the logits' ``shape``, as a (R, L) view (a copy only if needed)."""
    try:
        b = np.broadcast_to(np.asarray(a, dtype=np.float64), shape)
    except ValueError as exc:
        raise ValueError(
            f"`{name}` of shape {np.shape(a)} cannot be broadcast to the logits' shape {shape}."
        ) from exc
    return b.reshape(shape2d)


def sigmoid_call(logits, target, weight, pos_weight, sample_weight, *, grad):
    """Shared wrapper of ``sigmoid_terms`` / ``sigmoid_terms_grad``."""
    x = compute_logits(logits)
    y = np.asarray(target)
    if y.shape != x.shape:
        raise ValueError(f"`target` must have the logits' shape {x.shape}, got {y.shape}.")
    shape = x.shape
    n_last = shape[-1] if shape else 1
    x2 = x.reshape(-1, n_last) if shape else x.reshape(1, 1)
    y2 = y.reshape(x2.shape)
    w2 = _as_2d(1.0 if weight is None else weight, shape, x2.shape, "weight")
    s2 = _as_2d(1.0 if sample_weight is None else sample_weight, shape, x2.shape, "sample_weight")
    pw = np.broadcast_to(
        np.asarray(1.0 if pos_weight is None else pos_weight, dtype=np.float64), (n_last,)
    )
    out = np.empty(x2.shape, dtype=x.dtype)
    _sigmoid_kernel(x2, y2, w2, np.ascontiguousarray(pw), s2, grad, out)
    return out.reshape(shape)
