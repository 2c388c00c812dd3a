"""A self-contained HTML report of a :class:`crossentropy.Report`.

One file, no external resource: the figures of :mod:`crossentropy.plots` are
embedded as base64 PNG ``data:`` URIs, the style sheet is inline, there is no
script. It holds the input description (files, columns, kind and why), the row
counts (read, evaluated, ignored, rejected), the metrics (with bootstrap
intervals when present), the temperature fit, the calibration bins and the
per-class table.
"""

from __future__ import annotations

import base64
import html as _html
import math
from collections.abc import Sequence
from typing import Any

from .io._output import OutputFiles
from .report import Report

__all__ = ["render", "render_comparison", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em 0;width:auto;
color:#222;padding:0 2vw}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{padding:.2em .7em;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td.l,th.l{text-align:left}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,30em),1fr));
gap:1em}figure{margin:0}figure img{width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}
.note{color:#555;font-size:.9em}code{background:#f3f3f3;padding:0 .2em}
"""

_CAPTIONS = {
    "reliability": "Reliability diagram: accuracy against confidence per bin (diagonal = "
    "perfectly calibrated), with the histogram of top-label confidence.",
    "nll_curve": "The loss −log p paid for giving the true class probability p, over the "
    "histogram of the observed p(true class).",
    "per_class": "Mean NLL of the examples of each true class, with their accuracy.",
    "nll_distribution": "Distribution of per-example NLL (log scale); the dashed line is the "
    "mean, i.e. the cross-entropy.",
}
_AFTER = (
    " With a fitted temperature both models are drawn: before (T = 1) and after (the logits "
    "divided by T), each with its ECE, intervals and examples per bin."
)
_CAPTIONS["reliability"] += (
    " Each point's area grows with its bin's examples (the number is written under it) and its "
    "bar is the 95% Wilson interval of the bin's accuracy; the lower panel counts the examples "
    "per bin on a log scale."
)


def _e(x: Any) -> str:
    return _html.escape(str(x), quote=True)


def _num(x: Any, digits: int = 6) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    try:
        f = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "∞" if f > 0 else "−∞"
    return f"{f:.{digits}g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    out = ["<table><thead><tr>"]
    out += [f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(header)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append(
            "<tr>"
            + "".join(
                f'<td class="{"l" if i < left else ""}">{v if isinstance(v, _Raw) else _num(v)}</td>'
                for i, v in enumerate(r)
            )
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


class _Raw(str):
    """Already-escaped HTML."""


def _metrics(report: Report) -> str:
    unit = (
        "nats"
        if report.base == "e"
        else "bits"
        if report.base in (2, "2")
        else f"base {report.base}"
    )
    iv = report.intervals or {}
    rows: list[tuple[_Raw, Any, _Raw]] = []

    def add(name: str, value: Any, key: str | None = None) -> None:
        ci = _Raw(f"[{_num(iv[key][0])}, {_num(iv[key][1])}]") if key in iv else _Raw("")
        rows.append((_Raw(_e(name)), value, ci))

    add(f"cross-entropy ({unit})", report.cross_entropy, "cross_entropy")
    add("perplexity (corpus)", report.perplexity, "perplexity")
    if report.sequence_perplexity is not None:
        add("perplexity (mean over sequences)", report.sequence_perplexity)
    add("bits per example", report.bits_per_example)
    add(f"NLL (sum, {unit})", report.nll)
    add("log-likelihood", report.log_likelihood)
    if report.entropy is not None:
        add("entropy of the target", report.entropy)
        add("KL(target ‖ model)", report.kl)
    add("accuracy", report.accuracy, "accuracy")
    add("Brier score (multi-class)", report.brier, "brier")
    cal = report.calibration
    if cal is not None:
        add(f"ECE ({cal.strategy} bins, l1)", cal.ece, "ece")
        add("MCE (max)", cal.mce)
        add("RMSCE (l2)", cal.rmsce)
        if cal.classwise_ece is not None:
            add("classwise ECE", cal.classwise_ece)
    head = ["metric", "value", f"{report.level:.0%} interval" if iv else ""]
    note = ""
    if iv:
        note = (
            f'<p class="note">Intervals: percentile, Poisson bootstrap with '
            f"{report.bootstrap} replicates, seed {report.seed}.</p>"
        )
    return _table(head, rows) + note


def _figures(report: Report, after: Report | None, class_names: Sequence[str] | None) -> str:
    from . import plots

    out = []
    figs = plots.figures(report, after=after, class_names=class_names)
    for name, fig in figs.items():
        data = base64.b64encode(plots.png_bytes(fig)).decode("ascii")
        caption = _CAPTIONS.get(name, name)
        if name == "reliability" and after is not None:
            caption += _AFTER
        out.append(
            f'<figure id="fig-{name}"><img alt="{_e(name)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return '<div class="figures">' + "".join(out) + "</div>"


def _bin(lo: float, hi: float, last: bool) -> str:
    """A calibration bin as an interval: half-open ``[lo, hi)``, the last one closed at 1."""
    return f"[{lo:.4f}, {hi:.4f}{']' if last else ')'}"


def _or_dash(x: Any, count: int) -> Any:
    """An empty bin's mean, accuracy and gap are undefined: shown as "—", not NaN."""
    return _Raw("—") if count == 0 else x


def render(
    report: Report,
    *,
    after: Report | None = None,
    class_names: Sequence[str] | None = None,
    source: dict | None = None,
    rows: dict | None = None,
    title: str = "crossentropy report",
    figures: bool = True,
) -> str:
    """The report as one HTML document (a string).

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> r = evaluate(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    >>> page = render(r, figures=False)
    >>> page.startswith("<!DOCTYPE html>") and "cross-entropy" in page
    True
    """
    class_names = report.class_names if class_names is None else class_names
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    if source:
        files = source.get("files") or []
        what = "the bundled digits example" if source.get("bundled_example") else ", ".join(files)
        items = [
            ("input", what),
            ("target column", ", ".join(source.get("target") or [])),
            ("prediction columns", _short_list(source.get("pred") or [])),
            ("weight column", source.get("weight") or "—"),
            ("kind", f"{source.get('kind')} ({source.get('kind_reason', '')})"),
        ]
        parts.append("<h2>Input</h2>")
        parts.append(_table(["", ""], [(_Raw(_e(k)), _Raw(_e(v))) for k, v in items], left=2))
    counts: list[tuple[str, Any]] = [
        ("rows in the report", report.n_rows),
        ("valid", report.n_valid),
        ("ignored (masked)", report.n_ignored),
        ("total weight", report.weight_sum),
    ]
    if rows:
        counts = (
            [
                ("rows read", rows.get("read")),
                ("rows evaluated", rows.get("evaluated")),
                ("ignored (masked)", rows.get("ignored")),
                ("of which missing labels", rows.get("missing_labels")),
                ("rejected", rows.get("rejected")),
            ]
            + [(f"  rejected: {k}", v) for k, v in (rows.get("rejected_by_reason") or {}).items()]
            + [("total weight", report.weight_sum)]
        )
    parts.append("<h2>Rows</h2>")
    parts.append(_table(["", "count"], [(_Raw(_e(k)), v) for k, v in counts]))
    parts.append(f"<h2>Metrics (C = {report.num_classes}, kind {_e(report.kind)})</h2>")
    if report.empty:
        parts.append(
            "<p>No valid rows: every example is masked or the input is empty; no "
            "statistic is defined.</p>"
        )
    else:
        parts.append(_metrics(report))
        if report.temperature is not None:
            t = report.temperature
            parts.append("<h2>Temperature scaling</h2>")
            parts.append(
                _table(
                    ["", "before (T = 1)", f"after (T = {_num(t.T)})"],
                    [
                        (_Raw("cross-entropy"), t.nll_before, t.nll_after),
                        (_Raw("ECE"), t.ece_before, t.ece_after),
                    ],
                )
            )
            parts.append(
                f'<p class="note">Fitted on the evaluated data by safeguarded Newton '
                f"steps in log T: {t.iterations} iterations, converged: "
                f"{_e(t.converged)}.</p>"
            )
        if figures:
            parts.append("<h2>Figures</h2>")
            parts.append(_figures(report, after, class_names))
        cal = report.calibration
        if cal is not None:
            parts.append("<h2>Calibration bins</h2>")
            parts.append(
                _table(
                    ["bin", "count", "weight", "mean confidence", "accuracy", "gap"],
                    [
                        (
                            _Raw(_bin(b.lo, b.hi, i == len(cal.bins) - 1)),
                            b.count,
                            b.weight,
                            _or_dash(b.mean_confidence, b.count),
                            _or_dash(b.accuracy, b.count),
                            _or_dash(b.gap, b.count),
                        )
                        for i, b in enumerate(cal.bins)
                    ],
                )
            )
            parts.append(
                '<p class="note">Bins are half-open, [lo, hi) (the last one is closed at 1); '
                "— marks a bin with no example (its mean, accuracy and gap are undefined).</p>"
            )
        shown = [c for c in report.per_class if c.count > 0]
        if shown:
            parts.append("<h2>Per class (by true class)</h2>")
            parts.append(
                _table(
                    ["class", "count", "weight", "mean NLL", "accuracy"],
                    [
                        (
                            _Raw(
                                _e(
                                    class_names[c.cls]
                                    if class_names and c.cls < len(class_names)
                                    else c.cls
                                )
                            ),
                            c.count,
                            c.weight,
                            c.nll_mean,
                            c.accuracy,
                        )
                        for c in shown
                    ],
                )
            )
    parts.append(
        '<p class="note">Made by crossentropy. Cross-entropy = Σ ℓ<sub>i</sub> / '
        "Σ w<sub>i</sub>; perplexity = exp(cross-entropy).</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _short_list(names: Sequence[str]) -> str:
    names = list(names)
    if len(names) <= 8:
        return ", ".join(names)
    return f"{names[0]} … {names[-1]} ({len(names)} columns)"


def write_report(path: str, report: Report, **kwargs: Any) -> str:
    """Write :func:`render` to ``path`` (UTF-8, whole or not at all: a temporary file renamed
    into place); returns ``path``."""
    page = render(report, **kwargs)
    with OutputFiles() as out:
        out.stage(path, page)
    return path


def render_comparison(
    comparison: Any,
    *,
    figures: dict[str, tuple[bytes, str]] | None = None,
    title: str = "crossentropy compare",
) -> str:
    """A :class:`crossentropy.compare.Comparison` as one HTML document: the verdict, the
    table of ``Δ = metric(B) − metric(A)`` with its paired interval, and ``figures``
    (name → (PNG bytes, caption)) embedded as ``data:`` URIs.

    >>> import numpy as np
    >>> from crossentropy.compare import compare
    >>> y = np.array([0, 1, 1]); a = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    >>> page = render_comparison(compare(a, 2 * a, y, bootstrap=0))
    >>> page.startswith("<!DOCTYPE html>") and "B − A" in page
    True
    """
    c = comparison
    A, B = c.names
    iv = c.intervals or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _table(["", ""], [(_Raw("A"), _Raw(_e(A))), (_Raw("B"), _Raw(_e(B)))], left=2),
        f'<p id="verdict"><strong>{_e(c.verdict())}</strong></p>',
    ]
    if not c.paired or not iv:
        parts.append(f'<p class="note">{_e(c.note or "no interval")}</p>')
    head = ["metric", "A", "B", "B − A"]
    if iv:
        head.append(f"{c.level:.0%} paired interval of B − A")
    rows = []
    for k, d in c.difference.items():
        row: list[Any] = [_Raw(_e(k)), c.a[k], c.b[k], d]
        if iv:
            row.append(_Raw(f"[{_num(iv[k][0])}, {_num(iv[k][1])}]" if k in iv else ""))
        rows.append(row)
    parts.append("<h2>Differences</h2>")
    parts.append(_table(head, rows))
    if iv:
        parts.append(
            f'<p class="note">Intervals: percentile, paired Poisson bootstrap (the same '
            f"replicate weights for both models) with {c.bootstrap} replicates, seed "
            f"{c.seed}; {c.n_rows:,} rows ({c.n_valid:,} valid).</p>"
        )
    if c.b_lower is not None:
        parts.append(
            f'<p class="note">Per-example NLL difference (B − A): B lower on {c.b_lower:,} '
            f"rows, A lower on {c.a_lower:,}, equal on {c.equal:,}.</p>"
        )
    if figures:
        parts.append("<h2>Figures</h2>")
        out = []
        for name, (png, caption) in figures.items():
            data = base64.b64encode(png).decode("ascii")
            out.append(
                f'<figure id="fig-{_e(name)}"><img alt="{_e(name)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}</figcaption></figure>'
            )
        parts.append('<div class="figures">' + "".join(out) + "</div>")
    parts.append('<p class="note">Made by crossentropy compare.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
