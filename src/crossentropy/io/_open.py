"""Opening a file: its format (from the extension, else its first bytes) and the
:class:`~crossentropy.io.Table` that reads it."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._arrow import ArrowTable, ParquetTable
from ._csv import CsvTable
from ._npy import NpyTable, NpzTable
from ._table import FileError, SchemaError, Table

FORMATS = ("csv", "parquet", "arrow", "npz", "npy")


def _check_path(path: str) -> None:
    if os.path.isdir(path):
        raise FileError(f"{path}: is a directory; pass the files inside it (e.g. {path}/*.parquet)")
    if not os.path.exists(path):
        raise FileError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise FileError(f"{path}: permission denied (not readable)")
    if os.path.getsize(path) == 0:
        raise FileError(f"{path}: file is empty (0 bytes)")


def detect_format(path: str) -> str:
    """The format from the file's extension, else from its first bytes.

    >>> detect_format("preds.parquet")
    'parquet'
    """
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    by_ext = {
        "csv": "csv",
        "txt": "csv",
        "tsv": "csv",
        "parquet": "parquet",
        "pq": "parquet",
        "arrow": "arrow",
        "feather": "arrow",
        "ipc": "arrow",
        "arrows": "arrow",
        "npz": "npz",
        "npy": "npy",
    }
    if ext in by_ext:
        return by_ext[ext]
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return "csv"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return "arrow"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:2] == b"PK":
        return "npz"
    return "csv"


def open_table(path: str, *, input_format: str = "auto", na_values: Sequence[str] = ()) -> Table:
    """Open ``path`` as a :class:`Table` (format from the extension or magic bytes).

    >>> import os, tempfile, numpy as np
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.npy")
    >>> np.save(p, np.array([[0.0, 1.0, 2.0]]))
    >>> t = open_table(p); (t.format, list(t.columns), t.num_rows)
    ('npy', ['0', '1', '2'], 1)
    """
    _check_path(path)
    fmt = detect_format(path) if input_format == "auto" else input_format
    if fmt not in FORMATS:
        raise SchemaError(f"input format {fmt!r} unknown; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return CsvTable(path, na_values)
    if fmt == "parquet":
        return ParquetTable(path)
    if fmt == "arrow":
        return ArrowTable(path)
    if fmt == "npz":
        return NpzTable(path)
    return NpyTable(path)
