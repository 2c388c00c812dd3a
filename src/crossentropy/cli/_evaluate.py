"""The ``evaluate`` command: its checks, its engine (local with a progress bar, or Dask), its run."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterator

from .. import io as _io
from .. import pipeline
from ..io._output import Target, check_outputs
from ._arguments import _evaluate_arguments, _options, _source, temperature_from
from ._exits import EXIT_OK, ConnectError, UsageError
from ._print import _out, _output, _say
from ._registry import command

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
    temperature_from(args)
    options = _options(args)
    source = _source(args, args.files or None)
    _check_read_once(args, options, source)
    _check_engine(args, source)
    from .. import plots

    outputs = [Target("--report", args.report)] if args.report is not None else []
    if args.plots is not None:
        outputs.append(Target("--plots", args.plots, tuple(plots.FILES.values())))
    check_outputs(outputs, source.files)  # before anything is read
    if outputs and not _has_matplotlib():
        raise UsageError("--plots/--report need matplotlib: pip install 'crossentropy[plot]'")
    if source.bundled:
        if options.kind == "auto":
            options = dataclasses.replace(options, kind="logits")
        first = _bundled_line(args.example)
        if args.format == "table":
            _out(first + "\n")
        else:
            _say(first)
    options = dataclasses.replace(options, progress=options.progress or sys.stderr.isatty())
    with _engine(args, options, source) as engine:
        ev = pipeline.run(options, source, engine, say=_say)
    if source.bundled and ev.report.class_names is None:
        ev = _with_example_names(ev, source.files[0])
    for msg, where in ev.warnings.items():
        _say(f"warning: {msg} (first at {where})")
    _output(args, ev)
    return EXIT_OK


def _with_example_names(ev: pipeline.Evaluation, path: str) -> pipeline.Evaluation:
    """A bundled example's reports with its class (label) names, which the file holds."""
    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        key = next((k for k in ("class_names", "label_names") if k in f.files), None)
        names = None if key is None else tuple(str(x) for x in f[key])
    n = len(ev.report.per_label) if ev.report.task == "multilabel" else ev.report.num_classes
    if names is None or len(names) != n:
        return ev
    after = None if ev.after is None else dataclasses.replace(ev.after, class_names=names)
    report = dataclasses.replace(ev.report, class_names=names)
    return dataclasses.replace(ev, report=report, after=after)


def _bundled_line(name: str | None) -> str:
    """The first line of a bundled example's output (the digits one unchanged)."""
    if name in (None, "digits"):
        return BUNDLED_FIRST_LINE
    from ..examples import EXAMPLES

    return (
        f"Evaluating the bundled {name} example: {EXAMPLES[name][1]} (run `crossentropy "
        "evaluate YOUR_FILE --target COL --pred 'COLS'` to evaluate your own predictions)."
    )


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
        from ..dask import expand_paths
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
        from ..dask import DaskEngine

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
