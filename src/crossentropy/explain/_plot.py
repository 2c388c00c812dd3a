"""The walk-through's figures (matplotlib, optional): :func:`plot`."""

from __future__ import annotations

import math
import os

import numpy as np

from ._data import Walkthrough


def plot(w: Walkthrough, directory: str) -> list[str]:
    """Write the walk-through's figures as PNG files into ``directory``; returns their paths."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        msg = "--plot needs matplotlib: pip install 'crossentropy[plot]'"
        raise ImportError(msg) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    paths = []
    c = w.curves
    lp = np.asarray(c["log_q_observed"])
    fig, ax = plt.subplots(figsize=(6, 4))
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
    paths.append(_save(fig, directory, "1_likelihood_product.png"))
    if "sharpness" in c:
        fig, ax = plt.subplots(figsize=(6, 4))
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
        paths.append(_save(fig, directory, "3_sharpening.png"))
    if "train_step" in c:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        a1.plot(c["train_step"], c["train_nll"], "o-")
        a1.set(xlabel="step", ylabel="NLL (sum)", title="8. NLL falls")
        a2.plot(c["train_step"], c["train_log10_likelihood"], "o-", color="C1")
        a2.set(xlabel="step", ylabel="log10 likelihood", title="… the likelihood rises")
        paths.append(_save(fig, directory, "8_training.png"))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(c["train_step"], c["train_ce"], "o-", label="cross-entropy (minimised)")
        ax.plot(
            c["train_step"], c["train_entropy_q"], "o-", label="entropy of the predictions H(q)"
        )
        ax.axhline(0.0, color="grey", lw=0.8, label="entropy of the targets H(y)")
        ax.set(xlabel="step", ylabel="nats per example", title="9. What training minimises")
        ax.legend()
        paths.append(_save(fig, directory, "9_ce_vs_entropy.png"))
    return paths


def _save(fig, directory: str, name: str) -> str:
    import matplotlib.pyplot as plt

    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
