"""Parquet and Arrow IPC (file and stream) tables, read record batch by record batch, and the
Arrow → NumPy conversion of their columns (pyarrow is imported lazily)."""

from __future__ import annotations

import abc

import numpy as np

from ._table import (
    Column,
    DataError,
    FileError,
    InputError,
    SchemaError,
    Table,
    _short,
    format_rows,
)


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

    label: str  # the format's name in messages

    def _corrupt(self, e: BaseException) -> FileError:
        return FileError(f"file truncated or not {self.label}: {self.path} ({_short(e)})")

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

    def _read(self, names, batch_size):
        """:meth:`_record_batches`, a failure to read raised as a :class:`FileError` naming the file."""
        try:
            yield from self._record_batches(names, batch_size)
        except InputError:
            raise
        except Exception as e:
            raise self._corrupt(e) from None

    def batches(self, names, batch_size, column_types):
        offset = 0
        for rb in self._read(list(names), batch_size):
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
    label = "Parquet"

    def __init__(self, path: str):
        _require_pyarrow(self.label)
        import pyarrow.parquet as pq

        self.path = path
        try:
            # Buffered plain reads: a memory map's pages count in the resident set, and
            # pre-buffering keeps every row group read so far; both grow with the file.
            self._file = pq.ParquetFile(
                path, memory_map=False, buffer_size=1 << 20, pre_buffer=False
            )
        except Exception as e:  # ArrowInvalid, OSError: magic bytes / footer
            raise self._corrupt(e) from None
        self._set_schema(self._file.schema_arrow)
        self.num_rows = self._file.metadata.num_rows

    def _record_batches(self, names, batch_size):
        # one thread: decoding columns in parallel holds a row group's buffers per thread
        yield from self._file.iter_batches(batch_size=batch_size, columns=names, use_threads=False)


class ArrowTable(_ArrowTable):
    format = "arrow"
    label = "Arrow IPC"

    def __init__(self, path: str):
        pa = _require_pyarrow(self.label)
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
            raise self._corrupt(e) from None
        self._set_schema(self._reader.schema)

    def _record_batches(self, names, batch_size):
        if self._stream:
            for rb in self._reader:
                yield rb.select(names)
        else:
            for i in range(self._reader.num_record_batches):
                yield self._reader.get_batch(i).select(names)
