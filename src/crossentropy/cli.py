"""The ``crossentropy`` command line.

``crossentropy evaluate [FILE ...]`` streams prediction files through a
:class:`crossentropy.Accumulator` and prints the :class:`crossentropy.Report`;
with no file it evaluates the bundled digits example. ``python -m crossentropy``
is the same program.

Adding a subcommand is one function registered in one place::

    @command("name", help="one line", arguments=_name_arguments)
    def _name(args) -> int:
        ...

where ``_name_arguments(parser)`` adds the subcommand's options.

JSON output (``--format json``), schema version 1
-------------------------------------------------
Only JSON is written to stdout; notes and progress go to stderr. The object has

``schema``        ``"crossentropy.evaluate"``
``schema_version`` ``1`` (bumped on any incompatible change)
``source``        ``files`` (list of paths; ``[]`` for the bundled example),
                  ``bundled_example`` (bool), ``target``, ``pred`` (column names),
                  ``weight`` (column name or null), ``kind`` and ``kind_reason``
                  (how the input kind was chosen), ``classes`` (names or null),
                  ``batch_size``
``rows``          ``read`` (rows in the files), ``evaluated`` (rows given to the
                  accumulator), ``ignored`` (masked rows, including missing labels
                  under ``--missing-labels ignore``), ``missing_labels``,
                  ``rejected`` (rows dropped under ``--on-invalid skip``),
                  ``rejected_by_reason``, ``zero_probability_cells`` (−inf
                  logits/log-probabilities or probabilities exactly 0: legal, kept)
                  and ``clamped_cells`` (probabilities within 10·eps outside [0, 1],
                  set to the bound by the core)
``report``        :meth:`crossentropy.Report.to_dict` of the evaluation (its own
                  ``schema_version``; non-finite numbers as the strings ``"inf"``,
                  ``"-inf"``, ``"nan"``)
``temperature_scaled`` with ``--temperature``: the report after dividing the logits
                  by the fitted T (the fit itself is ``report.temperature``)

Exit status
-----------
0 success; 1 an internal error (please report it); 2 usage or schema errors
(unknown options, missing or extra columns, wrong column types, mixed schemas
across files); 3 data validation errors (bad or missing labels, labels out of
range, non-finite predictions, probabilities out of range, negative weights,
no rows); 4 I/O errors (unreadable, empty, truncated or corrupt files, a
directory, a pickled NPZ).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import io as _io

__all__ = ["main", "command", "COMMANDS"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA, EXIT_IO = 0, 1, 2, 3, 4

JSON_HELP = """\
JSON (--format json, schema_version 1): an object with "schema"
("crossentropy.evaluate"), "schema_version", "source" (files, columns, kind and
why), "rows" (read, evaluated, ignored, missing_labels, rejected,
rejected_by_reason, zero_probability_cells, clamped_cells), "report" (the Report's to_dict(); inf/NaN written as the
strings "inf", "-inf", "nan") and, with --temperature, "temperature_scaled".
Rows are numbered from 0 in each file (a CSV header is not a row).

"""

EXIT_CODES_HELP = """\
exit status:
  0  success
  1  internal error (a bug: please report it with the command line)
  2  usage or schema error: unknown option, missing or extra columns, wrong
     column types, files whose columns differ
  3  data validation error: bad, missing or out-of-range labels, non-finite
     predictions, probabilities outside [0, 1], negative weights, no rows
  4  I/O error: missing, unreadable, empty, truncated or corrupt file, a
     directory, a pickled NPZ
"""


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Command:
    name: str
    help: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {}


def command(name: str, *, help: str, arguments: Callable, description: str | None = None):
    """Register ``run(args) -> exit status`` as the subcommand ``name``."""

    def register(run):
        COMMANDS[name] = Command(name, help, description or run.__doc__ or help, arguments, run)
        return run

    return register


class UsageError(Exception):
    exit_code = EXIT_USAGE


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- evaluate
def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="prediction files (CSV, Parquet, Arrow IPC, NPZ, NPY); several files "
        "must share their columns. None: the bundled digits example",
    )
    s = p.add_argument_group("columns")
    s.add_argument(
        "--target",
        metavar="COL",
        help="label column (class indices or names); several columns or one list "
        "column = a target distribution. Default: target/label/y",
    )
    s.add_argument(
        "--pred",
        metavar="COLS|GLOB",
        help="prediction columns: comma-separated names and globs ('logit_*', "
        "natural order: logit_2 before logit_10) or one list/tensor column. "
        "Default: logits/probs/… if present, else every other column",
    )
    s.add_argument("--weight-col", metavar="COL", help="sample-weight column")
    s.add_argument(
        "--kind",
        choices=["auto", "logits", "probs", "log_probs"],
        default="auto",
        help="what the prediction holds (default auto: decided on the first batch "
        "and reported on stderr)",
    )
    s.add_argument(
        "--classes",
        metavar="N|NAMES",
        help="number of classes, or comma-separated class names (labels written as "
        "names are mapped to their position)",
    )
    s.add_argument(
        "--ignore-index",
        type=int,
        default=-100,
        metavar="I",
        help="label value that marks an ignored row (default -100)",
    )
    s.add_argument(
        "--na-values",
        metavar="LIST",
        default="",
        help="CSV label texts meaning 'missing label' (default none: 'NA' is a class "
        "name like any other)",
    )
    s.add_argument(
        "--missing-labels",
        choices=["error", "ignore"],
        default="error",
        help="missing labels (empty Parquet cells, NaN, --na-values): error (default) "
        "or count the rows as ignored",
    )
    s.add_argument(
        "--on-invalid",
        choices=["error", "skip"],
        default="error",
        help="rows that fail validation: error (default, exit 3) or reject them and "
        "count them in the report",
    )
    s.add_argument(
        "--input-format",
        choices=["auto", *_io.FORMATS],
        default="auto",
        help="file format (default: from the extension, else the first bytes)",
    )
    m = p.add_argument_group("metrics")
    m.add_argument("--bins", type=int, default=15, help="calibration bins (default 15)")
    m.add_argument(
        "--temperature",
        action="store_true",
        help="fit a temperature on the data and report before/after (extra passes over the files)",
    )
    m.add_argument(
        "--bootstrap",
        type=int,
        default=0,
        metavar="N",
        help="bootstrap replicates for confidence intervals (default 0: none)",
    )
    m.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    m.add_argument(
        "--base",
        choices=["e", "2"],
        default="e",
        help="logarithm base: e (nats, default) or 2 (bits)",
    )
    o = p.add_argument_group("output")
    o.add_argument(
        "--format",
        choices=["table", "json"],
        default="table",
        help="stdout format (json: only JSON on stdout, schema in the docs)",
    )
    o.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report")
    o.add_argument("--plots", metavar="DIR", help="write the figures as PNG files into DIR")
    o.add_argument(
        "--batch-size",
        type=int,
        default=65536,
        metavar="N",
        help="rows per batch (default 65536); memory stays flat",
    )
    o.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar even when stderr is not a terminal",
    )
    e = p.add_argument_group("engine")
    e.add_argument(
        "--engine",
        choices=["local", "dask"],
        default="local",
        help="local (default: one process streaming the files) or dask (one task per "
        "file on a Dask cluster; FILE may be a quoted glob or a directory)",
    )
    e.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --engine dask: the address of a running Dask scheduler "
        "(e.g. tcp://host:8786); default: start a local cluster",
    )
    e.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --engine dask and no --scheduler: local worker processes "
        "(default: the number of CPUs)",
    )


@dataclass
class _Counts:
    read: int = 0
    evaluated: int = 0
    missing_labels: int = 0
    rejected: int = 0
    by_reason: dict = dataclasses.field(default_factory=dict)
    neg_inf_cells: int = 0  # −inf logits/log-probs or 0 probabilities: legal, counted
    clamped_cells: int = 0  # probabilities within 10·eps outside [0, 1], set to the bound


@dataclass
class _Source:
    files: list
    bundled: bool
    schema: _io.Schema
    layout: _io.Layout | None = None
    kind: str | None = None
    kind_reason: str = ""
    num_classes: int | None = None


def _parse_classes(text: str | None):
    if text is None:
        return None, None
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if n < 1:
            raise UsageError(f"--classes must be ≥ 1, got {n}")
        return n, None
    names = tuple(x.strip() for x in t.split(","))
    if len(set(names)) != len(names) or any(x == "" for x in names):
        raise UsageError(f"--classes: class names must be distinct and non-empty, got {text!r}")
    return len(names), names


def _non_finite_rows(pred: np.ndarray) -> np.ndarray:
    """Rows that may hold a non-finite value: a superset (a row of finite values whose sum
    overflows is in it too), found with one matrix-vector product instead of elementwise
    passes; callers check these rows exactly."""
    with np.errstate(all="ignore"):
        return ~np.isfinite(pred @ np.ones(pred.shape[1], dtype=pred.dtype))


def _neg_inf_cells(pred: np.ndarray) -> int:
    """Number of −inf entries (rows screened by :func:`_non_finite_rows`)."""
    rows = _non_finite_rows(pred)
    return int(np.count_nonzero(np.isneginf(pred[rows]))) if rows.any() else 0


def _finite_check(pred: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    """Per-row validation of the prediction; reason → bool mask of offending rows."""
    out = {}
    eps = np.finfo(np.float64).eps
    if kind == "logits" and pred.ndim == 2:  # the common case: screen rows first
        rows = np.flatnonzero(_non_finite_rows(pred))
        if rows.size:
            sub = pred[rows]
            for reason, hit in (
                ("prediction is NaN", np.isnan(sub).any(axis=1)),
                ("logit is +inf", np.isposinf(sub).any(axis=1)),
            ):
                if hit.any():
                    mask = np.zeros(pred.shape[0], dtype=bool)
                    mask[rows[hit]] = True
                    out[reason] = mask
        return out
    nan = np.isnan(pred).any(axis=1)
    if nan.any():
        out["prediction is NaN"] = nan
    if kind == "probs":
        bad = ((pred < -10 * eps) | (pred > 1 + 10 * eps)).any(axis=1) & ~nan
        if bad.any():
            out["probability outside [0, 1]"] = bad
    elif kind == "log_probs":
        bad = (pred > 10 * eps).any(axis=1) & ~nan
        if bad.any():
            out["log-probability above 0"] = bad
    else:
        bad = np.isposinf(pred).any(axis=1)
        if bad.any():
            out["logit is +inf"] = bad
    return out


def _row_problems(
    batch: _io.Batch, kind: str, num_classes: int, ignore_index: int, missing_policy: str
) -> tuple[dict, np.ndarray | None]:
    """Reasons → masks of rows to reject/raise on, and the mask of missing labels to ignore."""
    problems = dict(_finite_check(batch.pred, kind))
    missing = batch.missing
    if batch.bad_labels is not None:
        vals = ", ".join(repr(v) for v in batch.bad_label_values)
        problems[
            f"label is not a class index or class name (found {vals}; pass --classes "
            "NAMES for named classes, or --na-values to mark missing labels)"
        ] = batch.bad_labels
    if missing is not None and missing_policy == "error":
        problems[
            "label is missing (pass --missing-labels ignore to count such rows as ignored)"
        ] = missing
        missing = None
    t = batch.target
    if t.ndim == 1:
        out = ((t < 0) | (t >= num_classes)) & (t != ignore_index)
        if batch.bad_labels is not None:
            out &= ~batch.bad_labels
        if batch.missing is not None:
            out &= ~batch.missing
        if out.any():
            vals = sorted({int(v) for v in t[out][:5]})
            problems[
                f"label out of range [0, {num_classes}) (found {vals}; --ignore-index is "
                f"{ignore_index})"
            ] = out
    else:
        bad = (~np.isfinite(t) | (t < 0)).any(axis=1)
        if bad.any():
            problems["target distribution has negative or non-finite entries"] = bad
    if batch.weight is not None:
        w = batch.weight
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            problems["sample weight negative or non-finite"] = bad
    return problems, missing


def _decide_kind(pred: np.ndarray, requested: str, where: str) -> tuple[str, str]:
    if requested != "auto":
        return requested, "the bundled example holds logits" if where.startswith(
            _bundled_path()
        ) else "given by --kind"
    from .kinds import infer_kind

    finite = ~np.isnan(pred).any(axis=1)
    try:
        kind, reason = infer_kind(pred[finite])
    except ValueError as e:
        raise _io.DataError(
            f"--kind auto could not decide on {where}: {e}. Pass --kind logits|probs|log_probs"
        ) from None
    return kind, f"auto: {reason}"


def _bundled_path() -> str:
    from .examples import example_path

    return example_path()


def _progress(args, total: int | None):
    if not (args.progress or sys.stderr.isatty()):
        return None
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        _say("note: no progress bar without rich: pip install 'crossentropy[cli]'")
        return None
    prog = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f} rows"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    prog.start()
    prog.add_task("evaluate", total=total, rate="")
    return prog


def _stream(args, src: _Source, counts: _Counts, on_batch, *, first_pass: bool, prog=None):
    """Read every batch, validate it, and call ``on_batch(pred, target, weight, offset)``.

    ``offset`` is the global row index (over all files) of the batch's first row.
    """

    def on_layout(path, table, layout):
        if first_pass and src.layout is None:
            src.layout = layout
            if src.num_classes is not None and layout.num_classes not in (-1, src.num_classes):
                raise _io.SchemaError(
                    f"--classes says {src.num_classes} classes but the prediction columns of "
                    f"{path} hold {layout.num_classes}"
                )

    def numbered():
        # global row index of each batch's first row, counted where the batches are made
        global_offset = 0
        for batch in _io.read_batches(
            src.files,
            src.schema,
            batch_size=args.batch_size,
            input_format=args.input_format,
            on_layout=on_layout,
        ):
            yield batch, global_offset
            global_offset += len(batch)

    t0 = time.perf_counter()
    for batch, offset in numbered():
        n = len(batch)
        where = f"{batch.path} rows {batch.offset}–{batch.offset + n - 1}"
        if src.num_classes is None:
            src.num_classes = batch.pred.shape[1]
        if batch.pred.shape[1] != src.num_classes:
            raise _io.SchemaError(
                f"{where}: the prediction has {batch.pred.shape[1]} classes, expected "
                f"{src.num_classes}"
            )
        if src.kind is None:
            src.kind, src.kind_reason = _decide_kind(batch.pred, args.kind, where)
            if args.kind == "auto" and not src.bundled:
                _say(
                    f"kind: {src.kind} (decided on {where}: {src.kind_reason[6:]}); pass "
                    "--kind to set it"
                )
        problems, missing = _row_problems(
            batch, src.kind, src.num_classes, args.ignore_index, args.missing_labels
        )
        pred, target, weight = batch.pred, batch.target, batch.weight
        if missing is not None:
            target = target.copy()
            target[missing] = args.ignore_index
            if first_pass:
                counts.missing_labels += int(missing.sum())
        if problems:
            if args.on_invalid == "error":
                reason, mask = next(iter(problems.items()))
                rows = np.flatnonzero(mask)
                more = len(problems) - 1
                raise _io.DataError(
                    f"{batch.path}: {reason} at {_io.format_rows(rows, batch.offset)}"
                    + (f" (and {more} other problem{'s' if more > 1 else ''})" if more else "")
                    + "; fix the file or pass --on-invalid skip to reject such rows"
                )
            reject = np.zeros(n, dtype=bool)
            for reason, mask in problems.items():
                if first_pass:
                    key = reason.split(" (")[0]
                    counts.by_reason[key] = counts.by_reason.get(key, 0) + int(mask.sum())
                reject |= mask
            keep = ~reject
            if first_pass:
                counts.rejected += int(reject.sum())
            pred, target = pred[keep], target[keep]
            weight = None if weight is None else weight[keep]
        if first_pass:
            counts.read += n
            counts.evaluated += int(pred.shape[0])
            if src.kind == "probs":
                counts.neg_inf_cells += int(np.count_nonzero(pred == 0))
                counts.clamped_cells += int(np.count_nonzero((pred < 0) | (pred > 1)))
            else:
                counts.neg_inf_cells += _neg_inf_cells(pred)
        try:
            on_batch(pred, target, weight, offset, where)
        except ValueError as e:
            raise _io.DataError(f"{where}: {e}") from None
        if prog is not None:
            el = time.perf_counter() - t0
            done = offset + n
            prog.update(
                prog.task_ids[0], completed=done, rate=f"{done / el:,.0f} rows/s" if el > 0 else ""
            )


class _WarningSink:
    """Collect the core's warnings during a pass; show each distinct one once with its place."""

    def __init__(self):
        self.seen: dict[str, str] = {}

    def run(self, fn, *a, where: str = "", **k):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = fn(*a, **k)
        for w in rec:
            msg = f"{w.category.__name__}: {w.message}"
            if msg not in self.seen:
                self.seen[msg] = where
        return out

    def flush(self):
        for msg, where in self.seen.items():
            _say(f"warning: {msg} (first at {where})")


def _accumulator(args, src: _Source, kind: str):
    from .accumulate import Accumulator

    return Accumulator(
        kind=kind,
        num_classes=src.num_classes,
        ignore_index=args.ignore_index,
        bins=args.bins,
        base=2 if args.base == "2" else "e",
        bootstrap=args.bootstrap,
        seed=args.seed,
    )


def _fit_temperature(args, src: _Source, counts: _Counts, sink: _WarningSink, report):
    """Fit T on streamed sums (temperature.fit_from_passes): each Newton step of the library's
    safeguarded fit is one pass over the files (memory stays flat), then one pass with the
    logits divided by T. Returns the Temperature record and the report after scaling."""
    from .temperature import TemperatureSums, fit_from_passes, temperature_sums

    if src.kind == "probs":
        _say("note: --temperature on probabilities: fitting on log p (a valid logit vector)")
    kind = "log_probs" if src.kind == "probs" else src.kind
    # log of the probabilities as the core reads them: within 10·eps outside [0, 1] → the bound

    def sums(t):
        tot = np.zeros(4)

        def add(pred, target, weight, offset, where):
            with np.errstate(divide="ignore"):
                p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
            s = sink.run(
                temperature_sums, p, target, t, kind=kind, where=where, **_ts_kwargs(args, weight)
            )
            tot[:] += np.asarray([s.nll, s.grad, s.hess, s.weight], dtype=np.float64)

        _stream(args, src, counts, add, first_pass=False)
        return TemperatureSums(*(float(v) for v in tot))

    scaled = []

    def ece_at(T):  # the pass with the logits divided by T: its report is temperature_scaled
        acc2 = _accumulator(args, src, "logits")

        def add2(pred, target, weight, offset, where):
            with np.errstate(divide="ignore"):
                p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
                sink.run(
                    acc2.update, p / T, target, sample_weight=weight, row_offset=offset, where=where
                )

        _stream(args, src, counts, add2, first_pass=False)
        scaled.append(acc2.finalize())
        return _ece(scaled[-1])

    temp = fit_from_passes(sums, ece_at=ece_at, ece_before=_ece(report), base=report.base)
    return temp, scaled[-1]


def _ece(report) -> float:
    return report.calibration.ece if report.calibration is not None else math.nan


def _ts_kwargs(args, weight):
    """temperature_sums' loss options: those _accumulator gives the report (ignore_index only)."""
    kw = {"ignore_index": args.ignore_index}
    if weight is not None:
        kw["sample_weight"] = weight
    return kw


@command(
    "evaluate",
    help="evaluate a prediction file (default: the bundled example)",
    arguments=_evaluate_arguments,
)
def _evaluate(args) -> int:
    """Evaluate predictions: cross-entropy, perplexity, accuracy, Brier, calibration."""
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be ≥ 1, got {args.batch_size}")
    if args.bins < 1:
        raise UsageError(f"--bins must be ≥ 1, got {args.bins}")
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be ≥ 0, got {args.bootstrap}")
    n_classes, names = _parse_classes(args.classes)
    na = tuple(x for x in args.na_values.split(",") if x != "") if args.na_values else ()
    bundled = not args.files
    if bundled:
        from .examples import example_path

        if args.target or args.pred or args.weight_col:
            raise UsageError("--target/--pred/--weight-col need a FILE")
        files = [example_path()]
        if args.kind == "auto":
            args.kind = "logits"
        schema = _io.Schema(target="target", pred="logits", classes=names)
        first = (
            "Evaluating the bundled example: 539 held-out UCI handwritten digits scored by a "
            "softmax regression (run `crossentropy evaluate YOUR_FILE --target COL --pred "
            "'COLS'` to evaluate your own predictions)."
        )
        if args.format == "table":
            print(first, flush=True)
        else:
            _say(first)
    else:
        files = list(args.files)
        schema = _io.Schema(
            target=args.target, pred=args.pred, weight=args.weight_col, classes=names, na_values=na
        )
    if (args.plots or args.report) and not _has_matplotlib():
        raise UsageError("--plots/--report need matplotlib: pip install 'crossentropy[plot]'")
    src = _Source(files, bundled, schema, num_classes=n_classes)
    counts = _Counts()
    sink = _WarningSink()
    if args.engine == "dask":
        try:
            from .dask import evaluate_cli
        except ImportError as e:
            raise UsageError(f"--engine dask: {e}") from None
        report, after = evaluate_cli(args, src, counts, sink)
        sink.flush()
        _output(args, src, counts, report, after)
        return EXIT_OK
    if args.scheduler or args.workers is not None:
        raise UsageError("--scheduler and --workers need --engine dask")
    total = _known_rows(files, args)
    prog = _progress(args, total)
    state = {}

    def add(pred, target, weight, offset, where):
        if "acc" not in state:
            state["acc"] = _accumulator(args, src, src.kind)
        sink.run(
            state["acc"].update, pred, target, sample_weight=weight, row_offset=offset, where=where
        )

    try:
        _stream(args, src, counts, add, first_pass=True, prog=prog)
    finally:
        if prog is not None:
            prog.stop()
    if counts.read == 0:
        raise _io.DataError(f"no rows in {', '.join(files)}: nothing to evaluate")
    if "acc" not in state:
        state["acc"] = _accumulator(args, src, src.kind)
    report = state["acc"].finalize()
    after = None
    if args.temperature:
        temp, after = _fit_temperature(args, src, counts, sink, report)
        report = dataclasses.replace(report, temperature=temp)
    sink.flush()
    _output(args, src, counts, report, after)
    return EXIT_OK


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _known_rows(files, args) -> int | None:
    """Total rows when every file's metadata says it (for the progress bar), else None."""
    if not (args.progress or sys.stderr.isatty()):
        return None
    total = 0
    for f in files:
        try:
            t = _io.open_table(f, input_format=args.input_format)
        except _io.InputError:
            return None  # the real pass reports it
        if t.num_rows is None:
            return None
        total += t.num_rows
    return total


def _source_dict(args, src: _Source, counts: _Counts) -> dict:
    lay = src.layout
    return {
        "files": [] if src.bundled else list(src.files),
        "bundled_example": src.bundled,
        "target": list(lay.target) if lay else None,
        "pred": list(lay.pred) if lay else None,
        "weight": lay.weight if lay else None,
        "kind": src.kind,
        "kind_reason": src.kind_reason,
        "classes": list(src.schema.classes) if src.schema.classes else None,
        "batch_size": args.batch_size,
    }


def _rows_dict(report, counts: _Counts) -> dict:
    return {
        "read": counts.read,
        "evaluated": counts.evaluated,
        "ignored": int(report.n_ignored),
        "missing_labels": counts.missing_labels,
        "rejected": counts.rejected,
        "rejected_by_reason": dict(counts.by_reason),
        "zero_probability_cells": counts.neg_inf_cells,
        "clamped_cells": counts.clamped_cells,
    }


def result_dict(args, src, counts, report, after) -> dict:
    out = {
        "schema": "crossentropy.evaluate",
        "schema_version": 1,
        "source": _source_dict(args, src, counts),
        "rows": _rows_dict(report, counts),
        "report": report.to_dict(),
    }
    if after is not None:
        out["temperature_scaled"] = after.to_dict()
    return out


def _output(args, src, counts, report, after) -> None:
    if args.format == "json":
        d = result_dict(args, src, counts, report, after)
        sys.stdout.write(json.dumps(d, indent=2, sort_keys=False, allow_nan=False) + "\n")
    else:
        lay = src.layout
        cols = (
            ", ".join(lay.pred)
            if lay and len(lay.pred) <= 6
            else (f"{lay.pred[0]} … {lay.pred[-1]} ({len(lay.pred)} columns)" if lay else "?")
        )
        where = "bundled example" if src.bundled else ", ".join(src.files)
        print(f"input: {where}")
        print(
            f"columns: target {', '.join(lay.target) if lay else '?'}; prediction {cols}"
            + (f"; weight {lay.weight}" if lay and lay.weight else "")
            + f"; kind {src.kind}"
        )
        rej = ""
        if counts.rejected:
            rej = " (" + ", ".join(f"{k}: {v}" for k, v in counts.by_reason.items()) + ")"
        print(
            f"rows: {counts.read:,} read, {counts.evaluated:,} evaluated, "
            f"{int(report.n_ignored):,} ignored"
            + (
                f" (of which {counts.missing_labels:,} missing labels)"
                if counts.missing_labels
                else ""
            )
            + f", {counts.rejected:,} rejected{rej}"
        )
        if counts.neg_inf_cells or counts.clamped_cells:
            print(
                f"cells: {counts.neg_inf_cells:,} with probability 0 (log q = −inf, kept: a "
                f"true class there costs +inf), {counts.clamped_cells:,} probabilities within "
                "10·eps outside [0, 1] set to the bound"
            )
        print()
        print(str(report))
        if after is not None:
            print()
            print("after temperature scaling:")
            print(str(after))
    if args.plots or args.report:
        from . import plots

        names = src.schema.classes
        if args.plots:
            paths = plots.save_all(report, args.plots, after=after, class_names=names)
            _say(f"wrote {len(paths)} figures to {args.plots}")
        if args.report:
            from . import html

            html.write_report(
                args.report,
                report,
                after=after,
                class_names=names,
                source=_source_dict(args, src, counts),
                rows=_rows_dict(report, counts),
            )
            _say(f"wrote {args.report}")


# ----------------------------------------------------------------------------- explain
def _explain_arguments(p: argparse.ArgumentParser) -> None:
    from . import explain

    explain.add_arguments(p)


@command(
    "explain",
    help="walk through likelihood → log-likelihood → NLL → cross-entropy on data",
    arguments=_explain_arguments,
)
def _explain(args) -> int:
    """Walk through the chain on the bundled example or FILE, checking its identities live."""
    from . import explain

    return explain.run(args)


# ----------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossentropy",
        description="Likelihood, log-likelihood, NLL and cross-entropy of your predictions.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS.values():
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description,
            epilog=(JSON_HELP if cmd.name == "evaluate" else "") + EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``--help``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except (_io.InputError, UsageError) as e:
        _say(f"crossentropy {args.command}: error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except MemoryError:
        _say(f"crossentropy {args.command}: error: out of memory; lower --batch-size")
        return EXIT_IO
    except Exception as e:  # a bug: one line unless --debug
        if args.debug or os.environ.get("CROSSENTROPY_DEBUG"):
            raise
        _say(
            f"crossentropy {args.command}: internal error: {type(e).__name__}: {e} "
            "(rerun with --debug for the traceback and please report it)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
