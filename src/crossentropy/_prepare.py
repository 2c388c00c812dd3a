"""Shared preparation of (prediction, target, options) for the chain and its gradient.

Moves the class axis last, picks the compute dtype, decides the input and target
kinds, validates everything once, and builds the per-class coefficients
``a_ic = weight_c · y'_ic`` of docs/semantics.md §4–5. Internal: the public
functions in :mod:`crossentropy.chain` and :mod:`crossentropy.gradients` use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as v
from ._array import Array, asarray_like, compute_dtype, is_numpy, namespace
from .kinds import log_probs_last, resolve_kind, target_kind
from .special import xlogy

IMPLS = ("auto", "kernel", "blocked", "array_api")

#: ``impl="auto"`` sends NumPy logits of at least this many elements to the fused kernel.
#: Below it the row-blocked NumPy path is as fast (thread start-up and the one-off load
#: of the compiled kernels, ~3 s, dominate small inputs).
KERNEL_MIN_ELEMENTS = 1 << 18


@dataclass
class Prepared:
    xp: Any
    x: Array  # prediction, class axis last, compute dtype
    kind: str
    axis: int
    num_classes: int
    batch_shape: tuple
    target_kind: str  # "indices" | "distribution"
    t: Array | None  # safe int64 indices (ignored/invalid → 0)
    y: Array | None  # distribution, class axis last, compute dtype
    mask: Array  # bool, batch shape: masked rows (ℓ = 0, w = 0, zero gradient)
    invalid: Array | None  # bool: out-of-range indices with validate=False (→ NaN)
    s: Array | None  # sample weight, compute dtype
    weight: Array | None  # class weight, compute dtype
    eps: float
    smoothing: str
    ignore_index: int | None
    validate: bool

    # ---- coefficients a_ic = weight_c · y'_ic and the pre-smoothing mass Σ_c weight_c y_ic
    def dense_coefficients(self) -> Array:
        xp, C, eps = self.xp, self.num_classes, self.eps
        dtype = self.x.dtype
        if self.target_kind == "indices":
            onehot = xp.arange(C, device=_device(self.x))[None, :] == xp.reshape(self.t, (-1, 1))
            onehot = xp.reshape(onehot, (*self.batch_shape, C))
            if self.smoothing == "uniform":
                on, off = 1 - eps + eps / C, eps / C
            else:
                on, off = 1 - eps, eps / (C - 1) if C > 1 else 0.0
            y = xp.where(onehot, xp.asarray(on, dtype=dtype), xp.asarray(off, dtype=dtype))
        else:
            y = self.y
            if eps:
                mass = xp.sum(y, axis=-1, keepdims=True)
                if self.smoothing == "uniform":
                    y = (1 - eps) * y + eps * mass / C
                else:
                    y = (1 - eps) * y + eps * (mass - y) / (C - 1)
        return y if self.weight is None else y * self.weight

    def mass(self) -> Array:
        """Σ_c weight_c · y_ic (before smoothing), before the sample weight."""
        xp = self.xp
        if self.target_kind == "indices":
            if self.weight is None:
                return xp.ones(self.batch_shape, dtype=self.x.dtype, device=_device(self.x))
            flat = xp.take(self.weight, xp.reshape(self.t, (-1,)), axis=0)
            return xp.reshape(flat, self.batch_shape)
        y = self.y if self.weight is None else self.y * self.weight
        return xp.sum(y, axis=-1)

    def log_q(self) -> Array:
        with np.errstate(all="ignore"):
            return log_probs_last(self.xp, self.x, self.kind, validate=False)


def _device(x: Array) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def prepare(
    pred: Array,
    target: Array,
    *,
    kind: str,
    axis: int,
    weight: Array | None,
    sample_weight: Array | None,
    ignore_index: int | None,
    label_smoothing: float,
    smoothing: str,
    validate: bool,
) -> Prepared:
    xp = namespace(pred)
    axis = v.check_axis(pred, axis)
    kind = resolve_kind(pred, kind, axis=axis, validate=validate)
    dtype = compute_dtype(xp, pred)
    if not hasattr(target, "shape") or namespace(target) is not xp:
        target = asarray_like(xp, target, pred)
    tk = target_kind(xp, tuple(pred.shape), target, axis)
    x = xp.moveaxis(pred if pred.dtype == dtype else xp.astype(pred, dtype), axis, -1)
    num_classes = int(x.shape[-1])
    batch_shape = tuple(x.shape[:-1])
    eps = v.check_label_smoothing(label_smoothing, smoothing, num_classes)
    if ignore_index is not None and not isinstance(ignore_index, (int, np.integer)):
        msg = f"`ignore_index` must be an integer or None; got {ignore_index!r}"
        raise TypeError(msg)

    w = None
    if weight is not None:
        w = asarray_like(xp, weight, pred, dtype)
        v.check_class_weight(xp, w, num_classes)
    s = None
    if sample_weight is not None:
        s = asarray_like(xp, sample_weight, pred, dtype)
        v.check_sample_weight(xp, s, batch_shape)

    if validate and kind != "logits":
        # probs / log_probs range checks (raise) and normalisation (warn)
        with np.errstate(all="ignore"):
            if kind == "probs":
                x = v.check_probs(xp, x)
            else:
                from .special import logsumexp

                v.check_log_probs(xp, x, logsumexp(x, axis=-1))
    elif validate:
        v.warn_double_softmax(xp, x, num_classes)

    invalid = None
    t = y = None
    if tk == "indices":
        if validate:
            ti = v.check_index_target(xp, target, num_classes, ignore_index, batch_shape)
        else:
            ti = target if target.dtype == xp.int64 else xp.astype(target, xp.int64)
        ignored = (
            (ti == ignore_index)
            if ignore_index is not None
            else xp.zeros(batch_shape, dtype=xp.bool)
        )
        if not validate:
            invalid = ((ti < 0) | (ti >= num_classes)) & ~ignored
        bad = ignored if invalid is None else ignored | invalid
        t = xp.where(bad, xp.zeros_like(ti), ti)
        mask = ignored
    else:
        y = xp.moveaxis(target if target.dtype == dtype else xp.astype(target, dtype), axis, -1)
        v.check_soft_target(xp, y, validate=validate)
        mask = xp.sum(y, axis=-1) == 0
    if s is not None:
        mask = mask | (s == 0)
    return Prepared(
        xp=xp,
        x=x,
        kind=kind,
        axis=axis,
        num_classes=num_classes,
        batch_shape=batch_shape,
        target_kind=tk,
        t=t,
        y=y,
        mask=mask,
        invalid=invalid,
        s=s,
        weight=w,
        eps=eps,
        smoothing=smoothing,
        ignore_index=ignore_index,
        validate=validate,
    )


def choose_path(p: Prepared, impl: str) -> str:
    """Which implementation computes this call: ``"kernel"``, ``"blocked"`` or ``"array_api"``.

    ``impl="auto"``: NumPy float32/float64 logits of at least ``KERNEL_MIN_ELEMENTS``
    elements go to the fused kernel when numba is installed, else to the row-blocked
    NumPy path (extra memory: one block);
    everything else (other libraries, probabilities, log-probabilities) to the
    generic array-API path.
    """
    v.check_option("impl", impl, IMPLS)
    if impl == "array_api":
        return "array_api"
    eligible = is_numpy(p.xp) and p.kind == "logits" and p.x.dtype in (np.float32, np.float64)
    from . import kernels

    if impl in ("kernel", "blocked") and not eligible:
        msg = (
            f"impl={impl!r} runs on NumPy float32/float64 logits only; got "
            f"{p.xp.__name__} arrays of dtype {p.x.dtype} with kind={p.kind!r}. Use impl='auto'"
        )
        raise ValueError(msg)
    if impl == "kernel":
        if not kernels.available():
            msg = "impl='kernel' needs numba: install the `fast` extra (pip install 'crossentropy[fast]')"
            raise ImportError(msg)
        return "kernel"
    if impl == "blocked":
        return "blocked"
    if not eligible or math.prod(p.batch_shape) == 0:
        return "array_api"
    big = math.prod(p.x.shape) >= KERNEL_MIN_ELEMENTS
    return "kernel" if big and kernels.available() else "blocked"


def use_kernel(p: Prepared, impl: str) -> bool:
    """Whether the fused CPU kernel computes this call's gradient."""
    return choose_path(p, impl) == "kernel"


def kernel_arrays(p: Prepared) -> tuple:
    """(logits (N, C), target (N,) or (N, C), weight, sample_weight) as the kernels take them."""
    n = math.prod(p.batch_shape)
    x2 = np.reshape(p.x, (n, p.num_classes))
    if p.target_kind == "indices":
        tgt = np.where(
            np.reshape(p.mask, (n,)),
            -100 if p.ignore_index is None else p.ignore_index,
            np.reshape(p.t, (n,)),
        )
    else:
        tgt = np.reshape(p.y, (n, p.num_classes))
    w = None if p.weight is None else np.asarray(p.weight, dtype=np.float64)
    s = None if p.s is None else np.reshape(p.s, (n,)).astype(np.float64)
    return x2, tgt, w, s


def row_weights(p: Prepared) -> Array:
    """w_i = s_i · Σ_c weight_c y_ic, 0 on masked rows."""
    xp = p.xp
    mass = p.mass() if p.s is None else p.mass() * p.s
    return xp.where(p.mask, xp.zeros_like(mass), mass)


def terms(p: Prepared, impl: str = "auto") -> tuple[Array, Array]:
    """Per-example (ℓ_i, w_i) of docs/semantics.md §4."""
    xp = p.xp
    path = choose_path(p, impl)
    if path != "array_api":
        from . import kernels

        x2, tgt, w, s = kernel_arrays(p)
        fn = kernels.softmax_terms if path == "kernel" else kernels.blocked_softmax_terms
        with np.errstate(all="ignore"):
            loss, wsum = fn(
                x2,
                tgt,
                weight=w,
                ignore_index=-100 if p.ignore_index is None else p.ignore_index,
                label_smoothing=p.eps,
                smoothing=p.smoothing,
                sample_weight=s,
            )
        loss = np.reshape(loss, p.batch_shape).astype(p.x.dtype, copy=False)
        wsum = np.reshape(wsum, p.batch_shape).astype(p.x.dtype, copy=False)
        if p.invalid is not None:
            loss = np.where(p.invalid, np.nan, loss)
        return loss, wsum
    with np.errstate(all="ignore"):
        if p.target_kind == "indices" and p.eps == 0:
            lq = _gather_log_q(p)
            inner = lq if p.weight is None else xlogy(p.mass(), lq)
        else:
            inner = xp.sum(xlogy(p.dense_coefficients(), p.log_q()), axis=-1)
        mass = p.mass()
        if p.s is not None:
            inner = inner * p.s
            mass = mass * p.s
        zero = xp.zeros_like(inner)
        loss = xp.where(p.mask, zero, -inner)
        wsum = xp.where(p.mask, zero, mass)
        if p.invalid is not None:
            loss = xp.where(p.invalid, xp.full_like(loss, math.nan), loss)
            wsum = xp.where(p.invalid, zero, wsum)
    return loss, wsum


def _gather_log_q(p: Prepared) -> Array:
    """log q_{i, y_i} without building the full log-softmax for logits."""
    xp = p.xp
    picked = xp.take_along_axis(p.x, xp.reshape(p.t, (*p.batch_shape, 1)), axis=-1)[..., 0]
    if p.kind == "logits":
        m = xp.max(p.x, axis=-1)
        m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
        return (picked - m) - xp.log(xp.sum(xp.exp(p.x - m[..., None]), axis=-1))
    if p.kind == "probs":
        return xp.log(picked)
    return picked
