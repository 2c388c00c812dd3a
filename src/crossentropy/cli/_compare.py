"""The ``compare`` command: two models' prediction files on the same rows, or a file against a
saved JSON report (a baseline).

Two prediction files are read batch by batch in lockstep (rows matched by position, or
checked by ``--id``), each through the evaluation's own row rules (kind decision, the
:class:`~crossentropy.pipeline.RowFilter`), and fed to one
:class:`crossentropy.compare.CompareSums`: every metric's difference B − A with a paired
Poisson-bootstrap interval. A ``.json`` file (``crossentropy evaluate --format json``, or
``Report.to_dict()``) is a saved report: against it only the point differences exist, and
the output says so.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import io as _io
from .. import pipeline
from ..compare import CompareSums, Comparison, compare_saved
from ..io._output import OutputFiles, Target, check_outputs
from ..report import Report
from ._arguments import _column_arguments, _options, _source
from ._exits import EXIT_OK, UsageError
from ._print import _out, _say
from ._registry import command

#: replicates of the paired interval unless --bootstrap says otherwise
BOOTSTRAP = 1000
_DEFAULTS = pipeline.EvaluateOptions()  # the evaluation's defaults, read from the one place
#: the figures of --plots, by name: the per-example NLL difference and each model's diagram
FIGURE_FILES = {
    "nll_difference": "nll_difference.png",
    "reliability_a": "reliability_a.png",
    "reliability_b": "reliability_b.png",
}


def _compare_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "a",
        metavar="A",
        help="model A: a prediction file (CSV, Parquet, Arrow IPC, NPZ, NPY) or a saved "
        "JSON report (the baseline: point differences only)",
    )
    p.add_argument("b", metavar="B", help="model B: a prediction file or a saved JSON report")
    _column_arguments(p)
    p.add_argument(
        "--id",
        metavar="COL",
        help="row id column: row i of A and row i of B must carry the same id (default: rows "
        "are matched by position)",
    )
    m = p.add_argument_group("metrics")
    m.add_argument(
        "--bins", type=int, default=_DEFAULTS.bins, help="calibration bins (default %(default)s)"
    )
    m.add_argument(
        "--bootstrap",
        type=int,
        default=BOOTSTRAP,
        metavar="N",
        help="paired bootstrap replicates (default %(default)s; 0: no interval)",
    )
    m.add_argument("--seed", type=int, default=0, help="bootstrap seed (default %(default)s)")
    m.add_argument(
        "--base",
        choices=["e", "2"],
        default=str(_DEFAULTS.base),
        help="logarithm base (default %(default)s)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=["table", "json"], default="table", help="stdout format")
    o.add_argument(
        "--batch-size",
        type=int,
        default=_DEFAULTS.batch_size,
        metavar="N",
        help="rows per batch (default %(default)s)",
    )
    o.add_argument(
        "--plots",
        metavar="DIR",
        help="write the figures as PNG files into DIR: "
        + ", ".join(FIGURE_FILES.values())
        + " (the reliability diagrams need the side's prediction file)",
    )
    o.add_argument(
        "--report",
        metavar="FILE.html",
        help="write a self-contained HTML page: the verdict, the differences with their "
        "paired intervals, the figures",
    )


def _is_json(path: str) -> bool:
    return path.lower().endswith(".json")


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except OSError as e:
        raise _io.FileError(f"cannot read {path}: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise _io.FileError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(d, dict) or not (
        "report" in d or "cross_entropy" in d or ("stats" in d and "options" in d)
    ):
        raise _io.SchemaError(
            f"{path}: not a saved report (expected the output of `crossentropy evaluate "
            "--format json`, Report.to_dict() or an Accumulator state)"
        )
    return d


@command(
    "compare",
    help="compare two models' predictions of the same rows (paired intervals)",
    arguments=_compare_arguments,
)
def _compare(args) -> int:
    """Compare model B with model A on the same rows: every metric's difference B − A, a paired
    Poisson-bootstrap interval of the cross-entropy, accuracy, Brier and ECE differences, the
    per-example NLL difference and a verdict. A saved JSON report on either side is a baseline:
    point differences only."""
    if args.on_invalid == "skip":
        raise UsageError(
            "--on-invalid skip would drop rows from one model and not the other; compare "
            "needs every row of both (fix the rows, or use --on-invalid error)"
        )
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be ≥ 0, got {args.bootstrap}")
    options = _options(args)
    options = dataclasses.replace(options, bootstrap=0, temperature=False)
    names = (args.a, args.b)
    outputs = [Target("--report", args.report)] if args.report is not None else []
    if args.plots is not None:
        outputs.append(Target("--plots", args.plots, tuple(FIGURE_FILES.values())))
    inputs = [*names, *([args.target_file] if getattr(args, "target_file", None) else [])]
    check_outputs(outputs, inputs)  # before anything is read
    reports: list[Any] = [None, None]  # each side's Report, where there is one (figures)
    saved = [_is_json(args.a), _is_json(args.b)]
    if any(saved):
        if args.id is not None:
            raise UsageError("--id needs two prediction files (a saved report has no rows)")
        sides = [
            _load_json(path) if is_json else _evaluate(args, options, path)
            for path, is_json in zip(names, saved, strict=True)
        ]
        try:
            result = compare_saved(sides[0], sides[1], names=names)
        except ValueError as e:
            raise _io.DataError(str(e)) from None
        reports = [x if isinstance(x, Report) else None for x in sides]
    else:
        result, reports = _paired(args, options, names)
    _print(args, result)
    _files(args, result, reports)
    return EXIT_OK


def _figures(result: Comparison, reports: list[Any]) -> dict[str, tuple[bytes, str]]:
    """The PNG bytes and caption of each figure (:data:`FIGURE_FILES`) there is data for."""
    from .. import plots

    out = {}
    figs = [
        (
            "nll_difference",
            plots.nll_difference(result),
            "Per-example NLL difference ℓ(B) − ℓ(A) (symmetric log-spaced bins; left: B "
            "lower, right: A lower, middle: |d| < 1e-6)"
            if result.paired
            else "No per-example NLL difference: a saved report holds no per-row data",
        )
    ]
    for j, (which, report) in enumerate(zip("ab", reports, strict=True)):
        if report is not None:
            fig = plots.reliability(report)
            fig.suptitle(f"{'AB'[j]} = {result.names[j]}", fontsize=9)
            caption = f"Reliability diagram of model {'AB'[j]} ({result.names[j]})."
            figs.append((f"reliability_{which}", fig, caption))
    for name, fig, caption in figs:
        out[name] = (plots.png_bytes(fig), caption)
    return out


def _files(args, result: Comparison, reports: list[Any]) -> None:
    """--plots and --report, written all or none."""
    if args.plots is None and args.report is None:
        return
    from .. import html

    figs = _figures(result, reports)
    with OutputFiles() as out:  # every file or none, renamed into place at the end
        if args.plots is not None:
            for name, (png, _) in figs.items():
                out.stage(os.path.join(args.plots, FIGURE_FILES[name]), png, make_folder=True)
        if args.report is not None:
            out.stage(args.report, html.render_comparison(result, figures=figs))
    if args.plots is not None:
        _say(f"wrote {len(figs)} figures to {args.plots}")
    if args.report is not None:
        _say(f"wrote {args.report}")


def _evaluate(args, options: pipeline.EvaluateOptions, path: str) -> Any:
    """The report of one prediction file (the evaluate pipeline, one pass)."""
    source = _source(args, [path])
    ev = pipeline.run(options, source, pipeline.LocalEngine(), say=_say)
    return ev.report


class _Stop(Exception):
    """The reader's consumer went away: end the producer thread."""


def _read(
    options: pipeline.EvaluateOptions, source: pipeline.Source, counts: pipeline.Counts
) -> Iterator[tuple[np.ndarray, Any, Any, int, str]]:
    """``(pred, target, weight, offset, where)`` of each batch of ``source``, read and checked by
    the evaluation's own :func:`crossentropy.pipeline.stream` (kind and task decisions, the row
    filter) in a thread, handed over through a bounded queue: memory stays at a few batches,
    and two files can be read in lockstep."""
    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def on_batch(pred, target, weight, offset, where) -> None:
        put(("batch", (pred, target, weight, offset, where)))

    def produce() -> None:
        try:
            pipeline.stream(
                options, source, counts, on_batch, pipeline.Part(source.files, say=_say)
            )
            put(("end", None))
        except _Stop:
            return
        except BaseException as e:  # handed to the reader, raised there
            try:
                put(("error", e))
            except _Stop:
                return

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            what, item = q.get()
            if what == "end":
                return
            if what == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _ids(path: str, column: str, options: pipeline.EvaluateOptions, layout: Any) -> Iterator[list]:
    """The ``--id`` values of ``path`` as text (an integer id 7 in Parquet equals "7" in CSV), in
    chunks of exactly ``batch_size`` rows (the last shorter)."""
    table = _io.open_table(path, input_format=options.input_format)
    if column not in table.columns:
        raise _io.SchemaError(
            f"--id {column}: no such column in {path} (columns: {table.describe()})"
        )
    if layout is not None and column in (*layout.pred, *layout.target):
        raise _io.SchemaError(
            f"--id {column}: {path} reads it as a prediction or target column; name the "
            "prediction columns with --pred"
        )
    size, pending = options.batch_size, []
    for _, cols in table.batches([column], size, {column: "string"}):
        v = cols[column]
        values = v.to_pylist() if hasattr(v, "to_pylist") else np.asarray(v).tolist()
        pending += [None if x is None else str(x) for x in values]  # 7 (Parquet) == "7" (CSV)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def _first_difference(a: np.ndarray, b: np.ndarray) -> int | None:
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b
    if same.ndim > 1:
        same = same.all(axis=tuple(range(1, same.ndim)))
    bad = np.flatnonzero(~same)
    return int(bad[0]) if bad.size else None


def _paired(
    args, options: pipeline.EvaluateOptions, names: tuple[str, str]
) -> tuple[Comparison, list[Any]]:
    """Both files in lockstep into one CompareSums; the comparison and the two reports."""
    sources = [_source(args, [n]) for n in names]
    counts = [pipeline.Counts(), pipeline.Counts()]
    readers = [_read(options, s, c) for s, c in zip(sources, counts, strict=True)]
    ids: list[Iterator[list]] | None = None
    sums: CompareSums | None = None
    end = object()
    for got_a, got_b in itertools.zip_longest(*readers, fillvalue=end):
        if got_a is end or got_b is end:
            short, other = (0, 1) if got_a is end else (1, 0)
            raise _io.DataError(
                f"{names[short]} has {counts[short].read:,} rows but {names[other]} has more: "
                "compare needs the same rows in both files"
            )
        (pa, ta, wa, offset, where), (pb, tb, wb, _, _) = got_a, got_b
        if len(pa) != len(pb):
            s = 0 if len(pa) < len(pb) else 1
            raise _io.DataError(
                f"{names[s]} has {counts[s].read:,} rows but {names[1 - s]} has more: "
                "compare needs the same rows in both files"
            )
        if args.id is not None:
            if ids is None:
                ids = [
                    _ids(n, args.id, options, s.layout) for n, s in zip(names, sources, strict=True)
                ]
            ia, ib = next(ids[0]), next(ids[1])
            i = next((k for k, (x, y) in enumerate(zip(ia, ib, strict=False)) if x != y), None)
            if i is not None:
                raise _io.DataError(
                    f"--id {args.id}: row {offset + i} has id {ia[i]!r} in {names[0]} but "
                    f"{ib[i]!r} in {names[1]} (the first differing id); sort both files by "
                    f"{args.id}, or leave out --id to match rows by position"
                )
        for what, x, y in (("target", ta, tb), ("weight", wa, wb)):
            if (x is None) != (y is None):
                raise _io.SchemaError(f"only one of {names[0]} and {names[1]} has a {what} column")
            i = None if x is None else _first_difference(np.asarray(x), np.asarray(y))
            if i is not None:
                raise _io.DataError(
                    f"row {offset + i}: the {what} differs between {names[0]} "
                    f"({np.asarray(x)[i].tolist()!r}) and {names[1]} ({np.asarray(y)[i].tolist()!r}); "
                    "compare needs both models' predictions of the same rows in the same order"
                )
        if sums is None:
            sums = _sums(args, options, sources, names)
        try:
            sums.update(pa, pb, ta, sample_weight=wa, row_offset=offset)
        except ValueError as e:
            raise _io.DataError(f"{where}: {e}") from None
    if sums is None:
        raise _io.DataError(f"no rows in {names[0]} and {names[1]}: nothing to compare")
    return sums.finalize(), list(sums.reports())


def _sums(
    args, options: pipeline.EvaluateOptions, sources: list, names: tuple[str, str]
) -> CompareSums:
    """The comparison's sums, with what the first batch of each file decided (kind, task)."""
    sa, sb = sources
    for what in ("task", "num_classes"):
        x, y = getattr(sa, what), getattr(sb, what)
        if x != y:
            raise _io.SchemaError(
                f"{names[0]} and {names[1]} differ in {what.replace('_', ' ')}: {x} and {y} "
                "(compare needs two models of the same task on the same rows; pass --task)"
            )
    task = getattr(sa, "task", None) or "multiclass"
    return CompareSums(
        kind=sa.kind or "logits",
        kind_b=sb.kind or "logits",
        task=task,
        bootstrap=args.bootstrap,
        seed=args.seed,
        names=names,
        num_classes=sa.num_classes if task == "multiclass" else None,
        ignore_index=options.ignore_index,
        bins=options.bins,
        base=options.base,
    )


def _print(args, result: Comparison) -> None:
    if args.format == "json":
        _out(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        _out(str(result) + "\n")
