"""``torch.nn.Module`` losses with PyTorch's own constructor signatures and defaults.

``CrossEntropyLoss``, ``NLLLoss`` and ``BCEWithLogitsLoss`` replace their
``torch.nn`` namesakes unchanged in a training loop; the library's extra options
(see :mod:`crossentropy.torch.functional`) are keyword-only constructor
arguments. ``LinearCrossEntropyLoss`` wraps :func:`crossentropy.torch.linear_cross_entropy`,
``LinearDistillationLoss`` :func:`crossentropy.torch.linear_distillation_loss`.

>>> import torch
>>> from crossentropy.torch import CrossEntropyLoss
>>> loss_fn = CrossEntropyLoss(label_smoothing=0.1, empty="zero")
>>> x = torch.randn(4, 5, requires_grad=True)
>>> loss = loss_fn(x, torch.tensor([0, 1, -100, 4]))
>>> loss.backward()
>>> x.grad[2].abs().sum().item()  # the ignored row has exactly zero gradient
0.0
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from .._options import IGNORE_INDEX
from .._types import ConcreteKind, Direction, DivideBy, Empty, Reduction, Smoothing
from . import functional as F
from ._plan import wanted_stats
from .distill import DistillImpl, linear_distillation_loss
from .linear import LinearImpl, linear_cross_entropy

__all__ = [
    "CrossEntropyLoss",
    "NLLLoss",
    "BCEWithLogitsLoss",
    "LinearCrossEntropyLoss",
    "LinearDistillationLoss",
]


def _legacy(size_average, reduce, reduction):
    from ._common import legacy_reduction

    return legacy_reduction(size_average, reduce, reduction)


class CrossEntropyLoss(nn.Module):
    """Cross-entropy loss; :func:`crossentropy.torch.cross_entropy` as a module.

    Parameters are PyTorch's (``weight``, ``size_average``, ``ignore_index``, ``reduce``,
    ``reduction``, ``label_smoothing``) plus the keyword-only extras ``kind``, ``smoothing``,
    ``empty``, ``z_loss``, ``softcap``, ``divide_by``, ``validate``. ``forward(input, target,
    sample_weight=None, normalizer=None)``: ``normalizer`` (under ``"mean"``) is the whole
    optimiser step's ``Σw`` (:func:`~crossentropy.torch.step_weight`), so that micro-batch
    losses add up to the step's mean (docs/semantics.md §14).

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import CrossEntropyLoss
    >>> x = torch.tensor([[1.0, 2.0], [3.0, 0.0]]); y = torch.tensor([1, 0])
    >>> bool(torch.allclose(CrossEntropyLoss()(x, y), torch.nn.CrossEntropyLoss()(x, y)))
    True
    """

    weight: torch.Tensor | None

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        size_average=None,
        ignore_index: int = IGNORE_INDEX,
        reduce=None,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        *,
        kind: ConcreteKind = "logits",
        smoothing: Smoothing = "uniform",
        empty: Empty = "nan",
        z_loss: float = 0.0,
        softcap: float | None = None,
        divide_by: DivideBy = "weight",
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = _legacy(size_average, reduce, reduction)
        self.label_smoothing = label_smoothing
        self.kind, self.smoothing, self.empty = kind, smoothing, empty
        self.z_loss, self.softcap, self.divide_by, self.validate = (
            z_loss,
            softcap,
            divide_by,
            validate,
        )

    def forward(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
        normalizer: float | torch.Tensor | None = None,
    ):
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
            kind=self.kind,
            smoothing=self.smoothing,
            empty=self.empty,
            z_loss=self.z_loss,
            softcap=self.softcap,
            divide_by=self.divide_by,
            sample_weight=sample_weight,
            normalizer=normalizer,
            validate=self.validate,
        )


class NLLLoss(CrossEntropyLoss):
    """Negative log-likelihood of log-probabilities (PyTorch's ``NLLLoss`` signature).

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import NLLLoss
    >>> lp = torch.log_softmax(torch.tensor([[1.0, 2.0], [3.0, 0.0]]), -1)
    >>> y = torch.tensor([1, 0])
    >>> bool(torch.allclose(NLLLoss()(lp, y), torch.nn.NLLLoss()(lp, y)))
    True
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        size_average=None,
        ignore_index: int = IGNORE_INDEX,
        reduce=None,
        reduction: Reduction = "mean",
        *,
        label_smoothing: float = 0.0,
        smoothing: Smoothing = "uniform",
        empty: Empty = "nan",
        divide_by: DivideBy = "weight",
        validate: bool = True,
    ) -> None:
        super().__init__(
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
            validate=validate,
        )


class BCEWithLogitsLoss(nn.Module):
    """Binary cross-entropy from logits (PyTorch's ``BCEWithLogitsLoss`` signature).

    Extras (keyword-only): ``label_smoothing`` (towards 0.5), ``ignore_index`` (integer
    targets), ``empty``, ``validate``.

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import BCEWithLogitsLoss
    >>> x = torch.tensor([0.3, -2.0]); y = torch.tensor([1.0, 0.0])
    >>> bool(torch.allclose(BCEWithLogitsLoss()(x, y), torch.nn.BCEWithLogitsLoss()(x, y)))
    True
    """

    weight: torch.Tensor | None
    pos_weight: torch.Tensor | None

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        size_average=None,
        reduce=None,
        reduction: Reduction = "mean",
        pos_weight: torch.Tensor | None = None,
        *,
        label_smoothing: float = 0.0,
        ignore_index: int | None = None,
        empty: Empty = "nan",
        validate: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = _legacy(size_average, reduce, reduction)
        self.label_smoothing, self.ignore_index, self.empty, self.validate = (
            label_smoothing,
            ignore_index,
            empty,
            validate,
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            input,
            target,
            self.weight,
            reduction=self.reduction,
            pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing,
            ignore_index=self.ignore_index,
            empty=self.empty,
            validate=self.validate,
        )


class LinearCrossEntropyLoss(nn.Module):
    """A linear classifier head and its cross-entropy, without materialising the logits.

    Holds the classifier ``weight`` (V, d) (and an optional ``bias``) like ``nn.Linear``;
    ``forward(hidden, target, sample_weight=None, normalizer=None)`` returns
    :func:`crossentropy.torch.linear_cross_entropy` of them, with the options given here
    (keyword-only, the function's own: ``ignore_index``, ``reduction``, ``label_smoothing``,
    ``smoothing``, ``softcap``, ``z_loss``, ``shift``, ``chunk_size``, ``vocab_chunk_size``,
    ``class_weight`` (a buffer), ``empty``, ``divide_by``, ``impl``, ``return_stats``,
    ``recompute``, ``validate``). ``normalizer`` (under ``"mean"``) is the whole optimiser step's
    ``Σw`` (:func:`~crossentropy.torch.step_weight`, docs/semantics.md §14); with
    ``return_stats`` the forward returns ``(loss, TokenStats)`` (§15). Any other option of the
    function may be given per call as a keyword of ``forward``.

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import LinearCrossEntropyLoss
    >>> _ = torch.manual_seed(0)
    >>> head = LinearCrossEntropyLoss(8, 11, bias=True, chunk_size=4)
    >>> h = torch.randn(6, 8); y = torch.randint(0, 11, (6,))
    >>> ref = torch.nn.functional.cross_entropy(h @ head.weight.T + head.bias, y)
    >>> bool(torch.allclose(head(h, y), ref, atol=1e-6))
    True
    >>> loss, st = LinearCrossEntropyLoss(8, 11, return_stats=("argmax",))(h, y)
    >>> st.argmax.shape, st.entropy is None
    (torch.Size([6]), True)
    """

    class_weight: torch.Tensor | None

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        bias: bool = False,
        *,
        device=None,
        dtype=None,
        ignore_index: int = IGNORE_INDEX,
        reduction: Reduction = "mean",
        label_smoothing: float = 0.0,
        smoothing: Smoothing = "uniform",
        softcap: float | None = None,
        z_loss: float = 0.0,
        shift: bool = False,
        chunk_size: int | None = None,
        vocab_chunk_size: int | None = None,
        class_weight: torch.Tensor | None = None,
        empty: Empty = "nan",
        divide_by: DivideBy = "weight",
        impl: LinearImpl = "auto",
        return_stats: bool | Collection[str] = False,
        recompute: bool = False,
        validate: bool = True,
    ) -> None:
        super().__init__()
        lin = nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)
        self.weight = lin.weight
        self.bias = lin.bias
        self.register_buffer("class_weight", class_weight)
        wanted_stats(return_stats)  # a bad value is refused here, not at the first forward
        self.options = dict(
            ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing,
            smoothing=smoothing, softcap=softcap, z_loss=z_loss, shift=shift,
            chunk_size=chunk_size, vocab_chunk_size=vocab_chunk_size, empty=empty,
            divide_by=divide_by, impl=impl, return_stats=return_stats, recompute=recompute,
            validate=validate,
        )  # fmt: skip

    def forward(
        self,
        hidden: torch.Tensor,
        target: torch.Tensor,
        sample_weight: torch.Tensor | None = None,
        normalizer: float | torch.Tensor | None = None,
        **overrides,
    ):
        kw = {**self.options, "class_weight": self.class_weight, **overrides}
        return linear_cross_entropy(
            hidden, self.weight, target, bias=self.bias, sample_weight=sample_weight,
            normalizer=normalizer, **kw,
        )  # fmt: skip


class LinearDistillationLoss(nn.Module):
    """A student's linear head and its distillation towards a teacher, without the N × V logits.

    Holds the student's classifier ``weight`` (V, d) (and an optional ``bias``) like
    ``nn.Linear``; ``forward(hidden, teacher_logits, target=None, sample_weight=None,
    normalizer=None)`` returns :func:`crossentropy.torch.linear_distillation_loss` of them, with
    the options given here (keyword-only, the function's own: ``direction``, ``beta``,
    ``temperature``, ``scale_by_t2``, ``alpha``, ``ignore_index``, ``reduction``, ``empty``,
    ``softcap``, ``shift``, ``chunk_size``, ``impl``, ``return_stats``, ``validate``). A teacher given as
    hidden states and head goes through ``forward``'s keywords: ``teacher_logits=None,
    teacher_hidden=..., teacher_weight=...``.

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch import LinearDistillationLoss
    >>> _ = torch.manual_seed(0)
    >>> head = LinearDistillationLoss(8, 11, temperature=2.0, chunk_size=4)
    >>> h = torch.randn(6, 8); t = torch.randn(6, 11)
    >>> lq, lp = torch.log_softmax(h @ head.weight.T / 2, -1), torch.log_softmax(t / 2, -1)
    >>> ref = torch.nn.functional.kl_div(lq, lp, log_target=True, reduction="batchmean") * 4
    >>> bool(torch.allclose(head(h, t), ref, atol=1e-6))
    True
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        bias: bool = False,
        *,
        device=None,
        dtype=None,
        direction: Direction = "forward",
        beta: float = 0.5,
        temperature: float = 1.0,
        scale_by_t2: bool = True,
        alpha: float = 0.0,
        ignore_index: int = IGNORE_INDEX,
        reduction: Reduction = "mean",
        empty: Empty = "nan",
        softcap: float | None = None,
        shift: bool = False,
        chunk_size: int | None = None,
        impl: DistillImpl = "auto",
        return_stats: bool | Collection[str] = False,
        validate: bool = True,
    ) -> None:
        super().__init__()
        lin = nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)
        self.weight = lin.weight
        self.bias = lin.bias
        wanted_stats(return_stats)  # a bad value is refused here, not at the first forward
        self.options = dict(
            direction=direction, beta=beta, temperature=temperature, scale_by_t2=scale_by_t2,
            alpha=alpha, ignore_index=ignore_index, reduction=reduction, empty=empty,
            softcap=softcap, shift=shift, chunk_size=chunk_size, impl=impl,
            return_stats=return_stats, validate=validate,
        )  # fmt: skip

    def forward(
        self,
        hidden: torch.Tensor,
        teacher_logits: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        sample_weight: torch.Tensor | None = None,
        normalizer: float | torch.Tensor | None = None,
        **overrides,
    ):
        return linear_distillation_loss(
            hidden, self.weight, teacher_logits, student_bias=self.bias, target=target,
            sample_weight=sample_weight, normalizer=normalizer, **{**self.options, **overrides},
        )  # fmt: skip
