r"""Distillation: a divergence between a teacher's distribution p and a student's q, per row.

With ``T`` the temperature, ``p = softmax(teacher / T)`` and ``q = softmax(student / T)``
(docs/semantics.md §13)::

    "forward"  KL(p ‖ q) = Σ_c p_c (log p_c − log q_c)        the teacher is the target (Hinton)
    "reverse"  KL(q ‖ p) = Σ_c q_c (log q_c − log p_c)        the student's own mass is scored
    "jsd"      JSD_β = β KL(p ‖ m) + (1 − β) KL(q ‖ m),   m = β p + (1 − β) q
               β = 0 is "forward" and β = 1 is "reverse" (TRL's generalized_jsd_loss, Liger's JSD)

    ℓ_i = s_i · T² · D_i      (T² when ``scale_by_t2``; D_i the row's divergence)
    w_i = s_i                 (0 on masked rows: ``labels == ignore_index`` or ``s_i = 0``)
    "mean" = Σ_i ℓ_i / Σ_i w_i   (or / ``normalizer``, the whole step's Σw)

``0 · log 0 = 0`` in the value and in the gradient: a class where both distributions are 0
(a ``−inf`` logit in both) contributes nothing. A masked row gives exactly 0 and a zero
gradient whatever its logits hold (±inf, NaN).

>>> import numpy as np
>>> student = np.array([[2.0, 0.0, 0.0]]); teacher = np.zeros((1, 3))    # a uniform teacher
>>> fwd = distillation_loss(student, teacher)
>>> rev = distillation_loss(student, teacher, direction="reverse")
>>> round(float(fwd), 4), round(float(rev), 4)     # two different numbers: name the direction
(0.4743, 0.433)
>>> bool(np.isclose(distillation_loss(student, teacher, direction="jsd", beta=0.0), fwd))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from . import _validate as v
from ._array import Array, asarray_like, compute_dtype, namespace, values_available
from ._options import IGNORE_INDEX, ReductionOptions, divergence_direction
from ._types import Base, ConcreteKind, Direction, Empty, Reduction
from .kinds import log_probs_last
from .special import log_softmax

__all__ = ["distillation_loss", "distillation_grad", "DIRECTIONS"]

DIRECTIONS: tuple[str, ...] = get_args(Direction)
_KINDS: tuple[str, ...] = get_args(ConcreteKind)


@dataclass
class _Pair:
    """A prepared call: both log-distributions as (N, C), the masks and the weights."""

    xp: Any
    x: Array  # the student's input, (N, C), compute dtype, masked rows neutral
    lq: Array  # log q, the student's tempered log-distribution (N, C)
    lp: Array  # log p, the teacher's (N, C)
    active: Array  # (N,) bool
    s: Array  # (N,) sample weight, 0 on masked rows
    batch_shape: tuple
    axis: int
    kind_student: str
    temperature: float
    factor: float  # T² (scale_by_t2) or 1

    @property
    def n(self) -> int:
        return math.prod(self.batch_shape)


def _neutral(xp: Any, x: Array, kind: str) -> Array:
    """A uniform row in ``kind``'s representation: what a masked row is replaced by."""
    c = x.shape[-1]
    value = {"logits": 0.0, "probs": 1.0 / c, "log_probs": -math.log(c)}[kind]
    return xp.full_like(x, value)


def _log_dist(xp: Any, x: Array, kind: str, temperature: float, *, validate: bool, name: str):
    """The tempered log-distribution ``log softmax(z / T)`` of a row of ``kind`` (no repair at T = 1)."""
    if kind == "logits":
        if validate:
            v.warn_double_softmax(xp, x, x.shape[-1], name=name)
        return log_softmax(x if temperature == 1.0 else x / temperature)
    lq = log_probs_last(xp, x, kind, validate=validate, name=name)  # log p as given
    return lq if temperature == 1.0 else log_softmax(lq / temperature)


def _mask(xp, labels, sample_weight, batch_shape, like, dtype, ignore_index, validate):
    """``(active, s)`` as (N,) arrays from the optional ``labels`` and ``sample_weight``."""
    n = math.prod(batch_shape)
    ignore_index = v.check_ignore_index(ignore_index)
    active = xp.ones(n, dtype=xp.bool, device=_device(like))
    if labels is not None:
        if not hasattr(labels, "shape") or namespace(labels) is not xp:
            labels = asarray_like(xp, labels, like, name="labels")
        if not xp.isdtype(labels.dtype, "integral"):
            msg = (
                f"`labels` masks rows equal to `ignore_index` and must hold integers; got dtype "
                f"{labels.dtype}. Mask rows with sample_weight=0 otherwise"
            )
            raise TypeError(msg)
        if tuple(labels.shape) != tuple(batch_shape):
            msg = (
                f"`labels` must have the prediction's shape without the class axis, "
                f"{tuple(batch_shape)}; got {tuple(labels.shape)}"
            )
            raise ValueError(msg)
        if ignore_index is not None:
            active = xp.reshape(labels != ignore_index, (n,))
    if sample_weight is None:
        return active, xp.astype(active, dtype)
    a = asarray_like(xp, sample_weight, like, name="sample_weight")
    v.check_weight_dtype(xp, a, "sample_weight")
    wide = a if xp.isdtype(a.dtype, "real floating") else xp.astype(a, xp.float64)
    v.check_sample_weight(xp, wide, batch_shape)
    s = xp.reshape(wide if wide.dtype == dtype else xp.astype(wide, dtype), (n,))
    if validate:
        v.check_representable(xp, wide, xp.reshape(s, tuple(batch_shape)), "sample_weight")
    active = active & (s != 0)
    return active, xp.where(active, s, xp.zeros_like(s))


def _device(x: Array) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def _prepare(student, teacher, *, kind_student, kind_teacher, temperature, scale_by_t2, axis,
             labels, ignore_index, sample_weight, validate) -> _Pair:  # fmt: skip
    xp = namespace(student)
    if not hasattr(teacher, "shape") or namespace(teacher) is not xp:
        teacher = asarray_like(xp, teacher, student, name="teacher")
    validate = validate and values_available(student, teacher, labels, sample_weight)  # tracing
    v.check_option("kind_student", kind_student, _KINDS)
    v.check_option("kind_teacher", kind_teacher, _KINDS)
    t = v.real_number("temperature", temperature, "a finite number > 0")
    if not (math.isfinite(t) and t > 0):
        msg = (
            f"`temperature` must be a finite number > 0 (T divides the logits); got {temperature!r}"
        )
        raise ValueError(msg)
    axis = v.check_axis(student, axis, name="student")
    if tuple(teacher.shape) != tuple(student.shape):
        msg = (
            f"`teacher` must have the student's shape {tuple(student.shape)} (one distribution per "
            f"row over the same classes); got {tuple(teacher.shape)}"
        )
        raise ValueError(msg)
    dtype = xp.result_type(
        compute_dtype(xp, student, name="student"), compute_dtype(xp, teacher, name="teacher")
    )
    xs = xp.moveaxis(xp.astype(student, dtype), axis, -1)
    xt = xp.moveaxis(xp.astype(teacher, dtype), axis, -1)
    batch_shape = tuple(xs.shape[:-1])
    c = int(xs.shape[-1])
    n = math.prod(batch_shape)
    xs, xt = xp.reshape(xs, (n, c)), xp.reshape(xt, (n, c))
    active, s = _mask(xp, labels, sample_weight, batch_shape, xs, dtype, ignore_index, validate)
    keep = active[:, None]
    xs = xp.where(keep, xs, _neutral(xp, xs, kind_student))
    xt = xp.where(keep, xt, _neutral(xp, xt, kind_teacher))
    with np.errstate(all="ignore"):
        lq = _log_dist(xp, xs, kind_student, t, validate=validate, name="student")
        lp = _log_dist(xp, xt, kind_teacher, t, validate=validate, name="teacher")
    factor = t * t if scale_by_t2 else 1.0
    return _Pair(xp, xs, lq, lp, active, s, batch_shape, axis, kind_student, t, factor)


def _xdiff(xp: Any, a: Array, u: Array, w: Array) -> Array:
    """``a · (u − w)`` with ``0 · (anything) = 0``, safe for autograd (no NaN behind the mask)."""
    return a * xp.where(a == 0, xp.zeros_like(u), u - w)


def _divergence_rows(xp: Any, lp: Array, lq: Array, direction: str, beta: float):
    """``(D_i, g_ic)``: each row's divergence and its derivative ``∂D_i/∂ log q_ic``.

    ``g`` treats ``q = exp(log q)`` as free (the chain rule through the softmax comes after):
    forward ``−p``; reverse ``q (log q − log p + 1)``; JSD ``(1 − β) q (log q − log m)``.
    """
    direction = divergence_direction(direction, beta)  # the JSD's endpoints: the two KLs
    p, q = xp.exp(lp), xp.exp(lq)
    if direction == "forward":
        return xp.sum(_xdiff(xp, p, lp, lq), axis=-1), -p
    if direction == "reverse":
        e = _xdiff(xp, q, lq, lp)
        return xp.sum(e, axis=-1), e + q
    # log m = logaddexp(log β + log p, log(1 − β) + log q), kept finite where both are −inf
    both = (p == 0) & (q == 0)
    a = xp.where(both, xp.zeros_like(lp), lp + math.log(beta))
    b = xp.where(both, xp.zeros_like(lq), lq + math.log1p(-beta))
    lm = xp.where(both, xp.full_like(lp, -math.inf), xp.logaddexp(a, b))
    eq = _xdiff(xp, q, lq, lm)
    e = beta * _xdiff(xp, p, lp, lm) + (1.0 - beta) * eq
    return xp.sum(e, axis=-1), (1.0 - beta) * eq


def _check_direction(direction: Any, beta: Any) -> float:
    v.check_option("direction", direction, DIRECTIONS)
    b = v.real_number("beta", beta, "a number in [0, 1]")
    if not 0.0 <= b <= 1.0:
        msg = f"`beta` must lie in [0, 1] (the teacher's share of the mixture m); got {beta!r}"
        raise ValueError(msg)
    return b


def distillation_loss(
    student: Array,
    teacher: Array,
    *,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    kind_student: ConcreteKind = "logits",
    kind_teacher: ConcreteKind = "logits",
    axis: int = -1,
    labels: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    sample_weight: Array | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: Any = None,
    base: Base = "e",
    validate: bool = True,
) -> Array:
    r"""The distillation loss of ``student`` towards ``teacher`` in a named ``direction``.

    ``direction="forward"`` is ``KL(p ‖ q)`` (Hinton's distillation; ``F.kl_div(log q, p)``),
    ``"reverse"`` is ``KL(q ‖ p)``, ``"jsd"`` the generalised Jensen–Shannon divergence with
    ``m = β p + (1 − β) q`` (``beta`` is the teacher's share; 0 gives ``"forward"``, 1
    ``"reverse"``; ``beta`` is used by ``"jsd"`` only). ``p`` and ``q`` are the softmax of the
    inputs divided by ``temperature`` (for ``"probs"``/``"log_probs"`` inputs: of their log,
    and used as given at T = 1); ``scale_by_t2`` multiplies by T² so that the gradient keeps
    its size across temperatures (Hinton et al., 2015).

    ``labels`` (optional, integers with the batch shape) only masks: rows equal to
    ``ignore_index`` count for nothing, as do rows with ``sample_weight`` 0. ``"mean"`` divides
    by ``Σ s_i`` over unmasked rows (the number of unmasked rows without weights), or by
    ``normalizer`` (the total of a whole optimiser step; see docs/semantics.md §14). ``empty``
    decides a mean over no row; ``base`` gives bits for 2.

    >>> import numpy as np
    >>> s = np.array([[0.0, 1.0], [3.0, 0.0]]); t = np.array([[0.0, 1.0], [np.nan, 0.0]])
    >>> float(distillation_loss(s, t, labels=np.array([5, -100])))   # the NaN row is masked
    0.0
    >>> distillation_loss(s, s, reduction="none")                     # KL(p ‖ p) = 0
    array([0., 0.])
    """
    b = _check_direction(direction, beta)
    red = ReductionOptions(reduction, empty, "weight", base, normalizer)
    pr = _prepare(
        student, teacher, kind_student=kind_student, kind_teacher=kind_teacher,
        temperature=temperature, scale_by_t2=scale_by_t2, axis=axis, labels=labels,
        ignore_index=ignore_index, sample_weight=sample_weight, validate=validate,
    )  # fmt: skip
    xp = pr.xp
    with np.errstate(all="ignore"):
        d, _ = _divergence_rows(xp, pr.lp, pr.lq, direction, b)
        loss = xp.where(pr.active, (pr.factor * pr.s) * d, xp.zeros_like(d))
        if reduction == "none":
            red.check_none(pr.n)
            out = xp.reshape(loss, pr.batch_shape)
        else:
            out = red.finish(xp, xp.sum(loss), xp.sum(pr.s), n=pr.n, host_check=validate)
        return out if red.scale == 1.0 else out / red.scale


def distillation_grad(
    student: Array,
    teacher: Array,
    *,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    kind_student: ConcreteKind = "logits",
    kind_teacher: ConcreteKind = "logits",
    axis: int = -1,
    labels: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    sample_weight: Array | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: Any = None,
    base: Base = "e",
    grad_output: Any = None,
    validate: bool = True,
) -> Array:
    r"""``∂ distillation_loss / ∂ student`` in closed form (the same options, plus ``grad_output``).

    With ``g_c = ∂D/∂ log q_c`` (forward ``−p_c``; reverse ``q_c (log q_c − log p_c + 1)``; JSD
    ``(1 − β) q_c (log q_c − log m_c)``) and ``z`` the student's logits (or ``log`` of its
    probabilities) divided by T::

        ∂D/∂z_c = g_c − q_c Σ_k g_k         forward: q_c − p_c     reverse: q_c (d_c − Σ_k q_k d_k)

    with ``d = log q − log p``; times ``s_i · T² / T`` per row (``/ T`` from ``z = x / T``),
    divided like the value under ``"mean"``. For ``kind_student="log_probs"`` at T = 1 the
    gradient is ``g`` itself; for ``"probs"`` it is divided by the probabilities (0 where the
    numerator is 0). Masked rows get exactly 0; an all-masked mean gets zeros.

    >>> import numpy as np
    >>> s = np.array([[0.0, 0.0]]); t = np.array([[np.log(3.0), 0.0]])     # q = (½, ½), p = (¾, ¼)
    >>> distillation_grad(s, t)                                            # q − p
    array([[-0.25,  0.25]])
    """
    b = _check_direction(direction, beta)
    red = ReductionOptions(reduction, empty, "weight", base, normalizer)
    pr = _prepare(
        student, teacher, kind_student=kind_student, kind_teacher=kind_teacher,
        temperature=temperature, scale_by_t2=scale_by_t2, axis=axis, labels=labels,
        ignore_index=ignore_index, sample_weight=sample_weight, validate=validate,
    )  # fmt: skip
    xp, t = pr.xp, pr.temperature
    dtype = pr.x.dtype
    with np.errstate(all="ignore"):
        row = pr.s * (pr.factor / red.scale)
        if grad_output is not None:
            go = asarray_like(xp, grad_output, pr.x, dtype, name="grad_output")
            if reduction == "none" and tuple(go.shape) != pr.batch_shape:
                msg = f"`grad_output` for reduction='none' must have shape {pr.batch_shape}; got {tuple(go.shape)}"
                raise ValueError(msg)
            if reduction != "none" and math.prod(go.shape) != 1:
                msg = f"`grad_output` for reduction={reduction!r} must be a scalar; got shape {tuple(go.shape)}"
                raise ValueError(msg)
            row = row * (xp.reshape(go, (pr.n,)) if reduction == "none" else xp.reshape(go, ()))
        if reduction == "none":
            red.check_none(pr.n)
        else:
            den = xp.sum(pr.s)
            if empty == "raise":  # raises wherever the value raises
                red.finish(xp, xp.zeros_like(den), den, n=pr.n, host_check=False)
            scale, _ = red.scale_and_fill(xp, den)
            row = row * scale
        _, g = _divergence_rows(xp, pr.lp, pr.lq, direction, b)
        if pr.kind_student == "logits" or t != 1.0:  # through log q = log_softmax(z / T)
            q = xp.exp(pr.lq)
            g = g - q * xp.sum(g, axis=-1, keepdims=True)
            g = g if t == 1.0 else g / t
        if pr.kind_student == "probs":  # z = log p
            g = xp.where(g == 0, xp.zeros_like(g), g / pr.x)
        g = xp.where(pr.active[:, None], row[:, None] * g, xp.zeros_like(g))
        g = xp.reshape(g, (*pr.batch_shape, g.shape[-1]))
    return xp.moveaxis(g, -1, pr.axis)
