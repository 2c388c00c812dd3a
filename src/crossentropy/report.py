r"""The evaluation report: plain frozen dataclasses, text and JSON.

A :class:`Report` is what :meth:`crossentropy.Accumulator.finalize` and
:func:`crossentropy.evaluate` return. Every number in it is a ratio of float64
sums over the data (docs/semantics.md §4):

    nll = Σ ℓ_i     log_likelihood = −Σ ℓ_i     cross_entropy = Σ ℓ_i / Σ w_i
    perplexity = exp(cross_entropy)   (+inf on overflow)
    bits_per_example = cross_entropy[nats] / ln 2

``nll``, ``log_likelihood``, ``cross_entropy``, ``entropy``, ``kl`` and the
per-class NLL are in the unit of ``base`` (nats for ``"e"``, bits for 2);
``perplexity`` does not depend on the base and ``bits_per_example`` is always in
bits. Accuracy, Brier score and calibration are weighted by the same ``w_i``
(for plain inputs ``w_i = 1``: the usual unweighted numbers).

**Brier score.** The multi-class Brier score ``Σ_c (q_c − y_c)²`` (``y`` the
one-hot or normalised soft target), weighted mean over examples; it lies in
[0, 2]. scikit-learn's binary ``brier_score_loss(y, p_positive)`` is half of it
for two classes (``scale_by_half``); its multi-class form with
``scale_by_half=False`` is the same number.

**Tasks** (docs/semantics.md §10.1). ``task`` is ``"multiclass"``, ``"binary"`` or
``"multilabel"`` (``task_reason``: how it was chosen). Binary and multi-label reports read
``cross_entropy`` as the mean (per-label) binary cross-entropy, ``brier`` as scikit-learn's
``brier_score_loss`` (per label, averaged), ``calibration`` as the positive-class reliability
table (multi-label: every cell pooled), and add ``roc_auc`` / ``average_precision`` with the
bounds of their binning error, ``per_label`` (:class:`LabelStats`) and, for multi-label,
``label_averages`` (``"macro"``, ``"micro"``). Multi-class reports add ``top_k_accuracy``
(k → value) and ``confusion_matrix`` (Σ w by true and predicted class, C ≤ 100).

**JSON.** :meth:`Report.to_dict` writes non-finite floats as the strings
``"inf"``, ``"-inf"`` and ``"nan"`` (JSON has no such numbers) and missing
values as ``null``; a report over no weighted example has ``"empty": true``.

>>> import numpy as np
>>> from crossentropy.accumulate import evaluate
>>> r = evaluate(np.log(np.array([[0.5, 0.5], [0.8, 0.2]])), np.array([0, 0]))
>>> round(r.cross_entropy, 6), round(r.perplexity, 6), r.accuracy
(0.458145, 1.581139, 1.0)
>>> r.to_dict()["n_valid"]
2
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from ._json import encode as jsonable
from ._types import Base, ConcreteTask, Kind, TargetKind
from .calibration import Bin, Calibration
from .temperature import Temperature

__all__ = [
    "Report",
    "ClassStats",
    "LabelStats",
    "Bin",
    "Calibration",
    "Histogram",
    "Histograms",
    "Temperature",
    "jsonable",
]


@dataclass(frozen=True)
class ClassStats:
    """Statistics of the examples whose true class is ``cls`` (soft targets: argmax of the target)."""

    cls: int
    count: int  # valid (unmasked) examples
    weight: float  # Σ w_i
    nll_mean: float  # Σ ℓ_i / Σ w_i (in the report's base); NaN when weight is 0
    accuracy: float  # Σ w_i [argmax q_i = cls] / Σ w_i; NaN when weight is 0


@dataclass(frozen=True)
class LabelStats:
    """One label of a binary or multi-label report (docs/semantics.md §10): its rows' weight,
    the weight of its positives, and its metrics (in the report's base for ``nll``; ``auc``
    and ``average_precision`` within ``auc_bound`` / ``ap_bound`` of the exact values)."""

    label: int
    count: int  # rows that carry weight
    weight: float  # Σ w_i
    positive_weight: float  # Σ w_i y_ik
    nll: float  # Σ w_i ℓ_ik / Σ w_i
    brier: float  # Σ w_i (p_ik − y_ik)² / Σ w_i
    accuracy: float  # Σ w_i [[p_ik > ½] = y_ik] / Σ w_i
    ece: float  # positive-class reliability ECE (the report's bins and strategy)
    auc: float
    auc_bound: float
    average_precision: float
    ap_bound: float


@dataclass(frozen=True)
class Histogram:
    """A fixed-edge histogram: ``count[j]`` examples and ``weight[j]`` = Σ w_i in ``[edges[j], edges[j+1])``."""

    edges: tuple[float, ...]
    count: tuple[int, ...]
    weight: tuple[float, ...]


@dataclass(frozen=True)
class Histograms:
    """``p_true``: q of the true class (50 bins on [0, 1]); ``nll``: per-example ``ℓ_i / w_i`` in nats on a
    log-spaced grid with an underflow bin ``[0, 1e-6)`` and an overflow bin ``[1e3, inf]``;
    ``confidence``: top-label confidence on the calibration edges."""

    p_true: Histogram
    nll: Histogram
    confidence: Histogram


def _fmt(x: Any, digits: int = 6) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    f = float(x)
    if math.isnan(f):
        return "—"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}g}"


@dataclass(frozen=True)
class Report:
    """Every dataset-level number of an evaluation, from float64 sums (see the module docstring)."""

    schema_version: ClassVar[int] = 1

    n_rows: int
    n_ignored: int
    n_valid: int
    weight_sum: float
    num_classes: int
    kind: Kind  # the kind decided ("auto" only when no batch decided it)
    base: Base
    target_kind: TargetKind
    log_likelihood: float
    nll: float
    cross_entropy: float
    perplexity: float
    bits_per_example: float
    entropy: float | None
    kl: float | None
    accuracy: float
    brier: float
    per_class: tuple[ClassStats, ...]
    calibration: Calibration | None
    histograms: Histograms | None
    temperature: Temperature | None = None
    intervals: dict[str, tuple[float, float]] | None = None
    bootstrap: int = 0
    seed: int = 0
    level: float = 0.95
    sequence_perplexity: float | None = None
    n_sequences: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    # the task (docs/semantics.md §10) and its metrics
    task: ConcreteTask = "multiclass"
    task_reason: str | None = None  # how the task was chosen ("given", or task="auto"'s reason)
    top_k_accuracy: dict[int, float] | None = None  # multiclass: k → Σ w [rank < k] / Σ w
    confusion_matrix: tuple[tuple[float, ...], ...] | None = None  # Σ w by (true, predicted)
    roc_auc: float | None = None  # binary: the label's; multilabel: the macro mean
    roc_auc_bound: float | None = None
    average_precision: float | None = None
    average_precision_bound: float | None = None
    per_label: tuple[LabelStats, ...] = ()
    label_averages: dict[str, dict[str, float]] | None = None  # "macro" / "micro" → metric
    # names of the classes (multi-class, binary) or labels (multi-label), index order; None:
    # indices are shown (--classes NAMES, or a multi-label file's label column names)
    class_names: tuple[str, ...] | None = None

    def name_of(self, i: int) -> str:
        """The name of class (or label) ``i``: ``class_names[i]``, else ``str(i)``."""
        names = self.class_names
        return str(names[i]) if names is not None and 0 <= i < len(names) else str(i)

    @property
    def empty(self) -> bool:
        """True when no example carries weight (every row masked, or N = 0): the means are undefined."""
        return not self.weight_sum > 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats as strings, see the module docstring)."""
        d: dict[str, Any] = {"schema_version": self.schema_version, "empty": self.empty}
        for f in fields(self):
            d[f.name] = jsonable(getattr(self, f.name))
        return d

    def to_json(self, **kwargs: Any) -> str:
        """``json.dumps(self.to_dict())``; keyword arguments go to :func:`json.dumps`."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    # where people read it (crossentropy.display): a one-line repr, IPython, Jupyter, pandas
    def __repr__(self) -> str:
        from . import display

        return display.short_repr(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        from . import display

        display.pretty(self, p, cycle)

    def _repr_html_(self) -> str:
        from . import display

        return display.html(self)

    def to_pandas(self) -> dict[str, Any]:
        """The report as pandas DataFrames: ``metrics``, ``per_class``, ``bins`` (see
        :func:`crossentropy.display.to_pandas`; needs pandas)."""
        from . import display

        return display.to_pandas(self)

    def __str__(self) -> str:
        unit = (
            "nats" if self.base == "e" else f"base-{self.base} units" if self.base != 2 else "bits"
        )
        lines = [
            f"crossentropy report (task={self.task}, kind={self.kind}, target={self.target_kind}, "
            + (
                f"K={len(self.per_label)} labels)"
                if self.task == "multilabel"
                else f"C={self.num_classes})"
            ),
            f"  rows {self.n_rows}  valid {self.n_valid}  ignored {self.n_ignored}  "
            f"weight {_fmt(self.weight_sum)}",
        ]
        if self.empty:
            lines.append(
                "  no valid rows: every example is masked (ignore_index, zero weight or "
                "all-zero target) or the input is empty; no statistic is defined"
            )
            return "\n".join(lines)
        iv = self.intervals or {}

        def row(name: str, value: Any, key: str | None = None) -> str:
            s = f"  {name:<22}{_fmt(value):>14}"
            if key in iv:
                lo, hi = iv[key]
                s += f"   [{_fmt(lo)}, {_fmt(hi)}]"
            return s

        lines.append(row(f"cross_entropy ({unit})", self.cross_entropy, "cross_entropy"))
        lines.append(row("perplexity (corpus)", self.perplexity, "perplexity"))
        if self.sequence_perplexity is not None:
            lines.append(row("perplexity (mean/seq)", self.sequence_perplexity))
        lines.append(row("bits_per_example", self.bits_per_example))
        lines.append(row("nll (sum)", self.nll))
        lines.append(row("log_likelihood", self.log_likelihood))
        if self.entropy is not None:
            lines.append(row("entropy (target)", self.entropy))
            lines.append(row("kl", self.kl))
        acc, brier = {
            "binary": ("accuracy (p > 1/2)", "brier (binary)"),
            "multilabel": ("accuracy (per label)", "brier (per label)"),
        }.get(self.task, ("accuracy", "brier (multi-class)"))
        if self.task == "multilabel":
            lines.append("  (cross_entropy: mean per-label binary CE over rows and labels)")
        lines.append(row(acc, self.accuracy, "accuracy"))
        for k, a in (self.top_k_accuracy or {}).items():
            if k > 1:
                lines.append(row(f"top-{k} accuracy", a))
        lines.append(row(brier, self.brier, "brier"))
        for name, value, bound in (
            ("roc_auc", self.roc_auc, self.roc_auc_bound),
            ("average_precision", self.average_precision, self.average_precision_bound),
        ):
            if value is not None:
                lines.append(row(name, value) + f"   (binning error ≤ {_fmt(bound, 2)})")
        cal = self.calibration
        if cal is not None:
            lines.append(row(f"ece ({cal.strategy}, l1)", cal.ece, "ece"))
            lines.append(row("mce (max)", cal.mce))
            lines.append(row("rmsce (l2)", cal.rmsce))
            if cal.classwise_ece is not None:
                lines.append(row("classwise ece", cal.classwise_ece))
        if self.temperature is not None:
            t = self.temperature
            lines.append(
                f"  temperature T = {_fmt(t.T)}: nll {_fmt(t.nll_before)} → {_fmt(t.nll_after)}, "
                f"ece {_fmt(t.ece_before)} → {_fmt(t.ece_after)}"
            )
        if iv:
            lines.append(
                f"  intervals: {self.level:.0%} percentile, Poisson bootstrap, "
                f"{self.bootstrap} replicates, seed {self.seed}"
            )
        if cal is not None:
            binary = self.task != "multiclass"
            conf, obs = ("mean p", "P(y=1)") if binary else ("confidence", "accuracy")
            what = {"binary": " (P(y=1) against p)", "multilabel": " (every label's cells pooled)"}
            lines.append(f"  calibration bins{what.get(self.task, '')}:")
            lines.append(f"    {'lo':>7} {'hi':>7} {'count':>10} {conf:>11} {obs:>9} {'gap':>9}")
            for b in cal.bins:
                lines.append(
                    f"    {b.lo:7.4f} {b.hi:7.4f} {b.count:10d} {_fmt(b.mean_confidence, 4):>11} "
                    f"{_fmt(b.accuracy, 4):>9} {_fmt(b.gap, 3):>9}"
                )
        if self.per_label and self.task == "multilabel":
            lines.append(f"  per label ({len(self.per_label)}):")
            head = ("label", "count", "positive", "nll", "brier", "accuracy", "ece", "auc", "ap")
            nw = max(9, *(len(self.name_of(lab.label)) for lab in self.per_label[:50]))
            lines.append(f"    {head[0]:>{nw}} " + " ".join(f"{h:>9}" for h in head[1:]))
            for lab in self.per_label[:50]:
                vals = (lab.positive_weight, lab.nll, lab.brier, lab.accuracy, lab.ece)
                vals2 = (lab.auc, lab.average_precision)
                lines.append(
                    f"    {self.name_of(lab.label):>{nw}} {lab.count:9d} "
                    + " ".join(f"{_fmt(v, 4):>9}" for v in (*vals, *vals2))
                )
            for avg, d in (self.label_averages or {}).items():
                keys = ("nll", "brier", "accuracy", "ece", "auc", "average_precision")
                lines.append(
                    f"    {avg:>{nw}} {'':>9} {'':>9} "
                    + " ".join(f"{_fmt(d[k], 4):>9}" for k in keys)
                )
        cm = self.confusion_matrix
        if cm is not None and 0 < len(cm) <= 10:
            lines.append("  confusion matrix (Σ w; rows: true class, columns: predicted):")
            for true_class, cells in enumerate(cm):
                name = self.name_of(true_class)
                lines.append(f"    {name:>5} " + " ".join(f"{_fmt(v, 6):>8}" for v in cells))
        shown = [c for c in self.per_class if c.count > 0]
        if shown:
            lines.append(f"  per class ({len(shown)} with examples):")
            cw = max(7, *(len(self.name_of(c.cls)) for c in shown[:20]))
            lines.append(f"    {'class':>{cw}} {'count':>10} {'nll_mean':>11} {'accuracy':>9}")
            for c in shown[:20]:
                lines.append(
                    f"    {self.name_of(c.cls):>{cw}} {c.count:10d} {_fmt(c.nll_mean):>11} "
                    f"{_fmt(c.accuracy, 4):>9}"
                )
            if len(shown) > 20:
                lines.append(f"    … {len(shown) - 20} more classes (see to_dict())")
        return "\n".join(lines)
