"""crossentropy: likelihood → log-likelihood → negative log-likelihood → cross-entropy.

The chain for classification, exact and documented (docs/semantics.md), on
NumPy, PyTorch and any array-API library.
"""

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

__version__ = "0.1.0"

__all__ = [
    "Accumulator",
    "Bin",
    "Calibration",
    "ClassStats",
    "CompareSums",
    "Comparison",
    "CrossEntropyWarning",
    "Decomposition",
    "DoubleSoftmaxWarning",
    "EmptyReductionWarning",
    "Histogram",
    "Histograms",
    "KindDecisionWarning",
    "LabelStats",
    "NotNormalizedWarning",
    "Report",
    "Temperature",
    "Terms",
    "TokenStats",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "calibration_bins",
    "calibration_error",
    "cross_entropy",
    "cross_entropy_grad",
    "decompose",
    "distillation_grad",
    "distillation_loss",
    "entropy",
    "evaluate",
    "fit_temperature",
    "infer_kind",
    "kl_divergence",
    "likelihood",
    "log_likelihood",
    "log_prob",
    "loss_terms",
    "nll",
    "perplexity",
    "sequence_log_prob",
    "to_log_probs",
    "token_stats",
]
