r"""Entropy, KL divergence and the decomposition CE = H + KL.

For a target distribution y and a model q (docs/semantics.md §7)::

    H(y)      = − Σ_c y_c log y_c                      (0 · log 0 = 0)
    KL(y ‖ q) =   Σ_c y_c (log y_c − log q_c)
    CE(y, q)  = − Σ_c y_c log q_c = H(y) + KL(y ‖ q)

So minimising cross-entropy over q minimises KL: q is driven towards y, and the
minimum CE is H(y) (0 for a hard label, where CE = KL = NLL).

>>> import numpy as np
>>> y = np.array([[0.5, 0.5, 0.0]])
>>> q = np.array([[0.25, 0.5, 0.25]])
>>> d = decompose(q, y, kind="probs")
>>> bool(np.isclose(d.cross_entropy, d.entropy + d.kl))
True
>>> round(float(d.entropy), 6), round(float(d.kl), 6)     # log 2, ½ log 2
(0.693147, 0.346574)
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, NamedTuple, get_args

import numpy as np

from . import _validate as v
from ._array import Array, compute_dtype, namespace, to_numpy, values_available
from ._options import IGNORE_INDEX, REDUCTIONS, LossOptions, ReductionOptions, log_base
from ._prepare import Prepared, prepare, with_nll_gradient
from ._rows import unscale
from ._types import Base, ConcreteKind, DivideBy, Empty, Kind, Reduction, Smoothing
from .chain import perplexity
from .special import xlogy

__all__ = ["entropy", "kl_divergence", "decompose", "Decomposition", "perplexity"]


class Decomposition(NamedTuple):
    """``cross_entropy = entropy + kl``, each reduced the same way."""

    cross_entropy: Array
    entropy: Array
    kl: Array


def entropy(
    p: Array,
    *,
    kind: ConcreteKind = "probs",
    axis: int = -1,
    base: Base = "e",
    reduction: Reduction = "none",
    validate: bool = True,
) -> Array:
    r"""Shannon entropy ``H(p) = −Σ_c p_c log p_c`` of each distribution along ``axis``.

    ``kind="probs"`` (default), ``"log_probs"`` or ``"logits"`` (the entropy of the
    softmax). ``reduction="mean"``/``"sum"`` reduce over the rows. ``0 ≤ H ≤ log C``.

    >>> import numpy as np
    >>> entropy(np.array([[0.5, 0.5], [1.0, 0.0]]), base=2)   # one bit, zero bits
    array([1., 0.])
    """
    xp = namespace(p)
    axis = v.check_axis(p, axis, name="p")
    validate = validate and values_available(p)
    v.check_option("kind", kind, get_args(ConcreteKind))
    v.check_option("reduction", reduction, REDUCTIONS)
    x = xp.moveaxis(xp.astype(p, compute_dtype(xp, p, name="p")), axis, -1)
    from .kinds import log_probs_last

    with np.errstate(all="ignore"):
        lq = log_probs_last(xp, x, kind, validate=validate, name="p")
        q = x if kind == "probs" else xp.exp(lq)
        h = 0.0 - xp.sum(xlogy(q, lq), axis=-1)
        if reduction == "mean":
            h = xp.mean(h)
        elif reduction == "sum":
            h = xp.sum(h)
    scale = log_base(base)
    return h if scale == 1.0 else h / scale


def _decompose_terms(p: Prepared) -> tuple[Array, Array, Array]:
    """Per-example ``(CE, H, KL)`` weighted like ``ℓ_i`` (0 on masked rows, NaN on bad rows)."""
    xp, r = p.xp, p.rows
    with np.errstate(all="ignore"):
        a = r.coefficients(p.x.dtype)  # weight_c · y'_ic
        log_y = xp.log(r.coefficients(p.x.dtype, weighted=False))
        lq = p.log_q()
        parts = (
            -xp.sum(xlogy(a, lq), axis=-1),
            0.0 - xp.sum(xlogy(a, log_y), axis=-1),
            xp.sum(xp.where(a == 0, xp.zeros_like(a), a * (log_y - lq)), axis=-1),
        )
        out = []
        for t in parts:
            t = xp.where(r.active, r.s * t, xp.zeros_like(t))
            out.append(p.unflatten(xp.where(r.bad, xp.full_like(t, math.nan), t)))
    return out[0], out[1], out[2]


def host_decomposition(p: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """Per-example ``(H_i, KL_i)`` of a prepared batch as flat float64 NumPy arrays.

    Weighted like ``ℓ_i`` at the caller's weight scale, restored in float64 (the
    Accumulator's per-row record: float32 predictions keep weights below float32's range).
    """
    _, h, kl = _decompose_terms(p)
    factors = tuple(np.float64(to_numpy(f)) for f in p.rows.scales("loss"))
    out = [np.asarray(to_numpy(t), dtype=np.float64).reshape(-1) for t in (h, kl)]
    return unscale(np, out[0], factors), unscale(np, out[1], factors)


def decompose(
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
) -> Decomposition:
    r"""``(cross_entropy, entropy, kl)`` with ``CE = H(y') + KL(y' ‖ q)``, reduced like ``cross_entropy``.

    ``y'`` is the (smoothed) target. Per example the three are weighted by
    ``s_i · weight_c`` exactly as the loss, and ``"mean"`` divides all three by the
    same ``Σ w_i``, so the identity holds per example and after reduction. For
    an index target without smoothing ``entropy`` is 0 and ``kl`` equals the NLL.

    >>> import numpy as np
    >>> logits = np.array([[1.0, 2.0, 0.0]])
    >>> d = decompose(logits, np.array([1]))
    >>> float(d.entropy), bool(np.isclose(d.kl, d.cross_entropy))
    (0.0, True)
    >>> d = decompose(logits, np.array([1]), label_smoothing=0.3)   # smoothing adds entropy
    >>> float(d.entropy) > 0
    True
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate)
    red = ReductionOptions(reduction, empty, divide_by, base)
    return _decomposition(pred, target, opts, red, weight=weight, sample_weight=sample_weight)


def _decomposition(
    pred: Array,
    target: Array,
    opts: LossOptions,
    red: ReductionOptions,
    *,
    weight: Array | None,
    sample_weight: Array | None,
) -> Decomposition:
    """The body of :func:`decompose`."""
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    parts = _decompose_terms(p)  # from the rescaled weights, like the divisor below
    w = p.weights(red.divide_by)
    with np.errstate(all="ignore"):
        out = [p.reduce(t, w, red, host_check=p.checked and i == 0) for i, t in enumerate(parts)]
    if red.scale != 1.0:
        out = [t / red.scale for t in out]
    return Decomposition(*out)


def kl_divergence(
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
) -> Array:
    r"""``KL(target ‖ pred) = Σ_c y_c (log y_c − log q_c)``, reduced like ``cross_entropy``.

    Argument order follows the library (prediction first): the divergence of the
    model from the target. ``+inf`` where the target has mass on a class the model
    gives probability 0. PyTorch's ``kl_div(log_q, y, reduction="batchmean")`` is
    ``reduction="sum"`` divided by ``log_q.shape[0]``: N for a batch of rows, but C for
    one 1-D row; it equals ``reduction="mean"`` only for a 2-D batch of normalised
    rows (docs/semantics.md §12).

    >>> import numpy as np
    >>> y = np.array([[0.5, 0.5]])
    >>> float(kl_divergence(np.array([[0.5, 0.5]]), y, kind="probs"))     # KL(p ‖ p) = 0
    0.0
    >>> float(kl_divergence(np.array([[0.9, 0.1]]), y, kind="probs", base=2))
    0.73696559416620...

    On JAX arrays its gradient is the closed form of :func:`cross_entropy_grad` (``H(y)`` does
    not depend on the prediction).
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate)
    red = ReductionOptions(reduction, empty, divide_by, base)
    return with_nll_gradient(
        _kl, pred, target, opts, red, weight=weight, sample_weight=sample_weight
    )


def _kl(
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
    """:func:`kl_divergence` with the numeric options apart (they may be traced JAX arrays)."""
    if label_smoothing is not opts.label_smoothing:
        opts = replace(opts, label_smoothing=label_smoothing)
    return _decomposition(pred, target, opts, red, weight=weight, sample_weight=sample_weight).kl
