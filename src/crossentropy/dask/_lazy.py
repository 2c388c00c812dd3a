r"""Lazy losses on dask arrays: the core on every block, one finish of the float64 sums.

One ``map_blocks`` runs the core's per-block function — :func:`crossentropy._prepare.prepare`
and :func:`~crossentropy._prepare.terms` (binary: :func:`crossentropy.binary.binary_terms`) —
and stacks the per-example pair ``(ℓ_i, w_i)`` of docs/semantics.md §4 on the class axis
(binary: on a new last axis). A reduction has each block sum its pair from the core's
rescaled weights in float64, kept as a mantissa and a power-of-two exponent (the block's
weight scale folded in), adds the blocks' sums exactly in a tree, and ends in
:meth:`crossentropy._options.ReductionOptions.finish`, run as one more task: so a mean does
not depend on the weights' scale (1e308, 5e-324, 1e-50 in float32), ``empty="raise"`` and the
empty-mean warning happen at compute time, with the core's wording. Out-of-range labels
under ``validate=False`` give NaN, as in the core.

The dtype, axis and target checks run when the graph is built, on the dask array's shape
and (NumPy) dtype, with the core's functions; the value checks run in the blocks, and
their errors name the block and its rows.

>>> import numpy as np, dask.array as da
>>> x = da.from_array(np.zeros((4, 3)), chunks=(2, 3))
>>> float(cross_entropy(x, np.array([0, 1, 7, 2]), validate=False).compute())
nan
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Iterator
from typing import Any, get_args

import dask.array as da
import numpy as np

from .. import _validate as v
from .._array import compute_dtype, namespace, to_numpy
from .._options import IGNORE_INDEX, KINDS, LossOptions, ReductionOptions, log_base
from .._prepare import prepare, terms
from .._types import (
    Array,
    Base,
    DivideBy,
    Empty,
    Focal,
    Impl,
    Kind,
    PerplexityReduction,
    Reduction,
    Smoothing,
)
from ..binary import binary_terms
from ..chain import Terms
from ..kinds import target_kind

_NP = namespace(np.empty(0))  # the array-API NumPy namespace: a dask array's dtype is a NumPy dtype


def _as_dask(x: Any, name: str) -> Any:
    """``x`` (the argument ``name``) as a dask array (NumPy arrays and lists become one chunk).

    ``None`` stays. An empty array becomes one chunk too: Dask cannot rechunk an empty array,
    so ``(0, 0)`` row chunks would not line up with the target's ``(0,)``. Unknown chunk sizes
    (NaN, after boolean indexing) raise: rows could not be lined up nor counted.
    """
    if x is None:
        return x
    if not isinstance(x, da.Array):
        return da.asarray(np.asarray(x))
    if any(math.isnan(c) for cs in x.chunks for c in cs):
        msg = (
            f"`{name}` has unknown chunk sizes (NaN, e.g. after boolean indexing), so its rows "
            f"cannot be lined up; call `{name}.compute_chunk_sizes()` first"
        )
        raise ValueError(msg)
    if x.size == 0 and x.npartitions > 1:
        return da.from_array(np.empty(x.shape, dtype=x.dtype), chunks=-1)
    return x


def _check_lazy_kind(kind: str) -> None:
    if kind == "auto":
        msg = (
            "kind='auto' would need a pass over the whole dask array before the lazy graph exists; pass "
            "kind='logits', 'probs' or 'log_probs' (crossentropy.infer_kind decides on an in-memory sample)"
        )
        raise ValueError(msg)


def _where(block_info: Any, ax: int | None) -> str:
    """'dask block (k,) (elements a–b of the batch axes)' for the block of the first input."""
    if not block_info or 0 not in block_info:
        return "dask block"
    info = block_info[0]
    loc = tuple(c for i, c in enumerate(info["chunk-location"]) if i != ax)
    rng = [
        f"{a}–{b - 1}" if b - a != 1 else f"{a}"
        for i, (a, b) in enumerate(info["array-location"])
        if i != ax
    ]
    return f"dask block {loc} (elements {', '.join(rng)} of the batch axes)"


@contextlib.contextmanager
def _naming_block(block_info: Any, ax: int | None) -> Iterator[None]:
    try:
        yield
    except (ValueError, TypeError) as e:
        raise type(e)(f"{_where(block_info, ax)}: {e}") from None


#: What a block gives: per-example ``(ℓ_i, w_i)`` at the caller's scale, per-example perplexity,
#: or its float64 sums ``(Σℓ, Σw)`` at a known power-of-two scale (see :func:`_scaled_sums`).
_WIDTH = {"terms": 2, "ppl": 1, "sums": 4}


def _scaled_sums(p: Any, loss: np.ndarray, w: np.ndarray, divide_by: DivideBy) -> np.ndarray:
    """``(m_ℓ, e_ℓ, m_w, e_w)`` with ``Σℓ = m_ℓ · 2**e_ℓ`` and ``Σw = m_w · 2**e_w`` (float64).

    ``loss`` and ``w`` are the block's rescaled terms (``terms(..., normalized=True)``); the
    block's scale factors (:meth:`Rows.scales`, powers of two) go into the exponents, so no
    sum over- or underflows, whatever the weights' scale. A zero sum has ``m = 0``.
    """
    out = []
    for a, quantity in ((loss, "loss"), (w, "weight")):
        m, e = np.frexp(np.sum(np.asarray(a, dtype=np.float64)))
        for f in p.rows.scales(quantity, divide_by):
            e = e + int(np.frexp(np.float64(to_numpy(f)))[1]) - 1  # f = 2**k exactly
        out += [m, e]
    return np.asarray(out, dtype=np.float64)


def _combine_sums(a: np.ndarray, axis: Any = None, keepdims: bool = False, *, ax: int) -> Any:
    """Add ``(m, e)`` pairs exactly up to rounding: all at the largest exponent of a non-zero sum.

    ``a`` holds pairs on axis ``ax``; ``axis`` (the others) is reduced, as ``da.reduction`` asks.
    """
    flat = np.moveaxis(a, ax, -1).reshape(-1, 4)
    out = []
    with np.errstate(all="ignore"):
        for m, e in ((flat[:, 0], flat[:, 1]), (flat[:, 2], flat[:, 3])):
            live = m != 0  # NaN and ±inf are live
            top = float(np.max(e[live])) if live.any() else 0.0
            tm, te = np.frexp(np.sum(np.ldexp(m[live], (e[live] - top).astype(np.int64))))
            out += [tm, top + te if tm != 0 else 0.0]
    res = np.asarray(out, dtype=np.float64)
    return _on_axis(res, a.ndim, ax) if keepdims else res


def _on_axis(a: np.ndarray, ndim: int, ax: int) -> np.ndarray:
    """A 1-d ``a`` as an ``ndim``-d array with length 1 on every axis but ``ax``."""
    return a.reshape(tuple(a.shape[0] if i == ax else 1 for i in range(ndim)))


def _terms_block(
    x, t, *s, opts: LossOptions, divide_by: DivideBy, weight, soft: bool, what: str, block_info=None
):  # fmt: skip
    """The core on one block, its output (:data:`_WIDTH`) on the class axis."""
    ax = opts.axis
    with _naming_block(block_info, ax):
        sw = np.squeeze(s[0], axis=ax) if s else None
        p = prepare(x, t if soft else np.squeeze(t, axis=ax), opts, weight=weight, sample_weight=sw)
        if what == "terms":
            return np.stack(terms(p, opts.impl, divide_by), axis=ax)
        loss, w = terms(p, opts.impl, divide_by, normalized=True)
    if what == "sums":
        return _on_axis(_scaled_sums(p, loss, w, divide_by), x.ndim, ax)
    with np.errstate(all="ignore"):  # chain.perplexity(reduction="none")
        per_unit = p.unscale(loss / np.where(w == 0, 1, w), "mean", divide_by)
        ppl = np.where(w == 0, np.nan, np.exp(per_unit)).astype(loss.dtype)
    return np.expand_dims(ppl, ax)


def _lazy_terms(
    pred, target, opts: LossOptions, divide_by: DivideBy, *, weight, sample_weight, what="terms"
) -> tuple:  # fmt: skip
    """``(T, ax, n)``: ``T`` is ``pred``'s shape with :data:`_WIDTH` values on the class axis ``ax``.

    ``what="sums"``: one row per block (length 1 on every batch axis), see :func:`_scaled_sums`.
    """
    _check_lazy_kind(opts.kind)
    pred = _as_dask(pred, "pred")
    ax = v.check_axis(pred, opts.axis)
    dtype = compute_dtype(_NP, pred)
    C = int(pred.shape[ax])
    v.check_label_smoothing(opts.label_smoothing, opts.smoothing, C)
    w = None if weight is None else np.asarray(to_numpy(weight))  # its own precision (rescaled)
    if w is not None:
        v.check_weight_dtype(np, w, "weight")
        v.check_class_weight(np, w, C)
    target = _as_dask(target, "target")
    soft = target_kind(_NP, tuple(pred.shape), target, ax) == "distribution"
    pred = pred.rechunk({ax: -1})  # a row's softmax needs all its classes
    batch = tuple(s for i, s in enumerate(pred.shape) if i != ax)
    batch_chunks = tuple(c for i, c in enumerate(pred.chunks) if i != ax)

    def aligned(a: Any) -> Any:  # batch-shaped → pred's blocks, with a length-1 class axis
        return da.expand_dims(a.rechunk(batch_chunks), ax)

    args = [pred, target.rechunk(pred.chunks) if soft else aligned(target)]
    if sample_weight is not None:
        sw = _as_dask(sample_weight, "sample_weight")
        if tuple(sw.shape) != batch:
            msg = f"`sample_weight` must have one entry per example, shape {batch}; got {tuple(sw.shape)}"
            raise ValueError(msg)
        args.append(aligned(sw))
    out_dtype = np.float64 if what == "sums" else dtype
    chunks = tuple(
        (_WIDTH[what],) if i == ax else ((1,) * len(c) if what == "sums" else c)
        for i, c in enumerate(pred.chunks)
    )
    T = da.map_blocks(
        _terms_block, *args, opts=dataclasses.replace(opts, axis=ax), divide_by=divide_by,
        weight=w, soft=soft, what=what, dtype=out_dtype, chunks=chunks,
        meta=np.empty((0,) * pred.ndim, dtype=out_dtype), token=f"crossentropy-{what}",
    )  # fmt: skip
    return T, ax, math.prod(batch)


def _channel(T: Any, ax: int, k: int) -> Any:
    return T[tuple(k if i == ax else slice(None) for i in range(T.ndim))]


def _finish(
    S: np.ndarray, *, red: ReductionOptions, n: int, host_check: bool, out_dtype
) -> np.ndarray:
    """:meth:`ReductionOptions.finish` on the float64 sums, in ``red.base`` units.

    ``S`` is ``(Σℓ, Σw)``, or ``(m_ℓ, e_ℓ, m_w, e_w)`` with ``Σ = m · 2**e`` (:func:`_scaled_sums`):
    the mean divides the mantissas, then the exponents give the caller's scale back, where
    ``"sum"`` may legitimately overflow (a mean of weights of 1e308 stays the mean).
    """
    ml, el, mw, ew = S if S.shape[0] == 4 else (S[0], 0.0, S[1], 0.0)
    with np.errstate(all="ignore"):
        out = red.finish(np, ml, mw, n=n, host_check=host_check)
        keeps_scale = red.reduction == "sum" or red.normalizer is not None  # Σℓ · 2^el / number
        out = np.ldexp(out, int(el if keeps_scale else el - ew)) / red.scale
        return np.asarray(out, dtype=out_dtype)


def _reduce(
    T: Any, ax: int, red: ReductionOptions, *, n: int, validate: bool, out_dtype: Any = None
) -> Any:
    """``T`` reduced by ``red``: per-example ``ℓ_i``, or a 0-d array finished at compute time.

    ``T`` holds per-example pairs ``(ℓ_i, w_i)`` on axis ``ax``, or (4 values there) the block
    sums of :func:`_scaled_sums`, added exactly in a tree by :func:`_combine_sums`.
    """
    out_dtype = T.dtype if out_dtype is None else out_dtype
    if red.reduction == "none":
        red.check_none(n)
        loss = _channel(T, ax, 0)
        return loss if red.scale == 1.0 else loss / red.scale
    others = tuple(i for i in range(T.ndim) if i != ax)
    if T.shape[ax] == _WIDTH["sums"]:
        pairs = functools.partial(_combine_sums, ax=ax)
        S = da.reduction(
            T, pairs, pairs, axis=others, combine=pairs, dtype=np.float64,
            meta=np.empty((0,), dtype=np.float64), name="crossentropy-sums",
        )  # fmt: skip
    else:
        S = T.sum(axis=others, dtype=np.float64)
    return S.map_blocks(
        _finish, drop_axis=0, dtype=out_dtype, meta=np.empty((), dtype=out_dtype),
        red=red, n=n, host_check=validate, out_dtype=out_dtype,
    )  # fmt: skip


def _reduced_nll(
    pred, target, opts: LossOptions, red: ReductionOptions, *, weight, sample_weight
) -> Any:
    """:func:`crossentropy.chain.reduced_nll`, lazily (a mean or sum from exactly scaled block sums)."""
    what = "terms" if red.reduction == "none" else "sums"
    T, ax, n = _lazy_terms(
        pred, target, opts, red.divide_by, weight=weight, sample_weight=sample_weight, what=what
    )
    out_dtype = compute_dtype(_NP, _as_dask(pred, "pred"))
    return _reduce(T, ax, red, n=n, validate=opts.validate, out_dtype=out_dtype)


def _quiet_exp(b: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(b)


def _exp(a: Any) -> Any:
    """``exp`` per block; a huge argument gives ``+inf`` without a warning, as in the core."""
    return a.map_blocks(_quiet_exp, dtype=a.dtype)


# ----------------------------------------------------------------------------- public wrappers
def loss_terms(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    validate: bool = True,
    impl: Impl = "auto",
) -> Terms:
    r"""Lazy per-example ``(ℓ_i, w_i)`` (:func:`crossentropy.chain.loss_terms` on every block).

    Both are dask arrays with the prediction's shape without the class axis, chunked like it.

    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])), chunks=(2, 2))
    >>> t = loss_terms(x, np.array([0, -100, 1]))
    >>> t.loss.compute()
    array([0.69314718, 0.        , 0.22314355])
    >>> t.weight.compute()
    array([1., 0., 1.])
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    T, ax, _ = _lazy_terms(pred, target, opts, "weight", weight=weight, sample_weight=sample_weight)
    return Terms(_channel(T, ax, 0), _channel(T, ax, 1))


def log_prob(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy primitive ``log q(y_i|x_i)`` per example (0 on ignored rows).

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]), chunks=1)
    >>> log_prob(p, np.array([0, 2]), kind="probs").compute()
    array([-0.35667494, -0.22314355])
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    T, ax, _ = _lazy_terms(pred, target, opts, "weight", weight=None, sample_weight=None)
    return -_channel(T, ax, 0)


def nll(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    reduction: Reduction = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    normalizer: Any = None,
    base: Base = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy negative log-likelihood ``Σ_i ℓ_i`` (``"mean"``: ``Σℓ/Σw``; ``"none"``: ``ℓ_i``).

    Options as :func:`crossentropy.nll`.

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.25, 0.75]]), chunks=1)
    >>> float(nll(p, np.array([0, 1]), kind="probs").compute())     # −log 0.5 − log 0.75
    0.9808292530117262
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base, normalizer)
    return _reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


def log_likelihood(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    reduction: Reduction = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    base: Base = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy log-likelihood ``−Σ_i ℓ_i`` (= ``−nll``).

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.25, 0.75]]), chunks=1)
    >>> float(log_likelihood(p, np.array([0, 1]), kind="probs").compute())
    -0.9808292530117262
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base)
    return -_reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


def likelihood(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    reduction: Reduction = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy likelihood ``exp(−Σ_i ℓ_i)`` (``"mean"``: the geometric mean; it underflows by design).

    >>> import numpy as np, dask.array as da
    >>> half = da.full((1075, 2), 0.5, chunks=(500, 2))
    >>> float(likelihood(half, np.zeros(1075, dtype=int), kind="probs").compute())
    0.0
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by)
    return _exp(-_reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight))


def cross_entropy(
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
    base: Base = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy cross-entropy ``Σ_i ℓ_i / Σ_i w_i`` (sums in float64 over all blocks).

    Options as :func:`crossentropy.cross_entropy`.

    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0], [0.0, 0.0, 0.0]]), chunks=(2, 3))
    >>> r = cross_entropy(x, np.array([0, 2, -100]))
    >>> r
    dask.array<_finish, shape=(), dtype=float64, chunksize=(), chunktype=numpy.ndarray>
    >>> float(r.compute())
    0.17545638058931...
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base, normalizer)
    return _reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


def perplexity(
    pred: Array,
    target: Array,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    reduction: PerplexityReduction = "mean",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    base: Base = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Lazy corpus perplexity ``exp(Σℓ/Σw)`` (``"none"``: ``exp(ℓ_i/w_i)``, NaN on masked rows).

    >>> import numpy as np, dask.array as da
    >>> float(perplexity(da.zeros((4, 10), chunks=(3, 10)), np.arange(4)).compute())
    10.000000000000002
    """
    v.check_option("reduction", reduction, get_args(PerplexityReduction))
    log_base(base)  # checked; perplexity is the same number in every base
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions("mean", empty, divide_by)
    if reduction == "mean":
        return _exp(
            _reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)
        )
    T, ax, _ = _lazy_terms(
        pred, target, opts, divide_by, weight=weight, sample_weight=sample_weight, what="ppl"
    )
    return _channel(T, ax, 0)


# ----------------------------------------------------------------------------- binary
def _binary_block(x, t, *rest, has_w: bool, has_s: bool, opts: dict, block_info=None):
    """:func:`crossentropy.binary.binary_terms` on one block: ``(ℓ, count)`` on a new last axis."""
    rest_ = list(rest)
    w = rest_.pop(0) if has_w else None
    s = np.broadcast_to(rest_.pop(0), x.shape) if has_s else None
    with _naming_block(block_info, None):
        _, loss, count, _ = binary_terms(x, t, weight=w, sample_weight=s, **opts)
    return np.stack([np.asarray(loss), np.asarray(count)], axis=-1)


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
    base: Base = "e",
    validate: bool = True,
) -> Array:
    r"""Lazy binary / multi-label cross-entropy (:func:`crossentropy.binary_cross_entropy` per block).

    Every element is an independent Bernoulli; ``"mean"`` is ``Σℓ / Σcount`` over all blocks
    (float64 sums). The last axis is rechunked to one chunk (``pos_weight`` runs along it);
    ``weight`` is broadcast to the prediction's shape, ``sample_weight`` is a prefix of it.

    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.array([[0.9, 0.2], [0.4, 0.7]]), chunks=1)
    >>> float(binary_cross_entropy(x, np.array([[1, 0], [0, 1]]), kind="probs").compute())  # −mean log(.9,.8,.6,.7)
    0.29900115866918...
    """
    v.check_option("kind", kind, KINDS)
    _check_lazy_kind(kind)
    v.check_ignore_index(ignore_index)
    red = ReductionOptions(reduction, empty, "weight", base)
    pred = _as_dask(pred, "pred")
    shape = tuple(pred.shape)
    dtype = compute_dtype(_NP, pred)
    v.check_label_smoothing(label_smoothing, "uniform", 2)
    target = _as_dask(target, "target")
    if tuple(target.shape) != shape:
        msg = f"`target` must have the prediction's shape {shape}; got {tuple(target.shape)}"
        raise ValueError(msg)
    x = pred.reshape(1) if not shape else pred  # a 0-d prediction is one element
    x = x.rechunk({x.ndim - 1: -1})  # pos_weight runs along the last axis
    args = [x, target.reshape(x.shape).rechunk(x.chunks)]
    if weight is not None:
        args.append(
            da.broadcast_to(_as_dask(weight, "weight"), shape).reshape(x.shape).rechunk(x.chunks)
        )
    if sample_weight is not None:
        sw = _as_dask(sample_weight, "sample_weight")
        k = sw.ndim
        if tuple(sw.shape) != shape[:k]:
            msg = f"`sample_weight` of shape {tuple(sw.shape)} must be a prefix of the prediction's shape {shape}"
            raise ValueError(msg)
        args.append(sw.rechunk(x.chunks[:k]).reshape(tuple(sw.shape) + (1,) * (x.ndim - k)))
    opts: dict[str, Any] = dict(kind=kind, focal_gamma=focal_gamma, focal=focal, validate=validate)
    opts.update(label_smoothing=label_smoothing, ignore_index=ignore_index)
    opts["pos_weight"] = None if pos_weight is None else np.asarray(to_numpy(pos_weight))
    T = da.map_blocks(
        _binary_block,
        *args,
        has_w=weight is not None,
        has_s=sample_weight is not None,
        opts=opts,
        dtype=dtype,
        new_axis=x.ndim,
        chunks=x.chunks + ((2,),),
        meta=np.empty((0,) * (x.ndim + 1), dtype=dtype),
        token="crossentropy-binary-terms",
    )
    out = _reduce(T, x.ndim, red, n=math.prod(shape), validate=validate)
    return out.reshape(shape) if red.reduction == "none" else out
