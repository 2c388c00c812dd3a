"""Input kinds (what a prediction holds) and target kinds (what a target holds).

Prediction kinds: ``"logits"`` (default), ``"probs"``, ``"log_probs"``, or
``"auto"``, which decides once per call and says what it decided. Target kinds
come from the dtype, never from a guess on values: integer → class indices,
floating with the prediction's shape → distributions (docs/semantics.md §1–2).

>>> import numpy as np
>>> infer_kind(np.array([[0.2, 0.8], [0.5, 0.5]]))[0]
'probs'
>>> np.exp(to_log_probs(np.array([[0.0, np.log(3.0)]]), kind="logits"))
array([[0.25, 0.75]])
"""

from __future__ import annotations

import math
from typing import Any, get_args

import numpy as np

from . import _validate as v
from ._array import Array, compute_dtype, namespace
from ._types import ConcreteKind, ConcreteTask, Kind, TargetKind
from .special import log_softmax, logsumexp

__all__ = [
    "KINDS",
    "TASKS",
    "infer_kind",
    "infer_label_kind",
    "infer_task",
    "resolve_kind",
    "to_log_probs",
    "target_kind",
]

KINDS: tuple[str, ...] = get_args(Kind)
TASKS: tuple[str, ...] = ("auto", "multiclass", "binary", "multilabel")


def np_asarray(x: Array) -> np.ndarray:
    """``x`` as a float64 NumPy array (labels and predictions of a first batch)."""
    from ._array import to_numpy

    return np.asarray(to_numpy(x), dtype=np.float64)


def infer_kind(pred: Array, *, axis: int = -1) -> tuple[ConcreteKind, str]:
    """Decide the kind of a multi-class prediction from its values: ``(kind, reason)``.

    ``"probs"`` when every value is in [0, 1] and every row sums to 1;
    ``"log_probs"`` when every value is ≤ 0 and every row log-sum-exps to 0;
    ``"logits"`` otherwise. Rows holding NaN are NaN under every kind and are left out
    of the decision (the reason says how many). Raises ``ValueError`` when some rows pass
    a test and others do not, when every row holds NaN, or when there is a single class.

    >>> import numpy as np
    >>> infer_kind(np.array([[2.0, -1.0, 0.5]]))
    ('logits', 'values outside [0, 1] and rows are not log-distributions')
    >>> infer_kind(np.log(np.array([[0.25, 0.75]])))[0]
    'log_probs'
    """
    xp = namespace(pred)
    axis = v.check_axis(pred, axis)
    dtype = compute_dtype(xp, pred)
    x = xp.moveaxis(xp.astype(pred, dtype), axis, -1)
    num_classes = x.shape[-1]
    if num_classes < 2:
        msg = (
            "kind='auto' cannot decide for a single class (C = 1) under a softmax: one column is "
            "a binary task (P(y=1) or a logit per row). Pass kind= explicitly, or use "
            "task='binary' (evaluate, --task binary) or binary_cross_entropy"
        )
        raise ValueError(msg)
    if math.prod(x.shape) == 0:
        msg = "kind='auto' cannot decide from an empty prediction; pass kind= explicitly"
        raise ValueError(msg)
    _, ntol = v._tolerance(xp, dtype)
    # a NaN row is NaN under every kind (docs/semantics.md §3): it says nothing about the kind
    nan_rows = xp.any(xp.isnan(x), axis=-1)
    if bool(xp.all(nan_rows)):
        msg = (
            f"kind='auto' cannot decide: every row holds NaN ({v.positions(nan_rows)}); "
            "fix the prediction or pass kind= explicitly"
        )
        raise ValueError(msg)
    n_nan = int(xp.sum(xp.astype(nan_rows, xp.int64)))
    left_out = (
        "" if n_nan == 0 else f" ({n_nan} row{'s' if n_nan > 1 else ''} holding NaN left out)"
    )
    finite_rows = xp.all(xp.isfinite(x) | (x == -math.inf), axis=-1)
    in_unit = xp.all((x >= 0) & (x <= 1), axis=-1)
    sums_one = xp.abs(xp.sum(x, axis=-1) - 1) <= ntol
    probs_rows = in_unit & sums_one & finite_rows
    if bool(xp.all(probs_rows | nan_rows)):
        return "probs", "every value is in [0, 1] and every row sums to 1" + left_out
    nonpos = xp.all(x <= 0, axis=-1)
    lse_zero = xp.abs(logsumexp(x, axis=-1)) <= ntol
    log_rows = nonpos & lse_zero
    if bool(xp.all(log_rows | nan_rows)):
        return "log_probs", "every value is ≤ 0 and every row log-sum-exps to 0" + left_out
    if bool(xp.any(probs_rows)) or bool(xp.any(log_rows)):
        which = probs_rows if bool(xp.any(probs_rows)) else log_rows
        name = "probability" if bool(xp.any(probs_rows)) else "log-probability"
        msg = (
            f"kind='auto' is ambiguous: some rows are {name} distributions and others are not "
            f"({v.positions(which)} look like {name} rows{left_out}). Pass kind= explicitly"
        )
        raise ValueError(msg)
    return "logits", _logits_reason(xp, x, in_unit | nan_rows) + left_out


def _logits_reason(xp: Any, x: Array, in_unit_rows: Array) -> str:
    """Why rows that are neither distributions nor log-distributions were read as logits:
    the fact that is true of the data (some value outside [0, 1], or rows in [0, 1] that do
    not sum to 1)."""
    if bool(xp.all(in_unit_rows)):
        return (
            "every value is in [0, 1] but rows do not sum to 1 (not a distribution over the "
            "classes; independent per-label probabilities are task='multilabel')"
        )
    return "values outside [0, 1] and rows are not log-distributions"


def infer_label_kind(pred: Array) -> tuple[ConcreteKind, str]:
    """Decide the kind of binary / multi-label predictions (each column one Bernoulli label):
    ``(kind, reason)``. ``"probs"`` (P(y=1) per column) when every value is in [0, 1],
    ``"logits"`` otherwise; NaN values are left out. Log-probabilities are never guessed
    (they look like negative logits): pass ``kind="log_probs"``.

    >>> import numpy as np
    >>> infer_label_kind(np.array([[0.2, 0.3, 0.1]]))
    ('probs', 'every value is in [0, 1]: read as P(y=1) per label')
    >>> infer_label_kind(np.array([[-1.5], [2.0]]))[0]
    'logits'
    """
    x = np_asarray(pred)
    finite = x[~np.isnan(x)]
    if finite.size == 0:
        msg = (
            "kind='auto' cannot decide from an empty (or all-NaN) prediction; pass kind= explicitly"
        )
        raise ValueError(msg)
    outside = (finite < 0) | (finite > 1)
    if not outside.any():
        return "probs", "every value is in [0, 1]: read as P(y=1) per label"
    return (
        "logits",
        f"{int(outside.sum())} value(s) outside [0, 1] (e.g. {float(finite[outside][0])!r})",
    )


def infer_task(pred: Array, target: Array) -> tuple[ConcreteTask, str]:
    """Decide the task from a first batch's shapes and labels (NumPy ``pred`` (N, K) and
    ``target`` (N,) class indices or (N, K) columns): ``(task, reason)``, only when the data
    leave one reading (docs/semantics.md §10.1):

    - one prediction column and one label column → ``"binary"``;
    - K label columns holding only 0 and 1, and a row with several 1s, or prediction
      columns that are independent probabilities (every value in [0, 1], some row not
      summing to 1) → ``"multilabel"``;
    - one label column and K ≥ 2 prediction columns, K target columns that are
      distributions, or 0/1 columns with at most one 1 per row otherwise →
      ``"multiclass"``: one-hot rows are classes and all-zero rows are masked (§2), and
      the reason says so (multi-label targets with at most one positive per row look the
      same there: pass ``task="multilabel"``).

    >>> import numpy as np
    >>> infer_task(np.array([[0.2], [0.9]]), np.array([0, 1]))
    ('binary', 'one prediction column and one label column')
    >>> infer_task(np.array([[0.2, 0.3, 0.1]]), np.array([[1.0, 0.0, 1.0]]))[0]
    'multilabel'
    >>> infer_task(np.array([[2.0, -1.0]]), np.array([[0.0, 0.0]]))[0]
    'multiclass'
    """
    shape = tuple(pred.shape)
    K = shape[1] if len(shape) == 2 else 1
    if len(target.shape) == 1:
        if K == 1:
            return "binary", "one prediction column and one label column"
        return "multiclass", f"{K} prediction columns and one label column (class indices)"
    t = np_asarray(target)
    with np.errstate(invalid="ignore"):
        zero_one = bool(np.all((t == 0) | (t == 1) | np.isnan(t)))
        sums = np.nansum(t, axis=1)
    if not zero_one:
        return "multiclass", f"{K} target columns that are not 0/1 labels (a distribution)"
    several = np.flatnonzero(sums >= 2)
    if several.size:
        i = int(several[0])
        return "multilabel", (
            f"{K} label columns of 0/1 and rows with several positive labels "
            f"(row {i} has {int(sums[i])})"
        )
    x = np_asarray(pred)
    with np.errstate(invalid="ignore"):
        in_unit = bool(np.all(((x >= 0) & (x <= 1)) | np.isnan(x)))
        off = np.abs(np.nansum(x, axis=1) - 1) > 1e-6
    if in_unit and bool(off.any()):
        i = int(np.flatnonzero(off)[0])
        return "multilabel", (
            f"{K} label columns of 0/1 and prediction columns of independent probabilities "
            f"(every value in [0, 1]; row {i} sums to {float(np.nansum(x[i])):.6g}, not 1)"
        )
    zero = bool((sums == 0).any())
    return "multiclass", (
        f"{K} 0/1 target columns with at most one 1 per row: read as one-hot classes"
        + (" (all-zero rows masked)" if zero else "")
        + "; pass task='multilabel' if they are independent labels"
    )


def resolve_kind(pred: Array, kind: Kind, *, axis: int = -1, validate: bool = True) -> ConcreteKind:
    """The concrete kind for this call; ``"auto"`` decides and warns `KindDecisionWarning`."""
    v.check_option("kind", kind, KINDS)
    if kind != "auto":
        return kind
    decided, reason = infer_kind(pred, axis=axis)
    v.warn(v.KindDecisionWarning, f"kind='auto' decided kind={decided!r}: {reason}")
    return decided


def log_probs_last(
    xp: Any, x: Array, kind: ConcreteKind, *, validate: bool, name: str = "pred"
) -> Array:
    """log q over the last axis of ``x`` (already in the compute dtype) for a concrete kind."""
    num_classes = x.shape[-1]
    if kind == "logits":
        if validate:
            v.warn_double_softmax(xp, x, num_classes, name=name)
        return log_softmax(x, axis=-1)
    if kind == "probs":
        if validate:
            x = v.check_probs(xp, x, name=name)
        return xp.log(x)
    if validate:
        v.check_log_probs(xp, x, logsumexp(x, axis=-1), name=name)
    return x


def to_log_probs(
    pred: Array, *, kind: Kind = "logits", axis: int = -1, validate: bool = True
) -> Array:
    """The model's log-distribution ``log q`` with the prediction's shape, in the compute dtype.

    ``logits`` → ``log_softmax``; ``probs`` → ``log p`` (``log 0 = −inf``, no clipping);
    ``log_probs`` → as given.

    >>> import numpy as np
    >>> to_log_probs(np.array([[0.5, 0.5]]), kind="probs")
    array([[-0.69314718, -0.69314718]])
    """
    xp = namespace(pred)
    axis = v.check_axis(pred, axis)
    kind = resolve_kind(pred, kind, axis=axis, validate=validate)
    x = xp.moveaxis(xp.astype(pred, compute_dtype(xp, pred)), axis, -1)
    return xp.moveaxis(log_probs_last(xp, x, kind, validate=validate), -1, axis)


def target_kind(xp: Any, pred_shape: tuple, target: Array, axis: int) -> TargetKind:
    """``"indices"`` or ``"distribution"``, from dtype and shape (never from values)."""
    if target.dtype == xp.bool:
        msg = (
            "`target` has dtype bool; pass class indices as integers (e.g. `target.astype(int)`) "
            "or a floating distribution with the prediction's shape"
        )
        raise TypeError(msg)
    if xp.isdtype(target.dtype, "real floating") and tuple(target.shape) == tuple(pred_shape):
        return "distribution"
    batch = tuple(s for i, s in enumerate(pred_shape) if i != axis)
    if tuple(target.shape) == batch:
        return "indices"
    if xp.isdtype(target.dtype, "integral") and tuple(target.shape) == tuple(pred_shape):
        msg = (
            f"`target` has the prediction's shape {tuple(pred_shape)} but an integer dtype: a "
            "distribution must be floating (cast with `.astype(float)`); class indices must have "
            f"shape {batch}"
        )
        raise TypeError(msg)
    raise ValueError(v.target_shape_message(pred_shape, tuple(target.shape), axis))


def positive_column(x: np.ndarray, kind: str, *, validate: bool = True) -> np.ndarray:
    """Two binary columns (classes 0 and 1) as one ``(N, 1)`` column of the positive class.

    Logits give ``x_1 − x_0`` (a softmax of two logits is the sigmoid of their difference);
    probabilities give ``p_1`` and log-probabilities ``log p_1``, their rows a distribution
    within 1e-6 (checked under ``validate``: a row that is not raises, naming it). The rule of
    docs/semantics.md §10.1, used by ``evaluate`` and ``explain`` alike.

    >>> import numpy as np
    >>> positive_column(np.array([[0.5, 2.0]]), "logits")
    array([[1.5]])
    >>> positive_column(np.array([[0.25, 0.75]]), "probs")
    array([[0.75]])
    """
    if kind == "logits":
        with np.errstate(invalid="ignore"):
            return x[:, 1:2] - x[:, 0:1]
    if validate:
        with np.errstate(invalid="ignore", over="ignore"):
            total = x.sum(axis=1) if kind == "probs" else np.logaddexp(x[:, 0], x[:, 1])
        off = np.abs(total - (1.0 if kind == "probs" else 0.0)) > 1e-6
        if off.any():
            i = int(np.flatnonzero(off)[0])
            msg = (
                f"`pred`: two binary {kind} columns must be a distribution per row (classes 0, 1); "
                f"row {i} gives {float(total[i])!r}. Pass one column of P(y=1) instead"
            )
            raise ValueError(msg)
    return x[:, 1:2]
