"""Reading prediction files in bounded-memory batches.

A prediction file holds one row per example: the target (a class index, a class
name, or a distribution over classes), the model's prediction over the C classes
(logits, probabilities or log-probabilities), and optionally a sample weight.
This package turns CSV, Parquet, Arrow IPC (file and stream), NPZ and NPY files
into a stream of :class:`Batch` objects of at most ``batch_size`` rows, so that
the command line can feed an :class:`~crossentropy.Accumulator` whatever the
file size.

Formats
-------
=========  =======================================================================
CSV        header row required; prediction and weight columns parsed to float64
           (correctly rounded, so the same numbers written with ``repr`` read
           back bit-identical); the label column is read as text, so a class
           named ``"NA"`` stays a class unless ``na_values`` says otherwise.
Parquet    streamed record batch by record batch (one row group at a time).
Arrow IPC  file and stream formats, read record batch by record batch.
NPZ        each member is streamed from the archive (no full load); arrays of
           shape (N,) are scalar columns, (N, K) vector columns. Never unpickles.
NPY        read in row blocks (Fortran order: memory-mapped). A structured array's fields are its columns;
           a plain (N, K) array has the columns ``"0"`` … ``"K-1"``.
=========  =======================================================================

``-`` is standard input; it, a pipe or a FIFO (``<(zcat preds.csv.gz)``) is read once, so it
can hold CSV or an Arrow IPC stream (the formats that need seeking must be files). Rows are
numbered from 0 in each file (a CSV header is not a row).

Labels: a numeric column holds class indices; a text column holds class indices written
with the ASCII digits 0-9 (``"3"``, ``"-100"``, ``"3.0"``) or, with ``--classes NAMES``, the
names and nothing else: names and indices never mix (``_labels`` has the rule).

Integrity: Parquet page checksums are verified where the file has them; NPY headers (1.0,
2.0, 3.0) are parsed with Python integers and a file must hold exactly the bytes its header
announces; NPZ members are read to their end so their CRC-32 is checked; an Arrow IPC
stream must end with its end-of-stream marker. Special files (directories, devices,
sockets, symbolic-link loops, virtual files) are refused, each by name.

Errors are :class:`InputError` subclasses: :class:`SchemaError` (missing columns,
wrong types, mixed schemas), :class:`DataError` (labels or values that fail
validation) and :class:`FileError` (unreadable, truncated or corrupt files); the
command line maps them to its exit statuses.

Modules: ``_table`` (the :class:`Table` protocol, :class:`Column`, the errors), one per
format (``_csv``, ``_arrow`` for Parquet and Arrow IPC, ``_npy`` for NPY and NPZ),
``_open`` (what a path is, format detection, :func:`open_table`), ``_paths`` (globs and
directories → files, :func:`expand_paths`: every engine's one rule), ``_stream`` (standard input
and pipes, read once), ``_columns`` (:class:`Schema` →
:class:`Layout`), ``_labels`` (label columns → class indices) and ``_batches``
(:func:`read_batches`).
"""

from ._arrow import ArrowTable as ArrowTable
from ._arrow import ParquetTable as ParquetTable
from ._batches import Batch, read_batches
from ._columns import PRED_NAMES as PRED_NAMES
from ._columns import TARGET_NAMES as TARGET_NAMES
from ._columns import Layout as Layout
from ._columns import Schema, check_same_columns, natural_key, resolve_columns
from ._columns import resolve as resolve
from ._csv import CsvTable as CsvTable
from ._npy import NpyTable as NpyTable
from ._npy import NpzTable as NpzTable
from ._open import FORMATS as FORMATS
from ._open import STREAM_FORMATS as STREAM_FORMATS
from ._open import detect_format, is_stream, open_table
from ._paired import pair as pair
from ._paths import expand_paths
from ._table import Column as Column
from ._table import DataError, FileError, InputError, SchemaError, Table, format_rows

__all__ = [
    "Batch",
    "DataError",
    "FileError",
    "InputError",
    "Schema",
    "SchemaError",
    "Table",
    "check_same_columns",
    "detect_format",
    "expand_paths",
    "format_rows",
    "is_stream",
    "natural_key",
    "open_table",
    "read_batches",
    "resolve_columns",
]
