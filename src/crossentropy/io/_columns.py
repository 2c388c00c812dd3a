"""Which columns hold what: the :class:`Schema` a user gives, column names and globs, and
the :class:`Layout` it resolves to on one file."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._npy import NpzTable
from ._table import SchemaError, Table

TARGET_NAMES = ("target", "targets", "label", "labels", "y", "y_true")
PRED_NAMES = (
    "logits",
    "probs",
    "probabilities",
    "log_probs",
    "pred",
    "preds",
    "prediction",
    "predictions",
    "y_pred",
    "y_prob",
)


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``logit_2 < logit_10``.

    >>> sorted(["logit_10", "logit_2", "logit_1"], key=natural_key)
    ['logit_1', 'logit_2', 'logit_10']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


@dataclass(frozen=True)
class Schema:
    """Which columns hold what.

    ``target``, ``pred``: ``None`` (use a conventional name, see ``TARGET_NAMES`` and
    ``PRED_NAMES``; for ``pred`` otherwise every remaining column) or a
    comma-separated list of column names and glob patterns (``"logit_*"``), glob
    matches in natural order. One scalar target column holds class indices (or
    names); several columns or one vector column hold a distribution.
    ``weight``: the sample-weight column or ``None``.
    ``classes``: class names (labels given as text are mapped to their position).
    ``na_values``: CSV label strings that mean a missing label.
    ``target_file``: a file holding the labels row for row beside each prediction file (NPY:
    columns ``target`` or ``target_0`` …; CSV, Parquet, Arrow IPC, NPZ: its own columns, never
    taken as predictions; see :mod:`crossentropy.io._paired`), or ``None``.
    """

    target: str | None = None
    pred: str | None = None
    weight: str | None = None
    classes: tuple[str, ...] | None = None
    na_values: tuple[str, ...] = ()
    target_file: str | None = None


def resolve_columns(spec: str, available: Sequence[str], *, role: str, path: str) -> list[str]:
    """Column names for ``spec``: comma-separated names and globs, globs in natural order.

    >>> resolve_columns("logit_*", ["y", "logit_10", "logit_2"], role="--pred", path="f.csv")
    ['logit_2', 'logit_10']
    """
    out: list[str] = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        if any(ch in item for ch in "*?["):
            hits = sorted((c for c in available if fnmatch.fnmatchcase(c, item)), key=natural_key)
            if not hits:
                raise SchemaError(
                    f"{role} {item!r}: no column of {path} matches; available columns: "
                    f"{_list(available)}"
                )
            out.extend(h for h in hits if h not in out)
        else:
            if item not in available:
                raise SchemaError(
                    f"{role}: column {item!r} not found in {path}; available columns: "
                    f"{_list(available)}"
                )
            if item not in out:
                out.append(item)
    if not out:
        raise SchemaError(f"{role}: no column named (got {spec!r})")
    return out


def _list(names: Sequence[str], limit: int = 30) -> str:
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (f", … ({len(names)} in all)" if len(names) > limit else "")


@dataclass(frozen=True)
class Layout:
    """The resolved columns of one file: what the stream reads and how."""

    target: tuple[str, ...]
    pred: tuple[str, ...]
    weight: str | None
    num_classes: int
    soft_target: bool
    label_kind: str  # "int", "float", "string", "text" (CSV) or "vector"

    def signature(self) -> tuple:
        return (self.target, self.pred, self.weight, self.num_classes, self.soft_target)


def check_same_columns(first_path: str, first: Layout, path: str, layout: Layout) -> None:
    """Raise :class:`SchemaError` naming both files when ``layout`` differs from the first file's."""
    if layout.signature() != first.signature():
        a, b = first, layout
        raise SchemaError(
            f"mixed schemas: {first_path} has target {list(a.target)}, prediction "
            f"{list(a.pred)} ({a.num_classes} classes), weight {a.weight}; {path} has "
            f"target {list(b.target)}, prediction {list(b.pred)} ({b.num_classes} classes), "
            f"weight {b.weight}. Every file must have the same columns"
        )


def resolve(table: Table, schema: Schema) -> Layout:
    """Resolve ``schema`` against ``table``'s columns; raise :class:`SchemaError` naming them."""
    names = list(table.columns)
    path = getattr(table, "where", table.path)  # a --target-file's table names both files
    # target
    if schema.target is None:
        hits = [n for n in TARGET_NAMES if n in table.columns]
        if not hits:
            raise SchemaError(
                f"{path}: no target column found (looked for {', '.join(TARGET_NAMES)}); "
                f"pass --target COL; available columns: {_list(names)}"
            )
        target = [hits[0]]
    else:
        target = resolve_columns(schema.target, names, role="--target", path=path)
    weight: str | None = None
    if schema.weight is not None:
        weights = resolve_columns(schema.weight, names, role="--weight-col", path=path)
        if len(weights) != 1:
            raise SchemaError(f"--weight-col must name one column, got {weights}")
        weight = weights[0]
    # pred
    if schema.pred is None:
        labels_file = set(getattr(table, "label_columns", ()))  # never predictions
        conventional = [
            n for n in PRED_NAMES if n in table.columns and n not in target and n not in labels_file
        ]
        if conventional:
            pred = [conventional[0]]
        else:
            taken = set(target) | ({weight} if weight else set())
            taken |= set(getattr(table, "label_columns", ()))  # a --target-file's columns
            pred = [n for n in names if n not in taken]
            if isinstance(table, NpzTable) and len(target) == 1:
                n_rows = table.rows_of(target[0])
                pred = [n for n in pred if table.rows_of(n) == n_rows]
            if not pred:
                raise SchemaError(
                    f"{path}: no prediction columns; pass --pred COLS|GLOB; available columns: "
                    f"{_list(names)}"
                )
    else:
        pred = resolve_columns(schema.pred, names, role="--pred", path=path)
    overlap = set(pred) & (set(target) | ({weight} if weight else set()))
    if overlap:
        raise SchemaError(
            f"{path}: column(s) {_list(sorted(overlap))} used both as prediction and as "
            "target/weight; pass --pred to choose the prediction columns"
        )
    for n in pred + ([weight] if weight else []):
        c = table.columns[n]
        if c.dtype not in ("float", "int", "text"):
            raise SchemaError(
                f"{path}: column {n!r} has type {c.dtype}, expected numbers"
                + ("; pass --pred to choose the prediction columns" if schema.pred is None else "")
            )
    if weight and table.columns[weight].width is not None:
        raise SchemaError(f"{path}: --weight-col {weight!r} must be a scalar column")
    num_classes = _width(table, pred, "--pred")
    if len(target) == 1 and table.columns[target[0]].width is None:
        soft = False
        c = table.columns[target[0]]
        if c.dtype == "bool":
            raise SchemaError(
                f"{path}: target column {target[0]!r} is boolean; write class indices 0/1 "
                "(integers) or give the target as a distribution"
            )
        if c.dtype == "other":
            raise SchemaError(f"{path}: target column {target[0]!r} is neither numbers nor text")
        label_kind = c.dtype
    else:
        soft = True
        label_kind = "vector"
        k = _width(table, target, "--target")
        if k != num_classes and k != -1 and num_classes != -1:
            raise SchemaError(
                f"{path}: the target distribution has {k} classes but the prediction has "
                f"{num_classes}"
            )
    return Layout(tuple(target), tuple(pred), weight, num_classes, soft, label_kind)


def _width(table: Table, cols: Sequence[str], role: str) -> int:
    if len(cols) == 1:
        w = table.columns[cols[0]].width
        if w is not None:
            return w  # -1: a variable list column, checked per batch
        return 1
    for n in cols:
        if table.columns[n].width is not None:
            raise SchemaError(
                f"{table.path}: {role} mixes the vector column {n!r} with other columns; "
                "give either one list/tensor column or several scalar columns"
            )
    return len(cols)
