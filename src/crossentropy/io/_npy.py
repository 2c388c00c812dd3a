"""NPY and NPZ tables, read in row blocks without unpickling anything.

NPY: a structured array's fields are its columns, a plain (N, K) array has the columns
``"0"`` … ``"K-1"``; Fortran-ordered arrays are memory-mapped. NPZ: each member is streamed
from the archive; arrays of shape (N,) are scalar columns, (N, K) vector columns.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from ._table import Column, FileError, SchemaError, Table, _short


def _read_npy_header(fp, path: str):
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            shape, fortran, dtype = fmt._read_array_header(fp, version)
    except ValueError as e:
        raise FileError(f"file truncated or not NPY: {path} ({_short(e)})") from None
    if dtype.hasobject:
        raise FileError(
            f"{path}: holds pickled Python objects (dtype {dtype}); they are never loaded "
            "(allow_pickle=False). Save plain numeric arrays (np.savez(..., logits=..., target=...))."
        )
    return shape, fortran, dtype


def _dtype_kind(dtype: np.dtype) -> str:
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iu":
        return "int"
    if dtype.kind == "f":
        return "float"
    if dtype.kind in "US":
        return "string"
    return "other"


class NpyTable(Table):
    """An NPY file read in row blocks by plain file reads (C order), so memory stays one
    block whatever the file size; Fortran-ordered arrays are memory-mapped and sliced."""

    format = "npy"

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            shape, fortran, dtype = _read_npy_header(f, path)  # refuses pickles
            self._data_offset = f.tell()
        self._shape, self._fortran, self._dtype = shape, fortran, dtype
        need = self._data_offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if os.path.getsize(path) < need:
            raise FileError(
                f"file truncated or not NPY: {path} (expected {need} bytes, found "
                f"{os.path.getsize(path)})"
            )
        if dtype.names:
            if len(shape) != 1:
                raise SchemaError(f"{path}: a structured array must be 1-D, got shape {shape}")
            self.columns = {}
            for n in dtype.names:
                sub = dtype.fields[n][0]
                width = None
                if sub.shape:
                    if len(sub.shape) != 1:
                        raise SchemaError(f"{path}: field {n!r} has shape {sub.shape}; need (K,)")
                    width = sub.shape[0]
                self.columns[n] = Column(n, width, _dtype_kind(sub.base))
        else:
            if len(shape) != 2:
                raise SchemaError(
                    f"{path}: a plain NPY array must be 2-D (rows × columns), got shape {shape}; "
                    "or save a structured array with named fields"
                )
            self.columns = {
                str(j): Column(str(j), None, _dtype_kind(dtype)) for j in range(shape[1])
            }
        self.num_rows = int(shape[0])

    def _blocks(self, batch_size):
        shape, dtype = self._shape, self._dtype
        if self._fortran and len(shape) == 2:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
            for start in range(0, self.num_rows, batch_size):
                yield start, np.array(arr[start : start + batch_size])
            return
        per_row = (
            int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        ) * dtype.itemsize
        with open(self.path, "rb") as f:
            f.seek(self._data_offset)
            for start in range(0, self.num_rows, batch_size):
                n = min(batch_size, self.num_rows - start)
                buf = f.read(n * per_row)
                if len(buf) != n * per_row:
                    raise FileError(f"file truncated or not NPY: {self.path}")
                yield start, np.frombuffer(buf, dtype=dtype).reshape((n,) + tuple(shape[1:]))

    def batches(self, names, batch_size, column_types):
        structured = self._dtype.names is not None
        for start, part in self._blocks(batch_size):
            if structured:
                yield start, {n: np.array(part[n]) for n in names}
            else:
                yield start, {n: np.array(part[:, int(n)]) for n in names}


class NpzTable(Table):
    """Streams each member of an NPZ archive (stored or deflated) row block by row block."""

    format = "npz"

    def __init__(self, path: str):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            members = [i for i in self._zip.infolist() if i.filename.endswith(".npy")]
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise FileError(f"file truncated or not NPZ: {path} ({_short(e)})") from None
        if not members:
            raise FileError(f"{path}: NPZ archive holds no arrays")
        self._info = {}
        self.columns = {}
        for info in members:
            name = info.filename[:-4]
            try:
                with self._zip.open(info) as fp:
                    shape, fortran, dtype = _read_npy_header(fp, f"{path}[{name}]")
            except (zipfile.BadZipFile, OSError, EOFError) as e:
                raise FileError(f"file truncated or not NPZ: {path} ({_short(e)})") from None
            self._info[name] = (info, shape, fortran, dtype)
            width = shape[1] if len(shape) == 2 else None
            kind = _dtype_kind(dtype) if len(shape) in (1, 2) else "other"
            self.columns[name] = Column(name, width, kind)
        self.num_rows = None  # depends on the columns chosen

    def rows_of(self, name: str) -> int:
        shape = self._info[name][1]
        return int(shape[0]) if shape else 0

    def batches(self, names, batch_size, column_types):
        lengths = {n: self.rows_of(n) for n in names}
        if len(set(lengths.values())) > 1:
            raise SchemaError(
                f"{self.path}: the chosen arrays have different numbers of rows: "
                + ", ".join(f"{n}: {k}" for n, k in lengths.items())
            )
        n_rows = next(iter(lengths.values()))
        readers = {}
        try:
            for n in names:
                info, shape, fortran, dtype = self._info[n]
                if fortran and len(shape) == 2:
                    with self._zip.open(info) as fp:
                        readers[n] = ("array", np.lib.format.read_array(fp, allow_pickle=False))
                else:
                    fp = self._zip.open(info)
                    _read_npy_header(fp, self.path)
                    readers[n] = ("stream", fp)
            for start in range(0, n_rows, batch_size):
                stop = min(start + batch_size, n_rows)
                cols = {}
                for n in names:
                    info, shape, fortran, dtype = self._info[n]
                    how, src = readers[n]
                    if how == "array":
                        cols[n] = np.array(src[start:stop])
                        continue
                    per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
                    nbytes = (stop - start) * per_row * dtype.itemsize
                    buf = src.read(nbytes)
                    if len(buf) != nbytes:
                        raise FileError(f"file truncated or not NPZ: {self.path} (array {n!r})")
                    a = np.frombuffer(buf, dtype=dtype)
                    cols[n] = a.reshape((stop - start,) + tuple(shape[1:])) if len(shape) > 1 else a
                yield start, cols
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            raise FileError(f"file truncated or not NPZ: {self.path} ({_short(e)})") from None
        finally:
            for how, src in readers.values():
                if how == "stream":
                    src.close()
