"""The walk-through's figures (matplotlib, optional): :func:`figures` and :func:`plot`.

Built with :class:`matplotlib.figure.Figure` directly (no pyplot, no global state);
:func:`plot` writes them all or nothing (:class:`crossentropy.io._output.OutputFiles`).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..io._output import OutputFiles
from ..plots import png_bytes
from ._data import Walkthrough

#: Every file :func:`plot` may write (the figures a walk-through has, by name).
FILES = (
    "1_likelihood_product.png",
    "3_sharpening.png",
    "8_training.png",
    "9_ce_vs_entropy.png",
)


def _figure(figsize: tuple[float, float]) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        msg = "--plot needs matplotlib: pip install 'crossentropy[plot]'"
        raise ImportError(msg) from None
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def plot(w: Walkthrough, directory: str) -> list[str]:
    """Write the walk-through's figures as PNG files into ``directory`` (made when missing;
    all the files or none); returns their paths."""
    paths = []
    with OutputFiles() as out:
        for name, fig in figures(w).items():
            fig.tight_layout()
            path = os.path.join(directory, name)
            out.stage(path, png_bytes(fig, dpi=100), make_folder=True)
            paths.append(path)
    return paths


def figures(w: Walkthrough) -> dict[str, Any]:
    """The walk-through's figures by file name (those of :data:`FILES` its curves allow)."""
    out = {}
    c = w.curves
    lp = np.asarray(c["log_q_observed"])
    # a Bernoulli factor's untrained model is a coin (½), a categorical one's 1/C
    out[FILES[0]] = _likelihood_figure(lp, w.num_classes if w.task == "multiclass" else 2)
    return _other_figures(c, out)


def _running(lp: np.ndarray) -> tuple[np.ndarray, np.ndarray, int | None]:
    """log10 of the running product two ways: the sum of logs (exact) and the float64 product
    (NaN once it is 0.0), and the first example at which the float64 product is 0.0."""
    exact = np.cumsum(lp) / math.log(10)
    with np.errstate(under="ignore", divide="ignore"):
        prod = np.cumprod(np.exp(lp))
        logged = np.log10(prod)
    zero = np.flatnonzero(prod == 0.0)
    return (
        exact,
        np.where(np.isfinite(logged), logged, np.nan),
        int(zero[0]) + 1 if zero.size else None,
    )


def _likelihood_figure(lp: np.ndarray, num_classes: int) -> Any:
    """The lesson of section 1: the float64 product of probabilities underflows to 0.0 (here
    for a model that gives every class 1/C, and for the data's model if it does too) while the
    sum of logs goes on; the float64 limit is drawn and labelled."""
    fig = _figure((7, 5.4))
    ax = fig.subplots()
    n = lp.size
    tiny = np.finfo(np.float64).smallest_subnormal
    limit = math.log10(tiny)
    series = [("this model", lp, "C0")]
    if num_classes > 1:
        # 1/C per example: the float64 product is 0.0 once C^-k < 2^-1075; draw it at least
        # that far (past the data's N when N is smaller) so the underflow is always shown
        k0 = math.ceil(1075 * math.log(2) / math.log(num_classes))
        m = max(n, k0 + max(10, k0 // 10))
        series.append(
            (f"untrained (q = 1/{num_classes})", np.full(m, -math.log(num_classes)), "C3")
        )
    lowest = limit
    for name, values, color in series:
        exact, floated, zero_at = _running(values)
        i = np.arange(1, values.size + 1)
        finite = exact[np.isfinite(exact)]
        if finite.size:
            lowest = min(lowest, float(finite.min()))
        ax.plot(i, exact, color=color, lw=1.5, label=f"{name}: log10 Π (as a sum of logs)")
        ax.plot(i, floated, "--", color=color, lw=2.5, alpha=0.6, label=f"{name}: float64 product")
        if zero_at is not None and np.isneginf(values[zero_at - 1]):  # q = 0, not underflow
            ax.plot([zero_at], [0.0], "x", color=color, ms=10, mew=2)
            ax.annotate(
                f"q = 0 at example {zero_at}: the product is 0.0 and\n"
                "the log-likelihood −inf (no underflow: a true zero)",
                (zero_at, 0.0),
                xytext=(8, -24),
                textcoords="offset points",
                fontsize=8,
                color=color,
            )
        elif zero_at is not None:
            y0 = float(exact[zero_at - 1])
            ax.plot([zero_at], [max(y0, limit)], "x", color=color, ms=10, mew=2)
            ax.annotate(
                f"float64 product = 0.0\nfrom example {zero_at}",
                (zero_at, max(y0, limit)),
                xytext=(8, 12),
                textcoords="offset points",
                fontsize=8,
                color=color,
            )
    ax.axhline(limit, color="k", lw=1, ls=":")
    if num_classes > 1 and series[-1][1].size > n:  # the untrained curve goes on past the data
        ax.axvline(n, color="0.6", lw=0.8, ls="--")
        ax.annotate(
            f"end of the data (N = {n})",
            (n, min(lowest, limit)),
            xytext=(3, 4),
            textcoords="offset points",
            fontsize=7,
            color="0.4",
        )
    ax.annotate(
        f"float64 limit: smallest positive double {tiny:.2g} (10^{limit:.1f});\n"
        "below it a product rounds to 0.0",
        (0.01, limit),
        xycoords=("axes fraction", "data"),
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=8,
    )
    ax.set_ylim(min(lowest, limit) * 1.1 - 5, 10)
    ax.set(
        xlabel="examples multiplied",
        ylabel="log10 likelihood",
        title="1. The likelihood is a product: in float64 it underflows to 0",
    )
    ax.legend(  # below the axes: never over a curve
        fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2, frameon=False
    )
    return fig


def _other_figures(c: Any, out: dict[str, Any]) -> dict[str, Any]:
    """The figures of sections 3, 8 and 9, when the walk-through has their curves."""
    if "sharpness" in c:
        fig = _figure((6, 4))
        ax = fig.subplots()
        if "sharpness_train" in c:
            ax.plot(c["sharpness"], c["sharpness_train"], "o-", label="training")
        ax.plot(c["sharpness"], c["sharpness_heldout"], "o-", label="held-out")
        ax.set(
            xscale="log",
            xlabel="sharpness s",
            ylabel="NLL per example",
            title="3. Maximal likelihood is over-confident",
        )
        ax.legend()
        out[FILES[1]] = fig
    if "train_step" in c:
        fig = _figure((10, 4))
        a1, a2 = fig.subplots(1, 2)
        a1.plot(c["train_step"], c["train_nll"], "o-")
        a1.set(xlabel="step", ylabel="NLL (sum)", title="8. NLL falls")
        a2.plot(c["train_step"], c["train_log10_likelihood"], "o-", color="C1")
        a2.set(xlabel="step", ylabel="log10 likelihood", title="… the likelihood rises")
        out[FILES[2]] = fig
        fig = _figure((6, 4))
        ax = fig.subplots()
        ax.plot(c["train_step"], c["train_ce"], "o-", label="cross-entropy (minimised)")
        ax.plot(
            c["train_step"], c["train_entropy_q"], "o-", label="entropy of the predictions H(q)"
        )
        ax.axhline(0.0, color="grey", lw=0.8, label="entropy of the targets H(y)")
        ax.set(xlabel="step", ylabel="nats per example", title="9. What training minimises")
        ax.legend()
        out[FILES[3]] = fig
    return out
