r"""The seed's chain: likelihood → log-likelihood → negative log-likelihood → cross-entropy.

Everything is a short reduction of one primitive, the per-example
log-probability the model gives to what was observed (:func:`log_prob`)::

    ℓ_i = − s_i · Σ_c weight_c · y'_ic · log q_ic        w_i = s_i · Σ_c weight_c · y_ic

    log_likelihood = −Σ_i ℓ_i           likelihood = exp(log_likelihood)
    nll            =  Σ_i ℓ_i           cross_entropy = Σ_i ℓ_i / Σ_i w_i
    perplexity     = exp(cross_entropy)

(docs/semantics.md §3–4). Without weights and smoothing, ``ℓ_i = −log q(y_i|x_i)``
and ``w_i = 1``.

>>> import numpy as np
>>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])
>>> labels = np.array([0, 1])
>>> ll = log_likelihood(logits, labels)
>>> bool(np.isclose(nll(logits, labels), -ll))
True
>>> bool(np.isclose(cross_entropy(logits, labels), -ll / 2))
True
>>> bool(np.isclose(likelihood(logits, labels), np.exp(ll)))
True
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import _validate as v
from ._array import Array
from ._prepare import Prepared, prepare, terms

__all__ = [
    "Terms",
    "loss_terms",
    "log_prob",
    "likelihood",
    "log_likelihood",
    "nll",
    "cross_entropy",
    "perplexity",
]

REDUCTIONS = ("mean", "sum", "none")
EMPTY = ("nan", "zero", "raise")
DIVIDE_BY = ("weight", "count")


class Terms(NamedTuple):
    """Per-example loss ``ℓ_i`` and its weight ``w_i`` in the mean (docs/semantics.md §4)."""

    loss: Array
    weight: Array


def _log_base(base: Any) -> float:
    if base == "e":
        return 1.0
    try:
        b = float(base)
    except (TypeError, ValueError):
        b = float("nan")
    if not (b > 0 and b != 1 and math.isfinite(b)):
        msg = f"`base` must be 'e', 2, or another positive number ≠ 1; got {base!r}"
        raise ValueError(msg)
    return math.log(b)


def loss_terms(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    validate: bool = True,
    impl: str = "auto",
) -> Terms:
    """Per-example ``(ℓ_i, w_i)``: every dataset-level number is ``Σℓ`` and ``Σw``.

    ``ℓ_i = −s_i Σ_c weight_c y'_ic log q_ic`` and ``w_i = s_i Σ_c weight_c y_ic``
    (``y`` before smoothing). Masked rows (ignored, all-zero target, zero sample
    weight) have both exactly 0.

    >>> import numpy as np
    >>> t = loss_terms(np.log(np.array([[0.5, 0.5], [0.9, 0.1]])), np.array([0, -100]))
    >>> t.loss
    array([0.69314718, 0.        ])
    >>> t.weight
    array([1., 0.])
    """
    p = prepare(
        pred,
        target,
        kind=kind,
        axis=axis,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
    )
    return Terms(*terms(p, impl))


def _reduce(
    p: Prepared, loss: Array, wsum: Array, reduction: str, empty: str, divide_by: str
) -> Array:
    xp = p.xp
    v.check_option("reduction", reduction, REDUCTIONS)
    v.check_option("empty", empty, EMPTY)
    v.check_option("divide_by", divide_by, DIVIDE_BY)
    if reduction == "none":
        if empty == "raise" and math.prod(loss.shape) == 0:
            msg = f"cannot reduce: {_empty_reason(p)} (empty='raise'); use empty='nan' or 'zero' to get a value"
            raise ValueError(msg)
        return loss
    return reduce_sums(
        xp,
        xp.sum(loss),
        denominator(p, wsum, divide_by),
        reduction,
        empty,
        check=p.validate,
        reason=lambda: _empty_reason(p),
    )


def reduce_sums(
    xp: Any, total: Array, den: Array, reduction: str, empty: str, *, check: bool, reason
) -> Array:
    """``total`` (``"sum"``) or ``total / den`` (``"mean"``) with the ``empty=`` policy when ``den == 0``.

    ``check`` (validation on) or ``empty="raise"`` looks at ``den`` on the host, to raise or
    to warn `EmptyReductionWarning`; otherwise no synchronisation happens.
    """
    if empty == "raise" or check:
        if bool(den == 0):
            what = reason()
            if empty == "raise":
                msg = f"cannot reduce: {what} (empty='raise'); use empty='nan' or 'zero' to get a value"
                raise ValueError(msg)
            if empty == "nan" and reduction == "mean":
                v.warn(
                    v.EmptyReductionWarning,
                    f"mean over no example: {what}; returning NaN as PyTorch does "
                    "(empty='zero' returns 0; the gradient is zero either way)",
                )
    if reduction == "sum":
        return total
    safe = xp.where(den == 0, xp.ones_like(den), den)
    fill = xp.full_like(total, math.nan if empty == "nan" else 0.0)
    return xp.where(den == 0, fill, total / safe)


def denominator(p: Prepared, wsum: Array, divide_by: str) -> Array:
    """Σ w_i (``divide_by="weight"``) or Σ s_i over unmasked rows (``"count"``)."""
    xp = p.xp
    if divide_by == "weight":
        return xp.sum(wsum)
    ones = xp.ones(p.batch_shape, dtype=p.x.dtype) if p.s is None else p.s
    return xp.sum(xp.where(p.mask, xp.zeros_like(ones), ones))


def _empty_reason(p: Prepared) -> str:
    n = math.prod(p.batch_shape)
    if n == 0:
        return "the batch is empty (N = 0)"
    return f"all {n} examples are masked (ignored, all-zero targets or zero weight)"


def _reduced_nll(pred, target, *, reduction, empty, divide_by, impl, **opts) -> Array:
    p = prepare(pred, target, **opts)
    loss, wsum = terms(p, impl)
    with np.errstate(all="ignore"):
        return _reduce(p, loss, wsum, reduction, empty, divide_by)


def log_prob(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""The primitive: per-example log-probability of what was observed, ``log q(y_i | x_i)``.

    Hard label (integer ``target``): ``log q_{i, y_i}``, gathered without a one-hot.
    Soft label (floating ``target`` with the prediction's shape):
    ``Σ_c y'_ic · log q_ic`` with ``0 · log 0 = 0``. Ignored rows give exactly 0.

    Parameters
    ----------
    pred : array (..., C, ...)
        Logits, probabilities or log-probabilities (``kind``), classes on ``axis``.
    target : array
        Class indices (integer, shape of ``pred`` without ``axis``) or distributions
        (floating, shape of ``pred``).
    kind : {"logits", "probs", "log_probs", "auto"}
    label_smoothing, smoothing : float, {"uniform", "others"}
        ``y' = (1−ε)·y + ε·m/C`` (uniform) or ``(1−ε)·y + ε·(m−y)/(C−1)`` (others).

    Returns
    -------
    array with the shape of ``pred`` without ``axis``, in the compute dtype.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    >>> log_prob(p, np.array([0, 2]), kind="probs")    # log 0.7, log 0.8
    array([-0.35667494, -0.22314355])
    >>> log_prob(p, np.array([[1.0, 0, 0], [0, 0.5, 0.5]]), kind="probs")
    array([-0.35667494, -1.26286432])
    """
    p = prepare(
        pred,
        target,
        kind=kind,
        axis=axis,
        weight=None,
        sample_weight=None,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
    )
    loss, _ = terms(p, impl)
    return -loss


def nll(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    reduction: str = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""Negative log-likelihood ``Σ_i ℓ_i`` (default ``reduction="sum"``: the whole dataset).

    ``reduction="mean"`` gives ``Σℓ / Σw`` (= :func:`cross_entropy`), ``"none"`` the
    per-example ``ℓ_i``. ``base=2`` gives bits. All options: docs/semantics.md.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> float(nll(p, np.array([0, 1]), kind="probs"))        # −log 0.5 − log 0.75
    0.9808292530117262
    >>> float(nll(p, np.array([0, 1]), kind="probs", base=2))  # in bits
    1.415037499278844
    """
    out = _reduced_nll(
        pred,
        target,
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        impl=impl,
        kind=kind,
        axis=axis,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
    )
    scale = _log_base(base)
    return out if scale == 1.0 else out / scale


def log_likelihood(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    reduction: str = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""Log-likelihood of the data, ``Σ_i log q(y_i|x_i)`` (the seed's eq. 2) = ``−nll``.

    The log turns the product over i.i.d. examples into a sum, so it neither
    underflows nor overflows.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> float(log_likelihood(p, np.array([0, 1]), kind="probs"))   # log(0.5 · 0.75)
    -0.9808292530117262
    """
    return -nll(
        pred,
        target,
        kind=kind,
        axis=axis,
        reduction=reduction,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        empty=empty,
        divide_by=divide_by,
        base=base,
        validate=validate,
        impl=impl,
    )


def likelihood(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    reduction: str = "sum",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    empty: str = "nan",
    divide_by: str = "weight",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""Likelihood ``Π_i q(y_i|x_i) = exp(log_likelihood)`` (the seed's eq. 1).

    ``reduction="sum"`` (default) is the product over the dataset, ``"mean"`` the
    geometric mean ``exp(−Σℓ/Σw)``, ``"none"`` the per-example ``q(y_i|x_i)``.

    The product **underflows** and that is the lesson: each factor is at most 1, so
    the product shrinks geometrically. With every example given probability 0.5 the
    float64 product is exactly 2^-n, which is still representable (as a subnormal)
    at n = 1074 and rounds to 0.0 at n = 1075, while the log-likelihood is an
    unremarkable ``−n·log 2``:

    >>> import numpy as np
    >>> half = np.full((1075, 2), 0.5)
    >>> y = np.zeros(1075, dtype=int)
    >>> float(likelihood(half[:1074], y[:1074], kind="probs")) > 0
    True
    >>> float(likelihood(half, y, kind="probs"))
    0.0
    >>> float(log_likelihood(half, y, kind="probs"))
    -745.1332191019412
    """
    ll = log_likelihood(
        pred,
        target,
        kind=kind,
        axis=axis,
        reduction=reduction,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        empty=empty,
        divide_by=divide_by,
        validate=validate,
        impl=impl,
    )
    from ._array import namespace

    return namespace(ll).exp(ll)


def cross_entropy(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    reduction: str = "mean",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    empty: str = "nan",
    divide_by: str = "weight",
    base: Any = "e",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""Cross-entropy ``Σ_i ℓ_i / Σ_i w_i``: the NLL per unit of weight (default ``"mean"``).

    Equals PyTorch's ``F.cross_entropy`` for index targets (weights, ``ignore_index``,
    label smoothing included); for probability targets with class weights PyTorch
    divides by N instead — ``divide_by="count"`` reproduces it. An index target and its
    one-hot distribution always agree. ``empty`` decides an all-masked mean
    (``"nan"`` as PyTorch, ``"zero"``, ``"raise"``). ``impl="auto"`` uses the fused
    CPU kernel for large NumPy logits (≥ 2^18 elements) when numba is installed and
    the row-blocked NumPy path otherwise (``impl="kernel"``, ``"blocked"``, ``"array_api"`` force one);
    every implementation computes the same numbers.

    >>> import numpy as np
    >>> logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
    >>> float(cross_entropy(logits, np.array([0, 2])))
    0.17545638058931...
    >>> onehot = np.eye(3)[[0, 2]]
    >>> float(cross_entropy(logits, onehot))           # same number
    0.17545638058931...
    >>> float(cross_entropy(logits, np.array([-100, -100]), empty="zero"))
    0.0
    """
    return nll(
        pred,
        target,
        kind=kind,
        axis=axis,
        reduction=reduction,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        empty=empty,
        divide_by=divide_by,
        base=base,
        validate=validate,
        impl=impl,
    )


def perplexity(
    pred: Array,
    target: Array,
    *,
    kind: str = "logits",
    axis: int = -1,
    reduction: str = "mean",
    sample_weight: Array | None = None,
    weight: Array | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    smoothing: str = "uniform",
    empty: str = "nan",
    divide_by: str = "weight",
    validate: bool = True,
    impl: str = "auto",
) -> Array:
    r"""Corpus perplexity ``exp(Σℓ / Σw)`` — the exponential of the weighted mean NLL.

    Computed in log space: a huge mean gives ``+inf``, never an overflow error.
    ``reduction="none"`` gives ``exp(ℓ_i / w_i)`` per example (NaN for masked
    rows). The number is the same in every base (``2^bits = e^nats``). For the
    mean of per-sequence perplexities (HF evaluate's convention) see
    :class:`crossentropy.Report`.

    >>> import numpy as np
    >>> uniform = np.zeros((4, 10))                  # a uniform guess over 10 classes
    >>> float(perplexity(uniform, np.arange(4)))     # = 10: as unsure as 10 equal choices
    10.000000000000002
    """
    v.check_option("reduction", reduction, ("mean", "none"))
    p = prepare(
        pred,
        target,
        kind=kind,
        axis=axis,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        validate=validate,
    )
    loss, wsum = terms(p, impl)
    xp = p.xp
    with np.errstate(all="ignore"):
        if reduction == "none":
            den = xp.where(wsum == 0, xp.ones_like(wsum), wsum)
            return xp.where(wsum == 0, xp.full_like(loss, math.nan), xp.exp(loss / den))
        return xp.exp(_reduce(p, loss, wsum, "mean", empty, divide_by))
