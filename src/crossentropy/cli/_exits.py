"""Exit statuses: the command line's error classes, the status of each, their ``--help`` text."""

from __future__ import annotations

from .. import io as _io
from ..io._output import OutputError, OutputUsageError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA, EXIT_IO = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, the shells' convention


class UsageError(Exception):
    """A command line that cannot run: an option's value or a combination of options."""


class ConnectError(Exception):
    """A Dask scheduler that cannot be reached (``--scheduler``)."""


class StdoutError(OutputError):
    """Standard output that cannot be written (a full disk, a closed stream)."""


#: The exit status of each error class (the first class that matches, in this order).
EXIT_CODES: dict[type[Exception], int] = {
    UsageError: EXIT_USAGE,
    OutputUsageError: EXIT_USAGE,
    _io.SchemaError: EXIT_USAGE,
    _io.DataError: EXIT_DATA,
    _io.FileError: EXIT_IO,
    _io.InputError: EXIT_IO,
    OutputError: EXIT_IO,
    ConnectError: EXIT_IO,
}

EXIT_CODES_HELP = """\
exit status:
  0    success
  1    internal error (a bug: please report it with the command line)
  2    usage or schema error: unknown option, an option value out of range,
       missing or extra columns, wrong column types, files whose columns
       differ, an output path that is an input file (or another output)
  3    data validation error: bad, missing or out-of-range labels, non-finite
       predictions (a row with no finite logit), probabilities outside [0, 1],
       negative weights, no rows
  4    I/O error: missing, unreadable, empty, truncated or corrupt file (a
       Parquet page failing its checksum, an Arrow IPC stream without its end
       marker, an NPY/NPZ whose size disagrees with its header), a directory,
       device, socket or link loop, a pickled or encrypted NPZ, a format that
       cannot be read from a pipe; an output that cannot be written (missing
       folder, a folder where a file is expected, read-only, disk full); a
       Dask scheduler that cannot be reached; out of memory
  130  interrupted (Ctrl-C, SIGINT): no output file is left half written
"""


def exit_code(error: Exception) -> int:
    """The exit status of ``error`` (:data:`EXIT_CODES`; anything else is an internal error)."""
    return next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), EXIT_INTERNAL)
