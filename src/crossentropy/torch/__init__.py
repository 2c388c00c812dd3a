"""PyTorch adapters: drop-in losses, fused linear cross-entropy, vocab-parallel cross-entropy.

Needs the ``torch`` extra. Every value and gradient equals the library's reference
semantics (docs/semantics.md); for index targets they equal
``torch.nn.functional.cross_entropy``.

- :func:`cross_entropy`, :func:`nll_loss`, :func:`binary_cross_entropy_with_logits` and the
  modules :class:`CrossEntropyLoss`, :class:`NLLLoss`, :class:`BCEWithLogitsLoss`: PyTorch's
  signatures, plus keyword-only extras (``kind``, ``smoothing``, ``empty``, ``z_loss``,
  ``softcap``, ``divide_by``, ``sample_weight``).
- :func:`linear_cross_entropy` / :class:`LinearCrossEntropyLoss`: ``CE(hidden @ Wᵀ + b, target)``
  without the N × V logits (chunked torch on CPU and GPU; ``impl="triton"`` runs the per-tile
  work in Triton kernels, verified in Triton's interpreter and not yet on GPU hardware, so
  ``impl="auto"`` stays on torch); ``return_stats=`` gives per-token statistics (:class:`TokenStats`:
  log q of the target, log-sum-exp, entropy, argmax) from the same pass.
- :func:`linear_distillation_loss` / :class:`LinearDistillationLoss`: forward KL, reverse KL or
  generalised JSD between a teacher (logits, or hidden states and head) and ``hidden @ Wᵀ``
  without either model's N × V logits;
  ``return_stats=`` gives the student's per-token statistics from the same pass.
- :func:`vocab_parallel_cross_entropy`: vocabulary-sharded logits on ``torch.distributed``,
  exact over the global vocabulary (smoothing and soft targets included).
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    msg = (
        "crossentropy.torch needs PyTorch: install the extra with `pip install crossentropy[torch]`"
    )
    raise ImportError(msg) from exc

from .distill import linear_distillation_loss
from .distill_parallel import vocab_parallel_linear_distillation_loss
from .functional import binary_cross_entropy_with_logits, cross_entropy, nll_loss, step_weight
from .linear import TokenStats, linear_cross_entropy
from .modules import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    LinearCrossEntropyLoss,
    LinearDistillationLoss,
    NLLLoss,
)
from .parallel import vocab_parallel_cross_entropy, vocab_parallel_linear_cross_entropy

__all__ = [
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy_with_logits",
    "step_weight",
    "linear_cross_entropy",
    "linear_distillation_loss",
    "TokenStats",
    "vocab_parallel_cross_entropy",
    "vocab_parallel_linear_cross_entropy",
    "vocab_parallel_linear_distillation_loss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCEWithLogitsLoss",
    "LinearCrossEntropyLoss",
    "LinearDistillationLoss",
]
