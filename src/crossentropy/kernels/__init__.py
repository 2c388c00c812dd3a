"""Fused CPU kernels for cross-entropy (the ``fast`` extra: numba).

The functions here compute the per-example terms of docs/semantics.md §4,

    loss_i = - s_i * sum_c weight_c * y'_ic * log softmax(x_i)_c
    wsum_i =   s_i * sum_c weight_c * y_ic           (y before smoothing)

and their gradients, on NumPy (N, C) logits, in one read of each row
(online log-sum-exp), rows in parallel, accumulating in float64, with the
library's one smoothing encoding ``y' = α y + β m`` (``crossentropy._rows``).

- :func:`softmax_terms` (forward) and :func:`softmax_terms_grad` (backward) are
  what ``impl="kernel"`` (and ``impl="auto"`` on NumPy when numba is present) runs;
  :func:`blocked_softmax_terms` is the row-blocked NumPy path without numba.
- :func:`softmax_terms_and_grad` fuses both in one pass, for a training loop.
- :func:`softmax_sums` and :func:`softmax_sums_grad` return only ``Σℓ`` and ``Σw`` (and
  the gradient) for index labels without weights: the public entry points' plain case.
- :func:`eval_rows` is the Accumulator's fused per-row evaluation pass.

numba is imported only when a kernel is first called, never when
``crossentropy`` is imported; :func:`available` says whether it can be.

Compiled code is cached on disk (``cache=True``): the first call in a fresh
environment compiles (several seconds per dtype and memory layout), later
processes load the cache.

>>> import numpy as np
>>> from crossentropy import kernels
>>> x = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
>>> loss, wsum = kernels.softmax_terms(x, np.array([0, -100]))
>>> ref = np.log(np.exp(x[0]).sum()) - x[0, 0]
>>> bool(np.isclose(loss[0], ref)), float(loss[1]), wsum.tolist()
(True, 0.0, [1.0, 0.0])
"""

from __future__ import annotations

import importlib.util

import numpy as np

from .._options import IGNORE_INDEX
from .._rows import smoothing_coefficients
from .._types import Smoothing
from ._args import compute_logits, grad_buffer, row_scale_vector, softmax_args
from .blocked import blocked_softmax_terms

__all__ = [
    "available",
    "softmax_terms",
    "softmax_terms_grad",
    "softmax_terms_and_grad",
    "blocked_softmax_terms",
    "softmax_sums",
    "softmax_sums_grad",
    "label_counts",
    "eval_rows",
]

_AVAILABLE = None


def available() -> bool:
    """Whether numba can be imported (without importing it).

    >>> isinstance(available(), bool)
    True
    """
    global _AVAILABLE
    if _AVAILABLE is None:
        _AVAILABLE = importlib.util.find_spec("numba") is not None
    return _AVAILABLE


_MODULES: dict = {}


def _compiled(module):
    mod = _MODULES.get(module)
    if mod is not None:
        return mod
    if not available():
        raise ImportError(
            "the fused CPU kernels need numba: install the `fast` extra "
            "(pip install 'crossentropy[fast]') or use impl='array_api'."
        )
    if module == "softmax":
        from . import softmax as mod
    elif module == "sums":
        from . import sums as mod
    else:
        from . import rowstats as mod
    _MODULES[module] = mod
    return mod


def _dummy():
    return np.zeros(1, dtype=np.float64)


def softmax_terms(
    logits,
    target,
    *,
    weight=None,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    sample_weight=None,
    return_lse: bool = False,
):
    """Per-example softmax cross-entropy terms ``(loss, wsum)`` in one fused pass.

    .. math::

        \\ell_i = -s_i \\sum_c w_c\\, y'_{ic} \\log\\operatorname{softmax}(x_i)_c,
        \\qquad W_i = s_i \\sum_c w_c\\, y_{ic}

    with ``y' = α y + β m`` the smoothed target (``m`` the row mass, 1 for an
    index; ``"uniform"``: ``α = 1-ε, β = ε/C``; ``"others"``: ``β = ε/(C-1),
    α = 1-ε-β``, see ``crossentropy._rows.smoothing_coefficients``). Masked rows (``target == ignore_index``, all-zero soft rows,
    ``s_i == 0``) give exactly 0 for both, whatever their logits.

    Parameters
    ----------
    logits : ndarray, shape (N, C), float16/float32/float64, any strides
        float16 is computed in float32.
    target : ndarray
        int (N,) class indices in ``[0, C)`` or ``ignore_index``, or a float
        (N, C) distribution (``>= 0``; rows need not sum to 1).
    weight : ndarray (C,), optional
        Class weights ``w_c``.
    ignore_index : int
        Index targets equal to it are masked.
    label_smoothing : float in [0, 1]
    smoothing : {"uniform", "others"}
    sample_weight : ndarray (N,), optional
        ``s_i``.
    return_lse : bool
        Also return the per-row log-sum-exp (computed for every row).

    Returns
    -------
    loss, wsum : ndarray (N,) in the compute dtype
        (and ``lse`` when ``return_lse``).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0, 3.0]])
    >>> loss, wsum = softmax_terms(x, np.array([[0.0, 0.5, 0.5]]), label_smoothing=0.1)
    >>> lq = x - np.log(np.exp(x).sum())
    >>> y_s = 0.9 * np.array([0.0, 0.5, 0.5]) + 0.1 / 3
    >>> bool(np.isclose(loss[0], -(y_s * lq).sum())), float(wsum[0])
    (True, 1.0)
    """
    a = softmax_args(
        logits,
        target,
        weight=weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
    )
    mod = _compiled("softmax")
    n = a.x.shape[0]
    loss = np.empty(n, dtype=a.x.dtype)
    wsum = np.empty(n, dtype=a.x.dtype)
    lse = np.empty(n, dtype=a.x.dtype) if return_lse else np.empty(1, dtype=a.x.dtype)
    if a.soft:
        mod.soft_forward(
            a.x, a.y, a.w, a.has_w, a.s, a.has_s, a.alpha, a.beta, return_lse, loss, wsum, lse
        )
    else:
        mod.index_forward(
            a.x, a.y, a.w, a.has_w, a.s, a.has_s, int(ignore_index), a.alpha, a.beta,
            return_lse, loss, wsum, lse,
        )  # fmt: skip
    return (loss, wsum, lse) if return_lse else (loss, wsum)


def softmax_terms_grad(
    logits,
    target,
    *,
    row_scale,
    weight=None,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    out=None,
):
    """Gradient of the softmax cross-entropy terms with respect to the logits.

    .. math::

        g_{ic} = r_i\\,(A_i\\, q_{ic} - a_{ic}),\\quad a_{ic} = w_c y'_{ic},
        \\quad A_i = \\sum_c a_{ic},\\quad q = \\operatorname{softmax}(x)

    ``row_scale`` (``r_i``) already holds the sample weight, the reduction's
    divisor and ``grad_output``. Masked rows (ignored, all-zero soft target,
    ``r_i == 0``) and rows with ``A_i == 0`` get exact zeros; a ``-inf``
    logit with zero target gets 0.

    Parameters
    ----------
    logits, target, weight, ignore_index, label_smoothing, smoothing
        As in :func:`softmax_terms`.
    row_scale : float or ndarray (N,)
    out : ndarray (N, C), optional
        C-contiguous buffer of the compute dtype to write into.

    Returns
    -------
    ndarray (N, C) in the compute dtype (``out`` when given).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0], [5.0, -np.inf]])
    >>> g = softmax_terms_grad(x, np.array([1, -100]), row_scale=np.array([0.5, 0.5]))
    >>> q = np.exp(x[0]) / np.exp(x[0]).sum()
    >>> bool(np.allclose(g[0], 0.5 * (q - [0.0, 1.0]))), g[1].tolist()
    (True, [0.0, 0.0])
    """
    a = softmax_args(
        logits,
        target,
        weight=weight,
        sample_weight=None,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
    )
    mod = _compiled("softmax")
    rs = row_scale_vector(row_scale, a.x.shape[0])
    g = grad_buffer(out, a.x.shape, a.x.dtype)
    if a.soft:
        mod.soft_grad(a.x, a.y, a.w, a.has_w, rs, a.alpha, a.beta, g)
    else:
        mod.index_grad(
            a.x, a.y, a.w, a.has_w, rs, int(ignore_index), a.alpha, a.beta, a.wsum_all, g
        )
    return g


def softmax_terms_and_grad(
    logits,
    target,
    *,
    row_scale=1.0,
    weight=None,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    sample_weight=None,
    out=None,
    return_lse: bool = False,
):
    """Forward and backward in one pass: ``(loss, wsum, grad)``.

    ``loss`` and ``wsum`` are those of :func:`softmax_terms`. The gradient is
    that of ``sum_i row_scale_i * loss_i``, i.e.

    .. math:: g_{ic} = r_i\\, s_i\\,(A_i q_{ic} - a_{ic})

    so, unlike :func:`softmax_terms_grad`, ``row_scale`` here does **not**
    include the sample weight (it enters through ``loss_i``): for
    ``"mean"`` pass ``grad_output / sum(wsum)``, for ``"sum"`` pass
    ``grad_output``, for ``"none"`` the per-example ``grad_output``.

    Parameters
    ----------
    logits, target, weight, ignore_index, label_smoothing, smoothing, sample_weight
        As in :func:`softmax_terms`.
    row_scale : float or ndarray (N,)
    out : ndarray (N, C), optional
        C-contiguous buffer of the compute dtype for the gradient.
    return_lse : bool
        Also return the per-row log-sum-exp, after the gradient.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0, 2.0]])
    >>> loss, wsum, g = softmax_terms_and_grad(x, np.array([2]), row_scale=2.0)
    >>> q = np.exp(x[0]) / np.exp(x[0]).sum()
    >>> bool(np.isclose(loss[0], -np.log(q[2]))), bool(np.allclose(g[0], 2 * (q - [0, 0, 1])))
    (True, True)
    """
    a = softmax_args(
        logits,
        target,
        weight=weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
    )
    mod = _compiled("softmax")
    n = a.x.shape[0]
    rs = row_scale_vector(row_scale, n)
    g = grad_buffer(out, a.x.shape, a.x.dtype)
    loss = np.empty(n, dtype=a.x.dtype)
    wsum = np.empty(n, dtype=a.x.dtype)
    lse = np.empty(n, dtype=a.x.dtype) if return_lse else np.empty(1, dtype=a.x.dtype)
    if a.soft:
        mod.soft_forward_grad(
            a.x, a.y, a.w, a.has_w, a.s, a.has_s, rs, a.alpha, a.beta, return_lse,
            loss, wsum, lse, g,
        )  # fmt: skip
    else:
        mod.index_forward_grad(
            a.x, a.y, a.w, a.has_w, a.s, a.has_s, rs, int(ignore_index), a.alpha, a.beta,
            a.wsum_all, return_lse, loss, wsum, lse, g,
        )  # fmt: skip
    return (loss, wsum, g, lse) if return_lse else (loss, wsum, g)


def _sums_args(logits, target, ignore_index, label_smoothing, smoothing):
    """(kernel module, flat logits, C, int labels, ignore, has_ignore, α, β)."""
    x = compute_logits(logits)
    if x.ndim != 2 or not x.flags.c_contiguous:
        raise ValueError(f"`logits` must be a C-contiguous (N, C) array, got shape {x.shape}.")
    n, c = x.shape
    y = np.asarray(target)
    if y.shape != (n,) or y.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
        raise ValueError(
            f"`target` must be int32/int64 ({n},) class indices, got {y.dtype} {y.shape}."
        )
    alpha, beta = smoothing_coefficients(label_smoothing, smoothing, c)
    has_ignore = ignore_index is not None
    ignore = int(ignore_index) if has_ignore else 0
    return _compiled("sums"), x.reshape(n * c), c, y, ignore, has_ignore, alpha, beta


def softmax_sums(
    logits,
    target,
    *,
    ignore_index=IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
):
    """``(Σ_i ℓ_i, Σ_i w_i, bad)`` of :func:`softmax_terms` for index labels without weights.

    ``ℓ_i = −Σ_c y'_ic log softmax(x_i)_c`` and ``w_i = 1`` on rows whose label is a class,
    both 0 where it is ``ignore_index`` (``None``: no label is ignored); ``bad`` counts the
    other labels (not a class: their rows are left out of both sums — the caller decides).
    No per-row array is made; the sums are float64, added in a fixed chunk order.
    ``logits`` C-contiguous (N, C) float32/float64, ``target`` int32/int64 (N,).

    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    >>> total, w, bad = softmax_sums(x, np.array([0, -100, 5]))
    >>> ref = np.log(np.exp(x[0]).sum()) - x[0, 0]
    >>> bool(np.isclose(total, ref)), w, bad
    (True, 1.0, 1)
    """
    mod, xf, c, y, ignore, has_ignore, alpha, beta = _sums_args(
        logits, target, ignore_index, label_smoothing, smoothing
    )
    return mod.index_sums(xf, c, y, ignore, has_ignore, alpha, beta)


def label_counts(target, num_classes, *, ignore_index=IGNORE_INDEX):
    """``(rows whose label is a class, rows whose label is neither a class nor ignore_index)``.

    One compiled pass over int32/int64 labels (the divisor of a mean before its gradient).

    >>> import numpy as np
    >>> label_counts(np.array([0, 2, -100, 3]), 3)
    (2, 1)
    """
    has_ignore = ignore_index is not None
    ignore = int(ignore_index) if has_ignore else 0
    a, bad = _compiled("sums").label_counts(np.asarray(target), num_classes, ignore, has_ignore)
    return int(a), int(bad)


def softmax_sums_grad(
    logits,
    target,
    *,
    scale: float,
    out,
    ignore_index=IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
):
    """:func:`softmax_sums` and the gradient of ``scale · Σ_i ℓ_i`` written into ``out``.

    ``g_ic = scale · (A q_ic − a_ic)`` (``a_ic = α [c = y_i] + β``, ``A = Σ_c a_ic``), zeros on
    ignored rows; ``out`` is a C-contiguous array of the logits' shape and dtype. For a mean,
    ``scale = 1 / Σw`` comes from :func:`label_counts` first. The gradient is meaningless
    when ``bad > 0``.

    >>> import numpy as np
    >>> x = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0]])
    >>> g = np.empty_like(x)
    >>> total, w, bad = softmax_sums_grad(x, np.array([2, -100]), scale=1.0, out=g)
    >>> q = np.exp(x[0]) / np.exp(x[0]).sum()
    >>> bool(np.isclose(total, -np.log(q[2]))), bool(np.allclose(g[0], q - [0, 0, 1])), g[1].tolist()
    (True, True, [0.0, 0.0, 0.0])
    """
    mod, xf, c, y, ignore, has_ignore, alpha, beta = _sums_args(
        logits, target, ignore_index, label_smoothing, smoothing
    )
    g = grad_buffer(out, (y.shape[0], c), xf.dtype)
    sc = float(scale)
    return mod.index_sums_grad(
        xf, c, y, ignore, has_ignore, alpha, beta, sc, g.reshape(xf.shape[0])
    )


def eval_rows(
    x,
    true,
    valid,
    *,
    weight=None,
    sample_weight=None,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    bins=15,
    fine_bins=4096,
    p_true_bins=50,
    nll_inner_edges,
):
    """Every per-row number of an evaluation report and its binned sums, in one fused pass.

    Returns ``(rows, binned, n_nan, n_nan_conf)``: ``rows`` a dict of float64 (N,) arrays
    ``ell``, ``w``, ``wc`` (w·correct), ``wb`` (w·brier; both 0 on masked rows), ``conf``,
    ``q_true``; ``binned`` a dict of the sums ``cal_uniform`` (4, bins), ``cal_fine``
    (4, fine_bins), ``per_class`` (4, C), ``p_true`` (2, p_true_bins), ``nll_hist``
    (2, len(nll_inner_edges) + 1), added in row order (see :mod:`.rowstats`).

    ``x`` (N, C) float32/float64 logits, ``true`` (N,) int class indices (any value on
    masked rows), ``valid`` (N,) bool (False: masked row). ``weight`` (C,) class weights,
    ``sample_weight`` (N,) (values in the compute dtype, as the core prepares them).

    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    >>> rows, binned, n_nan, _ = eval_rows(x, np.array([0, 0, 1]), np.array([True, True, False]),
    ...                                    nll_inner_edges=np.array([1.0]))
    >>> lq = x[:2] - np.log(np.exp(x[:2]).sum(1, keepdims=True))
    >>> bool(np.allclose(rows["ell"][:2], -lq[:, 0])), float(rows["ell"][2]), rows["wc"].tolist()
    (True, 0.0, [1.0, 0.0, 0.0])
    >>> binned["nll_hist"][0].tolist(), n_nan     # ℓ < 1 for row 0, ≥ 1 for row 1
    ([1.0, 1.0], 0)
    """
    a = softmax_args(
        x,
        np.asarray(true, dtype=np.int64),
        weight=weight,
        sample_weight=sample_weight,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
    )
    mod = _compiled("rowstats")
    n, C = a.x.shape
    v = np.ascontiguousarray(valid, dtype=np.uint8)
    rows = {k: np.empty(n) for k in ("ell", "w", "wc", "wb", "conf", "q_true")}
    mod.eval_rows(
        a.x,
        a.y,
        v,
        a.w,
        a.has_w,
        a.s,
        a.has_s,
        a.alpha,
        a.beta,
        rows["ell"],
        rows["w"],
        rows["wc"],
        rows["wb"],
        rows["conf"],
        rows["q_true"],
    )
    inner = np.ascontiguousarray(nll_inner_edges, dtype=np.float64)
    binned = {
        "cal_uniform": np.zeros((4, bins)),
        "cal_fine": np.zeros((4, fine_bins)),
        "per_class": np.zeros((4, C)),
        "p_true": np.zeros((2, p_true_bins)),
        "nll_hist": np.zeros((2, len(inner) + 1)),
    }
    n_nan, n_nan_conf = mod.bin_rows(
        a.y,
        v,
        rows["ell"],
        rows["w"],
        rows["wc"],
        rows["conf"],
        rows["q_true"],
        inner,
        binned["cal_uniform"],
        binned["cal_fine"],
        binned["per_class"],
        binned["p_true"],
        binned["nll_hist"],
    )
    return rows, binned, int(n_nan), int(n_nan_conf)
