"""NPY and NPZ tables, read in row blocks without unpickling anything.

NPY: a structured array's fields are its columns, a plain (N, K) array has the columns
``"0"`` … ``"K-1"``; Fortran-ordered arrays are memory-mapped. NPZ: each member is streamed
from the archive; arrays of shape (N,) are scalar columns, (N, K) vector columns.

The NPY header is parsed here (format versions 1.0, 2.0 and 3.0, the last with a UTF-8
header), with ``ast.literal_eval`` and Python integers, so a crafted shape cannot wrap: a
file must hold exactly the bytes its header announces (a shorter one is truncated, a longer
one is corrupt or holds several arrays). NPZ members are checked against their ZIP entry
(encryption, compression method, size) and read to their end, so the archive's CRC-32 of
every member read is verified.
"""

from __future__ import annotations

import ast
import math
import os
import warnings
import zipfile
from dataclasses import dataclass

import numpy as np

from ._table import Column, FileError, SchemaError, Table, _short

_MAGIC = b"\x93NUMPY"
_VERSIONS = {(1, 0): (2, "latin1"), (2, 0): (4, "latin1"), (3, 0): (4, "utf8")}
_MAX_HEADER = 1 << 20  # bytes; numpy's own default limit is 10 000
_MAX_PLAIN_COLUMNS = 1 << 20  # a plain (N, K) array names its K columns one by one
#: ZIP methods Python's zipfile reads (0 stored, 8 deflate, 12 bzip2, 14 lzma).
_ZIP_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}
_ZIP_NAMES = {6: "implode", 9: "deflate64", 10: "implode", 18: "terse", 19: "lz77", 93: "zstd"}
_ZIP_NAMES |= {95: "xz", 96: "jpeg", 97: "wavpack", 98: "ppmd", 99: "aes-encrypted"}
#: What a damaged archive or member raises while it is read (zlib.error and lzma.LZMAError
#: are not OSError; bz2 raises OSError).
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
)
try:
    import zlib

    _ZIP_ERRORS += (zlib.error,)
except ImportError:  # pragma: no cover
    pass
try:
    import lzma

    _ZIP_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover
    pass


@dataclass(frozen=True)
class NpyHeader:
    """An NPY header: ``shape`` (Python ints), ``fortran`` order, ``dtype``, ``size`` (the
    header's own bytes, magic included) and ``nbytes`` (the data's bytes, a Python int)."""

    shape: tuple[int, ...]
    fortran: bool
    dtype: np.dtype
    size: int
    version: tuple[int, int]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read(fp, n: int, name: str, what: str) -> bytes:
    b = fp.read(n)
    if len(b) != n:
        raise FileError(f"file truncated or not NPY: {name} (ends inside the {what})")
    return b


def read_npy_header(fp, name: str) -> NpyHeader:
    """Parse the NPY header at ``fp``'s position (left just after it).

    >>> import io
    >>> b = io.BytesIO(); np.save(b, np.zeros((2, 3), "<f4")); _ = b.seek(0)
    >>> h = read_npy_header(b, "x.npy"); (h.shape, h.dtype.str, h.version, h.nbytes)
    ((2, 3), '<f4', (1, 0), 24)
    """
    magic = fp.read(8)
    if len(magic) < 8 or magic[:6] != _MAGIC:
        raise FileError(f"file truncated or not NPY: {name} (no NPY magic bytes)")
    version = (magic[6], magic[7])
    if version not in _VERSIONS:
        known = ", ".join(f"{a}.{b}" for a, b in _VERSIONS)
        raise FileError(
            f"{name}: NPY format version {version[0]}.{version[1]} is not supported "
            f"(known: {known}); corrupt, or written by a newer numpy"
        )
    len_bytes, encoding = _VERSIONS[version]
    hlen = int.from_bytes(_read(fp, len_bytes, name, "header length"), "little")
    if hlen > _MAX_HEADER:
        raise FileError(
            f"{name}: NPY header of {hlen} bytes (at most {_MAX_HEADER} are read); corrupt, "
            "or too many fields: save the arrays as NPZ members"
        )
    raw = _read(fp, hlen, name, "header")
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" in a damaged header
            warnings.simplefilter("ignore")
            d = ast.literal_eval(raw.decode(encoding))
    except (UnicodeDecodeError, SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        raise FileError(f"file corrupt or not NPY: {name} (the header is not readable)") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise FileError(
            f"file corrupt or not NPY: {name} (the header must be a dict of descr, "
            "fortran_order and shape)"
        )
    shape, fortran = d["shape"], d["fortran_order"]
    if not isinstance(shape, tuple) or not all(
        type(k) is int and k >= 0 for k in shape
    ):  # type(): a bool is not a dimension
        raise FileError(f"file corrupt or not NPY: {name} (shape {shape!r} is not valid)")
    if not isinstance(fortran, bool):
        raise FileError(f"file corrupt or not NPY: {name} (fortran_order {fortran!r})")
    try:
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except Exception:  # numpy raises TypeError, ValueError, KeyError … on a bad descr
        raise FileError(
            f"file corrupt or not NPY: {name} (dtype {_short_repr(d['descr'])} is not valid)"
        ) from None
    if dtype.hasobject:
        raise FileError(
            f"{name}: holds pickled Python objects (dtype {dtype}); they are never loaded "
            "(allow_pickle=False). Save plain numeric arrays (np.savez(..., logits=..., target=...))."
        )
    if dtype.subdtype is not None:  # a plain array of sub-arrays: numpy folds them into the shape
        dtype, sub = dtype.subdtype
        shape = shape + sub
    return NpyHeader(shape, fortran, dtype, 8 + len_bytes + hlen, version)


def _short_repr(x, limit: int = 60) -> str:
    s = repr(x)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _check_size(h: NpyHeader, have: int, name: str, fmt: str) -> None:
    """The file (or NPZ member) holds exactly the header and the data it announces."""
    need = h.size + h.nbytes
    if have < need:
        raise FileError(
            f"file truncated or not {fmt}: {name} (its header announces shape {h.shape} of "
            f"{h.dtype.str}: {need} bytes; found {have})"
        )
    if have > need:
        raise FileError(
            f"file corrupt: {name} has {have - need} bytes after the array its header "
            f"announces (shape {h.shape} of {h.dtype.str}); several arrays written into "
            "one file are not read: use NPZ"
        )


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


def _per_row(h: NpyHeader) -> int:
    return math.prod(h.shape[1:]) * h.dtype.itemsize


def _from_bytes(buf: bytes, h: NpyHeader, n: int) -> np.ndarray:
    return np.frombuffer(buf, dtype=h.dtype).reshape((n,) + h.shape[1:])


class NpyTable(Table):
    """An NPY file read in row blocks by plain file reads (C order), so memory stays one
    block whatever the file size; Fortran-ordered arrays are memory-mapped and sliced."""

    format = "npy"

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            h = read_npy_header(f, path)  # refuses pickles
        _check_size(h, os.path.getsize(path), path, "NPY")
        self._h = h
        if h.dtype.itemsize == 0 and h.shape and h.shape[0]:
            raise SchemaError(f"{path}: items of dtype {h.dtype.str} hold no data (size 0)")
        if h.dtype.names:
            if len(h.shape) != 1:
                raise SchemaError(f"{path}: a structured array must be 1-D, got shape {h.shape}")
            self.columns = {}
            for n in h.dtype.names:
                sub = h.dtype[n]
                width = None
                if sub.shape:
                    if len(sub.shape) != 1:
                        raise SchemaError(f"{path}: field {n!r} has shape {sub.shape}; need (K,)")
                    width = sub.shape[0]
                self.columns[n] = Column(n, width, _dtype_kind(sub.base))
        else:
            if len(h.shape) != 2:
                raise SchemaError(
                    f"{path}: a plain NPY array must be 2-D (rows × columns), got shape "
                    f"{h.shape}; or save a structured array with named fields"
                )
            if h.shape[1] > _MAX_PLAIN_COLUMNS:
                raise SchemaError(
                    f"{path}: a plain array of {h.shape[1]} columns (at most "
                    f"{_MAX_PLAIN_COLUMNS} are named one by one); save the predictions as one "
                    "NPZ member or a structured array with a vector field"
                )
            kind = _dtype_kind(h.dtype)
            self.columns = {str(j): Column(str(j), None, kind) for j in range(h.shape[1])}
        self.num_rows = h.shape[0]

    def _blocks(self, batch_size):
        h = self._h
        if h.fortran and len(h.shape) == 2:
            if self.num_rows == 0 or h.nbytes == 0:
                return
            arr = np.memmap(
                self.path, dtype=h.dtype, mode="r", offset=h.size, shape=h.shape, order="F"
            )
            for start in range(0, self.num_rows, batch_size):
                yield start, np.array(arr[start : start + batch_size])
            return
        per_row = _per_row(h)
        with open(self.path, "rb") as f:
            f.seek(h.size)
            for start in range(0, self.num_rows, batch_size):
                n = min(batch_size, self.num_rows - start)
                buf = f.read(n * per_row)
                if len(buf) != n * per_row:
                    raise FileError(
                        f"file truncated: {self.path} (shorter than when it was opened)"
                    )
                yield start, _from_bytes(buf, h, n)

    def batches(self, names, batch_size, column_types):
        structured = self._h.dtype.names is not None
        for start, part in self._blocks(batch_size):
            if structured:
                yield start, {n: np.array(part[n]) for n in names}
            else:
                yield start, {n: np.array(part[:, int(n)]) for n in names}


class NpzTable(Table):
    """Streams each member of an NPZ archive (stored or compressed) row block by row block."""

    format = "npz"

    def __init__(self, path: str):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
            members = [i for i in self._zip.infolist() if i.filename.endswith(".npy")]
        except _ZIP_ERRORS as e:
            raise FileError(f"file truncated or not NPZ: {path} ({_short(e)})") from None
        if not members:
            raise FileError(f"{path}: NPZ archive holds no arrays")
        self._info: dict[str, tuple[zipfile.ZipInfo, NpyHeader]] = {}
        self.columns = {}
        for info in members:
            name = info.filename[:-4]
            if name in self._info:
                raise FileError(f"file corrupt: {path} holds two arrays named {name!r}")
            self._check_member(info, name)
            try:
                with self._zip.open(info) as fp:
                    h = read_npy_header(fp, f"{path}[{name}]")
            except FileError:
                raise
            except _ZIP_ERRORS as e:
                raise self._corrupt(e, name) from None
            _check_size(h, info.file_size, f"{path}[{name}]", "NPY")
            self._info[name] = (info, h)
            width = h.shape[1] if len(h.shape) == 2 else None
            kind = _dtype_kind(h.dtype) if len(h.shape) in (1, 2) else "other"
            self.columns[name] = Column(name, width, kind)
        self.num_rows = None  # depends on the columns chosen

    def _check_member(self, info: zipfile.ZipInfo, name: str) -> None:
        """Encrypted members and compression methods zipfile cannot read: named, exit 4."""
        if info.flag_bits & 0x1:
            raise FileError(
                f"{self.path}: array {name!r} is encrypted (password-protected ZIP member); "
                "NPZ members must be plain: save with np.savez or np.savez_compressed"
            )
        if info.compress_type not in _ZIP_METHODS:
            method = _ZIP_NAMES.get(info.compress_type, "unknown")
            raise FileError(
                f"{self.path}: array {name!r} uses ZIP compression method "
                f"{info.compress_type} ({method}), which cannot be read (readable: "
                f"{', '.join(_ZIP_METHODS.values())}); save with np.savez or np.savez_compressed"
            )

    def _corrupt(self, e: BaseException, name: str | None = None) -> FileError:
        what = f" (array {name!r}: {_short(e)})" if name else f" ({_short(e)})"
        return FileError(f"file truncated or corrupt (NPZ): {self.path}{what}")

    def rows_of(self, name: str) -> int:
        shape = self._info[name][1].shape
        return shape[0] if shape else 0

    def batches(self, names, batch_size, column_types):
        lengths = {n: self.rows_of(n) for n in names}
        if len(set(lengths.values())) > 1:
            raise SchemaError(
                f"{self.path}: the chosen arrays have different numbers of rows: "
                + ", ".join(f"{n}: {k}" for n, k in lengths.items())
            )
        n_rows = next(iter(lengths.values()))
        readers: dict[str, tuple[str, object]] = {}
        current = None
        try:
            for n in names:
                current = n
                info, h = self._info[n]
                fp = self._zip.open(info)
                fp.read(h.size)  # the header, parsed in __init__
                if h.fortran and len(h.shape) == 2:
                    with fp:
                        buf = fp.read(h.nbytes)
                        self._at_end(fp, n, len(buf) == h.nbytes)
                    a = np.frombuffer(buf, dtype=h.dtype).reshape(h.shape, order="F")
                    readers[n] = ("array", a)
                else:
                    readers[n] = ("stream", fp)
            for start in range(0, n_rows, batch_size):
                stop = min(start + batch_size, n_rows)
                cols = {}
                for n in names:
                    current = n
                    info, h = self._info[n]
                    how, src = readers[n]
                    if how == "array":
                        cols[n] = np.array(src[start:stop])  # type: ignore[index]
                        continue
                    nbytes = (stop - start) * _per_row(h)
                    buf = src.read(nbytes)  # type: ignore[attr-defined]
                    if len(buf) != nbytes:
                        raise self._corrupt(EOFError("the array ends early"), n)
                    cols[n] = _from_bytes(buf, h, stop - start)
                yield start, cols
            for n in names:  # read every member to its end: zipfile then checks its CRC-32
                current = n
                how, src = readers[n]
                if how == "stream":
                    self._at_end(src, n, True)
        except FileError:
            raise
        except _ZIP_ERRORS as e:
            raise self._corrupt(e, current) from None
        finally:
            for how, src in readers.values():
                if how == "stream":
                    src.close()  # type: ignore[attr-defined]

    def _at_end(self, fp, name: str, complete: bool) -> None:
        """Read past the member's last byte (zipfile verifies its CRC-32 at the end)."""
        if not complete or fp.read(1):
            raise self._corrupt(EOFError("its size disagrees with its header"), name)
