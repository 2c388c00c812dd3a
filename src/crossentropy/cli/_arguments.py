"""The flags of ``evaluate`` and ``explain``, and the ``EvaluateOptions`` and ``Source`` they give."""

from __future__ import annotations

import argparse
import dataclasses
import re

from .. import io as _io
from .. import pipeline
from ._exits import UsageError

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
        "--task",
        choices=pipeline.TASKS,
        default=_DEFAULTS.task,
        help="multiclass (one label of C classes), binary (one column of P(y=1) or a logit, "
        "or two columns; labels 0/1 or two --classes names) or multilabel (K prediction "
        "columns and K 0/1 --target columns); default %(default)s: decided on the first "
        "batch when only one reading fits, and reported",
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
    from ..examples import EXAMPLES

    p.add_argument(
        "--example",
        choices=list(EXAMPLES),
        help="evaluate a bundled example instead of a FILE: "
        + "; ".join(f"{k} ({v[0]})" for k, v in EXAMPLES.items())
        + " (default with no FILE: digits)",
    )
    p.add_argument(
        "--target-file",
        metavar="LABELS",
        help="labels in a file of their own, row for row beside the one prediction FILE "
        "(the logits.npy + labels.npy layout): NPY, or NPZ, CSV, Parquet or Arrow IPC whose "
        "label column(s) --target names",
    )
    _column_arguments(p)
    p.add_argument("--version", action=VersionAction)
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
        "--apply-temperature",
        type=float,
        metavar="T",
        help="divide the logits by T (a temperature fitted elsewhere) before evaluating; "
        "the report says it was applied, not fitted",
    )
    m.add_argument(
        "--temperature-from",
        metavar="REPORT.json",
        help="apply the temperature fitted in a saved --format json report (its "
        "report.temperature.T)",
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


class VersionAction(argparse.Action):
    """``--version``: prints ``crossentropy VERSION`` and exits; the version is looked up only
    when the flag is given (``importlib.metadata`` stays out of every other run's start-up)."""

    def __init__(
        self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None
    ):
        help = help or "show program's version number and exit"
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"crossentropy {_version()}")  # on stdout, as argparse's own version action
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crossentropy")
    except PackageNotFoundError:  # a source tree that is not installed
        return "(not installed)"


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
    name = getattr(args, "example", None)
    if files is not None and name is not None:
        raise UsageError("--example evaluates a bundled file: give it or FILEs, not both")
    if files is None:
        from ..examples import EXAMPLES, example_path

        if args.target or args.pred or args.weight_col or getattr(args, "target_file", None):
            raise UsageError("--target/--pred/--weight-col/--target-file need a FILE")
        name = name or "digits"
        schema = _io.Schema(target="target", pred="logits", classes=names)
        src = pipeline.Source([example_path(name)], schema, bundled=True, num_classes=n_classes)
        if args.task == "auto":
            src.task, src.task_reason = EXAMPLES[name][0], f"the bundled {name} example"  # type: ignore[assignment]
        return src
    na = tuple(x for x in args.na_values.split(",") if x != "") if args.na_values else ()
    target_file = getattr(args, "target_file", None)
    target = args.target
    if target_file is not None:
        if len(files) != 1:
            raise UsageError(
                f"--target-file pairs its labels with one prediction FILE, got {len(files)}"
            )
        target = target or "target*"  # "target" (N,) or "target_0" … (N, K): see io._paired
    schema = _io.Schema(
        target=target,
        pred=args.pred,
        weight=args.weight_col,
        classes=names,
        na_values=na,
        target_file=target_file,
    )
    return pipeline.Source(list(files), schema, num_classes=n_classes)


def temperature_from(args: argparse.Namespace) -> None:
    """``--temperature-from REPORT.json`` → ``args.apply_temperature`` (the T fitted there)."""
    path = getattr(args, "temperature_from", None)
    if path is None:
        return
    import json

    if args.apply_temperature is not None:
        raise UsageError("--apply-temperature and --temperature-from exclude each other")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except OSError as e:
        raise UsageError(f"--temperature-from {path}: cannot read it ({e.strerror or e})") from None
    except ValueError as e:
        raise UsageError(f"--temperature-from {path}: not JSON ({e})") from None
    report = d.get("report", d) if isinstance(d, dict) else None
    t = report.get("temperature") if isinstance(report, dict) else None
    T = t.get("T") if isinstance(t, dict) else None
    if isinstance(T, bool) or not isinstance(T, (int, float)):
        raise UsageError(
            f"--temperature-from {path}: no fitted temperature in it (report.temperature.T); "
            "write one with `crossentropy evaluate FILE --temperature --format json`"
        )
    args.apply_temperature = float(T)
