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

from typing import Any

import numpy as np

from ._array import Array, is_numpy
from ._dispatch import fused_sums
from ._options import IGNORE_INDEX, LossOptions, ReductionOptions
from ._prepare import (
    KERNEL_IGNORE,
    Prepared,
    finish_grad,
    grad_terms,
    kernel_arrays,
    prepare,
    row_scale,
    terms,
)
from ._types import DivideBy, Empty, Impl, Kind, Reduction, Smoothing
from .binary import binary_logit_grad, binary_terms

__all__ = ["cross_entropy_grad", "binary_cross_entropy_grad"]


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
    normalizer: Any = None,
    grad_output: Any = None,
    validate: bool = True,
    impl: Impl = "auto",
    return_loss: bool = False,
    out: Any = None,
) -> Any:
    r"""Gradient of :func:`crossentropy.cross_entropy` with respect to ``pred``, in closed form.

    Same arguments as ``cross_entropy`` (``normalizer`` included) plus ``grad_output`` (a scalar for
    ``"mean"``/``"sum"``, one value per example for ``"none"``). Masked rows get
    exactly zero, whatever their prediction holds (``±inf``, NaN); an all-masked
    mean gets zeros (never NaN). Matches autograd of the loss.

    ``return_loss=True`` returns ``(loss, grad)``: the loss is ``cross_entropy`` of the
    same arguments (in nats), computed in the same pass; for large NumPy logits the fused
    kernel reads each row once for both. ``out=`` (NumPy only) is an array of ``pred``'s
    shape and the compute dtype that receives the gradient and is returned; with the
    class axis last and ``out`` C-contiguous the kernel writes into it directly, so the
    gradient is the only large array of a training step (docs/semantics.md §9).

    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [5.0, -5.0]])
    >>> cross_entropy_grad(x, np.array([0, -100]))     # mean over the one valid row
    array([[-0.5,  0.5],
           [ 0. ,  0. ]])
    >>> buf = np.empty_like(x)
    >>> loss, g = cross_entropy_grad(x, np.array([0, -100]), return_loss=True, out=buf)
    >>> float(loss), g is buf                          # −log(1/2): the value of cross_entropy
    (0.6931471805599453, True)
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, normalizer=normalizer)
    fused = fused_sums(
        pred, target, opts, red, weight=weight, sample_weight=sample_weight, grad=True,
        out=out, grad_output=grad_output,
    )  # fmt: skip
    if fused is not None:  # the plain case: one compiled pass, no per-row arrays (_dispatch)
        total, den, g = fused
        if not return_loss:
            return g
        with np.errstate(all="ignore"):
            return red.finish(np, total, den, n=target.size, host_check=validate), g
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    buf = _grad_out(out, pred, p)
    with np.errstate(all="ignore"):
        scale, den = row_scale(p, red, grad_output)
        if p.path(impl) == "kernel":
            g, loss = _kernel_grad(p, scale, den, buf)
        else:
            g = finish_grad(p, grad_terms(p, scale, den))
            loss = terms(p, impl, divide_by, normalized=True)[0] if return_loss else None
        if out is not None and g is not out:
            out[...] = g
            g = out
        if not return_loss:
            return g
        value = p.reduce(loss, p.weights(divide_by), red, host_check=validate)
        return value, g


def _kernel_grad(p: Prepared, scale: Array, den: Array, buf: Any) -> tuple[Array, Array]:
    """(gradient in the caller's shape, ℓ_i from the rescaled weights) from one fused kernel pass.

    The kernel gets no sample weight: ``scale`` (from :func:`row_scale`) holds it, and the
    per-row losses it returns are multiplied by it here. The gradient goes into ``buf``
    (a C-contiguous (N, C) view of ``out=``) when given, and bad rows become NaN in place:
    no array of the logits' size is made besides the gradient.
    """
    from . import kernels

    r = p.rows
    x2, tgt, w, _ = kernel_arrays(p, normalized=True)
    ell, _, g = kernels.softmax_terms_and_grad(
        x2,
        tgt,
        row_scale=np.where(r.active, np.asarray(scale, dtype=np.float64) / den, 0.0),
        weight=w,
        ignore_index=KERNEL_IGNORE,
        label_smoothing=p.opts.label_smoothing,
        smoothing=p.opts.smoothing,
        out=None if buf is None else buf.reshape(x2.shape),
    )
    bad = np.asarray(r.bad)
    any_bad = bool(bad.any())
    if any_bad:
        g[bad] = np.nan
    ell = np.where(r.active, r.s * ell, 0.0).astype(p.x.dtype, copy=False)
    if any_bad:
        ell = np.where(bad, np.nan, ell)
    g = buf if buf is not None else np.moveaxis(g.reshape(p.x.shape), -1, p.axis)
    return g, p.unflatten(ell)


def _grad_out(out: Any, pred: Any, p: Prepared) -> Any:
    """``out`` checked against the gradient it must hold; returned when the kernel can write into it."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray) or not is_numpy(p.xp):
        msg = (
            f"`out` must be a NumPy array for NumPy predictions; got {type(out).__name__} for "
            f"{type(pred).__name__} predictions. Pass out=None and use the returned gradient."
        )
        raise TypeError(msg)
    shape = tuple(pred.shape)
    problems = []
    if out.shape != shape:
        problems.append(f"shape {out.shape} (need {shape}, the shape of `pred`)")
    if out.dtype != p.x.dtype:
        problems.append(f"dtype {out.dtype} (need {p.x.dtype}, the compute dtype)")
    if not out.flags.writeable:
        problems.append("read-only")
    if np.may_share_memory(out, pred):
        problems.append("it shares memory with `pred` (the gradient would overwrite the logits)")
    if problems:
        msg = (
            "`out` cannot hold the gradient: " + "; ".join(problems) + ". Pass "
            f"np.empty({shape}, dtype=np.{p.x.dtype}) or out=None for a fresh array."
        )
        raise ValueError(msg)
    return out if out.flags.c_contiguous and p.axis == len(shape) - 1 else None


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
    return binary_logit_grad(
        xp, pred, count, info, red, pos_weight=pos_weight, weight=weight,
        focal_gamma=focal_gamma, grad_output=grad_output,
    )  # fmt: skip
