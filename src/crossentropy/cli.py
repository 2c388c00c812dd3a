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

Outputs (``--report``, ``--plots``, ``explain --plot``) are checked before any input is
read and written all or nothing at the end (:mod:`crossentropy.io._output`): an output
that is an input is a usage error. Names that come from files (paths, columns) are
printed with terminal control characters escaped (:func:`printable`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import io as _io
from . import pipeline
from .io._output import OutputError, OutputFiles, OutputUsageError, Target, check_outputs

__all__ = ["main", "command", "COMMANDS", "EXIT_CODES", "printable"]

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA, EXIT_IO = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shells' convention


class UsageError(Exception):
    """A command line that cannot run: an option's value or a combination of options."""


class ConnectError(Exception):
    """A Dask scheduler that cannot be reached (``--scheduler``)."""


class StdoutError(OutputError):
    """Standard output that cannot be written (a full disk, a closed stream)."""


#: The exit status of each error class (the first class that matches, in this order).
EXIT_CODES: dict[type[Exception], int] = {
    UsageError: EXIT_USAGE,
    OutputUsageError: EXIT_USAGE,
    _io.SchemaError: EXIT_USAGE,
    _io.DataError: EXIT_DATA,
    _io.FileError: EXIT_IO,
    _io.InputError: EXIT_IO,
    OutputError: EXIT_IO,
    ConnectError: EXIT_IO,
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
  0    success
  1    internal error (a bug: please report it with the command line)
  2    usage or schema error: unknown option, an option value out of range,
       missing or extra columns, wrong column types, files whose columns
       differ, an output path that is an input file (or another output)
  3    data validation error: bad, missing or out-of-range labels, non-finite
       predictions (a row with no finite logit), probabilities outside [0, 1],
       negative weights, no rows
  4    I/O error: missing, unreadable, empty, truncated or corrupt file (a
       Parquet page failing its checksum, an Arrow IPC stream without its end
       marker, an NPY/NPZ whose size disagrees with its header), a directory,
       device, socket or link loop, a pickled or encrypted NPZ, a format that
       cannot be read from a pipe; an output that cannot be written (missing
       folder, a folder where a file is expected, read-only, disk full); a
       Dask scheduler that cannot be reached; out of memory
  130  interrupted (Ctrl-C, SIGINT): no output file is left half written
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


# C0 and C1 control characters (tab kept; newline kept in text) and the bidirectional
# overrides: what lets a file or column name move the cursor, retitle or clear a terminal.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_NEWLINE = re.compile(_CONTROL.pattern[:-1] + "\n]")


def printable(text: str, *, lines: bool = False) -> str:
    r"""``text`` with terminal control characters written as escapes (``\x1b``, ``\u202e``),
    newlines too unless ``lines``.

    >>> print(printable("in\x1b]0;owned\x07.csv"))
    in\x1b]0;owned\x07.csv
    """
    pattern = _CONTROL if lines else _CONTROL_OR_NEWLINE
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _say(msg: str) -> None:
    print(printable(msg), file=sys.stderr, flush=True)


def _out(text: str) -> None:
    """Write ``text`` to stdout now (control characters escaped, newlines kept); a failure
    (disk full, a closed stream) is a :class:`StdoutError`."""
    try:
        sys.stdout.write(printable(text, lines=True))
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        raise StdoutError(f"cannot write to standard output: {e.strerror or e}") from None


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
        help="number of classes, or comma-separated class names. Text labels (CSV) are "
        "class indices written with the digits 0-9, or with NAMES the names and nothing "
        "else (names and indices never mix); numeric label columns are always indices",
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
        "must share their columns; - reads standard input (CSV or an Arrow IPC stream, as "
        "can a pipe). None: the bundled digits example",
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


_MAX_CLASSES = 2**31 - 1  # one prediction column per class


def _parse_classes(text: str | None):
    if text is None:
        return None, None
    t = text.strip()
    if re.fullmatch(r"[+-]?[0-9]+", t):  # a number of classes: ASCII digits, a sign allowed
        n = int(t)
        if not 1 <= n <= _MAX_CLASSES:
            raise UsageError(f"--classes must be a number of classes in [1, 2**31 - 1], got {t}")
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
    _check_read_once(args, options, source)
    _check_engine(args, source)
    from . import plots

    outputs = [Target("--report", args.report)] if args.report is not None else []
    if args.plots is not None:
        outputs.append(Target("--plots", args.plots, tuple(plots.FILES.values())))
    check_outputs(outputs, source.files)  # before anything is read
    if outputs and not _has_matplotlib():
        raise UsageError("--plots/--report need matplotlib: pip install 'crossentropy[plot]'")
    if source.bundled:
        if options.kind == "auto":
            options = dataclasses.replace(options, kind="logits")
        if args.format == "table":
            _out(BUNDLED_FIRST_LINE + "\n")
        else:
            _say(BUNDLED_FIRST_LINE)
    options = dataclasses.replace(options, progress=options.progress or sys.stderr.isatty())
    with _engine(args, options, source) as engine:
        ev = pipeline.run(options, source, engine, say=_say)
    for msg, where in ev.warnings.items():
        _say(f"warning: {msg} (first at {where})")
    _output(args, ev)
    return EXIT_OK


def _check_read_once(args, options: pipeline.EvaluateOptions, source: pipeline.Source) -> None:
    """Standard input and pipes are read once: refuse what would read them again."""
    once = [] if source.bundled else [f for f in source.files if _io.is_stream(f)]
    why = (
        "--temperature reads the input several times"
        if options.temperature
        else "--engine dask reads the files in other processes"
        if args.engine == "dask"
        else None
    )
    if once and why:
        raise UsageError(
            f"{', '.join(once)}: standard input and pipes can be read only once, and {why}; "
            "save the input to a file"
        )


#: Seconds ``--scheduler`` waits for the scheduler to answer.
CONNECT_TIMEOUT = 10.0
_MAX_WORKERS = 1024


def _check_engine(args, source: pipeline.Source) -> None:
    """The engine options, and the files of ``--engine dask`` (globs and folders expanded)."""
    if args.engine != "dask":
        if args.scheduler is not None or args.workers is not None:
            raise UsageError("--scheduler and --workers need --engine dask")
        return
    try:
        from .dask import expand_paths
    except ImportError as e:
        raise UsageError(f"--engine dask: {e}") from None
    if args.scheduler is not None and args.workers is not None:
        raise UsageError(
            "--scheduler and --workers exclude each other (--workers starts a local cluster)"
        )
    if args.scheduler is not None and not args.scheduler.strip():
        raise UsageError("--scheduler: empty address; give one such as tcp://host:8786")
    if args.workers is not None and not 1 <= args.workers <= _MAX_WORKERS:
        raise UsageError(f"--workers must be in [1, {_MAX_WORKERS}], got {args.workers}")
    if not source.bundled:
        source.files = expand_paths(source.files)


@contextlib.contextmanager
def _engine(args, options: pipeline.EvaluateOptions, source: pipeline.Source) -> Iterator:
    """The engine ``--engine`` names: local (with a progress bar) or dask (on a cluster)."""
    if args.engine == "dask":
        from .dask import DaskEngine

        connected = False
        try:
            with DaskEngine.connect(
                args.scheduler, args.workers, timeout=CONNECT_TIMEOUT
            ) as engine:
                connected = True
                yield engine
        except (ValueError, OSError) as e:
            if connected or args.scheduler is None:  # the run's own errors, a local cluster's
                raise
            if isinstance(e, ValueError):
                raise UsageError(f"--scheduler {args.scheduler}: not an address ({e})") from None
            raise ConnectError(
                f"--scheduler {args.scheduler}: no Dask scheduler answered within "
                f"{CONNECT_TIMEOUT:g} s ({e})"
            ) from None
        return
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
    _stdout(args, ev)
    if args.plots is None and args.report is None:
        return
    from . import html, plots

    src, report, after = ev.source, ev.report, ev.after
    with OutputFiles() as out:  # every file or none, renamed into place at the end
        if args.plots is not None:
            figs = plots.figures(report, after=after, class_names=src.schema.classes)
            for name, fig in figs.items():
                path = os.path.join(args.plots, plots.FILES[name])
                out.stage(path, plots.png_bytes(fig), make_folder=True)
        if args.report is not None:
            page = html.render(
                report,
                after=after,
                class_names=src.schema.classes,
                source=ev.source_dict(),
                rows=ev.rows_dict(),
            )
            out.stage(args.report, page)
    if args.plots is not None:
        _say(f"wrote {len(plots.FILES)} figures to {args.plots}")
    if args.report is not None:
        _say(f"wrote {args.report}")


def _stdout(args, ev: pipeline.Evaluation) -> None:
    """The report on stdout: JSON, or the table with the input, columns and rows above it."""
    src, counts, report, after = ev.source, ev.counts, ev.report, ev.after
    if args.format == "json":
        _out(json.dumps(ev.to_dict(), indent=2, allow_nan=False) + "\n")
        return
    lay = src.layout
    cols = (
        ", ".join(lay.pred)
        if lay and len(lay.pred) <= 6
        else (f"{lay.pred[0]} … {lay.pred[-1]} ({len(lay.pred)} columns)" if lay else "?")
    )
    rej = ""
    if counts.rejected:
        rej = " (" + ", ".join(f"{k}: {v}" for k, v in counts.by_reason.items()) + ")"
    missing = counts.missing_labels
    names = [  # from the files: one line each, whatever characters they hold
        f"input: {'bundled example' if src.bundled else ', '.join(src.files)}",
        f"columns: target {', '.join(lay.target) if lay else '?'}; prediction {cols}"
        + (f"; weight {lay.weight}" if lay and lay.weight else "")
        + f"; kind {src.kind}",
    ]
    lines = [printable(n) for n in names]
    lines.append(
        f"rows: {counts.read:,} read, {counts.evaluated:,} evaluated, "
        f"{int(report.n_ignored):,} ignored"
        + (f" (of which {missing:,} missing labels)" if missing else "")
        + f", {counts.rejected:,} rejected{rej}"
    )
    if counts.neg_inf_cells or counts.clamped_cells:
        lines.append(
            f"cells: {counts.neg_inf_cells:,} with probability 0 (log q = −inf, kept: a "
            f"true class there costs +inf), {counts.clamped_cells:,} probabilities within "
            "10·eps outside [0, 1] set to the bound"
        )
    lines += ["", str(report)]
    if after is not None:
        lines += ["", "after temperature scaling:", str(after)]
    _out("\n".join(lines) + "\n")


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
    outputs = [] if args.plot is None else [Target("--plot", args.plot, explain.PLOT_FILES)]
    check_outputs(outputs, source.files)  # before anything is read
    if outputs and not _has_matplotlib():
        raise UsageError("--plot needs matplotlib: pip install 'crossentropy[plot]'")
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
    _out(explain.render(w))
    if args.plot is not None:
        paths = explain.plot(w, args.plot)  # every figure or none
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
    with warnings.catch_warnings(record=True) as caught:
        code = _run(args)
    _say_warnings(args.command, caught)
    return code


def _run(args: argparse.Namespace) -> int:
    """``args._run(args)`` with each failure mapped to its exit status and one line on stderr."""
    try:
        return int(args._run(args) or 0)
    except tuple(EXIT_CODES) as e:
        _say(f"crossentropy {args.command}: error: {e}")
        if isinstance(e, StdoutError):
            _quiet_stdout()
        return exit_code(e)
    except KeyboardInterrupt:
        _say(f"crossentropy {args.command}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_OK
    except MemoryError:
        advice = (
            "use fewer --bootstrap replicates or a lower --batch-size"
            if getattr(args, "bootstrap", 0)
            else "lower --batch-size"
        )
        _say(f"crossentropy {args.command}: error: out of memory; {advice}")
        return EXIT_IO
    except Exception as e:  # a bug: one line unless --debug
        if args.debug or os.environ.get("CROSSENTROPY_DEBUG"):
            raise
        _say(
            f"crossentropy {args.command}: internal error: {type(e).__name__}: {e} "
            "(rerun with --debug for the traceback and please report it)"
        )
        return EXIT_INTERNAL


def _say_warnings(name: str, caught: list[warnings.WarningMessage]) -> None:
    """Warnings no part of the program turned into a note, one line each (no source line)."""
    seen: set[str] = set()
    for w in caught:
        line = f"crossentropy {name}: warning: {w.category.__name__}: {w.message}"
        if line not in seen:
            seen.add(line)
            _say(line)


def _quiet_stdout() -> None:
    """Point stdout at the null device so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests): nothing to do
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
