"""The options of an evaluation of prediction files (:class:`EvaluateOptions`, each default
once; the command line's flags take theirs here) and :class:`OptionError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _validate as v
from . import io
from ._options import IGNORE_INDEX, log_base
from ._types import Kind
from .calibration import FINE_BINS

__all__ = [
    "INTEGER_RANGES",
    "KINDS",
    "TASKS",
    "MISSING_LABELS",
    "ON_INVALID",
    "EvaluateOptions",
    "OptionError",
]


KINDS = ("auto", "logits", "probs", "log_probs")
TASKS = ("auto", "multiclass", "binary", "multilabel")
MISSING_LABELS = ("error", "ignore")
ON_INVALID = ("error", "skip")

_I64 = 2**63
#: The integer options: name → (lowest, highest, the rule as the messages write it).
#: ``ignore_index`` is compared with int64 labels; ``seed`` keys uint64 replicate weights;
#: ``bootstrap`` and ``batch_size`` size arrays.
INTEGER_RANGES: dict[str, tuple[int, int, str]] = {
    "ignore_index": (-_I64, _I64 - 1, "an integer in [-2**63, 2**63 - 1]"),
    "bins": (1, FINE_BINS, f"an integer in [1, {FINE_BINS}]"),
    "bootstrap": (0, 2**31 - 1, "an integer in [0, 2**31 - 1]"),
    "seed": (0, 2**64 - 1, "an integer in [0, 2**64 - 1]"),
    "batch_size": (1, _I64 - 1, "an integer in [1, 2**63 - 1]"),
}


class OptionError(ValueError):
    """An evaluate option outside its range; ``option`` names the field, ``rule`` the range."""

    def __init__(self, option: str, rule: str, value: Any):
        self.option, self.rule, self.value = option, rule, value
        super().__init__(f"`{option}` must be {rule}; got {value!r}")


@dataclass(frozen=True)
class EvaluateOptions:
    """Every option of an evaluation and its default (the command line's flags take theirs here).

    ``kind``: what the prediction holds, ``"auto"`` = decided on the first batch.
    ``task``: ``"multiclass"``, ``"binary"`` (one column of P(y=1) or a logit, or two
    columns; labels 0/1 or two class names), ``"multilabel"`` (K prediction columns, K 0/1
    label columns) or ``"auto"`` (decided on the first batch when only one reading fits).
    ``apply_temperature``: divide the logits by this T before evaluating (a temperature
    fitted elsewhere; logits and log-probabilities only).
    ``ignore_index``: the label of ignored rows. ``missing_labels``: ``"error"`` or
    ``"ignore"`` (count the rows as ignored). ``on_invalid``: ``"error"`` or ``"skip"``
    (reject the rows that fail validation and count them). ``input_format``: ``"auto"`` or
    one of :data:`crossentropy.io.FORMATS`. ``bins``, ``bootstrap``, ``seed``, ``base``
    (``"e"``, 2 or ``"2"``, any number > 0 and ≠ 1): the :class:`~crossentropy.Accumulator`'s. ``temperature``: fit T (more
    passes). ``batch_size``: rows per batch. ``progress``: show progress.

    >>> EvaluateOptions(base="2").base, EvaluateOptions().bins
    (2, 15)
    >>> EvaluateOptions(batch_size=0)
    Traceback (most recent call last):
    ...
    crossentropy.evaluate_options.OptionError: `batch_size` must be an integer in [1, 2**63 - 1]; got 0
    """

    kind: Kind = "auto"
    task: str = "auto"
    ignore_index: int = IGNORE_INDEX
    missing_labels: str = "error"
    on_invalid: str = "error"
    input_format: str = "auto"
    bins: int = 15
    temperature: bool = False
    bootstrap: int = 0
    seed: int = 0
    base: Any = "e"
    batch_size: int = 65536
    progress: bool = False
    apply_temperature: float | None = None

    def __post_init__(self) -> None:
        v.check_option("kind", self.kind, KINDS)
        v.check_option("task", self.task, TASKS)
        T = self.apply_temperature
        if T is not None:
            if isinstance(T, bool) or not isinstance(T, (int, float, np.floating, np.integer)):
                raise OptionError("apply_temperature", "a finite number > 0", T)
            if not (np.isfinite(T) and T > 0):
                raise OptionError("apply_temperature", "a finite number > 0", T)
            if self.temperature:
                raise OptionError(
                    "apply_temperature", "unset when temperature is fitted (fit or apply)", T
                )
            object.__setattr__(self, "apply_temperature", float(T))
        v.check_option("missing_labels", self.missing_labels, MISSING_LABELS)
        v.check_option("on_invalid", self.on_invalid, ON_INVALID)
        v.check_option("input_format", self.input_format, ("auto", *io.FORMATS))
        for name, (low, high, rule) in INTEGER_RANGES.items():
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not low <= value <= high
            ):
                raise OptionError(name, rule, value)
            object.__setattr__(self, name, int(value))
        base = 2 if str(self.base) == "2" else self.base
        log_base(base)  # raises on a base that is not a positive number ≠ 1
        object.__setattr__(self, "base", base)
