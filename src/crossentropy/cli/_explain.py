"""The ``explain`` command: the walk-through of the chain on the bundled example or a file.

The task of a file (multi-class, binary, multi-label; ``--task``) is decided by the
evaluation pipeline, as ``evaluate`` decides it; binary and multi-label files get the
seed's Bernoulli walk-through (:mod:`crossentropy.explain._bernoulli`)."""

from __future__ import annotations

import argparse
import warnings

from .. import io as _io
from ..io._output import Target, check_outputs
from ._arguments import _column_arguments, _options, _source
from ._evaluate import _has_matplotlib
from ._exits import EXIT_INTERNAL, EXIT_OK, UsageError
from ._print import _out, _say
from ._registry import command


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
    from .. import explain
    from .._validate import CrossEntropyWarning

    options = _options(args)
    source = _source(args, None if args.file is None else [args.file])
    outputs = [] if args.plot is None else [Target("--plot", args.plot, explain.PLOT_FILES)]
    check_outputs(outputs, source.files)  # before anything is read
    if outputs and not _has_matplotlib():
        raise UsageError("--plot needs matplotlib: pip install 'crossentropy[plot]'")
    if source.bundled and args.task not in ("auto", "multiclass"):
        raise UsageError(
            f"--task {args.task}: the bundled digits example is multi-class; give a FILE "
            "(e.g. a bundled binary or multi-label example's .npz)"
        )
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
