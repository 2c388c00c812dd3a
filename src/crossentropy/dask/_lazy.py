"""Lazy losses on dask arrays: each block through the core, one reduction of the float64 sums."""

from __future__ import annotations

import math
from typing import Any

import dask.array as da
import numpy as np

from .. import _validate as _v
from .._prepare import prepare as _prepare
from .._prepare import terms as _core_terms
from ..chain import DIVIDE_BY, EMPTY, REDUCTIONS, Terms, _log_base


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
    from ..binary import binary_terms

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
