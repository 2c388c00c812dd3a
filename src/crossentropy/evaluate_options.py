"""The options of an evaluation of prediction files (:class:`EvaluateOptions`, each default
once; the command line's flags take theirs here) and :class:`OptionError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _validate as v
from . import io
from ._options import log_base
from ._types import Kind

__all__ = ["KINDS", "MISSING_LABELS", "ON_INVALID", "EvaluateOptions", "OptionError"]


KINDS = ("auto", "logits", "probs", "log_probs")
MISSING_LABELS = ("error", "ignore")
ON_INVALID = ("error", "skip")


class OptionError(ValueError):
    """An evaluate option outside its range; ``option`` names the field, ``rule`` the range."""

    def __init__(self, option: str, rule: str, value: Any):
        self.option, self.rule, self.value = option, rule, value
        super().__init__(f"`{option}` must be {rule}; got {value!r}")


@dataclass(frozen=True)
class EvaluateOptions:
    """Every option of an evaluation and its default (the command line's flags take theirs here).

    ``kind``: what the prediction holds, ``"auto"`` = decided on the first batch.
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
    crossentropy.evaluate_options.OptionError: `batch_size` must be ≥ 1; got 0
    """

    kind: Kind = "auto"
    ignore_index: int = -100
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

    def __post_init__(self) -> None:
        v.check_option("kind", self.kind, KINDS)
        v.check_option("missing_labels", self.missing_labels, MISSING_LABELS)
        v.check_option("on_invalid", self.on_invalid, ON_INVALID)
        v.check_option("input_format", self.input_format, ("auto", *io.FORMATS))
        for name, low in (("batch_size", 1), ("bins", 1), ("bootstrap", 0)):
            if getattr(self, name) < low:
                raise OptionError(name, f"≥ {low}", getattr(self, name))
        base = 2 if str(self.base) == "2" else self.base
        log_base(base)  # raises on a base that is not a positive number ≠ 1
        object.__setattr__(self, "base", base)
