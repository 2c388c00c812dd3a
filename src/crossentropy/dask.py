r"""Dask adapters: the chain on dask arrays (lazy in, lazy out) and exact evaluation of many files.

Install with the ``dask`` extra (``pip install 'crossentropy[dask]'``). The core never
imports this module.

**Lazy losses.** :func:`cross_entropy`, :func:`nll`, :func:`log_likelihood`,
:func:`likelihood`, :func:`perplexity`, :func:`log_prob` and :func:`loss_terms` take
dask arrays (NumPy arrays are wrapped) and return dask arrays: the per-example
values for ``reduction="none"`` and a 0-d array otherwise; nothing is computed until
``.compute()``. Each block goes through the core's :func:`crossentropy.chain.loss_terms`,
which gives the per-example ``ℓ_i`` and ``w_i`` of docs/semantics.md §4; the
reductions are

    sum  = Σ_blocks Σ_i ℓ_i                 mean = Σ_blocks Σ_i ℓ_i / Σ_blocks Σ_i w_i

summed in float64 (never a mean of block means, which is wrong for uneven blocks)
and returned in the compute dtype. The class axis is rechunked to a single chunk
(a row's softmax needs all its classes); every other axis keeps its chunks. Masked
rows stay in place (no data-dependent shapes). Validation runs per block when the
graph is computed, and its errors name the block and its rows; the double-softmax
warning therefore looks at one block at a time. ``kind="auto"`` would need a pass
over the data before the graph exists and raises: pass ``kind=`` explicitly.
``empty="raise"`` raises, and ``empty="nan"`` warns, at compute time.

**Evaluation.** :func:`evaluate` runs an :class:`~crossentropy.Accumulator` on every
partition of the unit axis (the first non-class axis: examples, or sequences),
with ``row_offset`` = the partition's first unit, and merges the partial states
(:meth:`~crossentropy.Accumulator.merge`, ``_TREE_WIDTH`` at a time) in a tree. Between
tasks a state travels pickled — the same float64 sums as its
:meth:`~crossentropy.Accumulator.to_state` dictionary, without the conversion to Python
lists, which costs more than the update itself for small partitions. Every
number is a sum, so the :class:`~crossentropy.Report` equals the in-memory
:func:`crossentropy.evaluate` (to rounding, ≤ 1e-12 relative in float64) and the
bootstrap intervals are the same for the same seed whatever the chunks. A temperature
fit is a few more passes, one per Newton step (sums of
:func:`crossentropy.temperature.temperature_sums`). :func:`evaluate_files` does the
same over many files (one task per file, read in batches), with the command line's
validation, counts and error messages: ``crossentropy evaluate 'data/*.parquet'
--engine dask``.

Whatever scheduler is active runs the graphs: the threaded default, or a
``distributed.Client``. Partial results are pure functions of their partition, so a
task recomputed after a lost worker gives the same state: nothing is counted twice.

>>> import numpy as np, dask.array as da
>>> import crossentropy as ce, crossentropy.dask as ced
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(1000, 5)), rng.integers(0, 5, 1000)
>>> lazy = ced.cross_entropy(da.from_array(x, chunks=(300, 5)), da.from_array(y, chunks=300))
>>> lazy.shape, lazy.dtype
((), dtype('float64'))
>>> bool(np.isclose(lazy.compute(), ce.cross_entropy(x, y), rtol=1e-12))
True
"""

from __future__ import annotations

import argparse
import dataclasses
import glob as _glob
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    msg = "crossentropy.dask needs Dask: pip install 'crossentropy[dask]'"
    raise ImportError(msg) from exc

from . import _validate as _v
from ._prepare import prepare as _prepare
from ._prepare import terms as _core_terms
from .chain import DIVIDE_BY, EMPTY, REDUCTIONS, Terms, _log_base

__all__ = [
    "loss_terms",
    "log_prob",
    "binary_cross_entropy",
    "nll",
    "log_likelihood",
    "likelihood",
    "cross_entropy",
    "perplexity",
    "evaluate",
    "evaluate_files",
    "client_for",
]

_TREE_WIDTH = 8  # states merged per tree node


# ============================================================================ lazy losses
def _as_dask(x: Any, name: str) -> Any:
    """``x`` as a dask array (NumPy arrays and lists become one chunk)."""
    if x is None or isinstance(x, da.Array):
        return x
    return da.asarray(np.asarray(x))


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """max(float32, dtype) as in docs/semantics.md §6; raises like the core for other dtypes."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.dtype(np.float32) if dtype.itemsize < 4 else dtype
    if dtype.kind == "c":
        msg = f"`pred` must be real floating point, got complex dtype {dtype}"
        raise TypeError(msg)
    msg = f"`pred` must be a floating-point array of scores, got dtype {dtype}; cast it first, e.g. `pred.astype(float)`"
    raise TypeError(msg)


def _norm_axis(ndim: int, axis: int) -> int:
    if (
        isinstance(axis, bool)
        or not isinstance(axis, (int, np.integer))
        or not -ndim <= axis < max(ndim, 1)
    ):
        msg = f"`axis`={axis!r} is out of range for a prediction with {ndim} dimensions; use an axis in [-{ndim}, {ndim})"
        raise ValueError(msg)
    return int(axis) % ndim


def _batch_aligned(a: Any, name: str, pred: Any, ax: int) -> Any:
    """A batch-shaped dask array (target indices, sample weight) chunked like ``pred`` without ``ax``,
    with a length-1 class axis inserted at ``ax`` so that blocks line up with ``pred``'s."""
    batch = tuple(s for i, s in enumerate(pred.shape) if i != ax)
    if tuple(a.shape) != batch:
        msg = (
            f"`{name}` has shape {tuple(a.shape)} but must have the prediction's shape without the class "
            f"axis {ax}, {batch}"
        )
        raise ValueError(msg)
    chunks = tuple(c for i, c in enumerate(pred.chunks) if i != ax)
    return da.expand_dims(a.rechunk(chunks), ax)


def _lazy_terms(
    pred,
    target,
    *,
    kind,
    axis,
    sample_weight,
    weight,
    ignore_index,
    label_smoothing,
    smoothing,
    validate,
    impl,
    what: str = "terms",
):
    """A dask array shaped like ``pred`` whose class axis holds (ℓ_i, w_i, n_i) per example.

    ``n_i`` is ``s_i`` on unmasked rows (the ``divide_by="count"`` divisor)."""
    if kind == "auto":
        msg = (
            "kind='auto' would need a pass over the whole dask array before the lazy graph exists; pass "
            "kind='logits', 'probs' or 'log_probs' (crossentropy.infer_kind decides on an in-memory sample)"
        )
        raise ValueError(msg)
    _v.check_option("kind", kind, ("logits", "probs", "log_probs"))
    pred = _as_dask(pred, "pred")
    if pred.ndim == 0:
        msg = "`pred` must have a class axis; got a 0-d array"
        raise ValueError(msg)
    ax = _norm_axis(pred.ndim, axis)
    dtype = _compute_dtype(pred.dtype)
    pred = pred.rechunk({ax: -1})
    target = _as_dask(target, "target")
    if target.dtype == np.bool_:
        msg = (
            "`target` has dtype bool; pass class indices as integers (e.g. `target.astype(int)`) "
            "or a floating distribution with the prediction's shape"
        )
        raise TypeError(msg)
    if target.ndim == pred.ndim:
        if tuple(target.shape) != tuple(pred.shape) or target.dtype.kind != "f":
            msg = (
                f"`target` of shape {tuple(target.shape)} and dtype {target.dtype}: a distribution must be "
                f"floating with the prediction's shape {tuple(pred.shape)}; class indices must have the "
                "shape without the class axis"
            )
            raise (TypeError if target.dtype.kind in "iu" else ValueError)(msg)
        tgt, soft = target.rechunk(pred.chunks), True
    else:
        tgt, soft = _batch_aligned(target, "target", pred, ax), False
    sw = (
        None
        if sample_weight is None
        else _batch_aligned(_as_dask(sample_weight, "sample_weight"), "sample_weight", pred, ax)
    )
    w = None if weight is None else np.asarray(weight)
    opts = dict(
        kind=kind,
        axis=ax,
        weight=w,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
    )
    chunks = tuple((3,) if i == ax else c for i, c in enumerate(pred.chunks))
    args = [pred, tgt] + ([sw] if sw is not None else [])
    return da.map_blocks(
        _terms_block,
        *args,
        soft=soft,
        has_sw=sw is not None,
        opts=opts,
        impl=impl,
        dtype=dtype,
        chunks=chunks,
        meta=np.empty((0,) * pred.ndim, dtype=dtype),
        name=f"crossentropy-{what}",
    )


def _where(block_info: Any, ax: int) -> str:
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


def _terms_block(x, t, *rest, soft: bool, has_sw: bool, opts: dict, impl: str, block_info=None):
    ax = opts["axis"]
    if not soft:
        t = np.squeeze(t, axis=ax)
    s = np.squeeze(rest[0], axis=ax) if has_sw else None
    try:
        p = _prepare(x, t, sample_weight=s, **opts)
        loss, wsum = _core_terms(p, impl)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{_where(block_info, ax)}: {e}") from None
    ones = np.ones(p.batch_shape, dtype=loss.dtype) if p.s is None else p.s
    count = np.where(p.mask, 0, ones).astype(loss.dtype)
    return np.stack([np.asarray(loss), np.asarray(wsum), count], axis=ax)


def _channel(terms: Any, ax: int, k: int) -> Any:
    return terms[tuple(k if i == ax else slice(None) for i in range(terms.ndim))]


def loss_terms(
    pred: Any,
    target: Any,
    *,
    kind: str = "logits",
    axis: int = -1,
    sample_weight: Any = None,
    weight: Any = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    validate: bool = True,
    impl: str = "auto",
) -> Terms:
    r"""Lazy per-example ``(ℓ_i, w_i)`` (:func:`crossentropy.chain.loss_terms` on every block).

    ``ℓ_i = −s_i Σ_c weight_c y'_ic log q_ic`` and ``w_i = s_i Σ_c weight_c y_ic``; both are
    dask arrays with the prediction's shape without the class axis, chunked like it.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])), chunks=(2, 2))
    >>> t = loss_terms(x, np.array([0, -100, 1]))
    >>> t.loss.compute()
    array([0.69314718, 0.        , 0.22314355])
    >>> t.weight.compute()
    array([1., 0., 1.])
    """
    pred = _as_dask(pred, "pred")
    T = _lazy_terms(
        pred,
        target,
        kind=kind,
        axis=axis,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
        impl=impl,
    )
    ax = _norm_axis(pred.ndim, axis)
    return Terms(_channel(T, ax, 0), _channel(T, ax, 1))


def _finish(
    S: np.ndarray,
    *,
    reduction: str,
    empty: str,
    divide_by: str,
    validate: bool,
    out_dtype,
    n: int,
    scale: float,
    post: str,
) -> np.ndarray:
    total = float(S[0])
    den = float(S[1] if divide_by == "weight" else S[2])
    if den == 0 and (empty == "raise" or validate):
        what = (
            "the batch is empty (N = 0)"
            if n == 0
            else f"all {n} examples are masked (ignored, all-zero targets or zero weight)"
        )
        if empty == "raise":
            msg = f"cannot reduce: {what} (empty='raise'); use empty='nan' or 'zero' to get a value"
            raise ValueError(msg)
        if empty == "nan" and reduction == "mean":
            _v.warn(
                _v.EmptyReductionWarning,
                f"mean over no example: {what}; returning NaN as PyTorch does "
                "(empty='zero' returns 0; the gradient is zero either way)",
            )
    if reduction == "sum":
        out = total
    elif den == 0:
        out = math.nan if empty == "nan" else 0.0
    else:
        out = total / den
    with np.errstate(all="ignore"):
        v = np.asarray(out, dtype=np.float64)
        if post == "neg":
            v = -v
        if scale != 1.0:
            v = v / scale
        if post == "exp":
            v = np.exp(v)
        elif post == "exp_neg":
            v = np.exp(-v)
        return np.asarray(v, dtype=out_dtype)


def _chain(
    pred, target, *, reduction, empty, divide_by, base, post, allowed=REDUCTIONS, **opts
) -> Any:
    _v.check_option("reduction", reduction, allowed)
    _v.check_option("empty", empty, EMPTY)
    _v.check_option("divide_by", divide_by, DIVIDE_BY)
    scale = _log_base(base)
    pred = _as_dask(pred, "pred")
    T = _lazy_terms(pred, target, what=f"{post or 'nll'}-{reduction}", **opts)
    ax = _norm_axis(pred.ndim, opts["axis"])
    dtype = T.dtype
    if reduction == "none":
        if empty == "raise" and math.prod(T.shape) == 0:
            msg = "empty batch (no example) with empty='raise'"
            raise ValueError(msg)
        loss = _channel(T, ax, 0)
        with np.errstate(all="ignore"):
            if post == "ppl":
                w = _channel(T, ax, 1)
                return da.where(w == 0, np.nan, da.exp(loss / da.where(w == 0, 1, w))).astype(dtype)
            v = -loss if post in ("neg", "exp_neg") else loss
            v = v / scale if scale != 1.0 else v
            return da.exp(v).astype(dtype) if post == "exp_neg" else v
    batch_axes = tuple(i for i in range(T.ndim) if i != ax)
    S = T.sum(axis=batch_axes, dtype=np.float64)
    n = math.prod(s for i, s in enumerate(pred.shape) if i != ax)
    fin = dict(
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        validate=opts["validate"],
        out_dtype=dtype,
        n=n,
        scale=scale,
        post={"ppl": "exp"}.get(post, post),
    )
    return S.map_blocks(_finish, drop_axis=0, dtype=dtype, meta=np.empty((), dtype=dtype), **fin)


def _doc_opts(
    kind="logits",
    axis=-1,
    sample_weight=None,
    weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
    validate=True,
    impl="auto",
) -> dict:
    return dict(
        kind=kind,
        axis=axis,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
        impl=impl,
    )


def nll(
    pred: Any,
    target: Any,
    *,
    reduction: str = "sum",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    **options: Any,
) -> Any:
    r"""Lazy negative log-likelihood ``Σ_i ℓ_i`` (``"mean"``: ``Σℓ/Σw``; ``"none"``: ``ℓ_i``).

    Options as :func:`crossentropy.nll` (``kind``, ``axis``, ``sample_weight``, ``weight``,
    ``ignore_index``, ``label_smoothing``, ``smoothing``, ``validate``, ``impl``).

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.25, 0.75]]), chunks=1)
    >>> float(nll(p, np.array([0, 1]), kind="probs").compute())     # −log 0.5 − log 0.75
    0.9808292530117262
    """
    return _chain(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        base=base,
        post="",
        **_doc_opts(**options),
    )


def cross_entropy(
    pred: Any,
    target: Any,
    *,
    reduction: str = "mean",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    **options: Any,
) -> Any:
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
    return _chain(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        base=base,
        post="",
        **_doc_opts(**options),
    )


def log_likelihood(
    pred: Any,
    target: Any,
    *,
    reduction: str = "sum",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    **options: Any,
) -> Any:
    r"""Lazy log-likelihood ``−Σ_i ℓ_i`` (= ``−nll``).

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.5, 0.5], [0.25, 0.75]]), chunks=1)
    >>> float(log_likelihood(p, np.array([0, 1]), kind="probs").compute())
    -0.9808292530117262
    """
    return _chain(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        base=base,
        post="neg",
        **_doc_opts(**options),
    )


def likelihood(
    pred: Any,
    target: Any,
    *,
    reduction: str = "sum",
    empty: str = "nan",
    divide_by: str = "weight",
    **options: Any,
) -> Any:
    r"""Lazy likelihood ``exp(−Σ_i ℓ_i)`` (``"mean"``: the geometric mean; it underflows by design).

    >>> import numpy as np, dask.array as da
    >>> half = da.full((1075, 2), 0.5, chunks=(500, 2))
    >>> float(likelihood(half, np.zeros(1075, dtype=int), kind="probs").compute())
    0.0
    """
    return _chain(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        base="e",
        post="exp_neg",
        **_doc_opts(**options),
    )


def perplexity(
    pred: Any,
    target: Any,
    *,
    reduction: str = "mean",
    empty: str = "nan",
    divide_by: str = "weight",
    **options: Any,
) -> Any:
    r"""Lazy corpus perplexity ``exp(Σℓ/Σw)`` (``"none"``: ``exp(ℓ_i/w_i)``, NaN on masked rows).

    >>> import numpy as np, dask.array as da
    >>> float(perplexity(da.zeros((4, 10), chunks=(3, 10)), np.arange(4)).compute())
    10.000000000000002
    """
    return _chain(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        base="e",
        post="ppl",
        allowed=("mean", "none"),
        **_doc_opts(**options),
    )


def log_prob(
    pred: Any,
    target: Any,
    *,
    kind: str = "logits",
    axis: int = -1,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    validate: bool = True,
    impl: str = "auto",
) -> Any:
    r"""Lazy primitive ``log q(y_i|x_i)`` per example (0 on ignored rows).

    >>> import numpy as np, dask.array as da
    >>> p = da.from_array(np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]), chunks=1)
    >>> log_prob(p, np.array([0, 2]), kind="probs").compute()
    array([-0.35667494, -0.22314355])
    """
    t = loss_terms(
        pred,
        target,
        kind=kind,
        axis=axis,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
        impl=impl,
    )
    return -t.loss


def _binary_block(x, t, *rest, has_w: bool, has_s: bool, opts: dict, block_info=None):
    from .binary import binary_terms

    rest = list(rest)
    w = rest.pop(0) if has_w else None
    s = np.broadcast_to(rest.pop(0), x.shape) if has_s else None
    try:
        _, loss, count, _ = binary_terms(x, t, weight=w, sample_weight=s, **opts)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{_where(block_info, -1)}: {e}") from None
    return np.stack([np.asarray(loss), np.asarray(count)], axis=-1)


def binary_cross_entropy(
    pred: Any,
    target: Any,
    *,
    kind: str = "logits",
    pos_weight: Any = None,
    weight: Any = None,
    focal_gamma: float | None = None,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
    sample_weight: Any = None,
    ignore_index: int | None = None,
    empty: str = "nan",
    base: Any = "e",
    validate: bool = True,
) -> Any:
    r"""Lazy binary / multi-label cross-entropy (:func:`crossentropy.binary_cross_entropy` per block).

    Every element is an independent Bernoulli; ``"mean"`` is ``Σℓ / Σcount`` over all blocks
    (float64 sums). The last axis is rechunked to one chunk (``pos_weight`` runs along it);
    ``weight`` is broadcast to the prediction's shape, ``sample_weight`` is a prefix of it.

    >>> import numpy as np, dask.array as da
    >>> x = da.from_array(np.array([[0.9, 0.2], [0.4, 0.7]]), chunks=1)
    >>> float(binary_cross_entropy(x, np.array([[1, 0], [0, 1]]), kind="probs").compute())  # −mean log(.9,.8,.6,.7)
    0.29900115866918...
    """
    if kind == "auto":
        msg = "kind='auto' needs a pass over the data before the lazy graph exists; pass kind='logits' or 'probs'"
        raise ValueError(msg)
    _v.check_option("reduction", reduction, REDUCTIONS)
    _v.check_option("empty", empty, EMPTY)
    scale = _log_base(base)
    pred = _as_dask(pred, "pred")
    if pred.ndim == 0:
        pred = pred.reshape(1)
    dtype = _compute_dtype(pred.dtype)
    pred = pred.rechunk({pred.ndim - 1: -1})
    target = _as_dask(target, "target")
    if tuple(target.shape) != tuple(pred.shape):
        msg = f"`target` must have the prediction's shape {tuple(pred.shape)}; got {tuple(target.shape)}"
        raise ValueError(msg)
    args = [pred, target.rechunk(pred.chunks)]
    if weight is not None:
        args.append(da.broadcast_to(_as_dask(weight, "weight"), pred.shape).rechunk(pred.chunks))
    if sample_weight is not None:
        sw = _as_dask(sample_weight, "sample_weight")
        k = sw.ndim
        if tuple(sw.shape) != tuple(pred.shape[:k]):
            msg = (
                f"`sample_weight` of shape {tuple(sw.shape)} must be a prefix of the prediction's shape "
                f"{tuple(pred.shape)}"
            )
            raise ValueError(msg)
        sw = sw.rechunk(pred.chunks[:k]).reshape(tuple(sw.shape) + (1,) * (pred.ndim - k))
        args.append(sw)
    opts = dict(
        kind=kind,
        pos_weight=None if pos_weight is None else np.asarray(pos_weight),
        focal_gamma=focal_gamma,
        label_smoothing=label_smoothing,
        ignore_index=ignore_index,
        validate=validate,
    )
    T = da.map_blocks(
        _binary_block,
        *args,
        has_w=weight is not None,
        has_s=sample_weight is not None,
        opts=opts,
        dtype=dtype,
        new_axis=pred.ndim,
        chunks=pred.chunks + ((2,),),
        meta=np.empty((0,) * (pred.ndim + 1), dtype=dtype),
        name="crossentropy-bce",
    )
    if reduction == "none":
        loss = T[..., 0]
        return loss / scale if scale != 1.0 else loss
    S = T.sum(axis=tuple(range(pred.ndim)), dtype=np.float64)
    n = math.prod(pred.shape)
    return S.map_blocks(
        _finish_binary,
        drop_axis=0,
        dtype=dtype,
        meta=np.empty((), dtype=dtype),
        reduction=reduction,
        empty=empty,
        validate=validate,
        out_dtype=dtype,
        n=n,
        scale=scale,
    )


def _finish_binary(S: np.ndarray, *, reduction, empty, validate, out_dtype, n, scale) -> np.ndarray:
    total, den = float(S[0]), float(S[1])
    if den == 0 and (empty == "raise" or validate):
        if empty == "raise":
            msg = "cannot reduce: no unmasked element (empty='raise')"
            raise ValueError(msg)
        if empty == "nan" and reduction == "mean":
            _v.warn(
                _v.EmptyReductionWarning,
                "mean over no element; returning NaN (empty='zero' returns 0)",
            )
    if reduction == "sum":
        out = total
    elif den == 0:
        out = math.nan if empty == "nan" else 0.0
    else:
        out = total / den
    return np.asarray(out / scale if scale != 1.0 else out, dtype=out_dtype)


# ============================================================================ tree reduction
def _key(name: str) -> str:
    """A key prefix unique to this graph (a key reused across calls could be served from an earlier
    computation still held by the scheduler)."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:12]}"


def _tree(items: list, combine: Callable, name: str) -> Any:
    """Combine delayed ``items`` in order, ``_TREE_WIDTH`` at a time, up to one delayed value."""
    name = _key(name)
    level = 0
    while len(items) > 1:
        items = [
            dask.delayed(combine, pure=True)(
                *items[i : i + _TREE_WIDTH], dask_key_name=f"{name}-merge-{level}-{i}"
            )
            if len(items[i : i + _TREE_WIDTH]) > 1
            else items[i]
            for i in range(0, len(items), _TREE_WIDTH)
        ]
        level += 1
    return items[0]


def _merge_states(*states: Any) -> Any:
    acc = states[0]
    for s in states[1:]:
        acc = acc.merge(s)
    return acc


def _compute(obj: Any, progress: bool = False) -> Any:
    if progress:
        return _compute_with_progress(obj)
    return dask.compute(obj)[0]


def _compute_with_progress(obj: Any) -> Any:
    """Compute with Dask's own progress bar, drawn on stderr (stdout may carry JSON)."""
    client = _current_client()
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask.compute(obj)[0]
    import contextlib

    from distributed import progress

    fut = client.compute(obj)
    with contextlib.redirect_stdout(sys.stderr):
        progress(fut)
        print(file=sys.stderr)
    return fut.result()


def _current_client() -> Any:
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return get_client()
    except ValueError:
        return None


# ============================================================================ evaluate (arrays)
def _acc_part(x, t, s, *, offset: int, options: dict, where: str) -> dict:
    from .accumulate import Accumulator

    acc = Accumulator(**options)
    try:
        acc.update(x, t, sample_weight=s, row_offset=offset)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{where}: {e}") from None
    return acc


def _temp_part(x, t, s, *, log_T: float, loss: dict) -> np.ndarray:
    from .temperature import temperature_sums

    if math.prod(x.shape) == 0:
        return np.zeros(4)
    r = temperature_sums(x, t, log_T, sample_weight=s, **loss)
    return np.asarray(tuple(r), dtype=np.float64)


def _cal_part(x, t, s, *, scale: float, loss: dict, bins: int) -> Any:
    from .calibration import CalibrationSums, top_label_inputs

    out = CalibrationSums(bins)
    if math.prod(x.shape) == 0:
        return out
    with np.errstate(all="ignore"):
        z = np.asarray(x, dtype=np.float64) / scale
    lq, true, w, valid, obs = top_label_inputs(
        z,
        t,
        kind="logits",
        axis=loss["axis"],
        sample_weight=s,
        weight=loss["weight"],
        ignore_index=loss["ignore_index"],
        validate=False,
    )
    out.update(lq, true, w, valid, obs)
    return out


def _sum_arrays(*a: np.ndarray) -> np.ndarray:
    out = a[0].copy()
    for b in a[1:]:
        out = out + b
    return out


def _merge_cal(*c: Any) -> Any:
    out = c[0]
    for b in c[1:]:
        out = out.merge(b)
    return out


class _Parts:
    """The partitions of (pred, target, sample_weight) along the unit axis, as delayed blocks."""

    def __init__(self, pred, target, sample_weight, axis: int):
        from ._blocks import unit_axis

        pred = _as_dask(pred, "pred")
        nd = pred.ndim
        if nd < 2:
            msg = (
                f"`pred` must have a unit axis and a class axis (got shape {tuple(pred.shape)}); "
                "for one example use crossentropy.evaluate"
            )
            raise ValueError(msg)
        ax = _norm_axis(nd, axis)
        ua = unit_axis(nd, ax)
        # whole units per partition: only the unit axis keeps its chunks
        pred = pred.rechunk({i: (pred.chunks[ua] if i == ua else -1) for i in range(nd)})
        target = _as_dask(target, "target")
        if target.ndim == nd:
            target = target.rechunk(pred.chunks)
        else:
            tua = ua if ua < ax else ua - 1
            target = target.rechunk(
                {i: (pred.chunks[ua] if i == tua else -1) for i in range(target.ndim)}
            )
        self.pred, self.target, self.ax, self.ua = pred, target, ax, ua
        sw = _as_dask(sample_weight, "sample_weight")
        if sw is not None:
            tua = ua if ua < ax else ua - 1
            sw = sw.rechunk({i: (pred.chunks[ua] if i == tua else -1) for i in range(sw.ndim)})
        self.sw = sw
        sizes = pred.chunks[ua]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.n = len(sizes)
        self._p = pred.to_delayed().reshape(-1)
        self._t = target.to_delayed().reshape(-1)
        self._s = None if sw is None else sw.to_delayed().reshape(-1)
        if len(self._t) != self.n or (self._s is not None and len(self._s) != self.n):
            msg = (
                f"`target` {tuple(target.shape)} / `sample_weight` do not line up with `pred` "
                f"{tuple(pred.shape)} along the unit axis {ua}"
            )
            raise ValueError(msg)

    def blocks(self, i: int) -> tuple:
        return self._p[i], self._t[i], (None if self._s is None else self._s[i])

    def where(self, i: int) -> str:
        a, b = self.offsets[i], self.offsets[i + 1]
        return (
            f"partition {i} of {self.n} (units {a}–{b - 1} on axis {self.ua})"
            if b > a
            else f"partition {i} of {self.n} (empty)"
        )


def evaluate(
    pred: Any,
    target: Any,
    *,
    sample_weight: Any = None,
    temperature: bool = False,
    progress: bool = False,
    **options: Any,
) -> Any:
    r"""The :class:`~crossentropy.Report` of dask arrays: an Accumulator per partition, states merged in a tree.

    Partitions are the chunks of the unit axis (the first non-class axis); the other
    axes are rechunked to one chunk so that a partition holds whole units (examples or
    sequences). Partition ``k`` is added with ``row_offset`` = its first unit, so
    bootstrap intervals equal the in-memory ones for the same seed. Options are those
    of :class:`~crossentropy.Accumulator`; ``temperature=True`` adds the temperature fit
    (a few more passes, one per Newton step). ``progress=True`` shows Dask's progress
    bar on stderr. Errors name the partition.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import crossentropy as ce
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 3, 1000)
    >>> x = rng.normal(size=(1000, 3)); x[np.arange(1000), y] += 1.0
    >>> r = evaluate(da.from_array(x, chunks=(137, 3)), da.from_array(y, chunks=400), bootstrap=50)
    >>> r0 = ce.evaluate(x, y, bootstrap=50)
    >>> bool(np.isclose(r.cross_entropy, r0.cross_entropy, rtol=1e-12)), r.intervals == r0.intervals
    (True, True)
    """
    from .accumulate import Accumulator

    Accumulator(**options)  # validates the options before any graph is built
    axis = options.get("axis", -1)
    parts = _Parts(pred, target, sample_weight, axis)
    ax = parts.ax
    opts = dict(options)
    prefix = _key("crossentropy-acc-part")
    states = [
        dask.delayed(_acc_part, pure=True)(
            *parts.blocks(i),
            offset=parts.offsets[i],
            options=opts,
            where=parts.where(i),
            dask_key_name=f"{prefix}-{i}",
        )
        for i in range(parts.n)
    ]
    state = _compute(_tree(states, _merge_states, "crossentropy-acc"), progress)
    acc = state
    report = acc.finalize()
    if temperature:
        from .temperature import check_temperature_kind, loss_options

        kind = acc.resolved_kind or acc.options["kind"]
        check_temperature_kind(kind)
        loss = loss_options({**acc.options, "kind": kind, "axis": ax})  # every loss option
        fit = _fit_temperature_parts(
            parts, loss=loss, bins=acc.options["bins"], base=acc.options["base"], progress=progress
        )
        report = dataclasses.replace(report, temperature=fit)
    return report


def _fit_temperature_parts(parts: _Parts, *, loss: dict, bins: int, base: Any, progress: bool):
    """temperature.fit_from_passes with one Dask pass over the partitions per call."""
    from .temperature import TemperatureSums, fit_from_passes

    first = [loss["validate"]]

    def sums(t: float) -> TemperatureSums:
        ds = [
            dask.delayed(_temp_part, pure=True)(
                *parts.blocks(i), log_T=t, loss={**loss, "validate": first[0]}
            )
            for i in range(parts.n)
        ]
        first[0] = False
        tot = _compute(_tree(ds, _sum_arrays, "crossentropy-tsum"), progress)
        return TemperatureSums(*(float(v) for v in tot))

    def ece(scale: float) -> float:
        cs = [
            dask.delayed(_cal_part, pure=True)(*parts.blocks(i), scale=scale, loss=loss, bins=bins)
            for i in range(parts.n)
        ]
        return _compute(_tree(cs, _merge_cal, "crossentropy-ece"), progress).table().error("l1")

    return fit_from_passes(sums, ece_at=ece, base=base)


# ============================================================================ evaluate_files
def expand_paths(paths_or_glob: Any) -> list[str]:
    """Files from a glob, a directory, a path, or a list of them (globs in sorted order).

    >>> expand_paths([]) == []
    True
    """
    items = (
        [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    )
    out: list[str] = []
    for p in items:
        p = os.fspath(p)
        if any(ch in p for ch in "*?["):
            hits = sorted(_glob.glob(p))
            if not hits:
                from .io import FileError

                raise FileError(f"{p}: no file matches this pattern")
            out.extend(hits)
        elif os.path.isdir(p):
            hits = sorted(
                os.path.join(p, f)
                for f in os.listdir(p)
                if f.endswith(
                    (".parquet", ".pq", ".arrow", ".feather", ".ipc", ".csv", ".npz", ".npy")
                )
            )
            out.extend(hits if hits else [p])  # an empty directory: io says "is a directory"
        else:
            out.append(p)
    return out


_CLI_DEFAULTS = dict(
    kind="auto",
    ignore_index=-100,
    missing_labels="error",
    on_invalid="error",
    input_format="auto",
    bins=15,
    temperature=False,
    bootstrap=0,
    seed=0,
    base="e",
    batch_size=65536,
    progress=False,
)


def _namespace(**options: Any) -> argparse.Namespace:
    unknown = set(options) - set(_CLI_DEFAULTS)
    if unknown:
        msg = (
            f"unknown option(s) {sorted(unknown)} for evaluate_files; known: "
            f"{sorted(_CLI_DEFAULTS)} and the schema target, pred, weight, classes, na_values"
        )
        raise TypeError(msg)
    d = {**_CLI_DEFAULTS, **options}
    d["base"] = "2" if str(d["base"]) == "2" else "e"
    return argparse.Namespace(**d)


def _file_task(
    args: argparse.Namespace, schema: Any, path: str, base: int, spec: dict, mode: str, param: float
) -> dict:
    """One file through the command line's stream (validation, counts, warnings).

    ``mode``: ``"eval"`` (Accumulator state), ``"tsum"`` (temperature sums at ``t=param``),
    ``"scaled"`` (Accumulator state of the logits divided by ``T=param``), ``"count"`` (rows).
    Input errors are returned, not raised, so that the caller can report the first one in
    file order — the one the single-process command would have stopped at."""
    from . import cli
    from . import io as _io

    src = cli._Source(
        [path],
        False,
        schema,
        kind=spec["kind"],
        kind_reason=spec["kind_reason"],
        num_classes=spec["num_classes"],
    )
    counts = cli._Counts()
    sink = cli._WarningSink()
    out: dict[str, Any] = {"path": path}
    try:
        if mode == "count":
            n = 0
            for b in _io.read_batches(
                [path], schema, batch_size=args.batch_size, input_format=args.input_format
            ):
                n += len(b)
            out["rows"] = n
            return out
        if mode == "eval":
            acc = cli._accumulator(args, src, src.kind)

            def add(pred, target, weight, offset, where):
                sink.run(
                    acc.update,
                    pred,
                    target,
                    sample_weight=weight,
                    row_offset=base + offset,
                    where=where,
                )
        elif mode == "scaled":
            acc = cli._accumulator(args, src, "logits")

            def add(pred, target, weight, offset, where):
                with np.errstate(divide="ignore"):
                    p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
                    sink.run(
                        acc.update,
                        p / param,
                        target,
                        sample_weight=weight,
                        row_offset=base + offset,
                        where=where,
                    )
        else:
            from .temperature import temperature_sums

            per_batch: list = []
            kind = "log_probs" if src.kind == "probs" else src.kind

            def add(pred, target, weight, offset, where):
                with np.errstate(divide="ignore"):
                    p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
                s = sink.run(
                    temperature_sums,
                    p,
                    target,
                    param,
                    kind=kind,
                    where=where,
                    **cli._ts_kwargs(args, weight),
                )
                per_batch.append([s.nll, s.grad, s.hess, s.weight])

        cli._stream(args, src, counts, add, first_pass=mode == "eval")
    except _io.InputError as e:
        out["error"] = e
        return out
    out["warnings"] = dict(sink.seen)
    if (
        mode == "tsum"
    ):  # per batch: the driver adds them in stream order, as the streaming command does
        out["tsum"] = np.asarray(per_batch, dtype=np.float64).reshape(-1, 4)
    else:
        out["state"] = acc
        out["counts"] = {
            "read": counts.read,
            "evaluated": counts.evaluated,
            "missing_labels": counts.missing_labels,
            "rejected": counts.rejected,
            "by_reason": dict(counts.by_reason),
        }
    return out


def _merge_file_results(*rs: dict) -> dict:
    """Merge per-file results in file order; keep the first error (files after it do not count)."""
    out: dict[str, Any] = {"path": rs[0]["path"]}
    acc = None
    warn: dict[str, str] = {}
    counts = None
    tsum = None
    for r in rs:
        if "error" in r:
            out["error"] = r["error"]
            break
        for k, v in r.get("warnings", {}).items():
            warn.setdefault(k, v)
        if "tsum" in r:
            tsum = r["tsum"] if tsum is None else np.concatenate([tsum, r["tsum"]])
        if "rows" in r:
            out["rows"] = out.get("rows", 0) + r["rows"]
        if "state" in r:
            acc = r["state"] if acc is None else acc.merge(r["state"])
            c = r["counts"]
            if counts is None:
                counts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in c.items()}
            else:
                for k in ("read", "evaluated", "missing_labels", "rejected"):
                    counts[k] += c[k]
                for k, v in c["by_reason"].items():
                    counts["by_reason"][k] = counts["by_reason"].get(k, 0) + v
    out["warnings"] = warn
    if acc is not None:
        out["state"], out["counts"] = acc, counts
    if tsum is not None:
        out["tsum"] = tsum
    return out


@dataclasses.dataclass
class FilesResult:
    """What :func:`run_files` found: the report(s) and the command line's bookkeeping."""

    report: Any
    after: Any  # the report after temperature scaling, or None
    layout: Any
    kind: str
    kind_reason: str
    num_classes: int | None
    counts: dict
    warnings: dict


def _plan(
    files: Sequence[str],
    schema: Any,
    args: argparse.Namespace,
    num_classes: int | None,
    say: Callable[[str], None] | None,
):
    """Open every file (metadata only), check that they share one layout, decide the kind on the
    first batch as the command line does, and find each file's first global row.

    Returns ``(layout, spec, bases, stop, stop_error)``: files from ``stop`` on are not evaluated
    and ``stop_error`` is raised unless an earlier file fails first."""
    from . import cli
    from . import io as _io

    layout = None
    first_path = None
    stop, stop_error = len(files), None
    rows: list[int | None] = []
    for k, path in enumerate(files):
        try:
            table = _io.open_table(path, input_format=args.input_format, na_values=schema.na_values)
            lay = _io.resolve(table, schema)
        except _io.InputError as e:
            stop, stop_error = k, e
            break
        if layout is None:
            layout, first_path = lay, path
            if num_classes is not None and lay.num_classes not in (-1, num_classes):
                stop, stop_error = (
                    k,
                    _io.SchemaError(
                        f"--classes says {num_classes} classes but the prediction columns of {path} hold "
                        f"{lay.num_classes}"
                    ),
                )
                break
        elif lay.signature() != layout.signature():
            a, b = layout, lay
            stop, stop_error = (
                k,
                _io.SchemaError(
                    f"mixed schemas: {first_path} has target {list(a.target)}, prediction "
                    f"{list(a.pred)} ({a.num_classes} classes), weight {a.weight}; {path} has "
                    f"target {list(b.target)}, prediction {list(b.pred)} ({b.num_classes} classes), "
                    f"weight {b.weight}. Every file must have the same columns"
                ),
            )
            break
        rows.append(table.num_rows)
    # the first batch decides the kind (and the number of classes), as in the streaming command
    kind = kind_reason = None
    for path in files[:stop]:
        try:
            batch = next(
                iter(
                    _io.read_batches(
                        [path], schema, batch_size=args.batch_size, input_format=args.input_format
                    )
                ),
                None,
            )
        except _io.InputError:
            break  # the task reading this file reports it in order
        if batch is None:
            continue
        where = f"{batch.path} rows {batch.offset}–{batch.offset + len(batch) - 1}"
        if num_classes is None:
            num_classes = batch.pred.shape[1]
        try:
            kind, kind_reason = cli._decide_kind(batch.pred, args.kind, where)
        except _io.InputError as e:
            stop, stop_error = files.index(path), e
            break
        if args.kind == "auto" and say is not None:
            say(f"kind: {kind} (decided on {where}: {kind_reason[6:]}); pass --kind to set it")
        break
    if kind is None and args.kind != "auto":
        kind, kind_reason = args.kind, "given by --kind"
    spec = {"kind": kind, "kind_reason": kind_reason or "", "num_classes": num_classes}
    return layout, spec, rows, stop, stop_error


def _bases(files, rows, stop, schema, args, progress) -> list[int]:
    """Global row index of each file's first row (a counting pass for files without row metadata)."""
    unknown = [k for k in range(stop) if rows[k] is None]
    if unknown:
        spec = {"kind": "logits", "kind_reason": "", "num_classes": None}
        ds = [
            dask.delayed(_file_task, pure=True)(args, schema, files[k], 0, spec, "count", 0.0)
            for k in unknown
        ]
        for k, r in zip(unknown, _compute(ds, progress), strict=True):
            rows[k] = r.get("rows", 0)  # an unreadable file: its task reports it in the real pass
    return np.concatenate([[0], np.cumsum(rows[:stop])]).astype(int).tolist()[:stop]


def run_files(
    files: Sequence[str],
    schema: Any,
    args: argparse.Namespace,
    *,
    num_classes: int | None = None,
    say: Callable[[str], None] | None = None,
) -> FilesResult:
    """The command line's evaluation of ``files`` as Dask tasks (one per file), merged in a tree.

    ``args`` holds the command line's options (see :func:`evaluate_files`). Raises the
    :class:`crossentropy.io.InputError` that the single-process command would raise first."""
    from . import io as _io

    files = list(files)
    progress = bool(getattr(args, "progress", False))
    layout, spec, rows, stop, stop_error = _plan(files, schema, args, num_classes, say)
    need_bases = args.bootstrap > 0
    bases = _bases(files, rows, stop, schema, args, progress) if need_bases else [0] * stop

    def run(mode: str, param: float = 0.0) -> dict:
        prefix = _key(f"crossentropy-file-{mode}")
        ds = [
            dask.delayed(_file_task, pure=True)(
                args, schema, files[k], bases[k], spec, mode, param, dask_key_name=f"{prefix}-{k}"
            )
            for k in range(stop)
        ]
        if not ds:
            return {"warnings": {}}
        return _compute(_tree(ds, _merge_file_results, f"crossentropy-files-{mode}"), progress)

    res = run("eval")
    if "error" in res:
        raise res["error"]
    if stop_error is not None:
        raise stop_error
    from .cli import _accumulator, _Source

    counts = res.get("counts") or {
        "read": 0,
        "evaluated": 0,
        "missing_labels": 0,
        "rejected": 0,
        "by_reason": {},
    }
    if counts["read"] == 0:
        raise _io.DataError(f"no rows in {', '.join(files)}: nothing to evaluate")
    src = _Source(
        files, False, schema, layout=layout, kind=spec["kind"], num_classes=spec["num_classes"]
    )
    acc = res["state"] if "state" in res else _accumulator(args, src, spec["kind"])
    report = acc.finalize()
    warn = dict(res["warnings"])
    after = None
    if args.temperature:
        from .temperature import TemperatureSums, fit_from_passes

        if spec["kind"] == "probs" and say is not None:
            say("note: --temperature on probabilities: fitting on log p (a valid logit vector)")

        def sums(t: float) -> TemperatureSums:
            r = run("tsum", t)
            if "error" in r:
                raise r["error"]
            for k, v in r["warnings"].items():
                warn.setdefault(k, v)
            tot = np.zeros(4)
            for row in r.get("tsum", ()):
                tot[:] += row  # stream order: the same sums, bit for bit, as the streaming command
            return TemperatureSums(*(float(v) for v in tot))

        scaled: list = []

        def ece_at(T: float) -> float:  # the pass with the logits divided by T: its report
            r2 = run("scaled", T)
            if "error" in r2:
                raise r2["error"]
            for k, v in r2["warnings"].items():
                warn.setdefault(k, v)
            scaled.append(r2["state"].finalize())
            return _ece(scaled[-1])

        temp = fit_from_passes(sums, ece_at=ece_at, ece_before=_ece(report), base=report.base)
        after = scaled[-1]
        report = dataclasses.replace(report, temperature=temp)
    return FilesResult(
        report, after, layout, spec["kind"], spec["kind_reason"], spec["num_classes"], counts, warn
    )


def _ece(report: Any) -> float:
    return report.calibration.ece if report.calibration is not None else math.nan


def evaluate_files(
    paths_or_glob: Any,
    *,
    target: str | None = None,
    pred: str | None = None,
    weight: str | None = None,
    classes: Any = None,
    na_values: Sequence[str] = (),
    num_classes: int | None = None,
    progress: bool = False,
    **options: Any,
) -> Any:
    r"""The :class:`~crossentropy.Report` of many prediction files, one Dask task per file.

    Exactly what ``crossentropy evaluate FILES`` computes (same column resolution,
    validation, kind decision on the first batch, warnings and errors; see
    :mod:`crossentropy.cli`), with the files read on the workers and the per-file
    :class:`~crossentropy.Accumulator` states merged in a tree. ``paths_or_glob``: a
    glob (``"data/*.parquet"``), a directory, a path or a list of them. Schema:
    ``target``, ``pred``, ``weight`` (column names or globs), ``classes`` (names),
    ``na_values``. Options (the command line's, same defaults): ``kind``,
    ``ignore_index``, ``missing_labels``, ``on_invalid``, ``input_format``, ``bins``,
    ``temperature``, ``bootstrap``, ``seed``, ``base``, ``batch_size``. The active
    Dask scheduler runs the tasks (see :func:`client_for`). Errors are the
    :class:`crossentropy.io.InputError` the single-process command stops at first,
    naming the file and rows. Bootstrap intervals key on the global row index (files
    in order), so they equal the single-process ones.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for k in range(3):
    ...     np.savez(os.path.join(d, f"part{k}.npz"), logits=rng.normal(size=(40 + k, 4)),
    ...              target=rng.integers(0, 4, 40 + k))
    >>> r = evaluate_files(os.path.join(d, "*.npz"), kind="logits")
    >>> r.n_rows
    123
    """
    from . import io as _io

    files = expand_paths(paths_or_glob)
    if not files:
        raise _io.FileError("no input files")
    schema = _io.Schema(
        target=target,
        pred=pred,
        weight=weight,
        classes=None if classes is None else tuple(classes),
        na_values=tuple(na_values),
    )
    if classes is not None and num_classes is None:
        num_classes = len(tuple(classes))
    args = _namespace(progress=progress, **options)
    res = run_files(files, schema, args, num_classes=num_classes)
    from ._validate import CrossEntropyWarning

    for msg, where in res.warnings.items():
        warnings.warn(f"{msg} (first at {where})", CrossEntropyWarning, stacklevel=2)
    return res.report


# ============================================================================ clusters
def client_for(
    scheduler: str | None = None, workers: int | None = None, *, quiet: bool = True
) -> Any:
    """A ``distributed.Client``: to ``scheduler`` (an address such as ``tcp://host:8786``), or to a new
    ``LocalCluster`` of ``workers`` processes (default: one per CPU), one thread each (the fused
    CPU kernels too: ``NUMBA_NUM_THREADS=1``), no dashboard.

    Close it (``client.close()``; a local cluster with ``client.cluster.close()``) when done.
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler and workers:
        msg = "give either a scheduler address or a number of local workers, not both"
        raise ValueError(msg)
    if scheduler:
        return Client(scheduler)
    n = workers or (os.cpu_count() or 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        msg = f"`workers` must be a positive integer; got {workers!r}"
        raise ValueError(msg)
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ["NUMBA_NUM_THREADS"] = 1  # one core per worker: the CPU kernels' threads stay within it
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
        warnings.catch_warnings(),
    ):
        # the scheduler's HTTP endpoints (health, not the dashboard) move off a busy port: not our news
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR if quiet else logging.WARNING,
        )
    return Client(cluster)


def close_client(client: Any, *, cluster: bool = True) -> None:
    """Close ``client`` (and its local cluster when ``cluster``) without the shutdown chatter on stderr."""
    import logging

    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        c = client.cluster if cluster else None
        client.close()
        if c is not None:
            c.close()
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)


def evaluate_cli(
    args: argparse.Namespace,
    src: Any,
    counts: Any,
    sink: Any,
    say: Callable[[str], None] | None = None,
) -> tuple[Any, Any]:
    """The command line's ``--engine dask``: fills ``src``, ``counts`` and ``sink`` as the streaming
    path does and returns ``(report, after)``."""
    from . import cli

    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None)
    if scheduler and workers:
        raise cli.UsageError(
            "--scheduler and --workers exclude each other (--workers starts a local cluster)"
        )
    if workers is not None and workers < 1:
        raise cli.UsageError(f"--workers must be ≥ 1, got {workers}")
    if src.bundled:
        files = src.files
    else:
        files = expand_paths(src.files)
    args.progress = bool(args.progress or sys.stderr.isatty())
    client = client_for(scheduler, workers)
    try:
        with client.as_current():
            res = run_files(
                files, src.schema, args, num_classes=src.num_classes, say=say or cli._say
            )
    finally:
        close_client(client, cluster=not scheduler)
    src.files = files
    src.layout, src.kind, src.kind_reason = res.layout, res.kind, res.kind_reason
    if src.num_classes is None:
        src.num_classes = res.num_classes
    c = res.counts
    counts.read, counts.evaluated = c["read"], c["evaluated"]
    counts.missing_labels, counts.rejected = c["missing_labels"], c["rejected"]
    counts.by_reason = dict(c["by_reason"])
    sink.seen.update(res.warnings)
    return res.report, res.after
