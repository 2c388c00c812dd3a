"""The bundled example: held-out predictions on the UCI handwritten digits.

``load_example()`` returns the predictions that ``crossentropy evaluate`` shows when
it is given no file: 539 held-out images of the UCI optical handwritten digits
(8×8 pixels, ten classes, shipped in scikit-learn; CC BY 4.0), scored by a softmax
regression that this library fitted by minimising cross-entropy with its own
closed-form gradient. How the file was made: ``make_digits.py`` beside this file;
provenance and licence: ``README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Example", "example_path", "load_example"]


@dataclass(frozen=True)
class Example:
    """The bundled example's arrays and metadata.

    ``logits`` (n, 10) float64 held-out logits and ``target`` (n,) int64 labels;
    ``X_train``, ``y_train``, ``X_test``, ``y_test`` the pixel features in [0, 1] and
    labels of both splits (``X_test @ W + b == logits``); ``class_names``; ``metadata``
    (seed, L2 strength, how it was made).
    """

    logits: np.ndarray
    target: np.ndarray
    class_names: tuple[str, ...]
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    W: np.ndarray
    b: np.ndarray
    metadata: dict
    path: str


def example_path() -> str:
    """Path of the bundled ``digits.npz``.

    >>> example_path().endswith("digits.npz")
    True
    """
    return str(resources.files(__name__).joinpath("digits.npz"))


def load_example() -> Example:
    """Load the bundled digits example (never unpickles).

    >>> ex = load_example()
    >>> ex.logits.shape, ex.target.dtype, ex.class_names[:3]
    ((539, 10), dtype('int64'), ('0', '1', '2'))
    >>> bool(np.allclose(ex.X_test @ ex.W + ex.b, ex.logits))
    True
    """
    path = example_path()
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return Example(
        logits=arrays["logits"],
        target=arrays["target"],
        class_names=tuple(str(c) for c in arrays["class_names"]),
        X_train=arrays["X_train"],
        y_train=arrays["y_train"],
        X_test=arrays["X_test"],
        y_test=arrays["y_test"],
        W=arrays["W"],
        b=arrays["b"],
        metadata={
            "dataset": "UCI optical recognition of handwritten digits (scikit-learn load_digits)",
            "licence": "CC BY 4.0",
            "seed": int(arrays["seed"]),
            "l2": float(arrays["l2"]),
            "how": str(arrays["how"]),
            "optimizer": str(arrays["optimizer"]),
        },
        path=path,
    )
