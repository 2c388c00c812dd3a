"""Make the binary and multi-label examples: ``breast_cancer.npz`` and ``digits_multilabel.npz``.

Both data sets ship inside scikit-learn (no download) and both models are fitted with this
library's own binary cross-entropy and its closed-form gradient
(``crossentropy.binary_cross_entropy``, ``crossentropy.binary_cross_entropy_grad``: the
mean of ``σ(x) − y``), chained through a linear map and minimised by SciPy's L-BFGS with a
small L2 penalty, like ``make_digits.py`` does for the softmax regression:

- **binary**: the UCI Breast Cancer Wisconsin (Diagnostic) data
  (``sklearn.datasets.load_breast_cancer``: 569 tumours, 30 features, label 1 = benign as
  scikit-learn codes it). Features standardised with the training split's mean and
  standard deviation; logistic regression; held-out logits ``logits`` (N,) and labels
  ``target`` (N,) int64.
- **multi-label**: the UCI handwritten digits (``load_digits``), pixels / 16, with three
  labels per image derived from its digit: ``is_even``, ``is_at_least_5``, ``is_prime``
  (2, 3, 5, 7). Three independent logistic regressions (one linear map, K = 3 sigmoid
  outputs); held-out logits ``logits`` (N, 3) and labels ``target`` (N, 3) int64.

Each split is stratified by label (binary) or digit (multi-label) with a seeded NumPy
generator. Run ``python -m crossentropy.examples.make_tasks`` (needs scikit-learn and
SciPy) to rewrite both files next to this one, or into the folder given as the first
argument. It is never imported by the package itself.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from .make_digits import split

SEED = 20240605
L2 = 1e-3
MAX_ITER = 500
LABELS = ("is_even", "is_at_least_5", "is_prime")


def fit_logistic(X: np.ndarray, Y: np.ndarray, l2: float = L2):
    """Minimise mean binary cross-entropy over every cell + (l2/2)‖W‖² with L-BFGS, using the
    library's loss and gradient; ``Y`` (n, K) of 0/1. Returns ``W`` (d, K), ``b`` (K,), result."""
    from scipy.optimize import minimize

    import crossentropy as ce

    n, d = X.shape
    K = Y.shape[1]
    Yf = Y.astype(np.float64)

    def objective(theta):
        W = theta[: d * K].reshape(d, K)
        b = theta[d * K :]
        logits = X @ W + b
        loss = float(ce.binary_cross_entropy(logits, Yf)) + 0.5 * l2 * float(np.sum(W * W))
        G = np.asarray(ce.binary_cross_entropy_grad(logits, Yf))  # ∂ mean / ∂ logits
        return loss, np.concatenate([(X.T @ G + l2 * W).ravel(), G.sum(axis=0)])

    res = minimize(
        objective,
        np.zeros(d * K + K),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": MAX_ITER, "gtol": 1e-8},
    )
    return res.x[: d * K].reshape(d, K), res.x[d * K :], res


def make_binary(folder: str) -> str:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    X = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    tr, te = split(y, SEED)
    mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0)
    Z = (X - mu) / sd
    W, b, res = fit_logistic(Z[tr], y[tr, None])
    logits = (Z[te] @ W + b)[:, 0]
    how = (
        "UCI Breast Cancer Wisconsin (Diagnostic) (scikit-learn load_breast_cancer, CC BY 4.0); "
        f"label 1 = benign; features standardised on the training split; stratified split seed "
        f"{SEED}; logistic regression fitted by L-BFGS on mean binary cross-entropy + {L2}/2*||W||^2 "
        "with crossentropy.binary_cross_entropy and crossentropy.binary_cross_entropy_grad"
    )
    out = os.path.join(folder, "breast_cancer.npz")
    np.savez_compressed(
        out,
        logits=logits,
        target=y[te],
        class_names=np.array(["malignant", "benign"]),
        how=np.array(how),
        optimizer=np.array(f"L-BFGS-B, {res.nit} iterations, converged={bool(res.success)}"),
    )
    return out


def make_multilabel(folder: str) -> str:
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    d = np.asarray(digits.target, dtype=np.int64)
    Y = np.stack([d % 2 == 0, d >= 5, np.isin(d, (2, 3, 5, 7))], axis=1).astype(np.int64)
    tr, te = split(d, SEED)
    W, b, res = fit_logistic(X[tr], Y[tr])
    how = (
        "UCI optical handwritten digits (scikit-learn load_digits, CC BY 4.0); pixels/16; labels "
        "is_even, is_at_least_5, is_prime of the digit; stratified split seed "
        f"{SEED}; three logistic regressions fitted by L-BFGS on mean binary cross-entropy + "
        f"{L2}/2*||W||^2 with crossentropy.binary_cross_entropy and its gradient"
    )
    out = os.path.join(folder, "digits_multilabel.npz")
    np.savez_compressed(
        out,
        logits=X[te] @ W + b,
        target=Y[te],
        label_names=np.array(LABELS),
        how=np.array(how),
        optimizer=np.array(f"L-BFGS-B, {res.nit} iterations, converged={bool(res.success)}"),
    )
    return out


def make(folder: str | None = None) -> list[str]:
    folder = folder or os.path.dirname(os.path.abspath(__file__))
    out = [make_binary(folder), make_multilabel(folder)]
    for p in out:
        print(f"wrote {p}")
    return out


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else None)
