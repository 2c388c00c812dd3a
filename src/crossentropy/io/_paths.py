"""The files a command reads: globs and directories expanded, the one rule of every engine.

``crossentropy evaluate`` on one process and on Dask (``--engine dask``,
:func:`crossentropy.dask.evaluate_files`) read the same files for the same arguments:

- a path that exists is taken as it is (a file whose name holds ``*``, ``?`` or ``[`` too);
- otherwise a path with ``*``, ``?`` or ``[`` is a glob (quoted so that the shell leaves it
  alone): its matches in sorted order, and an error naming the pattern when none matches;
- a directory gives every file directly inside it, sorted, except hidden ones (names
  starting with ``.`` or ``_``: ``_SUCCESS``, ``_metadata``, ``.crc`` beside a dataset's
  parts); each is read by its extension, else by its first bytes (:func:`detect_format`),
  so no part file is skipped silently; subdirectories are not entered; a directory without
  such a file is an error;
- ``-`` (standard input) and any other path are kept: the reader names what is wrong.

Expanding an expanded list changes nothing.
"""

from __future__ import annotations

import glob as _glob
import os
from typing import Any

from ._table import FileError

__all__ = ["expand_paths"]

_GLOB_CHARS = "*?["


def _hidden(name: str) -> bool:
    """Names a dataset folder keeps beside its parts (``_SUCCESS``, ``_metadata``, ``.crc``)."""
    return name.startswith((".", "_"))


def _directory_files(path: str) -> list[str]:
    names = sorted(f for f in os.listdir(path) if not _hidden(f))
    files = [os.path.join(path, f) for f in names if not os.path.isdir(os.path.join(path, f))]
    if not files:
        msg = (
            f"{path}: is a directory with no file to read (hidden names starting with '.' or "
            "'_' are left out, subdirectories are not entered)"
        )
        raise FileError(msg)
    return files


def expand_paths(paths: Any) -> list[str]:
    """The files of a glob, a directory, a path, or a list of them (see the module docstring).

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> for name in ("b.TSV", "a.PARQUET", "part-0", "_SUCCESS", ".a.crc"):
    ...     open(os.path.join(d, name), "w").close()
    >>> [os.path.basename(p) for p in expand_paths(d)]
    ['a.PARQUET', 'b.TSV', 'part-0']
    >>> [os.path.basename(p) for p in expand_paths([os.path.join(d, "[ap]*"), "-"])]
    ['a.PARQUET', 'part-0', '-']
    >>> expand_paths(os.path.join(d, "*.npz"))
    Traceback (most recent call last):
    ...
    crossentropy.io._table.FileError: .../*.npz: no file matches this pattern
    """
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[str] = []
    for item in items:
        p = os.fspath(item)
        if p == "-" or not p:
            out.append(p)
        elif os.path.isdir(p):
            out.extend(_directory_files(p))
        elif os.path.lexists(p) or not any(ch in p for ch in _GLOB_CHARS):
            out.append(p)
        else:
            hits = sorted(_glob.glob(p))
            if not hits:
                raise FileError(f"{p}: no file matches this pattern")
            for h in hits:  # a pattern may match directories too: their files
                out.extend(_directory_files(h) if os.path.isdir(h) else [h])
    return out
