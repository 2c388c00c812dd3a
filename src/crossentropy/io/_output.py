"""Output files: checked before any work, never over an input, written all or nothing.

:func:`check_outputs` looks at every path a command will write (a file, or a folder and
the names it will hold) before anything is read: an output that is an input file
(the same path, a symlink or a hard link to it, a figure in a folder holding it) or
another output, or an empty path, is an :class:`OutputUsageError`; a missing folder, a
folder where a file is expected (or the reverse) and a read-only file or folder are an
:class:`OutputError` naming the path.

:class:`OutputFiles` writes each file to a temporary file beside it and renames them all
into place only when every one is written (:meth:`OutputFiles.commit`, at the end of its
``with`` block); an error or an interrupt (``KeyboardInterrupt``) before that removes
the temporary files, so no output is left half written. An existing file keeps its
permission bits; a device or FIFO (``/dev/null``, a pipe) is written directly, at commit.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with OutputFiles() as out:
...     out.stage(os.path.join(d, "a.txt"), "hello")
...     [name.startswith(".a.txt.") for name in os.listdir(d)]  # a temporary file so far
[True]
>>> os.listdir(d)
['a.txt']
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["OutputError", "OutputFiles", "OutputUsageError", "Target", "check_outputs"]


class OutputUsageError(ValueError):
    """An output the command line should not ask for: an input, another output, an empty path."""


class OutputError(OSError):
    """An output the file system refuses (missing folder, wrong type, read-only, disk full)."""


@dataclass(frozen=True)
class Target:
    """What an option writes: the file ``path``, or with ``names`` the folder ``path``
    holding those files (created when missing). ``option`` names it in messages."""

    option: str
    path: str
    names: tuple[str, ...] = ()

    @property
    def folder(self) -> bool:
        return bool(self.names)

    def files(self) -> list[str]:
        if not self.folder:
            return [self.path]
        return [os.path.join(self.path, n) for n in self.names]


def _same(a: str, b: str) -> bool:
    """Whether the paths name one file: by inode when both exist, else by resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_folder(option: str, folder: str, create: bool) -> None:
    """``folder`` exists and is writable, or (``create``) can be made."""
    if os.path.isdir(folder):
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(f"{option}: folder {folder} is not writable")
        return
    if os.path.lexists(folder):
        raise OutputError(f"{option}: {folder} is not a folder")
    if not create:
        raise OutputError(f"{option}: folder {folder} does not exist; create it first")
    parent = os.path.dirname(folder.rstrip(os.sep)) or "."
    if parent != folder:
        _check_folder(option, parent, create)


def _check_file(option: str, path: str, *, create_folder: bool) -> None:
    if os.path.isdir(path):
        raise OutputError(f"{option}: {path} is a folder; give a file name")
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            raise OutputError(f"{option}: {path} is not writable")
        if not stat.S_ISREG(os.stat(path).st_mode):
            return  # a device or a FIFO: written directly
    # the folder the file goes into: the link's target's for a symlink, else as given
    folder = os.path.dirname(os.path.realpath(path) if os.path.islink(path) else path)
    _check_folder(option, folder or ".", create_folder)


def check_outputs(targets: Iterable[Target], inputs: Sequence[str]) -> None:
    """Raise :class:`OutputUsageError` or :class:`OutputError` for the first output that
    cannot or must not be written (see the module's docstring). ``inputs``: the files the
    command reads (``"-"``, standard input, is none)."""
    targets = list(targets)
    # the regular files read: a pipe or a terminal read is no file to write over
    existing = [p for p in inputs if p != "-" and os.path.isfile(p)]
    written: list[tuple[str, str]] = []
    for t in targets:
        if t.path == "":
            raise OutputUsageError(
                f"{t.option}: empty path; give a {'folder' if t.folder else 'file'}"
            )
        for f in [t.path, *t.files()] if t.folder else t.files():
            for inp in existing:
                if _same(f, inp):
                    raise OutputUsageError(
                        f"{t.option} {f} is the input file {inp}: refusing to overwrite an "
                        "input; choose another output path"
                    )
        for f in t.files():
            for option, other in written:
                if _same(f, other):
                    raise OutputUsageError(
                        f"{t.option} and {option} both write {f}; choose different paths"
                    )
            written.append((t.option, f))
    for t in targets:
        if t.folder:
            _check_folder(t.option, t.path, create=True)
            for f in t.files():
                _check_file(t.option, f, create_folder=True)
        else:
            _check_file(t.option, t.path, create_folder=False)


class OutputFiles:
    """Files written all or nothing: :meth:`stage` writes a temporary file beside each,
    :meth:`commit` renames them into place; :meth:`discard` (or an exception in the
    ``with`` block) removes the temporary files and the folders made for them."""

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (temporary file, final path)
        self._direct: list[tuple[str, bytes]] = []  # devices and FIFOs: written at commit
        self._made: list[str] = []  # folders made, outermost first

    def __enter__(self) -> OutputFiles:
        return self

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def _make_folder(self, folder: str) -> None:
        missing = []
        f = os.path.abspath(folder)
        while not os.path.isdir(f):
            missing.append(f)
            parent = os.path.dirname(f)
            if parent == f:
                break
            f = parent
        for m in reversed(missing):
            try:
                os.mkdir(m)
            except FileExistsError:
                continue
            except OSError as e:
                raise OutputError(f"cannot create folder {m}: {e.strerror or e}") from None
            self._made.append(m)

    def stage(self, path: str, data: bytes | str, *, make_folder: bool = False) -> None:
        """Write ``data`` (text as UTF-8) for ``path`` to a temporary file beside it
        (``make_folder``: create the missing folders first)."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{path} is a folder; give a file name")
        if st is not None and not stat.S_ISREG(st.st_mode):
            self._direct.append((path, raw))
            return
        final = os.path.realpath(path)  # a symlink keeps pointing at the file written
        folder = os.path.dirname(final)
        if make_folder:
            self._make_folder(folder)
        try:
            fd, tmp = self._open_temporary(folder, os.path.basename(final))
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        self._staged.append((tmp, final))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            if st is not None:
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None

    @staticmethod
    def _open_temporary(folder: str, name: str) -> tuple[int, str]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        while True:
            tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
            try:
                return os.open(tmp, flags, 0o666), tmp  # the umask applies, as for open()
            except FileExistsError:
                continue

    def commit(self) -> list[str]:
        """Rename every staged file into place and write the direct ones; returns the paths."""
        done = []
        try:
            for path, raw in self._direct:
                try:
                    with open(path, "wb") as f:
                        f.write(raw)
                except OSError as e:
                    raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
                done.append(path)
            while self._staged:
                tmp, final = self._staged[0]
                try:
                    os.replace(tmp, final)
                except OSError as e:
                    raise OutputError(f"cannot write {final}: {e.strerror or e}") from None
                self._staged.pop(0)
                done.append(final)
        except BaseException:
            self.discard()
            raise
        self._direct, self._made = [], []
        return done

    def discard(self) -> None:
        """Remove the temporary files and the folders made for them (when empty)."""
        for tmp, _ in self._staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        for folder in reversed(self._made):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        self._staged, self._direct, self._made = [], [], []
