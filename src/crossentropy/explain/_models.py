"""The two small models the answers fit: a nearest-neighbour model of adjustable sharpness
(section 3) and softmax regression trained by gradient descent with the library's gradient
(section 8)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..chain import nll
from ..gradients import cross_entropy_grad
from ..information import entropy
from ._data import _IMPL, TRAIN_LR, TRAIN_SHOWN, TRAIN_STEPS


def class_distances(
    X_ref: np.ndarray, y_ref: np.ndarray, X: np.ndarray, *, num_classes: int, scale: float = 16.0
) -> np.ndarray:
    r"""``D_ic = min_{j: y_j = c} ‖x_i − x_j‖²``: squared distance to the nearest reference of each class.

    Computed exactly on the integer pixel values ``x · scale`` (the digits' pixels
    are multiples of 1/16), so an image's distance to itself is exactly 0. A class
    with no reference image gets ``+inf``.

    >>> import numpy as np
    >>> Xr = np.array([[0.0, 0.0], [1.0, 1.0]]); yr = np.array([0, 1])
    >>> class_distances(Xr, yr, Xr, num_classes=2, scale=1.0)
    array([[0., 2.],
           [2., 0.]])
    """
    A = np.rint(np.asarray(X, dtype=np.float64) * scale)
    B = np.rint(np.asarray(X_ref, dtype=np.float64) * scale)
    with _one_blas_thread():
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)  # exact integers
    d2 /= scale * scale
    out = np.full((A.shape[0], num_classes), np.inf)
    for c in range(num_classes):
        sel = y_ref == c
        if sel.any():
            out[:, c] = d2[:, sel].min(axis=1)
    return out


def nearest_neighbour_logits(distances: np.ndarray, sharpness: float) -> np.ndarray:
    r"""Logits ``−s · D_ic`` of a nearest-neighbour model of sharpness ``s`` (see :func:`class_distances`).

    On its own training set every image is at distance 0 from itself, so as
    ``s → ∞`` the model puts all the mass on the observed labels (likelihood → 1).

    >>> import numpy as np
    >>> nearest_neighbour_logits(np.array([[0.0, 2.0]]), 3.0)
    array([[-0., -6.]])
    """
    return -float(sharpness) * np.asarray(distances)


class _one_blas_thread:
    """Run small matrix products on one BLAS thread when threadpoolctl is installed: on a
    busy machine, BLAS threads fighting over cores make 1258×64 products 30× slower."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - optional
            self._ctx = None
            return self
        self._ctx = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.unregister()
        return False


def descend_softmax_regression(
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = TRAIN_STEPS,
    lr: float = TRAIN_LR,
    record: Sequence[int] = TRAIN_SHOWN,
    num_classes: int | None = None,
) -> dict[str, np.ndarray]:
    r"""Gradient descent on the mean cross-entropy of ``logits = X W + b`` from ``W = 0``.

    The gradient is the library's closed form ``∂CE/∂logits = (softmax − onehot) / N``
    (:func:`crossentropy.cross_entropy_grad`), chained through the linear map:
    ``∂CE/∂W = Xᵀ G``, ``∂CE/∂b = Σ_i G_i``. Returns, at each step in ``record``,
    the NLL, the log10-likelihood and the mean entropy of the predictions, and the
    final ``W``, ``b``.

    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0]]); y = np.array([0, 1])
    >>> h = descend_softmax_regression(X, y, steps=20, lr=1.0, record=(0, 20))
    >>> bool(h["nll"][1] < h["nll"][0])
    True
    """
    C = int(num_classes if num_classes is not None else y.max() + 1)
    W = np.zeros((X.shape[1], C))
    b = np.zeros(C)
    rec = sorted(set(int(r) for r in record if 0 <= r <= steps))
    out: dict[str, list[float]] = {
        k: [] for k in ("step", "nll", "log10_likelihood", "cross_entropy", "entropy_q")
    }
    with _one_blas_thread():
        W, b = _descend(X, y, W, b, steps, lr, rec, out)
    res = {k: np.asarray(v) for k, v in out.items()}
    res["W"], res["b"] = W, b
    return res


def _descend(X, y, W, b, steps, lr, rec, out):
    XT = np.ascontiguousarray(X.T)
    for t in range(steps + 1):
        z = X @ W + b
        if t in rec:
            n_ = float(nll(z, y, impl=_IMPL))
            out["step"].append(t)
            out["nll"].append(n_)
            out["log10_likelihood"].append(-n_ / math.log(10))
            out["cross_entropy"].append(n_ / len(y))
            out["entropy_q"].append(float(entropy(z, kind="logits", reduction="mean")))
        if t == steps:
            break
        g = np.asarray(cross_entropy_grad(z, y, impl=_IMPL))
        W = W - lr * (XT @ g)
        b = b - lr * g.sum(axis=0)
    return W, b
