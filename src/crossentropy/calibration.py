r"""Calibration: reliability bins, ECE / MCE / RMSCE, and temperature scaling.

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

**Temperature scaling** divides logits by ``T > 0`` and picks the ``T`` that
minimises the NLL on a fit set; it never changes the argmax, hence the
accuracy. The fit optimises ``t = log T`` by safeguarded Newton steps whose
value, gradient and curvature are sums over examples
(:func:`temperature_sums`), so the same fit runs over a stream, Dask
partitions or torch ranks (:func:`fit_log_temperature` takes any function
that returns the summed values).

>>> import numpy as np
>>> p = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
>>> y = np.array([0, 1, 1])
>>> calibration_error(p, y, kind="probs", bins=5)   # bins [.6,.8): 1 wrong at .6; [.8,1]: .9, .8 right
0.3
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._array import to_numpy
from .chain import loss_terms
from .kinds import to_log_probs
from .report import Bin, Calibration, Temperature

__all__ = [
    "calibration_bins",
    "calibration_error",
    "CalibrationTable",
    "CalibrationSums",
    "fit_temperature",
    "fit_log_temperature",
    "temperature_sums",
    "TemperatureSums",
    "Temperature",
    "FINE_BINS",
]

FINE_BINS = 4096
STRATEGIES = ("uniform", "quantile")
NORMS = ("l1", "l2", "max")


def _check_bins(bins: Any) -> int:
    if (
        isinstance(bins, bool)
        or not isinstance(bins, (int, np.integer))
        or not 1 <= bins <= FINE_BINS
    ):
        msg = f"`bins` must be an integer in [1, {FINE_BINS}]; got {bins!r}"
        raise ValueError(msg)
    return int(bins)


def _check_choice(name: str, value: Any, allowed: tuple) -> str:
    if value not in allowed:
        msg = f"`{name}` must be one of {', '.join(map(repr, allowed))}; got {value!r}"
        raise ValueError(msg)
    return value


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
        self.bins = _check_bins(bins)
        self.uniform = np.zeros((4, self.bins))
        self.fine = np.zeros((4, FINE_BINS))
        self.classwise = np.zeros((4, num_classes, self.bins)) if classwise else None
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
        if self.classwise is not None:
            out.classwise = self.classwise + other.classwise
        out.n_nan = self.n_nan + other.n_nan
        return out

    def table(self, strategy: str = "uniform") -> CalibrationTable:
        """The top-label table for ``strategy``."""
        _check_choice("strategy", strategy, STRATEGIES)
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
    strategy: str
    classwise: bool = False
    n_nan: int = 0

    @classmethod
    def from_sums(
        cls,
        edges: np.ndarray,
        sums: np.ndarray,
        strategy: str,
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

    def error(self, norm: str = "l1") -> float:
        """The calibration error for ``norm`` (classwise tables: the mean over classes)."""
        _check_choice("norm", norm, NORMS)
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
        """The rows as :class:`crossentropy.report.Bin` (top-label tables only)."""
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


# ---- shared block plumbing --------------------------------------------------------------------


def unit_axis(ndim: int, axis: int) -> int:
    """The axis that indexes independent units (the first non-class axis)."""
    axis = axis % ndim
    return 1 if axis == 0 else 0


def row_blocks(pred: Any, axis: int, block_rows: int | None) -> Iterator[tuple[int, int, tuple]]:
    """``(start, stop, index)`` blocks along the unit axis, ``index`` a tuple of slices for ``pred``."""
    ndim = len(pred.shape)
    if ndim < 2:
        yield 0, 1, (slice(None),)
        return
    ua = unit_axis(ndim, axis)
    n = int(pred.shape[ua])
    per_unit = max(1, math.prod(int(s) for i, s in enumerate(pred.shape) if i != ua))
    if block_rows is None:
        block_rows = max(1, (1 << 22) // per_unit)
    if n == 0:
        yield 0, 0, tuple(slice(0, 0) if i == ua else slice(None) for i in range(ndim))
        return
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        yield (
            start,
            stop,
            tuple(slice(start, stop) if i == ua else slice(None) for i in range(ndim)),
        )


def _slice_target(target: Any, pred_ndim: int, axis: int, index: tuple) -> Any:
    tnd = len(target.shape)
    if tnd == pred_ndim:
        return target[index]
    a = axis % pred_ndim
    return target[tuple(s for i, s in enumerate(index) if i != a)]


def _slice_weight(sample_weight: Any, pred_ndim: int, axis: int, index: tuple) -> Any:
    if sample_weight is None:
        return None
    if not hasattr(sample_weight, "shape"):
        sample_weight = np.asarray(sample_weight)
    a = axis % pred_ndim
    return sample_weight[tuple(s for i, s in enumerate(index) if i != a)]


def top_label_inputs(
    pred: Any,
    target: Any,
    *,
    kind: str,
    axis: int,
    sample_weight: Any,
    ignore_index: int | None,
    validate: bool = True,
):
    """(log q (n, C), true class (n,), w (n,), valid (n,), observed (n, C) or None) as float64 NumPy.

    ``w`` and the target checks come from :func:`crossentropy.chain.loss_terms`, ``log q`` from
    :func:`crossentropy.kinds.to_log_probs`.
    """
    terms = loss_terms(
        pred,
        target,
        kind=kind,
        axis=axis,
        sample_weight=sample_weight,
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
    acc = None
    nd = len(pred.shape)
    for _, _, idx in row_blocks(pred, axis, block_rows):
        lq, true, w, valid, obs = top_label_inputs(
            pred[idx],
            _slice_target(target, nd, axis, idx),
            kind=kind,
            axis=axis,
            sample_weight=_slice_weight(sample_weight, nd, axis, idx),
            ignore_index=ignore_index,
        )
        if acc is None:
            acc = CalibrationSums(bins, lq.shape[1], classwise)
        acc.update(lq, true, w, valid, obs)
    return acc


def calibration_bins(
    pred: Any,
    target: Any,
    *,
    kind: str = "logits",
    axis: int = -1,
    bins: int = 15,
    strategy: str = "uniform",
    classwise: bool = False,
    sample_weight: Any = None,
    ignore_index: int | None = -100,
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
    _check_bins(bins)
    _check_choice("strategy", strategy, STRATEGIES)
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
    kind: str = "logits",
    axis: int = -1,
    bins: int = 15,
    strategy: str = "uniform",
    norm: str = "l1",
    classwise: bool = False,
    sample_weight: Any = None,
    ignore_index: int | None = -100,
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
    _check_choice("norm", norm, NORMS)
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


# ---- temperature scaling ----------------------------------------------------------------------


class TemperatureSums(NamedTuple):
    """Sums over examples at one ``t = log T``: NLL ``Σℓ``, ``dΣℓ/dt``, ``d²Σℓ/dt²`` and ``Σw``."""

    nll: float
    grad: float
    hess: float
    weight: float


def _check_temperature_kind(kind: str) -> None:
    if kind == "probs":
        msg = (
            "temperature scaling needs logits or log-probabilities, got kind='probs'; pass "
            "np.log(p) with kind='log_probs' (log p is a valid logit vector up to a constant)"
        )
        raise ValueError(msg)
    _check_choice("kind", kind, ("logits", "log_probs"))


def temperature_sums(
    pred: Any,
    target: Any,
    log_T: float,
    *,
    kind: str = "logits",
    axis: int = -1,
    sample_weight: Any = None,
    ignore_index: int | None = -100,
    validate: bool = True,
) -> TemperatureSums:
    r"""Mergeable sums for the temperature fit at ``t = log T`` (add them across batches).

    With ``a = 1/T = e^{−t}``, ``f(a) = Σ_i ℓ_i(a·x_i)`` where ``ℓ_i`` is the core loss of
    the scaled logits (sample weights and ``ignore_index`` as in
    :func:`crossentropy.chain.loss_terms`). With ``μ_i = E_q[x_i]``, ``v_i = Var_q[x_i]`` under
    ``q = softmax(a·x_i)``, ``m_i`` the row's mass and ``Y_i = Σ_c y_ic x_ic``:

        df/da = Σ_i w_i μ_i − s_i Y_i          d²f/da² = Σ_i w_i v_i ≥ 0   (convex in a)
        df/dt = −a·df/da                       d²f/dt² = a²·d²f/da² + a·df/da

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0], [0.0, 1.0]]); y = np.array([0, 0])
    >>> s = temperature_sums(x, y, 0.0)
    >>> h = 1e-6
    >>> fd = (temperature_sums(x, y, h).nll - temperature_sums(x, y, -h).nll) / (2 * h)
    >>> bool(abs(fd - s.grad) < 1e-8)
    True
    """
    _check_temperature_kind(kind)
    a = math.exp(-float(log_T))
    if kind == "log_probs" and validate:
        to_log_probs(pred, kind="log_probs", axis=axis, validate=True)
    x = np.moveaxis(to_numpy(pred).astype(np.float64), axis, -1)
    C = x.shape[-1]
    x = x.reshape(-1, C)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x * a
    terms = loss_terms(
        z,
        _flat_target(target, axis, C, len(pred.shape)),
        kind="logits",
        axis=-1,
        sample_weight=None if sample_weight is None else to_numpy(sample_weight).reshape(-1),
        ignore_index=ignore_index,
        validate=validate and kind == "logits",
    )
    ell = np.asarray(terms.loss, dtype=np.float64)
    w = np.asarray(terms.weight, dtype=np.float64)
    lq = np.asarray(to_log_probs(z, kind="logits", axis=-1, validate=False))
    valid = w > 0
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        q = np.exp(lq)
        pos = q > 0
        qx = np.where(pos, q * x, 0.0)
        mu = qx.sum(axis=1)
        d = np.where(pos, x - mu[:, None], 0.0)
        var = np.where(pos, q * d * d, 0.0).sum(axis=1)
        t = _flat_target(target, axis, C, len(pred.shape))
        s = (
            np.ones(len(w))
            if sample_weight is None
            else to_numpy(sample_weight).reshape(-1).astype(np.float64)
        )
        if t.ndim == 2:
            yv = np.asarray(t, dtype=np.float64)
            Y = np.where(yv > 0, yv * x, 0.0).sum(axis=1)
        else:
            ti = np.where(valid, t, 0).astype(np.intp)
            Y = np.take_along_axis(x, ti[:, None], axis=1)[:, 0]
        dfa = np.where(valid, w * mu - s * Y, 0.0).sum()
        d2fa = np.where(valid, w * var, 0.0).sum()
    return TemperatureSums(
        float(ell.sum()), float(-a * dfa), float(a * a * d2fa + a * dfa), float(w.sum())
    )


def _flat_target(target: Any, axis: int, C: int, pred_ndim: int) -> np.ndarray:
    t = to_numpy(target)
    if t.ndim == pred_ndim:
        return np.moveaxis(t, axis, -1).reshape(-1, C)
    return t.reshape(-1)


def fit_log_temperature(
    sums: Callable[[float], TemperatureSums],
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    bounds: tuple[float, float] = (-math.log(1e4), math.log(1e4)),
):
    """Minimise ``Σℓ(t)`` over ``t = log T`` given a function returning :class:`TemperatureSums`.

    Safeguarded Newton: the step is ``−g/h`` when ``h > 0`` (else a unit step downhill), capped
    at 2 in ``t``, and halved until the NLL does not increase; ``t`` stays in ``bounds``. It starts
    at ``t = 0`` (T = 1) and only accepts steps that do not increase the NLL, so the result is never
    worse than T = 1 on the fit set. Converged when the Newton step ``|g/h|`` is at most ``tol``
    (or the NLL is flat: ``g = h = 0``); not converged after ``max_iter`` steps, at a bound, or
    when every loss underflows to 0 (separable data, whose optimum is T → 0).

    Returns ``(t, nll_at_0, nll_at_t, weight, iterations, converged)``.

    >>> import numpy as np
    >>> x = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]]); y = np.array([0, 0, 0])
    >>> t, f0, f, w, it, ok = fit_log_temperature(lambda t: temperature_sums(x, y, t, validate=False))
    >>> ok and f <= f0
    True
    """
    cur = sums(0.0)
    f0 = cur.nll
    t = 0.0
    if not cur.weight > 0 or not math.isfinite(cur.nll):
        return t, f0, cur.nll, cur.weight, 0, False
    converged = False
    it = 0
    lo, hi = bounds
    for it in range(1, max_iter + 1):  # noqa: B007
        g, h = cur.grad, cur.hess
        if not (math.isfinite(g) and math.isfinite(h)):
            break
        if cur.nll == 0:  # every loss underflowed: separable data, the optimum is T → 0
            break
        if (h > 0 and abs(g / h) <= tol) or (g == 0 and h == 0):  # Newton step below tol, or flat
            converged = True
            break
        step = -g / h if h > 0 else -math.copysign(1.0, g)
        step = max(-2.0, min(2.0, step))
        accepted = False
        for _ in range(60):
            t_new = min(hi, max(lo, t + step))
            if t_new == t:
                break
            new = sums(t_new)
            if new.nll <= cur.nll:
                accepted = True
                break
            step /= 2
        if not accepted:  # no decrease left to find: at the minimum up to rounding, or stuck
            converged = h > 0 and abs(g / h) <= max(tol, 1e-8)
            break
        t, cur = t_new, new
    if t in (lo, hi):
        converged = False
    return t, f0, cur.nll, cur.weight, it, converged


def fit_temperature(
    pred: Any,
    target: Any,
    *,
    kind: str = "logits",
    axis: int = -1,
    sample_weight: Any = None,
    ignore_index: int | None = -100,
    tol: float = 1e-10,
    max_iter: int = 50,
    bins: int = 15,
    block_rows: int | None = None,
) -> Temperature:
    r"""Fit the temperature ``T`` minimising the NLL of ``softmax(x / T)`` on (pred, target).

    ``T > 0`` because the fit is over ``t = log T`` (:func:`fit_log_temperature`), from T = 1, with
    steps that never increase the NLL — so ``nll_after ≤ nll_before``; the argmax (accuracy)
    never changes. The sums run over row blocks of ``pred`` (:func:`temperature_sums`), so the
    extra memory is one block. ``kind="probs"`` raises: pass ``log(p)`` with ``kind="log_probs"``.

    Returns
    -------
    Temperature
        ``T``, the mean NLL (Σℓ/Σw, nats) and the top-label ECE (``bins`` uniform bins) before
        and after, the iteration count and whether it converged (False also when T hits
        the bounds 1e-4 or 1e4, e.g. perfectly separable data).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 500)
    >>> x = 4.0 * rng.normal(size=(500, 3)); x[np.arange(500), y] += 2.0   # over-confident logits
    >>> fit = fit_temperature(x, y)
    >>> fit.T > 1, fit.nll_after < fit.nll_before, fit.converged
    (True, True, True)
    """
    _check_temperature_kind(kind)
    nd = len(pred.shape)
    first = [True]

    def sums(t: float) -> TemperatureSums:
        tot = [0.0, 0.0, 0.0, 0.0]
        for _, _, idx in row_blocks(pred, axis, block_rows):
            s = temperature_sums(
                pred[idx],
                _slice_target(target, nd, axis, idx),
                t,
                kind=kind,
                axis=axis,
                sample_weight=_slice_weight(sample_weight, nd, axis, idx),
                ignore_index=ignore_index,
                validate=first[0],
            )
            for k in range(4):
                tot[k] += s[k]
        first[0] = False
        return TemperatureSums(*tot)

    t, f0, f, w, it, ok = fit_log_temperature(sums, tol=tol, max_iter=max_iter)
    T = math.exp(t)

    def ece(scale: float) -> float:
        acc = None
        for _, _, idx in row_blocks(pred, axis, block_rows):
            with np.errstate(all="ignore"):
                z = to_numpy(pred[idx]).astype(np.float64) / scale
            lq, true, w_, valid, obs = top_label_inputs(
                z,
                _slice_target(target, nd, axis, idx),
                kind="logits",
                axis=axis,
                sample_weight=_slice_weight(sample_weight, nd, axis, idx),
                ignore_index=ignore_index,
                validate=False,
            )
            if acc is None:
                acc = CalibrationSums(bins)
            acc.update(lq, true, w_, valid, obs)
        return acc.table().error("l1")

    def mean(s):
        return s / w if w > 0 else math.nan

    return Temperature(T, mean(f0), mean(f), ece(1.0), ece(T), it, ok)
