"""The evaluation of prediction files, whatever runs it: options, rows, passes, result.

(Just over the ~600-line guide: sources, batching, the kind and task decisions and the
engine protocol are the one pipeline both engines drive.)

``crossentropy evaluate`` and :func:`crossentropy.dask.evaluate_files` are one pipeline::

    files → io batches → kind decision → RowFilter → Accumulator → Report
                                                   → temperature passes (fit_from_passes)

:func:`run` drives it on an :class:`Engine`, which only maps a pass over the files and
merges the partial results in file order: :class:`LocalEngine` (here) streams every file
in one process; the Dask engine (:mod:`crossentropy.dask`) runs one task per file and
merges in a tree. The options (:class:`EvaluateOptions`, each default once, in
:mod:`crossentropy.evaluate_options`), the row rules and counts (:class:`RowFilter`,
:class:`Counts`, in :mod:`crossentropy.rowfilter`), the kind decision and the temperature
passes are written once, for every engine.

Errors are :class:`crossentropy.io.InputError` subclasses naming the file and rows;
``crossentropy evaluate`` maps them to its exit statuses.

>>> import os, tempfile, numpy as np
>>> p = os.path.join(tempfile.mkdtemp(), "a.npz")
>>> np.savez(p, logits=np.array([[2.0, 0.0], [0.0, 1.0]]), target=np.array([0, 1]))
>>> ev = run(EvaluateOptions(kind="logits"), Source([p], io.Schema()), LocalEngine())
>>> ev.counts.read, round(ev.report.cross_entropy, 6)
(2, 0.22009)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np

from . import io
from ._types import ConcreteKind, ConcreteTask
from .accumulate import Accumulator
from .evaluate_options import KINDS as KINDS
from .evaluate_options import MISSING_LABELS as MISSING_LABELS
from .evaluate_options import ON_INVALID as ON_INVALID
from .evaluate_options import TASKS as TASKS
from .evaluate_options import EvaluateOptions, OptionError
from .rowfilter import Counts, RowFilter
from .temperature import TemperatureSums, fit_from_passes, temperature_sums

__all__ = [
    "Counts",
    "Engine",
    "EvaluateOptions",
    "Evaluation",
    "LocalEngine",
    "OptionError",
    "Part",
    "Pass",
    "PassResult",
    "RowFilter",
    "Source",
    "WarningSink",
    "accumulator",
    "check_classes",
    "class_names",
    "decide_first",
    "decide_kind",
    "decide_task",
    "merge_results",
    "read_all",
    "run",
    "run_pass",
    "stream",
]

Say = Callable[[str], None]


def accumulator(options: EvaluateOptions, source: Source, kind: ConcreteKind | None) -> Accumulator:
    """The Accumulator of an evaluation (the report's options: ignore_index, bins, base, bootstrap)."""
    task = source.task or "multiclass"
    acc = Accumulator(
        kind=kind or "logits",
        task=task,
        num_classes=source.num_classes if task == "multiclass" else None,
        ignore_index=options.ignore_index,
        bins=options.bins,
        base=options.base,
        bootstrap=options.bootstrap,
        seed=options.seed,
    )
    why = source.task_reason  # the report's reason: as an in-memory evaluate gives it
    acc.task_reason = why[len("auto: ") :] if why.startswith("auto: ") else "given"
    return acc


# ----------------------------------------------------------------------------- bookkeeping
@dataclass
class Source:
    """The files, their columns, and what the first batch decided (layout, kind and why, classes)."""

    files: list[str]
    schema: io.Schema
    bundled: bool = False
    layout: io.Layout | None = None
    kind: ConcreteKind | None = None
    kind_reason: str = ""
    num_classes: int | None = None
    task: ConcreteTask | None = None
    task_reason: str = ""


class WarningSink:
    """The core's warnings during a pass: each distinct one kept once, with its first place."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def run(self, fn: Callable, *a: Any, where: str = "", **k: Any) -> Any:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = fn(*a, **k)
        for w in rec:
            self.seen.setdefault(f"{w.category.__name__}: {w.message}", where)
        return out

    def merge(self, seen: dict[str, str]) -> None:
        for msg, where in seen.items():
            self.seen.setdefault(msg, where)


# ----------------------------------------------------------------------------- rows
def decide_kind(
    options: EvaluateOptions, source: Source, pred: np.ndarray, where: str, say: Say | None
) -> ConcreteKind:
    """Set (and return) ``source.kind`` and why: ``options.kind``, or inferred on ``pred`` (a
    first batch); ``say`` gets the note on an inferred kind."""
    if options.kind != "auto":
        source.kind = options.kind
        source.kind_reason = (
            "the bundled example holds logits" if source.bundled else "given by --kind"
        )
        return options.kind
    from .kinds import infer_kind, infer_label_kind

    infer = infer_kind if source.task in (None, "multiclass") else infer_label_kind
    try:
        inferred, reason = infer(pred[~np.isnan(pred).any(axis=1)])
    except ValueError as e:
        raise io.DataError(
            f"--kind auto could not decide on {where}: {e}. Pass --kind logits|probs|log_probs"
        ) from None
    kind = cast(ConcreteKind, inferred)
    source.kind, source.kind_reason = kind, f"auto: {reason}"
    if say is not None and not source.bundled:
        say(f"kind: {kind} (decided on {where}: {reason}); pass --kind to set it")
    return kind


def decide_task(
    options: EvaluateOptions, source: Source, batch: io.Batch, where: str, say: Say | None
) -> ConcreteTask:
    """Set (and return) ``source.task`` and why: ``options.task``, or decided on a first batch
    (:func:`crossentropy.kinds.infer_task`); ``say`` gets the note on a decided task.

    >>> b = io.Batch(np.array([[0.2], [0.7]]), np.array([0, 1]), None, "f.csv", 0)
    >>> src = Source(["f.csv"], io.Schema())
    >>> decide_task(EvaluateOptions(), src, b, "f.csv rows 0–1", None), src.task_reason
    ('binary', 'auto: one prediction column and one label column')
    """
    if options.task != "auto":
        source.task, source.task_reason = cast(ConcreteTask, options.task), "given by --task"
        return source.task
    from .kinds import infer_task

    if source.bundled:
        source.task, source.task_reason = "multiclass", "the bundled example is multi-class"
        return "multiclass"
    try:
        task, reason = infer_task(batch.pred, batch.target)
    except ValueError as e:
        raise io.DataError(f"--task auto could not decide on {where}: {e}") from None
    if task == "binary" and batch.pred.shape[1] == 1 and source.num_classes not in (None, 1, 2):
        raise io.SchemaError(
            f"{where}: one prediction column is a binary task but --classes says "
            f"{source.num_classes} classes"
        )
    source.task, source.task_reason = task, f"auto: {reason}"
    if say is not None and task != "multiclass":
        say(f"task: {task} (decided on {where}: {reason}); pass --task to set it")
    return task


def decide_first(
    options: EvaluateOptions, source: Source, batch: io.Batch, where: str, say: Say | None
) -> None:
    """The decisions a first batch makes: the task, then the kind (for that task).

    >>> b = io.Batch(np.array([[0.2], [0.7]]), np.array([0, 1]), None, "f.csv", 0)
    >>> src = Source(["f.csv"], io.Schema())
    >>> decide_first(EvaluateOptions(), src, b, "f.csv rows 0–1", None)
    >>> src.task, src.kind
    ('binary', 'probs')
    """
    if source.task is None:
        decide_task(options, source, batch, where, say)
    if source.kind is None:
        decide_kind(options, source, batch.pred, where, say)


def class_names(source: Source, report: Any) -> tuple[str, ...] | None:
    """The names of the report's classes (labels): ``--classes NAMES`` when they are one per
    class (label), else for a multi-label task the label columns' names (one per label), else
    None (the report shows indices).

    >>> src = Source(["f.csv"], io.Schema(classes=("no", "yes")))
    >>> class_names(src, type("R", (), {"task": "binary", "num_classes": 2, "per_label": ()}))
    ('no', 'yes')
    """
    n = len(report.per_label) if report.task == "multilabel" else report.num_classes
    given = source.schema.classes
    if given and len(given) == n:
        return tuple(str(x) for x in given)
    lay = source.layout
    if report.task == "multilabel" and lay is not None and len(lay.target) == n > 1:
        return tuple(lay.target)
    return None


def _width_ok(width: int, num_classes: int) -> bool:
    """Prediction columns against the classes: equal, or one column of a binary task."""
    return width == num_classes or (width == 1 and num_classes == 2)


def check_classes(num_classes: int | None, path: str, layout: io.Layout) -> None:
    """``--classes`` against the prediction columns of the first file."""
    if (
        num_classes is not None
        and layout.num_classes != -1
        and not _width_ok(layout.num_classes, num_classes)
    ):
        raise io.SchemaError(
            f"--classes says {num_classes} classes but the prediction columns of {path} hold "
            f"{layout.num_classes}"
        )


def stream(
    options: EvaluateOptions,
    source: Source,
    counts: Counts,
    on_batch: Callable[..., None],
    part: Part | None = None,
) -> None:
    """Read every batch of ``part``'s files (default: the source's), decide the kind on the
    first, validate, count, and call ``on_batch(pred, target, weight, offset, where)``.

    ``offset`` is the global row index of the batch's first row (``part.row_base`` + rows
    before it); ``where`` names the file and rows; ``part.on_rows(n)``: rows done so far.
    """
    part = part or Part(source.files)

    def on_layout(path: str, table: io.Table, layout: io.Layout) -> None:
        if source.layout is None:
            source.layout = layout
            check_classes(source.num_classes, path, layout)

    offset = part.row_base
    batches = io.read_batches(
        part.files,
        source.schema,
        batch_size=options.batch_size,
        input_format=options.input_format,
        on_layout=on_layout,
    )
    for batch in batches:
        n = len(batch)
        where = f"{batch.path} rows {batch.offset}–{batch.offset + n - 1}"
        if source.num_classes is None:
            source.num_classes = batch.pred.shape[1]
        if not _width_ok(batch.pred.shape[1], source.num_classes):
            raise io.SchemaError(
                f"{where}: the prediction has {batch.pred.shape[1]} classes, expected "
                f"{source.num_classes}"
            )
        decide_first(options, source, batch, where, part.say)
        kind = cast(ConcreteKind, source.kind)
        task = source.task or "multiclass"
        pred, target, weight = RowFilter(kind, source.num_classes, options, task)(batch, counts)
        counts.read += n
        counts.evaluated += int(pred.shape[0])
        counts.add_cells(pred, kind)
        try:
            on_batch(pred, target, weight, offset, where)
        except ValueError as e:
            raise io.DataError(f"{where}: {e}") from None
        offset += n
        if part.on_rows is not None:
            part.on_rows(offset - part.row_base)


def read_all(
    options: EvaluateOptions, source: Source, *, say: Say | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Counts]:
    """Every row of the source's files in memory, validated as an evaluation validates them:
    ``(pred, target, weight or None, counts)``; rejected rows are dropped. The arrays are empty
    when the files hold no row."""
    preds, targets, weights = [], [], []
    counts = Counts()

    def keep(pred, target, weight, offset, where):
        preds.append(pred)
        targets.append(target)
        if weight is not None:
            weights.append(weight)

    stream(options, source, counts, keep, Part(source.files, say=say))
    if not preds:
        return np.empty((0, 0)), np.empty(0, dtype=np.int64), None, counts
    w = np.concatenate(weights) if weights else None
    return np.concatenate(preds), np.concatenate(targets), w, counts


# ----------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class Pass:
    """One pass over the files: ``"eval"`` (the report), ``"sums"`` (temperature sums at
    ``t = log T = param``) or ``"scaled"`` (the report of the logits divided by ``T = param``)."""

    mode: str
    param: float = 0.0


@dataclass
class Part:
    """The files one engine task reads, the global index of their first row, and (local
    engine) where notes go and a progress callback."""

    files: list[str]
    row_base: int = 0
    say: Say | None = None
    on_rows: Callable[[int], None] | None = None


@dataclass
class PassResult:
    """What a pass over some files gives; :func:`merge_results` merges them in file order.
    An input error is kept, not raised, so that the first one in file order is reported."""

    counts: Counts = field(default_factory=Counts)
    warnings: dict[str, str] = field(default_factory=dict)
    state: Any = None  # the Accumulator ("eval", "scaled")
    sums: np.ndarray | None = None  # (batches, 4) temperature sums in stream order ("sums")
    error: io.InputError | None = None


def merge_results(*results: PassResult) -> PassResult:
    """Merge in file order; the first error stops it (files after it do not count)."""
    out = PassResult()
    for r in results:
        if r.error is not None:
            out.error = r.error
            break
        for msg, where in r.warnings.items():
            out.warnings.setdefault(msg, where)
        out.counts = out.counts.merge(r.counts)
        if r.state is not None:
            out.state = r.state if out.state is None else out.state.merge(r.state)
        if r.sums is not None:
            out.sums = r.sums if out.sums is None else np.concatenate([out.sums, r.sums])
    return out


def _as_logits(pred: np.ndarray, kind: str | None) -> np.ndarray:
    """Probabilities as log p (as the core reads them: within 10·eps outside [0, 1] → the bound)."""
    with np.errstate(divide="ignore"):
        return np.log(np.clip(pred, 0.0, 1.0)) if kind == "probs" else pred


def _apply_temperature(pred: np.ndarray, source: Source, T: float) -> np.ndarray:
    """Logits divided by a given ``T``: multi-class scores as log q (softmax-invariant), a
    binary / multi-label column as its logit ``log p − log(1 − p)`` (sigmoid's inverse)."""
    kind = source.kind
    with np.errstate(divide="ignore", invalid="ignore"):
        if source.task in (None, "multiclass") or kind == "logits":
            return _as_logits(pred, kind) / T
        if kind == "probs":
            p = np.clip(pred, 0.0, 1.0)
            return (np.log(p) - np.log1p(-p)) / T
        return (pred - np.log(-np.expm1(np.minimum(pred, 0.0)))) / T


def run_pass(options: EvaluateOptions, source: Source, step: Pass, part: Part) -> PassResult:
    """One pass of ``step`` over ``part``'s files (an engine's task)."""
    res = PassResult()
    sink = WarningSink()
    sums: list[list[float]] = []
    ts_kind = "log_probs" if source.kind == "probs" else source.kind
    ii = {"ignore_index": options.ignore_index}  # the report's loss options (temperature_sums)

    def add(pred, target, weight, offset, where):
        if step.mode == "sums":
            kw = {} if weight is None else {"sample_weight": weight}
            p, t = _as_logits(pred, source.kind), step.param
            s = sink.run(temperature_sums, p, target, t, kind=ts_kind, where=where, **kw, **ii)
            sums.append([s.nll, s.grad, s.hess, s.weight])
            return
        T = options.apply_temperature
        if res.state is None:
            kind = source.kind if step.mode == "eval" and T is None else "logits"
            res.state = accumulator(options, source, kind)
        kw = {"sample_weight": weight, "row_offset": offset, "where": where}
        if step.mode == "eval" and T is not None:
            sink.run(res.state.update, _apply_temperature(pred, source, T), target, **kw)
        elif step.mode == "eval":
            sink.run(res.state.update, pred, target, **kw)
        else:
            with np.errstate(divide="ignore"):
                p = _as_logits(pred, source.kind) / step.param
                sink.run(res.state.update, p, target, **kw)

    try:
        stream(options, source, res.counts, add, part)
    except io.InputError as e:
        res.error = e
        return res
    res.warnings = sink.seen
    if step.mode == "sums":
        res.sums = np.asarray(sums, dtype=np.float64).reshape(-1, 4)
    return res


class Engine(Protocol):
    """What runs the passes: ``prepare`` looks at the files once (before any pass; may set
    the source's layout, kind and classes); ``map_files(fn, merge)`` runs ``fn(Part)`` over
    the files and merges the results in file order with ``merge``."""

    def prepare(self, options: EvaluateOptions, source: Source, say: Say | None) -> None: ...

    def map_files(
        self, fn: Callable[[Part], PassResult], merge: Callable[..., PassResult]
    ) -> PassResult: ...


class LocalEngine:
    """One process streams every file in turn (memory stays flat). ``on_rows(n)`` follows the
    first pass (the report's); the temperature passes re-read the files silently."""

    def __init__(self, on_rows: Callable[[int], None] | None = None):
        self.on_rows = on_rows
        self.files: list[str] = []
        self.say: Say | None = None

    def prepare(self, options: EvaluateOptions, source: Source, say: Say | None) -> None:
        if not source.bundled:  # quoted globs and directories, as the Dask engine reads them
            source.files = io.expand_paths(source.files)
        self.files, self.say = list(source.files), say

    def map_files(
        self, fn: Callable[[Part], PassResult], merge: Callable[..., PassResult]
    ) -> PassResult:
        on_rows, self.on_rows = self.on_rows, None
        return fn(Part(self.files, 0, self.say, on_rows))


# ----------------------------------------------------------------------------- run
@dataclass(frozen=True)
class Evaluation:
    """What :func:`run` gives: the report (with ``report.temperature`` when fitted), the report
    after temperature scaling (or None), the source as decided, the counts and the warnings
    (message → first place)."""

    options: EvaluateOptions
    source: Source
    counts: Counts
    report: Any
    after: Any
    warnings: dict[str, str]

    def source_dict(self) -> dict:
        src, lay = self.source, self.source.layout
        return {
            "files": [] if src.bundled else list(src.files),
            "bundled_example": src.bundled,
            "target": list(lay.target) if lay else None,
            "pred": list(lay.pred) if lay else None,
            "weight": lay.weight if lay else None,
            "kind": src.kind,
            "kind_reason": src.kind_reason,
            "task": src.task,
            "task_reason": src.task_reason,
            "temperature_applied": self.options.apply_temperature,
            "classes": list(src.schema.classes) if src.schema.classes else None,
            "batch_size": self.options.batch_size,
        }

    def rows_dict(self) -> dict:
        c = self.counts
        return {
            "read": c.read,
            "evaluated": c.evaluated,
            "ignored": int(self.report.n_ignored),
            "missing_labels": c.missing_labels,
            "rejected": c.rejected,
            "rejected_by_reason": dict(c.by_reason),
            "zero_probability_cells": c.neg_inf_cells,
            "clamped_cells": c.clamped_cells,
        }

    def to_dict(self) -> dict:
        """The ``crossentropy evaluate --format json`` object, schema version 1 (bumped on any
        incompatible change):

        ``schema`` (``"crossentropy.evaluate"``), ``schema_version``;
        ``source``: ``files`` (``[]`` for the bundled example), ``bundled_example``,
        ``target``, ``pred`` (column names), ``weight`` (or null), ``kind`` and
        ``kind_reason`` (how it was chosen), ``task`` and ``task_reason`` (likewise),
        ``temperature_applied`` (the T given by ``--apply-temperature`` /
        ``--temperature-from``, applied not fitted; or null), ``classes`` (names or null),
        ``batch_size``;
        ``rows``: ``read`` (rows in the files), ``evaluated`` (given to the accumulator),
        ``ignored`` (masked rows, missing labels under ``missing_labels="ignore"`` too),
        ``missing_labels``, ``rejected`` (dropped under ``on_invalid="skip"``),
        ``rejected_by_reason``, ``zero_probability_cells`` (−inf logits/log-probabilities or
        probabilities exactly 0: legal, kept), ``clamped_cells`` (probabilities within 10·eps
        outside [0, 1], set to the bound by the core);
        ``report``: :meth:`crossentropy.Report.to_dict` (non-finite numbers as the strings
        ``"inf"``, ``"-inf"``, ``"nan"``); with ``temperature``, ``temperature_scaled``: the
        report of the logits divided by the fitted T (the fit is ``report.temperature``).
        """
        out = {
            "schema": "crossentropy.evaluate",
            "schema_version": 1,
            "source": self.source_dict(),
            "rows": self.rows_dict(),
            "report": self.report.to_dict(),
        }
        if self.after is not None:
            out["temperature_scaled"] = self.after.to_dict()
        return out


def _ece(report: Any) -> float:
    return report.calibration.ece if report.calibration is not None else math.nan


def _checked(
    engine: Engine, options: EvaluateOptions, source: Source, step: Pass, sink: WarningSink
) -> PassResult:
    """One pass on ``engine``: raise its first input error, keep its warnings."""
    res = engine.map_files(functools.partial(run_pass, options, source, step), merge_results)
    if res.error is not None:
        raise res.error
    sink.merge(res.warnings)
    return res


def run(
    options: EvaluateOptions, source: Source, engine: Engine, *, say: Say | None = None
) -> Evaluation:
    """Evaluate the source's files on ``engine``: one pass for the report, and with
    ``options.temperature`` one pass per Newton step of the fit (temperature.fit_from_passes)
    and one with the logits divided by the fitted T. Raises the first input error in file
    order; ``say`` receives the notes (kind decision, temperature on probabilities)."""
    engine.prepare(options, source, say)
    sink = WarningSink()
    first = _checked(engine, options, source, Pass("eval"), sink)
    if first.counts.read == 0:
        raise io.DataError(f"no rows in {', '.join(source.files)}: nothing to evaluate")
    acc = first.state if first.state is not None else accumulator(options, source, source.kind)
    report = acc.finalize()
    after = None
    if options.temperature and source.task not in (None, "multiclass"):
        raise io.DataError(
            f"--temperature fits a softmax temperature (multi-class); this is a {source.task} "
            "task: apply a fitted T with --apply-temperature, or pass --task multiclass"
        )
    if options.temperature:
        if source.kind == "probs" and say is not None:
            say("note: --temperature on probabilities: fitting on log p (a valid logit vector)")

        def sums_at(t: float) -> TemperatureSums:
            r = _checked(engine, options, source, Pass("sums", t), sink)
            tot = np.zeros(4)
            for row in () if r.sums is None else r.sums:
                tot[:] += row  # stream order: the same sums, bit for bit, on every engine
            return TemperatureSums(*(float(x) for x in tot))

        scaled: list = []

        def ece_at(T: float) -> float:  # the pass with the logits divided by T: its report
            r = _checked(engine, options, source, Pass("scaled", T), sink)
            acc = r.state if r.state is not None else accumulator(options, source, "logits")
            scaled.append(acc.finalize())
            return _ece(scaled[-1])

        temp = fit_from_passes(sums_at, ece_at=ece_at, ece_before=_ece(report), base=report.base)
        report, after = dataclasses.replace(report, temperature=temp), scaled[-1]
    names = class_names(source, report)
    if names is not None:  # the reports hold the names (repr, text, HTML, pandas show them)
        report = dataclasses.replace(report, class_names=names)
        after = None if after is None else dataclasses.replace(after, class_names=names)
    return Evaluation(options, source, first.counts, report, after, sink.seen)
