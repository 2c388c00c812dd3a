r"""Closed-form gradients of the losses with respect to the prediction.

For ``ℓ_i = −s_i Σ_c a_ic log q_ic`` with ``a_ic = weight_c · y'_ic`` and
``A_i = Σ_c a_ic`` (docs/semantics.md §9)::

    ∂ℓ_i/∂x_ic = s_i · (A_i · softmax(x_i)_c − a_ic)      (logits)
    ∂ℓ_i/∂x_ic = − s_i · a_ic                             (log-probabilities)
    ∂ℓ_i/∂p_ic = − s_i · a_ic / p_ic                      (probabilities; 0 where a_ic = 0)

divided by ``Σ_i w_i`` for ``reduction="mean"``. For a plain hard label this is
the familiar ``softmax(x) − onehot(y)``:

>>> import numpy as np
>>> x = np.array([[1.0, 2.0, 0.5]])
>>> g = cross_entropy_grad(x, np.array([1]))
>>> bool(np.allclose(g, np.exp(x) / np.exp(x).sum() - np.eye(3)[[1]]))
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._array import Array, asarray_like
from ._options import IGNORE_INDEX, LossOptions, ReductionOptions, empty_message
from ._prepare import KERNEL_IGNORE, Prepared, kernel_arrays, prepare
from ._types import DivideBy, Empty, Impl, Kind, Reduction, Smoothing
from .binary import binary_terms

__all__ = ["cross_entropy_grad", "binary_cross_entropy_grad"]


def _row_scale(p: Prepared, red: ReductionOptions, grad_output: Any) -> tuple[Array, Array]:
    """(s_i · g_i, 0 on inactive rows; den) as (N,) and a scalar: the gradient is ``scale · (A q − a) / den``.

    The division comes last so that a tiny (subnormal) weight sum cannot overflow
    the scale before it meets the equally tiny coefficients. A NaN divisor (a bad
    row under ``validate=False``) makes the whole gradient of the mean NaN, like its value.
    The coefficients ``a`` come from the rescaled weights (``_rows``): the scale cancels in
    a mean (``divide_by="weight"``) and is given back here otherwise.
    """
    xp, r = p.xp, p.rows
    dtype = p.x.dtype
    scale = r.s
    if grad_output is not None:
        g = asarray_like(xp, grad_output, p.x, dtype)
        if red.reduction == "none" and tuple(g.shape) != tuple(p.batch_shape):
            msg = f"`grad_output` for reduction='none' must have shape {p.batch_shape}; got {tuple(g.shape)}"
            raise ValueError(msg)
        if red.reduction != "none" and math.prod(g.shape) != 1:
            msg = f"`grad_output` for reduction={red.reduction!r} must be a scalar; got shape {tuple(g.shape)}"
            raise ValueError(msg)
        scale = scale * (xp.reshape(g, (p.n,)) if red.reduction == "none" else xp.reshape(g, ()))
    if red.reduction == "mean":
        den = xp.sum(r.divisor_weights(red.divide_by))
        if red.empty == "raise" and bool(den == 0):
            raise ValueError(empty_message(p.n))
        safe = xp.where(den == 0, xp.ones_like(den), den)
        scale = xp.where(den == 0, xp.zeros_like(scale), scale)
    else:
        if red.empty == "raise" and (red.reduction == "sum" or p.n == 0):
            if p.n == 0 or bool(xp.sum(r.divisor_weights(red.divide_by)) == 0):
                raise ValueError(empty_message(p.n))
        safe = xp.ones((), dtype=dtype)
    scale = p.unscale(scale, "mean" if red.reduction == "mean" else "loss", red.divide_by)
    return xp.where(r.active, scale, xp.zeros_like(scale)), safe


def cross_entropy_grad(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    reduction: Reduction = "mean",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    grad_output: Any = None,
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Gradient of :func:`crossentropy.cross_entropy` with respect to ``pred``, in closed form.

    Same arguments as ``cross_entropy`` plus ``grad_output`` (a scalar for
    ``"mean"``/``"sum"``, one value per example for ``"none"``). Masked rows get
    exactly zero, whatever their prediction holds (``±inf``, NaN); an all-masked
    mean gets zeros (never NaN). Matches autograd of the loss.

    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [5.0, -5.0]])
    >>> cross_entropy_grad(x, np.array([0, -100]))     # mean over the one valid row
    array([[-0.5,  0.5],
           [ 0. ,  0. ]])
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by)
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    xp, r = p.xp, p.rows
    with np.errstate(all="ignore"):
        scale, den = _row_scale(p, red, grad_output)
        if p.path(impl) == "kernel":
            from . import kernels

            x2, tgt, w, _ = kernel_arrays(p, normalized=True)
            g = kernels.softmax_terms_grad(
                x2,
                tgt,
                row_scale=np.where(r.active, np.asarray(scale, dtype=np.float64) / den, 0.0),
                weight=w,
                ignore_index=KERNEL_IGNORE,
                label_smoothing=label_smoothing,
                smoothing=smoothing,
            )
        else:
            a = r.coefficients(p.x.dtype)
            s = scale[:, None]
            if p.kind == "logits":
                q = xp.exp(p.log_q())
                big_a = xp.sum(a, axis=-1, keepdims=True)
                aq = big_a * q
                g = s * (xp.where(big_a == 0, xp.zeros_like(aq), aq) - a) / den
            elif p.kind == "log_probs":
                g = -s * a / den
            else:
                ratio = a / p.x2
                g = -s * xp.where(a == 0, xp.zeros_like(ratio), ratio) / den
            g = xp.where(r.active[:, None], g, xp.zeros_like(g))
        g = xp.where(r.bad[:, None], xp.full_like(g, math.nan), g)
        g = xp.reshape(g, p.x.shape)
    return xp.moveaxis(g, -1, p.axis)


def binary_cross_entropy_grad(
    pred: Array,
    target: Array,
    *,
    pos_weight: Array | None = None,
    weight: Array | None = None,
    focal_gamma: float | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    empty: Empty = "nan",
    grad_output: Any = None,
    validate: bool = True,
) -> Array:
    r"""Gradient of :func:`crossentropy.binary_cross_entropy` with respect to its logits.

    Without focal loss: ``s · weight · (pos_weight·y·(p − 1) + (1 − y)·p)`` per element
    (``p = σ(x)``), divided by the element count for ``"mean"``. With
    ``focal_gamma=γ`` the exact derivative of the focal loss. Gradients are with
    respect to logits (the input that training differentiates).

    >>> import numpy as np
    >>> binary_cross_entropy_grad(np.array([0.0, 0.0]), np.array([1.0, 0.0]), reduction="sum")
    array([-0.5,  0.5])
    """
    red = ReductionOptions(reduction, empty)
    xp, loss, count, info = binary_terms(
        pred,
        target,
        kind="logits",
        pos_weight=pos_weight,
        weight=weight,
        focal_gamma=None,
        label_smoothing=label_smoothing,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        validate=validate,
    )
    x, y, lp, l1p, mask = info["x"], info["y"], info["lp"], info["l1p"], info["mask"]
    dtype = x.dtype
    pw = 1 if pos_weight is None else asarray_like(xp, pos_weight, pred, dtype)
    with np.errstate(all="ignore"):
        prob = xp.exp(lp)
        one_minus = xp.exp(l1p)
        if focal_gamma is None:
            g = pw * y * (-one_minus) + (1 - y) * prob
        else:
            gam = float(focal_gamma)
            # d/dx [(1−p)^γ log p] = (1−p)^γ [(1−p) − γ p log p];  d/dx [p^γ log(1−p)] = p^γ [γ (1−p) log(1−p) − p]
            lp_term = xp.where(prob == 0, xp.zeros_like(lp), prob * lp)
            l1p_term = xp.where(one_minus == 0, xp.zeros_like(l1p), one_minus * l1p)
            d_pos = xp.exp(gam * l1p) * (one_minus - gam * lp_term)
            d_neg = xp.exp(gam * lp) * (gam * l1p_term - prob)
            g = -(pw * y * d_pos + (1 - y) * d_neg)
        scale = count  # s on unmasked elements
        if weight is not None:
            g = g * asarray_like(xp, weight, pred, dtype)
        if grad_output is not None:
            go = asarray_like(xp, grad_output, pred, dtype)
            scale = scale * (go if reduction == "none" else xp.reshape(go, ()))
        n = math.prod(count.shape)
        if red.empty == "raise" and (n == 0 or (reduction != "none" and bool(xp.sum(count) == 0))):
            raise ValueError(empty_message(n))  # wherever the value raises
        if reduction == "mean":
            den = xp.sum(count)
            scale = xp.where(
                den == 0, xp.zeros_like(scale), scale / xp.where(den == 0, xp.ones_like(den), den)
            )
        g = g * scale
        g = xp.where(mask, xp.zeros_like(g), g)
    return g
