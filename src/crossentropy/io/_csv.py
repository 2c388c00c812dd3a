"""CSV tables: a header row required; prediction and weight columns parsed to float64
(correctly rounded, so the same numbers written with ``repr`` read back bit-identical); the
label column read as text, so a class named ``"NA"`` stays a class unless ``na_values`` says
otherwise. Standard input and pipes are read once (the header from the bytes looked at first)."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence

from ._arrow import _require_pyarrow
from ._stream import Stream
from ._table import Column, DataError, FileError, InputError, SchemaError, Table, _short

_MAX_HEADER = 1 << 24  # bytes looked at for the header row of a piped CSV


def _header_end(buf: bytes) -> int | None:
    """Where the first record of ``buf`` ends (a line break outside quotes), or None.

    >>> _header_end(b'a,"b\\nc"\\n1,2\\n')
    7
    """
    i, quoted = 0, False
    while True:
        q = buf.find(b'"', i)
        if quoted:
            if q < 0:
                return None
            quoted, i = False, q + 1
            continue
        ends = [k for k in (buf.find(b"\n", i), buf.find(b"\r", i)) if k >= 0]
        if ends and (q < 0 or min(ends) < q):
            return min(ends)
        if q < 0:
            return None
        quoted, i = True, q + 1


class CsvTable(Table):
    format = "csv"

    def __init__(self, path: str, na_values: Sequence[str] = (), *, stream: Stream | None = None):
        _require_pyarrow("CSV")
        self.path = path
        self.na_values = tuple(na_values)
        self.num_rows = None
        self._stream = stream
        try:
            if stream is None:
                with open(path, newline="", encoding="utf-8-sig") as f:
                    header = next(csv.reader(f), None)
            else:
                header = self._stream_header(stream)
        except UnicodeDecodeError:
            raise FileError(f"{path}: not a UTF-8 text file (is it CSV?)") from None
        except OSError as e:
            raise FileError(f"{path}: cannot read ({e.strerror})") from None
        except csv.Error as e:
            raise FileError(f"{path}: malformed CSV header ({_short(e)})") from None
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

    def _stream_header(self, stream: Stream) -> list[str] | None:
        buf, ended = stream.peek_until(lambda b: _header_end(b) is not None, _MAX_HEADER)
        end = _header_end(buf)
        if end is None and not ended:
            raise FileError(
                f"{self.path}: no line break in the first {len(buf)} bytes (is it CSV?)"
            )
        text = buf[: len(buf) if end is None else end].decode("utf-8-sig")
        return next(csv.reader([text]), None)

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
        source = self.path if self._stream is None else self._stream.take()
        try:
            reader = pcsv.open_csv(source, read_options=read, convert_options=convert)
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
        col = self.header[int(m.group(1))] if m and int(m.group(1)) < len(self.header) else None
        if col is not None and "invalid UTF8" in msg:
            return FileError(f"{self.path}: column {col!r} holds bytes that are not UTF-8 text")
        if col is not None and "conversion error" in msg:
            where = self._find_bad_float(col, msg)
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

    def _find_bad_float(self, col: str, msg: str) -> str:
        """The first values of ``col`` that are not numbers, with their rows (the reader's
        own words when the file cannot be read again: a pipe)."""
        m = re.search(r"invalid value ('.*')", msg)
        fallback = f"found {m.group(1)}" if m else "a value could not be parsed as a number"
        if self._stream is not None:
            return fallback
        j = self.header.index(col)
        bad = []
        try:
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
        except (OSError, UnicodeDecodeError, csv.Error):
            return fallback
        if not bad:
            return fallback
        return "found " + ", ".join(f"{v!r} at row {i}" for i, v in bad)
