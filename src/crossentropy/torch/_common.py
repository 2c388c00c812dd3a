"""Torch-only glue of the PyTorch adapters; the rules themselves are the core's.

Internal. Target preparation, masks, row weights and the smoothing encoding are
:mod:`crossentropy._rows` (re-exported here as :class:`Rows` and :func:`prepare_rows`, the
same formulas on torch tensors, so that full logits, vocabulary chunks and shards on
other ranks share them); the option vocabularies and the ``empty=`` policy are
:mod:`crossentropy._options`. What stays here is what only PyTorch has: the legacy
``size_average``/``reduce`` flags, the ``z_loss``/``softcap`` checks, dtype promotion
across several tensors, and tensor coercion.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, get_args

import array_api_compat.torch
import torch

from .._options import DIVIDE_BY, EMPTY, REDUCTIONS, ReductionOptions
from .._rows import Rows, smoothing_coefficients
from .._rows import prepare_rows as _prepare_rows
from .._types import ConcreteKind, DivideBy, Empty, Reduction, Smoothing
from .._validate import check_option

__all__ = ["Rows", "check_tensors", "prepare_rows", "reduce_loss", "smoothing_coefficients"]

KINDS: tuple[str, ...] = get_args(ConcreteKind)  # the torch adapters take a concrete kind


def xp_of(x: torch.Tensor) -> Any:
    """The array-API namespace of torch tensors (``array_namespace(x)`` without its cached
    type lookups, which torch.compile cannot trace)."""
    return _XP


_XP = array_api_compat.torch  # the namespace array_namespace returns for every torch.Tensor


def host_checks(validate: bool) -> bool:
    """Whether the checks that read values on the host run: ``validate``, except while
    torch.compile traces (values are not there; shapes and dtypes are still checked, and an
    invalid row follows ``validate=False``: NaN — docs/semantics.md §4, validation under
    tracing).

    >>> host_checks(True), host_checks(False)
    (True, False)
    """
    return bool(validate) and not torch.compiler.is_compiling()


def check_compilable(empty: Empty) -> None:
    """``empty="raise"`` decides on the host whether the mean has an example: not under compile."""
    if empty == "raise" and torch.compiler.is_compiling():
        msg = (
            "empty='raise' looks at the total weight on the host, which torch.compile cannot do; "
            "pass empty='nan' or empty='zero' to the compiled loss (both give a zero gradient)"
        )
        raise ValueError(msg)


#: The floating dtypes PyTorch computes with here (float8 and narrower have no CPU kernels).
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensors(**tensors: Any) -> None:
    """Refuse tensors the adapters cannot compute with, naming the argument and the fix.

    Meta tensors (no values), sparse or other non-strided layouts, nested tensors, and
    floating dtypes other than float16/bfloat16/float32/float64 (float8) raise here instead
    of deep inside PyTorch. ``None`` and non-tensors pass (checked where they are used).

    >>> check_tensors(input=torch.zeros(2, 3), weight=None)
    >>> check_tensors(input=torch.zeros(2, 3).to_sparse())
    Traceback (most recent call last):
    ...
    TypeError: `input` has layout torch.sparse_coo, not a dense (strided) tensor; pass `input.to_dense()`
    """
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            continue
        if t.is_meta:
            msg = (
                f"`{name}` is a meta tensor (a shape and dtype without values); a loss needs values: "
                "create it on a real device (device='cpu' or 'cuda'), or `module.to_empty(device=...)`"
            )
            raise ValueError(msg)
        if t.is_nested:
            msg = (
                f"`{name}` is a nested tensor; pad it first: `torch.nested.to_padded_tensor({name}, "
                "padding)` (targets padded with ignore_index, e.g. -100)"
            )
            raise TypeError(msg)
        if t.layout != torch.strided:
            msg = f"`{name}` has layout {t.layout}, not a dense (strided) tensor; pass `{name}.to_dense()`"
            raise TypeError(msg)
        if t.dtype.is_floating_point and t.dtype not in _FLOATS:
            msg = (
                f"`{name}` has dtype {t.dtype}, which the losses do not compute in; cast it first, "
                f"e.g. `{name}.float()` (or `.to(torch.bfloat16)`)"
            )
            raise TypeError(msg)


def compute_dtype(*tensors: torch.Tensor | None, name: str = "pred") -> torch.dtype:
    """max(float32, promoted floating dtype of ``tensors``) — the table of docs/semantics.md §6."""
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    for t in present[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype.is_complex:
        msg = f"`{name}` must be real floating point, got complex dtype {dtype}"
        raise TypeError(msg)
    if not dtype.is_floating_point:
        msg = f"`{name}` must be a floating-point tensor of scores, got dtype {dtype}; cast it first, e.g. `{name}.float()`"
        raise TypeError(msg)
    return torch.float64 if dtype == torch.float64 else torch.float32


def legacy_reduction(
    size_average: bool | None, reduce: bool | None, reduction: Reduction
) -> Reduction:
    """PyTorch's mapping of the deprecated ``size_average`` / ``reduce`` flags."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(
        "size_average and reduce args will be deprecated, please use reduction='"
        + ("none" if reduce is False else "mean" if size_average in (None, True) else "sum")
        + "' instead.",
        UserWarning,
        stacklevel=3,
    )
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def check_common(
    *,
    reduction: Reduction,
    empty: Empty,
    divide_by: DivideBy = "weight",
    z_loss: float = 0.0,
    softcap: float | None = None,
    kind: str = "logits",
) -> None:
    check_option("reduction", reduction, REDUCTIONS)
    check_option("empty", empty, EMPTY)
    check_option("divide_by", divide_by, DIVIDE_BY)
    check_option("kind", kind, KINDS)
    if not (isinstance(z_loss, (int, float)) and math.isfinite(z_loss) and z_loss >= 0):
        msg = f"`z_loss` must be a finite number ≥ 0 (the coefficient on lse²); got {z_loss!r}"
        raise ValueError(msg)
    if softcap is not None and not (
        isinstance(softcap, (int, float)) and math.isfinite(softcap) and softcap > 0
    ):
        msg = f"`softcap` must be None or a finite number > 0 (logits become softcap·tanh(logits/softcap)); got {softcap!r}"
        raise ValueError(msg)
    if kind != "logits" and (z_loss or softcap is not None):
        msg = f"`z_loss` and `softcap` act on logits; they cannot be used with kind={kind!r}"
        raise ValueError(msg)


def prepare_rows(
    target: torch.Tensor,
    *,
    num_classes: int,
    local_classes: int,
    batch_shape: tuple,
    dtype: torch.dtype,
    device: torch.device,
    class_weight: torch.Tensor | None,
    sample_weight: torch.Tensor | None,
    ignore_index: int | None,
    label_smoothing: float,
    smoothing: Smoothing,
    divide_by: DivideBy,
    validate: bool,
    vocab_start: int = 0,
    soft: bool | None = None,
) -> Rows:
    """:func:`crossentropy._rows.prepare_rows` on torch tensors (the class axis last).

    ``target`` has ``batch_shape`` (indices) or ``(*batch_shape, local_classes)`` (a
    distribution over this shard's classes ``[vocab_start, vocab_start + local_classes)``);
    ``class_weight`` is the GLOBAL per-class weight (``num_classes``,).
    """
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    return _prepare_rows(
        xp_of(target),
        target.to(device),
        num_classes=num_classes,
        batch_shape=tuple(batch_shape),
        local_classes=local_classes,
        vocab_start=vocab_start,
        dtype=dtype,
        like=torch.empty(0, dtype=dtype, device=device),
        weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=validate,
        soft=soft,
    )


def reduce_loss(
    loss: torch.Tensor,
    w: torch.Tensor,
    *,
    reduction: Reduction,
    empty: Empty,
    host_check: bool,
    batch_shape: tuple | None = None,
    normalizer: Any = None,
) -> torch.Tensor:
    """Per-example ``ℓ`` with weights ``w`` reduced by :meth:`ReductionOptions.finish` (§4).

    The mean is ``Σℓ / Σw``; when ``Σw = 0`` it is NaN (``"nan"``) or 0 (``"zero"``) and its
    gradient is exactly zero, computed without a host synchronisation; ``host_check`` adds
    the synchronising checks (the warning of ``"nan"``). ``normalizer`` replaces ``Σw``
    (the whole optimiser step's total weight, docs/semantics.md §14).
    """
    red = ReductionOptions(reduction, empty, normalizer=normalizer)
    n = loss.numel()
    if reduction == "none":
        red.check_none(n)
        return loss if batch_shape is None else loss.reshape(batch_shape)
    return red.finish(xp_of(loss), loss.sum(), w.sum(), n=n, host_check=host_check)
