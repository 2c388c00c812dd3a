"""One-shot inputs: standard input (``-``), pipes and FIFOs (``<(zcat x.csv.gz)``).

They can be read once, front to back, so only the formats that stream read from them: CSV
and the Arrow IPC stream format. A :class:`Stream` keeps the first bytes it was asked to
look at (the format's magic bytes, the CSV header) and replays them before the rest; the
table opened on it is kept (:func:`table_for`), so opening the same input again (the
progress bar's row count, then the pass) reuses it instead of losing bytes, and a second
read says so instead of waiting on an exhausted pipe.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any

from ._table import FileError, InputError

STDIN = "-"
STDIN_NAME = "<stdin>"
_CHUNK = 1 << 16


class Stream:
    """A binary input read once: :meth:`peek` looks ahead, :meth:`take` reads it all once."""

    def __init__(self, name: str, raw: Any):
        self.name = name
        self._raw = raw
        self._head = b""
        self._eof = False
        self.used = False

    def _more(self) -> bool:
        read = getattr(self._raw, "read1", self._raw.read)  # what is there, without waiting
        chunk = read(_CHUNK) if not self._eof else b""
        if not chunk:
            self._eof = True
            return False
        self._head += chunk
        return True

    def peek(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer at the end of the input), kept for :meth:`take`."""
        while len(self._head) < n and self._more():
            pass
        return self._head[:n]

    def peek_until(self, done: Callable[[bytes], bool], limit: int) -> tuple[bytes, bool]:
        """Look ahead until ``done(bytes so far)`` or ``limit`` bytes or the end; returns the
        bytes and whether the input ended within them."""
        while not done(self._head) and len(self._head) < limit and self._more():
            pass
        return self._head, self._eof

    def take(self) -> Replay:
        """The whole input as a file object (the bytes peeked at first); once only."""
        if self.used:
            raise FileError(
                f"{self.name}: already read (a pipe or standard input can be read only once; "
                "save it to a file to read it again)"
            )
        self.used = True
        return Replay(self._head, self._raw)


class Replay(io.RawIOBase):
    """``head`` then the rest of ``raw``; ``last`` is what the latest read returned (an Arrow
    IPC stream is complete when its last read was the end-of-stream marker)."""

    def __init__(self, head: bytes, raw: Any):
        super().__init__()
        self._head = head
        self._pos = 0
        self._raw = raw
        self.last = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            data = self._head[self._pos :] + self._raw.read()
            self._pos = len(self._head)
        else:
            data = self._head[self._pos : self._pos + n]
            self._pos += len(data)
            while len(data) < n:
                more = self._raw.read(n - len(data))
                if not more:
                    break
                data += more
        self.last = data
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        super().close()
        close = getattr(self._raw, "close", None)
        if close is not None and self._raw is not _stdin_buffer():
            close()


def _stdin_buffer() -> Any:
    stdin = sys.stdin
    return getattr(stdin, "buffer", None) if stdin is not None else None


#: The table opened on each one-shot input of this process (see the module docstring).
_TABLES: dict[tuple, Any] = {}


def _key(path: str) -> tuple:
    if path == STDIN:
        return (STDIN, id(_stdin_buffer()))
    st = os.stat(path)
    return (os.path.abspath(path), st.st_dev, st.st_ino)


def open_stream(path: str) -> Stream:
    """``-`` (standard input) or a FIFO/pipe path, as a :class:`Stream`."""
    if path != STDIN:
        return Stream(path, open(path, "rb"))  # noqa: SIM115 - closed with its Replay
    buf = _stdin_buffer()
    if buf is None:
        raise FileError(f"{STDIN_NAME}: there is no standard input to read")
    isatty = getattr(buf, "isatty", None)
    if isatty is not None and isatty():
        raise FileError(
            f"{STDIN_NAME}: standard input is a terminal; pipe the file in "
            "(e.g. `zcat preds.csv.gz | crossentropy evaluate -`)"
        )
    return Stream(STDIN_NAME, buf)


def table_for(path: str, make: Callable[[Stream], Any]) -> Any:
    """The table on the one-shot input ``path``: opened by ``make(stream)`` the first time,
    the same object (or the same error) afterwards."""
    key = _key(path)
    if key not in _TABLES:
        try:
            _TABLES[key] = make(open_stream(path))
        except InputError as e:  # kept too: opening a FIFO again could wait for a writer forever
            _TABLES[key] = e
    table = _TABLES[key]
    if isinstance(table, InputError):
        raise type(table)(str(table))
    return table
