r"""Calibration: reliability bins, ECE / MCE / RMSCE, and the :class:`Bin` / :class:`Calibration` records.

**Top-label calibration** (default). For each example the confidence is
``conf_i = max_c q_ic`` and it is correct when ``argmax_c q_ic`` is the true
class (for a soft target: the argmax of the target). With bins ``b``,
``W_b = Σ_{i∈b} w_i``, ``conf_b = Σ w_i conf_i / W_b``, ``acc_b = Σ w_i correct_i / W_b``
and ``gap_b = conf_b − acc_b``:

    ECE (l1)   = Σ_b (W_b / W) · |gap_b|
    RMSCE (l2) = sqrt(Σ_b (W_b / W) · gap_b²)
    MCE (max)  = max over non-empty bins of |gap_b|

``w_i`` is the sample weight (1 by default); masked rows (``ignore_index``,
zero weight, all-zero soft target) do not count.

**Classwise** (``classwise=True``): for each class ``c`` the one-vs-rest
calibration of ``q_ic`` against the observed ``y_ic`` (1 for the true class of
an index target, the normalised target probability for a soft target), and the
classwise ECE is the mean over all C classes of the per-class ECE.

**Bins.** ``strategy="uniform"``: ``bins`` equal-width bins ``[k/B, (k+1)/B)``,
the last one closed at 1 — confidence 0 lands in the first bin and 1 in the
last. The sums are exactly mergeable across batches. ``strategy="quantile"``:
bins holding (about) equal weight, computed from a mergeable histogram of
``FINE_BINS = 4096`` equal sub-bins: each inner edge is the sub-bin boundary
where the cumulative weight first reaches ``k·W/B``, so it lies above the exact
weighted quantile (the inverted-CDF one: the smallest confidence whose
cumulative weight reaches ``k·W/B``) by at most one sub-bin width (1/4096); edges that coincide
merge (fewer, never empty, bins). The per-bin numbers are exact sums over the
sub-bins.

Differences from other libraries: scikit-learn's ``calibration_curve`` bins
the positive-class probability of a binary problem (our classwise table for
class 1) with right-closed bins ``(lo, hi]`` and exact (interpolated)
quantiles; torchmetrics' ``CalibrationError`` is top-label with uniform bins
whose edge rule depends on the version (``(lo, hi]`` through
``torch.bucketize``, older releases ``[lo, hi)`` with confidence 1.0 in a
bin of its own). The numbers agree except for confidences exactly on an edge.

Temperature scaling lives in :mod:`crossentropy.temperature` (its old names here,
``crossentropy.calibration.fit_temperature`` and friends, still resolve).

>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
>>> y = np.array([0, 1, 1])
>>> calibration_error(p, y, kind="probs", bins=5)   # bins [.6,.8): 1 wrong at .6; [.8,1]: .9, .8 right
0.3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np

from ._array import to_numpy
from ._blocks import row_blocks, slice_target, slice_weight
from ._options import IGNORE_INDEX
from ._types import Kind, Norm, Strategy
from ._validate import check_axis, check_option, check_rows
from .chain import loss_terms
from .kinds import to_log_probs

__all__ = [
    "calibration_bins",
    "calibration_error",
    "CalibrationTable",
    "CalibrationSums",
    "Bin",
    "Calibration",
    "FINE_BINS",
    "label_bin_sums",
    "label_table",
]

FINE_BINS = 4096
STRATEGIES: tuple[str, ...] = get_args(Strategy)
NORMS: tuple[str, ...] = get_args(Norm)


def check_bins(bins: Any) -> int:
    if (
        isinstance(bins, bool)
        or not isinstance(bins, (int, np.integer))
        or not 1 <= bins <= FINE_BINS
    ):
        msg = f"`bins` must be an integer in [1, {FINE_BINS}]; got {bins!r}"
        raise ValueError(msg)
    return int(bins)


def bin_index(conf: np.ndarray, bins: int) -> np.ndarray:
    """Uniform bin of each confidence: ``min(floor(conf·B), B−1)``; 0 → first bin, 1 → last bin.

    NaN confidences get bin 0 (callers give them zero weight and count them apart).

    >>> bin_index(np.array([0.0, 0.1, 0.5, 0.999, 1.0]), 10)
    array([0, 1, 5, 9, 9])
    """
    with np.errstate(invalid="ignore"):
        idx = np.floor(np.where(np.isnan(conf), 0.0, conf) * bins)
    return np.clip(idx, 0, bins - 1).astype(np.intp)


def _sums(idx: np.ndarray, n: int, conf: np.ndarray, obs: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(4, n): count, Σw, Σw·conf, Σw·obs per bin (count counts rows with w > 0 or not masked)."""
    out = np.empty((4, n), dtype=np.float64)
    out[0] = np.bincount(idx, minlength=n)
    out[1] = np.bincount(idx, weights=w, minlength=n)
    out[2] = np.bincount(idx, weights=w * conf, minlength=n)
    out[3] = np.bincount(idx, weights=w * obs, minlength=n)
    return out


class CalibrationSums:
    """Mergeable calibration state: float64 sums per bin (uniform bins, fine sub-bins, classwise).

    ``uniform`` (4, B) and ``fine`` (4, FINE_BINS) hold count, Σw, Σw·conf, Σw·correct
    for the top label; ``classwise`` (4, C, B) the same per class (optional);
    ``n_nan`` counts valid rows whose confidence is NaN (they make the errors NaN).
    """

    def __init__(self, bins: int, num_classes: int | None = None, classwise: bool = False):
        self.bins = check_bins(bins)
        self.uniform = np.zeros((4, self.bins))
        self.fine = np.zeros((4, FINE_BINS))
        self.classwise: np.ndarray | None = None
        if classwise:
            if num_classes is None:
                msg = "classwise calibration sums need `num_classes`; pass the number of classes"
                raise ValueError(msg)
            self.classwise = np.zeros((4, num_classes, self.bins))
        self.n_nan = 0

    def update(
        self,
        log_q: np.ndarray,
        true_class: np.ndarray,
        w: np.ndarray,
        valid: np.ndarray,
        observed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add a block: ``log_q`` (n, C), ``true_class`` (n,), ``w`` (n,), ``valid`` (n,) bool.

        ``observed`` (n, C) is the soft target for classwise sums (None: one-hot of
        ``true_class``). Returns (confidence, correct, uniform bin) per row.
        """
        n = log_q.shape[0]
        if n == 0:
            e = np.zeros(0)
            return e, e, np.zeros(0, dtype=np.intp)
        am = np.argmax(log_q, axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            conf = np.exp(np.take_along_axis(log_q, am[:, None], axis=1)[:, 0])
        correct = (am == true_class).astype(np.float64)
        ub, keep, wv = self.update_top(conf, correct, w, valid)
        if self.classwise is not None:
            C = log_q.shape[1]
            with np.errstate(invalid="ignore"):
                q = np.exp(log_q[keep])
            if observed is None:
                obs = np.zeros_like(q)
                obs[np.arange(q.shape[0]), true_class[keep]] = 1.0
            else:
                obs = observed[keep]
            cls = np.broadcast_to(np.arange(C), q.shape).ravel()
            flat = cls * self.bins + bin_index(q, self.bins).ravel()
            ww = np.repeat(wv[keep], C)
            s = _sums(flat, C * self.bins, q.ravel(), obs.ravel(), ww)
            self.classwise += s.reshape(4, C, self.bins)
        return conf, correct, ub

    def update_top(
        self, conf: np.ndarray, correct: np.ndarray, w: np.ndarray, valid: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add top-label rows from their confidence and correctness; returns (uniform bin, kept, weight)."""
        nan = np.isnan(conf) & valid
        self.n_nan += int(nan.sum())
        keep = valid & ~nan
        wv = np.where(keep, w, 0.0)
        c = np.where(keep, conf, 0.0)
        ub = bin_index(c, self.bins)
        ck, wk, corr = c[keep], wv[keep], correct[keep]
        self.uniform += _sums(ub[keep], self.bins, ck, corr, wk)
        self.fine += _sums(bin_index(ck, FINE_BINS), FINE_BINS, ck, corr, wk)
        return ub, keep, wv

    def merge(self, other: CalibrationSums) -> CalibrationSums:
        out = CalibrationSums(self.bins, None, False)
        out.uniform = self.uniform + other.uniform
        out.fine = self.fine + other.fine
        if self.classwise is not None or other.classwise is not None:
            if self.classwise is None or other.classwise is None:
                msg = "cannot merge classwise calibration sums with top-label-only sums"
                raise ValueError(msg)
            out.classwise = self.classwise + other.classwise
        out.n_nan = self.n_nan + other.n_nan
        return out

    def table(self, strategy: Strategy = "uniform") -> CalibrationTable:
        """The top-label table for ``strategy``."""
        check_option("strategy", strategy, STRATEGIES)
        if strategy == "uniform":
            edges = np.linspace(0.0, 1.0, self.bins + 1)
            return CalibrationTable.from_sums(edges, self.uniform, strategy, self.n_nan)
        edges_idx = quantile_edges(self.fine[1], self.bins)
        groups = np.repeat(np.arange(len(edges_idx) - 1), np.diff(edges_idx))
        sums = np.stack(
            [np.bincount(groups, weights=row, minlength=len(edges_idx) - 1) for row in self.fine]
        )
        return CalibrationTable.from_sums(edges_idx / FINE_BINS, sums, strategy, self.n_nan)

    def classwise_table(self) -> CalibrationTable:
        if self.classwise is None:
            msg = "classwise sums were not collected; construct with classwise=True"
            raise ValueError(msg)
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        return CalibrationTable.from_sums(
            edges, self.classwise, "uniform", self.n_nan, classwise=True
        )


def label_bin_sums(
    p: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class reliability sums of K Bernoulli labels: ``p`` (n, K) P(y=1), ``y`` (n, K)
    0/1, ``w`` (n,) row weights or (n, K) cell weights (0 where nothing counts; NaN ``p``
    excluded by the caller).

    Returns ``uniform`` (K, 4, bins) and ``fine`` (K, 4, FINE_BINS): count, Σw, Σw·p, Σw·y per
    bin (the :class:`CalibrationSums` layout with ``conf = p`` and ``correct = y``), so each
    label's table is the reliability diagram P(y=1) against p.

    >>> u, f = label_bin_sums(np.array([[0.1], [0.9]]), np.array([[0.0], [1.0]]), np.ones(2), 2)
    >>> u[0].tolist()
    [[1.0, 1.0], [1.0, 1.0], [0.1, 0.9], [0.0, 1.0]]
    """
    n, K = p.shape
    ww = np.broadcast_to(w.reshape(n, -1), (n, K)).ravel()  # (n,) per row or (n, K) per cell
    pr, yr, has = p.ravel(), y.ravel(), ww > 0
    out = []
    for B in (bins, FINE_BINS):
        key = (np.arange(K) * B + bin_index(p, B)).ravel()
        s = _sums(key, K * B, pr, yr, ww)
        s[0] = np.bincount(key[has], minlength=K * B)  # count the cells that carry weight
        out.append(s.reshape(4, K, B).transpose(1, 0, 2).copy())
    return out[0], out[1]


def label_table(
    uniform: np.ndarray, fine: np.ndarray, strategy: Strategy, n_nan: int = 0
) -> CalibrationTable:
    """The reliability table of one label's (or pooled) sums from :func:`label_bin_sums`:
    per bin ``mean p = Σw·p / Σw`` and ``P(y=1) = Σw·y / Σw`` (as ``mean_confidence`` and
    ``accuracy``), ECE ``Σ_b (W_b/W)|gap_b|``.

    >>> u, f = label_bin_sums(np.array([[0.1], [0.9]]), np.array([[0.0], [0.0]]), np.ones(2), 2)
    >>> label_table(u[0], f[0], "uniform").error("l1")   # (0.1 + 0.9) / 2
    0.5
    """
    c = CalibrationSums(uniform.shape[1])
    c.uniform, c.fine, c.n_nan = uniform, fine, int(n_nan)
    return c.table(strategy)


def quantile_edges(fine_weight: np.ndarray, bins: int) -> np.ndarray:
    """Sub-bin boundary indices (0 … FINE_BINS) of ``bins`` equal-weight bins from a fine histogram.

    Inner edge ``k`` is the first boundary ``j`` where the weight below it reaches
    ``k·W/B``; the exact weighted ``k/B`` quantile lies in sub-bin ``j−1``, within
    ``1/FINE_BINS`` of the edge. Coinciding edges merge; sub-bins beyond the last
    weighted one fall into the last bin, which always ends at 1.

    >>> w = np.zeros(FINE_BINS); w[[100, 2000, 3000, 4000]] = 1.0
    >>> quantile_edges(w, 2).tolist()
    [0, 2001, 4096]
    """
    n = len(fine_weight)
    cum = np.concatenate([[0.0], np.cumsum(fine_weight)])
    total = cum[-1]
    if not total > 0:
        return np.array([0, n])
    targets = total * np.arange(1, bins) / bins
    inner = np.searchsorted(cum, targets, side="left")
    edges = np.unique(np.concatenate([[0], inner, [n]]))
    return edges


@dataclass(frozen=True)
class Bin:
    """One calibration bin ``[lo, hi)`` (the last one closed at ``hi = 1``).

    ``gap = mean_confidence − accuracy`` (positive: over-confident); NaN for an
    empty bin.
    """

    lo: float
    hi: float
    count: int
    weight: float
    mean_confidence: float
    accuracy: float
    gap: float


@dataclass(frozen=True)
class Calibration:
    """Top-label calibration: ``ece = Σ_b (W_b/W)|gap_b|`` (l1), ``rmsce`` (l2), ``mce`` (max over non-empty bins)."""

    ece: float
    mce: float
    rmsce: float
    bins: tuple[Bin, ...]
    strategy: Strategy
    norm: Norm = "l1"
    classwise_ece: float | None = None


@dataclass(frozen=True)
class CalibrationTable:
    """A reliability table: ``edges`` (B+1,), and per bin ``count``, ``weight``, ``mean_confidence``,
    ``accuracy``, ``gap = mean_confidence − accuracy`` (NaN in empty bins); classwise tables have a
    leading class axis ``(C, B)``."""

    edges: np.ndarray
    count: np.ndarray
    weight: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    gap: np.ndarray
    strategy: Strategy
    classwise: bool = False
    n_nan: int = 0

    @classmethod
    def from_sums(
        cls,
        edges: np.ndarray,
        sums: np.ndarray,
        strategy: Strategy,
        n_nan: int = 0,
        classwise: bool = False,
    ) -> CalibrationTable:
        count, weight, conf, corr = sums
        with np.errstate(invalid="ignore", divide="ignore"):
            mc = np.where(weight > 0, conf / np.where(weight > 0, weight, 1.0), np.nan)
            acc = np.where(weight > 0, corr / np.where(weight > 0, weight, 1.0), np.nan)
        return cls(
            np.asarray(edges, dtype=np.float64),
            count.astype(np.int64),
            weight,
            mc,
            acc,
            mc - acc,
            strategy,
            classwise,
            int(n_nan),
        )

    def error(self, norm: Norm = "l1") -> float:
        """The calibration error for ``norm`` (classwise tables: the mean over classes)."""
        check_option("norm", norm, NORMS)
        if self.n_nan:
            return math.nan
        w = np.atleast_2d(self.weight)
        gap = np.where(w > 0, np.atleast_2d(self.gap), 0.0)
        W = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if norm == "l1":
                per = np.abs(gap * w).sum(axis=1) / W
            elif norm == "l2":
                per = np.sqrt((gap * gap * w).sum(axis=1) / W)
            else:
                per = np.where(W > 0, np.abs(gap).max(axis=1, initial=0.0), np.nan)
        return float(per.mean()) if self.classwise else float(per[0])

    def bins(self) -> tuple[Bin, ...]:
        """The rows as :class:`Bin` (top-label tables only)."""
        return tuple(
            Bin(
                float(self.edges[k]),
                float(self.edges[k + 1]),
                int(self.count[k]),
                float(self.weight[k]),
                float(self.mean_confidence[k]),
                float(self.accuracy[k]),
                float(self.gap[k]),
            )
            for k in range(len(self.count))
        )

    def summary(self, classwise_ece: float | None = None) -> Calibration:
        return Calibration(
            self.error("l1"),
            self.error("max"),
            self.error("l2"),
            self.bins(),
            self.strategy,
            "l1",
            classwise_ece,
        )


def top_label_inputs(
    pred: Any,
    target: Any,
    *,
    kind: Kind,
    axis: int,
    sample_weight: Any,
    ignore_index: int | None,
    weight: Any = None,
    validate: bool = True,
):
    """(log q (n, C), true class (n,), w (n,), valid (n,), observed (n, C) or None) as float64 NumPy.

    ``w`` (sample weight × class ``weight`` of the target, as in the report) and the target
    checks come from :func:`crossentropy.chain.loss_terms`, ``log q`` from
    :func:`crossentropy.kinds.to_log_probs`.
    """
    terms = loss_terms(
        pred,
        target,
        kind=kind,
        axis=axis,
        sample_weight=sample_weight,
        weight=weight,
        ignore_index=ignore_index,
        validate=validate,
    )
    lq = np.moveaxis(to_numpy(to_log_probs(pred, kind=kind, axis=axis, validate=False)), axis, -1)
    C = lq.shape[-1]
    lq = lq.reshape(-1, C)
    w = to_numpy(terms.weight).astype(np.float64).reshape(-1)
    t = to_numpy(target)
    if t.ndim == len(pred.shape):  # distribution
        y = np.moveaxis(t, axis, -1).reshape(-1, C).astype(np.float64)
        mass = y.sum(axis=1)
        valid = mass > 0
        true = np.argmax(y, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            obs = y / np.where(valid, mass, 1.0)[:, None]
    else:
        t = t.reshape(-1)
        valid = np.ones(t.shape, dtype=bool) if ignore_index is None else t != ignore_index
        true = np.where(valid, t, 0).astype(np.intp)
        obs = None
    if sample_weight is not None:
        valid = valid & (to_numpy(sample_weight).reshape(-1) != 0)
    return lq, true, w, valid, obs


def _calibration_sums(
    pred, target, *, kind, axis, bins, classwise, sample_weight, ignore_index, block_rows=None
) -> CalibrationSums:
    check_rows(pred, target, axis, sample_weight)  # blocks must not cut a longer target
    acc = CalibrationSums(bins, int(pred.shape[check_axis(pred, axis)]), classwise)
    nd = len(pred.shape)
    for _, _, idx in row_blocks(pred, axis, block_rows):
        lq, true, w, valid, obs = top_label_inputs(
            pred[idx],
            slice_target(target, nd, axis, idx),
            kind=kind,
            axis=axis,
            sample_weight=slice_weight(sample_weight, nd, axis, idx),
            ignore_index=ignore_index,
        )
        acc.update(lq, true, w, valid, obs)
    return acc


def calibration_bins(
    pred: Any,
    target: Any,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    bins: int = 15,
    strategy: Strategy = "uniform",
    classwise: bool = False,
    sample_weight: Any = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> CalibrationTable:
    """The reliability table (edges, count, weight, mean confidence, accuracy, gap) of a prediction.

    Parameters
    ----------
    pred, target : arrays
        As for :func:`crossentropy.cross_entropy` (any ``kind``; index or soft targets).
    bins : int
        Number of bins (default 15, as torchmetrics).
    strategy : {"uniform", "quantile"}
        Equal-width bins, or equal-weight bins from a 4096-sub-bin histogram (edges within
        1/4096 of the exact quantiles; see the module docstring).
    classwise : bool
        One table per class (one-vs-rest), shape ``(C, B)``; uniform bins only.
    sample_weight : array, optional
        Per-example weights ``w_i``; rows with weight 0 are masked.

    Returns
    -------
    CalibrationTable

    Examples
    --------
    >>> import numpy as np
    >>> t = calibration_bins(np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]), np.array([0, 1, 1]),
    ...                      kind="probs", bins=5)
    >>> t.count.tolist()
    [0, 0, 0, 1, 2]
    >>> t.gap[3:].round(2).tolist()
    [0.6, -0.15]
    """
    check_bins(bins)
    check_option("strategy", strategy, STRATEGIES)
    if classwise and strategy != "uniform":
        msg = (
            "classwise calibration supports strategy='uniform' only (a quantile table per class would "
            "need a fine histogram per class); pass strategy='uniform'"
        )
        raise ValueError(msg)
    sums = _calibration_sums(
        pred,
        target,
        kind=kind,
        axis=axis,
        bins=bins,
        classwise=classwise,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
    )
    return sums.classwise_table() if classwise else sums.table(strategy)


def calibration_error(
    pred: Any,
    target: Any,
    *,
    kind: Kind = "logits",
    axis: int = -1,
    bins: int = 15,
    strategy: Strategy = "uniform",
    norm: Norm = "l1",
    classwise: bool = False,
    sample_weight: Any = None,
    ignore_index: int | None = IGNORE_INDEX,
) -> float:
    r"""Expected (``norm="l1"``), root-mean-square (``"l2"``) or maximum (``"max"``) calibration error.

    ``l1 = Σ_b (W_b/W)|conf_b − acc_b|``, ``l2 = sqrt(Σ_b (W_b/W)(conf_b − acc_b)²)``,
    ``max = max_b |conf_b − acc_b|`` over non-empty bins; top-label by default, the mean over
    classes of the one-vs-rest error with ``classwise=True``. Other arguments as
    :func:`calibration_bins`. NaN when no example carries weight or a valid row's prediction is NaN.

    Examples
    --------
    >>> import numpy as np
    >>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    >>> y = np.array([0, 1, 1])
    >>> round(calibration_error(p, y, kind="probs", bins=5, norm="max"), 6)
    0.6
    >>> # l1 from the table: Σ_b W_b |gap_b| / W = (1·0.6 + 2·0.15) / 3
    >>> t = calibration_bins(p, y, kind="probs", bins=5)
    >>> float(np.nansum(np.abs(t.gap) * t.weight) / t.weight.sum())
    0.3
    """
    check_option("norm", norm, NORMS)
    return calibration_bins(
        pred,
        target,
        kind=kind,
        axis=axis,
        bins=bins,
        strategy=strategy,
        classwise=classwise,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
    ).error(norm)


# Temperature scaling moved to crossentropy.temperature, which imports this module: a plain
# re-export here would be an import cycle. Old code importing these names from
# ``crossentropy.calibration`` keeps working through this lazy lookup (PEP 562).
_MOVED_TO_TEMPERATURE = frozenset(
    ("fit_temperature", "fit_log_temperature", "temperature_sums", "TemperatureSums", "Temperature")
)


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_TEMPERATURE:
        from . import temperature

        return getattr(temperature, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
