r"""The mergeable statistics of an evaluation, each fed by one :class:`~crossentropy._batchrows.BatchRows`.

A statistic is a small dataclass of float64 sums and integer counts — never a mean —
so that batches may arrive in any split and partial states merge in any order
(docs/semantics.md §10). Each one has

    update(rows)    add one batch            merge(other)    a new statistic holding both
    to_state()      JSON-safe plain values   from_state(d)   the inverse
    finalize(ctx)   its fields of the :class:`~crossentropy.Report` ("histograms.nll": a
                    field of the report's ``histograms`` record)

and :class:`Sums` generates ``merge``, ``to_state`` and ``from_state`` from the
dataclass fields: a field marked :data:`CONFIG` is an option (equal on both sides of a
merge), every other one a sum. The binned statistics take the kernel path's sums
(``rows.binned``, on the edges :func:`binning` names) when they are there, and bin the
rows themselves otherwise: the same numbers added in the same (row) order.

    LossSums           Σℓ, Σw, Σw·correct, Σw·brier, row counts    → loss, accuracy, Brier
    DecompositionSums  Σ H_i, Σ KL_i (soft targets)                → entropy, kl
    ClassSums          count, Σw, Σℓ, Σw·correct by true class     → per-class table
    HistogramSums      q(true) and ℓ_i / w_i histograms            → histograms
    CalibrationStat    crossentropy.calibration.CalibrationSums    → ECE / MCE / RMSCE
    SequenceSums       Σ_b exp(Σ_t ℓ_bt / Σ_t w_bt)                → sequence perplexity
    BootstrapSums      crossentropy.bootstrap.ReplicateSums        → intervals

>>> import numpy as np
>>> from crossentropy._batchrows import BatchRows
>>> one = lambda ell: BatchRows((1,), 0, np.array([True]), np.array([0]), np.array([ell]),
...                             np.ones(1), np.ones(1), np.zeros(1), np.ones(1), np.ones(1))
>>> a, b = LossSums(), LossSums()
>>> a.update(one(0.5)); b.update(one(1.5))
>>> m = a.merge(b)
>>> m.loss, m.n_rows, LossSums.from_state(m.to_state()) == m
(2.0, 2, True)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

import numpy as np

from ._batchrows import BatchRows, Binned, Binning
from ._json import decode, encode
from ._types import Strategy
from .bootstrap import ReplicateSums, percentile_interval, poisson_weights
from .calibration import CalibrationSums, bin_index
from .report import ClassStats, Histogram

__all__ = [
    "Sums",
    "Context",
    "LossSums",
    "DecompositionSums",
    "ClassSums",
    "HistogramSums",
    "CalibrationStat",
    "SequenceSums",
    "BootstrapSums",
    "STATISTICS",
    "NLL_EDGES",
    "P_TRUE_BINS",
    "binning",
]

#: bins of the q(true) histogram on [0, 1]
P_TRUE_BINS = 50
#: per-example NLL histogram edges (nats): [0, 1e-6), 36 log-spaced bins up to 1e3, [1e3, inf]
NLL_EDGES = np.concatenate([[0.0], 10.0 ** np.arange(-6.0, 3.0001, 0.25), [math.inf]])
#: metadata of a field that is an option of the statistic, not a sum
CONFIG = {"config": True}
_BOOT_CHUNK = 1 << 13  # units per bootstrap chunk: (chunk × replicates) float64 weights


def binning(bins: int) -> Binning:
    """The edges of these statistics with ``bins`` calibration bins (what the kernel path bins on)."""
    return Binning(bins, P_TRUE_BINS, NLL_EDGES)


@dataclass(frozen=True)
class Context:
    """What a statistic's ``finalize`` needs besides its own sums."""

    scale: float  # ln(base): a value in nats divided by it is in the report's unit
    weight: float  # Σ w_i over the data
    nan_rows: bool  # some valid row has a NaN loss or confidence
    soft: bool  # soft (distribution) targets
    strategy: Strategy  # calibration bins
    level: float  # interval level

    @property
    def empty(self) -> bool:
        """No example carries weight: the means are undefined."""
        return not self.weight > 0


def _ratio(a: float, b: float) -> float:
    """``a / b`` as a Python float (NaN when ``b`` is not positive)."""
    return float(a / b) if b > 0 else math.nan


def _exp(x: float) -> float:
    if math.isnan(x):
        return math.nan
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _restore(value: Any, f: Any) -> Any:
    if isinstance(value, list):
        return np.asarray(decode(value), dtype=f.metadata.get("dtype", np.float64))
    return decode(value)


@dataclass(eq=False)
class Sums(ABC):
    """Base of the statistics: ``merge``, ``to_state`` and ``from_state`` from the dataclass fields."""

    name: ClassVar[str]

    @abstractmethod
    def update(self, rows: BatchRows) -> None:
        """Add one batch's rows."""

    @abstractmethod
    def finalize(self, ctx: Context) -> dict[str, Any]:
        """This statistic's fields of the Report."""

    @classmethod
    def _sum_fields(cls) -> list:
        return [f for f in fields(cls) if not f.metadata.get("config")]

    def merge(self, other: Self) -> Self:
        """A new statistic: sums added, options (``CONFIG`` fields) equal; the inputs are unchanged."""
        if type(other) is not type(self):
            msg = f"cannot merge {type(other).__name__} into {type(self).__name__}"
            raise TypeError(msg)
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.metadata.get("config"):
                if a != b:
                    msg = f"cannot merge {self.name} sums with different {f.name}: {a!r} vs {b!r}"
                    raise ValueError(msg)
                out[f.name] = a
            elif a is None or b is None:
                if a is not None or b is not None:
                    msg = f"cannot merge {self.name} sums: only one side collects {f.name}"
                    raise ValueError(msg)
                out[f.name] = None
            elif np.shape(a) != np.shape(b):
                msg = f"cannot merge {self.name}.{f.name} of shape {np.shape(b)} into {np.shape(a)}"
                raise ValueError(msg)
            else:
                out[f.name] = a + b
        return type(self)(**out)

    def to_state(self) -> dict[str, Any]:
        """Every field as plain JSON-safe values (non-finite floats as strings)."""
        return {f.name: encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Self:
        """The statistic of :meth:`to_state` (also after a JSON round trip)."""
        return cls(**{f.name: _restore(d[f.name], f) for f in fields(cls)})

    def __eq__(self, other: object) -> bool:
        """Equal states (NaN equals NaN)."""
        return type(other) is type(self) and self.to_state() == other.to_state()


@dataclass(eq=False)
class LossSums(Sums):
    """``Σℓ_i``, ``Σw_i``, ``Σw_i·correct_i``, ``Σw_i·brier_i`` and the row counts.

    ``cross_entropy = Σℓ/Σw`` (perplexity its exp), ``accuracy = Σw·correct/Σw``,
    ``brier = Σw·brier/Σw``; accuracy and Brier are NaN when a valid row has a NaN loss or
    confidence. Counts are of examples (``n_units``: entries of the leading axis).
    """

    name: ClassVar[str] = "loss"
    n_rows: int = 0
    n_ignored: int = 0
    n_valid: int = 0
    n_nan: int = 0
    n_units: int = 0
    loss: float = 0.0
    weight: float = 0.0
    correct: float = 0.0
    brier: float = 0.0

    def update(self, rows: BatchRows) -> None:
        valid = int(rows.valid.sum())
        self.n_rows += rows.n
        self.n_valid += valid
        self.n_ignored += rows.n - valid
        if rows.binned is not None:
            self.n_nan += rows.binned.n_nan
        else:
            self.n_nan += int((rows.valid & (np.isnan(rows.ell) | np.isnan(rows.conf))).sum())
        self.n_units += rows.units
        self.loss += float(rows.ell.sum())
        self.weight += float(rows.w.sum())
        self.correct += float(rows.w_correct.sum())
        self.brier += float(rows.w_brier.sum())

    def finalize(self, ctx: Context) -> dict[str, Any]:
        ce = _ratio(self.loss, self.weight)
        nan = self.n_nan > 0
        return {
            "n_rows": self.n_rows,
            "n_ignored": self.n_ignored,
            "n_valid": self.n_valid,
            "weight_sum": self.weight,
            "log_likelihood": -self.loss / ctx.scale,
            "nll": self.loss / ctx.scale,
            "cross_entropy": ce / ctx.scale,
            "perplexity": _exp(ce),
            "bits_per_example": ce / math.log(2),
            "accuracy": math.nan if nan else _ratio(self.correct, self.weight),
            "brier": math.nan if nan else _ratio(self.brier, self.weight),
        }


@dataclass(eq=False)
class DecompositionSums(Sums):
    """``Σ H_i`` and ``Σ KL_i`` of ``CE = H(y') + KL(y' ‖ q)`` (soft targets; see ``decompose``)."""

    name: ClassVar[str] = "decomposition"
    entropy: float = 0.0
    kl: float = 0.0

    def update(self, rows: BatchRows) -> None:
        if rows.entropy is not None and rows.kl is not None:
            self.entropy += float(rows.entropy.sum())
            self.kl += float(rows.kl.sum())

    def finalize(self, ctx: Context) -> dict[str, Any]:
        if not ctx.soft:
            return {"entropy": None, "kl": None}
        return {
            "entropy": _ratio(self.entropy, ctx.weight) / ctx.scale,
            "kl": _ratio(self.kl, ctx.weight) / ctx.scale,
        }


@dataclass(eq=False)
class ClassSums(Sums):
    """Per true class: count, ``Σw``, ``Σℓ``, ``Σw·correct`` (rows ``table[0..3]``, shape (4, C)).

    Rows without a class (masked, or bad under ``validate=False``) are in no class.
    """

    name: ClassVar[str] = "per_class"
    table: np.ndarray

    @classmethod
    def zeros(cls, num_classes: int) -> ClassSums:
        return cls(np.zeros((4, num_classes)))

    def update(self, rows: BatchRows) -> None:
        b = rows.binned
        if b is not None and b.per_class.shape == self.table.shape:
            self.table += b.per_class
            return
        has = rows.valid & (rows.true >= 0)
        t, C = rows.true[has], self.table.shape[1]
        self.table[0] += np.bincount(t, minlength=C)
        for j, v in enumerate((rows.w, rows.ell, rows.w_correct), start=1):
            self.table[j] += np.bincount(t, weights=v[has], minlength=C)

    def finalize(self, ctx: Context) -> dict[str, Any]:
        count, w, ell, wc = self.table
        return {
            "per_class": tuple(
                ClassStats(
                    c,
                    int(count[c]),
                    float(w[c]),
                    _ratio(ell[c], w[c]) / ctx.scale,
                    math.nan if ctx.nan_rows else _ratio(wc[c], w[c]),
                )
                for c in range(len(count))
            )
        }


def _histogram(edges: np.ndarray, sums: np.ndarray) -> Histogram:
    return Histogram(
        tuple(float(e) for e in edges),
        tuple(int(c) for c in sums[0]),
        tuple(float(x) for x in sums[1]),
    )


def _same_histograms(b: Binned) -> bool:
    e = b.binning.nll_edges
    return b.binning.p_true == P_TRUE_BINS and (e is NLL_EDGES or np.array_equal(e, NLL_EDGES))


@dataclass(eq=False)
class HistogramSums(Sums):
    """Count and ``Σw`` of ``q(true)`` (:data:`P_TRUE_BINS` bins) and of ``ℓ_i / w_i`` (:data:`NLL_EDGES`)."""

    name: ClassVar[str] = "histograms"
    p_true: np.ndarray = field(default_factory=lambda: np.zeros((2, P_TRUE_BINS)))
    nll: np.ndarray = field(default_factory=lambda: np.zeros((2, len(NLL_EDGES) - 1)))

    def update(self, rows: BatchRows) -> None:
        b = rows.binned
        if b is not None and _same_histograms(b):
            self.p_true += b.p_true
            self.nll += b.nll
            return
        ok = rows.valid & ~np.isnan(rows.q_true)
        self._add(self.p_true, bin_index(rows.q_true[ok], P_TRUE_BINS), rows.w[ok])
        pos = rows.valid & (rows.w > 0) & ~np.isnan(rows.ell)
        with np.errstate(invalid="ignore", divide="ignore"):
            per = rows.ell[pos] / rows.w[pos]
        self._add(self.nll, np.searchsorted(NLL_EDGES[1:-1], per, side="right"), rows.w[pos])

    @staticmethod
    def _add(sums: np.ndarray, idx: np.ndarray, w: np.ndarray) -> None:
        sums[0] += np.bincount(idx, minlength=sums.shape[1])
        sums[1] += np.bincount(idx, weights=w, minlength=sums.shape[1])

    def finalize(self, ctx: Context) -> dict[str, Any]:
        return {
            "histograms.p_true": _histogram(np.linspace(0, 1, P_TRUE_BINS + 1), self.p_true),
            "histograms.nll": _histogram(NLL_EDGES, self.nll),
        }


@dataclass(eq=False)
class CalibrationStat(Sums):
    """The state of :class:`crossentropy.calibration.CalibrationSums` (its attributes, by name).

    ``update`` and ``finalize`` run ``CalibrationSums`` on these arrays: top-label bins
    from each row's confidence and correctness (or the kernel's, ``rows.binned``), classwise
    bins from ``log q``.
    """

    name: ClassVar[str] = "calibration"
    uniform: np.ndarray
    fine: np.ndarray
    classwise: np.ndarray | None
    n_nan: int = 0

    @classmethod
    def zeros(cls, bins: int, num_classes: int, classwise: bool) -> CalibrationStat:
        c = CalibrationSums(bins, num_classes, classwise)
        return cls(**{f.name: getattr(c, f.name) for f in fields(cls)})

    def sums(self) -> CalibrationSums:
        c = CalibrationSums(self.uniform.shape[1])
        for f in fields(self):
            setattr(c, f.name, getattr(self, f.name))
        return c

    def update(self, rows: BatchRows) -> None:
        if rows.n == 0:
            return
        b = rows.binned
        if self.classwise is None and b is not None and b.calibration.shape == self.uniform.shape:
            self.uniform += b.calibration
            self.fine += b.fine
            self.n_nan += b.n_nan_conf
            return
        c = self.sums()
        if self.classwise is None:
            c.update_top(rows.conf, rows.correct, rows.w, rows.valid)
        else:
            if rows.log_q is None:
                msg = "classwise calibration needs log q: build the rows with classwise=True"
                raise ValueError(msg)
            c.update(rows.log_q, np.maximum(rows.true, 0), rows.w, rows.valid, rows.observed)
        for f in fields(self):
            setattr(self, f.name, getattr(c, f.name))

    def finalize(self, ctx: Context) -> dict[str, Any]:
        c = self.sums()
        table = c.table(ctx.strategy) if not ctx.empty or ctx.strategy == "uniform" else None
        calibration = None
        if table is not None and not ctx.empty:  # a table exists whenever it is not empty
            cw = c.classwise_table().error("l1") if self.classwise is not None else None
            calibration = table.summary(cw)
        if table is None:
            confidence = Histogram((0.0, 1.0), (0,), (0.0,))
        else:
            confidence = _histogram(table.edges, np.stack([table.count, table.weight]))
        return {"calibration": calibration, "histograms.confidence": confidence}


@dataclass(eq=False)
class SequenceSums(Sums):
    """``Σ_b exp(Σ_t ℓ_bt / Σ_t w_bt)`` over sequences ``b`` with some weight, and their number.

    ``axis``: the sequence-position axis of the per-example shape (not the leading one).
    """

    name: ClassVar[str] = "sequences"
    axis: int = field(default=1, metadata=CONFIG)
    perplexity: float = 0.0
    n_sequences: int = 0

    def update(self, rows: BatchRows) -> None:
        if rows.n == 0:
            return
        ell, w = rows.ell.reshape(rows.batch_shape), rows.w.reshape(rows.batch_shape)
        sa, nd = self.axis, ell.ndim
        if not -nd <= sa < nd or sa % nd == 0:
            msg = (
                f"`sequence_axis`={sa} must name a non-leading axis of the per-example shape "
                f"{ell.shape} (e.g. 1 for (batch, time, classes) predictions); the leading axis "
                "indexes sequences"
            )
            raise ValueError(msg)
        L = np.moveaxis(ell, sa, -1).reshape(-1, ell.shape[sa]).sum(axis=1)
        W = np.moveaxis(w, sa, -1).reshape(-1, w.shape[sa]).sum(axis=1)
        has = W > 0
        with np.errstate(over="ignore", invalid="ignore"):
            self.perplexity += float(np.exp(L[has] / W[has]).sum())
        self.n_sequences += int(has.sum())

    def finalize(self, ctx: Context) -> dict[str, Any]:
        n = self.n_sequences
        return {"sequence_perplexity": self.perplexity / n if n else math.nan, "n_sequences": n}


_INT64 = {"dtype": np.int64}


@dataclass(eq=False)
class BootstrapSums(Sums):
    """Per-replicate exact sums (:class:`crossentropy.bootstrap.ReplicateSums`' state, by name).

    Columns per unit: ``Σℓ, Σw, Σw·correct, Σw·brier`` and, for ``bins`` > 0 (uniform
    calibration bins), per bin ``Σw, Σw·conf, Σw·correct`` for the ECE interval.
    """

    name: ClassVar[str] = "bootstrap"
    seed: int = field(metadata=CONFIG)
    bins: int = field(metadata=CONFIG)
    limbs: np.ndarray = field(metadata=_INT64)
    nan: np.ndarray = field(metadata=_INT64)
    posinf: np.ndarray = field(metadata=_INT64)
    neginf: np.ndarray = field(metadata=_INT64)

    @classmethod
    def zeros(cls, replicates: int, seed: int, bins: int) -> BootstrapSums:
        return cls._of(seed, bins, ReplicateSums.zeros(replicates, 4 + 3 * bins))

    @classmethod
    def _of(cls, seed: int, bins: int, r: ReplicateSums) -> BootstrapSums:
        return cls(seed, bins, **{f.name: getattr(r, f.name) for f in cls._sum_fields()})

    def sums(self) -> ReplicateSums:
        return ReplicateSums(**{f.name: getattr(self, f.name) for f in self._sum_fields()})

    def merge(self, other: Any) -> Any:
        """Config checked and shapes checked by :meth:`Sums.merge`; limbs added and carried."""
        super().merge(other)
        return self._of(self.seed, self.bins, self.sums().merge(other.sums()))

    def update(self, rows: BatchRows) -> None:
        if rows.n == 0:
            return
        units, B = rows.units, self.bins
        per_unit = rows.n // units
        r = self.sums()
        K, m = r.shape
        ub = bin_index(rows.conf, B) if B else np.zeros(0, dtype=np.intp)  # (B = 0: unused)
        for u0 in range(0, units, _BOOT_CHUNK):
            u1 = min(units, u0 + _BOOT_CHUNK)
            nu = u1 - u0
            sl = slice(u0 * per_unit, u1 * per_unit)
            vals = np.zeros((nu, m))
            for j, col in enumerate((rows.ell, rows.w, rows.w_correct, rows.w_brier)):
                vals[:, j] = col[sl].reshape(nu, per_unit).sum(axis=1)
            if B:
                v = rows.valid[sl]
                key = (np.arange(nu).repeat(per_unit) * B + ub[sl])[v]
                wv = rows.w[sl][v]
                for j, val in enumerate((wv, wv * rows.conf[sl][v], rows.w_correct[sl][v])):
                    vals[:, 4 + j * B : 4 + (j + 1) * B] = np.bincount(
                        key, weights=val, minlength=nu * B
                    ).reshape(nu, B)
            weights = poisson_weights(self.seed, np.arange(rows.offset + u0, rows.offset + u1), K)
            r.add(weights, vals)
        for f in self._sum_fields():
            setattr(self, f.name, getattr(r, f.name))

    def finalize(self, ctx: Context) -> dict[str, Any]:
        if ctx.empty:
            return {"intervals": None}
        S = self.sums().values()
        Wk = S[:, 1]
        use = Wk > 0
        S, Wk = S[use], Wk[use]
        ce = S[:, 0] / Wk
        ci = percentile_interval(ce, ctx.level)
        out = {
            "cross_entropy": tuple(v / ctx.scale for v in ci),
            "perplexity": tuple(_exp(v) for v in ci),
            "accuracy": percentile_interval(S[:, 2] / Wk, ctx.level),
            "brier": percentile_interval(S[:, 3] / Wk, ctx.level),
        }
        if self.bins:
            B = self.bins
            conf, corr = S[:, 4 + B : 4 + 2 * B], S[:, 4 + 2 * B : 4 + 3 * B]
            out["ece"] = percentile_interval(np.abs(conf - corr).sum(axis=1) / Wk, ctx.level)
        return {"intervals": out}


#: every statistic by its state name (what :meth:`crossentropy.Accumulator.from_state` reads)
STATISTICS: dict[str, type[Sums]] = {
    s.name: s
    for s in (
        LossSums,
        DecompositionSums,
        ClassSums,
        HistogramSums,
        CalibrationStat,
        SequenceSums,
        BootstrapSums,
    )
}
