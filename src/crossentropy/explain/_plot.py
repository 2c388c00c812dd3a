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
    fig = _figure((6, 4))
    ax = fig.subplots()
    i = np.arange(1, lp.size + 1)
    ax.plot(i, np.cumsum(lp) / math.log(10), label="log10 of the running product (sum of logs)")
    with np.errstate(under="ignore", divide="ignore"):
        prod = np.log10(np.cumprod(np.exp(lp)))
    ax.plot(
        i,
        np.where(np.isfinite(prod), prod, np.nan),
        "--",
        label="log10 of the float64 running product",
    )
    ax.axhline(math.log10(np.finfo(np.float64).smallest_subnormal), color="grey", lw=0.8)
    ax.set(
        xlabel="examples multiplied",
        ylabel="log10 likelihood",
        title="1. The likelihood is a product",
    )
    ax.legend(fontsize=8)
    out[FILES[0]] = fig
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
