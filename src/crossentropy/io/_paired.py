"""Labels in a file of their own (``--target-file``): the ``logits.npy`` + ``labels.npy`` layout.

:func:`pair` joins a prediction table and a labels file row for row into one :class:`Table`
whose columns are the prediction file's plus the labels file's, so column resolution,
batching and validation are those of a single file. An NPY labels file is an array, (N,)
class indices or (N, K) 0/1 labels (one column each: ``target`` or ``target_0`` …), read by
memory map. A labels file with named columns (CSV, Parquet, Arrow IPC, NPZ) adds its own
columns (``--target`` names the label column(s) among them; they are never taken as
predictions), read batch by batch through the same readers as prediction files. Memory
stays one batch; both files must have the same number of rows, and a column name in both
files is an error (it would be ambiguous).

>>> import os, tempfile, numpy as np
>>> d = tempfile.mkdtemp()
>>> np.save(os.path.join(d, "logits.npy"), np.zeros((3, 2)))
>>> np.save(os.path.join(d, "labels.npy"), np.array([0, 1, 1]))
>>> from ._open import open_table
>>> t = pair(open_table(os.path.join(d, "logits.npy")), os.path.join(d, "labels.npy"))
>>> list(t.columns), t.num_rows
(['0', '1', 'target'], 3)
>>> with open(os.path.join(d, "labels.csv"), "w") as f:
...     _ = f.write("id,label\\n7,0\\n8,1\\n9,1\\n")
>>> t = pair(open_table(os.path.join(d, "logits.npy")), os.path.join(d, "labels.csv"))
>>> list(t.columns), t.label_columns
(['0', '1', 'id', 'label'], ('id', 'label'))
"""

from __future__ import annotations

import os

import numpy as np

from ._open import detect_format, input_kind, open_table
from ._table import Column, FileError, InputError, SchemaError, Table, concat_columns, num_rows

__all__ = ["pair", "PairedTable", "JoinedTable"]


def _load(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileError(f"--target-file {path}: no such file")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as e:
        raise FileError(
            f"--target-file {path}: not a readable NPY array ({e}); save the labels with numpy.save"
        ) from None


class PairedTable(Table):
    """A prediction table and an NPY labels array, row for row."""

    def __init__(self, table: Table, labels_path: str):
        self.inner, self.path, self.format = table, table.path, table.format
        self.labels_path = labels_path
        self.labels = _load(labels_path)
        lab = self.labels
        if lab.ndim not in (1, 2) or lab.dtype.kind not in "iufb":
            raise SchemaError(
                f"--target-file {labels_path}: labels must be a numeric (N,) or (N, K) array, "
                f"got dtype {lab.dtype} and shape {lab.shape}"
            )
        if table.num_rows is not None and table.num_rows != lab.shape[0]:
            raise SchemaError(
                f"--target-file {labels_path} has {lab.shape[0]} rows but {table.path} has "
                f"{table.num_rows}; the labels must be row for row beside the predictions"
            )
        taken = set(table.columns)
        names = ["target"] if lab.ndim == 1 else [f"target_{k}" for k in range(lab.shape[1])]
        clash = [n for n in names if n in taken]
        if clash:
            raise SchemaError(
                f"{table.path} already has a column {clash[0]!r}; pass --target instead of "
                "--target-file"
            )
        kind = "int" if lab.dtype.kind in "iub" else "float"
        self.target_names = names
        self.label_columns = tuple(names)
        self.where = f"{table.path} with --target-file {labels_path}"
        self.columns = {**table.columns, **{n: Column(n, None, kind) for n in names}}
        self.num_rows = lab.shape[0]

    def batches(self, names, batch_size, column_types):
        mine = [n for n in names if n in self.target_names]
        theirs = [n for n in names if n not in self.target_names]
        seen = 0
        for offset, cols in self.inner.batches(theirs, batch_size, column_types):
            n = len(next(iter(cols.values()))) if cols else 0
            part = np.asarray(self.labels[offset : offset + n])
            if part.shape[0] != n:
                raise SchemaError(
                    f"--target-file {self.labels_path} has {self.labels.shape[0]} rows but "
                    f"{self.path} has more; the labels must be row for row beside the predictions"
                )
            if part.dtype.kind == "b":
                part = part.astype(np.int64)
            for j, name in enumerate(mine):
                cols[name] = part if part.ndim == 1 else np.ascontiguousarray(part[:, j])
            seen = offset + n
            yield offset, cols
        if seen != self.labels.shape[0]:
            raise SchemaError(
                f"--target-file {self.labels_path} has {self.labels.shape[0]} rows but "
                f"{self.path} has {seen}; the labels must be row for row beside the predictions"
            )


def _mismatch(labels_path: str, n_labels: int | str, path: str, n_pred: int | str) -> SchemaError:
    return SchemaError(
        f"--target-file {labels_path} has {n_labels} rows but {path} has {n_pred}; the labels "
        "must be row for row beside the predictions"
    )


class JoinedTable(Table):
    """A prediction table and a labels table with named columns (CSV, Parquet, Arrow IPC,
    NPZ), row for row: each batch of the prediction file takes the same rows of the labels
    file, read batch by batch (at most one batch of the labels file held)."""

    def __init__(self, table: Table, labels_path: str, labels: Table):
        self.inner, self.path, self.format = table, table.path, table.format
        self.labels_path, self.labels = labels_path, labels
        clash = [n for n in labels.columns if n in table.columns]
        if clash:
            raise SchemaError(
                f"--target-file {labels_path} and {table.path} both have a column "
                f"{clash[0]!r}; a column name must belong to one file (rename it in one of them)"
            )
        if (
            table.num_rows is not None
            and labels.num_rows is not None
            and table.num_rows != labels.num_rows
        ):
            raise _mismatch(labels_path, labels.num_rows, table.path, table.num_rows)
        self.label_columns = tuple(labels.columns)
        self.where = f"{table.path} with --target-file {labels_path}"
        self.columns = {**table.columns, **labels.columns}
        self.num_rows = table.num_rows if table.num_rows is not None else labels.num_rows

    def batches(self, names, batch_size, column_types):
        mine = [n for n in names if n in self.labels.columns]
        theirs = [n for n in names if n not in self.labels.columns]
        if not mine:
            yield from self.inner.batches(theirs, batch_size, column_types)
            return
        pieces = self.labels.batches(
            mine, batch_size, {n: column_types[n] for n in mine if n in column_types}
        )
        pending: list[dict] = []
        have = seen = 0
        for offset, cols in self.inner.batches(theirs, batch_size, column_types):
            n = num_rows(cols)
            while have < n:
                got = next(pieces, None)
                if got is None:
                    total = self.inner.num_rows
                    more = f"{total}" if total is not None else f"more (at least {offset + n})"
                    raise _mismatch(self.labels_path, seen + have, self.path, more)
                pending.append(got[1])
                have += num_rows(got[1])
            merged = concat_columns(pending)
            cols.update({k: v[:n] for k, v in merged.items()})
            rest = {k: v[n:] for k, v in merged.items()}
            have -= n
            pending = [rest] if have else []
            seen = offset + n
            yield offset, cols
        extra = have + sum(num_rows(c) for _, c in pieces)
        if extra:
            raise _mismatch(self.labels_path, seen + extra, self.path, seen)


def pair(table: Table, labels_path: str | None) -> Table:
    """``table`` joined to the labels of ``labels_path`` (or ``table`` itself when None): an
    NPY array (:class:`PairedTable`) or a file with named columns (:class:`JoinedTable`)."""
    if labels_path is None:
        return table
    try:
        npy = input_kind(labels_path) != "stream" and detect_format(labels_path) == "npy"
        labels = None if npy else open_table(labels_path)
    except InputError as e:
        raise type(e)(f"--target-file {e}") from None
    if labels is None:
        return PairedTable(table, labels_path)
    return JoinedTable(table, labels_path, labels)
