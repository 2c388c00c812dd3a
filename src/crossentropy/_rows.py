r"""A target reduced to per-row numbers: the only target, mask, weight and smoothing rule.

Every path — the array-API chain, the fused CPU kernels, the PyTorch adapters
(full logits, vocabulary chunks, vocabulary shards on other ranks) and the Dask
blocks — prepares its target here, on any array namespace (docs/semantics.md §2–5).

One smoothing encoding serves both formulas: ``y'_ic = α y_ic + β m_i`` with
``m_i = Σ_c y_ic`` (the row's mass; 1 for an index):

    "uniform":  α = 1 − ε,          β = ε / C
    "others":   β = ε / (C − 1),    α = 1 − ε − β

With class weights the coefficients ``a_ic = weight_c y'_ic`` give

    A_i = Σ_c a_ic      = α u_i + β m_i W      u_i = Σ_c weight_c y_ic,  W = Σ_c weight_c
    D_i = Σ_c a_ic z_ic = α P_i + β m_i Q_i    P_i = Σ_c weight_c y_ic z_ic,  Q_i = Σ_c weight_c z_ic

so that, for logits ``z`` with ``lse_i = logsumexp_c z_ic``, ``ℓ_i = s_i (A_i lse_i − D_i)``;
``P`` and ``Q`` are sums over classes and add up over chunks and ranks.

Masks: a row is *masked* (``active`` false: ``ℓ_i = w_i = 0``, zero gradient) when its
index is ``ignore_index``, its distribution is all zero or its sample weight is 0. With
``validate=False`` an out-of-range index is *bad*: its loss **and** its weight are NaN, so
every reduction that includes it is NaN whatever ``empty=`` says.

>>> import numpy as np
>>> r = prepare_rows(np, np.array([2, -100, 0]), num_classes=3, label_smoothing=0.3)
>>> r.alpha, round(r.beta, 6)
(0.7, 0.1)
>>> r.divisor_weights("weight")
array([1., 0., 1.])
>>> r.coefficients()[0]                     # y' = 0.7 · one-hot + 0.1
array([0.1, 0.1, 0.8])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import _validate as v
from ._array import asarray_like
from ._types import Array, DivideBy, Smoothing

__all__ = ["Rows", "prepare_rows", "smoothing_coefficients"]


def smoothing_coefficients(
    label_smoothing: float, smoothing: Smoothing, num_classes: int
) -> tuple[float, float]:
    """``(α, β)`` with ``y' = α y + β m`` for ``smoothing="uniform"`` or ``"others"``.

    >>> smoothing_coefficients(0.1, "uniform", 4)
    (0.9, 0.025)
    >>> a, b = smoothing_coefficients(0.3, "others", 4)
    >>> round(a, 6), round(b, 6)                 # on = α + β = 0.7, off = β = 0.3 / 3
    (0.6, 0.1)
    """
    eps = v.check_label_smoothing(label_smoothing, smoothing, num_classes)
    if eps == 0:
        return 1.0, 0.0
    if smoothing == "uniform":
        return 1.0 - eps, eps / num_classes
    beta = eps / (num_classes - 1)
    return 1.0 - eps - beta, beta


@dataclass
class Rows:
    """A target as per-row numbers (N rows, flattened batch) plus what ``a_ic`` needs."""

    xp: Any
    index: Array | None  # (N,) int64 global class ids; masked and bad rows → -1
    soft: Array | None  # (N, C_local) distribution, compute dtype
    active: Array  # (N,) bool: not masked and not bad
    bad: Array  # (N,) bool: out-of-range index under validate=False (NaN row)
    s: Array  # (N,) sample weight, 0 on inactive rows
    u: Array  # (N,) Σ_c weight_c y_ic (index: weight[y]); soft shard: local part until completed
    m: Array  # (N,) Σ_c y_ic (index: 1); soft shard: local part until completed
    alpha: float
    beta: float
    class_weight: Array | None  # (C_local,) this shard's class weights, compute dtype
    weight_total: Any  # W = Σ_c weight_c over the GLOBAL vocabulary
    num_classes: int  # C, the global vocabulary
    vocab_start: int = 0
    divide_by: DivideBy = "weight"

    @property
    def A(self) -> Array:
        """``A_i = Σ_c a_ic`` (before the sample weight)."""
        return self.alpha * self.u + self.beta * self.m * self.weight_total

    @property
    def local_classes(self) -> int:
        if self.soft is not None:
            return int(self.soft.shape[-1])
        if self.class_weight is not None:
            return int(self.class_weight.shape[0])
        return self.num_classes

    def divisor_weights(self, divide_by: DivideBy | None = None) -> Array:
        """``w_i`` of docs/semantics.md §4 (``"count"``: ``s_i`` on active rows); NaN on bad rows."""
        xp = self.xp
        by = self.divide_by if divide_by is None else divide_by
        zero = xp.zeros_like(self.s)
        w = xp.where(self.active, self.s if by == "count" else self.s * self.u, zero)
        return xp.where(self.bad, xp.full_like(w, math.nan), w)

    def coefficients(self, dtype: Any = None, *, weighted: bool = True) -> Array:
        """``a_ic = weight_c · (α y_ic + β m_i)`` as an (N, C_local) array (0 on inactive rows).

        ``weighted=False`` gives the smoothed target ``y'_ic`` itself.
        """
        xp = self.xp
        dtype = self.s.dtype if dtype is None else dtype
        c = self.local_classes
        if self.soft is not None:
            y = self.alpha * self.soft + self.beta * self.m[:, None]
        elif self.index is not None:
            ids = xp.arange(self.vocab_start, self.vocab_start + c, device=_device(self.s))
            onehot = xp.astype(ids[None, :] == self.index[:, None], dtype)
            y = self.alpha * onehot + self.beta * xp.astype(self.active, dtype)[:, None]
        if weighted and self.class_weight is not None:
            y = y * self.class_weight
        return xp.where(self.active[:, None], y, xp.zeros_like(y))

    def soft_columns(self, r: Any, v0: int, width: int) -> Array:
        """The distribution of rows ``r`` over local columns ``[v0, v0 + width)`` (a vocabulary tile)."""
        if self.soft is None:
            msg = "an index target has no distribution columns"
            raise TypeError(msg)
        y = self.soft[r]
        return y if y.shape[1] == width else y[:, v0 : v0 + width]

    def finish_soft(self, u: Array, m: Array) -> None:
        """Install the global (all-ranks) ``u`` and ``m`` of soft targets and mask all-zero rows."""
        xp = self.xp
        self.u, self.m = u, m
        self.active = self.active & (m != 0)
        self.s = xp.where(self.active, self.s, xp.zeros_like(self.s))


def _device(x: Array) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def prepare_rows(
    xp: Any,
    target: Array,
    *,
    num_classes: int,
    batch_shape: tuple | None = None,
    local_classes: int | None = None,
    vocab_start: int = 0,
    dtype: Any = None,
    like: Array | None = None,
    weight: Array | None = None,
    sample_weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    divide_by: DivideBy = "weight",
    validate: bool = True,
    soft: bool | None = None,
) -> Rows:
    """Validate a target (indices or distributions, class axis last) and reduce it to :class:`Rows`.

    ``target`` has ``batch_shape`` (indices) or ``(*batch_shape, local_classes)`` (a
    distribution over this shard's classes ``[vocab_start, vocab_start + local_classes)``).
    ``weight`` is the GLOBAL class weight (``num_classes``,). ``soft=None`` decides the
    target kind from dtype and shape (``kinds.target_kind``: never from values).
    ``like`` is an array on the target device; ``dtype`` the compute dtype.
    """
    from .kinds import target_kind

    local = num_classes if local_classes is None else local_classes
    if batch_shape is None:
        batch_shape = tuple(target.shape) if not soft else tuple(target.shape[:-1])
    batch_shape = tuple(batch_shape)
    like = target if like is None else like
    if dtype is None:
        dtype = like.dtype if xp.isdtype(like.dtype, "real floating") else xp.float64
    v.check_option("divide_by", divide_by, ("weight", "count"))
    ignore_index = v.check_ignore_index(ignore_index)
    alpha, beta = smoothing_coefficients(label_smoothing, smoothing, num_classes)
    n = math.prod(batch_shape)
    if soft is None:
        soft = target_kind(xp, (*batch_shape, local), target, len(batch_shape)) == "distribution"

    cw = None
    weight_total: Any = float(num_classes)
    if weight is not None:
        cw_global = asarray_like(xp, weight, like, dtype)
        v.check_class_weight(xp, cw_global, num_classes)
        weight_total = xp.sum(cw_global)
        cw = cw_global[vocab_start : vocab_start + local]
    if sample_weight is not None:
        sw = asarray_like(xp, sample_weight, like, dtype)
        v.check_sample_weight(xp, sw, batch_shape)
        s = xp.reshape(sw, (n,))
    else:
        s = xp.ones((n,), dtype=dtype, device=_device(like))
    no = xp.zeros((n,), dtype=xp.bool, device=_device(like))

    if soft:
        if not xp.isdtype(target.dtype, "real floating"):
            msg = f"`target` distributions must be floating point; got dtype {target.dtype}"
            raise TypeError(msg)
        if local == num_classes:
            v.check_soft_target(xp, target, validate=validate)
        else:
            v.check_soft_shard(xp, target, validate=validate)
        y = xp.reshape(target if target.dtype == dtype else xp.astype(target, dtype), (n, local))
        m = xp.sum(y, axis=-1)
        u = m if cw is None else xp.sum(y * cw, axis=-1)
        rows = Rows(
            xp, None, y, s != 0, no, s, u, m, alpha, beta, cw, weight_total, num_classes,
            vocab_start, divide_by,
        )  # fmt: skip
        if local == num_classes:
            rows.finish_soft(u, m)
        return rows

    if validate:
        t = v.check_index_target(xp, target, num_classes, ignore_index, batch_shape)
    else:
        v.check_index_shape(xp, target, batch_shape)
        t = target if target.dtype == xp.int64 else xp.astype(target, xp.int64)
    t = xp.reshape(t, (n,))
    ignored = (t == ignore_index) if ignore_index is not None else no
    bad = ((t < 0) | (t >= num_classes)) & ~ignored
    active = ~ignored & ~bad & (s != 0)
    index = xp.where(active, t, xp.full_like(t, -1))
    if weight is None:
        u = xp.ones((n,), dtype=dtype, device=_device(like))
    else:
        u = xp.take(cw_global, xp.where(active, t, xp.zeros_like(t)), axis=0)
    s = xp.where(active, s, xp.zeros_like(s))
    m = xp.ones((n,), dtype=dtype, device=_device(like))
    return Rows(
        xp, index, None, active, bad, s, u, m, alpha, beta, cw, weight_total, num_classes,
        vocab_start, divide_by,
    )  # fmt: skip


def binary_target(
    xp: Any,
    target: Array,
    shape: tuple,
    dtype: Any,
    *,
    ignore_index: int | None,
    validate: bool,
) -> tuple[Array, Array]:
    """``(y, ignored)`` of a binary / multi-label target with the prediction's ``shape`` (§8).

    Floating targets are probabilities in [0, 1] (soft labels); integer targets are 0/1
    or ``ignore_index`` (which applies to integer targets only: a floating target with
    ``ignore_index`` set raises); bool targets are 0/1. ``y`` is 0 on ignored elements.

    >>> import numpy as np
    >>> y, ignored = binary_target(np, np.array([1, -1, 0]), (3,), np.float64,
    ...                            ignore_index=-1, validate=True)
    >>> y, ignored
    (array([1., 0., 0.]), array([False,  True, False]))
    """
    ignore_index = v.check_ignore_index(ignore_index)
    if tuple(target.shape) != tuple(shape):
        msg = f"`target` must have the prediction's shape {tuple(shape)}; got {tuple(target.shape)}"
        raise ValueError(msg)
    if target.dtype == xp.bool:
        target = xp.astype(target, dtype)
    if xp.isdtype(target.dtype, "integral"):
        if ignore_index is None:
            ignored = xp.zeros(target.shape, dtype=xp.bool, device=_device(target))
        else:
            ignored = target == ignore_index
        if validate:
            bad = ((target != 0) & (target != 1)) & ~ignored
            if v.any_true(xp, bad):
                hint = "" if ignore_index is None else f" or `ignore_index` ({ignore_index})"
                msg = (
                    f"integer binary `target` must be 0 or 1{hint}; got {v.positions(bad, target)}"
                )
                raise ValueError(msg)
        return xp.astype(xp.where(ignored, xp.zeros_like(target), target), dtype), ignored
    if not xp.isdtype(target.dtype, "real floating"):
        msg = f"binary `target` must be floating (probabilities), integer or bool; got dtype {target.dtype}"
        raise TypeError(msg)
    if ignore_index is not None:
        msg = (
            f"`ignore_index` ({ignore_index}) applies to integer targets; this target is floating. "
            "Mask soft targets with sample_weight=0, or pass integer 0/1 labels"
        )
        raise ValueError(msg)
    y = target if target.dtype == dtype else xp.astype(target, dtype)
    if validate:
        bad = ~xp.isfinite(y) | (y < 0) | (y > 1)
        if v.any_true(xp, bad):
            msg = f"binary `target` must be in [0, 1]; got {v.positions(bad, y)}"
            raise ValueError(msg)
    return y, xp.zeros(y.shape, dtype=xp.bool, device=_device(y))
