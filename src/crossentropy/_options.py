r"""The option vocabularies, their defaults and the one ``empty=`` policy (docs/semantics.md §4).

Every public signature repeats its defaults explicitly (keyword-only options) and a
test checks each one against the fields of :class:`LossOptions` and
:class:`ReductionOptions`, so this module is the one source of every default.
:meth:`ReductionOptions.finish` is the only implementation of the reductions and of
the ``empty=`` policy: the core chain, the binary and information functions, the
PyTorch adapters and the Dask layer all end in it.

    "sum":  Σ_i ℓ_i          "mean":  Σ_i ℓ_i / Σ_i w_i    (the ``empty=`` row when Σ_i w_i = 0)

With a ``normalizer`` (the total weight ``Σw`` of a whole optimiser step, summed over its
micro-batches and ranks) the mean divides by it instead of by the batch's own ``Σ_i w_i``,
so the step's loss and gradients do not depend on how it was split (docs/semantics.md §14).

>>> import numpy as np
>>> r = ReductionOptions(reduction="mean", empty="zero")
>>> float(r.finish(np, np.asarray(0.0), np.asarray(0.0), n=3, host_check=True))
0.0
>>> float(ReductionOptions().finish(np, np.asarray(3.0), np.asarray(2.0), n=2, host_check=True))
1.5
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, get_args

import numpy as np

from . import _validate as v
from ._array import asarray_like, scalar_result, values_available
from ._types import Array, DivideBy, Empty, Focal, Impl, Kind, Reduction, Smoothing

KINDS: tuple[str, ...] = get_args(Kind)
REDUCTIONS: tuple[str, ...] = get_args(Reduction)
EMPTY: tuple[str, ...] = get_args(Empty)
DIVIDE_BY: tuple[str, ...] = get_args(DivideBy)
SMOOTHINGS: tuple[str, ...] = get_args(Smoothing)
FOCALS: tuple[str, ...] = get_args(Focal)
IMPLS: tuple[str, ...] = get_args(Impl)

#: PyTorch's default ``ignore_index`` (the index-target sentinel of every multi-class loss).
IGNORE_INDEX = -100


@dataclass(frozen=True)
class LossOptions:
    """What a per-example loss needs besides the arrays (docs/semantics.md §1–5).

    One frozen object carries the options from a public function to everything
    downstream (the Accumulator, the temperature fit, Dask blocks), so that no
    option can be dropped on the way.
    """

    kind: Kind = "logits"
    axis: int = -1
    ignore_index: int | None = IGNORE_INDEX
    label_smoothing: float = 0.0
    smoothing: Smoothing = "uniform"
    validate: bool = True
    impl: Impl = "auto"

    def __post_init__(self) -> None:
        v.check_option("kind", self.kind, KINDS)
        v.check_option("smoothing", self.smoothing, SMOOTHINGS)
        v.check_option("impl", self.impl, IMPLS)
        v.check_ignore_index(self.ignore_index)


@dataclass(frozen=True)
class ReductionOptions:
    """How per-example pairs ``(ℓ_i, w_i)`` become one number (docs/semantics.md §4)."""

    reduction: Reduction = "mean"
    empty: Empty = "nan"
    divide_by: DivideBy = "weight"
    base: Any = "e"
    #: the mean's divisor for a whole optimiser step (a number or a 0-d array), or None: this batch's Σw
    normalizer: Any = None

    def __post_init__(self) -> None:
        v.check_option("reduction", self.reduction, REDUCTIONS)
        v.check_option("empty", self.empty, EMPTY)
        v.check_option("divide_by", self.divide_by, DIVIDE_BY)
        log_base(self.base)
        if self.normalizer is not None:
            check_normalizer(self.normalizer, self.reduction)

    def divisor(self, xp: Any, den: Array, *, host_check: bool = False) -> Array:
        """The mean's divisor: ``den`` (this batch's ``Σ_i w_i``), or the ``normalizer`` if given.

        The normalizer comes back as a 0-d array of ``den``'s dtype on its device; an array
        normalizer is checked (finite, ≥ 0) on the host only under ``host_check``.
        """
        if self.normalizer is None:
            return den
        nz = asarray_like(xp, self.normalizer, den, den.dtype, name="normalizer")
        nz = xp.reshape(nz, ())
        if host_check and hasattr(self.normalizer, "shape") and values_available(nz):
            v.check_nonnegative(xp, nz, "normalizer")
        return nz

    def finish(self, xp: Any, total: Array, den: Array, *, n: int, host_check: bool) -> Array:
        """``total`` (``"sum"``) or ``total / den`` (``"mean"``), in nats, with the ``empty=`` policy.

        ``n`` is the number of examples (for the message). ``host_check`` (validation on)
        looks at ``den`` on the host to warn :class:`EmptyReductionWarning`; ``empty="raise"``
        always does. Otherwise nothing synchronises: the empty mean is a ``where``, and its
        gradient is exactly zero. ``"none"`` is not reduced here (see :func:`check_none`).
        """
        if self.reduction == "none":
            msg = "ReductionOptions.finish reduces; call check_none for reduction='none'"
            raise ValueError(msg)
        den = self.divisor(xp, den, host_check=host_check)
        step = self.normalizer is not None
        if not values_available(den):  # traced or lazy: the policy is the `where` below
            if self.empty == "raise":
                raise ValueError(traced_raise_message())
            host_check = False
        if self.empty == "raise" or host_check:
            if bool(den == 0):
                if self.empty == "raise":
                    raise ValueError(empty_message(n, step=step))
                if self.empty == "nan" and self.reduction == "mean":
                    v.warn(v.EmptyReductionWarning, empty_warning(n, step=step))
        if self.reduction == "sum":
            return scalar_result(xp, total)
        if type(total) is type(den) and isinstance(den, np.generic):  # NumPy scalars: no 0-d arrays
            empty = total.dtype.type(math.nan if self.empty == "nan" else 0.0)
            return total / den if den != 0 else empty
        nothing = den == 0
        safe = xp.where(nothing, xp.ones_like(den), den)
        fill = xp.full_like(total, math.nan if self.empty == "nan" else 0.0)
        return scalar_result(xp, xp.where(nothing, fill, total / safe))

    def scale_and_fill(self, xp: Any, den: Array) -> tuple[Array, Array]:
        """``(scale, fill)`` with the reduction = ``total · scale + fill``, known before the total.

        For a fused forward that forms the gradient while it sums (the linear CE): ``"sum"``
        is ``(1, 0)``; ``"mean"`` is ``(1/den, 0)``, or ``(0, NaN | 0)`` by ``empty=`` when
        ``den == 0`` — the same values as :meth:`finish`, without a host synchronisation.
        """
        den = self.divisor(xp, den)
        one, zero = xp.ones_like(den), xp.zeros_like(den)
        if self.reduction == "sum":
            return one, zero
        nothing = den == 0
        scale = xp.where(nothing, zero, one / xp.where(nothing, one, den))
        fill = xp.where(nothing, xp.full_like(den, math.nan if self.empty == "nan" else 0.0), zero)
        return scale, fill

    def check_none(self, n: int) -> None:
        """``reduction="none"`` of an empty batch raises under ``empty="raise"``."""
        if self.empty == "raise" and n == 0:
            raise ValueError(empty_message(0))

    @property
    def scale(self) -> float:
        """Divide a value in nats by this to get the requested ``base``."""
        return log_base(self.base)


def divergence_direction(direction: str, beta: float) -> str:
    """The divergence a ``(direction, beta)`` pair computes: the JSD's endpoints are the two KLs.

    ``m = β p + (1 − β) q`` is ``q`` at ``β = 0`` (the JSD is ``KL(p ‖ q)``, "forward") and ``p``
    at ``β = 1`` (``KL(q ‖ p)``, "reverse"); docs/semantics.md §13.

    >>> divergence_direction("jsd", 0.0), divergence_direction("jsd", 1.0), divergence_direction("jsd", 0.5)
    ('forward', 'reverse', 'jsd')
    """
    if direction == "jsd" and beta in (0.0, 1.0):
        return "forward" if beta == 0.0 else "reverse"
    return direction


def check_normalizer(normalizer: Any, reduction: str) -> None:
    """A ``normalizer`` divides a mean: a finite number ≥ 0, or a one-element array (checked later)."""
    if reduction != "mean":
        msg = (
            f"`normalizer` is the divisor of reduction='mean'; got reduction={reduction!r}. "
            "Pass reduction='mean' with normalizer=<the step's total weight>, or drop normalizer"
        )
        raise ValueError(msg)
    if hasattr(normalizer, "shape"):
        if math.prod(normalizer.shape) != 1:
            msg = f"`normalizer` must be one number (the step's Σw); got shape {tuple(normalizer.shape)}"
            raise ValueError(msg)
        return
    value = v.real_number("normalizer", normalizer, "a number ≥ 0 (the step's total weight Σw)")
    if not (math.isfinite(value) and value >= 0):
        msg = (
            f"`normalizer` must be finite and ≥ 0 (the step's total weight Σw); got {normalizer!r}"
        )
        raise ValueError(msg)


def _reason(n: int, step: bool = False) -> str:
    if step:
        return "the normalizer is 0 (no example of the whole step counts)"
    if n == 0:
        return "the batch is empty (N = 0)"
    return f"all {n} examples are masked (ignored, all-zero targets or zero weight)"


def empty_message(n: int, *, step: bool = False) -> str:
    """The one wording of the ``empty="raise"`` error."""
    return f"cannot reduce: {_reason(n, step)} (empty='raise'); use empty='nan' or 'zero' to get a value"


def traced_raise_message() -> str:
    """The one wording of ``empty="raise"`` where the weights cannot be read (tracing, Dask)."""
    return (
        "empty='raise' reads the total weight on the host, which is not available here (a JAX "
        "tracer inside jit/vmap/grad, a lazy Dask array, a torch meta tensor or a function "
        "being compiled by torch.compile); use empty='nan' or empty='zero', which decide "
        "inside the computation"
    )


def empty_warning(n: int, *, step: bool = False) -> str:
    """The one wording of :class:`EmptyReductionWarning`."""
    return (
        f"mean over no example: {_reason(n, step)}; returning NaN as PyTorch does "
        "(empty='zero' returns 0; the gradient is zero either way)"
    )


def log_base(base: Any) -> float:
    """``ln(base)``: a value in nats divided by it is in ``base`` units (``"e"`` → 1).

    >>> round(log_base(2), 6)
    0.693147
    """
    if base == "e":
        return 1.0
    try:
        b = float(base)
    except (TypeError, ValueError):
        b = float("nan")
    if not (b > 0 and b != 1 and math.isfinite(b)):
        msg = f"`base` must be 'e', 2, or another positive number ≠ 1; got {base!r}"
        raise ValueError(msg)
    return math.log(b)


def defaults() -> dict[str, Any]:
    """Every option's default, by name: the one source the signature test compares against."""
    out: dict[str, Any] = {}
    for cls in (LossOptions, ReductionOptions):
        for f in fields(cls):
            out[f.name] = f.default
    return out
