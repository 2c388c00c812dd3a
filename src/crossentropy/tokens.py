r"""Per-token statistics from one pass over the prediction, and their sums per sequence.

What a trainer reads beside the loss (docs/semantics.md §15). For row i with
prediction ``x_i`` (``kind`` as everywhere) and ``log q_i = log_softmax(x_i)``::

    loss_i       = ℓ_i, weight_i = w_i           (loss_terms: every option of the chain)
    log_prob_i   = log q_{i, y_i}                (index target; Σ_c y_ic log q_ic for a distribution)
    logsumexp_i  = log Σ_c exp x_ic              (logits; log Σ_c x_ic for probs, the log-probs' own lse)
    entropy_i    = H(q_i) = −Σ_c q_ic log q_ic   (0 · log 0 = 0)
    argmax_i     = the first c with x_ic = max_k x_ik
    correct_i    = argmax_i == y_i               (a distribution: argmax of the target row)

and, for preference and RL losses, per-sequence sums ``Σ_{t ∈ seq} m_t · log_prob_t``
(:func:`sequence_log_prob`) over a padded ``(B, T)`` batch or packed sequences
(``cu_seqlens`` or ``segment_ids``).

>>> import numpy as np
>>> x = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
>>> st = token_stats(x, np.array([0, 2]))
>>> st.argmax.tolist(), st.correct.tolist()
([0, 0], [True, False])
>>> bool(np.allclose(st.loss, -st.log_prob)), round(float(st.entropy[1]), 6)   # log 3
(True, 1.098612)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import array_api_compat
import numpy as np

from ._array import Array, asarray_like, namespace, to_numpy
from ._options import IGNORE_INDEX, LossOptions
from ._prepare import prepare, terms
from ._types import Kind, Smoothing
from .special import logsumexp, xlogy

__all__ = ["TokenStats", "token_stats", "sequence_log_prob"]


class TokenStats(NamedTuple):
    """Per-row statistics of :func:`token_stats`, each with the batch shape (compute dtype)."""

    loss: Array  # ℓ_i (as loss_terms)
    weight: Array  # w_i (as loss_terms)
    log_prob: Array  # log q of the target (0 on masked rows, NaN on bad rows)
    logsumexp: Array  # log Σ_c exp x_ic of the prediction's log-space form
    entropy: Array  # H(q_i)
    argmax: Array  # int64 class of the largest prediction
    correct: Array  # bool, argmax == target (False on masked rows)


def token_stats(
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
) -> TokenStats:
    r"""Loss, log q of the target, log-sum-exp, entropy of q and argmax of every row, in one pass.

    .. math::

        \log q_i = x_i − \operatorname{lse}(x_i), \quad
        H_i = −\sum_c q_{ic} \log q_{ic}, \quad
        \text{log\_prob}_i = \log q_{i, y_i}

    ``loss`` and ``weight`` are :func:`crossentropy.loss_terms`'s ``(ℓ_i, w_i)`` (class and
    sample weights, smoothing); ``log_prob`` is the plain log-likelihood of the target (no
    weight, no smoothing: ``ℓ_i = −log_prob_i`` without them) and is 0 on masked rows
    (ignored, zero sample weight); ``correct`` is False there. ``logsumexp``, ``entropy`` and
    ``argmax`` describe the prediction alone and are given for every row. ``logsumexp`` is
    that of the logits for ``kind="logits"``, ``log Σ_c p_c`` (≈ 0) for ``"probs"`` and the
    log-probabilities' own for ``"log_probs"``. Ties in ``argmax`` go to the lowest class.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.3, 0.6]]))
    >>> st = token_stats(x + 1.0, np.array([1, -100]))
    >>> st.log_prob                                   # log 0.25; the ignored row gives 0
    array([-1.38629436,  0.        ])
    >>> st.logsumexp                                  # the shift of 1 comes back
    array([1., 1.])
    >>> st.entropy                                    # 1.5 log 2 and H(0.1, 0.3, 0.6)
    array([1.03972077, 0.89794572])
    >>> st.argmax.tolist(), st.correct.tolist(), st.weight.tolist()
    ([0, 2], [False, False], [1.0, 0.0])
    """
    opts = LossOptions(kind, axis, ignore_index, label_smoothing, smoothing, validate, "array_api")
    p = prepare(pred, target, opts, weight=weight, sample_weight=sample_weight)
    loss, w = terms(p, "array_api")
    xp, rows, x2 = p.xp, p.rows, p.x2
    with np.errstate(all="ignore"):
        lx = x2 if p.kind != "probs" else xp.log(x2)
        lse = logsumexp(lx, axis=-1)
        ref = xp.where(xp.isfinite(lse), lse, xp.zeros_like(lse))
        lq = lx - ref[:, None] if p.kind == "logits" else lx
        q = x2 if p.kind == "probs" else xp.exp(lq)
        ent = 0.0 - xp.sum(xlogy(q, lq), axis=-1)
        am = xp.astype(xp.argmax(x2, axis=-1), xp.int64)
        zero = xp.zeros_like(lse)
        if rows.index is not None:
            safe = xp.where(rows.index < 0, xp.zeros_like(rows.index), rows.index)
            lp = xp.take_along_axis(lq, xp.reshape(safe, (-1, 1)), axis=-1)[:, 0]
            hit = am == rows.index
        else:
            assert rows.soft is not None
            lp = xp.sum(xlogy(rows.soft, lq), axis=-1)
            hit = am == xp.astype(xp.argmax(rows.soft, axis=-1), xp.int64)
        lp = xp.where(rows.active, lp, zero)
        lp = xp.where(rows.bad, xp.full_like(lp, math.nan), lp)
        hit = hit & rows.active
    u = p.unflatten
    return TokenStats(loss, w, u(lp), u(lse), u(ent), u(am), u(hit))


def sequence_log_prob(
    log_prob: Array,
    *,
    mask: Array | None = None,
    cu_seqlens: Array | None = None,
    segment_ids: Array | None = None,
    num_segments: int | None = None,
    normalize: bool = False,
) -> Array:
    r"""Per-sequence ``Σ_t m_t · log_prob_t``, or with ``normalize=True`` that divided by ``Σ_t m_t``.

    Three layouts of the per-token values (e.g. :attr:`TokenStats.log_prob`):

    - **padded**: ``log_prob`` of shape ``(B, T)``, ``mask`` ``(B, T)`` (bool or 0/1): one
      number per row;
    - **packed by offsets**: ``log_prob`` of shape ``(L,)`` and ``cu_seqlens`` ``(S + 1,)``,
      non-decreasing from 0 to L: sequence k is ``[cu_seqlens[k], cu_seqlens[k + 1])``;
    - **packed by ids**: ``segment_ids`` ``(L,)`` of integers in ``[0, S)``
      (``S = num_segments``, default ``max + 1``); a negative id leaves the token out.

    ``mask`` (optional in the packed layouts) multiplies each token: masked tokens add
    exactly 0 even when their value is ``−inf`` or NaN. An empty sequence sums to 0 and
    its normalised value (the length-normalised log-probability) is NaN. Sums are per sequence, never through a running total, so one
    sequence's ``−inf`` never reaches another.

    Examples
    --------
    >>> import numpy as np
    >>> lp = np.array([[-1.0, -2.0, -np.inf], [-0.5, -0.5, -0.5]])
    >>> sequence_log_prob(lp, mask=np.array([[1, 1, 0], [1, 1, 1]]))
    array([-3. , -1.5])
    >>> flat = np.array([-1.0, -2.0, -0.5, -0.5, -0.5])
    >>> sequence_log_prob(flat, cu_seqlens=np.array([0, 2, 5]), normalize=True)
    array([-1.5, -0.5])
    >>> sequence_log_prob(flat, segment_ids=np.array([0, 0, 1, 1, 1]))
    array([-3. , -1.5])
    """
    xp = namespace(log_prob)
    if cu_seqlens is not None and segment_ids is not None:
        msg = "pass `cu_seqlens` or `segment_ids`, not both: they describe the same packing"
        raise ValueError(msg)
    x = log_prob
    if not xp.isdtype(x.dtype, "real floating"):
        msg = f"`log_prob` must be floating point; got {x.dtype}"
        raise TypeError(msg)
    m = None
    if mask is not None:
        m = asarray_like(xp, mask, x, name="mask")
        if tuple(m.shape) != tuple(x.shape):
            msg = f"`mask` must have the shape of `log_prob` {tuple(x.shape)}; got {tuple(m.shape)}"
            raise ValueError(msg)
        m = m != 0 if m.dtype != xp.bool else m
    keep = xp.ones(x.shape, dtype=xp.bool) if m is None else m
    if cu_seqlens is None and segment_ids is None:
        if x.ndim != 2:
            msg = (
                f"padded `log_prob` must be (B, T); got shape {tuple(x.shape)}. For packed "
                "sequences pass `cu_seqlens` or `segment_ids`"
            )
            raise ValueError(msg)
        return _finish(xp, x, keep, normalize)
    if x.ndim != 1:
        msg = f"packed `log_prob` must be (L,); got shape {tuple(x.shape)}"
        raise ValueError(msg)
    n = int(x.shape[0])
    if cu_seqlens is not None:
        cu = np.asarray(to_numpy(cu_seqlens)).astype(np.int64).reshape(-1)
        if cu.size < 1 or cu[0] != 0 or cu[-1] != n or np.any(np.diff(cu) < 0):
            msg = (
                f"`cu_seqlens` must be non-decreasing offsets from 0 to len(log_prob) = {n}; "
                f"got {cu.tolist()[:8]}{' ...' if cu.size > 8 else ''}"
            )
            raise ValueError(msg)
        ids_np = np.repeat(np.arange(cu.size - 1), np.diff(cu))
        num_segments = int(cu.size - 1)
    else:
        ids_np = np.asarray(to_numpy(segment_ids)).reshape(-1)
        if ids_np.shape != (n,) or not np.issubdtype(ids_np.dtype, np.integer):
            msg = (
                f"`segment_ids` must be integers of shape ({n},); got {ids_np.dtype} {ids_np.shape}"
            )
            raise ValueError(msg)
        top = int(ids_np.max()) + 1 if n else 0
        if num_segments is None:
            num_segments = top
        elif top > num_segments:
            msg = f"`segment_ids` go up to {top - 1} but `num_segments` is {num_segments}"
            raise ValueError(msg)
    ids = asarray_like(xp, np.ascontiguousarray(ids_np, dtype=np.int64), x, name="segment_ids")
    seg = xp.reshape(xp.arange(int(num_segments), dtype=ids.dtype, device=_device(x)), (-1, 1))
    member = (ids[None, :] == seg) & keep[None, :]  # (S, L)
    xs = xp.broadcast_to(x[None, :], member.shape)
    return _finish(xp, xs, member, normalize)


def _device(x: Array) -> Any:
    return array_api_compat.device(x)


def _finish(xp: Any, x: Array, keep: Array, normalize: bool) -> Array:
    """Σ over the last axis of ``x`` where ``keep`` (0 elsewhere, whatever ``x`` holds), or its mean."""
    with np.errstate(all="ignore"):
        total = xp.sum(xp.where(keep, x, xp.zeros_like(x)), axis=-1)
        if not normalize:
            return total
        count = xp.sum(xp.astype(keep, x.dtype), axis=-1)
        return total / count
