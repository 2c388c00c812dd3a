r"""Binary and multi-label cross-entropy: every element an independent Bernoulli.

The seed's equation 2, per element, with ``p = σ(x)``::

    ℓ = − s · weight · [ pos_weight · y · log p + (1 − y) · log(1 − p) ]

computed in log space from logits (``log p = −softplus(−x)``, ``log(1−p) =
−softplus(x)``), so ``x = ±1e9`` costs ``|x|`` when wrong and 0 when right, and
``0 · log 0 = 0`` keeps ``x = ±inf`` finite when it is right
(docs/semantics.md §8). It is the two-class softmax cross-entropy with logits
``[0, x]``:

>>> import numpy as np
>>> from crossentropy import cross_entropy
>>> x, y = np.array([1.5, -0.3]), np.array([1.0, 0.0])
>>> a = binary_cross_entropy(x, y)
>>> b = cross_entropy(np.stack([np.zeros(2), x], axis=1), np.stack([1 - y, y], axis=1))
>>> bool(np.isclose(a, b))
True

With ``focal_gamma=γ`` the loss is one of two named focal forms (docs/semantics.md §8)::

    focal="expected" (default):  − [ y · (1 − p)^γ · log p + (1 − y) · p^γ · log(1 − p) ]
    focal="p_t" (optax, Keras):  − (1 − p_t)^γ · [ y · log p + (1 − y) · log(1 − p) ],
                                 1 − p_t = y · (1 − p) + (1 − y) · p

equal for 0/1 labels. ``"expected"`` is linear in ``y``: a soft label ``y`` gets the
average of the two hard-label focal losses, as it gets their average cross-entropy.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _validate as v
from ._array import (
    Array,
    asarray_like,
    compute_dtype,
    device,
    is_jax_array,
    namespace,
    values_available,
)
from ._options import FOCALS, KINDS, ReductionOptions, empty_message, traced_raise_message
from ._rows import binary_target
from ._types import Empty, Focal, Kind, Reduction
from .special import log1mexp, log_sigmoid

__all__ = ["binary_cross_entropy", "binary_terms"]


def _binary_kind(xp: Any, x: Array, kind: str) -> str:
    v.check_option("kind", kind, KINDS)
    if kind != "auto":
        return kind
    if math.prod(x.shape) == 0:
        msg = "kind='auto' cannot decide from an empty prediction; pass kind= explicitly"
        raise ValueError(msg)
    if not values_available(x):
        msg = (
            "kind='auto' decides from the prediction's values, which are not available here (a "
            "JAX tracer inside jit/vmap/grad, or a lazy Dask array); pass kind= explicitly"
        )
        raise ValueError(msg)
    outside = bool(xp.any((x < 0) | (x > 1)))
    positive = bool(xp.any(x > 0))
    if outside and positive:
        v.warn(v.KindDecisionWarning, "kind='auto' decided kind='logits': values outside [0, 1]")
        return "logits"
    what = (
        "in [0, 1] (probabilities or small logits)"
        if not outside
        else "≤ 0 (log-probabilities or negative logits)"
    )
    msg = f"kind='auto' is ambiguous for binary predictions: every value is {what}. Pass kind= explicitly"
    raise ValueError(msg)


def _log_p_pair(xp: Any, x: Array, kind: str, validate: bool) -> tuple[Array, Array]:
    """(log p, log(1 − p)) for the positive class."""
    if kind == "logits":
        return log_sigmoid(x), log_sigmoid(-x)
    if kind == "probs":
        if validate:
            x = v.check_probs(xp, x, normalized=False)
        return xp.log(x), xp.log1p(-x)
    if validate:
        vtol, _ = v._tolerance(xp, x.dtype)
        bad = x > vtol
        if v.any_true(xp, bad):
            msg = f"`pred` with kind='log_probs' must be ≤ 0; got {v.positions(bad, x)}"
            raise ValueError(msg)
    return x, log1mexp(xp.minimum(x, xp.zeros_like(x)))


def _focal_gamma(focal_gamma: float | None, focal: str) -> float:
    """γ as a float (0 without focal loss, where either form is the plain loss); checks ``focal``."""
    v.check_option("focal", focal, FOCALS)
    g = v.check_focal_gamma(focal_gamma)
    return 0.0 if g is None else g


def _broadcastable(xp: Any, a: Array, shape: tuple, name: str) -> Array:
    """``a`` if it broadcasts against the prediction's ``shape`` (PyTorch's rule), else a ValueError."""
    try:
        np.broadcast_shapes(tuple(a.shape), tuple(shape))
    except ValueError:
        msg = (
            f"`{name}` of shape {tuple(a.shape)} does not broadcast against the prediction's shape "
            f"{tuple(shape)}; give one value per element, per label (the last axis) or a scalar"
        )
        raise ValueError(msg) from None
    return a


def _broadcast_prefix(xp: Any, a: Array, shape: tuple, name: str) -> Array:
    """Per-example weights (a prefix of ``shape``) broadcast over the trailing label axes."""
    if tuple(a.shape) == tuple(shape):
        return a
    k = len(a.shape)
    if tuple(a.shape) != tuple(shape[:k]):
        msg = (
            f"`{name}` must have the prediction's shape {tuple(shape)} or a prefix of it (one weight "
            f"per example); got {tuple(a.shape)}"
        )
        raise ValueError(msg)
    return xp.reshape(a, (*a.shape, *([1] * (len(shape) - k))))


def binary_terms(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    pos_weight: Array | None = None,
    weight: Array | None = None,
    focal_gamma: float | None = None,
    focal: Focal = "expected",
    label_smoothing: float = 0.0,
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    validate: bool = True,
) -> tuple[Any, Array, Array, dict]:
    """Per-element ``(ℓ, count)`` with ``count = s`` on unmasked elements: the mean is Σℓ / Σcount."""
    xp = namespace(pred)
    dtype = compute_dtype(xp, pred)
    x = pred if pred.dtype == dtype else xp.astype(pred, dtype)
    resolved = _binary_kind(xp, x, kind)
    validate = validate and values_available(pred, target, pos_weight, weight, sample_weight)
    if not hasattr(target, "shape") or namespace(target) is not xp:
        target = asarray_like(xp, target, pred)
    y, ignored = binary_target(
        xp, target, tuple(x.shape), dtype, ignore_index=ignore_index, validate=validate
    )
    eps = v.check_label_smoothing(label_smoothing, "uniform", 2)
    if not (isinstance(eps, float) and eps == 0):  # a traced ε is applied
        y = (1 - eps) * y + eps / 2
    with np.errstate(all="ignore"):
        lp, l1p = _log_p_pair(xp, x, resolved, validate)
    pos = y
    if pos_weight is not None:
        pw = _broadcastable(xp, asarray_like(xp, pos_weight, pred, dtype), x.shape, "pos_weight")
        if validate:
            v.check_nonnegative(xp, pw, "pos_weight")
        pos = y * pw
    neg = 1 - y
    g = _focal_gamma(focal_gamma, focal)
    if g and focal == "expected":
        with np.errstate(all="ignore"):
            pos = pos * xp.exp(g * l1p)  # (1 − p)^γ
            neg = neg * xp.exp(g * lp)  # p^γ
    with np.errstate(all="ignore"):
        t_pos = pos * lp
        t_neg = neg * l1p
        inner = xp.where(pos == 0, xp.zeros_like(t_pos), t_pos) + xp.where(
            neg == 0, xp.zeros_like(t_neg), t_neg
        )
        if g and focal == "p_t":
            # log(1 − p_t) = log(y·(1 − p) + (1 − y)·p), in log space
            factor = xp.exp(g * xp.logaddexp(xp.log(y) + l1p, xp.log1p(-y) + lp))
            inner = xp.where(factor == 0, xp.zeros_like(inner), inner * factor)
    scale = None
    if weight is not None:
        w = _broadcastable(xp, asarray_like(xp, weight, pred, dtype), x.shape, "weight")
        if validate:
            v.check_nonnegative(xp, w, "weight")
        scale = w
    count = xp.ones(x.shape, dtype=dtype, device=device(x))
    mask = ignored
    if sample_weight is not None:
        s = asarray_like(xp, sample_weight, pred, dtype)
        if validate:
            v.check_nonnegative(xp, s, "sample_weight")
        s = _broadcast_prefix(xp, s, tuple(x.shape), "sample_weight")
        scale = s if scale is None else scale * s
        count = count * s
        mask = mask | (count == 0)
    loss = 0.0 - inner if scale is None else (0.0 - inner) * scale  # 0, never −0
    zero = xp.zeros_like(loss)
    loss = xp.where(mask, zero, loss)
    count = xp.where(mask, zero, count)
    info = {"kind": resolved, "x": x, "y": y, "lp": lp, "l1p": l1p, "mask": mask}
    return xp, loss, count, info


def binary_logit_grad(
    xp: Any,
    pred: Array,
    count: Array,
    info: dict,
    red: ReductionOptions,
    *,
    pos_weight: Array | None,
    weight: Array | None,
    focal_gamma: float | None,
    grad_output: Any,
) -> Array:
    """The closed-form gradient with respect to the logits (docs/semantics.md §9), from
    :func:`binary_terms` (``count``, ``info``): ``s·weight·(pos_weight·y·(p − 1) + (1 − y)·p)``
    without focal loss, the exact derivative of the ``"expected"`` focal form with it; 0 on
    masked elements. ``gradients.binary_cross_entropy_grad`` and the JAX custom gradient use it.
    """
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
            scale = scale * (go if red.reduction == "none" else xp.reshape(go, ()))
        n = math.prod(count.shape)
        if red.empty == "raise" and n and red.reduction != "none" and not values_available(count):
            raise ValueError(traced_raise_message())
        if red.empty == "raise" and (
            n == 0 or (red.reduction != "none" and bool(xp.sum(count) == 0))
        ):
            raise ValueError(empty_message(n))  # wherever the value raises
        if red.reduction == "mean":
            den = xp.sum(count)
            scale = xp.where(
                den == 0, xp.zeros_like(scale), scale / xp.where(den == 0, xp.ones_like(den), den)
            )
        g = g * scale
        g = xp.where(mask, xp.zeros_like(g), g)
    return g


def binary_cross_entropy(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    pos_weight: Array | None = None,
    weight: Array | None = None,
    focal_gamma: float | None = None,
    focal: Focal = "expected",
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    sample_weight: Array | None = None,
    ignore_index: int | None = None,
    empty: Empty = "nan",
    base: Any = "e",
    validate: bool = True,
) -> Array:
    r"""Binary / multi-label cross-entropy (independent sigmoids), PyTorch's conventions.

    ``ℓ = −s·weight·[pos_weight·y'·log p·(1−p)^γ + (1−y')·log(1−p)·p^γ]`` per element,
    ``y' = (1−ε)·y + ε/2``; soft targets in [0, 1] allowed. ``focal="p_t"`` instead
    multiplies the whole bracket ``[pos_weight·y'·log p + (1−y')·log(1−p)]`` by
    ``(1 − p_t)^γ = (y'·(1−p) + (1−y')·p)^γ``: optax's ``sigmoid_focal_loss`` and Keras's
    ``binary_focal_crossentropy`` (the forms differ only for labels strictly inside (0, 1)).
    ``"mean"`` divides by the (sample-weighted) number of unmasked elements — PyTorch's
    ``binary_cross_entropy_with_logits`` when no ``sample_weight`` is given,
    scikit-learn's weighted ``log_loss`` when it is. ``weight`` rescales elements
    without entering the divisor (PyTorch's ``weight``); ``pos_weight`` broadcasts
    along the last axis. ``focal_gamma=γ`` gives the focal loss (``γ = 0``: the plain loss).

    >>> import numpy as np
    >>> float(binary_cross_entropy(np.array([1e9, -1e9]), np.array([0.0, 0.0])))  # (1e9 + 0) / 2
    500000000.0
    >>> x, y = np.array([2.0, 2.0]), np.array([1.0, 0.7])          # a hard and a soft label
    >>> binary_cross_entropy(x, y, focal_gamma=2.0, reduction="none")
    array([0.00180356, 0.49628595])
    >>> binary_cross_entropy(x, y, focal_gamma=2.0, focal="p_t", reduction="none")
    array([0.00180356, 0.08787265])
    >>> float(binary_cross_entropy(np.array([0.9, 0.2]), np.array([1, 0]), kind="probs"))
    0.164252033486018
    """
    red = ReductionOptions(reduction, empty, "weight", base)
    consts = {
        "target": target,
        "pos_weight": pos_weight,
        "weight": weight,
        "sample_weight": sample_weight,
        "label_smoothing": label_smoothing,
        "options": {"kind": kind, "focal_gamma": focal_gamma, "focal": focal,
                    "ignore_index": ignore_index, "validate": validate},
        "red": red,
    }  # fmt: skip
    plain = focal_gamma is None or focal == "expected"
    if is_jax_array(pred) and kind == "logits" and plain:  # the closed form of §9
        from ._jax import differentiable

        return differentiable(_bce, _bce_grad, pred, class_axis=None, **consts)
    return _bce(pred, **consts)


def _bce(pred: Array, *, options: dict, red: ReductionOptions, **arrays: Any) -> Array:
    """The body of :func:`binary_cross_entropy` (the arrays may be traced JAX arrays)."""
    xp, loss, count, _ = binary_terms(pred, **arrays, **options)
    with np.errstate(all="ignore"):
        if red.reduction == "none":
            red.check_none(math.prod(loss.shape))
            out = loss
        else:
            n = math.prod(loss.shape)
            out = red.finish(xp, xp.sum(loss), xp.sum(count), n=n, host_check=options["validate"])
        return out if red.scale == 1.0 else out / red.scale


def _bce_grad(
    g: Array, pred: Array, *, options: dict, red: ReductionOptions, **arrays: Any
) -> Array:
    """The vector-Jacobian product of :func:`_bce` for the cotangent ``g`` (logits, §9)."""
    opts = {**options, "focal_gamma": None, "validate": False}  # checked by the forward pass
    xp, _, count, info = binary_terms(pred, **arrays, **opts)
    out = binary_logit_grad(
        xp, pred, count, info, red, pos_weight=arrays["pos_weight"], weight=arrays["weight"],
        focal_gamma=options["focal_gamma"], grad_output=g,
    )  # fmt: skip
    return out if red.scale == 1.0 else out / red.scale
