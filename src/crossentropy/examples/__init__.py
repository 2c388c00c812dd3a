"""The bundled examples: held-out predictions on real data, one per task (:data:`EXAMPLES`).

``load_example()`` returns the predictions that ``crossentropy evaluate`` shows when
it is given no file: 539 held-out images of the UCI optical handwritten digits
(8×8 pixels, ten classes, shipped in scikit-learn; CC BY 4.0), scored by a softmax
regression that this library fitted by minimising cross-entropy with its own
closed-form gradient. How the file was made: ``make_digits.py`` beside this file;
provenance and licence: ``README.md``. The binary (``breast_cancer.npz``) and multi-label
(``digits_multilabel.npz``) examples are made by ``make_tasks.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["EXAMPLES", "Example", "example_path", "load_example"]

#: the bundled examples: name → (task, one line on what it holds); files ``NAME.npz`` here
EXAMPLES: dict[str, tuple[str, str]] = {
    "digits": (
        "multiclass",
        "539 held-out UCI handwritten digits scored by a softmax regression",
    ),
    "breast_cancer": (
        "binary",
        "171 held-out UCI breast cancer tumours (1 = benign) scored by a logistic regression",
    ),
    "digits_multilabel": (
        "multilabel",
        "539 held-out UCI handwritten digits with three labels (is_even, is_at_least_5, "
        "is_prime) scored by three logistic regressions",
    ),
}


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


def example_path(name: str = "digits") -> str:
    """Path of the bundled ``NAME.npz`` (:data:`EXAMPLES`: ``digits``, ``breast_cancer``,
    ``digits_multilabel``; each holds ``logits`` and ``target``).

    >>> example_path().endswith("digits.npz"), example_path("breast_cancer").endswith("cancer.npz")
    (True, True)
    """
    if name not in EXAMPLES:
        msg = f"no bundled example {name!r}; the examples are {', '.join(EXAMPLES)}"
        raise ValueError(msg)
    return str(resources.files(__name__).joinpath(f"{name}.npz"))


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
