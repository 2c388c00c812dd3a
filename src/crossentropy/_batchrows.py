r"""One batch as per-example numbers: the record every evaluation statistic reads.

:func:`batch_rows` turns a prepared batch (:func:`crossentropy._prepare.prepare`: the
core's validation, masks and weights ``w_i``) into a :class:`BatchRows` of float64
NumPy arrays over the batch's N examples, once per batch, on one of two paths that
agree to rounding (docs/semantics.md §10–11):

- the fused kernel :func:`crossentropy.kernels.eval_rows` (NumPy float logits with
  index targets, when ``_dispatch.choose_path`` picks ``"kernel"``): one read of each
  logit row;
- otherwise ``(ℓ_i, w_i)`` from :func:`crossentropy._prepare.terms` and the rest from
  the full ``log q``.

For example ``i`` with true class ``y_i`` (a soft target: its argmax)::

    conf_i = max_c q_ic      correct_i = [argmax_c q_ic = y_i]      q_true_i = q_{i, y_i}
    brier_i = Σ_c (q_ic − ȳ_ic)²     (ȳ_i: the one-hot or normalised target, unsmoothed)

Masked rows (ignored, all-zero target, zero sample weight) are not ``valid`` and carry
zeros. A *bad* row (an out-of-range index under ``validate=False``) is valid, has no
class (``true = -1``) and is NaN in ``ℓ``, ``w`` and every number derived from ``q``.

>>> import numpy as np
>>> from crossentropy._options import LossOptions
>>> from crossentropy._prepare import prepare
>>> x, y = np.log(np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])), np.array([0, -100])
>>> r = batch_rows(prepare(x, y, LossOptions()), x, y, impl="array_api")
>>> r.valid.tolist(), r.true.tolist(), r.conf.round(6).tolist(), r.w_correct.tolist()
([True, False], [0, -1], [0.7, 0.0], [1.0, 0.0])
>>> round(float(r.w_brier[0]), 6)                    # 0.3² + 0.2² + 0.1²
0.14

Given the statistics' :class:`Binning`, the kernel path also adds the rows into their
bins in the same call (:class:`Binned`: calibration, per-class, histogram sums, in row
order as ``np.bincount`` adds them); a statistic takes those sums when its edges match
and bins the rows itself otherwise, so both give the same state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._array import to_numpy
from ._prepare import Prepared, host_terms, kernel_arrays
from ._types import Impl
from .calibration import FINE_BINS

__all__ = ["BatchRows", "Binning", "Binned", "LabelCells", "batch_rows", "label_rows"]


@dataclass(frozen=True, eq=False)
class Binning:
    """The edges the statistics bin rows on, for the kernel path to add into (:class:`Binned`)."""

    calibration: int  # uniform top-label bins on [0, 1] (and FINE_BINS sub-bins)
    p_true: int  # uniform bins of q(true) on [0, 1]
    nll_edges: np.ndarray  # edges of ℓ_i / w_i, the last one +inf (``searchsorted`` "right")


@dataclass(frozen=True, eq=False)
class Binned:
    """One batch's sums on a :class:`Binning`, added in row order over valid rows.

    ``calibration`` (4, bins) and ``fine`` (4, FINE_BINS): count, Σw, Σw·conf, Σw·correct
    of the rows with a confidence; ``per_class`` (4, C): count, Σw, Σℓ, Σw·correct by true
    class; ``p_true`` (2, P): count and Σw of the rows with a q(true); ``nll`` (2, H): of the
    rows with ``w_i > 0`` and a loss. ``n_nan``: rows with a NaN ℓ or confidence;
    ``n_nan_conf``: rows with a NaN confidence.
    """

    binning: Binning
    calibration: np.ndarray
    fine: np.ndarray
    per_class: np.ndarray
    p_true: np.ndarray
    nll: np.ndarray
    n_nan: int
    n_nan_conf: int


@dataclass(frozen=True, eq=False)
class LabelCells:
    """The (N, K) cells of a binary (K = 1) or multi-label batch, float64.

    ``p``: P(y=1); ``logit``: its logit (the ranking score); ``y``: the 0/1 label; ``ell``:
    the cell's binary cross-entropy ``−[y log p + (1 − y) log(1 − p)]`` (nats, unweighted);
    ``w`` (N,): the row's sample weight, 0 on masked rows (they count nowhere).
    """

    p: np.ndarray
    logit: np.ndarray
    y: np.ndarray
    ell: np.ndarray
    w: np.ndarray


@dataclass
class BatchRows:
    """The per-example numbers of one batch (flattened: N rows), float64 unless noted."""

    batch_shape: tuple[int, ...]
    offset: int  # global index of the batch's first unit (its leading axis)
    valid: np.ndarray  # bool: not masked (active, or bad)
    true: np.ndarray  # intp: the true class; -1 on masked and bad rows
    ell: np.ndarray  # ℓ_i (0 on masked rows, NaN on bad rows)
    w: np.ndarray  # w_i (0 on masked rows, NaN on bad rows)
    w_correct: np.ndarray  # w_i · correct_i (0 on masked rows)
    w_brier: np.ndarray  # w_i · brier_i (0 on masked rows)
    conf: np.ndarray  # max_c q_ic (0 on masked rows)
    q_true: np.ndarray  # q_{i, y_i} (0 on masked rows)
    entropy: np.ndarray | None = None  # soft targets: H_i, KL_i of CE = H + KL (weighted as ℓ_i)
    kl: np.ndarray | None = None
    log_q: np.ndarray | None = None  # (N, C) in the compute dtype: classwise calibration only
    observed: np.ndarray | None = None  # (N, C) normalised soft target (with ``log_q``)
    binned: Binned | None = None  # the kernel path's sums on the statistics' edges
    top: np.ndarray | None = None  # intp: argmax_c q_ic (multi-class, ``ranks=True``)
    rank: np.ndarray | None = None  # intp: #{c : q_ic > q_{i,y_i}} (0: the true class on top)
    labels: LabelCells | None = None  # binary / multi-label tasks: the per-label cells

    @property
    def n(self) -> int:
        return math.prod(self.batch_shape)

    @property
    def units(self) -> int:
        """Entries of the leading axis: what the bootstrap resamples."""
        return self.batch_shape[0] if self.batch_shape else 1

    @property
    def correct(self) -> np.ndarray:
        """``correct_i`` where ``w_i ≠ 0`` (every statistic uses it multiplied by ``w_i``)."""
        return self.w_correct != 0


def batch_rows(
    p: Prepared,
    pred: Any,
    target: Any,
    *,
    impl: Impl,
    offset: int = 0,
    classwise: bool = False,
    sample_weight: Any = None,
    weight: Any = None,
    binning: Binning | None = None,
    ranks: bool = False,
) -> BatchRows:
    """The :class:`BatchRows` of a prepared batch; ``impl`` as in :func:`crossentropy.cross_entropy`.

    ``pred``, ``target``, ``sample_weight`` and ``weight`` are the arrays ``p`` was
    prepared from (soft targets: the entropy / KL split). ``classwise`` keeps ``log q``.
    ``binning``: the kernel path also returns the rows' sums on these edges (``binned``).
    ``ranks``: also the predicted class ``top`` and the true class's ``rank`` (top-k
    accuracy, confusion matrix).
    """
    r = p.rows
    valid = to_numpy(r.active | r.bad)
    if p.n == 0:
        e = np.zeros(0)
        z = np.zeros(0, np.intp)
        return BatchRows(
            p.batch_shape, offset, valid, z, e, e, e, e, e, e,
            top=z if ranks else None, rank=z if ranks else None,
        )  # fmt: skip
    if r.soft is None and not classwise and p.path(impl) == "kernel":
        out = BatchRows(p.batch_shape, offset, valid, **_fused(p, valid, binning))
        if ranks:
            out.top, out.rank = _fused_ranks(np.asarray(to_numpy(p.x2)), out.true)
        return out
    rows = _from_log_q(p, impl, valid, offset)
    if ranks:
        rows.top, rows.rank = _ranks(np.asarray(to_numpy(p.x2)), rows.true)
    if r.soft is not None:
        rows.entropy, rows.kl = _decomposition(p, pred, target, sample_weight, weight)
    if not classwise:
        rows.log_q = rows.observed = None
    return rows


def _fused(p: Prepared, valid: np.ndarray, binning: Binning | None) -> dict[str, Any]:
    """The fields of :class:`BatchRows` from :func:`crossentropy.kernels.eval_rows` (one pass)."""
    from . import kernels

    x2, tgt, cw, s = kernel_arrays(p)  # bad rows carry the out-of-range class C: NaN rows
    b = binning or Binning(1, 1, np.array([0.0, np.inf]))  # (the sums of a dummy are dropped)
    rows, sums, n_nan, n_nan_conf = kernels.eval_rows(
        np.ascontiguousarray(x2),
        tgt,
        valid,
        weight=cw,
        sample_weight=s,
        label_smoothing=p.opts.label_smoothing,
        smoothing=p.opts.smoothing,
        bins=b.calibration,
        fine_bins=FINE_BINS,
        p_true_bins=b.p_true,
        nll_inner_edges=b.nll_edges[1:-1],
    )
    named = {"wc": "w_correct", "wb": "w_brier"}
    out: dict[str, Any] = {named.get(k, k): v for k, v in rows.items()}
    out["true"] = np.asarray(to_numpy(p.rows.index), dtype=np.intp)
    if binning is not None:
        out["binned"] = Binned(
            binning,
            calibration=sums["cal_uniform"],
            fine=sums["cal_fine"],
            per_class=sums["per_class"],
            p_true=sums["p_true"],
            nll=sums["nll_hist"],
            n_nan=n_nan,
            n_nan_conf=n_nan_conf,
        )
    return out


def _from_log_q(p: Prepared, impl: Impl, valid: np.ndarray, offset: int) -> BatchRows:
    """The :class:`BatchRows`: the core's ``(ℓ_i, w_i)``, the rest from ``log q``."""
    r, n = p.rows, p.n
    ell, w = host_terms(p, impl)  # float64 at the caller's weight scale
    bad = to_numpy(r.bad)
    observed = None
    with np.errstate(all="ignore"):
        lq = to_numpy(p.log_q())
        if bad.any():  # an out-of-range class has no q to score: a NaN row, as in the kernel
            lq = np.where(bad[:, None], np.nan, lq)
        if r.soft is None:
            true = to_numpy(r.index).astype(np.intp)
        else:  # the class is the target's argmax, ȳ its normalised row
            y = np.asarray(to_numpy(r.soft), dtype=np.float64)
            true = np.where(valid, np.argmax(y, axis=1), -1)
            mass = np.where(valid, y.sum(axis=1), 1.0)
            observed = np.where(valid[:, None], y / mass[:, None], 0.0)
        i = np.arange(n)
        top = np.argmax(lq, axis=1)
        conf = np.exp(lq[i, top])
        q = np.exp(lq)
        q_true = q[i, np.maximum(true, 0)]
        if observed is None:
            brier = np.einsum("ij,ij->i", q, q) - 2 * q_true + 1
        else:
            d = q - observed
            brier = np.einsum("ij,ij->i", d, d)
        del q
        zero = np.zeros(n)
        return BatchRows(
            p.batch_shape,
            offset,
            valid,
            true=true,
            ell=ell,
            w=w,
            w_correct=np.where(valid, w * (top == true), zero),
            w_brier=np.where(valid, w * brier.astype(np.float64), zero),
            conf=np.where(valid, conf.astype(np.float64), zero),
            q_true=np.where(valid, q_true.astype(np.float64), zero),
            log_q=lq,
            observed=observed,
        )


def _decomposition(p: Prepared, pred, target, sample_weight, weight) -> tuple[np.ndarray, ...]:
    """Per-example ``(H_i, KL_i)`` of a soft-target batch (:func:`crossentropy.decompose`)."""
    from .information import host_decomposition

    return host_decomposition(p)


def _fused_ranks(score: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_ranks` in one compiled pass over the scores (the kernel path: numba is there);
    the same integers, without NumPy's argmax, gather and (N, C) comparison temporaries."""
    if score.ndim != 2 or score.shape[1] == 0 or score.dtype not in (np.float32, np.float64):
        return _ranks(score, true)
    from .kernels import rowstats

    n = score.shape[0]
    top = np.empty(n, dtype=np.intp)
    rank = np.empty(n, dtype=np.intp)
    big = score.size >= rowstats.PARALLEL_RANK_CELLS
    kernel = rowstats.rank_rows_parallel if big else rowstats.rank_rows
    kernel(np.ascontiguousarray(score), np.asarray(true, dtype=np.intp), top, rank)
    return top, rank


def _ranks(score: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(argmax_c score_ic, #{c : score_ic > score_{i, y_i}})`` of (N, C) scores; rows without
    a class get rank C. Both paths rank the prediction as given (logits, probabilities or log
    probabilities: the order of q), not a rounded ``log q``, where ``x − M − log S`` can tie
    classes whose logits differ (at |x| = 1e30, every class but the largest rounds to −1e30)."""
    with np.errstate(invalid="ignore"):
        top = np.argmax(score, axis=1).astype(np.intp)
        t = np.maximum(true, 0)
        s_true = score[np.arange(score.shape[0]), t]
        rank = np.count_nonzero(score > s_true[:, None], axis=1).astype(np.intp)
    rank[(true < 0) | np.isnan(s_true)] = score.shape[1]
    return top, rank


def label_rows(
    pred: Any,
    target: Any,
    *,
    kind: str,
    sample_weight: Any = None,
    ignore_index: int | None = None,
    offset: int = 0,
    validate: bool = True,
) -> BatchRows:
    r"""The :class:`BatchRows` of a binary (K = 1) or multi-label batch: ``pred`` (N, K)
    probabilities, logits or log-probabilities of y = 1 per label, ``target`` (N, K) of 0/1
    (binary: also (N,), where ``ignore_index`` masks a row), ``sample_weight`` (N,).

    Per row ``i`` over its K labels (docs/semantics.md §10): ``ℓ_i = s_i · mean_k ℓ_ik``,
    ``w_i = s_i``, ``correct_i = mean_k [[p_ik > ½] = y_ik]``, ``brier_i = mean_k (p_ik − y_ik)²``,
    ``conf_i = mean_k max(p_ik, 1 − p_ik)``, ``q_true_i = exp(−mean_k ℓ_ik)``; the cells are in
    ``labels``.

    >>> import numpy as np
    >>> r = label_rows(np.array([[0.8], [0.4]]), np.array([1, 0]), kind="probs")
    >>> r.ell.round(6).tolist(), r.w_brier.round(6).tolist(), r.w_correct.tolist()
    ([0.223144, 0.510826], [0.04, 0.16], [1.0, 1.0])
    """
    from ._validate import positions
    from .binary import binary_terms

    x = np.asarray(to_numpy(pred), dtype=np.float64)
    t = np.asarray(to_numpy(target))
    if x.ndim == 1:
        x = x[:, None]
    if t.ndim == 1:
        t = t[:, None]
    n, K = x.shape
    if t.shape != (n, K):
        msg = (
            f"`target` of shape {tuple(np.shape(target))} does not match the prediction's "
            f"{(n, K)}: give one 0/1 label column per prediction column"
        )
        raise ValueError(msg)
    ignored = np.zeros(n, dtype=bool)
    if K == 1 and ignore_index is not None and t.dtype.kind in "iu":
        ignored = t[:, 0] == ignore_index
    with np.errstate(invalid="ignore"):
        bad = ~((t == 0) | (t == 1)) & ~ignored[:, None]
    if validate and bad.any():
        msg = (
            "`target` of a binary or multi-label task must hold 0 or 1 per label"
            + (f" (or ignore_index={ignore_index})" if K == 1 and ignore_index is not None else "")
            + f"; got {positions(bad, t)}. Class indices of more classes need task='multiclass'"
        )
        raise ValueError(msg)
    y = np.where(ignored[:, None] | bad, 0.0, t).astype(np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(to_numpy(sample_weight), np.float64)
    s = s.reshape(n)
    if validate and (~np.isfinite(s) | (s < 0)).any():
        bad_s = ~np.isfinite(s) | (s < 0)
        msg = f"`sample_weight` must be finite and non-negative; got {positions(bad_s, s)}"
        raise ValueError(msg)
    _, ell, _, info = binary_terms(x, y, kind=kind, validate=validate)  # type: ignore[arg-type]
    lp, l1p = info["lp"], info["l1p"]
    if bad.any():  # validate=False: a label that is not 0/1 has no loss (a NaN cell, as in §4)
        ell = np.where(bad, np.nan, ell)
    valid = ~ignored & (s != 0)
    w = np.where(valid, s, 0.0)
    with np.errstate(all="ignore"):
        p = np.exp(lp)
        logit = x if kind == "logits" else lp - l1p
        mean_ell = ell.mean(axis=1) if K else np.zeros(n)
        correct = ((lp > l1p) == (y == 1)).mean(axis=1)
        brier = ((p - y) ** 2).mean(axis=1)
        conf = np.maximum(p, 1 - p).mean(axis=1)
        q_true = np.exp(-mean_ell)
        row_ell = np.where(valid, s * mean_ell, 0.0)
    nan = np.isnan(x).any(axis=1)
    zero = np.zeros(n)
    cells = LabelCells(p=p, logit=logit, y=y, ell=np.where(valid[:, None], ell, 0.0), w=w)
    return BatchRows(
        (n,),
        offset,
        valid,
        true=np.where(valid, y[:, 0], -1).astype(np.intp) if K == 1 else np.full(n, -1, np.intp),
        ell=row_ell,
        w=w,
        w_correct=np.where(valid & ~nan, w * correct, zero),
        w_brier=np.where(valid, w * brier, zero),
        conf=np.where(valid, conf, zero),
        q_true=np.where(valid, q_true, zero),
        labels=cells,
    )
