"""Parquet and Arrow IPC (file and stream) tables, read record batch by record batch, and the
Arrow → NumPy conversion of their columns (pyarrow is imported lazily).

Integrity: Parquet page checksums are verified where the file has them (pyarrow writes them
with ``write_page_checksum=True``); the row counts of the footer must agree with each other,
with the rows read and the footer's column names with its stored Arrow schema. An Arrow
IPC stream must end with its end-of-stream marker (a stream cut at a record-batch boundary
is otherwise indistinguishable from a shorter one) and hold nothing after it. Data without
checksums (Arrow IPC, Parquet without page checksums) cannot be verified."""

from __future__ import annotations

import abc

import numpy as np

from ._stream import Replay, Stream
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
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr.validate(full=True)  # UTF-8 text, offsets in bounds (the label parser reads it)
        return arr  # handled by the label parser (nulls are missing labels)
    if arr.null_count:
        rows = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        raise DataError(f"{path}: column {name!r} is missing at {format_rows(rows, offset)}")
    return _to_numpy(arr)


class _ArrowTable(Table):
    """Parquet and Arrow IPC tables (record-batch streams)."""

    label: str  # the format's name in messages

    def _corrupt(self, e: BaseException, reading: bool = False) -> FileError:
        msg = _short(e)
        if "checksum" in msg.lower():
            return FileError(f"file corrupt: {self.path} (a {self.label} page fails its checksum)")
        if reading:
            return FileError(f"file truncated or corrupt: {self.path} ({self.label}: {msg})")
        return FileError(f"file truncated or not {self.label}: {self.path} ({msg})")

    def _set_schema(self, schema) -> None:
        self.columns = {}
        try:
            fields = [(f.name, f.type) for f in schema]
        except Exception as e:  # a name that is not UTF-8: a damaged schema
            raise self._corrupt(e) from None
        for name, type_ in fields:
            width, kind = _arrow_dtype(type_)
            if name in self.columns:
                raise SchemaError(f"{self.path}: duplicate column name {name!r}")
            self.columns[name] = Column(name, width, kind)

    @abc.abstractmethod
    def _record_batches(self, names, batch_size):
        """Yield pyarrow record batches of the named columns (Parquet and Arrow IPC differ here)."""

    def _read(self, names, batch_size):
        """:meth:`_record_batches`, a failure to read raised as a :class:`FileError` naming the file."""
        try:
            for rb in self._record_batches(names, batch_size):
                rb.validate()  # buffers as long as the batch says (a reader trusts the lengths)
                yield rb
        except InputError:
            raise
        except Exception as e:
            raise self._corrupt(e, reading=True) from None

    def batches(self, names, batch_size, column_types):
        import pyarrow as pa

        offset = 0
        for rb in self._read(list(names), batch_size):
            for start in range(0, rb.num_rows, batch_size):
                part = rb.slice(start, batch_size)
                try:
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
                except (pa.ArrowException, UnicodeDecodeError) as e:
                    raise self._corrupt(e, reading=True) from None
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
                path,
                memory_map=False,
                buffer_size=1 << 20,
                pre_buffer=False,
                page_checksum_verification=True,
            )
            schema = self._file.schema_arrow
        except Exception as e:  # ArrowInvalid, OSError: magic bytes / footer
            raise self._corrupt(e) from None
        md = self._file.metadata
        self.num_rows = md.num_rows
        groups = [md.row_group(i).num_rows for i in range(md.num_row_groups)]
        if sum(groups) != md.num_rows:
            raise FileError(
                f"file corrupt: {path} (its footer says {md.num_rows} rows, its row groups "
                f"hold {sum(groups)})"
            )
        self._check_stored_schema(md, schema)
        self._set_schema(schema)

    def _check_stored_schema(self, md, schema) -> None:
        """The footer's column names against the Arrow schema stored beside them (pyarrow and
        other Arrow writers store it): two copies that differ mean a corrupt footer."""
        import base64

        import pyarrow as pa

        stored = (md.metadata or {}).get(b"ARROW:schema")
        if stored is None:
            return
        try:
            names = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(stored))).names
        except Exception as e:
            raise self._corrupt(e) from None
        if names != schema.names:
            raise FileError(
                f"file corrupt: {self.path} (the footer's column names {schema.names} differ "
                f"from its stored Arrow schema's {names})"
            )

    def _record_batches(self, names, batch_size):
        # one thread: decoding columns in parallel holds a row group's buffers per thread
        rows = 0
        for rb in self._file.iter_batches(batch_size=batch_size, columns=names, use_threads=False):
            rows += rb.num_rows
            yield rb
        if rows != self.num_rows:
            raise FileError(
                f"file corrupt: {self.path} (its footer says {self.num_rows} rows; {rows} were read)"
            )


_EOS = b"\x00\x00\x00\x00"  # the last read of a complete stream: a message length of 0


class ArrowTable(_ArrowTable):
    format = "arrow"
    label = "Arrow IPC"

    def __init__(self, path: str, *, stream: Stream | None = None):
        pa = _require_pyarrow(self.label)
        self.path = path
        self._done = False
        self._one_shot = stream is not None
        if stream is None:
            with open(path, "rb") as f:
                head = f.read(6)
        else:
            head = stream.peek(6)
        self._stream = head != b"ARROW1"
        try:
            if not self._stream:  # the file format (a footer indexes the record batches)
                self._source = pa.OSFile(path, "rb")  # read per batch; no growing map
                self._reader = pa.ipc.open_file(self._source)
                self.num_rows = sum(
                    self._reader.get_batch(i).num_rows
                    for i in range(self._reader.num_record_batches)
                )
            else:  # the stream format: read front to back, its end marker checked
                self._src: Replay = (
                    Replay(b"", open(path, "rb")) if stream is None else stream.take()  # noqa: SIM115
                )
                self._reader = pa.ipc.open_stream(self._src)
                self.num_rows = None
        except InputError:
            raise
        except Exception as e:
            raise self._corrupt(e) from None
        self._set_schema(self._reader.schema)

    def _record_batches(self, names, batch_size):
        if not self._stream:
            for i in range(self._reader.num_record_batches):
                yield self._reader.get_batch(i).select(names)
            return
        if self._done and self._one_shot:
            raise FileError(
                f"{self.path}: already read (a pipe or standard input can be read only once; "
                "save it to a file to read it again)"
            )
        if self._done:  # a file: read it again from its start
            import pyarrow as pa

            self._src = Replay(b"", open(self.path, "rb"))  # noqa: SIM115
            self._reader = pa.ipc.open_stream(self._src)
        self._done = True
        rows = 0
        try:
            for rb in self._reader:
                rows += rb.num_rows
                yield rb.select(names)
            if self._src.last != _EOS:
                raise FileError(
                    f"file truncated: {self.path} (the Arrow IPC stream ends after {rows} rows "
                    "without its end-of-stream marker: cut short, or its writer was not closed)"
                )
            if self._src.read(1):
                raise FileError(
                    f"file corrupt: {self.path} (bytes after the Arrow IPC stream's "
                    "end-of-stream marker; several streams written one after another?)"
                )
        finally:
            self._src.close()
