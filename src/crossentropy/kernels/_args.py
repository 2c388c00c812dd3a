"""Argument normalisation shared by the compiled kernels and the blocked NumPy path.

The callers (the core) have already validated values; these checks only
guard the kernel contract (shapes, dtypes, option names), so that a misuse
fails with a clear error instead of reading out of bounds.
"""

from typing import NamedTuple

import numpy as np

from .._rows import smoothing_coefficients

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class SoftmaxArgs(NamedTuple):
    """Inputs of a softmax kernel, in the kernel's types."""

    x: np.ndarray  # (N, C) float32 or float64
    y: np.ndarray  # (N,) int64 or (N, C) of x's dtype
    soft: bool
    w: np.ndarray  # (C,) float64, or a dummy of length 1
    has_w: bool
    s: np.ndarray  # (N,) float64, or a dummy of length 1
    has_s: bool
    alpha: float  # smoothed target y' = alpha * y + beta * m (m the row mass; 1 for an index)
    beta: float
    wsum_all: float  # sum of the class weights (C without weights)


def compute_logits(logits, name="logits"):
    """``logits`` as an (N, C) float32/float64 array (float16 is upcast to float32)."""
    x = np.asarray(logits)
    if x.dtype == np.float16:
        x = x.astype(np.float32)
    if x.dtype not in _FLOATS:
        raise TypeError(
            f"`{name}` must be a float16, float32 or float64 array, got dtype {x.dtype}; "
            "convert it with .astype(np.float32)."
        )
    return x


def _float_vector(v, n, name, where):
    if v is None:
        return np.ones(1, dtype=np.float64), False
    a = np.ascontiguousarray(v, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) ({where}), got {a.shape}.")
    return a, True


def softmax_args(logits, target, *, weight, sample_weight, label_smoothing, smoothing):
    """Check and convert the arguments of ``softmax_terms`` and friends.

    ``label_smoothing`` and ``smoothing`` become the ``(α, β)`` of
    :func:`crossentropy._rows.smoothing_coefficients` (which checks them).
    """
    x = compute_logits(logits)
    if x.ndim != 2:
        raise ValueError(
            f"`logits` must be 2-D (N, C) with the classes last, got shape {x.shape}; "
            "move the class axis last and flatten the batch axes first."
        )
    n, c = x.shape
    y = np.asarray(target)
    if y.shape == x.shape and y.dtype.kind == "f":
        soft = True
        if y.dtype != x.dtype:
            y = y.astype(x.dtype)
    elif y.shape == (n,) and y.dtype.kind in "iu":
        soft = False
        if y.dtype != np.int64:
            y = y.astype(np.int64)
    else:
        raise ValueError(
            f"`target` must be int (N,) = ({n},) class indices or a float (N, C) = {x.shape} "
            f"distribution, got dtype {y.dtype} and shape {y.shape}."
        )
    alpha, beta = smoothing_coefficients(label_smoothing, smoothing, c)
    w, has_w = _float_vector(weight, c, "weight", "one per class")
    s, has_s = _float_vector(sample_weight, n, "sample_weight", "one per row")
    wsum_all = float(w.sum()) if has_w else float(c)
    return SoftmaxArgs(x, y, soft, w, has_w, s, has_s, alpha, beta, wsum_all)


def row_scale_vector(row_scale, n):
    """``row_scale`` (a scalar or (N,)) as a float64 (N,) array."""
    r = np.asarray(row_scale, dtype=np.float64)
    if r.ndim == 0:
        return np.full(n, float(r))
    if r.shape != (n,):
        raise ValueError(f"`row_scale` must be a scalar or have shape ({n},), got {r.shape}.")
    return np.ascontiguousarray(r)


def grad_buffer(out, shape, dtype):
    """A fresh gradient array, or ``out`` after checking it fits."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise ValueError(f"`out` must be a NumPy array, got {type(out).__name__}.")
    problems = []
    if out.shape != tuple(shape):
        problems.append(f"shape {out.shape} (need {tuple(shape)})")
    if out.dtype != dtype:
        problems.append(f"dtype {out.dtype} (need {dtype})")
    if not out.flags.c_contiguous:
        problems.append("not C-contiguous")
    if not out.flags.writeable:
        problems.append("read-only")
    if problems:
        raise ValueError(
            "`out` cannot hold the gradient: "
            + ", ".join(problems)
            + "; pass out=None for a fresh array or np.empty(shape, dtype) of the right kind."
        )
    return out
