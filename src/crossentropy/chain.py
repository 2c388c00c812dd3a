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
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from . import _validate as v
from ._array import Array, namespace
from ._dispatch import fused_sums
from ._options import IGNORE_INDEX, LossOptions, ReductionOptions, log_base
from ._prepare import prepare, terms, with_nll_gradient
from ._types import Base, DivideBy, Empty, Impl, Kind, Reduction, Smoothing

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


class Terms(NamedTuple):
    """Per-example loss ``ℓ_i`` and its weight ``w_i`` in the mean (docs/semantics.md §4)."""

    loss: Array
    weight: Array


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
    """Per-example ``(ℓ_i, w_i)``: every dataset-level number is ``Σℓ`` and ``Σw``.

    ``ℓ_i = −s_i Σ_c weight_c y'_ic log q_ic`` and ``w_i = s_i Σ_c weight_c y_ic``
    (``y`` before smoothing). Masked rows (ignored, all-zero target, zero sample
    weight) have both exactly 0; with ``validate=False`` an out-of-range class index
    has both NaN.

    >>> import numpy as np
    >>> t = loss_terms(np.log(np.array([[0.5, 0.5], [0.9, 0.1]])), np.array([0, -100]))
    >>> t.loss
    array([0.69314718, 0.        ])
    >>> t.weight
    array([1., 0.])
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    return Terms(*terms(p, impl))


def reduced_nll(
    pred: Array,
    target: Array,
    opts: LossOptions,
    red: ReductionOptions,
    *,
    weight: Array | None = None,
    sample_weight: Array | None = None,
) -> Array:
    """The NLL reduced by ``red`` (``Σℓ``, ``Σℓ/Σw`` or the per-example ``ℓ_i``), in ``red.base`` units.

    The one body of :func:`nll`, :func:`cross_entropy`, :func:`log_likelihood`,
    :func:`likelihood`, :func:`perplexity` and :func:`log_prob`. On JAX arrays its gradient
    is the closed form of docs/semantics.md §9 (a custom JVP rule, ``_jax``).
    """
    return with_nll_gradient(
        _reduced_nll, pred, target, opts, red, weight=weight, sample_weight=sample_weight
    )


def _reduced_nll(
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
    """:func:`reduced_nll` with the numeric options apart (they may be traced JAX arrays)."""
    if label_smoothing is not opts.label_smoothing:
        opts = replace(opts, label_smoothing=label_smoothing)
    if normalizer is not red.normalizer:
        red = replace(red, normalizer=normalizer)
    sums = fused_sums(pred, target, opts, red, weight=weight, sample_weight=sample_weight)
    if sums is not None:  # the plain case: Σℓ and Σw from one compiled pass (_dispatch)
        with np.errstate(all="ignore"):
            out = red.finish(np, sums[0], sums[1], n=target.size, host_check=opts.validate)
            return out if red.scale == 1.0 else out / red.scale
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    loss, w = terms(p, opts.impl, red.divide_by, normalized=True)
    with np.errstate(all="ignore"):
        out = p.reduce(loss, w, red, host_check=p.checked)
        return out if red.scale == 1.0 else out / red.scale


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
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    return -reduced_nll(pred, target, opts, ReductionOptions("none"))


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
    base: Any = "e",
    validate: bool = True,
    impl: Impl = "auto",
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
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base, normalizer)
    return reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


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
    base: Any = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Log-likelihood of the data, ``Σ_i log q(y_i|x_i)`` (the seed's eq. 2) = ``−nll``.

    The log turns the product over i.i.d. examples into a sum, so it neither
    underflows nor overflows.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> float(log_likelihood(p, np.array([0, 1]), kind="probs"))   # log(0.5 · 0.75)
    -0.9808292530117262
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base)
    return -reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


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
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by)
    ll = -reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)
    with np.errstate(over="ignore"):
        return namespace(ll).exp(ll)


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
    base: Any = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Cross-entropy ``Σ_i ℓ_i / Σ_i w_i``: the NLL per unit of weight (default ``"mean"``).

    Equals PyTorch's ``F.cross_entropy`` for index targets (weights, ``ignore_index``,
    label smoothing included); for probability targets with class weights PyTorch
    divides by N instead — ``divide_by="count"`` reproduces it. An index target and its
    one-hot distribution always agree. ``empty`` decides an all-masked mean
    (``"nan"`` as PyTorch, ``"zero"``, ``"raise"``). ``impl="auto"`` uses the fused
    CPU kernel for large NumPy logits (≥ 2^18 elements) when numba is installed and
    the row-blocked NumPy path otherwise (``impl="kernel"``, ``"blocked"``, ``"array_api"`` force one);
    every implementation computes the same numbers. ``normalizer=W`` (``"mean"`` only) divides
    ``Σℓ`` by the whole optimiser step's ``Σw`` instead of this batch's (docs/semantics.md §14).

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
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    red = ReductionOptions(reduction, empty, divide_by, base, normalizer)
    return reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


def perplexity(
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
    base: Base = "e",
    validate: bool = True,
    impl: Impl = "auto",
) -> Array:
    r"""Corpus perplexity ``exp(Σℓ / Σw)`` — the exponential of the weighted mean NLL.

    Computed in log space: a huge mean gives ``+inf``, never an overflow error.
    ``reduction="none"`` gives ``exp(ℓ_i / w_i)`` per example (NaN for masked
    rows). The number is the same in every base (``2^bits = e^nats``): ``base`` is
    accepted (and checked) like everywhere else so that one set of options serves every
    function, and it does not change the result. For the mean of per-sequence
    perplexities (HF evaluate's convention) see :class:`crossentropy.Report`.

    >>> import numpy as np
    >>> uniform = np.zeros((4, 10))                  # a uniform guess over 10 classes
    >>> float(perplexity(uniform, np.arange(4)))     # = 10: as unsure as 10 equal choices
    10.000000000000002
    >>> float(perplexity(uniform, np.arange(4), base=2))   # 2^(log2 10 bits): the same number
    10.000000000000002
    """
    v.check_option("reduction", reduction, ("mean", "none"))
    log_base(base)  # checked; the number is base-independent
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, impl)
    if reduction == "mean":
        red = ReductionOptions("mean", empty, divide_by)
        ce = reduced_nll(pred, target, opts, red, weight=weight, sample_weight=sample_weight)
        with np.errstate(over="ignore"):
            return namespace(ce).exp(ce)
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    loss, w = terms(p, impl, divide_by, normalized=True)
    xp = p.xp
    with np.errstate(all="ignore"):
        den = xp.where(w == 0, xp.ones_like(w), w)
        per_unit = p.unscale(loss / den, "mean", divide_by)
        return xp.where(w == 0, xp.full_like(loss, math.nan), xp.exp(per_unit))
