"""Labels in a file of their own (``--target-file``): the ``logits.npy`` + ``labels.npy`` layout.

:func:`pair` joins a prediction table and a labels file row for row into one :class:`Table`
whose columns are the prediction file's plus ``"target"`` (the labels), so column
resolution, batching and validation are those of a single file. The labels file is an NPY
array, (N,) class indices or (N, K) 0/1 labels (one column each: ``target_0`` …), read by
memory map so memory stays one batch; both files must have the same number of rows.

>>> import os, tempfile, numpy as np
>>> d = tempfile.mkdtemp()
>>> np.save(os.path.join(d, "logits.npy"), np.zeros((3, 2)))
>>> np.save(os.path.join(d, "labels.npy"), np.array([0, 1, 1]))
>>> from ._open import open_table
>>> t = pair(open_table(os.path.join(d, "logits.npy")), os.path.join(d, "labels.npy"))
>>> list(t.columns), t.num_rows
(['0', '1', 'target'], 3)
"""

from __future__ import annotations

import os

import numpy as np

from ._table import Column, FileError, SchemaError, Table

__all__ = ["pair", "PairedTable"]


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


def pair(table: Table, labels_path: str | None) -> Table:
    """``table`` joined to the labels of ``labels_path`` (or ``table`` itself when None)."""
    return table if labels_path is None else PairedTable(table, labels_path)
