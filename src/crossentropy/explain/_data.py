"""The walk-through's records (:class:`Data` … :class:`Walkthrough`), its inputs (the bundled
example, a prediction file read by the evaluation pipeline), its constants and the helpers
every answer uses (number formatting, the observed rows)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from .. import io, pipeline
from .._options import IGNORE_INDEX
from .._types import ConcreteKind, ConcreteTask, Impl, Kind
from ..kinds import positive_column, to_log_probs

# The reference (array-API) path: exact, and no compiled kernel to load for a short run.
_IMPL: Impl = "array_api"
RTOL = 1e-12
SHARPNESS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TRAIN_STEPS = 200
TRAIN_LR = 2.0
TRAIN_SHOWN = (0, 1, 2, 5, 10, 20, 50, 100, 200)


# ----------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Step:
    """One link of the chain: its name, its formula and its value on the data."""

    name: str
    formula: str
    value: float
    note: str = ""


@dataclass(frozen=True)
class Identity:
    """``lhs == rhs`` (to ``RTOL`` of ``scale``), evaluated on the data."""

    name: str
    lhs: float
    rhs: float
    holds: bool


@dataclass(frozen=True)
class Section:
    """The answer to one of the notes' questions: text lines and the numbers in them."""

    number: int
    title: str
    lines: tuple[str, ...]
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Data:
    """What the walk-through runs on.

    ``pred`` (N, C) float64 of kind ``kind``; ``target`` (N,) integer labels or (N, C)
    distributions; ``sample_weight`` (N,) or None. For the bundled example also the
    features and labels of both splits (``X_train`` ... ``y_test``), which sections 3
    and 8 use to fit models.

    ``task`` (docs/semantics.md §10.1): for ``"binary"`` ``pred`` is (N,), P(y=1) or its
    logit (or log P(y=1)) and ``target`` (N,) of 0/1 (``ignore_index`` masks a row); for
    ``"multilabel"`` ``pred`` and ``target`` are (N, K), one Bernoulli label per column,
    named by ``label_names`` when the file names them.
    """

    pred: np.ndarray
    target: np.ndarray
    kind: ConcreteKind
    source: str
    sample_weight: np.ndarray | None = None
    ignore_index: int = IGNORE_INDEX
    bundled: bool = False
    X_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    task: ConcreteTask = "multiclass"
    label_names: tuple[str, ...] | None = None

    @property
    def hard(self) -> bool:
        return self.target.ndim == 1

    @property
    def splits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(X_train, y_train, X_test, y_test)`` when all four are given (the bundled example)."""
        X, y, Xt, yt = self.X_train, self.y_train, self.X_test, self.y_test
        if X is None or y is None or Xt is None or yt is None:
            return None
        return X, y, Xt, yt


@dataclass(frozen=True)
class Walkthrough:
    """The whole walk-through: the chain's steps, its identities and the nine answers."""

    source: str
    n: int
    num_classes: int
    kind: ConcreteKind
    steps: tuple[Step, ...]
    identities: tuple[Identity, ...]
    sections: tuple[Section, ...]
    curves: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # why some numbers are infinite (probability 0), …
    task: ConcreteTask = "multiclass"  # binary / multilabel: the Bernoulli walk-through


# ----------------------------------------------------------------------------- helpers
def _f(x: float, digits: int = 6) -> str:
    """A number for the text: ``digits`` significant digits, ``inf``/``nan`` spelled out."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _fixed(x: float, width: int = 10, decimals: int = 6) -> str:
    """Fixed-point display; a value that rounds to zero shows as 0 whatever its sign."""
    text = f"{float(x):{width}.{decimals}f}"
    return text.replace("-0." + "0" * decimals, " 0." + "0" * decimals)


def _close(
    a: float,
    b: float,
    *,
    scale: float | None = None,
    rtol: float = RTOL,
    undefined: bool = False,
) -> bool:
    """``a == b`` up to ``rtol`` relative to ``max(|a|, |b|, |scale|)``; equal infinities hold,
    and two NaNs hold when the value is ``undefined`` (a mean over no example: 0/0)."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return undefined and math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    s = max(abs(a), abs(b)) if scale is None else max(abs(a), abs(b), abs(scale))
    return abs(a - b) <= rtol * s or a == b


def _identity(
    name: str,
    lhs: float,
    rhs: float,
    *,
    scale: float | None = None,
    rtol: float = RTOL,
    undefined: bool = False,
) -> Identity:
    holds = _close(lhs, rhs, scale=scale, rtol=rtol, undefined=undefined)
    return Identity(name, float(lhs), float(rhs), holds)


class _Masks(TypedDict):
    """The masking options of the core's functions, as the answers pass them."""

    sample_weight: np.ndarray | None
    ignore_index: int


class _Core(TypedDict):
    """The prediction kind and the path of the core's functions, as the answers pass them."""

    kind: Kind
    impl: Impl


def _opts(sample_weight: np.ndarray | None, ignore_index: int) -> _Masks:
    return {"sample_weight": sample_weight, "ignore_index": ignore_index}


def _core(kind: Kind) -> _Core:
    return {"kind": kind, "impl": _IMPL}


def _log10_text(log_e: float) -> str:
    """``exp(log_e)`` written as ``10^k`` (exact where the float would underflow)."""
    if math.isinf(log_e):
        return "0" if log_e < 0 else "inf"
    return f"10^{log_e / math.log(10):.2f}"


def _probs(data: Data) -> np.ndarray:
    return np.exp(np.asarray(to_log_probs(data.pred, kind=data.kind)))


def _observed_mask(data: Data) -> np.ndarray:
    """Rows that count (not ignored, nonzero weight)."""
    keep = np.ones(data.pred.shape[0], dtype=bool)
    if data.hard:
        keep &= data.target != data.ignore_index
    else:
        keep &= data.target.sum(axis=1) > 0
    if data.sample_weight is not None:
        keep &= data.sample_weight > 0
    return keep


# ----------------------------------------------------------------------------- inputs
BUNDLED_FIRST_LINE = (
    "Explaining the bundled example: 539 held-out UCI handwritten digits scored by a softmax "
    "regression (run `crossentropy explain YOUR_FILE --target COL --pred 'COLS'` for your own "
    "predictions)."
)


def bundled_data() -> Data:
    """The bundled digits example as :class:`Data` (held-out logits plus both splits' pixels)."""
    from ..examples import load_example

    ex = load_example()
    return Data(
        pred=ex.logits,
        target=ex.target,
        kind="logits",
        source=BUNDLED_FIRST_LINE,
        bundled=True,
        X_train=ex.X_train,
        y_train=ex.y_train,
        X_test=ex.X_test,
        y_test=ex.y_test,
    )


def load(options: pipeline.EvaluateOptions, source: pipeline.Source, *, say: Any = None) -> Data:
    """Every row of ``source``'s files as :class:`Data`, read and validated as
    ``crossentropy evaluate`` reads them (:func:`crossentropy.pipeline.read_all`).

    Raises the reader's :class:`crossentropy.io.InputError` subclasses; ``say`` receives the
    note on the kind decided (``options.kind="auto"``).
    """
    P, T, W, _ = pipeline.read_all(options, source, say=say)
    path = ", ".join(source.files)
    if P.shape[0] == 0:
        raise io.DataError(f"{path}: no rows; nothing to explain")
    task = source.task or "multiclass"  # decided by the pipeline, as evaluate decides it
    kind = source.kind or "logits"
    names = None
    if task == "binary":
        # one column of the positive class (two columns: the classes 0 and 1), as evaluate reads it
        P = _positive(P, kind, path) if P.shape[1] == 2 else P[:, 0]
        what = "binary task (one Bernoulli label each)"
    elif task == "multilabel":
        lay = source.layout
        if lay is not None and len(lay.target) == P.shape[1]:
            names = tuple(lay.target)
        what = f"{P.shape[1]} labels (multi-label: one Bernoulli label per column)"
    else:
        what = f"{P.shape[1]} classes"
    first = (
        f"Explaining {path}: {P.shape[0]} examples, {what} "
        f"(run `crossentropy explain` without a file for the bundled example)."
    )
    return Data(
        pred=P,
        target=T,
        kind=kind,
        source=first,
        sample_weight=W,
        ignore_index=options.ignore_index,
        task=task,
        label_names=names,
    )


def _positive(P: np.ndarray, kind: str, path: str) -> np.ndarray:
    """Two binary columns as the positive class's column, by evaluate's rule
    (:func:`crossentropy.kinds.positive_column`); a row that is not a distribution is a
    :class:`crossentropy.io.DataError` naming the file."""
    try:
        return positive_column(P, kind)[:, 0]
    except ValueError as e:
        raise io.DataError(f"{path}: {e}") from None


def read_data(
    path: str,
    *,
    target: str | None = None,
    pred: str | None = None,
    weight: str | None = None,
    say: Any = None,
    **options: Any,
) -> Data:
    """Read a whole prediction file (the formats of ``crossentropy evaluate``) into :class:`Data`.

    ``target``, ``pred``, ``weight``: the columns (:class:`crossentropy.io.Schema`);
    ``options``: :class:`crossentropy.pipeline.EvaluateOptions` fields (``kind``,
    ``ignore_index``, ``input_format``, ``missing_labels``, ``on_invalid``). See :func:`load`.
    """
    schema = io.Schema(target=target, pred=pred, weight=weight)
    return load(pipeline.EvaluateOptions(**options), pipeline.Source([path], schema), say=say)
