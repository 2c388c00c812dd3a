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
Empty = Literal["nan", "zero", "raise"]
DivideBy = Literal["weight", "count"]
Smoothing = Literal["uniform", "others"]
Impl = Literal["auto", "kernel", "blocked", "array_api"]
Base = Literal["e"] | float

__all__ = [
    "Array",
    "ConcreteKind",
    "Kind",
    "Reduction",
    "Empty",
    "DivideBy",
    "Smoothing",
    "Impl",
    "Base",
]
