"""Printing: terminal-safe stdout and stderr, and an evaluation's results (table, JSON, files)."""

from __future__ import annotations

import json
import os
import re
import sys

from .. import pipeline
from ..io._output import OutputFiles
from ._exits import StdoutError

JSON_HELP = """\
JSON (--format json, schema_version 1): an object with "schema"
("crossentropy.evaluate"), "schema_version", "source" (files, columns, kind and
why, task and why, temperature_applied), "rows" (read, evaluated, ignored, missing_labels, rejected,
rejected_by_reason, zero_probability_cells, clamped_cells), "report" (the Report's to_dict(); inf/NaN written as the
strings "inf", "-inf", "nan") and, with --temperature, "temperature_scaled".
Rows are numbered from 0 in each file (a CSV header is not a row).

"""


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


def _output(args, ev: pipeline.Evaluation) -> None:
    _stdout(args, ev)
    if args.plots is None and args.report is None:
        return
    from .. import html, plots

    report, after = ev.report, ev.after
    with OutputFiles() as out:  # every file or none, renamed into place at the end
        if args.plots is not None:
            figs = plots.figures(report, after=after)
            for name, fig in figs.items():
                path = os.path.join(args.plots, plots.FILES[name])
                out.stage(path, plots.png_bytes(fig), make_folder=True)
        if args.report is not None:
            page = html.render(
                report,
                after=after,
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
        + f"; kind {src.kind}"
        + (f"; task {src.task}" if src.task else ""),
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
    T = ev.options.apply_temperature
    if T is not None:
        lines.append(
            f"temperature: T = {T:g} applied (the logits divided by T before evaluating; "
            "given, not fitted on this data)"
        )
    lines += ["", str(report)]
    if after is not None:
        lines += ["", "after temperature scaling:", str(after)]
    _out("\n".join(lines) + "\n")
