"""Figures of a :class:`crossentropy.Report` (matplotlib, imported lazily).

Four figures, each drawn from the report's mergeable summaries only (never from
per-example data, so they cost nothing extra on a 10-million-row file):

``reliability``
    The reliability diagram: per calibration bin, the accuracy against the mean
    confidence (the diagonal is perfect calibration; the bar is the gap), over
    the histogram of top-label confidence. With a temperature-scaled report
    (``after=``) both curves are drawn, labelled with their ECE.
``nll_curve``
    The curve ``−log p`` (the loss an example pays when the model gives its true
    class probability ``p``) over the histogram of the observed ``p(true class)``:
    the cross-entropy is the average height of the curve under that histogram.
``per_class``
    The mean NLL of the examples of each true class, with their accuracy.
``nll_distribution``
    The distribution of per-example NLL on a log scale, the mean (the
    cross-entropy) marked.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no
global state, no display needed); PNGs are rendered by the Agg canvas. Class names are
drawn literally (no mathtext, no TeX: ``$x$`` stays ``$x$``). :func:`save_all` writes
the files all or nothing (:class:`crossentropy.io._output.OutputFiles`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .io._output import OutputFiles

if TYPE_CHECKING:  # matplotlib is imported lazily (an optional dependency)
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: a :class:`crossentropy.Report` (or a record with its fields): read by attribute only, so
#: that this module ranks below ``report`` (whose ``_repr_html_`` draws a figure)
Report = Any

__all__ = ["FIGURES", "FILES", "figures", "nll_difference", "png_bytes", "save_all", "wilson"]

FIGURES = ("reliability", "nll_curve", "per_class", "nll_distribution")
#: The file of each figure in the folder :func:`save_all` writes (``--plots DIR``).
FILES = {name: f"{name}.png" for name in FIGURES}


def _mpl():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'crossentropy[plot]'") from None
    return Figure, FigureCanvasAgg


def _unit(report: Report) -> tuple[str, float]:
    """Unit name and the divisor that turns nats into the report's base."""
    if report.base == 2 or report.base == "2":
        return "bits", math.log(2.0)
    if report.base == "e":
        return "nats", 1.0
    return f"base-{report.base} units", math.log(float(report.base))


def _new(figsize: tuple[float, float] = (6.4, 4.8)) -> Figure:
    Figure, FigureCanvasAgg = _mpl()
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _empty(fig: Figure, ax: Axes, title: str) -> Figure:
    ax.set_axis_off()
    ax.text(
        0.5, 0.5, "no valid rows: nothing to plot", ha="center", va="center", transform=ax.transAxes
    )
    ax.set_title(title)
    return fig


def wilson(accuracy: np.ndarray, count: np.ndarray, z: float = 1.959963984540054) -> tuple:
    """Wilson score interval ``(lo, hi)`` of a bin's accuracy ``p̂`` over its ``n`` examples:

        (p̂ + z²/2n ± z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)       (z = 1.96: 95%)

    (for weighted rows ``p̂`` is the weighted accuracy and ``n`` the bin's row count). NaN
    where ``n = 0``.

    >>> lo, hi = wilson(np.array([0.5, 1.0]), np.array([10, 4]))
    >>> [round(float(v), 4) for v in lo], [round(float(v), 4) for v in hi]
    ([0.2366, 0.5101], [0.7634, 1.0])
    """
    p = np.asarray(accuracy, dtype=float)
    n = np.asarray(count, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z * np.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    return centre - half, centre + half


def reliability(report: Report, *, after: Report | None = None) -> Figure:
    """Reliability diagram: per bin the accuracy against the mean confidence, each point sized
    by the bin's example count with its 95% Wilson interval (:func:`wilson`); the gap bars;
    below it, the examples per bin on a log scale. With ``after=`` (a temperature-scaled
    report) both models are drawn. The legend sits below the axes, never over the data."""
    fig = _new((6.4, 7.0))
    gs = fig.add_gridspec(2, 1, height_ratios=[3, 1.2])
    ax = fig.add_subplot(gs[0])
    axh = fig.add_subplot(gs[1], sharex=ax)
    cal = report.calibration
    if report.empty or cal is None:
        axh.set_axis_off()
        return _empty(fig, ax, "Reliability diagram")
    ax.plot([0, 1], [0, 1], ls="--", color="0.5", lw=1, label="perfect calibration")
    series = [("before" if after is not None else "model", cal, "C0")]
    if after is not None and after.calibration is not None:
        T = report.temperature.T if report.temperature is not None else None
        series.append((f"after T = {T:.3g}" if T else "after", after.calibration, "C1"))
    total = max(1, sum(b.count for b in cal.bins))
    for label, c, color in series:
        bins = [b for b in c.bins if b.count > 0]
        if not bins:
            continue
        conf = np.array([b.mean_confidence for b in bins])
        acc = np.array([b.accuracy for b in bins])
        count = np.array([b.count for b in bins])
        lo = np.array([b.lo for b in bins])
        hi = np.array([b.hi for b in bins])
        if len(series) == 1:
            ax.bar(
                lo,
                conf - acc,
                bottom=acc,
                width=hi - lo,
                align="edge",
                color="C3",
                alpha=0.2,
                hatch="//",
                edgecolor="C3",
                label="gap (confidence − accuracy)",
            )
        wlo, whi = wilson(acc, count)
        ax.errorbar(
            conf,
            acc,
            yerr=np.clip(np.vstack([acc - wlo, whi - acc]), 0, None),  # p̂ = 0 or 1: ±rounding
            fmt="none",
            ecolor=color,
            elinewidth=1,
            capsize=2,
            alpha=0.8,
            label=f"{label}: 95% Wilson interval per bin",
        )
        ax.plot(conf, acc, color=color, lw=1, label=f"{label}: ECE {c.ece:.4f}")
        ax.scatter(
            conf,
            acc,
            s=12 + 400 * np.sqrt(count / total),
            color=color,
            alpha=0.6,
            edgecolors="white",
            linewidths=0.5,
            zorder=3,
            label=f"{label}: bin (area ∝ √examples)",
        )
        if len(series) == 1:
            for x, y, n in zip(conf, acc, count, strict=True):
                ax.annotate(
                    f"{n:,}",
                    (x, y),
                    xytext=(0, -12),
                    textcoords="offset points",
                    ha="center",
                    va="top",
                    fontsize=6,
                    color="0.3",
                )
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.05, 1.05)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability diagram ({cal.strategy} bins, {len(cal.bins)})")
    for label, c, color in series:
        edges = np.array([b.lo for b in c.bins] + [c.bins[-1].hi]) if c.bins else np.zeros(1)
        counts = np.array([b.count for b in c.bins], dtype=float)
        if len(series) == 1:
            axh.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color=color, alpha=0.6)
        else:
            axh.stairs(counts, edges, color=color, lw=1.5, label=label)
    if np.any([b.count > 0 for b in cal.bins]):
        axh.set_yscale("log")
    axh.set_xlabel("confidence (top-label probability)")
    axh.set_ylabel("examples per bin\n(log scale)")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    return fig


def nll_curve(report: Report) -> Figure:
    """The −log p curve over the histogram of the observed p(true class)."""
    fig = _new()
    ax = fig.add_subplot()
    unit, div = _unit(report)
    if report.empty or report.histograms is None:
        return _empty(fig, ax, "−log p of the true class")
    h = report.histograms.p_true
    edges = np.asarray(h.edges, dtype=float)
    counts = np.asarray(h.count, dtype=float)
    ax.bar(
        edges[:-1],
        counts,
        width=np.diff(edges),
        align="edge",
        color="C0",
        alpha=0.5,
        label="examples with this p(true class)",
    )
    ax.set_xlabel("p(true class) given by the model")
    ax.set_ylabel("examples")
    ax.set_xlim(0, 1)
    ax2 = ax.twinx()
    p = np.linspace(1e-3, 1.0, 500)
    ax2.plot(p, -np.log(p) / div, color="C3", lw=2, label=f"−log p ({unit}): the loss paid")
    ax2.axhline(
        report.cross_entropy,
        color="k",
        ls=":",
        lw=1,
        label=f"cross-entropy {report.cross_entropy:.4f} {unit}",
    )
    ax2.set_ylabel(f"−log p ({unit})")
    ax2.set_ylim(
        0,
        max(
            -math.log(1e-3) / div,
            report.cross_entropy * 1.1 if math.isfinite(report.cross_entropy) else 0,
        ),
    )
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    fig.legend(  # below the axes: never over the data
        lines[0] + lines2[0], lines[1] + lines2[1], loc="outside lower center", fontsize="small"
    )
    ax.set_title("Where the loss comes from: −log p over the observed p(true class)")
    return fig


def per_class(
    report: Report, *, class_names: Sequence[str] | None = None, limit: int = 50
) -> Figure:
    """Mean NLL per true class (bars), accuracy as a marker on a second axis; classes are
    named by ``class_names`` or else the report's own :attr:`Report.class_names`."""
    class_names = report.class_names if class_names is None else class_names
    fig = _new((max(6.4, 0.35 * min(len(report.per_class), limit) + 2), 4.8))
    ax = fig.add_subplot()
    unit, _ = _unit(report)
    shown = [c for c in report.per_class if c.count > 0]
    if report.empty or not shown:
        return _empty(fig, ax, "NLL per class")
    title = "Mean NLL per true class"
    if len(shown) > limit:
        shown = sorted(shown, key=lambda c: -c.nll_mean)[:limit]
        title += f" (the {limit} worst of {len(report.per_class)})"
    names = [
        str(class_names[c.cls]) if class_names and c.cls < len(class_names) else str(c.cls)
        for c in shown
    ]
    x = np.arange(len(shown))
    ax.bar(x, [c.nll_mean for c in shown], color="C0", alpha=0.7, label=f"mean NLL ({unit})")
    ax.axhline(report.cross_entropy, color="k", ls=":", lw=1, label="overall cross-entropy")
    # user text, drawn literally: no mathtext ($…$) and no TeX, whatever the rcParams say
    ax.set_xticks(x, names, rotation=90 if len(shown) > 20 else 0, parse_math=False, usetex=False)
    ax.set_xlabel("true class")
    ax.set_ylabel(f"mean NLL ({unit})")
    ax2 = ax.twinx()
    ax2.plot(x, [c.accuracy for c in shown], "o", color="C2", label="accuracy")
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("accuracy")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="outside lower center", ncols=3, fontsize="small")
    ax.set_title(title)
    return fig


def nll_distribution(report: Report) -> Figure:
    """Histogram of per-example NLL (log-spaced bins; under/overflow bins drawn at the ends);
    the x axis spans the bins that hold examples."""
    fig = _new()
    ax = fig.add_subplot()
    unit, div = _unit(report)
    if report.empty or report.histograms is None:
        return _empty(fig, ax, "Per-example NLL")
    h = report.histograms.nll
    edges = np.asarray(h.edges, dtype=float) / div
    counts = np.asarray(h.count, dtype=float)
    lo = edges[:-1].copy()
    hi = edges[1:].copy()
    # The underflow bin starts at 0 and the overflow bin ends at inf: draw them as
    # one decade-wide bars at the ends of the log axis, labelled.
    finite_lo = lo[lo > 0]
    first = finite_lo.min() if finite_lo.size else 1e-6
    if lo[0] <= 0:
        lo[0] = first / 10
    if not np.isfinite(hi[-1]):
        hi[-1] = lo[-1] * 10
    ax.bar(lo, counts, width=hi - lo, align="edge", color="C0", alpha=0.7, edgecolor="C0")
    ax.set_xscale("log")
    seen = np.flatnonzero(counts > 0)
    if seen.size:  # the axis spans the bins that hold examples (and the mean), not all 39
        left, right = lo[seen[0]], hi[seen[-1]]
        ce = report.cross_entropy  # in the unit of the edges (divided by div above)
        if math.isfinite(ce) and ce > 0:
            left, right = min(left, ce), max(right, ce)
        ax.set_xlim(left / 1.5, right * 1.5)
    if math.isfinite(report.cross_entropy) and report.cross_entropy > 0:
        ax.axvline(
            report.cross_entropy,
            color="C3",
            ls="--",
            label=f"mean = cross-entropy {report.cross_entropy:.4f} {unit}",
        )
        fig.legend(loc="outside lower center", fontsize="small")
    ax.set_xlabel(f"per-example NLL ({unit}, log scale; end bars: under/overflow)")
    ax.set_ylabel("examples")
    ax.set_title("Distribution of per-example NLL")
    return fig


def nll_difference(comparison: Any) -> Figure:
    """The per-example NLL difference ``d_i = ℓ^B_i − ℓ^A_i`` of a
    :class:`crossentropy.compare.Comparison`: one bar per bin of its symmetric log-spaced
    histogram (B lower on the left, A lower on the right, ``|d| < 1e-6`` in the middle), the
    verdict as the title.

    >>> import numpy as np
    >>> from crossentropy.compare import compare
    >>> y = np.array([0, 1, 1]); a = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    >>> fig = nll_difference(compare(a, 2 * a, y, bootstrap=0))
    >>> float(sum(p.get_height() for p in fig.axes[0].patches))   # the three examples
    3.0
    """
    fig = _new((7.5, 4.2))
    ax = fig.add_subplot()
    h = comparison.histogram
    if h is None or not sum(h.count):
        return _empty(fig, ax, "Per-example NLL difference")
    edges = np.asarray(h.edges, dtype=float)
    counts = np.asarray(h.count, dtype=float)
    mids = np.arange(counts.size)
    centre = int(np.searchsorted(edges, 0.0)) - 1  # the bin [−1e-6, 1e-6)
    colors = ["C2" if j < centre else "C3" if j > centre else "0.6" for j in mids]
    A, B = comparison.names
    ax.bar(mids, counts, width=0.9, color=colors)
    with np.errstate(divide="ignore"):
        decade = np.log10(np.abs(edges))
    ticks = [  # every other decade of the edges (bars sit between them), and 0 mid-centre
        j
        for j in range(1, counts.size)
        if j not in (centre, centre + 1) and decade[j] == np.round(decade[j]) and decade[j] % 2 == 0
    ]
    ax.set_xticks(
        [t - 0.5 for t in ticks] + [centre],
        [f"{edges[t]:+.0e}" for t in ticks] + ["0"],
        rotation=45,
        fontsize=7,
    )
    ax.set_xlabel(f"ℓ(B) − ℓ(A) per example (nats; left: B = {B} lower, right: A = {A} lower)")
    ax.set_ylabel("examples")
    ax.set_title(comparison.verdict(), fontsize=8, wrap=True)
    return fig


def figures(
    report: Report, *, after: Report | None = None, class_names: Sequence[str] | None = None
) -> dict[str, Figure]:
    """All four figures, by name (see :data:`FIGURES`)."""
    return {
        "reliability": reliability(report, after=after),
        "nll_curve": nll_curve(report),
        "per_class": per_class(report, class_names=class_names),
        "nll_distribution": nll_distribution(report),
    }


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_all(
    report: Report,
    directory: str,
    *,
    after: Report | None = None,
    class_names: Sequence[str] | None = None,
    dpi: int = 100,
) -> list[str]:
    """Write every figure as ``DIRECTORY/<name>.png``; returns the paths.

    >>> import tempfile, numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> r = evaluate(np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]]), np.array([0, 1, 0]))
    >>> [os.path.basename(p) for p in save_all(r, tempfile.mkdtemp())]
    ['reliability.png', 'nll_curve.png', 'per_class.png', 'nll_distribution.png']
    """
    paths = []
    with OutputFiles() as out:  # all four or none (the folder is made when missing)
        for name, fig in figures(report, after=after, class_names=class_names).items():
            path = os.path.join(directory, FILES[name])
            out.stage(path, png_bytes(fig, dpi=dpi), make_folder=True)
            paths.append(path)
    return paths
