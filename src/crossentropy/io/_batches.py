"""The :class:`Batch` record and :func:`read_batches`: files → batches of ``batch_size`` rows
(a file's last may be shorter), whatever the format's own chunking."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._columns import Layout, Schema, check_same_columns, resolve
from ._labels import parse_labels
from ._open import open_table
from ._paired import pair
from ._table import SchemaError, concat_columns, num_rows


@dataclass
class Batch:
    """Up to ``batch_size`` rows of one file.

    ``pred``: float64 (n, C). ``target``: int64 (n,) class indices or float64 (n, C)
    distributions. ``weight``: float64 (n,) or ``None``. ``offset``: the file row of
    the first row. ``missing``: bool (n,) rows whose label is missing, or ``None``.
    ``label_problems``: reason → bool (n,) mask of the rows whose label is invalid (not a
    class index or name, not a whole number, beyond the 64-bit integers; the reason quotes
    the first values); ``bad_labels`` is their union and ``bad_label_values`` the first
    offending values.
    """

    pred: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    path: str
    offset: int
    missing: np.ndarray | None = None
    bad_labels: np.ndarray | None = None
    bad_label_values: list = field(default_factory=list)
    label_problems: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.pred.shape[0])


def _as_matrix(cols: dict, names: Sequence[str], path: str, offset: int, role: str) -> np.ndarray:
    arrays = [cols[n] for n in names]
    if len(arrays) == 1 and np.ndim(arrays[0]) == 2:
        a = arrays[0]
    else:
        for n, a in zip(names, arrays, strict=True):
            if np.ndim(a) != 1:
                raise SchemaError(f"{path}: {role} column {n!r} is not a scalar column")
        a = np.column_stack(arrays) if arrays else np.empty((0, 0))
    if a.dtype.kind not in "fiu":
        raise SchemaError(f"{path}: {role} columns hold {a.dtype}, expected numbers")
    return np.ascontiguousarray(a, dtype=np.float64)


def read_batches(
    paths: Sequence[str],
    schema: Schema,
    *,
    batch_size: int = 65536,
    input_format: str = "auto",
    on_layout=None,
) -> Iterator[Batch]:
    """Stream :class:`Batch` objects from every file in turn.

    Every file must resolve to the same columns and number of classes as the first
    (else :class:`SchemaError` naming both files). ``on_layout(path, table, layout)``
    is called once per file before its first batch.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.npz")
    >>> np.savez(p, logits=np.zeros((5, 3)), target=np.arange(5) % 3)
    >>> [(b.offset, len(b)) for b in read_batches([p], Schema(), batch_size=2)]
    [(0, 2), (2, 2), (4, 1)]
    """
    if batch_size < 1:
        raise SchemaError(f"--batch-size must be ≥ 1, got {batch_size}")
    first: tuple[str, Layout] | None = None
    for path in paths:
        table = pair(
            open_table(path, input_format=input_format, na_values=schema.na_values),
            schema.target_file,
        )
        path = table.path  # "-" is read as "<stdin>"
        layout = resolve(table, schema)
        if first is not None:
            check_same_columns(first[0], first[1], path, layout)
        else:
            first = (path, layout)
        if on_layout is not None:
            on_layout(path, table, layout)
        types = {n: "float" for n in layout.pred}
        if not layout.soft_target:
            types[layout.target[0]] = (
                "string" if layout.label_kind in ("text", "string") else "label"
            )
        else:
            types.update({n: "float" for n in layout.target})
        if layout.weight:
            types[layout.weight] = "float"
        needed = list(
            dict.fromkeys(
                list(layout.target) + list(layout.pred) + ([layout.weight] if layout.weight else [])
            )
        )
        for offset, cols in _rebatch(table.batches(needed, batch_size, types), batch_size):
            pred = _as_matrix(cols, layout.pred, path, offset, "prediction")
            labels = None
            if layout.soft_target:
                target = _as_matrix(cols, layout.target, path, offset, "target")
                if target.shape[1] != pred.shape[1]:
                    raise SchemaError(
                        f"{path}: the target distribution has {target.shape[1]} classes but the "
                        f"prediction has {pred.shape[1]} (rows from {offset})"
                    )
            else:
                labels = parse_labels(cols[layout.target[0]], layout, schema, path)
                target = labels.target
            weight = None
            if layout.weight:
                weight = np.ascontiguousarray(cols[layout.weight], dtype=np.float64)
            if labels is None:
                yield Batch(pred, target, weight, path, offset)
                continue
            bad = labels.bad
            shown = [] if bad is None else _first_values(cols[layout.target[0]], bad)
            yield Batch(
                pred, target, weight, path, offset, labels.missing, bad, shown, labels.problems
            )


def _first_values(col, bad: np.ndarray, limit: int = 3) -> list:
    """The first ``limit`` label values at ``bad`` rows, as read (text, int or float)."""
    rows = np.flatnonzero(bad)[:limit]
    out = []
    for i in rows.tolist():
        v = col[i]
        v = v.as_py() if hasattr(v, "as_py") else v
        out.append(v.item() if isinstance(v, np.generic) else v)
    return out


def _rebatch(pieces, batch_size: int):
    """Regroup ``(offset, cols)`` pieces into exactly ``batch_size`` rows (the last may be
    shorter), so batch boundaries never depend on the file format's own chunking."""
    pending: list[dict] = []
    have = 0
    start = 0
    for offset, cols in pieces:
        n = num_rows(cols)
        if not pending:
            start = offset
        pending.append(cols)
        have += n
        while have >= batch_size:
            merged = concat_columns(pending)
            head = {k: v[:batch_size] for k, v in merged.items()}
            tail = {k: v[batch_size:] for k, v in merged.items()}
            yield start, head
            start += batch_size
            have -= batch_size
            pending = [tail] if have else []
    if have:
        yield start, concat_columns(pending)
