r"""The mergeable statistics of each task beyond :mod:`crossentropy.stats` (docs/semantics.md §10).

Written like :mod:`crossentropy.stats` (a :class:`~crossentropy.stats.Sums` each: float64
sums and counts, ``update`` / ``merge`` / ``to_state`` / ``from_state`` / ``finalize``):

    LabelSums      per label: Σw, Σw·ℓ, Σw·Brier, Σw·correct, Σw·y, reliability bins of
                   P(y=1) against p, and score histograms   → per-label table, macro / micro
                   means, positive-class calibration, ROC AUC, average precision
    TopKSums       Σw by the rank of the true class (< top_k)  → top-k accuracy
    ConfusionSums  Σw by (true class, predicted class)         → confusion matrix

>>> import numpy as np
>>> from crossentropy._batchrows import label_rows
>>> p, y = np.array([[0.9], [0.2], [0.6], [0.4]]), np.array([1, 0, 0, 1])
>>> a, b = LabelSums.zeros(1, bins=5), LabelSums.zeros(1, bins=5)
>>> a.update(label_rows(p[:2], y[:2], kind="probs")); b.update(label_rows(p[2:], y[2:], kind="probs"))
>>> m = a.merge(b)
>>> m.table[:, 0].tolist()[:2], LabelSums.from_state(m.to_state()) == m
([4.0, 4.0], True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ._batchrows import BatchRows
from .calibration import FINE_BINS, label_bin_sums, label_table
from .ranking import N_BINS, ranking, score_bin
from .report import Histogram, LabelStats
from .stats import CONFIG, Context, Sums

__all__ = ["LabelSums", "TopKSums", "ConfusionSums", "CONFUSION_MAX", "TASK_STATISTICS"]

#: the confusion matrix is collected up to this many classes (C² sums)
CONFUSION_MAX = 100
#: rows of ``LabelSums.table``
_COUNT, _W, _ELL, _BRIER, _CORRECT, _POS, _NAN = range(7)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else math.nan


@dataclass(eq=False)
class LabelSums(Sums):
    """Per label ``k`` of a binary (K = 1) or multi-label batch (:class:`~crossentropy._batchrows.LabelCells`).

    ``table`` (7, K): rows with weight, ``Σw``, ``Σw·ℓ``, ``Σw·(p − y)²``, ``Σw·correct``,
    ``Σw·y``, cells with NaN p; ``uniform`` (K, 4, bins) and ``fine`` (K, 4, FINE_BINS):
    count, Σw, Σw·p, Σw·y per bin of p (:func:`crossentropy.calibration.label_bin_sums`);
    ``pos`` / ``neg`` (K, N_BINS): Σw of positives / negatives per logit bin
    (:mod:`crossentropy.ranking`). Micro means pool the labels' sums.
    """

    name: ClassVar[str] = "labels"
    table: np.ndarray
    uniform: np.ndarray
    fine: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    binary: bool = field(default=False, metadata=CONFIG)

    @classmethod
    def zeros(cls, num_labels: int, bins: int, binary: bool = False) -> LabelSums:
        K = num_labels
        return cls(
            np.zeros((7, K)),
            np.zeros((K, 4, bins)),
            np.zeros((K, 4, FINE_BINS)),
            np.zeros((K, N_BINS)),
            np.zeros((K, N_BINS)),
            binary,
        )

    def update(self, rows: BatchRows) -> None:
        c = rows.labels
        if c is None or rows.n == 0:
            return
        K = self.table.shape[1]
        if c.p.shape[1] != K:
            msg = f"this batch has {c.p.shape[1]} labels but the statistic has {K}"
            raise ValueError(msg)
        nan = np.isnan(c.p) | np.isnan(c.ell)
        w = np.where(nan, 0.0, c.w[:, None])  # (n, K): a NaN cell counts in no sum but n_nan
        with np.errstate(invalid="ignore"):
            correct = (c.p > 0.5) == (c.y == 1)
            t = self.table
            t[_COUNT] += (w > 0).sum(axis=0)
            t[_W] += w.sum(axis=0)
            t[_ELL] += np.where(w > 0, w * c.ell, 0.0).sum(axis=0)
            t[_BRIER] += np.where(w > 0, w * (c.p - c.y) ** 2, 0.0).sum(axis=0)
            t[_CORRECT] += (w * correct).sum(axis=0)
            t[_POS] += (w * c.y).sum(axis=0)
            t[_NAN] += (nan & (c.w[:, None] > 0)).sum(axis=0)
        p = np.where(nan, 0.0, c.p)
        u, f = label_bin_sums(p, c.y, w, self.uniform.shape[2])  # (n, K) at once
        self.uniform += u
        self.fine += f
        key = (np.arange(K) * N_BINS + score_bin(c.logit)).ravel()
        wy = (w * c.y).ravel()
        self.pos += np.bincount(key, weights=wy, minlength=K * N_BINS).reshape(K, N_BINS)
        self.neg += np.bincount(key, weights=w.ravel() - wy, minlength=K * N_BINS).reshape(
            K, N_BINS
        )

    def _one(self, k: int | None, ctx: Context) -> dict[str, float]:
        """The metrics of label ``k``, or pooled over the labels (``None``: micro)."""
        if k is None:
            t = self.table.sum(axis=1)
            u, f = self.uniform.sum(axis=0), self.fine.sum(axis=0)
            pos, neg = self.pos.sum(axis=0), self.neg.sum(axis=0)
        else:
            t, u, f, pos, neg = (
                self.table[:, k],
                self.uniform[k],
                self.fine[k],
                self.pos[k],
                self.neg[k],
            )
        nan = t[_NAN] > 0
        W = t[_W]
        table = label_table(u, f, ctx.strategy, int(t[_NAN]))
        r = ranking(pos, neg)
        return {
            "count": int(t[_COUNT]),
            "weight": float(W),
            "positive_weight": float(t[_POS]),
            "nll": math.nan if nan else _ratio(t[_ELL], W) / ctx.scale,
            "brier": math.nan if nan else _ratio(t[_BRIER], W),
            "accuracy": math.nan if nan else _ratio(t[_CORRECT], W),
            "ece": table.error("l1") if W > 0 else math.nan,
            "auc": math.nan if nan else r.auc,
            "auc_bound": math.nan if nan else r.auc_bound,
            "average_precision": math.nan if nan else r.ap,
            "ap_bound": math.nan if nan else r.ap_bound,
        }

    def finalize(self, ctx: Context) -> dict[str, Any]:
        K = self.table.shape[1]
        per = [self._one(k, ctx) for k in range(K)]
        labels = tuple(LabelStats(k, **per[k]) for k in range(K))
        metrics = ("nll", "brier", "accuracy", "ece", "auc", "average_precision")
        macro = {m: float(np.mean([d[m] for d in per])) if K else math.nan for m in metrics}
        micro_all = self._one(None, ctx)
        micro = {m: micro_all[m] for m in metrics}
        # the report's calibration: the label's (binary) or the pooled cells' (multi-label)
        u = self.uniform[0] if self.binary else self.uniform.sum(axis=0)
        f = self.fine[0] if self.binary else self.fine.sum(axis=0)
        n_nan = int(self.table[_NAN].sum())
        W = float(self.table[_W].sum())
        table = (
            label_table(u, f, ctx.strategy, n_nan) if W > 0 or ctx.strategy == "uniform" else None
        )
        calibration = table.summary() if table is not None and W > 0 else None
        if table is None:
            confidence = Histogram((0.0, 1.0), (0,), (0.0,))
        else:
            confidence = Histogram(
                tuple(float(e) for e in table.edges),
                tuple(int(x) for x in table.count),
                tuple(float(x) for x in table.weight),
            )
        head = per[0] if self.binary else {**macro, "auc_bound": math.nan, "ap_bound": math.nan}
        return {
            "per_label": labels,
            "label_averages": None if self.binary else {"macro": macro, "micro": micro},
            "roc_auc": head["auc"],
            "roc_auc_bound": head["auc_bound"] if self.binary else _max_bound(per, "auc_bound"),
            "average_precision": head["average_precision"],
            "average_precision_bound": (
                head["ap_bound"] if self.binary else _max_bound(per, "ap_bound")
            ),
            "calibration": calibration,
            "histograms.confidence": confidence,
        }


def _max_bound(per: list[dict[str, float]], key: str) -> float:
    """The bound of a macro mean: the mean of the labels' bounds."""
    return float(np.mean([d[key] for d in per])) if per else math.nan


def _compiled(rows: BatchRows) -> Any:
    """The compiled row loops (:mod:`crossentropy.kernels.rowstats`) when the batch came from
    the fused kernel (numba is loaded then); None otherwise (NumPy's ``bincount``)."""
    if rows.binned is None:
        return None
    from .kernels import rowstats

    return rowstats


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


@dataclass(eq=False)
class TopKSums(Sums):
    """Count and ``Σw`` of the valid rows by the rank of their true class (ranks 0 … top_k − 1;
    ``rank_i = #{c : q_ic > q_{i,y_i}}``, so ties count in the true class's favour)."""

    name: ClassVar[str] = "top_k"
    sums: np.ndarray  # (2, top_k)
    num_classes: int = field(default=0, metadata=CONFIG)

    @classmethod
    def zeros(cls, top_k: int, num_classes: int) -> TopKSums:
        return cls(np.zeros((2, top_k)), int(num_classes))

    def update(self, rows: BatchRows) -> None:
        if rows.rank is None or rows.n == 0:
            return
        R = self.sums.shape[1]
        kernels = _compiled(rows)
        if kernels is not None:  # the same sums, added in the same (row) order
            add = np.zeros((2, R))
            kernels.rank_sums(rows.valid, rows.true, rows.rank, _f64(rows.w), add)
            self.sums += add
            return
        ok = rows.valid & (rows.true >= 0) & (rows.rank < R) & ~np.isnan(rows.w)
        self.sums[0] += np.bincount(rows.rank[ok], minlength=R)
        self.sums[1] += np.bincount(rows.rank[ok], weights=rows.w[ok], minlength=R)

    def finalize(self, ctx: Context) -> dict[str, Any]:
        R = min(self.sums.shape[1], self.num_classes)
        cum = np.cumsum(self.sums[1])
        return {
            "top_k_accuracy": {
                k: math.nan if ctx.nan_rows else _ratio(cum[k - 1], ctx.weight)
                for k in range(1, R + 1)
            }
        }


@dataclass(eq=False)
class ConfusionSums(Sums):
    """``Σw`` of the valid rows by (true class, predicted class = argmax q), (C, C)."""

    name: ClassVar[str] = "confusion"
    matrix: np.ndarray

    @classmethod
    def zeros(cls, num_classes: int) -> ConfusionSums:
        return cls(np.zeros((num_classes, num_classes)))

    def update(self, rows: BatchRows) -> None:
        if rows.top is None or rows.n == 0:
            return
        C = self.matrix.shape[0]
        kernels = _compiled(rows)
        if kernels is not None:  # the same sums, added in the same (row) order
            add = np.zeros((C, C))
            kernels.confusion_sums(
                rows.valid, rows.true, rows.top, _f64(rows.ell), _f64(rows.w), add
            )
            self.matrix += add
            return
        ok = rows.valid & (rows.true >= 0) & (rows.true < C) & ~np.isnan(rows.ell)
        key = rows.true[ok] * C + rows.top[ok]
        self.matrix += np.bincount(key, weights=rows.w[ok], minlength=C * C).reshape(C, C)

    def finalize(self, ctx: Context) -> dict[str, Any]:
        return {"confusion_matrix": tuple(tuple(float(x) for x in row) for row in self.matrix)}


#: the statistics of this module by state name (the Accumulator reads them with stats.STATISTICS)
TASK_STATISTICS: dict[str, type[Sums]] = {s.name: s for s in (LabelSums, TopKSums, ConfusionSums)}
