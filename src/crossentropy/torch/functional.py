"""Drop-in replacements for ``torch.nn.functional`` losses, with the library's semantics.

(Just over the ~600-line guide: every drop-in functional loss of PyTorch's with its
checked route to PyTorch's own kernel; the modules and autograd live beside it.)

``cross_entropy``, ``nll_loss`` and ``binary_cross_entropy_with_logits`` take
PyTorch's own positional signatures and defaults (class axis 1, ``(N, C, d1, …)``
inputs, ``ignore_index=-100``, ``reduction="mean"``), so they replace the
torch functions in a training loop. The extra options are keyword-only:

- ``kind`` — ``"logits"`` (default), ``"log_probs"`` or ``"probs"``;
- ``smoothing`` — ``"uniform"`` (PyTorch's ``ε/C``) or ``"others"`` (``ε/(C−1)``);
- ``empty`` — the mean of no example: ``"nan"`` (PyTorch), ``"zero"`` or ``"raise"``;
- ``z_loss`` — adds ``ζ · s_i · lse_i²`` to every non-masked example's loss
  (``lse_i = logsumexp_c z_ic``; the sample weight applies, class weights do not),
  divided like the loss under ``"mean"``;
- ``softcap`` — logits become ``softcap · tanh(logits / softcap)`` before the loss
  (Gemma 2); the gradient flows through it;
- ``divide_by`` — ``"weight"`` (``Σ_i w_i``, docs/semantics.md §4) or ``"count"``
  (``Σ_i s_i [not masked]``: PyTorch's divisor for probability targets with class weights);
- ``sample_weight`` — one weight per example; ``validate`` — host-side checks;
- ``normalizer`` — under ``"mean"``, divide by this number (the total weight ``Σw`` of the whole
  optimiser step, from :func:`step_weight`) instead of by this batch's own ``Σw``: micro-batches
  and data-parallel ranks then add up to exactly the step's mean (docs/semantics.md §14).

Values equal :func:`crossentropy.cross_entropy` and, for index targets,
``torch.nn.functional.cross_entropy`` exactly. With the default options on ``(N, C)``
float32/float64 logits (or log-probabilities: :func:`nll_loss`) and int64 labels,
:func:`cross_entropy` checks the labels on the host, calls PyTorch's own kernel, whose values
and gradients are these, and reads its loss (a NaN there: a ``+inf`` or NaN logit, handed to
the general path) and the first row (the double-softmax test; log-probabilities get their
full check); a training loop's small batches pay no more than these reads. Every
other call goes through the closed-form autograd function of :mod:`crossentropy.torch.autograd`.
Differences from PyTorch: float16 and bfloat16 losses are computed *and returned* in float32;
probability targets with class weights divide by ``Σ_i w_i`` unless ``divide_by="count"``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as _tf

from .._options import DIVIDE_BY, EMPTY, IGNORE_INDEX, REDUCTIONS, ReductionOptions
from .._rows import binary_target
from .._types import ConcreteKind, DivideBy, Empty, Reduction, Smoothing
from .._validate import check_label_smoothing, check_nonnegative
from ..kinds import target_kind
from ._common import (
    check_common,
    check_compilable,
    check_tensors,
    compute_dtype,
    host_checks,
    legacy_reduction,
    prepare_rows,
    reduce_loss,
    xp_of,
)
from .autograd import cross_entropy_rows

__all__ = ["cross_entropy", "nll_loss", "binary_cross_entropy_with_logits", "step_weight"]


def _is_dtensor(x: torch.Tensor) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed
        return False
    return isinstance(x, DTensor)


def _dtensor_cross_entropy(input, target, *, kind, **options):
    """A DTensor of logits sharded on the class axis (PyTorch's layout: axis 1) goes to
    :func:`crossentropy.torch.vocab_parallel_cross_entropy`, which is exact over the global
    vocabulary; the class axis is moved last first (a view; the shard follows it)."""
    from .parallel import vocab_parallel_cross_entropy

    if kind != "logits":
        msg = (
            f"a DTensor `input` is taken as sharded logits only (kind='logits'); got kind={kind!r}"
        )
        raise ValueError(msg)
    x = input.movedim(1, -1) if input.dim() > 2 else input
    soft = _is_soft(input, target)
    t = target.movedim(1, -1) if soft and target.dim() > 2 else target
    return vocab_parallel_cross_entropy(x, t, **options)


def _is_soft(input: torch.Tensor, target: torch.Tensor) -> bool:
    """Distribution or class indices, by the core's one rule (classes on axis 1, or 0 unbatched)."""
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    axis = 0 if input.dim() == 1 else 1
    return target_kind(xp_of(target), tuple(input.shape), target, axis) == "distribution"


def _check_kind_values(x: torch.Tensor, kind: str, num_classes: int) -> torch.Tensor:
    """The prediction checks of docs/semantics.md §1 (rows along the last axis)."""
    from .._validate import check_log_probs, check_probs, warn_double_softmax

    xp = xp_of(x)
    xd = x.detach()
    if kind == "logits":
        warn_double_softmax(xp, xd, num_classes)
    elif kind == "probs":
        checked = check_probs(xp, xd)
        if (
            checked is not xd
        ):  # values within 10·eps outside [0, 1] are set to the bound (documented)
            x = x.clamp(0, 1)
    else:
        check_log_probs(xp, xd, torch.logsumexp(xd, -1))
    return x


_FAST_DTYPES = (torch.float32, torch.float64)


def _plain(t: Any) -> bool:
    """A dense tensor with values (not a subclass such as DTensor, not meta, sparse or nested)."""
    return (
        type(t) is torch.Tensor and t.layout == torch.strided and not t.is_meta and not t.is_nested
    )


def _first_row(x: torch.Tensor) -> list[float] | None:
    """The first row's values (its minimum and maximum where ``C > 256``), read on the CPU
    through a NumPy view (no copy, no torch dispatch); ``None`` where a CPU tensor has no
    storage to view (a torch.func wrapper).

    >>> _first_row(torch.tensor([[0.5, 2.0], [9.0, 9.0]]))
    [0.5, 2.0]
    """
    if not x.is_cpu:
        return [v.item() for v in torch.aminmax(x.detach()[0])]
    try:
        first = x.numpy(force=True)[0]
    except RuntimeError:
        return None
    return first.tolist() if first.shape[0] <= 256 else [first.min(), first.max()]


def _has_nan(loss: torch.Tensor) -> bool:
    """Whether PyTorch's loss holds a NaN: its only sign of a ``+inf`` logit in a kept row (that
    row's ``log_softmax`` is ``inf − inf``), read from the loss instead of a pass over the
    logits: one host read of a scalar under ``"mean"``/``"sum"``.

    >>> _has_nan(torch.tensor(float("nan"))), _has_nan(torch.tensor([0.5, float("inf")]))
    (True, False)
    """
    if loss.dim() == 0:
        value = loss.item()
        return value != value
    return bool(torch.isnan(loss.detach()).any())


def _fast_cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    ignore_index: int,
    reduction: Reduction,
    validate: bool = True,
    kind: str = "logits",
) -> torch.Tensor | None:
    """The default options on ``(N, C)`` float32/float64 logits (or log-probabilities,
    ``kind="log_probs"``: ``nll_loss``) and int64 class indices: the library's checks, then
    PyTorch's own kernel, whose values and gradients are the library's there
    (docs/semantics.md §12). ``None`` where the general path decides instead: a label
    that is not a class (``validate=True`` refuses it, ``False`` makes its row NaN), an empty
    mean, a NaN in PyTorch's loss (a ``+inf`` logit, where §3 gives ``+inf`` and PyTorch NaN,
    or a NaN logit), any other shape or dtype. ``validate=False`` takes this path on the CPU
    only (it reads the labels' range, which on an accelerator would synchronise) and skips the
    checks that are not about the labels: the double-softmax warning, the log-probability
    check (§4).

    Masked rows get exactly zero gradient whatever they hold: an ignored row holding a
    non-finite logit is set to 0 first (PyTorch's backward would give NaN there). The checks
    read the labels (their range; at ≤ 128 CPU rows only their minimum, PyTorch's kernel
    refusing a label ≥ C), the first row (the double-softmax test needs it in [0, 1]) and the
    loss, on the CPU with one torch operation beside PyTorch's kernel (the loss's host read):
    at a training loop's small batches every operation counts (issue 14: within 1.1× of
    PyTorch at 64 × 10).
    """
    if not (_plain(input) and _plain(target)) or input.dtype not in _FAST_DTYPES:
        return None
    if target.dtype != torch.int64 or input.dim() != 2 or target.dim() != 1:
        return None
    if not validate and not input.is_cpu:  # no host synchronisation under validate=False
        return None
    n, C = input.shape
    if target.shape[0] != n or n == 0 or C == 0 or target.device != input.device:
        return None
    if input.is_cpu and n <= 128:  # small CPU batches: Python reads the labels fastest
        labels = target.tolist()  # (a label ≥ C makes PyTorch's kernel raise: caught below)
        mask = min(labels) < 0 or (ignore_index >= 0 and ignore_index in labels)
    else:  # (an accelerator's kernel would assert on a label ≥ C: refused here)
        lo, hi = (int(v) for v in torch.aminmax(target))
        mask = lo < 0 or hi >= C or lo <= ignore_index <= hi
    given = input  # (the checks below read the rows as given)
    if mask:  # rows to mask, or labels to refuse
        ignored = target == ignore_index
        if bool((((target < 0) | (target >= C)) & ~ignored).any()):
            return None  # the general path names the labels
        kept = n - int(ignored.sum())
        if kept == 0:
            return None  # the empty mean: the general path's policy and warning
        if kept < n and not bool(torch.isfinite(input.detach()[ignored]).all()):
            input = torch.where(ignored[:, None], 0.0, input)
    kernel = _tf.cross_entropy if kind == "logits" else _tf.nll_loss
    try:
        loss = kernel(input, target, ignore_index=ignore_index, reduction=reduction)
    except IndexError:  # a label ≥ C on the CPU: the general path names it
        return None
    if _has_nan(loss):
        return None
    if validate and kind == "log_probs":  # (after the kernel, as below)
        _check_kind_values(given.detach(), kind, C)
    elif validate and C > 1:  # (after the kernel: a call handed to the general path warns once)
        # the double-softmax warning needs the first row in [0, 1]; logits rarely are
        row = _first_row(given)
        if row is None:
            return None  # no storage to view (a torch.func wrapper): the general path
        if min(row) >= 0 and max(row) <= 1:  # (NaN: at worst the full check, which is exact)
            _check_kind_values(given.detach(), "logits", C)
    return loss


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduce: bool | None = None,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    *,
    kind: ConcreteKind = "logits",
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    z_loss: float = 0.0,
    softcap: float | None = None,
    divide_by: DivideBy = "weight",
    sample_weight: torch.Tensor | None = None,
    normalizer: float | torch.Tensor | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Cross-entropy between predictions over C classes (class axis 1) and targets.

    With ``z = softcap(input)`` (or ``input`` without a soft-cap), ``log q = log_softmax(z)``,
    ``y'`` the smoothed target and ``a_ic = weight_c y'_ic``:

    .. math::

        ℓ_i = − s_i \\sum_c a_{ic} \\log q_{ic} + ζ s_i \\operatorname{lse}_i^2,
        \\qquad \\text{mean} = \\sum_i ℓ_i / \\sum_i w_i,
        \\quad w_i = s_i \\sum_c \\text{weight}_c y_{ic}

    Parameters
    ----------
    input : Tensor
        ``(C,)``, ``(N, C)`` or ``(N, C, d1, …, dK)`` predictions (logits by default). A
        ``DTensor`` of logits sharded on the class axis (``Shard(1)`` on a 1-D mesh, where
        torch's ``loss_parallel()`` applies) is computed by
        :func:`~crossentropy.torch.vocab_parallel_cross_entropy`, exact over the global
        vocabulary (label smoothing and soft targets included).
    target : Tensor
        Class indices (integer, the input's shape without axis 1; exact-integer floats
        accepted) or class probabilities (floating, the input's shape).
    weight : Tensor, optional
        Class weights, shape ``(C,)``, finite and ≥ 0.
    size_average, reduce
        Deprecated PyTorch flags, mapped to ``reduction`` as PyTorch does.
    ignore_index : int
        Index targets equal to it are masked (loss 0, gradient exactly 0, out of the mean).
    reduction : {"mean", "sum", "none"}
    label_smoothing : float
        ε in [0, 1].
    kind, smoothing, empty, z_loss, softcap, divide_by, sample_weight, normalizer, validate
        Keyword-only extras; see the module docstring.

    Returns
    -------
    Tensor
        A scalar (``"mean"``, ``"sum"``) or the per-example losses (``"none"``), in the
        compute dtype (float32 for float16/bfloat16 input).

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import cross_entropy
    >>> x = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    >>> y = torch.tensor([0, 2])
    >>> bool(torch.allclose(cross_entropy(x, y), F.cross_entropy(x, y)))
    True
    >>> import crossentropy as ce
    >>> ours = cross_entropy(x, y, label_smoothing=0.1, smoothing="others")
    >>> core = ce.cross_entropy(x.numpy(), y.numpy(), label_smoothing=0.1, smoothing="others")
    >>> bool(abs(float(ours) - float(core)) < 1e-6)
    True
    """
    if (
        (validate is True or validate is False)
        and weight is None
        and sample_weight is None
        and normalizer is None
        and size_average is None
        and reduce is None
        and kind in ("logits", "log_probs")
        and softcap is None
        and type(z_loss) in (int, float)
        and z_loss == 0
        and type(label_smoothing) in (int, float)
        and label_smoothing == 0
        and smoothing in ("uniform", "others")
        and reduction in REDUCTIONS
        and empty in EMPTY
        and divide_by in DIVIDE_BY  # the same divisor for unweighted class indices
        and type(ignore_index) is int
        and -(2**63) <= ignore_index < 2**63
        and not torch.compiler.is_compiling()
    ):
        loss = _fast_cross_entropy(input, target, ignore_index, reduction, validate, kind)
        if loss is not None:
            return loss
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_common(
        reduction=reduction,
        empty=empty,
        divide_by=divide_by,
        z_loss=z_loss,
        softcap=softcap,
        kind=kind,
    )
    check_compilable(empty)
    checks = host_checks(validate)
    red = ReductionOptions(reduction, empty, divide_by, normalizer=normalizer)  # checks normalizer
    check_tensors(input=input, target=target, weight=weight, sample_weight=sample_weight)
    if not isinstance(input, torch.Tensor):
        msg = f"`input` must be a torch.Tensor; got {type(input).__name__}"
        raise TypeError(msg)
    if _is_dtensor(input):
        total = _dtensor_cross_entropy(
            input,
            target,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction if normalizer is None else "sum",
            label_smoothing=label_smoothing,
            kind=kind,
            smoothing=smoothing,
            empty=empty if normalizer is None else "zero",  # the step's emptiness is decided below
            z_loss=z_loss,
            softcap=softcap,
            divide_by=divide_by,
            sample_weight=sample_weight,
            validate=validate,
        )
        if normalizer is None:
            return total
        n = input.numel() // max(1, input.shape[1 if input.dim() > 1 else 0])
        return red.finish(xp_of(total), total, total, n=n, host_check=checks)
    dtype = compute_dtype(input, name="input")
    if input.dim() == 0:
        msg = "`input` must have a class axis: shape (C,), (N, C) or (N, C, d1, ...); got a 0-d tensor"
        raise ValueError(msg)
    unbatched = input.dim() == 1
    x = input.unsqueeze(0) if unbatched else input
    C = x.shape[1]
    if C == 0:
        msg = f"`input` has no classes (size 0 along axis 1, shape {tuple(input.shape)})"
        raise ValueError(msg)
    soft = _is_soft(input, target)
    t = target.unsqueeze(0) if unbatched else target
    xl = x.movedim(1, -1) if x.dim() > 2 else x
    batch_shape = tuple(xl.shape[:-1])
    if soft and t.dim() > 2:
        t = t.movedim(1, -1)
    x2 = xl.reshape(-1, C)
    if checks:
        x2 = _check_kind_values(x2, kind, C)
    rows = prepare_rows(
        t,
        num_classes=C,
        local_classes=C,
        batch_shape=batch_shape,
        dtype=dtype,
        device=x.device,
        class_weight=weight,
        sample_weight=sample_weight.unsqueeze(0)
        if (sample_weight is not None and unbatched)
        else sample_weight,
        ignore_index=None if soft else ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=checks,
        soft=soft,
    )
    loss = cross_entropy_rows(x2, rows, kind=kind, z_loss=z_loss, softcap=softcap, dtype=dtype)
    out_shape = () if unbatched else batch_shape
    return reduce_loss(
        loss,
        rows.divisor_weights(),
        reduction=reduction,
        empty=empty,
        host_check=checks,
        batch_shape=out_shape,
        normalizer=normalizer,
    )


def nll_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduce: bool | None = None,
    reduction: Reduction = "mean",
    *,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    sample_weight: torch.Tensor | None = None,
    normalizer: float | torch.Tensor | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Negative log-likelihood of log-probabilities: :func:`cross_entropy` with ``kind="log_probs"``.

    .. math:: ℓ_i = − s_i \\sum_c \\text{weight}_c y'_{ic} x_{ic}

    Equals ``torch.nn.functional.nll_loss`` for index targets; label smoothing and soft
    targets are extras (PyTorch's ``nll_loss`` has neither). Rows are checked to be
    log-probabilities (``≤ 0``, warn when ``logsumexp ≠ 0``) unless ``validate=False``.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import nll_loss
    >>> lp = torch.log_softmax(torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 4.0]]), -1)
    >>> y = torch.tensor([1, 2])
    >>> bool(torch.allclose(nll_loss(lp, y), F.nll_loss(lp, y)))
    True
    """
    return cross_entropy(
        input,
        target,
        weight,
        size_average,
        ignore_index,
        reduce,
        reduction,
        label_smoothing,
        kind="log_probs",
        smoothing=smoothing,
        empty=empty,
        divide_by=divide_by,
        sample_weight=sample_weight,
        normalizer=normalizer,
        validate=validate,
    )


class _BinaryFunction(torch.autograd.Function):
    """ℓ = c · [pw·y·softplus(−x) + (1−y)·softplus(x)], ∂ℓ/∂x = c · (pw·y·(σ(x)−1) + (1−y)·σ(x))."""

    @staticmethod
    def forward(ctx, x, y, c, pw, dtype):
        xf = x.to(dtype)
        pos = pw * y if pw is not None else y
        neg = 1 - y
        sp_neg = torch.nn.functional.softplus(-xf)  # −log σ(x)
        sp_pos = torch.nn.functional.softplus(xf)  # −log(1 − σ(x))
        t1 = torch.where(pos == 0, torch.zeros_like(xf), pos * sp_neg)
        t2 = torch.where(neg == 0, torch.zeros_like(xf), neg * sp_pos)
        loss = torch.where(c == 0, torch.zeros_like(xf), c * (t1 + t2))
        ctx.save_for_backward(x, y, c, pos)
        ctx.dtype = dtype
        return loss

    @staticmethod
    def backward(ctx, grad):
        x, y, c, pos = ctx.saved_tensors
        sig = torch.sigmoid(x.to(ctx.dtype))
        g = pos * (sig - 1) + (1 - y) * sig
        g = torch.where(c == 0, torch.zeros_like(g), g * c * grad.to(ctx.dtype))
        return g.to(x.dtype), None, None, None, None


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: Reduction = "mean",
    pos_weight: torch.Tensor | None = None,
    *,
    label_smoothing: float = 0.0,
    ignore_index: int | None = None,
    empty: Empty = "nan",
    validate: bool = True,
) -> torch.Tensor:
    """Binary (multi-label) cross-entropy from logits, element by element (docs/semantics.md §8).

    .. math::

        ℓ = − \\text{weight} · [\\text{pw} · y' \\log σ(x) + (1 − y') \\log(1 − σ(x))],
        \\qquad y' = (1 − ε) y + ε / 2

    with ``log σ(x) = −softplus(−x)`` (no overflow at ±1e9, and ``0 · (−inf) = 0`` at ±inf).
    ``"mean"`` averages over the non-masked elements (all elements unless ``ignore_index``
    is given with an integer target), as PyTorch does; the gradient is
    ``weight · (pw·y'·(σ(x) − 1) + (1 − y')·σ(x))`` in closed form. Targets may be soft
    (``[0, 1]``) or integer 0/1.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import binary_cross_entropy_with_logits as bce
    >>> x = torch.tensor([3.0, -1.0, 0.5]); y = torch.tensor([1.0, 0.0, 1.0])
    >>> bool(torch.allclose(bce(x, y), F.binary_cross_entropy_with_logits(x, y)))
    True
    >>> float(bce(torch.tensor([1e9, -1e9]), torch.tensor([1.0, 0.0])))
    0.0
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    check_common(reduction=reduction, empty=empty)
    check_compilable(empty)
    validate = host_checks(validate)
    check_tensors(input=input, target=target, weight=weight, pos_weight=pos_weight)
    dtype = compute_dtype(input, name="input")
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    y, ignored = binary_target(
        xp_of(target),
        target.to(input.device),
        tuple(input.shape),
        dtype,
        ignore_index=ignore_index,
        validate=validate,
    )
    active = ~ignored
    eps = check_label_smoothing(label_smoothing, "uniform", 2)
    if eps:
        y = (1 - eps) * y + eps / 2
    c = active.to(dtype)
    xp = xp_of(input)
    if weight is not None:
        w = torch.as_tensor(weight, device=input.device).to(dtype)
        if validate:
            check_nonnegative(xp, w, "weight")
        c = c * w
    pw = None if pos_weight is None else torch.as_tensor(pos_weight, device=input.device).to(dtype)
    if validate and pw is not None:
        check_nonnegative(xp, pw, "pos_weight")
    c, y = torch.broadcast_tensors(c, y)
    loss = _BinaryFunction.apply(input, y, c.contiguous(), pw, dtype)
    count = active.to(dtype)
    return reduce_loss(
        loss,
        count,
        reduction=reduction,
        empty=empty,
        host_check=validate,
        batch_shape=tuple(input.shape),
    )


def step_weight(
    target: torch.Tensor,
    num_classes: int,
    *,
    weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    divide_by: DivideBy = "weight",
    shift: bool = False,
    validate: bool = True,
) -> torch.Tensor:
    """``Σ_i w_i`` of a target: the divisor of its mean (docs/semantics.md §4), as a float64 scalar.

    Sum it over every micro-batch of an optimiser step (and all-reduce it over data-parallel
    ranks) and pass the total as ``normalizer=`` to every micro-batch's loss: the losses then
    add up to the mean of the whole step, and so do their gradients, however the step was split
    (docs/semantics.md §14). ``w_i = s_i · weight[y_i]`` for class indices (integer ``target``;
    0 where ``y_i == ignore_index``), ``s_i · Σ_c weight_c y_ic`` for a distribution (a floating
    ``target`` with the ``num_classes`` classes on its last axis); ``divide_by="count"`` counts
    ``s_i`` instead. ``shift=True`` drops the first position of the sequence axis, as
    :func:`linear_cross_entropy`'s ``shift`` does.

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import cross_entropy, step_weight
    >>> x = torch.randn(6, 4, dtype=torch.float64); y = torch.tensor([0, 1, -100, 3, 2, -100])
    >>> total = step_weight(y, 4)                        # 4 tokens count in this step
    >>> parts = [cross_entropy(x[i : i + 2], y[i : i + 2], normalizer=total) for i in (0, 2, 4)]
    >>> bool(torch.allclose(sum(parts), cross_entropy(x, y), rtol=1e-14))
    True
    """
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    soft = target.dtype.is_floating_point
    if soft and (target.dim() < 1 or target.shape[-1] != num_classes):
        msg = (
            f"a floating `target` is a distribution with its {num_classes} classes on the last axis; "
            f"got shape {tuple(target.shape)} (pass class indices as integers)"
        )
        raise ValueError(msg)
    if shift:
        target = target[..., 1:, :] if soft else target[..., 1:]
        if sample_weight is not None:
            sample_weight = sample_weight[..., 1:]
    rows = prepare_rows(
        target,
        num_classes=num_classes,
        local_classes=num_classes,
        batch_shape=tuple(target.shape[:-1]) if soft else tuple(target.shape),
        dtype=torch.float64,
        device=target.device,
        class_weight=weight,
        sample_weight=sample_weight,
        ignore_index=None if soft else ignore_index,
        label_smoothing=0.0,
        smoothing="uniform",
        divide_by=divide_by,
        validate=validate,
        soft=soft,
    )
    return rows.divisor_weights().sum()
