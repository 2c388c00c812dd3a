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
``validate=False`` an index that is not a class (out of range in its own width, fractional,
not finite) is *bad*: its loss **and** its weight are NaN, so every reduction that includes
it is NaN whatever ``empty=`` says.

Weight scale (``rescale=True``, the core's choice): the sample weights and the class weights
are each divided by a power of two near their largest value before the cast to the compute
dtype, so a mean ``Σℓ/Σw`` does not depend on their common scale (weights of 1e308 do not
overflow ``Σw``, 1e-320 lose no digits as subnormals, 1e-50 do not vanish in float32).
:meth:`Rows.scales` names the factors that give back the caller's scale (exact: powers of two)
for ``ℓ_i``, ``w_i``, sums and gradients; :func:`unscale` applies them.

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

import numpy as np

from . import _validate as v
from ._array import asarray_like, index_dtype, is_numpy, values_available
from ._options import DIVIDE_BY, IGNORE_INDEX
from ._types import Array, DivideBy, Smoothing

__all__ = ["Rows", "prepare_rows", "smoothing_coefficients", "unscale"]


def smoothing_coefficients(
    label_smoothing: Any, smoothing: Smoothing, num_classes: int
) -> tuple[Any, Any]:
    """``(α, β)`` with ``y' = α y + β m`` for ``smoothing="uniform"`` or ``"others"``.

    Floats, or 0-d arrays when ``label_smoothing`` is traced (JAX under ``jit``).

    >>> smoothing_coefficients(0.1, "uniform", 4)
    (0.9, 0.025)
    >>> a, b = smoothing_coefficients(0.3, "others", 4)
    >>> round(a, 6), round(b, 6)                 # on = α + β = 0.7, off = β = 0.3 / 3
    (0.6, 0.1)
    """
    eps = v.check_label_smoothing(label_smoothing, smoothing, num_classes)
    if isinstance(eps, float) and eps == 0:
        return 1.0, 0.0
    if smoothing == "uniform":
        return 1.0 - eps, eps / num_classes
    beta = eps / (num_classes - 1)
    return 1.0 - eps - beta, beta


@dataclass
class Rows:
    """A target as per-row numbers (N rows, flattened batch) plus what ``a_ic`` needs."""

    xp: Any
    index: Array | None  # (N,) global class ids (_array.index_dtype); masked and bad rows → -1
    soft: Array | None  # (N, C_local) distribution, compute dtype
    active: Array  # (N,) bool: not masked and not bad
    bad: Array  # (N,) bool: out-of-range index under validate=False (NaN row)
    s: Array  # (N,) sample weight, 0 on inactive rows
    u: Array  # (N,) Σ_c weight_c y_ic (index: weight[y]); soft shard: local part until completed
    m: Array  # (N,) Σ_c y_ic (index: 1); soft shard: local part until completed
    alpha: Any  # a float, or a 0-d array when the label smoothing is traced
    beta: Any
    class_weight: Array | None  # (C_local,) this shard's class weights, compute dtype
    weight_total: Any  # W = Σ_c weight_c over the GLOBAL vocabulary
    num_classes: int  # C, the global vocabulary
    vocab_start: int = 0
    divide_by: DivideBy = "weight"
    sample_scale: Array | None = None  # true sample weights = s · sample_scale (a power of two)
    class_scale: Array | None = None  # true class weights = class_weight · class_scale

    def scales(self, quantity: str, divide_by: DivideBy | None = None) -> tuple[Array, ...]:
        """The factors that restore a quantity computed from these rows to the caller's scale.

        ``"loss"``: ``ℓ_i``, ``Σℓ`` and the gradient of a sum; ``"weight"``: ``w_i`` and ``Σw``
        of ``divide_by``; ``"mean"``: ``Σℓ/Σw`` (nothing for ``divide_by="weight"``, where the
        scale cancels; the class-weight scale for ``"count"``). Empty without rescaled weights.
        """
        by = self.divide_by if divide_by is None else divide_by
        both = (self.sample_scale, self.class_scale)
        pick = {
            "loss": both,
            "weight": both if by == "weight" else (self.sample_scale,),
            "mean": () if by == "weight" else (self.class_scale,),
        }[quantity]
        return tuple(f for f in pick if f is not None)

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
        sw = self.s if by == "count" else self.s * self.u
        if is_numpy(xp):  # the same values; Python scalars keep the dtype (NEP 50)
            return np.where(self.bad, math.nan, np.where(self.active, sw, 0.0))
        w = xp.where(self.active, sw, xp.zeros_like(self.s))
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


def no_smoothing(beta: Any) -> bool:
    """Whether ``β`` is known to be 0 (a traced ``β`` may not be: the general path serves it)."""
    return isinstance(beta, float) and beta == 0


def _device(x: Array) -> Any:
    from ._array import device  # array_api_compat.device without its caches (torch.compile)

    return device(x)


def unscale(xp: Any, a: Array, factors: tuple[Array, ...]) -> Array:
    """``a · Π factors`` in the factors' (wider) dtype, returned in ``a``'s dtype.

    Two factors are applied as their product when it is a finite non-zero number, otherwise
    one after the other, so that 0 stays 0 and no intermediate overflows needlessly.

    >>> import numpy as np
    >>> x, f = np.float32(2.0**100), np.float64(2.0**-200)    # f alone is 0 in float32
    >>> float(x * np.float32(f)), float(unscale(np, x, (f,))) == 2.0**-100
    (0.0, True)
    """
    if not factors:
        return a
    wide = factors[0].dtype
    for f in factors[1:]:
        wide = xp.result_type(wide, f.dtype)
    b = a if a.dtype == wide else xp.astype(a, wide)
    fs = [f if f.dtype == wide else xp.astype(f, wide) for f in factors]
    with np.errstate(all="ignore"):
        if len(fs) == 1:
            out = b * fs[0]
        else:
            prod = fs[0] * fs[1]
            ok = xp.isfinite(prod) & (prod > 0)
            out = xp.where(ok, b * prod, (b * fs[0]) * fs[1])
    return out if out.dtype == a.dtype else xp.astype(out, a.dtype)


def _max_exponent(xp: Any, dtype: Any) -> int:
    """The largest ``k`` with ``2**k`` finite in ``dtype`` (1023 for float64, 127 for float32)."""
    return math.frexp(float(xp.finfo(dtype).max))[1] - 1


def _wide_weights(xp: Any, value: Any, like: Array, dtype: Any, *, name: str, check: Any) -> Array:
    """Weights in their own precision (float64 for integer or float64 input), checked by ``check``

    (the shape always, the values under ``validate`` when they can be read).
    """
    a = asarray_like(xp, value, like, name=name)
    v.check_weight_dtype(xp, a, name)
    if xp.isdtype(a.dtype, "real floating"):
        wide_dtype = xp.result_type(a.dtype, dtype)
    else:
        wide_dtype = xp.float64
    wide = a if a.dtype == wide_dtype else xp.astype(a, wide_dtype)
    check(wide)
    return wide


def _finite_abs(xp: Any, a: Array) -> Array:
    """``|a|`` with non-finite entries as 0."""
    mag = xp.abs(a)
    return xp.where(xp.isfinite(mag), mag, xp.zeros_like(mag))


def _to_compute(
    xp: Any,
    wide: Array,
    dtype: Any,
    *,
    name: str,
    validate: bool,
    rescale: bool,
    top: Array | None = None,
) -> tuple[Array, Array | None]:
    """``(weights in the compute dtype, their scale or None)``.

    With ``rescale`` the weights are divided by ``2**floor(log2 M)`` (exact) before the cast,
    ``M`` the largest finite weight, or ``top`` when given (the largest class weight a target
    actually reads). A non-zero weight never becomes 0: one that falls below the
    compute dtype's normal range is raised to it (a negligible change that keeps its row
    unmasked); an unused one that would overflow is capped. Without ``rescale`` a weight the
    cast would lose raises (under ``validate``).
    """
    if not rescale or math.prod(wide.shape) == 0:
        out = wide if wide.dtype == dtype else xp.astype(wide, dtype)
        if validate and not rescale and values_available(wide):
            v.check_representable(xp, wide, out, name)
        return out, None
    with np.errstate(all="ignore"):
        if top is None:
            top = xp.max(xp.reshape(_finite_abs(xp, wide), (-1,)))
        k = xp.floor(xp.log2(xp.where(top > 0, top, xp.ones_like(top))))
        scale = 2.0 ** xp.clip(k, None, _max_exponent(xp, wide.dtype))
        scaled = wide / scale
        cap = float(xp.finfo(dtype).max) / (4 * max(1, math.prod(wide.shape)))
        scaled = xp.where(xp.isfinite(wide), xp.clip(scaled, -cap, cap), scaled)
        out = xp.astype(scaled, dtype)
        tiny = xp.full_like(out, float(xp.finfo(dtype).smallest_normal))
        lost = (out == 0) & (wide != 0)
        out = xp.where(lost, xp.where(wide > 0, tiny, -tiny), out)
    return out, scale


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
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    divide_by: DivideBy = "weight",
    validate: bool = True,
    soft: bool | None = None,
    rescale: bool = False,
) -> Rows:
    """Validate a target (indices or distributions, class axis last) and reduce it to :class:`Rows`.

    ``target`` has ``batch_shape`` (indices) or ``(*batch_shape, local_classes)`` (a
    distribution over this shard's classes ``[vocab_start, vocab_start + local_classes)``).
    ``weight`` is the GLOBAL class weight (``num_classes``,). ``soft=None`` decides the
    target kind from dtype and shape (``kinds.target_kind``: never from values).
    ``like`` is an array on the target device; ``dtype`` the compute dtype. ``validate`` reads
    the values only when they are there (``_array.values_available``: not under JAX tracing nor
    for lazy Dask arrays), otherwise a label that is not a class is a NaN row. ``rescale``
    divides the sample weights and the class weights each by a power of two near their
    largest (used) value (:attr:`Rows.sample_scale`, :attr:`Rows.class_scale`); the caller
    restores sums with :meth:`Rows.scales`. Without it a weight the compute dtype cannot
    hold raises (under ``validate``).
    """
    from .kinds import target_kind

    local = num_classes if local_classes is None else local_classes
    if batch_shape is None:
        batch_shape = tuple(target.shape) if not soft else tuple(target.shape[:-1])
    batch_shape = tuple(batch_shape)
    like = target if like is None else like
    validate = validate and values_available(target, like, weight, sample_weight)
    if dtype is None:
        dtype = like.dtype if xp.isdtype(like.dtype, "real floating") else xp.float64
    v.check_option("divide_by", divide_by, DIVIDE_BY)
    ignore_index = v.check_ignore_index(ignore_index)
    alpha, beta = smoothing_coefficients(label_smoothing, smoothing, num_classes)
    n = math.prod(batch_shape)
    if soft is None:
        soft = target_kind(xp, (*batch_shape, local), target, len(batch_shape)) == "distribution"
    cast = {"dtype": dtype, "validate": validate, "rescale": rescale}
    if not soft and weight is None and sample_weight is None and _plain_numpy_labels(xp, target):
        return _numpy_index_rows(
            xp, target, num_classes=num_classes, batch_shape=batch_shape, ignore_index=ignore_index,
            validate=validate, dtype=dtype, alpha=alpha, beta=beta, vocab_start=vocab_start,
            divide_by=divide_by,
        )  # fmt: skip

    cw_wide = None
    if weight is not None:
        cw_wide = _wide_weights(
            xp, weight, like, dtype, name="weight",
            check=lambda a: v.check_class_weight(xp, a, num_classes, values=validate),
        )  # fmt: skip
    sample_scale = None
    if sample_weight is not None:
        sw = _wide_weights(
            xp, sample_weight, like, dtype, name="sample_weight",
            check=lambda a: v.check_sample_weight(xp, a, batch_shape, values=validate),
        )  # fmt: skip
        sw, sample_scale = _to_compute(xp, sw, name="sample_weight", **cast)
        s = xp.reshape(sw, (n,))
    else:
        s = xp.ones((n,), dtype=dtype, device=_device(like))
    no = xp.zeros((n,), dtype=xp.bool, device=_device(like))

    def class_weights(top: Array | None) -> tuple[Array, Any, Array, Array | None]:
        """(global weights, W = their sum, this shard's weights, scale) in the compute dtype."""
        assert cw_wide is not None
        if not no_smoothing(beta) or local != num_classes or n == 0:
            top = None  # smoothing reads every class; a shard cannot see the others
        cwg, scale = _to_compute(xp, cw_wide, name="weight", top=top, **cast)
        return cwg, xp.sum(cwg), cwg[vocab_start : vocab_start + local], scale

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
        cw, weight_total, class_scale = None, float(num_classes), None
        if cw_wide is not None:
            top = None
            if rescale and n and local == num_classes:  # the classes the rows put mass on
                read = xp.any((y != 0) & (s != 0)[:, None], axis=0)
                mag = _finite_abs(xp, cw_wide)
                top = xp.max(xp.where(read, mag, xp.zeros_like(mag)))
            _, weight_total, cw, class_scale = class_weights(top)
        u = m if cw is None else xp.sum(y * cw, axis=-1)
        rows = Rows(
            xp, None, y, s != 0, no, s, u, m, alpha, beta, cw, weight_total, num_classes,
            vocab_start, divide_by, sample_scale, class_scale,
        )  # fmt: skip
        if local == num_classes:
            rows.finish_soft(u, m)
            _check_weight_sum(xp, rows, validate and not rescale and cw_wide is not None)
        return rows

    if validate:  # raises for any label that is not a class nor ignore_index
        ignored, bad = v.check_index_target(xp, target, num_classes, ignore_index, batch_shape)
    else:  # such a label is a bad row (NaN), decided in its own dtype: it never wraps nor rounds
        v.check_index_shape(xp, target, batch_shape)
        ignored, bad = v.index_masks(xp, target, num_classes, ignore_index)
    t = xp.where(ignored | bad, xp.zeros_like(target), target)  # every value a class now
    ids = index_dtype(xp)  # the namespace's own (int32 on JAX without x64): no warning
    t = t if t.dtype == ids else xp.astype(t, ids)
    t, ignored, bad = (xp.reshape(a, (n,)) for a in (t, ignored, bad))
    active = ~ignored & ~bad & (s != 0)
    index = xp.where(active, t, xp.full_like(t, -1))
    gather = xp.where(active, t, xp.zeros_like(t))
    cw, weight_total, class_scale = None, float(num_classes), None
    if cw_wide is None:
        u = xp.ones((n,), dtype=dtype, device=_device(like))
    else:
        top = None
        if rescale and n:  # the largest weight of a class the active rows name
            read = xp.take(_finite_abs(xp, cw_wide), gather, axis=0)
            top = xp.max(xp.where(active, read, xp.zeros_like(read)))
        cw_global, weight_total, cw, class_scale = class_weights(top)
        u = xp.take(cw_global, gather, axis=0)
    s = xp.where(active, s, xp.zeros_like(s))
    m = xp.ones((n,), dtype=dtype, device=_device(like))
    rows = Rows(
        xp, index, None, active, bad, s, u, m, alpha, beta, cw, weight_total, num_classes,
        vocab_start, divide_by, sample_scale, class_scale,
    )  # fmt: skip
    weighted = cw_wide is not None or sample_weight is not None
    _check_weight_sum(xp, rows, validate and not rescale and weighted)
    return rows


def _plain_numpy_labels(xp: Any, target: Any) -> bool:
    """Integer NumPy class indices (the common case :func:`_numpy_index_rows` serves)."""
    return is_numpy(xp) and type(target) is np.ndarray and target.dtype.kind in "iu"


def _numpy_index_rows(
    xp: Any,
    target: np.ndarray,
    *,
    num_classes: int,
    batch_shape: tuple,
    ignore_index: int | None,
    validate: bool,
    dtype: Any,
    alpha: Any,
    beta: Any,
    vocab_start: int,
    divide_by: DivideBy,
) -> Rows:
    """The index branch of :func:`prepare_rows` for integer NumPy labels without any weight.

    The same checks (``_validate``) and bit for bit the same :class:`Rows`, with fewer passes:
    labels all in ``[0, C)`` (one min and one max) where ``ignore_index`` is not a class have
    no ignored and no bad row, so :func:`~crossentropy._validate.index_masks` is not needed.
    """
    n = math.prod(batch_shape)
    v.check_index_shape(xp, target, batch_shape)
    in_range = (
        n > 0
        and (ignore_index is None or not 0 <= ignore_index < num_classes)
        and int(target.min()) >= 0
        and int(target.max()) < num_classes
    )
    flat = target.reshape(n)
    if in_range:
        index = flat.astype(np.int64)  # a copy: Rows never aliases the caller's labels
        active, bad = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    else:
        if validate:  # raises for any label that is not a class nor ignore_index
            ignored, bad = v.check_index_target(xp, target, num_classes, ignore_index, batch_shape)
        else:
            ignored, bad = v.index_masks(xp, target, num_classes, ignore_index)
        bad = bad.reshape(n)
        off = ignored.reshape(n) | bad
        t = np.where(off, np.zeros_like(flat), flat).astype(np.int64, copy=False)
        index = np.where(off, np.int64(-1), t)
        active = ~off
    s = active.astype(dtype)
    one = np.ones(n, dtype=dtype)
    return Rows(
        xp, index, None, active, bad, s, one, one.copy(), alpha, beta, None, float(num_classes),
        num_classes, vocab_start, divide_by, None, None,
    )  # fmt: skip


def _check_weight_sum(xp: Any, rows: Rows, check: bool) -> None:
    """Without rescaling, ``Σ w_i`` must be finite in the compute dtype (else the mean is 0 or NaN)."""
    if check and not bool(xp.isfinite(xp.sum(rows.s * rows.u))):
        msg = (
            "`sample_weight` and `weight` give row weights whose sum overflows the compute dtype "
            f"{rows.s.dtype}; a weighted mean does not depend on the weights' common scale: "
            "divide them by their maximum"
        )
        raise ValueError(msg)


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
    validate = validate and values_available(target)
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
