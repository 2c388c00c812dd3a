"""Make ``digits.npz``: held-out predictions of a softmax regression on the UCI digits.

The data are the UCI "Optical Recognition of Handwritten Digits" test set as shipped
inside scikit-learn (``sklearn.datasets.load_digits``: 1,797 images of 8×8 pixels,
values 0…16, ten classes; no download). The script

1. scales the pixels to [0, 1] (divides by 16, exact in binary floating point);
2. splits the images into train and held-out sets, stratified by class, with a
   seeded NumPy generator (``SEED``);
3. fits a softmax regression ``logits = X W + b`` by minimising

       J(W, b) = cross_entropy(X W + b, y) + (λ/2)·‖W‖²

   with SciPy's L-BFGS, where the loss **and its gradient** come from this library:
   ``crossentropy.cross_entropy`` and ``crossentropy.cross_entropy_grad`` (the
   closed form ``(softmax(x) − onehot(y)) / N``), chained through the linear map
   by ``∂J/∂W = Xᵀ G + λ W``, ``∂J/∂b = Σ_i G_i``;
4. saves the held-out logits (float64) and labels (int64), the features and labels
   of both splits, the fitted ``W`` and ``b`` and the metadata, compressed.

Run it again with ``python -m crossentropy.examples.make_digits`` (needs
scikit-learn and SciPy); it rewrites ``digits.npz`` next to this file, or the path
given as the first argument. It is never imported by the package itself.
"""

from __future__ import annotations

import os
import sys

import numpy as np

SEED = 20240605
HELD_OUT_FRACTION = 0.3
L2 = 1e-3
MAX_ITER = 500


def split(y: np.ndarray, seed: int = SEED, fraction: float = HELD_OUT_FRACTION):
    """Stratified deterministic split: indices (train, held_out), each sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(fraction * idx.size))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def fit_softmax_regression(X: np.ndarray, y: np.ndarray, num_classes: int, l2: float = L2):
    """Minimise mean cross-entropy + (l2/2)‖W‖² with L-BFGS, using the library's gradient."""
    from scipy.optimize import minimize

    import crossentropy as ce

    n, d = X.shape

    def objective(theta):
        W = theta[: d * num_classes].reshape(d, num_classes)
        b = theta[d * num_classes :]
        logits = X @ W + b
        loss = float(ce.cross_entropy(logits, y)) + 0.5 * l2 * float(np.sum(W * W))
        G = np.asarray(ce.cross_entropy_grad(logits, y))  # ∂ mean CE / ∂ logits
        gW = X.T @ G + l2 * W
        gb = G.sum(axis=0)
        return loss, np.concatenate([gW.ravel(), gb])

    theta0 = np.zeros(d * num_classes + num_classes)
    res = minimize(
        objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITER, "gtol": 1e-8}
    )
    W = res.x[: d * num_classes].reshape(d, num_classes)
    b = res.x[d * num_classes :]
    return W, b, res


def make(path: str | None = None) -> str:
    from sklearn.datasets import load_digits

    import crossentropy as ce

    digits = load_digits()
    X = np.asarray(digits.data, dtype=np.float64) / 16.0
    y = np.asarray(digits.target, dtype=np.int64)
    tr, te = split(y)
    W, b, res = fit_softmax_regression(X[tr], y[tr], 10)
    logits = X[te] @ W + b
    how = (
        "UCI optical handwritten digits (scikit-learn load_digits, CC BY 4.0); pixels/16; "
        f"stratified split seed {SEED}, held-out fraction {HELD_OUT_FRACTION}; softmax regression "
        f"fitted by L-BFGS on mean cross-entropy + {L2}/2*||W||^2 with crossentropy.cross_entropy "
        "and crossentropy.cross_entropy_grad; logits = X_test @ W + b"
    )
    out = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")
    np.savez_compressed(
        out,
        logits=logits,
        target=y[te],
        X_train=X[tr],
        y_train=y[tr],
        X_test=X[te],
        y_test=y[te],
        W=W,
        b=b,
        class_names=np.array([str(c) for c in range(10)]),
        seed=np.int64(SEED),
        l2=np.float64(L2),
        how=np.array(how),
        optimizer=np.array(f"L-BFGS-B, {res.nit} iterations, converged={bool(res.success)}"),
    )
    print(
        f"wrote {out}: {te.size} held-out rows, train loss {res.fun:.6f}, "
        f"held-out cross-entropy {float(ce.cross_entropy(logits, y[te])):.6f}, "
        f"accuracy {float(np.mean(logits.argmax(1) == y[te])):.4f}"
    )
    return out


if __name__ == "__main__":
    make(sys.argv[1] if len(sys.argv) > 1 else None)
