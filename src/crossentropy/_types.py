"""Type aliases for every string option of the public API (one place, used in every signature).

>>> from typing import get_args
>>> get_args(Reduction)
('mean', 'sum', 'none')
"""

from __future__ import annotations

from typing import Any, Literal

Array = Any  # any array-API array (NumPy, PyTorch, JAX, array-api-strict, Dask, ...)

ConcreteKind = Literal["logits", "probs", "log_probs"]
Kind = Literal["logits", "probs", "log_probs", "auto"]
Reduction = Literal["mean", "sum", "none"]
#: the reductions of a perplexity (a sum of perplexities means nothing)
PerplexityReduction = Literal["mean", "none"]
Empty = Literal["nan", "zero", "raise"]
DivideBy = Literal["weight", "count"]
Smoothing = Literal["uniform", "others"]
#: where the binary focal factor goes: each Bernoulli term (the expected hard-label focal loss)
#: or the whole element loss through ``p_t`` (optax, Keras) — docs/semantics.md §8
Focal = Literal["expected", "p_t"]
Impl = Literal["auto", "kernel", "blocked", "array_api"]
#: which divergence a distillation loss takes between teacher p and student q (docs/semantics.md §13)
Direction = Literal["forward", "reverse", "jsd"]
Base = Literal["e"] | float
#: the kinds temperature scaling takes (``"probs"`` raises: pass ``log p`` as ``"log_probs"``)
TemperatureKind = Literal["logits", "log_probs"]
#: what a target holds, decided from its dtype and shape (``kinds.target_kind``); "labels":
#: K 0/1 columns of a multi-label task
TargetKind = Literal["indices", "distribution", "labels"]
#: the classification task (docs/semantics.md §10): one label of C classes (softmax), one
#: Bernoulli label (a column of P(y=1) or a logit), or K independent Bernoulli labels
Task = Literal["multiclass", "binary", "multilabel", "auto"]
ConcreteTask = Literal["multiclass", "binary", "multilabel"]
#: calibration bins: equal width, or equal weight (``crossentropy.calibration``)
Strategy = Literal["uniform", "quantile"]
#: calibration error norm: ECE (l1), RMSCE (l2), MCE (max)
Norm = Literal["l1", "l2", "max"]

__all__ = [
    "Array",
    "ConcreteKind",
    "Kind",
    "Reduction",
    "PerplexityReduction",
    "Empty",
    "DivideBy",
    "Smoothing",
    "Focal",
    "Impl",
    "Direction",
    "Base",
    "TemperatureKind",
    "TargetKind",
    "Task",
    "ConcreteTask",
    "Strategy",
    "Norm",
]
