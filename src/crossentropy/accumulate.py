r"""The mergeable evaluation state: ``update`` / ``merge`` / ``finalize`` → :class:`~crossentropy.Report`.

(A little over the ~600-line guide: the Accumulator composes the statistics of three
tasks and owns its versioned state format; each statistic itself lives in ``stats``,
``taskstats``, ``calibration``, ``ranking``, ``bootstrap``.)

An :class:`Accumulator` holds float64 sums and integer counts only — never a
mean of means — so that any engine (a file stream, Dask partitions, torch
ranks) can feed it batches in any split and merge the partial states in any
order (docs/semantics.md §4, §10). It is a composition of the small mergeable
statistics of :mod:`crossentropy.stats`:

    LossSums, DecompositionSums  Σℓ, Σw, Σw·correct, Σw·brier, ΣH, ΣKL → loss, accuracy, Brier, entropy, kl
    ClassSums, HistogramSums     per-class and histogram sums          → per-class table, plots
    CalibrationStat              per-bin Σw, Σw·conf, Σw·correct       → ECE / MCE / RMSCE
    SequenceSums                 Σ per-sequence perplexity             → sequence_perplexity
    BootstrapSums                per-replicate exact sums              → bootstrap intervals

Each batch becomes one record of per-example numbers,
:class:`~crossentropy._batchrows.BatchRows`, from the core's preparation (masks,
weights ``w_i``, ``ℓ_i``: nothing here re-derives the loss), and every statistic adds
it. ``impl=`` picks who computes the record, as in :func:`crossentropy.cross_entropy`
(``_dispatch.choose_path``): the fused kernel :func:`crossentropy.kernels.eval_rows`
or the full ``log q``; they agree to float64 rounding (float32 input: float32 rounding).

**Units.** The bootstrap resamples *units*: the entries of the batch's first
non-class axis (an example for ``(N, C)`` input, a sequence for ``(B, T, V)``).
A unit's global index (``row_offset`` + its position in the batch) keys its
replicate weights, so the same seed gives the same interval for any split.
Counts (``n_rows``, ``n_ignored``, ``n_valid``) are of examples (positions).

**Perplexity, both ways.** ``perplexity`` is corpus perplexity
``exp(Σℓ/Σw)`` (token-weighted). With ``sequence_axis=`` (an axis of the
prediction without its class axis, e.g. 1 for ``(B, T, V)``) the report also
has ``sequence_perplexity``: the mean over sequences of ``exp(Σ_t ℓ / Σ_t w)``,
HF evaluate's ``mean_perplexity``; sequences with no valid token are left out
of that mean (``n_sequences`` counts those used).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(100, 4)), rng.integers(0, 4, 100)
>>> a, b = Accumulator(), Accumulator()
>>> a.update(x[:30], y[:30]); b.update(x[30:], y[30:], row_offset=30)
>>> r = a.merge(b).finalize()
>>> import crossentropy as ce
>>> bool(np.isclose(r.cross_entropy, ce.cross_entropy(x, y)))
True
>>> r.n_rows, r.num_classes
(100, 4)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import fields, replace
from typing import Any, cast

import numpy as np

from ._array import to_numpy
from ._batchrows import batch_rows, label_rows
from ._blocks import row_blocks, slice_target, slice_weight
from ._json import encode
from ._options import IGNORE_INDEX, LossOptions, log_base
from ._prepare import Prepared, prepare
from ._types import (
    Base,
    ConcreteKind,
    ConcreteTask,
    Impl,
    Kind,
    Smoothing,
    Strategy,
    TargetKind,
    Task,
)
from ._validate import check_float64_weights, check_option, check_rows
from .calibration import STRATEGIES, check_bins
from .kinds import TASKS, infer_label_kind, infer_task, positive_column, resolve_kind
from .report import Histograms, Report
from .stats import (
    NLL_EDGES,
    P_TRUE_BINS,
    STATISTICS,
    BootstrapSums,
    CalibrationStat,
    ClassSums,
    Context,
    DecompositionSums,
    HistogramSums,
    LossSums,
    SequenceSums,
    Sums,
    binning,
)
from .taskstats import CONFUSION_MAX, TASK_STATISTICS, ConfusionSums, LabelSums, TopKSums
from .temperature import fit_temperature, loss_options

__all__ = ["Accumulator", "evaluate", "P_TRUE_BINS", "NLL_EDGES"]

#: the layout of :meth:`Accumulator.to_state` (2: one entry per statistic; 3: the task, its
#: reason, top-k, confusion and per-label statistics)
STATE_VERSION = 3
#: what every batch (and every merged state) must share; None until a batch decides it
_SHARED = ("num_classes", "resolved_kind", "target_kind", "resolved_task")
#: cells per block of a binary / multi-label ``evaluate`` (memory: a few tens of MB)
_LABEL_BLOCK_CELLS = 1 << 18
#: every statistic a state may hold, by name
_ALL_STATISTICS = {**STATISTICS, **TASK_STATISTICS}


class Accumulator:
    """Mergeable sums for every dataset-level evaluation number.

    Parameters
    ----------
    kind : {"logits", "probs", "log_probs", "auto"}
        What predictions hold (``"auto"`` decides per batch and must decide the same every time).
        Binary and multi-label predictions hold, per column, P(y=1), its logit or its log.
    task : {"auto", "multiclass", "binary", "multilabel"}
        The task (docs/semantics.md §10): ``"binary"`` takes one column (or two: the second
        class's) and labels {0, 1}; ``"multilabel"`` K columns and K 0/1 label columns.
        ``"auto"`` decides on each batch from shapes and labels when only one reading fits
        (:func:`crossentropy.kinds.infer_task`; ``task_reason`` in the report) and must decide
        the same every time.
    top_k : int
        Multi-class: collect top-k accuracy for k = 1 … top_k (0: none, and no extra pass
        over the scores). A confusion matrix is collected when C ≤ 100.
    num_classes : int, optional
        C; by default taken from the first batch. Every batch must have it.
    axis, ignore_index, label_smoothing, smoothing, weight
        As in :func:`crossentropy.cross_entropy`.
    bins : int
        Calibration bins (default 15).
    strategy : {"uniform", "quantile"}
        Calibration bins (see :mod:`crossentropy.calibration`).
    base : "e" or 2 (or any positive number ≠ 1)
        Unit of nll / cross_entropy / entropy / kl in the report.
    bootstrap : int
        Poisson-bootstrap replicates (0: no intervals).
    seed : int
        Bootstrap seed; with ``row_offset`` the intervals do not depend on the batch split.
    level : float
        Interval level (default 0.95).
    sequence_axis : int, optional
        Axis of the per-example array holding sequence positions, for ``sequence_perplexity``.
    classwise : bool
        Also collect the classwise (one-vs-rest) ECE (C × bins sums).
    validate : bool
        Input validation of the core (default True).
    impl : {"auto", "kernel", "blocked", "array_api"}
        Who computes the per-example numbers, as in :func:`crossentropy.cross_entropy`:
        ``"kernel"`` is the fused row pass for index targets (``classwise=False``).
        Not an option of the numbers: states of different ``impl`` merge.

    Examples
    --------
    >>> import numpy as np
    >>> acc = Accumulator(bins=10)
    >>> acc.update(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
    >>> acc.update(np.zeros((0, 2)), np.zeros(0, dtype=int))   # empty batches are fine
    >>> r = acc.finalize()
    >>> r.n_valid, r.accuracy
    (2, 0.5)
    >>> Accumulator.from_state(acc.to_state()).finalize().to_dict() == r.to_dict()
    True
    """

    def __init__(
        self,
        *,
        kind: Kind = "logits",
        task: Task = "auto",
        num_classes: int | None = None,
        axis: int = -1,
        ignore_index: int | None = IGNORE_INDEX,
        label_smoothing: float = 0.0,
        smoothing: Smoothing = "uniform",
        weight: Any = None,
        bins: int = 15,
        strategy: Strategy = "uniform",
        base: Base = "e",
        bootstrap: int = 0,
        seed: int = 0,
        level: float = 0.95,
        sequence_axis: int | None = None,
        classwise: bool = False,
        validate: bool = True,
        impl: Impl = "auto",
        top_k: int = 5,
    ):
        check_bins(bins)
        check_option("task", task, TASKS)
        if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
            msg = f"`top_k` must be an integer ≥ 0 (0: no top-k accuracy); got {top_k!r}"
            raise ValueError(msg)
        check_option("strategy", strategy, STRATEGIES)
        log_base(base)
        _check_numbers(bootstrap, seed, level, num_classes)
        w = (
            None
            if weight is None
            else tuple(float(v) for v in np.asarray(to_numpy(weight)).reshape(-1))
        )
        #: the options that define the numbers (what merge compares and the report records)
        self.options: dict[str, Any] = {
            "kind": kind,
            "task": task,
            "top_k": int(top_k),
            "num_classes": None if num_classes is None else int(num_classes),
            "axis": int(axis),
            "ignore_index": ignore_index,
            "label_smoothing": float(label_smoothing),
            "smoothing": smoothing,
            "weight": w,
            "bins": int(bins),
            "strategy": strategy,
            "base": base,
            "bootstrap": int(bootstrap),
            "seed": int(seed),
            "level": float(level),
            "sequence_axis": sequence_axis,
            "classwise": bool(classwise),
            "validate": bool(validate),
        }
        #: the same loss options as one object, for the core (impl: who computes, not what)
        self.loss_options = LossOptions(
            **{f.name: self.options[f.name] for f in fields(LossOptions) if f.name != "impl"},
            impl=impl,
        )
        self.resolved_task: ConcreteTask | None = None if task == "auto" else task
        self.task_reason = "" if task == "auto" else "given"
        self.impl = impl
        self.resolved_kind: ConcreteKind | None = None if kind == "auto" else kind
        self.target_kind: TargetKind | None = None
        self.num_classes: int | None = self.options["num_classes"]
        self.stats: dict[str, Sums] = {
            s.name: s for s in self._statistics(self.num_classes, self.resolved_task)
        }

    def _statistics(self, C: int | None, task: ConcreteTask | None) -> list[Sums]:
        """Fresh statistics for these options; those of a task once it is decided, the
        per-class (per-label) ones once C (K) is known."""
        o = self.options
        out: list[Sums] = [LossSums(), DecompositionSums()]
        if task is None:
            return out
        if o["sequence_axis"] is not None:
            out.append(SequenceSums(axis=o["sequence_axis"]))
        if o["bootstrap"]:
            uniform = o["strategy"] == "uniform" and task == "multiclass"
            out.append(BootstrapSums.zeros(o["bootstrap"], o["seed"], o["bins"] if uniform else 0))
        if C is None:
            return out
        if task == "multiclass":
            out += [
                ClassSums.zeros(C),
                HistogramSums(),
                CalibrationStat.zeros(o["bins"], C, o["classwise"]),
            ]
            if o["top_k"]:
                out.append(TopKSums.zeros(o["top_k"], C))
            if C <= CONFUSION_MAX:
                out.append(ConfusionSums.zeros(C))
        else:
            binary = task == "binary"
            out += [HistogramSums(), LabelSums.zeros(1 if binary else C, o["bins"], binary)]
            if binary:
                out.append(ClassSums.zeros(2))
        return out

    def _loss(self) -> LossSums:
        return cast(LossSums, self.stats["loss"])

    def _class_weight(self) -> np.ndarray | None:
        w = self.options["weight"]
        return None if w is None else np.asarray(w)

    # ---- update ------------------------------------------------------------------------------
    def update(
        self, pred: Any, target: Any, *, sample_weight: Any = None, row_offset: int | None = None
    ) -> None:
        """Add one batch. ``row_offset``: global index of the batch's first unit (default: units seen so far)."""
        if self._task(pred, target) != "multiclass":
            self._update_labels(pred, target, sample_weight, row_offset)
            return
        p = self._prepare(pred, target, sample_weight)
        if row_offset is not None and (
            isinstance(row_offset, bool)
            or not isinstance(row_offset, (int, np.integer))
            or not 0 <= row_offset < 2**63
        ):  # a global row index: an int64
            msg = f"`row_offset` must be an integer in [0, 2**63 - 1]; got {row_offset!r}"
            raise ValueError(msg)
        offset = self._loss().n_units if row_offset is None else int(row_offset)
        rows = batch_rows(
            p,
            pred,
            target,
            impl=self.impl,
            offset=offset,
            classwise=self.options["classwise"],
            sample_weight=sample_weight,
            weight=self._class_weight(),
            binning=binning(self.options["bins"]),  # the kernel path bins in the same call
            ranks="top_k" in self.stats or "confusion" in self.stats,
        )
        check_float64_weights(rows.w, self._loss().weight)
        for s in self.stats.values():
            s.update(rows)

    def _task(self, pred: Any, target: Any) -> ConcreteTask:
        """The task of this batch (``task="auto"``: decided on it, the same as before)."""
        if self.options["task"] != "auto":
            return self.options["task"]
        shape = tuple(pred.shape)
        task: ConcreteTask
        if len(shape) == 1 and tuple(getattr(target, "shape", ())) == shape and shape[0] > 0:
            task, reason = "binary", "one prediction per row (1-D) and one label each"
        elif len(shape) != 2 or self.options["axis"] not in (-1, 1) or math.prod(shape) == 0:
            if self.resolved_task is not None:
                return self.resolved_task
            if len(shape) == 2 and math.prod(shape) == 0:
                return "multiclass"  # an empty batch decides nothing
            task, reason = "multiclass", "the prediction is not one (N, C) table"
        else:
            try:
                task, reason = infer_task(pred, target)
            except ValueError as e:
                raise ValueError(str(e)) from None
        if self.resolved_task not in (None, task):
            msg = (
                f"task='auto' decided {task!r} for this batch ({reason}) but "
                f"{self.resolved_task!r} before; pass task= explicitly"
            )
            raise ValueError(msg)
        if self.resolved_task is None:
            self.resolved_task, self.task_reason = task, reason
            for s in self._statistics(self.num_classes, task):
                self.stats.setdefault(s.name, s)
        return task

    def _update_labels(self, pred: Any, target: Any, sample_weight: Any, row_offset: Any) -> None:
        """A binary or multi-label batch: each column one Bernoulli label (``label_rows``)."""
        o = self.options
        task = self.resolved_task or o["task"]
        unused = {
            "label_smoothing": o["label_smoothing"] != 0.0,
            "weight": o["weight"] is not None,
            "sequence_axis": o["sequence_axis"] is not None,
            "classwise": o["classwise"],
        }
        if any(unused.values()):
            names = ", ".join(k for k, v in unused.items() if v)
            msg = (
                f"{names} apply to multi-class (softmax) evaluation only; this batch is a {task} "
                "task: leave them at their defaults (weight rows with sample_weight)"
            )
            raise ValueError(msg)
        x = np.asarray(to_numpy(pred), dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            msg = f"`pred` of task={task!r} must be (N, K) (one column per label); got shape {x.shape}"
            raise ValueError(msg)
        K = x.shape[1]
        if task == "binary" and K not in (1, 2):
            msg = (
                f"task='binary' takes one prediction column (P(y=1) or its logit) or two (the "
                f"classes 0 and 1); got {K}. Use task='multiclass' or 'multilabel'"
            )
            raise ValueError(msg)
        C = 2 if task == "binary" else K  # binary: two classes, one or two columns a batch
        if self.num_classes is None:
            self.num_classes = C
        elif C != self.num_classes:
            msg = (
                f"this batch has {K} prediction columns but the accumulator has "
                f"{self.num_classes}; every batch must have the same columns (one per label)"
            )
            raise ValueError(msg)
        if "labels" not in self.stats:
            for s in self._statistics(C, task):
                self.stats.setdefault(s.name, s)
        kind: Kind = self.resolved_kind or o["kind"]
        if kind == "auto" and x.size:
            kind, _ = infer_label_kind(x)
            if self.resolved_kind not in (None, kind):
                msg = (
                    f"kind='auto' decided {kind!r} for this batch but {self.resolved_kind!r} "
                    "before; pass kind= explicitly"
                )
                raise ValueError(msg)
        if kind != "auto":
            self.resolved_kind = kind
        if task == "binary" and K == 2:
            x = positive_column(x, kind if kind != "auto" else "logits", validate=o["validate"])
        t = to_numpy(target)
        tk: TargetKind = "indices" if np.ndim(t) == 1 else "labels"
        if self.target_kind not in (None, tk):
            msg = f"this batch has {tk} targets but earlier batches had {self.target_kind}"
            raise ValueError(msg)
        self.target_kind = tk
        offset = self._loss().n_units if row_offset is None else int(row_offset)
        rows = label_rows(
            x,
            t,
            kind=kind if kind != "auto" else "logits",
            sample_weight=sample_weight,
            ignore_index=o["ignore_index"],
            offset=offset,
            validate=o["validate"],
        )
        check_float64_weights(rows.w, self._loss().weight)
        for s in self.stats.values():
            s.update(rows)

    def _prepare(self, pred: Any, target: Any, sample_weight: Any) -> Prepared:
        """The core's preparation of one batch, and the checks that batches agree."""
        o = self.options
        if len(pred.shape) == 0:
            msg = "`pred` must have a class axis; got a 0-d array"
            raise ValueError(msg)
        kind: Kind = self.resolved_kind or self.loss_options.kind
        if o["kind"] == "auto" and math.prod(pred.shape) > 0:
            kind = resolve_kind(pred, "auto", axis=o["axis"], validate=o["validate"])
        opts = replace(self.loss_options, kind="logits" if kind == "auto" else kind)
        p = prepare(pred, target, opts, weight=self._class_weight(), sample_weight=sample_weight)
        if kind != "auto":  # an empty first batch under kind="auto" decides nothing
            if self.resolved_kind not in (None, kind):
                msg = (
                    f"kind='auto' decided {kind!r} for this batch but {self.resolved_kind!r} before; "
                    "pass kind= explicitly"
                )
                raise ValueError(msg)
            self.resolved_kind = kind
        C = p.num_classes
        if self.num_classes is None:
            self.num_classes = C
            for s in self._statistics(C, self.resolved_task):  # none before a task is decided
                self.stats.setdefault(s.name, s)
        elif C != self.num_classes:
            msg = (
                f"this batch has {C} classes on axis {o['axis']} but the accumulator has "
                f"{self.num_classes}; every batch must have the same classes (pass num_classes= to fix it)"
            )
            raise ValueError(msg)
        tk: TargetKind = "indices" if p.rows.soft is None else "distribution"
        if self.target_kind not in (None, tk):
            msg = (
                f"this batch has {tk} targets but earlier batches had {self.target_kind}; "
                "use one target kind per accumulator"
            )
            raise ValueError(msg)
        self.target_kind = tk
        return p

    # ---- merge -------------------------------------------------------------------------------
    def merge(self, other: Accumulator) -> Accumulator:
        """A new accumulator holding both states (associative and commutative; inputs unchanged)."""
        if not isinstance(other, Accumulator):
            msg = f"can only merge another Accumulator, got {type(other).__name__}"
            raise TypeError(msg)
        a, b = self.options, other.options
        diff = [k for k in a if a[k] != b[k] and k != "num_classes"]
        if diff:
            what = "; ".join(f"{k}: {a[k]!r} vs {b[k]!r}" for k in diff)
            msg = f"cannot merge accumulators built with different options ({what}); build both with the same options"
            raise ValueError(msg)
        C = a["num_classes"] if a["num_classes"] is not None else b["num_classes"]
        out = Accumulator(**{**a, "num_classes": C}, impl=self.impl)
        out.task_reason = self.task_reason or other.task_reason
        for name in _SHARED:
            x, y = getattr(self, name), getattr(other, name)
            if x is not None and y is not None and x != y:
                msg = f"cannot merge accumulators with different {name}: {x!r} vs {y!r}"
                raise ValueError(msg)
            setattr(out, name, x if x is not None else y)
        out.stats = {
            k: self.stats[k].merge(other.stats[k])
            if k in self.stats and k in other.stats
            else copy.deepcopy(self.stats.get(k) or other.stats[k])
            for k in dict.fromkeys([*self.stats, *other.stats])
        }
        return out

    # ---- serialisation -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The state as plain Python values (JSON-serialisable; non-finite floats as strings)."""
        return {
            "schema_version": STATE_VERSION,
            "options": encode(self.options),
            **{name: getattr(self, name) for name in _SHARED},
            "task_reason": self.task_reason,
            "stats": {k: s.to_state() for k, s in self.stats.items()},
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Accumulator:
        """Rebuild an accumulator from :meth:`to_state` (also after a JSON round trip)."""
        if d.get("schema_version") != STATE_VERSION:
            msg = (
                f"unsupported accumulator state schema_version {d.get('schema_version')!r} "
                f"(expected {STATE_VERSION}); rebuild the state with this version"
            )
            raise ValueError(msg)
        out = cls(**d["options"])
        for name in _SHARED:
            setattr(out, name, d[name])
        out.task_reason = d["task_reason"]
        out.stats = {k: _ALL_STATISTICS[k].from_state(v) for k, v in d["stats"].items()}
        return out

    # ---- finalize ----------------------------------------------------------------------------
    def finalize(self) -> Report:
        """The :class:`~crossentropy.Report` of everything seen so far (the state is unchanged)."""
        o = self.options
        loss = self._loss()
        ctx = Context(
            scale=log_base(o["base"]),
            weight=loss.weight,
            nan_rows=loss.n_nan > 0,
            soft=self.target_kind == "distribution",
            strategy=o["strategy"],
            level=o["level"],
        )
        out: dict[str, Any] = {"per_class": (), "calibration": None}
        for s in self.stats.values():
            out.update(s.finalize(ctx))
        parts = {k.split(".")[1]: out.pop(k) for k in list(out) if k.startswith("histograms.")}
        task = self.resolved_task or ("multiclass" if o["task"] == "auto" else o["task"])
        return Report(
            num_classes=self.num_classes or 0,
            task=task,
            task_reason=self.task_reason or None,
            kind=self.resolved_kind or o["kind"],
            base=o["base"],
            target_kind=self.target_kind or "indices",
            histograms=Histograms(**parts) if parts else None,
            bootstrap=o["bootstrap"],
            seed=o["seed"],
            level=o["level"],
            options={
                k: v for k, v in o.items() if k not in ("kind", "task", "num_classes", "base")
            },
            **out,
        )


def _check_numbers(bootstrap: Any, seed: Any, level: Any, num_classes: Any) -> None:
    def not_int(x: Any) -> bool:
        return isinstance(x, bool) or not isinstance(x, (int, np.integer))

    if not_int(bootstrap) or bootstrap < 0:
        msg = f"`bootstrap` must be an integer ≥ 0 (number of replicates); got {bootstrap!r}"
        raise ValueError(msg)
    if not_int(seed) or not 0 <= seed < 2**64:
        msg = f"`seed` must be an integer in [0, 2**64); got {seed!r}"
        raise ValueError(msg)
    if not 0 < level < 1:
        msg = f"`level` must be in (0, 1); got {level!r}"
        raise ValueError(msg)
    if num_classes is not None and (not_int(num_classes) or num_classes < 1):
        msg = f"`num_classes` must be a positive integer or None; got {num_classes!r}"
        raise ValueError(msg)


def evaluate(
    pred: Any,
    target: Any,
    *,
    sample_weight: Any = None,
    block_rows: int | None = None,
    temperature: bool = False,
    **options: Any,
) -> Report:
    r"""One pass of an :class:`Accumulator` over in-memory arrays: the :class:`~crossentropy.Report`.

    The arrays are processed in blocks of ``block_rows`` units (default: about 4M
    elements per block), so the extra memory is one block, not N. Options are those
    of :class:`Accumulator` (``kind``, ``bins``, ``bootstrap``, ``seed``, …); with
    ``temperature=True`` the report also carries :func:`crossentropy.fit_temperature`'s
    fit on the same data (logits or log-probabilities only).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 3, 1000)
    >>> x = rng.normal(size=(1000, 3)); x[np.arange(1000), y] += 1.0
    >>> r = evaluate(x, y, bootstrap=50, seed=0)
    >>> lo, hi = r.intervals["cross_entropy"]
    >>> bool(lo < r.cross_entropy < hi)
    True
    >>> r2 = evaluate(x, y, bootstrap=50, seed=0, block_rows=7)     # another split, same interval
    >>> r2.intervals == r.intervals
    True
    """
    acc = Accumulator(**options)
    axis = acc.options["axis"]
    nd = len(pred.shape)
    if (
        nd == 1
        and acc.options["task"] in ("auto", "binary")
        and tuple(getattr(target, "shape", ())) == tuple(pred.shape)
    ):  # one score per row: a binary column
        pred, nd = pred[:, None], 2
    if nd == 0:
        msg = "`pred` must have a class axis; got a 0-d array"
        raise ValueError(msg)
    check_rows(pred, target, axis, sample_weight)  # blocks must not cut a longer target
    task = acc.options["task"]
    same_shape = tuple(getattr(target, "shape", ())) == tuple(pred.shape)
    maybe_labels = nd == 2 and (int(pred.shape[1]) == 1 or same_shape)
    if block_rows is None and (
        task in ("binary", "multilabel") or (task == "auto" and maybe_labels)
    ):  # Bernoulli cells keep ~20 float64 temporaries each: blocks of 2**18 cells
        block_rows = max(1, _LABEL_BLOCK_CELLS // max(1, math.prod(pred.shape[1:])))
    for start, _, idx in row_blocks(pred, axis, block_rows):
        if nd == 1:
            acc.update(pred, target, sample_weight=sample_weight, row_offset=0)
            continue
        acc.update(
            pred[idx],
            slice_target(target, nd, axis, idx),
            sample_weight=slice_weight(sample_weight, nd, axis, idx),
            row_offset=start,
        )
    report = acc.finalize()
    if temperature and report.task != "multiclass":
        msg = (
            f"temperature=True fits a softmax temperature (multi-class); this is a {report.task} "
            "task: divide the logits by a T fitted elsewhere instead"
        )
        raise ValueError(msg)
    if temperature:  # every loss option of the report, in its base (nll_before == cross_entropy)
        loss = loss_options({**acc.options, "kind": acc.resolved_kind or acc.options["kind"]})
        fit = fit_temperature(
            pred,
            target,
            sample_weight=sample_weight,
            base=acc.options["base"],
            bins=acc.options["bins"],
            block_rows=block_rows,
            **loss,
        )
        report = dataclasses.replace(report, temperature=fit)
    return report
