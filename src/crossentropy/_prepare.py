"""The prediction side of a call, joined to the target's :class:`~crossentropy._rows.Rows`.

Moves the class axis last, picks the compute dtype, decides the input kind and
validates the prediction once (docs/semantics.md §1, §6); the target, masks,
weights and smoothing are :func:`crossentropy._rows.prepare_rows`'s. :func:`terms`
computes the per-example pair ``(ℓ_i, w_i)`` of §4 on the path ``_dispatch`` picks, and
:meth:`Prepared.reduce` reduces it. The weights are rescaled by a power of two near their
maximum (``_rows``): a mean is computed from the rescaled pairs, where the scale cancels, and
everything else (``"none"``, ``"sum"``, the pairs a caller sees) gets the caller's scale back.
Internal: the chain, the information functions, the gradients and the Accumulator use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import _validate as v
from ._array import (
    asarray_like,
    compute_dtype,
    is_jax_array,
    is_numpy,
    namespace,
    refuse_lossy,
    scalar_result,
    take_rows,
    to_numpy,
    values_available,
)
from ._dispatch import choose_path
from ._options import LossOptions, ReductionOptions, empty_message, traced_raise_message
from ._rows import Rows, no_smoothing, prepare_rows, unscale
from ._types import Array, ConcreteKind, DivideBy
from .kinds import log_probs_last, resolve_kind, target_kind
from .special import xlogy

#: The index the kernels read as "masked" (``Rows.index`` is -1 on inactive rows).
KERNEL_IGNORE = -1


@dataclass
class Prepared:
    xp: Any
    x: Array  # prediction, class axis last, compute dtype, batch shape kept
    kind: ConcreteKind  # "auto" resolved
    axis: int  # the caller's class axis (non-negative)
    batch_shape: tuple
    rows: Rows
    has_sample_weight: bool
    opts: LossOptions
    #: the values were checked: ``validate=True`` and values on the host (``values_available``)
    checked: bool = True

    @property
    def validate(self) -> bool:
        """Whether this call's values were checked (and may be read on the host again)."""
        return self.checked

    @property
    def num_classes(self) -> int:
        return int(self.x.shape[-1])

    @property
    def n(self) -> int:
        return math.prod(self.batch_shape)

    @property
    def x2(self) -> Array:
        """The prediction as (N, C)."""
        return self.xp.reshape(self.x, (self.n, self.num_classes))

    def log_q(self) -> Array:
        """``log q`` as (N, C)."""
        with np.errstate(all="ignore"):
            return log_probs_last(self.xp, self.x2, self.kind, validate=False)

    def unflatten(self, a: Array) -> Array:
        """An (N,) array in the batch shape."""
        return self.xp.reshape(a, self.batch_shape)

    def weights(self, divide_by: DivideBy = "weight") -> Array:
        """``w_i`` (or the count) in the batch shape, with rescaled weights; NaN on bad rows."""
        return self.unflatten(self.rows.divisor_weights(divide_by))

    def unscale(self, a: Array, quantity: str, divide_by: DivideBy = "weight") -> Array:
        """``a`` (computed from the rescaled weights) at the caller's scale (:meth:`Rows.scales`)."""
        return unscale(self.xp, a, self.rows.scales(quantity, divide_by))

    def reduce(self, loss: Array, w: Array, red: ReductionOptions, *, host_check: bool) -> Array:
        """Per-example ``(ℓ_i, w_i)`` from :func:`terms` (``normalized=True``) reduced by ``red``, in nats.

        ``"mean"`` divides the rescaled sums (the scale cancels: weights of 1e308 or 1e-320
        give the mean of weights of 1); ``"sum"`` and ``"none"`` are given back their scale,
        where they may legitimately overflow or underflow the compute dtype.
        """
        xp = np if is_numpy(self.xp) else self.xp  # the same functions, without the wrappers
        if red.reduction == "none":
            red.check_none(self.n)
            return self.unscale(loss, "loss")
        out = red.finish(xp, xp.sum(loss), xp.sum(w), n=self.n, host_check=host_check)
        return scalar_result(xp, self.unscale(out, scale_kind(red), red.divide_by))

    def path(self, impl: str) -> str:
        return choose_path(
            impl, xp=self.xp, kind=self.kind, dtype=self.x.dtype, size=math.prod(self.x.shape)
        )


def prepare(
    pred: Array,
    target: Array,
    opts: LossOptions,
    *,
    weight: Array | None = None,
    sample_weight: Array | None = None,
) -> Prepared:
    """Check and normalise one call's arrays and options (docs/semantics.md §1–6)."""
    for name, a in (("pred", pred), ("target", target), ("weight", weight)):
        refuse_lossy(a, name)
    refuse_lossy(sample_weight, "sample_weight")
    xp = namespace(pred)
    axis = v.check_axis(pred, opts.axis)
    checked = opts.validate and values_available(pred, target, weight, sample_weight)
    if opts.kind == "auto" and not values_available(pred):
        msg = (
            "kind='auto' decides from the prediction's values, which are not available here "
            "(a JAX tracer inside jit/vmap/grad, or a lazy Dask array); pass kind='logits', "
            "'probs' or 'log_probs'"
        )
        raise ValueError(msg)
    kind = resolve_kind(pred, opts.kind, axis=axis, validate=checked)
    dtype = compute_dtype(xp, pred)
    plain = type(target) is np.ndarray and is_numpy(xp)  # no namespace lookup needed
    if not plain and (not hasattr(target, "shape") or namespace(target) is not xp):
        target = asarray_like(xp, target, pred, name="target")
    soft = target_kind(xp, tuple(pred.shape), target, axis) == "distribution"
    x = pred if pred.dtype == dtype else xp.astype(pred, dtype)
    if axis != len(x.shape) - 1:
        x = xp.moveaxis(x, axis, -1)
    num_classes = int(x.shape[-1])
    batch_shape = tuple(x.shape[:-1])
    if soft:
        target = xp.moveaxis(target, axis, -1)
    rows = prepare_rows(
        xp,
        target,
        num_classes=num_classes,
        batch_shape=batch_shape,
        dtype=dtype,
        like=pred,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=opts.ignore_index,
        label_smoothing=opts.label_smoothing,
        smoothing=opts.smoothing,
        validate=checked,
        soft=soft,
        rescale=True,
    )
    if checked:
        with np.errstate(all="ignore"):
            if kind == "probs":
                x = v.check_probs(xp, x)
            elif kind == "log_probs":
                from .special import logsumexp

                v.check_log_probs(xp, x, logsumexp(x, axis=-1))
            else:
                v.warn_double_softmax(xp, x, num_classes)
    return Prepared(xp, x, kind, axis, batch_shape, rows, sample_weight is not None, opts, checked)


def kernel_arrays(p: Prepared, *, normalized: bool = False) -> tuple:
    """(logits (N, C), target (N,) or (N, C), weight, sample_weight) as the kernels take them.

    Index targets: active rows carry their class, masked rows ``KERNEL_IGNORE`` and bad
    rows ``C`` (out of range: the kernels make them NaN). The float64 weights are the
    caller's (``normalized=False``) or the rescaled ones (``True``: for a mean, or for
    values that :meth:`Prepared.unscale` restores).
    """
    r = p.rows
    tgt = r.soft if r.index is None else np.where(r.bad, p.num_classes, r.index)
    w = None
    if r.class_weight is not None:
        w = np.asarray(r.class_weight, dtype=np.float64)
        if not normalized and r.class_scale is not None:
            w = unscale(np, w, (np.float64(to_numpy(r.class_scale)),))
    s = None
    if p.has_sample_weight:
        # Rows.s is 0 on every inactive row; a bad row must reach the kernel unmasked (→ NaN)
        s = np.asarray(np.where(r.bad, 1.0, to_numpy(r.s)), dtype=np.float64)
        if not normalized and r.sample_scale is not None:
            s = unscale(np, s, (np.float64(to_numpy(r.sample_scale)),))
    return p.x2, tgt, w, s


def terms(
    p: Prepared, impl: str = "auto", divide_by: DivideBy = "weight", *, normalized: bool = False
) -> tuple[Array, Array]:
    """Per-example ``(ℓ_i, w_i)`` of docs/semantics.md §4, in the batch shape.

    At the caller's weight scale, or (``normalized=True``) both divided by the same
    power of two (:meth:`Rows.scales`): what a mean (:meth:`Prepared.reduce`) divides.
    """
    loss, w = _scaled_terms(p, impl, divide_by)
    if normalized:
        return loss, w
    return p.unscale(loss, "loss"), p.unscale(w, "weight", divide_by)


def host_terms(p: Prepared, impl: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """``(ℓ_i, w_i)`` as flat float64 NumPy arrays at the caller's scale, for float64 sums.

    The scale is restored in float64, so float32 predictions with weights below float32's
    range (1e-50) keep them (the Accumulator's per-row record).
    """
    loss, w = _scaled_terms(p, impl, "weight")
    f64 = [np.asarray(to_numpy(a), dtype=np.float64).reshape(-1) for a in (loss, w)]
    factors = tuple(np.float64(to_numpy(f)) for f in p.rows.scales("loss"))
    return unscale(np, f64[0], factors), unscale(np, f64[1], factors)


def _scaled_terms(p: Prepared, impl: str, divide_by: DivideBy) -> tuple[Array, Array]:
    """``(ℓ_i, w_i)`` from the rescaled weights."""
    xp, r = p.xp, p.rows
    path = p.path(impl)
    w = p.weights(divide_by)
    with np.errstate(all="ignore"):
        if path != "array_api":
            from . import kernels

            x2, tgt, cw, s = kernel_arrays(p, normalized=True)
            fn = kernels.softmax_terms if path == "kernel" else kernels.blocked_softmax_terms
            loss, _ = fn(
                x2,
                tgt,
                weight=cw,
                ignore_index=KERNEL_IGNORE,
                label_smoothing=p.opts.label_smoothing,
                smoothing=p.opts.smoothing,
                sample_weight=s,
            )
            return p.unflatten(loss.astype(p.x.dtype, copy=False)), w
        if r.soft is None and no_smoothing(r.beta):
            inner = xlogy(r.alpha * r.u, _gather_log_q(p))
        else:
            inner = xp.sum(xlogy(r.coefficients(p.x.dtype), p.log_q()), axis=-1)
        loss = xp.where(r.active, -(r.s * inner), xp.zeros_like(inner))
        loss = xp.where(r.bad, xp.full_like(loss, math.nan), loss)
    return p.unflatten(loss), w


def _gather_log_q(p: Prepared) -> Array:
    """log q_{i, y_i} (N,) without building the full log-softmax for logits."""
    xp, x2, index = p.xp, p.x2, p.rows.index
    assert index is not None  # index targets only
    safe = xp.where(index < 0, xp.zeros_like(index), index)
    picked = take_rows(xp, x2, safe)
    if p.kind == "logits":
        m, total = _shift_and_sum(xp, x2)
        return (picked - m) - xp.log(total)
    if p.kind == "probs":
        return xp.log(picked)
    return picked


def _shift_and_sum(xp: Any, x2: Array) -> tuple[Array, Array]:
    """``(m_i, Σ_c exp(x_ic − m_i))`` with ``m_i`` the row's max (0 when not finite), (N,) each.

    The one pass over the logits that the value (``_gather_log_q``) and the gradient
    (:func:`grad_terms`) share: under ``jax.jit`` the compiler computes it once for both.
    """
    m = xp.max(x2, axis=-1)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    return m, xp.sum(xp.exp(x2 - m[:, None]), axis=-1)


# ----------------------------------------------------------------------------- gradients
# The one closed form of docs/semantics.md §9 (``gradients.cross_entropy_grad`` and the
# JAX custom gradient, ``_jax``, both call it):
#     ∂ℓ_i/∂x_ic = s_i · (A_i · q_ic − a_ic)   (logits),   − s_i · a_ic   (log-probabilities),
#     − s_i · a_ic / p_ic, 0 where a_ic = 0   (probabilities);   ÷ Σ_i w_i for "mean".


def row_scale(p: Prepared, red: ReductionOptions, grad_output: Any) -> tuple[Array, Array]:
    """(s_i · g_i, 0 on inactive rows; den) as (N,) and a scalar: the gradient is ``scale · (A q − a) / den``.

    The division comes last so that a tiny (subnormal) weight sum cannot overflow
    the scale before it meets the equally tiny coefficients. A NaN divisor (a bad
    row under ``validate=False``) makes the whole gradient of the mean NaN, like its value.
    The coefficients ``a`` come from the rescaled weights (``_rows``): the scale cancels in
    a mean (``divide_by="weight"``) and is given back here otherwise. Nothing is read on
    the host unless ``empty="raise"`` needs it.
    """
    xp, r = (np if is_numpy(p.xp) else p.xp), p.rows  # NumPy: the same functions, unwrapped
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
    raises = red.empty == "raise"
    if raises and not values_available(r.s):
        raise ValueError(traced_raise_message())
    if red.reduction == "mean":
        den = red.divisor(xp, xp.sum(r.divisor_weights(red.divide_by)))
        if raises and bool(den == 0):
            raise ValueError(empty_message(p.n))
        if isinstance(den, np.generic) and den != 0:  # a NumPy scalar: no selects needed
            safe = den
        else:
            safe = xp.where(den == 0, xp.ones_like(den), den)
            scale = xp.where(den == 0, xp.zeros_like(scale), scale)
    else:
        if raises and (red.reduction == "sum" or p.n == 0):
            if p.n == 0 or bool(xp.sum(r.divisor_weights(red.divide_by)) == 0):
                raise ValueError(empty_message(p.n))
        safe = xp.ones((), dtype=dtype)
    scale = p.unscale(scale, scale_kind(red), red.divide_by)
    return xp.where(r.active, scale, xp.zeros_like(scale)), safe


def scale_kind(red: ReductionOptions) -> str:
    """Which power-of-two rescaling of the weights a reduced value must be given back.

    A mean of rescaled sums has the scale cancel (``"mean"``); a sum, or a mean whose
    divisor is a ``normalizer`` (a number the rescaling never touched), keeps the loss scale.
    """
    return "mean" if red.reduction == "mean" and red.normalizer is None else "loss"


def grad_terms(p: Prepared, scale: Array, den: Array) -> Array:
    """The (N, C) gradient from the coefficients ``a_ic`` (0 on inactive rows, bad rows not yet NaN)."""
    xp, r = p.xp, p.rows
    with np.errstate(all="ignore"):
        a = r.coefficients(p.x.dtype)
        s = scale[:, None]
        if p.kind == "logits":
            m, total = _shift_and_sum(xp, p.x2)
            q = xp.exp(p.x2 - m[:, None]) / total[:, None]  # softmax
            big_a = r.A[:, None]  # = Σ_c a_ic (_rows), without another pass over the classes
            aq = big_a * q
            g = s * (xp.where(big_a == 0, xp.zeros_like(aq), aq) - a) / den
        elif p.kind == "log_probs":
            g = -s * a / den
        else:
            ratio = a / p.x2
            g = -s * xp.where(a == 0, xp.zeros_like(ratio), ratio) / den
        return xp.where(r.active[:, None], g, xp.zeros_like(g))


def finish_grad(p: Prepared, g: Array) -> Array:
    """An (N, C) gradient with NaN on bad rows, in the caller's shape and class axis."""
    xp = p.xp
    g = xp.where(p.rows.bad[:, None], xp.full_like(g, math.nan), g)
    return xp.moveaxis(xp.reshape(g, p.x.shape), -1, p.axis)


def closed_form_grad(p: Prepared, red: ReductionOptions, grad_output: Any = None) -> Array:
    """``∂ loss / ∂ pred`` on any namespace (the array-API path of ``cross_entropy_grad``)."""
    with np.errstate(all="ignore"):
        scale, den = row_scale(p, red, grad_output)
        return finish_grad(p, grad_terms(p, scale, den))


def with_nll_gradient(
    value: Any,
    pred: Array,
    target: Array,
    opts: LossOptions,
    red: ReductionOptions,
    *,
    weight: Array | None,
    sample_weight: Array | None,
) -> Array:
    """``value(pred, **consts)`` for a loss whose derivative is the reduced NLL's (:func:`nll_grad`).

    On JAX arrays the derivative is that closed form (``_jax.differentiable``), with the
    numeric options (label smoothing, normalizer) passed apart so they may be traced; on
    every other namespace ``value`` is simply called. ``value`` takes the keywords of
    :func:`nll_grad` after ``pred``.
    """
    consts = {
        "target": target,
        "weight": weight,
        "sample_weight": sample_weight,
        "label_smoothing": opts.label_smoothing,
        "normalizer": red.normalizer,
        "opts": opts,
        "red": red,
    }
    if is_jax_array(pred):
        from ._jax import differentiable

        return differentiable(value, nll_grad, pred, class_axis=opts.axis, **consts)
    return value(pred, **consts)


def nll_grad(
    g: Array,
    pred: Array,
    *,
    target: Array,
    weight: Array | None,
    sample_weight: Array | None,
    label_smoothing: Any,
    normalizer: Any,
    opts: LossOptions,
    red: ReductionOptions,
) -> Array:
    """The vector-Jacobian product of the reduced NLL (``chain.reduced_nll``) for the cotangent ``g``.

    The closed form above, for the JAX custom gradient (``_jax.differentiable``); the values
    were checked by the forward pass, so this pass reads nothing on the host.
    """
    opts = replace(opts, label_smoothing=label_smoothing, validate=False)
    red = replace(red, normalizer=normalizer)
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    out = closed_form_grad(p, red, grad_output=g)
    return out if red.scale == 1.0 else out / red.scale
