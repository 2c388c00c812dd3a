"""Which implementation computes a call: the one dispatch rule of the chain, gradients and Accumulator.

``impl="auto"`` sends NumPy float32/float64 logits of at least ``KERNEL_MIN_ELEMENTS``
elements to the fused kernel when numba is installed, other NumPy logits to the
row-blocked NumPy path, and everything else (other libraries, probabilities,
log-probabilities, empty batches) to the generic array-API path.

The plain case of a kernel-sized reduced call (C-contiguous logits, int32/int64 class
indices, no class or sample weight, ``"mean"``/``"sum"`` without a ``normalizer``) skips the
per-row :class:`~crossentropy._rows.Rows` altogether: :func:`fused_sums` returns ``Σℓ`` and
``Σw`` (and the gradient) from one compiled pass that also checks the labels, or ``None``
when the call is not that case or a label is not a class (the general path then raises its
message, or computes the NaN rows of ``validate=False``).

>>> import numpy as np
>>> choose_path("auto", xp=np, kind="probs", dtype=np.float64, size=10)
'array_api'
>>> choose_path("auto", xp=np, kind="logits", dtype=np.float64, size=10)
'blocked'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._array import is_numpy
from ._options import IMPLS, LossOptions, ReductionOptions

#: ``impl="auto"`` sends NumPy logits of at least this many elements to the fused kernel.
#: Below it the row-blocked NumPy path is as fast (thread start-up and the one-off load
#: of the compiled kernels, ~3 s, dominate small inputs).
KERNEL_MIN_ELEMENTS = 1 << 18


def choose_path(impl: str, *, xp: Any, kind: str, dtype: Any, size: int) -> str:
    """``"kernel"``, ``"blocked"`` or ``"array_api"`` for ``size`` prediction elements."""
    v.check_option("impl", impl, IMPLS)
    if impl == "array_api":
        return "array_api"
    eligible = is_numpy(xp) and kind == "logits" and dtype in (np.float32, np.float64)
    from . import kernels

    if impl in ("kernel", "blocked") and not eligible:
        msg = (
            f"impl={impl!r} runs on NumPy float32/float64 logits only; got "
            f"{xp.__name__} arrays of dtype {dtype} with kind={kind!r}. Use impl='auto'"
        )
        raise ValueError(msg)
    if impl == "kernel":
        if not kernels.available():
            msg = "impl='kernel' needs numba: install the `fast` extra (pip install 'crossentropy[fast]')"
            raise ImportError(msg)
        return "kernel"
    if impl == "blocked":
        return "blocked"
    if not eligible or size == 0:
        return "array_api"
    return "kernel" if size >= KERNEL_MIN_ELEMENTS and kernels.available() else "blocked"


_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _plain(pred: Any, target: Any, opts: LossOptions, red: ReductionOptions, extra: Any) -> bool:
    """Whether a call is the plain case :func:`fused_sums` computes (shapes and types only)."""
    if type(pred) is not np.ndarray or type(target) is not np.ndarray or any(extra):
        return False
    if opts.impl not in ("auto", "kernel") or opts.kind != "logits" or red.normalizer is not None:
        return False
    if red.reduction == "none" or pred.ndim < 2 or opts.axis not in (-1, pred.ndim - 1):
        return False
    if pred.dtype not in _FLOAT_DTYPES or not pred.flags.c_contiguous:
        return False
    if target.dtype not in _INDEX_DTYPES or target.shape != pred.shape[:-1] or pred.size == 0:
        return False
    eps = opts.label_smoothing
    if type(eps) not in (int, float):
        return False
    if opts.impl == "auto" and pred.size < KERNEL_MIN_ELEMENTS:
        return False
    return _kernels().available()


def _kernels() -> Any:
    """The ``kernels`` package (imported on first use: it is below this module's callers)."""
    from . import kernels

    return kernels


def fused_sums(
    pred: Any,
    target: Any,
    opts: LossOptions,
    red: ReductionOptions,
    *,
    weight: Any = None,
    sample_weight: Any = None,
    grad: bool = False,
    out: Any = None,
    grad_output: Any = None,
) -> tuple[Any, Any, Any] | None:
    """``(Σℓ, Σw, gradient or None)`` of the plain case in ``pred``'s dtype, or ``None``.

    ``Σℓ = −Σ_i Σ_c y'_ic log softmax(x_i)_c`` over the rows whose label is a class,
    ``Σw`` their count (docs/semantics.md §4). With ``grad`` the gradient of the reduced
    loss, ``(softmax(x_i) − y'_i) / Σw`` (``"mean"``; 0 when ``Σw = 0``) or ``softmax − y'``
    (``"sum"``), is written into ``out`` (checked to fit; otherwise ``None``: the general
    path checks it) or a fresh array. Under ``validate`` the logits get the same warning
    as in ``_prepare.prepare`` (a double softmax).

    >>> x = np.zeros((4, 3), dtype=np.float32)
    >>> opts, red = LossOptions(impl="kernel"), ReductionOptions("mean")
    >>> total, w, _ = fused_sums(x, np.array([0, 1, -100, 2]), opts, red)   # 3 rows of log 3
    >>> round(float(total), 5), float(w), total.dtype
    (3.29584, 3.0, dtype('float32'))
    >>> fused_sums(x, np.array([0, 1, 7, 2]), opts, red) is None    # 7 is not a class
    True
    """
    if not _plain(pred, target, opts, red, (weight is not None, sample_weight is not None)):
        return None
    if grad and (grad_output is not None or red.empty == "raise" or not _fits(out, pred)):
        return None
    kernels = _kernels()
    n, c = target.size, pred.shape[-1]
    x2, y = pred.reshape(n, c), target.reshape(n)
    kw: dict[str, Any] = {
        "ignore_index": opts.ignore_index,
        "label_smoothing": opts.label_smoothing,
    }
    kw["smoothing"] = opts.smoothing
    dtype = pred.dtype.type
    g = None
    if not grad:
        total, w, bad = kernels.softmax_sums(x2, y, **kw)
    else:
        active, bad = kernels.label_counts(y, c, ignore_index=opts.ignore_index)
        if bad:
            return None
        den = dtype(active) if red.reduction == "mean" else dtype(1)
        g = np.empty(pred.shape, dtype=pred.dtype) if out is None else out
        scale = 1.0 / float(den) if den != 0 else 0.0
        total, w, bad = kernels.softmax_sums_grad(x2, y, scale=scale, out=g.reshape(n, c), **kw)
    if bad:
        return None
    if opts.validate:
        v.warn_double_softmax(np, pred, c)
    return dtype(total), dtype(w), g


def _fits(out: Any, pred: np.ndarray) -> bool:
    """``out`` can take the gradient as it is (else the general path checks it and says why)."""
    if out is None:
        return True
    return (
        type(out) is np.ndarray
        and out.shape == pred.shape
        and out.dtype == pred.dtype
        and out.flags.c_contiguous
        and out.flags.writeable
        and not np.may_share_memory(out, pred)
    )
