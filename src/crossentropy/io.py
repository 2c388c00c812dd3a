"""Reading prediction files in bounded-memory batches.

A prediction file holds one row per example: the target (a class index, a class
name, or a distribution over classes), the model's prediction over the C classes
(logits, probabilities or log-probabilities), and optionally a sample weight.
This module turns CSV, Parquet, Arrow IPC (file and stream), NPZ and NPY files
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

Rows are numbered from 0 in each file (a CSV header is not a row).

Errors are :class:`InputError` subclasses: :class:`SchemaError` (missing columns,
wrong types, mixed schemas), :class:`DataError` (labels or values that fail
validation) and :class:`FileError` (unreadable, truncated or corrupt files); the
command line maps them to its exit statuses.
"""

from __future__ import annotations

import abc
import csv
import fnmatch
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

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
    "format_rows",
    "natural_key",
    "open_table",
    "read_batches",
    "resolve_columns",
]

FORMATS = ("csv", "parquet", "arrow", "npz", "npy")

TARGET_NAMES = ("target", "targets", "label", "labels", "y", "y_true")
PRED_NAMES = (
    "logits",
    "probs",
    "probabilities",
    "log_probs",
    "pred",
    "preds",
    "prediction",
    "predictions",
    "y_pred",
    "y_prob",
)


# ----------------------------------------------------------------------------- errors
class InputError(Exception):
    """A problem with the input files."""


class SchemaError(InputError):
    """Missing, extra or mistyped columns, or files whose schemas differ."""


class DataError(InputError):
    """Values that fail validation: bad labels, out-of-range probabilities."""


class FileError(InputError):
    """Unreadable, empty, truncated or corrupt files."""


def format_rows(rows: np.ndarray, offset: int = 0, limit: int = 5) -> str:
    """Say which rows: ``"rows 3, 17 and 2 more"`` (positions + ``offset``).

    >>> format_rows(np.array([3, 17, 20]), limit=2)
    'rows 3, 17 and 1 more'
    >>> format_rows(np.array([4]), offset=10)
    'row 14'
    """
    rows = np.asarray(rows)
    shown = ", ".join(str(int(r) + offset) for r in rows[:limit])
    more = len(rows) - limit
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers numerically: ``logit_2 < logit_10``.

    >>> sorted(["logit_10", "logit_2", "logit_1"], key=natural_key)
    ['logit_1', 'logit_2', 'logit_10']
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p != "")


# ----------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class Schema:
    """Which columns hold what.

    ``target``, ``pred``: ``None`` (use a conventional name, see ``TARGET_NAMES`` and
    ``PRED_NAMES``; for ``pred`` otherwise every remaining column) or a
    comma-separated list of column names and glob patterns (``"logit_*"``), glob
    matches in natural order. One scalar target column holds class indices (or
    names); several columns or one vector column hold a distribution.
    ``weight``: the sample-weight column or ``None``.
    ``classes``: class names (labels given as text are mapped to their position).
    ``na_values``: CSV label strings that mean a missing label.
    """

    target: str | None = None
    pred: str | None = None
    weight: str | None = None
    classes: tuple[str, ...] | None = None
    na_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Column:
    name: str
    width: int | None  # None: a scalar column; K: a vector (list/tensor) column of width K
    dtype: str  # "int", "float", "string", "bool", "other"


@dataclass
class Batch:
    """Up to ``batch_size`` rows of one file.

    ``pred``: float64 (n, C). ``target``: int64 (n,) class indices or float64 (n, C)
    distributions. ``weight``: float64 (n,) or ``None``. ``offset``: the file row of
    the first row. ``missing``: bool (n,) rows whose label is missing, or ``None``.
    ``bad_labels``: bool (n,) rows whose label is not a valid integer/class name,
    with ``bad_label_values`` the first offending texts.
    """

    pred: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None
    path: str
    offset: int
    missing: np.ndarray | None = None
    bad_labels: np.ndarray | None = None
    bad_label_values: list = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.pred.shape[0])


# ----------------------------------------------------------------------------- tables
class Table(abc.ABC):
    """A file seen as named columns, read in row slices (base class)."""

    path: str
    format: str
    columns: dict[str, Column]
    num_rows: int | None  # None when unknown before reading (CSV, Arrow stream)

    @abc.abstractmethod
    def batches(self, names: Sequence[str], batch_size: int, column_types: dict[str, str]):
        """Yield ``(offset, {name: array})``; vector columns are (n, K) arrays."""

    def describe(self) -> str:
        return ", ".join(
            c.name if c.width is None else f"{c.name}[{c.width}]" for c in self.columns.values()
        )


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


def _require_pyarrow(fmt: str):
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise FileError(
            f"reading {fmt} files needs pyarrow: pip install 'crossentropy[io]'"
        ) from None
    import pyarrow as pa

    return pa


def _arrow_dtype(t) -> tuple[int | None, str]:
    import pyarrow as pa

    width = None
    if pa.types.is_fixed_size_list(t):
        width = t.list_size
        t = t.value_type
    elif pa.types.is_list(t) or pa.types.is_large_list(t):
        width = -1  # known per batch
        t = t.value_type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_boolean(t):
        kind = "bool"
    elif pa.types.is_integer(t):
        kind = "int"
    elif pa.types.is_floating(t):
        kind = "float"
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        kind = "string"
    else:
        kind = "other"
    return width, kind


_ARROW_NUMERIC = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "halffloat": np.float16,
    "float": np.float32,
    "double": np.float64,
}


def _to_numpy(arr) -> np.ndarray:
    """An Arrow array as NumPy. A null-free fixed-width numeric array is a read-only view of
    its data buffer: no copy, and no import of pandas (which ``Array.to_numpy`` triggers:
    half a second and 40 MB of resident memory); anything else goes through ``to_numpy``."""
    dt = _ARROW_NUMERIC.get(str(arr.type))
    if dt is not None and arr.null_count == 0 and len(arr):
        buf = arr.buffers()[1]
        itemsize = np.dtype(dt).itemsize
        return np.frombuffer(buf, dtype=dt, count=len(arr), offset=arr.offset * itemsize)
    return arr.to_numpy(zero_copy_only=False)


def _arrow_column_to_numpy(arr, name: str, path: str, offset: int, want: str):
    """Convert one Arrow column (chunk) to numpy; nulls are reported, never filled."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_large_list(t):
        import pyarrow.compute as pc  # only list columns need it (keeps the import lean)

        if arr.null_count:
            rows = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
            raise DataError(f"{path}: column {name!r} is missing at {format_rows(rows, offset)}")
        n = len(arr)
        if pa.types.is_fixed_size_list(t):
            width = t.list_size
        else:
            lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
            width = int(lengths[0]) if n else 0
            bad = np.flatnonzero(lengths != width)
            if bad.size:
                raise SchemaError(
                    f"{path}: list column {name!r} has rows of different lengths "
                    f"({width} at row {offset}, {int(lengths[bad[0]])} at {format_rows(bad, offset)})"
                )
        values = pc.list_flatten(arr)
        if values.null_count:
            cells = np.flatnonzero(values.is_null().to_numpy(zero_copy_only=False))
            raise DataError(
                f"{path}: column {name!r} has missing values at "
                f"{format_rows(np.unique(cells // max(width, 1)), offset)}"
            )
        flat = _to_numpy(values)
        return flat.reshape(n, width)
    if want in ("string", "label"):
        return arr  # handled by the label parser (nulls are missing labels)
    if arr.null_count:
        rows = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        raise DataError(f"{path}: column {name!r} is missing at {format_rows(rows, offset)}")
    return _to_numpy(arr)


class _ArrowTable(Table):
    """Parquet and Arrow IPC tables (record-batch streams)."""

    def _set_schema(self, schema) -> None:
        self.columns = {}
        for f in schema:
            width, kind = _arrow_dtype(f.type)
            if f.name in self.columns:
                raise SchemaError(f"{self.path}: duplicate column name {f.name!r}")
            self.columns[f.name] = Column(f.name, width, kind)

    @abc.abstractmethod
    def _record_batches(self, names, batch_size):
        """Yield pyarrow record batches of the named columns (Parquet and Arrow IPC differ here)."""

    def batches(self, names, batch_size, column_types):
        offset = 0
        for rb in self._record_batches(list(names), batch_size):
            for start in range(0, rb.num_rows, batch_size):
                part = rb.slice(start, batch_size)
                cols = {
                    n: _arrow_column_to_numpy(
                        part.column(part.schema.get_field_index(n)),
                        n,
                        self.path,
                        offset,
                        column_types.get(n, "float"),
                    )
                    for n in names
                }
                yield offset, cols
                offset += part.num_rows


class ParquetTable(_ArrowTable):
    format = "parquet"

    def __init__(self, path: str):
        _require_pyarrow("Parquet")
        import pyarrow.parquet as pq

        self.path = path
        try:
            # Buffered plain reads: a memory map's pages count in the resident set, and
            # pre-buffering keeps every row group read so far; both grow with the file.
            self._file = pq.ParquetFile(
                path, memory_map=False, buffer_size=1 << 20, pre_buffer=False
            )
        except Exception as e:  # ArrowInvalid, OSError: magic bytes / footer
            raise FileError(f"file truncated or not Parquet: {path} ({_short(e)})") from None
        self._set_schema(self._file.schema_arrow)
        self.num_rows = self._file.metadata.num_rows

    def _record_batches(self, names, batch_size):
        try:
            # one thread: decoding columns in parallel holds a row group's buffers per thread
            yield from self._file.iter_batches(
                batch_size=batch_size, columns=names, use_threads=False
            )
        except InputError:
            raise
        except Exception as e:
            raise FileError(f"file truncated or not Parquet: {self.path} ({_short(e)})") from None


class ArrowTable(_ArrowTable):
    format = "arrow"

    def __init__(self, path: str):
        pa = _require_pyarrow("Arrow IPC")
        self.path = path
        with open(path, "rb") as f:
            head = f.read(6)
        try:
            if head == b"ARROW1":
                self._source = pa.OSFile(path, "rb")  # read per batch; no growing map
                self._reader = pa.ipc.open_file(self._source)
                self.num_rows = sum(
                    self._reader.get_batch(i).num_rows
                    for i in range(self._reader.num_record_batches)
                )
                self._stream = False
            else:
                self._source = pa.OSFile(path, "rb")
                self._reader = pa.ipc.open_stream(self._source)
                self.num_rows = None
                self._stream = True
        except Exception as e:
            raise FileError(f"file truncated or not Arrow IPC: {path} ({_short(e)})") from None
        self._set_schema(self._reader.schema)

    def _record_batches(self, names, batch_size):
        try:
            if self._stream:
                for rb in self._reader:
                    yield rb.select(names)
            else:
                for i in range(self._reader.num_record_batches):
                    yield self._reader.get_batch(i).select(names)
        except InputError:
            raise
        except Exception as e:
            raise FileError(f"file truncated or not Arrow IPC: {self.path} ({_short(e)})") from None


class CsvTable(Table):
    format = "csv"

    def __init__(self, path: str, na_values: Sequence[str] = ()):
        _require_pyarrow("CSV")
        self.path = path
        self.na_values = tuple(na_values)
        self.num_rows = None
        try:
            with open(path, newline="", encoding="utf-8-sig") as f:
                header = next(csv.reader(f), None)
        except UnicodeDecodeError:
            raise FileError(f"{path}: not a UTF-8 text file (is it CSV?)") from None
        except OSError as e:
            raise FileError(f"{path}: cannot read ({e.strerror})") from None
        if not header or all(h.strip() == "" for h in header):
            raise FileError(f"{path}: file is empty (no header row)")
        seen = set()
        for h in header:
            if h in seen:
                raise SchemaError(f"{path}: duplicate column name {h!r} in the header")
            seen.add(h)
        self.header = header
        # A CSV column has no declared type; the reader parses what it is asked for.
        self.columns = {h: Column(h, None, "text") for h in header}

    def batches(self, names, batch_size, column_types):
        import pyarrow as pa
        import pyarrow.csv as pcsv

        types = {
            n: (pa.string() if column_types.get(n) == "string" else pa.float64()) for n in names
        }
        convert = pcsv.ConvertOptions(
            column_types=types,
            include_columns=list(names),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        # ~64 bytes a row is a fair guess; blocks are then sliced to batch_size.
        read = pcsv.ReadOptions(block_size=max(1 << 20, min(64 * batch_size, 1 << 26)))
        try:
            reader = pcsv.open_csv(self.path, read_options=read, convert_options=convert)
        except pa.ArrowInvalid as e:
            raise self._conversion_error(e, names) from None
        except Exception as e:
            raise FileError(f"{self.path}: cannot read as CSV ({_short(e)})") from None
        offset = 0
        while True:
            try:
                rb = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as e:
                raise self._conversion_error(e, names) from None
            except Exception as e:
                raise FileError(f"{self.path}: cannot read as CSV ({_short(e)})") from None
            for start in range(0, rb.num_rows, batch_size):
                part = rb.slice(start, batch_size)
                cols = {}
                for n in names:
                    a = part.column(part.schema.get_field_index(n))
                    cols[n] = (
                        a if column_types.get(n) == "string" else a.to_numpy(zero_copy_only=False)
                    )
                yield offset, cols
                offset += part.num_rows

    def _conversion_error(self, e, names) -> InputError:
        msg = str(e)
        m = re.search(r"column #(\d+)", msg)
        if m and "conversion error" in msg:
            col = self.header[int(m.group(1))]
            where = self._find_bad_float(col)
            return DataError(
                f"{self.path}: column {col!r} must hold numbers; {where}"
                + (
                    " (missing values are not allowed in prediction or weight columns)"
                    if "''" in where
                    else ""
                )
            )
        if "Expected" in msg and "columns" in msg:
            return FileError(f"{self.path}: malformed CSV ({_short(e)})")
        return FileError(f"{self.path}: cannot read as CSV ({_short(e)})")

    def _find_bad_float(self, col: str) -> str:
        j = self.header.index(col)
        bad = []
        with open(self.path, newline="", encoding="utf-8-sig") as f:
            rd = csv.reader(f)
            next(rd, None)
            for i, row in enumerate(rd):
                v = row[j] if j < len(row) else ""
                try:
                    float(v)
                except ValueError:
                    bad.append((i, v))
                    if len(bad) >= 3:
                        break
        if not bad:
            return "a value could not be parsed as a number"
        return "found " + ", ".join(f"{v!r} at row {i}" for i, v in bad)


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


def _short(e: BaseException, limit: int = 160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s if len(s) <= limit else s[: limit - 1] + "…"


def open_table(path: str, *, input_format: str = "auto", na_values: Sequence[str] = ()) -> Table:
    """Open ``path`` as a :class:`Table` (format from the extension or magic bytes).

    >>> import tempfile, os
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


# ----------------------------------------------------------------------------- resolution
def resolve_columns(spec: str, available: Sequence[str], *, role: str, path: str) -> list[str]:
    """Column names for ``spec``: comma-separated names and globs, globs in natural order.

    >>> resolve_columns("logit_*", ["y", "logit_10", "logit_2"], role="--pred", path="f.csv")
    ['logit_2', 'logit_10']
    """
    out: list[str] = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        if any(ch in item for ch in "*?["):
            hits = sorted((c for c in available if fnmatch.fnmatchcase(c, item)), key=natural_key)
            if not hits:
                raise SchemaError(
                    f"{role} {item!r}: no column of {path} matches; available columns: "
                    f"{_list(available)}"
                )
            out.extend(h for h in hits if h not in out)
        else:
            if item not in available:
                raise SchemaError(
                    f"{role}: column {item!r} not found in {path}; available columns: "
                    f"{_list(available)}"
                )
            if item not in out:
                out.append(item)
    if not out:
        raise SchemaError(f"{role}: no column named (got {spec!r})")
    return out


def _list(names: Sequence[str], limit: int = 30) -> str:
    names = list(names)
    s = ", ".join(names[:limit])
    return s + (f", … ({len(names)} in all)" if len(names) > limit else "")


@dataclass(frozen=True)
class Layout:
    """The resolved columns of one file: what the stream reads and how."""

    target: tuple[str, ...]
    pred: tuple[str, ...]
    weight: str | None
    num_classes: int
    soft_target: bool
    label_kind: str  # "int", "float", "string", "text" (CSV) or "vector"

    def signature(self) -> tuple:
        return (self.target, self.pred, self.weight, self.num_classes, self.soft_target)


def check_same_columns(first_path: str, first: Layout, path: str, layout: Layout) -> None:
    """Raise :class:`SchemaError` naming both files when ``layout`` differs from the first file's."""
    if layout.signature() != first.signature():
        a, b = first, layout
        raise SchemaError(
            f"mixed schemas: {first_path} has target {list(a.target)}, prediction "
            f"{list(a.pred)} ({a.num_classes} classes), weight {a.weight}; {path} has "
            f"target {list(b.target)}, prediction {list(b.pred)} ({b.num_classes} classes), "
            f"weight {b.weight}. Every file must have the same columns"
        )


def resolve(table: Table, schema: Schema) -> Layout:
    """Resolve ``schema`` against ``table``'s columns; raise :class:`SchemaError` naming them."""
    names = list(table.columns)
    path = table.path
    # target
    if schema.target is None:
        hits = [n for n in TARGET_NAMES if n in table.columns]
        if not hits:
            raise SchemaError(
                f"{path}: no target column found (looked for {', '.join(TARGET_NAMES)}); "
                f"pass --target COL; available columns: {_list(names)}"
            )
        target = [hits[0]]
    else:
        target = resolve_columns(schema.target, names, role="--target", path=path)
    weight = None
    if schema.weight is not None:
        weight = resolve_columns(schema.weight, names, role="--weight-col", path=path)
        if len(weight) != 1:
            raise SchemaError(f"--weight-col must name one column, got {weight}")
        weight = weight[0]
    # pred
    if schema.pred is None:
        conventional = [n for n in PRED_NAMES if n in table.columns and n not in target]
        if conventional:
            pred = [conventional[0]]
        else:
            taken = set(target) | ({weight} if weight else set())
            pred = [n for n in names if n not in taken]
            if isinstance(table, NpzTable) and len(target) == 1:
                n_rows = table.rows_of(target[0])
                pred = [n for n in pred if table.rows_of(n) == n_rows]
            if not pred:
                raise SchemaError(
                    f"{path}: no prediction columns; pass --pred COLS|GLOB; available columns: "
                    f"{_list(names)}"
                )
    else:
        pred = resolve_columns(schema.pred, names, role="--pred", path=path)
    overlap = set(pred) & (set(target) | ({weight} if weight else set()))
    if overlap:
        raise SchemaError(
            f"{path}: column(s) {_list(sorted(overlap))} used both as prediction and as "
            "target/weight; pass --pred to choose the prediction columns"
        )
    for n in pred + ([weight] if weight else []):
        c = table.columns[n]
        if c.dtype not in ("float", "int", "text"):
            raise SchemaError(
                f"{path}: column {n!r} has type {c.dtype}, expected numbers"
                + ("; pass --pred to choose the prediction columns" if schema.pred is None else "")
            )
    if weight and table.columns[weight].width is not None:
        raise SchemaError(f"{path}: --weight-col {weight!r} must be a scalar column")
    num_classes = _width(table, pred, "--pred")
    if len(target) == 1 and table.columns[target[0]].width is None:
        soft = False
        c = table.columns[target[0]]
        if c.dtype == "bool":
            raise SchemaError(
                f"{path}: target column {target[0]!r} is boolean; write class indices 0/1 "
                "(integers) or give the target as a distribution"
            )
        if c.dtype == "other":
            raise SchemaError(f"{path}: target column {target[0]!r} is neither numbers nor text")
        label_kind = c.dtype
    else:
        soft = True
        label_kind = "vector"
        k = _width(table, target, "--target")
        if k != num_classes and k != -1 and num_classes != -1:
            raise SchemaError(
                f"{path}: the target distribution has {k} classes but the prediction has "
                f"{num_classes}"
            )
    return Layout(tuple(target), tuple(pred), weight, num_classes, soft, label_kind)


def _width(table: Table, cols: Sequence[str], role: str) -> int:
    if len(cols) == 1:
        w = table.columns[cols[0]].width
        if w is not None:
            return w  # -1: a variable list column, checked per batch
        return 1
    for n in cols:
        if table.columns[n].width is not None:
            raise SchemaError(
                f"{table.path}: {role} mixes the vector column {n!r} with other columns; "
                "give either one list/tensor column or several scalar columns"
            )
    return len(cols)


# ----------------------------------------------------------------------------- labels
def _parse_labels(col, layout: Layout, schema: Schema, path: str, offset: int):
    """Class indices (int64) from a label column, with missing/bad-row masks."""
    name = layout.target[0]
    na = set(schema.na_values)
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        pa = None
    if pa is not None and isinstance(col, (pa.Array, pa.ChunkedArray)):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            # Parquet/Arrow numeric label column: nulls are missing labels.
            if col.null_count == 0:
                return _numeric_labels(_to_numpy(col), None, name, path, offset)
            miss = col.is_null().to_numpy(zero_copy_only=False)
            values = col.fill_null(0).to_numpy(zero_copy_only=False)
            return _numeric_labels(values, miss, name, path, offset)
        text = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        if col.null_count:
            miss = col.is_null().to_numpy(zero_copy_only=False)
        else:
            miss = np.zeros(len(text), dtype=bool)
        return _text_labels(text, miss, na, schema, name, path, offset)
    arr = np.asarray(col)
    if arr.dtype.kind in "US":
        text = arr.astype(object)
        return _text_labels(text, np.zeros(len(text), dtype=bool), na, schema, name, path, offset)
    return _numeric_labels(arr, None, name, path, offset)


def _numeric_labels(values: np.ndarray, missing, name, path, offset):
    if values.dtype.kind == "b":
        raise SchemaError(f"{path}: target column {name!r} is boolean; write integer class indices")
    if values.dtype.kind in "iu":
        if (
            values.dtype.kind == "u"
            and values.dtype.itemsize == 8
            and values.size
            and values.max() > np.iinfo(np.int64).max
        ):
            bad = values > np.iinfo(np.int64).max
            return np.zeros(len(values), np.int64), missing, bad, [int(v) for v in values[bad][:3]]
        return values.astype(np.int64, copy=False), missing, None, []
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            missing = nan if missing is None else (missing | nan)
        finite = np.isfinite(values)
        integral = np.zeros(len(values), dtype=bool)
        integral[finite] = values[finite] == np.floor(values[finite])
        integral &= np.abs(values) < 2.0**62
        bad = ~integral & ~nan
        out = np.where(integral, values, 0).astype(np.int64)
        if bad.any():
            return out, missing, bad, [float(v) for v in values[bad][:3]]
        return out, missing, None, []
    raise SchemaError(
        f"{path}: target column {name!r} has dtype {values.dtype}; need class indices"
    )


def _text_labels(text, missing, na, schema: Schema, name, path, offset):
    n = len(text)
    out = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    missing = missing.copy()
    if na:
        missing |= np.fromiter((t in na for t in text), dtype=bool, count=n)
    if schema.classes is not None:
        lookup = {c: i for i, c in enumerate(schema.classes)}
        for i, t in enumerate(text):
            if missing[i]:
                continue
            j = lookup.get(t)
            if j is None:
                j = _as_int(t)
                if j is None:
                    bad[i] = True
                    continue
            out[i] = j
    else:
        for i, t in enumerate(text):
            if missing[i]:
                continue
            j = _as_int(t)
            if j is None:
                bad[i] = True
            else:
                out[i] = j
    values = [text[i] for i in np.flatnonzero(bad)[:3]]
    return out, (missing if missing.any() else None), (bad if bad.any() else None), values


def _as_int(t) -> int | None:
    if t is None:
        return None
    s = str(t).strip()
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return None
    if np.isfinite(f) and f == int(f) and abs(f) < 2.0**62:
        return int(f)
    return None


# ----------------------------------------------------------------------------- batches
def _as_matrix(cols: dict, names: Sequence[str], path: str, offset: int, role: str) -> np.ndarray:
    arrays = [cols[n] for n in names]
    if len(arrays) == 1 and np.ndim(arrays[0]) == 2:
        a = arrays[0]
    else:
        for n, a in zip(names, arrays, strict=True):
            if np.ndim(a) != 1:
                raise SchemaError(f"{path}: {role} column {n!r} is not a scalar column")
        a = np.column_stack(arrays) if arrays else np.empty((0, 0))
    if a.dtype.kind not in "fiu":
        raise SchemaError(f"{path}: {role} columns hold {a.dtype}, expected numbers")
    return np.ascontiguousarray(a, dtype=np.float64)


def read_batches(
    paths: Sequence[str],
    schema: Schema,
    *,
    batch_size: int = 65536,
    input_format: str = "auto",
    on_layout=None,
) -> Iterator[Batch]:
    """Stream :class:`Batch` objects from every file in turn.

    Every file must resolve to the same columns and number of classes as the first
    (else :class:`SchemaError` naming both files). ``on_layout(path, table, layout)``
    is called once per file before its first batch.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "a.npz")
    >>> np.savez(p, logits=np.zeros((5, 3)), target=np.arange(5) % 3)
    >>> [(b.offset, len(b)) for b in read_batches([p], Schema(), batch_size=2)]
    [(0, 2), (2, 2), (4, 1)]
    """
    if batch_size < 1:
        raise SchemaError(f"--batch-size must be ≥ 1, got {batch_size}")
    first: tuple[str, Layout] | None = None
    for path in paths:
        table = open_table(path, input_format=input_format, na_values=schema.na_values)
        layout = resolve(table, schema)
        if first is not None:
            check_same_columns(first[0], first[1], path, layout)
        else:
            first = (path, layout)
        if on_layout is not None:
            on_layout(path, table, layout)
        types = {n: "float" for n in layout.pred}
        if not layout.soft_target:
            types[layout.target[0]] = (
                "string" if layout.label_kind in ("text", "string") else "label"
            )
        else:
            types.update({n: "float" for n in layout.target})
        if layout.weight:
            types[layout.weight] = "float"
        needed = list(
            dict.fromkeys(
                list(layout.target) + list(layout.pred) + ([layout.weight] if layout.weight else [])
            )
        )
        for offset, cols in _rebatch(table.batches(needed, batch_size, types), batch_size):
            pred = _as_matrix(cols, layout.pred, path, offset, "prediction")
            missing = bad = None
            bad_values: list = []
            if layout.soft_target:
                target = _as_matrix(cols, layout.target, path, offset, "target")
                if target.shape[1] != pred.shape[1]:
                    raise SchemaError(
                        f"{path}: the target distribution has {target.shape[1]} classes but the "
                        f"prediction has {pred.shape[1]} (rows from {offset})"
                    )
            else:
                target, missing, bad, bad_values = _parse_labels(
                    cols[layout.target[0]], layout, schema, path, offset
                )
            weight = None
            if layout.weight:
                weight = np.ascontiguousarray(cols[layout.weight], dtype=np.float64)
            yield Batch(pred, target, weight, path, offset, missing, bad, bad_values)


def _rebatch(pieces, batch_size: int):
    """Regroup ``(offset, cols)`` pieces into exactly ``batch_size`` rows (the last may be
    shorter), so batch boundaries never depend on the file format's own chunking."""
    pending: list[dict] = []
    have = 0
    start = 0
    for offset, cols in pieces:
        n = _num_rows(cols)
        if not pending:
            start = offset
        pending.append(cols)
        have += n
        while have >= batch_size:
            merged = _concat(pending)
            head = {k: v[:batch_size] for k, v in merged.items()}
            tail = {k: v[batch_size:] for k, v in merged.items()}
            yield start, head
            start += batch_size
            have -= batch_size
            pending = [tail] if have else []
    if have:
        yield start, _concat(pending)


def _num_rows(cols: dict) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def _concat(parts: list[dict]) -> dict:
    if len(parts) == 1:
        return parts[0]
    out = {}
    for k in parts[0]:
        vals = [p[k] for p in parts]
        if isinstance(vals[0], np.ndarray):
            out[k] = np.concatenate(vals)
        else:  # Arrow arrays (CSV label text)
            import pyarrow as pa

            out[k] = pa.concat_arrays(
                [v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for v in vals]
            )
    return out
