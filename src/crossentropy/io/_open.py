"""Opening an input: what the path is (a regular file, ``-`` for standard input, a pipe or
FIFO, or something that cannot be read: each named), its format (from the extension, else
its first bytes) and the :class:`~crossentropy.io.Table` that reads it."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

from . import _stream
from ._arrow import ArrowTable, ParquetTable
from ._csv import CsvTable
from ._npy import NpyTable, NpzTable
from ._table import FileError, SchemaError, Table

FORMATS = ("csv", "parquet", "arrow", "npz", "npy")
#: The formats a pipe or standard input can hold (read once, front to back).
STREAM_FORMATS = ("csv", "arrow")
_BY_EXTENSION = {
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


def _stat_error(path: str, e: OSError) -> FileError:
    if e.errno == errno.ELOOP:
        return FileError(f"{path}: symbolic link loop (a link that leads back to itself)")
    if e.errno == errno.ENOENT and os.path.islink(path):
        return FileError(
            f"{path}: dangling symbolic link (it points to {os.readlink(path)!r}, which does "
            "not exist)"
        )
    if e.errno == errno.ENOENT:
        return FileError(f"{path}: no such file")
    if e.errno == errno.ENOTDIR:
        return FileError(f"{path}: no such file (a part of the path is not a directory)")
    if e.errno in (errno.EACCES, errno.EPERM):
        return FileError(f"{path}: permission denied (a directory on the path is not searchable)")
    return FileError(f"{path}: cannot read ({e.strerror or e})")


def input_kind(path: str) -> str:
    """``"file"`` (a regular file), or ``"stream"`` (``-``, a pipe or FIFO: read once); any
    other path raises :class:`FileError` saying what it is.

    >>> input_kind("-")
    'stream'
    """
    if path == _stream.STDIN:
        return "stream"
    try:
        st = os.stat(path)
    except OSError as e:
        raise _stat_error(path, e) from None
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        raise FileError(f"{path}: is a directory; pass the files inside it (e.g. {path}/*.parquet)")
    if stat.S_ISFIFO(mode):
        return "stream"
    if stat.S_ISCHR(mode):
        what = "a terminal" if _isatty(path) else "a character device (such as /dev/zero)"
        raise FileError(
            f"{path}: is {what}, not a file; to read standard input pass - and pipe the file in"
        )
    if stat.S_ISBLK(mode):
        raise FileError(f"{path}: is a block device, not a file")
    if stat.S_ISSOCK(mode):
        raise FileError(f"{path}: is a socket, not a file")
    if not stat.S_ISREG(mode):  # pragma: no cover - doors, whiteouts, …
        raise FileError(f"{path}: is not a regular file")
    if not os.access(path, os.R_OK):
        raise FileError(f"{path}: permission denied (not readable)")
    if st.st_size == 0:
        try:
            with open(path, "rb") as f:
                virtual = bool(f.read(1))
        except OSError as e:
            raise FileError(f"{path}: cannot read ({e.strerror})") from None
        if virtual:
            raise FileError(
                f"{path}: reports a size of 0 bytes but has content (a virtual file, as under "
                "/proc); copy it to a regular file first"
            )
        raise FileError(f"{path}: file is empty (0 bytes)")
    return "file"


def _isatty(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def is_stream(path: str) -> bool:
    """True for an input that can be read only once (``-``, a pipe, a FIFO).

    >>> is_stream("-"), is_stream("preds.csv")
    (True, False)
    """
    if path == _stream.STDIN:
        return True
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _sniff(head: bytes) -> str | None:
    if head[:4] == b"PAR1":
        return "parquet"
    if head[:6] == b"ARROW1" or head[:4] == b"\xff\xff\xff\xff":
        return "arrow"
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:2] == b"PK":
        return "npz"
    return None


def detect_format(path: str) -> str:
    """The format from the file's extension, else from its first bytes.

    >>> detect_format("preds.parquet")
    'parquet'
    """
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in _BY_EXTENSION:
        return _BY_EXTENSION[ext]
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return "csv"
    return _sniff(head) or "csv"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise SchemaError(f"input format {fmt!r} unknown; use one of {', '.join(FORMATS)}")


def _stream_table(
    stream: _stream.Stream, path: str, input_format: str, na_values: Sequence[str]
) -> Table:
    head = stream.peek(8)
    if not head:
        raise FileError(f"{stream.name}: is empty (no data came through the pipe)")
    fmt = input_format
    if fmt == "auto":
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        fmt = _BY_EXTENSION.get(ext) or _sniff(head) or "csv"
    _check_format(fmt)
    if fmt == "arrow" and head[:6] == b"ARROW1":
        fmt = "arrow file"
    if fmt not in STREAM_FORMATS:
        raise FileError(
            f"{stream.name}: {fmt} cannot be read from a pipe or standard input (it needs a "
            "file it can seek in); save it to a file first. Pipes can carry CSV and the Arrow "
            "IPC stream format"
        )
    if fmt == "csv":
        return CsvTable(stream.name, na_values, stream=stream)
    return ArrowTable(stream.name, stream=stream)


def open_table(path: str, *, input_format: str = "auto", na_values: Sequence[str] = ()) -> Table:
    """Open ``path`` as a :class:`Table` (format from the extension or magic bytes). ``-`` is
    standard input; it, a pipe or a FIFO holds CSV or an Arrow IPC stream, read once.

    >>> import os, tempfile, numpy as np
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.npy")
    >>> np.save(p, np.array([[0.0, 1.0, 2.0]]))
    >>> t = open_table(p); (t.format, list(t.columns), t.num_rows)
    ('npy', ['0', '1', '2'], 1)
    """
    if input_kind(path) == "stream":
        return _stream.table_for(path, lambda s: _stream_table(s, path, input_format, na_values))
    fmt = detect_format(path) if input_format == "auto" else input_format
    _check_format(fmt)
    if fmt == "csv":
        return CsvTable(path, na_values)
    if fmt == "parquet":
        return ParquetTable(path)
    if fmt == "arrow":
        return ArrowTable(path)
    if fmt == "npz":
        return NpzTable(path)
    return NpyTable(path)
