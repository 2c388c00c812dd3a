"""``torch.nn.Module`` losses with PyTorch's own constructor signatures and defaults.

``CrossEntropyLoss``, ``NLLLoss`` and ``BCEWithLogitsLoss`` replace their
``torch.nn`` namesakes unchanged in a training loop; the library's extra options
(see :mod:`crossentropy.torch.functional`) are keyword-only constructor
arguments. ``LinearCrossEntropyLoss`` wraps :func:`crossentropy.torch.linear_cross_entropy`.

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

import torch
from torch import nn

from .._options import IGNORE_INDEX
from .._types import ConcreteKind, DivideBy, Empty, Reduction, Smoothing
from . import functional as F
from .linear import linear_cross_entropy

__all__ = ["CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss", "LinearCrossEntropyLoss"]


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
    ``forward(hidden, target, **overrides)`` returns :func:`crossentropy.torch.linear_cross_entropy`
    of them, with the options given here (``overrides`` per call, e.g. the step's ``normalizer=``).

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
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        bias: bool = False,
        *,
        device=None,
        dtype=None,
        **options,
    ) -> None:
        super().__init__()
        lin = nn.Linear(in_features, num_classes, bias=bias, device=device, dtype=dtype)
        self.weight = lin.weight
        self.bias = lin.bias
        self.options = options

    def forward(self, hidden: torch.Tensor, target: torch.Tensor, **overrides):
        return linear_cross_entropy(
            hidden, self.weight, target, bias=self.bias, **{**self.options, **overrides}
        )
