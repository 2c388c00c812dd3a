"""crossentropy: likelihood → log-likelihood → negative log-likelihood → cross-entropy.

The chain for classification, exact and documented (docs/semantics.md), on
NumPy, PyTorch and any array-API library.

The public names are imported at first use (PEP 562): ``import crossentropy`` loads
no array library, and ``crossentropy.cross_entropy`` imports :mod:`crossentropy.chain`
(and NumPy) the first time it is read. ``_EXPORTS`` says where each name lives.

>>> import crossentropy
>>> crossentropy.cross_entropy.__module__
'crossentropy.chain'
"""

# ruff: noqa: F401  (the TYPE_CHECKING imports below are re-exports, listed in a computed __all__)
from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name → the module that defines it (imported when the name is first read).
_EXPORTS: dict[str, str] = {
    name: module
    for module, names in {
        "_validate": (
            "CrossEntropyWarning",
            "DoubleSoftmaxWarning",
            "EmptyReductionWarning",
            "KindDecisionWarning",
            "NotNormalizedWarning",
        ),
        "accumulate": ("Accumulator", "evaluate"),
        "binary": ("binary_cross_entropy",),
        "calibration": ("Bin", "Calibration", "calibration_bins", "calibration_error"),
        "chain": (
            "Terms",
            "cross_entropy",
            "likelihood",
            "log_likelihood",
            "log_prob",
            "loss_terms",
            "nll",
            "perplexity",
        ),
        "compare": ("CompareSums", "Comparison"),
        "distillation": ("distillation_grad", "distillation_loss"),
        "gradients": ("binary_cross_entropy_grad", "cross_entropy_grad"),
        "information": ("Decomposition", "decompose", "entropy", "kl_divergence"),
        "kinds": ("infer_kind", "to_log_probs"),
        "report": ("ClassStats", "Histogram", "Histograms", "LabelStats", "Report"),
        "temperature": ("Temperature", "fit_temperature"),
        "tokens": ("TokenStats", "sequence_log_prob", "token_stats"),
    }.items()
    for name in names
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """A public name, or a submodule (``crossentropy.chain``), imported on first access."""
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # later reads skip this function
        return value
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names for type checkers (tests/test_startup.py keeps them equal)
    from ._validate import (
        CrossEntropyWarning,
        DoubleSoftmaxWarning,
        EmptyReductionWarning,
        KindDecisionWarning,
        NotNormalizedWarning,
    )
    from .accumulate import Accumulator, evaluate
    from .binary import binary_cross_entropy
    from .calibration import Bin, Calibration, calibration_bins, calibration_error
    from .chain import (
        Terms,
        cross_entropy,
        likelihood,
        log_likelihood,
        log_prob,
        loss_terms,
        nll,
        perplexity,
    )
    from .compare import CompareSums, Comparison
    from .distillation import distillation_grad, distillation_loss
    from .gradients import binary_cross_entropy_grad, cross_entropy_grad
    from .information import Decomposition, decompose, entropy, kl_divergence
    from .kinds import infer_kind, to_log_probs
    from .report import ClassStats, Histogram, Histograms, LabelStats, Report
    from .temperature import Temperature, fit_temperature
    from .tokens import TokenStats, sequence_log_prob, token_stats
