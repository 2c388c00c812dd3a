"""Stable building blocks, generic over array namespaces and safe at −inf.

    logsumexp(x) = m + log Σ_c exp(x_c − m),   m = max_c x_c  (m := 0 when not finite)
    log_softmax(x) = x − logsumexp(x)
    log_sigmoid(x) = −softplus(−x),   softplus(x) = max(x, 0) + log1p(exp(−|x|))
    xlogy(a, b) = a · log b, with 0 · log b = 0 for every b (also b = 0)

>>> import numpy as np
>>> float(logsumexp(np.array([1000.0, 1000.0])))  # 1000 + log 2, no overflow
1000.6931471805599
>>> log_softmax(np.array([0.0, -np.inf]))
array([  0., -inf])
>>> float(log_sigmoid(np.array(-1e9)))
-1000000000.0
"""

from __future__ import annotations

import math

import numpy as np

from ._array import Array, namespace

__all__ = ["logsumexp", "log_softmax", "softmax", "log_sigmoid", "softplus", "xlogy", "log1mexp"]


def logsumexp(x: Array, axis: int = -1, *, keepdims: bool = False) -> Array:
    """Log of the sum of exponentials along ``axis``, max-shifted.

    An all ``−inf`` or empty slice gives ``−inf``; a ``+inf`` entry gives ``+inf``;
    NaN propagates.

    >>> import numpy as np
    >>> logsumexp(np.array([[0.0, 0.0], [-np.inf, -np.inf]]))
    array([0.69314718,       -inf])
    """
    xp = namespace(x)
    if x.shape[axis] == 0:  # log of an empty sum
        shape = tuple(1 if i == axis % x.ndim else n for i, n in enumerate(x.shape))
        out = xp.full(shape, -math.inf, dtype=x.dtype)
        return out if keepdims else xp.squeeze(out, axis=axis)
    with np.errstate(all="ignore"):
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """``(x − m) − log Σ exp(x − m)`` along ``axis`` (``m`` the max): the log of the softmax.

    Shifting before subtracting keeps full precision for huge logits
    (``[1e30, 1e30]`` gives ``[−log 2, −log 2]``, not ``[0, 0]``).

    >>> import numpy as np
    >>> np.exp(log_softmax(np.array([1.0, 2.0, 3.0]))).sum()
    np.float64(1.0)
    >>> log_softmax(np.array([1e30, 1e30]))
    array([-0.69314718, -0.69314718])
    """
    xp = namespace(x)
    with np.errstate(all="ignore"):
        m = xp.max(x, axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        shifted = x - m
        return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


def softmax(x: Array, axis: int = -1) -> Array:
    """``exp(log_softmax(x))``.

    >>> import numpy as np
    >>> softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    """
    xp = namespace(x)
    return xp.exp(log_softmax(x, axis=axis))


def softplus(x: Array) -> Array:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(−|x|))``.

    >>> import numpy as np
    >>> softplus(np.array([-1e9, 0.0, 1e9]))
    array([0.00000000e+00, 6.93147181e-01, 1.00000000e+09])
    """
    xp = namespace(x)
    return xp.maximum(x, xp.zeros_like(x)) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(x: Array) -> Array:
    """``log σ(x) = −softplus(−x)``; ``log σ(−inf) = −inf``, ``log σ(+inf) = 0``.

    >>> import numpy as np
    >>> log_sigmoid(np.array([-np.inf, 0.0, np.inf]))
    array([      -inf, -0.69314718,  0.        ])
    """
    return -softplus(-x)


def log1mexp(x: Array) -> Array:
    """``log(1 − exp(x))`` for ``x ≤ 0``, accurate on both sides of ``−log 2``.

    >>> import numpy as np
    >>> log1mexp(np.array([-np.inf, np.log(0.5), 0.0]))
    array([ 0.        , -0.69314718,        -inf])
    """
    xp = namespace(x)
    near = x > -0.6931471805599453
    with np.errstate(all="ignore"):
        a = xp.log(-xp.expm1(xp.where(near, x, xp.zeros_like(x) - 1)))
        b = xp.log1p(0.0 - xp.exp(xp.where(near, xp.zeros_like(x) - 1, x)))
    return xp.where(near, a, b)


def xlogy(a: Array, log_b: Array) -> Array:
    """``a · log_b`` with the convention ``0 · log_b = 0`` (also for ``log_b = −inf`` or NaN).

    Takes the logarithm already computed, so callers stay in log space.

    >>> import numpy as np
    >>> xlogy(np.array([0.0, 0.5]), np.array([-np.inf, np.log(0.5)]))
    array([ 0.        , -0.34657359])
    """
    xp = namespace(a, log_b)
    with np.errstate(all="ignore"):
        prod = a * log_b
    return xp.where(a == 0, xp.zeros_like(prod), prod)
