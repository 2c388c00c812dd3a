"""The ``crossentropy`` command line: arguments, exit statuses and output.

``crossentropy evaluate [FILE ...]`` runs the evaluation pipeline
(:mod:`crossentropy.pipeline`: files → batches → :class:`crossentropy.Accumulator`)
on one process or on Dask (``--engine dask``) and prints the
:class:`crossentropy.Report`; with no file it evaluates the bundled digits example.
``crossentropy explain [FILE]`` prints :mod:`crossentropy.explain`'s walk-through.
``python -m crossentropy`` is the same program.

Adding a subcommand is one function registered in one place::

    @command("name", help="one line", arguments=_name_arguments)
    def _name(args) -> int:
        ...

where ``_name_arguments(parser)`` adds the subcommand's options.

With ``--format json`` only JSON is written to stdout (notes and progress go to stderr):
the object of :meth:`crossentropy.pipeline.Evaluation.to_dict`, schema version 1, summed
up in :data:`JSON_HELP`. The exit statuses are :data:`EXIT_CODES` (error class → status),
explained in :data:`EXIT_CODES_HELP`; both texts are part of ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import io as _io
from . import pipeline

__all__ = ["main", "command", "COMMANDS", "EXIT_CODES"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA, EXIT_IO = 0, 1, 2, 3, 4


class UsageError(Exception):
    """A command line that cannot run: an option's value or a combination of options."""


#: The exit status of each error class (the first class that matches, in this order).
EXIT_CODES: dict[type[Exception], int] = {
    UsageError: EXIT_USAGE,
    _io.SchemaError: EXIT_USAGE,
    _io.DataError: EXIT_DATA,
    _io.FileError: EXIT_IO,
    _io.InputError: EXIT_IO,
}

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


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- arguments
_DEFAULTS = pipeline.EvaluateOptions()  # every default, read from the one place holding it


def _column_arguments(p: argparse.ArgumentParser) -> None:
    """Which columns hold what and how rows are checked (``evaluate`` and ``explain``)."""
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
        choices=pipeline.KINDS,
        default=_DEFAULTS.kind,
        help="what the prediction holds (default %(default)s: decided on the first batch "
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
        default=_DEFAULTS.ignore_index,
        metavar="I",
        help="label value that marks an ignored row (default %(default)s)",
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
        choices=pipeline.MISSING_LABELS,
        default=_DEFAULTS.missing_labels,
        help="missing labels (empty Parquet cells, NaN, --na-values): error or ignore "
        "(count the rows as ignored); default %(default)s",
    )
    s.add_argument(
        "--on-invalid",
        choices=pipeline.ON_INVALID,
        default=_DEFAULTS.on_invalid,
        help="rows that fail validation: error (exit 3) or skip (reject them and count "
        "them in the report); default %(default)s",
    )
    s.add_argument(
        "--input-format",
        choices=["auto", *_io.FORMATS],
        default=_DEFAULTS.input_format,
        help="file format (default %(default)s: from the extension, else the first bytes)",
    )


def _evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="prediction files (CSV, Parquet, Arrow IPC, NPZ, NPY); several files "
        "must share their columns. None: the bundled digits example",
    )
    _column_arguments(p)
    m = p.add_argument_group("metrics")
    m.add_argument(
        "--bins", type=int, default=_DEFAULTS.bins, help="calibration bins (default %(default)s)"
    )
    m.add_argument(
        "--temperature",
        action="store_true",
        help="fit a temperature on the data and report before/after (extra passes over the files)",
    )
    m.add_argument(
        "--bootstrap",
        type=int,
        default=_DEFAULTS.bootstrap,
        metavar="N",
        help="bootstrap replicates for confidence intervals (default %(default)s: none)",
    )
    m.add_argument(
        "--seed", type=int, default=_DEFAULTS.seed, help="bootstrap seed (default %(default)s)"
    )
    m.add_argument(
        "--base",
        choices=["e", "2"],
        default=str(_DEFAULTS.base),
        help="logarithm base: e (nats) or 2 (bits); default %(default)s",
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
        default=_DEFAULTS.batch_size,
        metavar="N",
        help="rows per batch (default %(default)s); memory stays flat",
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


def _options(args: argparse.Namespace) -> pipeline.EvaluateOptions:
    """The parsed flags as :class:`crossentropy.pipeline.EvaluateOptions` (others: defaults)."""
    names = [f.name for f in dataclasses.fields(pipeline.EvaluateOptions)]
    try:
        return pipeline.EvaluateOptions(**{n: getattr(args, n) for n in names if hasattr(args, n)})
    except pipeline.OptionError as e:
        flag = "--" + e.option.replace("_", "-")
        raise UsageError(f"{flag} must be {e.rule}, got {e.value}") from None


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


def _source(args: argparse.Namespace, files: list[str] | None) -> pipeline.Source:
    """The files (None: the bundled example) and the schema the flags give."""
    n_classes, names = _parse_classes(args.classes)
    if files is None:
        from .examples import example_path

        if args.target or args.pred or args.weight_col:
            raise UsageError("--target/--pred/--weight-col need a FILE")
        schema = _io.Schema(target="target", pred="logits", classes=names)
        return pipeline.Source([example_path()], schema, bundled=True, num_classes=n_classes)
    na = tuple(x for x in args.na_values.split(",") if x != "") if args.na_values else ()
    schema = _io.Schema(
        target=args.target, pred=args.pred, weight=args.weight_col, classes=names, na_values=na
    )
    return pipeline.Source(list(files), schema, num_classes=n_classes)


# ----------------------------------------------------------------------------- evaluate
BUNDLED_FIRST_LINE = (
    "Evaluating the bundled example: 539 held-out UCI handwritten digits scored by a "
    "softmax regression (run `crossentropy evaluate YOUR_FILE --target COL --pred "
    "'COLS'` to evaluate your own predictions)."
)


@command(
    "evaluate",
    help="evaluate a prediction file (default: the bundled example)",
    arguments=_evaluate_arguments,
)
def _evaluate(args) -> int:
    """Evaluate predictions: cross-entropy, perplexity, accuracy, Brier, calibration."""
    options = _options(args)
    source = _source(args, args.files or None)
    if source.bundled:
        if options.kind == "auto":
            options = dataclasses.replace(options, kind="logits")
        if args.format == "table":
            print(BUNDLED_FIRST_LINE, flush=True)
        else:
            _say(BUNDLED_FIRST_LINE)
    if (args.plots or args.report) and not _has_matplotlib():
        raise UsageError("--plots/--report need matplotlib: pip install 'crossentropy[plot]'")
    options = dataclasses.replace(options, progress=options.progress or sys.stderr.isatty())
    with _engine(args, options, source) as engine:
        ev = pipeline.run(options, source, engine, say=_say)
    for msg, where in ev.warnings.items():
        _say(f"warning: {msg} (first at {where})")
    _output(args, ev)
    return EXIT_OK


@contextlib.contextmanager
def _engine(args, options: pipeline.EvaluateOptions, source: pipeline.Source) -> Iterator:
    """The engine ``--engine`` names: local (with a progress bar) or dask (on a cluster)."""
    if args.engine == "dask":
        try:
            from .dask import DaskEngine, expand_paths
        except ImportError as e:
            raise UsageError(f"--engine dask: {e}") from None
        if args.scheduler and args.workers:
            raise UsageError(
                "--scheduler and --workers exclude each other (--workers starts a local cluster)"
            )
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be ≥ 1, got {args.workers}")
        if not source.bundled:
            source.files = expand_paths(source.files)
        with DaskEngine.connect(args.scheduler, args.workers) as engine:
            yield engine
        return
    if args.scheduler or args.workers is not None:
        raise UsageError("--scheduler and --workers need --engine dask")
    bar = _progress(options, source.files)
    try:
        yield pipeline.LocalEngine(on_rows=bar)
    finally:
        if bar is not None:
            bar.stop()


def _has_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _known_rows(files, options: pipeline.EvaluateOptions) -> int | None:
    """Total rows when every file's metadata says it (for the progress bar), else None."""
    total = 0
    for f in files:
        try:
            t = _io.open_table(f, input_format=options.input_format)
        except _io.InputError:
            return None  # the real pass reports it
        if t.num_rows is None:
            return None
        total += t.num_rows
    return total


def _progress(options: pipeline.EvaluateOptions, files):
    """``on_rows(n)`` drawing a rich progress bar on stderr (with ``.stop()``), or None."""
    if not options.progress:
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
    total = _known_rows(files, options)
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
    task = prog.add_task("evaluate", total=total, rate="")
    t0 = time.perf_counter()

    def on_rows(done: int) -> None:
        el = time.perf_counter() - t0
        prog.update(task, completed=done, rate=f"{done / el:,.0f} rows/s" if el > 0 else "")

    on_rows.stop = prog.stop  # type: ignore[attr-defined]
    return on_rows


def _output(args, ev: pipeline.Evaluation) -> None:
    src, counts, report, after = ev.source, ev.counts, ev.report, ev.after
    if args.format == "json":
        sys.stdout.write(json.dumps(ev.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        lay = src.layout
        cols = (
            ", ".join(lay.pred)
            if lay and len(lay.pred) <= 6
            else (f"{lay.pred[0]} … {lay.pred[-1]} ({len(lay.pred)} columns)" if lay else "?")
        )
        print(f"input: {'bundled example' if src.bundled else ', '.join(src.files)}")
        print(
            f"columns: target {', '.join(lay.target) if lay else '?'}; prediction {cols}"
            + (f"; weight {lay.weight}" if lay and lay.weight else "")
            + f"; kind {src.kind}"
        )
        rej = ""
        if counts.rejected:
            rej = " (" + ", ".join(f"{k}: {v}" for k, v in counts.by_reason.items()) + ")"
        missing = counts.missing_labels
        print(
            f"rows: {counts.read:,} read, {counts.evaluated:,} evaluated, "
            f"{int(report.n_ignored):,} ignored"
            + (f" (of which {missing:,} missing labels)" if missing else "")
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
    if args.plots:
        from . import plots

        paths = plots.save_all(report, args.plots, after=after, class_names=src.schema.classes)
        _say(f"wrote {len(paths)} figures to {args.plots}")
    if args.report:
        from . import html

        html.write_report(
            args.report,
            report,
            after=after,
            class_names=src.schema.classes,
            source=ev.source_dict(),
            rows=ev.rows_dict(),
        )
        _say(f"wrote {args.report}")


# ----------------------------------------------------------------------------- explain
def _explain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="prediction file (CSV, Parquet, Arrow IPC, NPZ, NPY). None: the bundled "
        "digits example",
    )
    _column_arguments(p)
    p.add_argument("--plot", metavar="DIR", help="write the figures as PNG files into DIR")


@command(
    "explain",
    help="walk through likelihood → log-likelihood → NLL → cross-entropy on data",
    arguments=_explain_arguments,
)
def _explain(args) -> int:
    """Walk through the chain on the bundled example or FILE, checking its identities live."""
    from . import explain
    from ._validate import CrossEntropyWarning

    options = _options(args)
    source = _source(args, None if args.file is None else [args.file])
    if source.bundled:
        data = explain.bundled_data()
    else:
        data = explain.load(options, source, say=_say)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CrossEntropyWarning)
            w = explain.walkthrough(data)
    except explain.IdentityError as e:
        _say(f"crossentropy explain: error: {e} (a bug: please report it)")
        return EXIT_INTERNAL
    except ValueError as e:
        raise _io.DataError(f"{args.file or 'bundled example'}: {e}") from None
    sys.stdout.write(explain.render(w))
    sys.stdout.flush()
    if args.plot:
        paths = explain.plot(w, args.plot)
        _say(f"wrote {len(paths)} figures to {args.plot}")
    return EXIT_OK


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


def exit_code(error: Exception) -> int:
    """The exit status of ``error`` (:data:`EXIT_CODES`; anything else is an internal error)."""
    return next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), EXIT_INTERNAL)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``--help``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args._run(args) or 0)
    except tuple(EXIT_CODES) as e:
        _say(f"crossentropy {args.command}: error: {e}")
        return exit_code(e)
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
