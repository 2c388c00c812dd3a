"""Every input check and its message, in one place.

(Just above the ~600-line guide on purpose: one module holds every rule's wording, the
raising checks and the row-mask predicates that reuse them, so no message is written twice.)

Errors name the argument, the offending values and where they are, and the fix.
Warnings are subclasses of :class:`CrossEntropyWarning`, so a caller can silence
exactly one kind::

    warnings.simplefilter("ignore", crossentropy.NotNormalizedWarning)

>>> import numpy as np
>>> check_option("reduction", "avg", ("mean", "sum", "none"))
Traceback (most recent call last):
...
ValueError: `reduction` must be one of 'mean', 'sum', 'none'; got 'avg'
"""

from __future__ import annotations

import math
import warnings
from typing import Any, get_args

import numpy as np

from ._array import (
    Array,
    describe,
    host_copy,
    index_dtype,
    refuse_lossy,
    values_available,
)
from ._types import Smoothing

__all__ = [
    "CrossEntropyWarning",
    "DoubleSoftmaxWarning",
    "NotNormalizedWarning",
    "KindDecisionWarning",
    "EmptyReductionWarning",
]

_MAX_SHOWN = 5


class CrossEntropyWarning(UserWarning):
    """Base class of every warning this library emits."""


class DoubleSoftmaxWarning(CrossEntropyWarning):
    """``kind="logits"`` was given rows that already are probability distributions."""


class NotNormalizedWarning(CrossEntropyWarning):
    """Probabilities, log-probabilities or soft targets whose rows do not sum to 1."""


class KindDecisionWarning(CrossEntropyWarning):
    """``kind="auto"`` reports what it decided, and why."""


class EmptyReductionWarning(CrossEntropyWarning, RuntimeWarning):
    """A mean over no example (empty batch, every target ignored, zero total weight)."""


def warn(category: type[Warning], message: str) -> None:
    warnings.warn(message, category, stacklevel=4)


def check_option(name: str, value: Any, allowed: tuple) -> Any:
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        msg = f"`{name}` must be one of {choices}; got {value!r}"
        raise ValueError(msg)
    return value


def check_ignore_index(ignore_index: Any) -> int | None:
    """``ignore_index`` is an integer (bool excluded) or ``None``."""
    if ignore_index is None:
        return None
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(
        ignore_index, (int, np.integer)
    ):
        msg = f"`ignore_index` must be an integer or None; got {ignore_index!r}"
        raise TypeError(msg)
    if not -(2**63) <= int(ignore_index) < 2**63:
        msg = (
            f"`ignore_index` must fit a 64-bit signed integer; got {int(ignore_index)} "
            "(class indices are int64, so no label can equal it)"
        )
        raise ValueError(msg)
    return int(ignore_index)


def real_number(name: str, value: Any, what: str) -> float:
    """``value`` as a float when it is a real number (bool, str and complex are refused).

    >>> real_number("label_smoothing", "0.1", "a number in [0, 1]")
    Traceback (most recent call last):
    ...
    TypeError: `label_smoothing` must be a number in [0, 1]; got '0.1' (str)
    """
    if value is None or isinstance(value, (bool, np.bool_, str, bytes, complex)):
        msg = f"`{name}` must be {what}; got {value!r} ({type(value).__name__})"
        raise TypeError(msg)
    try:
        return float(value)
    except (TypeError, ValueError):
        msg = f"`{name}` must be {what}; got {value!r} ({type(value).__name__})"
        raise TypeError(msg) from None


def check_focal_gamma(gamma: Any) -> float | None:
    """``focal_gamma``: ``None`` or a finite number ≥ 0 (``inf`` would zero every loss).

    >>> check_focal_gamma(2), check_focal_gamma(None)
    (2.0, None)
    """
    if gamma is None:
        return None
    g = real_number("focal_gamma", gamma, "None or a finite number ≥ 0")
    if not (math.isfinite(g) and g >= 0):
        msg = (
            f"`focal_gamma` must be a finite number ≥ 0; got {gamma!r} "
            "(γ = inf would make every loss 0; 0 is the plain cross-entropy)"
        )
        raise ValueError(msg)
    return g


def positions(mask: Array, values: Array | None = None, *, offset_axis0: int = 0) -> str:
    """'N entries, first at (i, j) = v, ...' for the True entries of ``mask``.

    Arrays whose values cannot reach the host (a torch meta tensor) are described instead
    (:func:`_array.describe`): the message never fails on the array it is about.
    """
    m = host_copy(mask)
    if m is None:
        return f"entries not shown ({describe(mask)}: its values cannot be read on the host)"
    m = np.asarray(m, dtype=bool)
    idx = np.argwhere(m) if m.ndim else (np.zeros((1, 0), dtype=int) if m else np.zeros((0, 0)))
    count = int(m.sum())
    shown = []
    v = None if values is None else host_copy(values)
    for where in idx[:_MAX_SHOWN]:
        pos = tuple(int(i) for i in where)
        if pos and offset_axis0:
            pos = (pos[0] + offset_axis0, *pos[1:])
        text = str(pos[0]) if len(pos) == 1 else str(pos)
        if v is not None:
            val = v[tuple(where)] if v.ndim else v
            text += f" (value {val.item() if hasattr(val, 'item') else val!r})"
        shown.append(text)
    more = ", ..." if count > _MAX_SHOWN else ""
    noun = "entry" if count == 1 else "entries"
    return f"{count} {noun}, at index {', '.join(shown)}{more}"


def any_true(xp: Any, mask: Array) -> bool:
    return bool(xp.any(mask))


def check_axis(pred: Array, axis: int, *, name: str = "pred") -> int:
    ndim = len(pred.shape)
    if ndim == 0:
        msg = f"`{name}` must have a class axis; got a 0-d array (a single score is not a distribution)"
        raise ValueError(msg)
    if (
        isinstance(axis, (bool, np.bool_))
        or not isinstance(axis, (int, np.integer))
        or not -ndim <= axis < ndim
    ):
        msg = f"`axis` must be an integer in [{-ndim}, {ndim - 1}] for `{name}` of shape {tuple(pred.shape)}; got {axis!r}"
        raise ValueError(msg)
    axis = int(axis) % ndim
    if pred.shape[axis] == 0:
        msg = f"`{name}` has no classes (size 0 along axis {axis}, shape {tuple(pred.shape)}); at least one class is needed"
        raise ValueError(msg)
    return axis


def check_label_smoothing(eps: Any, smoothing: str, num_classes: int) -> Any:
    """``ε`` as a float in [0, 1]; a traced 0-d array (JAX under ``jit``) is returned unchecked."""
    check_option("smoothing", smoothing, get_args(Smoothing))
    if hasattr(eps, "shape") and not values_available(eps):
        if tuple(eps.shape) != ():
            msg = f"`label_smoothing` must be one number in [0, 1]; got shape {tuple(eps.shape)}"
            raise ValueError(msg)
        return eps  # its range is a value check (docs/semantics.md §4, validation under tracing)
    eps = real_number("label_smoothing", eps, "a number in [0, 1]")
    if not (0.0 <= eps <= 1.0):
        msg = f"`label_smoothing` must be in [0, 1]; got {eps!r} (0 means no smoothing)"
        raise ValueError(msg)
    if eps > 0 and smoothing == "others" and num_classes < 2:
        msg = "`smoothing='others'` spreads ε over the other classes and needs at least 2 classes; got 1"
        raise ValueError(msg)
    return eps


def _tolerance(xp: Any, dtype: Any) -> tuple[float, float]:
    """(value tolerance 10·eps, normalisation tolerance 10·sqrt(eps)) for ``dtype``."""
    eps = float(xp.finfo(dtype).eps)
    return 10 * eps, 10 * math.sqrt(eps)


def index_masks(
    xp: Any, target: Array, num_classes: int, ignore_index: int | None
) -> tuple[Array, Array]:
    """``(ignored, bad)`` of class indices, decided in the target's own dtype, without a cast.

    ``ignored``: exactly ``ignore_index``. ``bad``: every other value that is not a class in
    ``[0, num_classes)`` — out of range in any width (the uint64 ``2**64 − 100`` is a huge
    label, not −100), or a float that is fractional, huge or not finite (never truncated).
    Every comparison is with a Python integer the dtype holds, so int8, uint8, int16, int32
    (JAX's default) and uint64 labels are read as they are, on every namespace.

    >>> t = np.array([0, 2**64 - 100, 2**64 - 1, 3], dtype=np.uint64)
    >>> index_masks(np, t, 3, -100)
    (array([False, False, False, False]), array([False,  True,  True,  True]))
    >>> index_masks(np, np.array([1.0, 1.5, -100.0, 1e300]), 3, -100)
    (array([False, False,  True, False]), array([False,  True, False,  True]))
    >>> index_masks(np, np.array([0, 200, 255], dtype=np.uint8), 200, -100)
    (array([False, False, False]), array([False,  True,  True]))
    """
    none = xp.zeros(target.shape, dtype=xp.bool, device=_device(target))
    if xp.isdtype(target.dtype, "real floating"):
        ignored = none if ignore_index is None else target == ignore_index
        with np.errstate(invalid="ignore"):
            whole = xp.isfinite(target) & (target == xp.round(target))
            ok = whole & (target >= 0) & (target < num_classes)
        return ignored, ~ok & ~ignored
    info = xp.iinfo(target.dtype)
    if info.min == 0 and info.max > 255 and xp.iinfo(index_dtype(xp)).max == 2**63 - 1:
        # wide unsigned labels (PyTorch compares uint16/32/64 with nothing) read as int64, where
        # a uint64 at or above 2**63 turns negative: no unsigned label is negative, so it is huge
        t = xp.astype(target, xp.int64)
        huge = t < 0
        ignored = none if ignore_index is None else (t == ignore_index) & ~huge
        return ignored, (huge | (t >= num_classes)) & ~ignored
    held = ignore_index is not None and info.min <= ignore_index <= info.max
    ignored = (target == ignore_index) if held else none
    low = (target < 0) if info.min < 0 else none
    high = (target >= num_classes) if num_classes <= info.max else none
    return ignored, (low | high) & ~ignored


def _device(x: Array) -> Any:
    from ._array import device  # array_api_compat.device without its caches (torch.compile)

    return device(x)


def check_index_target(
    xp: Any, target: Array, num_classes: int, ignore_index: int | None, batch_shape: tuple
) -> tuple[Array, Array]:
    """Class indices checked (float exact integers accepted: the CSV case): ``(ignored, bad)``.

    Every check reads the target in its own dtype (:func:`index_masks`), so no value can
    wrap or round onto a class or onto ``ignore_index``; ``bad`` is all false on return.
    """
    check_index_shape(xp, target, batch_shape)
    ignored, bad = index_masks(xp, target, num_classes, ignore_index)
    if xp.isdtype(target.dtype, "real floating"):
        frac = ~xp.isfinite(target) | (target != xp.round(target))
        if any_true(xp, frac & ~ignored):
            msg = (
                "`target` is floating point with the shape of class indices, but not every value is a "
                f"finite whole number ({positions(frac & ~ignored, target)}); class indices are never "
                "truncated: fix the labels, or pass a distribution with the prediction's shape for "
                "soft labels"
            )
            raise ValueError(msg)
    if any_true(xp, bad):
        hint = "" if ignore_index is None else f" or equal `ignore_index` ({ignore_index})"
        msg = (
            f"`target` class indices must be in [0, {num_classes - 1}]{hint}; got out-of-range labels: "
            f"{positions(bad, target)}. Check the number of classes (the prediction has {num_classes}) "
            "or set `ignore_index` to the value that marks padding"
        )
        raise ValueError(msg)
    return ignored, bad


def check_index_shape(xp: Any, target: Array, batch_shape: tuple) -> None:
    """The dtype and shape of class indices, without reading values (``validate=False``)."""
    if target.dtype == xp.bool:
        msg = (
            "`target` has dtype bool; pass class indices as integers (e.g. `target.astype(int)`) "
            "or a floating distribution with the prediction's shape"
        )
        raise TypeError(msg)
    if not xp.isdtype(target.dtype, ("real floating", "integral")):
        msg = f"`target` must hold integer class indices or floating distributions; got dtype {target.dtype}"
        raise TypeError(msg)
    if tuple(target.shape) != tuple(batch_shape):
        msg = (
            f"`target` of class indices must have the prediction's shape without the class axis, "
            f"{tuple(batch_shape)}; got {tuple(target.shape)}"
        )
        raise ValueError(msg)


def target_shape_message(pred_shape: tuple, target_shape: tuple, axis: int) -> str:
    """The one wording of a target whose shape fits neither target kind."""
    pred_shape, target_shape = tuple(pred_shape), tuple(target_shape)
    batch = tuple(s for i, s in enumerate(pred_shape) if i != axis % len(pred_shape))
    return (
        f"`target` shape {target_shape} matches neither class indices {batch} nor a distribution "
        f"{pred_shape} for a prediction of shape {pred_shape} with classes on axis "
        f"{axis % len(pred_shape)}"
    )


def check_rows(pred: Any, target: Any, axis: int, sample_weight: Any = None) -> None:
    """Shapes only: ``target`` and ``sample_weight`` cover exactly the prediction's examples
    (and none of the three is an array-like whose meaning would be lost: ``refuse_lossy``).

    For entry points that walk the arrays in row blocks (``evaluate``, the calibration
    tables, the temperature fit): a longer target must not be silently cut to the
    prediction's rows.

    >>> check_rows(np.zeros((4, 3)), np.zeros(5, dtype=int), -1)
    Traceback (most recent call last):
    ...
    ValueError: `target` shape (5,) matches neither class indices (4,) nor a distribution (4, 3) for a prediction of shape (4, 3) with classes on axis 1
    """
    for name, a in (("pred", pred), ("target", target), ("sample_weight", sample_weight)):
        refuse_lossy(a, name)
    pshape = tuple(int(n) for n in pred.shape)
    if not pshape:
        msg = "`pred` must have a class axis; got a 0-d array"
        raise ValueError(msg)
    a = check_axis(pred, axis)
    batch = pshape[:a] + pshape[a + 1 :]
    tshape = tuple(int(n) for n in np.shape(target))
    if tshape not in (pshape, batch):
        raise ValueError(target_shape_message(pshape, tshape, a))
    if sample_weight is not None and tuple(np.shape(sample_weight)) != batch:
        msg = (
            f"`sample_weight` must have one entry per example, shape {batch} (the prediction "
            f"{pshape} without the class axis {a}); got {tuple(np.shape(sample_weight))}"
        )
        raise ValueError(msg)


def check_soft_shard(xp: Any, target: Array, *, validate: bool) -> None:
    """A distribution over a vocabulary shard: finite and ≥ 0 (its mass is known only globally)."""
    if not validate:
        return
    bad = ~xp.isfinite(target) | (target < 0)
    if any_true(xp, bad):
        msg = (
            "`target` distributions must be finite and non-negative; got "
            f"{positions(bad, target)}. Soft labels are weights per class"
        )
        raise ValueError(msg)


def check_soft_target(xp: Any, target: Array, *, validate: bool) -> None:
    if not validate:
        return
    bad = ~xp.isfinite(target) | (target < 0)
    if any_true(xp, bad):
        msg = (
            "`target` distributions must be finite and non-negative; got "
            f"{positions(bad, target)}. Soft labels are weights per class; pass class indices "
            "(integer dtype) for hard labels"
        )
        raise ValueError(msg)
    _, ntol = _tolerance(xp, target.dtype)
    mass = xp.sum(target, axis=-1)
    off = (xp.abs(mass - 1) > ntol) & (mass != 0)
    if any_true(xp, off):
        warn(
            NotNormalizedWarning,
            "`target` rows do not sum to 1 (" + positions(off, mass) + "); they are used as given, "
            "each row counting with its mass in the mean. Normalise them if they should be distributions "
            "(all-zero rows are masks and are not reported)",
        )


def check_probs(xp: Any, p: Array, *, name: str = "pred", normalized: bool = True) -> Array:
    """Probabilities in [0, 1] (within 10·eps, set to the bound) and rows summing to 1 (warn)."""
    vtol, ntol = _tolerance(xp, p.dtype)
    bad = (p < -vtol) | (p > 1 + vtol)
    if any_true(xp, bad):
        msg = (
            f"`{name}` with kind='probs' must be probabilities in [0, 1]; got {positions(bad, p)}. "
            "If these are scores, pass kind='logits'; if log-probabilities, kind='log_probs'"
        )
        raise ValueError(msg)
    if any_true(xp, (p < 0) | (p > 1)):
        p = xp.clip(p, 0, 1)  # documented: only values within 10·eps of the range
    if normalized:
        total = xp.sum(p, axis=-1)
        off = xp.abs(total - 1) > ntol
        if any_true(xp, off):
            warn(
                NotNormalizedWarning,
                f"`{name}` rows with kind='probs' do not sum to 1 ({positions(off, total)}); they are "
                "used as given, not renormalised",
            )
    return p


def check_log_probs(xp: Any, lp: Array, lse: Array, *, name: str = "pred") -> None:
    vtol, ntol = _tolerance(xp, lp.dtype)
    bad = lp > vtol
    if any_true(xp, bad):
        msg = (
            f"`{name}` with kind='log_probs' must be ≤ 0 (log-probabilities); got {positions(bad, lp)}. "
            "If these are scores, pass kind='logits'"
        )
        raise ValueError(msg)
    off = xp.abs(lse) > ntol
    if any_true(xp, off & xp.isfinite(lse)):
        warn(
            NotNormalizedWarning,
            f"`{name}` rows with kind='log_probs' do not log-sum-exp to 0 ({positions(off, lse)}); they "
            "are used as given, not renormalised",
        )


def warn_double_softmax(xp: Any, x: Array, num_classes: int, *, name: str = "pred") -> None:
    if num_classes < 2 or math.prod(x.shape) == 0:
        return
    # Every row must be a distribution, so the first row decides cheaply for real logits
    # (O(C) instead of a read of the whole array; one reduction for a row with a negative
    # logit or a NaN, which fails both comparisons); only a probability-like first row
    # leads to the full check.
    first = xp.reshape(x, (-1, num_classes))[0, ...]
    if not bool(xp.min(first) >= 0) or not bool(xp.max(first) <= 1):
        return
    _, ntol = _tolerance(xp, x.dtype)
    if not bool(xp.abs(xp.sum(first) - 1) <= ntol):
        return
    if not bool(xp.min(x) >= 0) or not bool(xp.max(x) <= 1):
        return
    if bool(xp.all(xp.abs(xp.sum(x, axis=-1) - 1) <= ntol)):
        warn(
            DoubleSoftmaxWarning,
            f"`{name}` is treated as logits (kind='logits') but every row is already a probability "
            "distribution; a softmax of probabilities is almost surely a bug (a double softmax). "
            "Pass kind='probs' if these are probabilities",
        )


def check_weight_dtype(xp: Any, a: Array, name: str) -> None:
    """Weights are real numbers: floating, integer or bool (complex and other dtypes raise)."""
    if xp.isdtype(a.dtype, ("real floating", "integral", "bool")):
        return
    if xp.isdtype(a.dtype, "complex floating"):
        msg = (
            f"`{name}` must be real; got complex dtype {a.dtype} (its imaginary part would be "
            f"dropped). Pass `{name}.real` if that is what you mean"
        )
        raise TypeError(msg)
    msg = f"`{name}` must be a real numeric array; got dtype {a.dtype}"
    raise TypeError(msg)


def check_representable(xp: Any, wide: Array, cast: Array, name: str) -> None:
    """Weights cast to the compute dtype keep every value: none becomes 0, subnormal or inf.

    Used where the weights are not rescaled by their maximum (the PyTorch adapters); the
    core rescales them instead (docs/semantics.md §4).
    """
    tiny = float(xp.finfo(cast.dtype).smallest_normal)
    with np.errstate(all="ignore"):
        lost = ((wide != 0) & (xp.abs(cast) < tiny)) | (xp.isfinite(wide) & ~xp.isfinite(cast))
        overflow = math.prod(cast.shape) > 0 and not bool(xp.isfinite(xp.sum(cast)))
    if any_true(xp, lost) or overflow:
        where = positions(lost, wide) if any_true(xp, lost) else "their sum overflows"
        msg = (
            f"`{name}` cannot be represented in the compute dtype {cast.dtype}: {where}. A weighted "
            "mean does not depend on the weights' common scale: divide them by their maximum"
        )
        raise ValueError(msg)


def check_float64_weights(w: np.ndarray, running: float = 0.0) -> None:
    """Dataset-level sums are float64 at the weights' own scale: they must fit its range.

    ``w`` are one batch's row weights ``w_i`` (NaN on bad rows, left aside), ``running`` the
    weight summed so far. The batch's largest weight must lie in ``[2**-960, 2**960]``
    (about 1e-289 to 1e289): beyond, the products ``w_i·(−log q)`` overflow or turn subnormal.

    >>> check_float64_weights(np.array([1e300, 1e300]))
    Traceback (most recent call last):
    ...
    ValueError: the weights are too large for float64 sums (the largest is 1e+300 > 1e289); a weighted mean does not depend on the weights' common scale: divide `sample_weight` and `weight` by their maximum
    """
    finite = np.abs(w[~np.isnan(w)])
    top = float(finite.max()) if finite.size else 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(running) + float(np.sum(finite))
    what = ""
    if top > 2.0**960:
        what = f"too large for float64 sums (the largest is {top:.3g} > 1e289)"
    elif math.isinf(total):
        what = "too large for float64 sums (Σw overflows beyond 1.8e308)"
    elif 0 < top < 2.0**-960:
        what = f"too small for float64 sums (the largest is {top:.3g} < 1e-289)"
    if what:
        msg = (
            f"the weights are {what}; a weighted mean does not depend on the weights' common "
            "scale: divide `sample_weight` and `weight` by their maximum"
        )
        raise ValueError(msg)


def check_class_weight(xp: Any, weight: Array, num_classes: int, *, values: bool = True) -> None:
    """The shape of class weights, and (``values``) that they are finite and ≥ 0."""
    if tuple(weight.shape) != (num_classes,):
        msg = f"`weight` must have one entry per class, shape ({num_classes},); got {tuple(weight.shape)}"
        raise ValueError(msg)
    if not values:
        return
    bad = ~xp.isfinite(weight) | (weight < 0)
    if any_true(xp, bad):
        msg = f"`weight` must be finite and non-negative; got {positions(bad, weight)}"
        raise ValueError(msg)


def check_sample_weight(
    xp: Any, sample_weight: Array, batch_shape: tuple, *, values: bool = True
) -> None:
    """The shape of sample weights, and (``values``) that they are finite and ≥ 0."""
    if tuple(sample_weight.shape) != tuple(batch_shape):
        msg = (
            f"`sample_weight` must have one entry per example, shape {tuple(batch_shape)}; "
            f"got {tuple(sample_weight.shape)}"
        )
        raise ValueError(msg)
    if not values:
        return
    bad = ~xp.isfinite(sample_weight) | (sample_weight < 0)
    if any_true(xp, bad):
        msg = (
            f"`sample_weight` must be finite and non-negative; got {positions(bad, sample_weight)}. "
            "Use 0 to mask an example"
        )
        raise ValueError(msg)


# ----------------------------------------------------------------------------- row masks
# The value rules above as one bool per row of an (N, C) or (N,) NumPy batch, each with the
# reason a caller that rejects rows instead of raising reports (pipeline.RowFilter).


def nan_rows(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Rows of ``x`` (N, C) holding a NaN.

    >>> nan_rows(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    (array([False,  True]), 'prediction is NaN')
    """
    return np.isnan(x).any(axis=1), "prediction is NaN"


def bad_logit_rows(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Rows of logits (N, C) holding ``+inf`` (``−inf`` is a class of probability 0: legal).

    >>> bad_logit_rows(np.array([[np.inf, 0.0], [-np.inf, 0.0]]))
    (array([ True, False]), 'logit is +inf')
    """
    return np.isposinf(x).any(axis=1), "logit is +inf"


def bad_prob_rows(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Rows of probabilities (N, C) with an entry outside [0, 1] by more than 10·eps
    (:func:`check_probs`'s rule; NaN is not flagged here, see :func:`nan_rows`).

    >>> eps = np.finfo(np.float64).eps
    >>> bad_prob_rows(np.array([[1.0 + 2 * eps, 0.0], [1.2, -0.2]]))
    (array([False,  True]), 'probability outside [0, 1]')
    """
    vtol, _ = _tolerance(np, x.dtype)
    return ((x < -vtol) | (x > 1 + vtol)).any(axis=1), "probability outside [0, 1]"


def bad_log_prob_rows(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Rows of log-probabilities (N, C) with an entry above 0 by more than 10·eps
    (:func:`check_log_probs`'s rule).

    >>> bad_log_prob_rows(np.array([[0.0, -np.inf], [0.5, -1.0]]))
    (array([False,  True]), 'log-probability above 0')
    """
    vtol, _ = _tolerance(np, x.dtype)
    return (x > vtol).any(axis=1), "log-probability above 0"


def bad_label_rows(
    t: np.ndarray, num_classes: int, ignore_index: int | None
) -> tuple[np.ndarray, str]:
    """Class indices (N,) that are not a class in ``[0, num_classes)`` nor ``ignore_index``
    (:func:`check_index_target`'s rule, in the labels' own dtype: :func:`index_masks`).

    >>> bad_label_rows(np.array([0, 3, -100, -1]), 3, -100)
    (array([False,  True, False,  True]), 'label out of range [0, 3)')
    """
    _, bad = index_masks(np, np.asarray(t), num_classes, ignore_index)
    return bad, f"label out of range [0, {num_classes})"


def bad_soft_target_rows(t: np.ndarray) -> tuple[np.ndarray, str]:
    """Distributions (N, C) with a negative or non-finite entry (:func:`check_soft_target`'s rule).

    >>> bad_soft_target_rows(np.array([[0.5, 0.5], [1.5, -0.5]]))
    (array([False,  True]), 'target distribution has negative or non-finite entries')
    """
    return (
        (~np.isfinite(t) | (t < 0)).any(axis=1),
        "target distribution has negative or non-finite entries",
    )


def bad_weight_rows(w: np.ndarray) -> tuple[np.ndarray, str]:
    """Sample weights (N,) that are negative or non-finite (:func:`check_sample_weight`'s rule).

    >>> bad_weight_rows(np.array([1.0, 0.0, -1.0, np.nan]))
    (array([False, False,  True,  True]), 'sample weight negative or non-finite')
    """
    return ~np.isfinite(w) | (w < 0), "sample weight negative or non-finite"


def check_nonnegative(xp: Any, a: Array, name: str) -> None:
    """Weights (``pos_weight``, per-element ``weight``, ...): finite and ≥ 0, or a ValueError naming them.

    >>> import numpy as np
    >>> check_nonnegative(np, np.array([1.0, -2.0]), "pos_weight")
    Traceback (most recent call last):
    ...
    ValueError: `pos_weight` must be finite and non-negative; got 1 entry, at index 1 (value -2.0)
    """
    bad = ~xp.isfinite(a) | (a < 0)
    if any_true(xp, bad):
        msg = f"`{name}` must be finite and non-negative; got {positions(bad, a)}"
        raise ValueError(msg)


def no_finite_logit_rows(x: np.ndarray) -> tuple[np.ndarray, str]:
    """Rows of logits (N, C) whose every entry is ``−inf``: no distribution (the core gives
    NaN, docs/semantics.md §3); a caller that validates rows rejects them.

    >>> no_finite_logit_rows(np.array([[-np.inf, -np.inf], [-np.inf, 0.0]]))
    (array([ True, False]), 'no finite logit (every logit is −inf)')
    """
    return np.isneginf(x).all(axis=1), "no finite logit (every logit is −inf)"
