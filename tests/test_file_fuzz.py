"""Damaged files through the command line: truncated, bit-flipped and header-mangled copies of
one small table in every format, run in-process through ``crossentropy.cli.main``.

Every damaged file must end in a named error (exit 3 data, exit 4 file; exit 2 only when the
damage renames a column, which is what a schema error says) without a traceback, an internal
error or a raw warning, or in exit 0 with the numbers of the intact file. Where a format
carries the information to tell (``VERIFIED``), exit 0 with other numbers is a failure:

* Parquet written with page checksums: every page's CRC, the footer's row counts against each
  other and the rows read, its column names against the stored Arrow schema;
* NPZ: the ZIP CRC-32 of every member read, each member's size against its NPY header;
* NPY: the file size against the header (truncation);
* Arrow IPC file: its footer (truncation); Arrow IPC stream: its end-of-stream marker.

Data bytes without a checksum (CSV, NPY data, Arrow IPC buffers) cannot be verified by any
reader: a flipped digit is another valid number, so there only the first rule is checked.
The loop is seeded and bounded (a few dozen mutations per format). After it, one test per
kind of damage that random mutation rarely hits: a flipped bit in every Parquet page, a row
count or column name changed in a Parquet footer, an Arrow IPC stream cut at every
record-batch boundary, record-batch lengths longer than their buffers, NPY headers that lie
(sizes past int64, negative or boolean dimensions, code, unknown versions, trailing arrays),
and NPZ members that are encrypted, in an unreadable compression method, or fail their CRC.
``_cli``, ``_refused`` and ``_ce`` are shared with ``test_io``.
"""

from __future__ import annotations

import contextlib
import io as _pyio
import json
import os
import struct
import sys
import warnings
import zipfile

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from crossentropy.cli import main  # noqa: E402

N, C = 24, 3
PER_KIND = 24  # mutations of each kind per format
ARGS = ["--target", "y", "--pred", "a,b,c", "--kind", "logits", "--format", "json"]

#: (format, mutation kind) pairs whose damage the reader can always detect.
VERIFIED = {
    ("parquet", "truncate"),
    ("parquet", "flip"),
    ("parquet", "mangle"),
    ("npz", "truncate"),
    ("npz", "flip"),
    ("npz", "mangle"),
    ("npz-stored", "truncate"),
    ("npz-stored", "flip"),
    ("npz-stored", "mangle"),
    ("npy", "truncate"),
    ("arrow", "truncate"),
    ("arrows", "truncate"),
    ("arrows-stdin", "truncate"),
}


def _table():
    rng = np.random.default_rng(20260612)
    X = rng.normal(scale=2.0, size=(N, C))
    y = rng.integers(0, C, N)
    return X, y


def _write(d: str) -> dict[str, tuple[str, tuple[int, int]]]:
    """The table in every format: name → (path, the (start, stop) byte span of its header)."""
    X, y = _table()
    cols = {"y": y, "a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}
    tab = pa.table(cols)
    out = {}
    p = os.path.join(d, "t.csv")
    with open(p, "w") as f:
        f.write("y,a,b,c\n")
        for i in range(N):
            f.write(",".join([str(int(y[i]))] + [repr(float(v)) for v in X[i]]) + "\n")
    out["csv"] = (p, (0, 8))
    p = os.path.join(d, "t.parquet")
    pq.write_table(tab, p, row_group_size=10, write_page_checksum=True, compression="none")
    size = os.path.getsize(p)
    footer = int.from_bytes(open(p, "rb").read()[-8:-4], "little")
    out["parquet"] = (p, (size - 8 - footer, size))
    p = os.path.join(d, "t.arrow")
    with pa.OSFile(p, "wb") as s, pa.ipc.new_file(s, tab.schema) as w:
        w.write_table(tab, max_chunksize=7)
    out["arrow"] = (p, (0, 200))
    p = os.path.join(d, "t.arrows")
    with pa.OSFile(p, "wb") as s, pa.ipc.new_stream(s, tab.schema) as w:
        w.write_table(tab, max_chunksize=7)
    out["arrows"] = (p, (0, 200))
    out["arrows-stdin"] = (p, (0, 200))
    p = os.path.join(d, "t.npz")
    np.savez_compressed(p, **cols)
    out["npz"] = (p, (0, 160))
    p = os.path.join(d, "stored.npz")
    np.savez(p, **cols)
    out["npz-stored"] = (p, (0, 160))
    st = np.zeros(N, dtype=[("y", "<i8"), ("a", "<f8"), ("b", "<f8"), ("c", "<f8")])
    for k, v in cols.items():
        st[k] = v
    p = os.path.join(d, "t.npy")
    np.save(p, st)
    out["npy"] = (p, (0, 128))
    return out


def _cli(argv, stdin: bytes | None = None) -> tuple[int, str, str, list[str]]:
    """``crossentropy evaluate ARGV`` in-process, ``stdin`` as standard input: (exit status,
    stdout, stderr, the warnings that escaped)."""
    out, err, saved = _pyio.StringIO(), _pyio.StringIO(), sys.stdin
    if stdin is not None:
        sys.stdin = _pyio.TextIOWrapper(_pyio.BytesIO(stdin))
    try:
        with (
            warnings.catch_warnings(record=True) as rec,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.simplefilter("always")
            rc = main(["evaluate", *[str(a) for a in argv]])
    finally:
        sys.stdin = saved
    return rc, out.getvalue(), err.getvalue(), [f"{w.category.__name__}: {w.message}" for w in rec]


def _refused(argv, code, *needles, stdin=None) -> str:
    """Run; assert exit ``code``, one message holding every needle, no traceback or warning."""
    rc, _, err, warned = _cli(argv, stdin)
    assert rc == code, (rc, err)
    for n in needles:
        assert n in err, (n, err)
    assert err.count("\n") == 1 and "Traceback" not in err and not warned, (err, warned)
    return err


def _ce(argv, stdin=None) -> dict:
    """Run with ``--kind logits --format json``; assert exit 0 and no warning; the JSON."""
    rc, out, err, warned = _cli([*argv, "--kind", "logits", "--format", "json"], stdin)
    assert rc == 0 and not warned, (err, warned)
    return json.loads(out)


def _numbers(stdout: str) -> tuple:
    d = json.loads(stdout)
    return json.dumps(d["report"], sort_keys=True), json.dumps(d["rows"], sort_keys=True)


def _mutants(raw: bytes, header: tuple[int, int], rng: np.random.Generator):
    n = len(raw)
    cuts = {n - 1, n - 4, n - 8, n // 2, 1, 8}
    cuts |= {int(k) for k in rng.integers(1, n, PER_KIND - len(cuts))}
    for k in sorted(c for c in cuts if 0 < c < n):
        yield "truncate", f"cut at {k}", raw[:k]
    for _ in range(PER_KIND):
        pos, bit = int(rng.integers(0, n)), int(rng.integers(0, 8))
        b = bytearray(raw)
        b[pos] ^= 1 << bit
        yield "flip", f"bit {bit} of byte {pos}", bytes(b)
    lo, hi = header[0], min(header[1], n)
    for _ in range(PER_KIND):
        pos, width = int(rng.integers(lo, hi)), int(rng.integers(1, 5))
        b = bytearray(raw)
        b[pos : pos + width] = rng.integers(0, 256, width, dtype=np.uint8).tobytes()
        yield "mangle", f"{width} random bytes at {pos}", bytes(b)


def test_damaged_files_fail_cleanly_or_give_the_same_numbers(tmp_path):
    files = _write(str(tmp_path))
    rng = np.random.default_rng(12)
    seen: dict[tuple[str, str, int], int] = {}
    for fmt, (path, header) in files.items():
        stdin = fmt.endswith("-stdin")
        raw = open(path, "rb").read()
        rc, out, err, warned = _cli([path if not stdin else "-", *ARGS], raw if stdin else None)
        assert rc == 0 and not warned, (fmt, err, warned)
        base = _numbers(out)
        ext = os.path.splitext(path)[1]
        for kind, what, data in _mutants(raw, header, rng):
            p = str(tmp_path / f"m{ext}")
            if not stdin:
                with open(p, "wb") as f:
                    f.write(data)
            rc, out, err, warned = _cli([p if not stdin else "-", *ARGS], data if stdin else None)
            case = f"{fmt}, {kind} ({what}): exit {rc}: {err.strip()}"
            seen[(fmt, kind, rc)] = seen.get((fmt, kind, rc), 0) + 1
            assert "Traceback" not in err and "internal error" not in err, case
            assert not warned, (case, warned)
            assert rc in (0, 2, 3, 4), case
            if rc == 2:  # a renamed or retyped column: the schema error names it
                assert "column" in err or "shape" in err, case
            if rc != 0:
                assert err.count("\n") == 1, case  # one message, no dump
            if rc == 0 and (fmt, kind) in VERIFIED:
                assert _numbers(out) == base, f"{case}: exit 0 with other numbers"
    # the damage was seen by the readers, not waved through: every format refused some
    for fmt in files:
        assert any(seen.get((fmt, k, rc), 0) for k in ("truncate",) for rc in (3, 4)), fmt


# ----------------------------------------------------------------------------- one damage each
# ----------------------------------------------------------------------------- integrity
def test_parquet_page_checksums_are_verified(tmp_path):
    """A flipped bit in any data page of a file written with page checksums is exit 4 (a
    file without checksums cannot tell; both are read alike when intact)."""
    rng = np.random.default_rng(41)
    tab = pa.table(
        {"y": rng.integers(0, 5, 90), **{f"q{j}": rng.normal(size=90) for j in range(5)}}
    )
    p = tmp_path / "c.parquet"
    pq.write_table(tab, p, write_page_checksum=True, row_group_size=30, compression="snappy")
    base = _ce([p])
    md = pq.ParquetFile(p).metadata
    raw = p.read_bytes()
    hit = 0
    for g in range(md.num_row_groups):
        for j in range(md.num_columns):
            c = md.row_group(g).column(j)
            start = c.dictionary_page_offset or c.data_page_offset
            pos = start + c.total_compressed_size - 3  # the last bytes of the chunk's last page
            b = bytearray(raw)
            b[pos] ^= 0x20
            (tmp_path / "f.parquet").write_bytes(bytes(b))
            rc, out, err, _ = _cli([tmp_path / "f.parquet", "--kind", "logits", "--format", "json"])
            assert rc == 4 and "fails its checksum" in err, (g, j, rc, err)
            hit += 1
    assert hit == 3 * 6 and base["rows"]["read"] == 90


def test_parquet_footer_row_counts_and_names_are_cross_checked(tmp_path):
    rng = np.random.default_rng(43)
    rows = 33
    tab = pa.table(
        {
            "y": rng.integers(0, 3, rows),
            "s": rng.normal(size=rows),
            "t": rng.normal(size=rows),
            "u": rng.normal(size=rows),
        }
    )
    p = tmp_path / "r.parquet"
    pq.write_table(tab, p, row_group_size=11, write_page_checksum=True)
    raw = p.read_bytes()
    flen = int.from_bytes(raw[-8:-4], "little")
    lo = len(raw) - 8 - flen
    # a flip in a row group's row count that pyarrow alone would read as fewer rows
    zig = bytes([2 * 11])  # thrift compact zigzag varint of 11
    shorter = None
    for pos in range(lo, len(raw) - 8):
        if raw[pos : pos + 1] != zig:
            continue
        for bit in (0x02, 0x04):  # 11 → 10 or 9 rows
            b = bytearray(raw)
            b[pos] ^= bit
            try:
                f = pq.ParquetFile(pa.BufferReader(bytes(b)))
                n = sum(rb.num_rows for rb in f.iter_batches())
            except Exception:
                continue
            if n < rows:
                shorter = bytes(b)
                break
        if shorter is not None:
            break
    assert shorter is not None, "no row-count field found to damage"
    (tmp_path / "short.parquet").write_bytes(shorter)
    _refused([tmp_path / "short.parquet", "--kind", "logits"], 4, "file corrupt", "rows")
    # a column renamed in the footer (the Arrow schema stored beside it keeps the old name)
    i = raw.index(b"\x18\x01s", lo)
    b = bytearray(raw)
    b[i + 2 : i + 3] = b"w"
    (tmp_path / "renamed.parquet").write_bytes(bytes(b))
    _refused([tmp_path / "renamed.parquet", "--kind", "logits"], 4, "stored Arrow schema")


def _stream_bytes(tab, chunk) -> tuple[bytes, list[int]]:
    """An Arrow IPC stream of ``tab`` and the byte offsets where its record batches end."""
    sink = pa.BufferOutputStream()
    ends = []
    with pa.ipc.new_stream(sink, tab.schema) as w:
        for rb in tab.to_batches(max_chunksize=chunk):
            w.write_batch(rb)
            ends.append(sink.tell())
    return sink.getvalue().to_pybytes(), ends


def test_arrow_stream_without_end_marker_is_truncated(tmp_path):
    rng = np.random.default_rng(47)
    tab = pa.table(
        {
            "y": pa.array(rng.integers(0, 4, 29), pa.int32()),
            "logits": pa.array(list(rng.normal(size=(29, 4))), pa.list_(pa.float64(), 4)),
        }
    )
    raw, ends = _stream_bytes(tab, 6)
    (tmp_path / "ok.arrows").write_bytes(raw)
    assert _ce([tmp_path / "ok.arrows"])["rows"]["read"] == 29
    for k, end in enumerate(ends):  # cut at every record-batch boundary
        (tmp_path / "cut.arrows").write_bytes(raw[:end])
        rows = min(6 * (k + 1), 29)
        _refused(
            [tmp_path / "cut.arrows", "--kind", "logits"],
            4,
            "file truncated",
            f"after {rows} rows",
            "end-of-stream",
        )
        _refused(["-", "--kind", "logits"], 4, "<stdin>", "end-of-stream", stdin=raw[:end])
    (tmp_path / "two.arrows").write_bytes(raw + raw)
    _refused([tmp_path / "two.arrows", "--kind", "logits"], 4, "after the Arrow IPC stream's end")


def _npy(header: str, data: bytes = b"", version=(1, 0)) -> bytes:
    h = header.encode("utf8" if version == (3, 0) else "latin1")
    size = 2 if version == (1, 0) else 4
    h += b" " * (-(8 + size + len(h) + 1) % 64) + b"\n"
    return b"\x93NUMPY" + bytes(version) + len(h).to_bytes(size, "little") + h + data


def test_npy_headers_that_lie_are_file_errors(tmp_path):
    cases = {
        # sizes beyond int64 when multiplied: Python integers, no wrap to a small number
        "wrap": (
            "{'descr': '<i4', 'fortran_order': False, 'shape': (1099511627776, 3), }",
            "announces",
        ),
        "wrap2": (
            "{'descr': '<f2', 'fortran_order': False, 'shape': (3, 2305843009213693952), }",
            "announces",
        ),
        "negative": (
            "{'descr': '<f8', 'fortran_order': False, 'shape': (5, -2), }",
            "shape (5, -2)",
        ),
        "bool": ("{'descr': '<f8', 'fortran_order': False, 'shape': (True, 2), }", "not valid"),
        "descr": ("{'descr': '<q9', 'fortran_order': False, 'shape': (1, 2), }", "dtype"),
        "keys": ("{'descr': '<f8', 'shape': (1, 2), }", "fortran_order"),
        "code": ("__import__('os').getcwd()", "not readable"),
        "escape": ("{'descr': '\\q<f8', 'fortran_order': False, 'shape': (1, 2), }", "dtype"),
        "nested": ("{'descr': " + "(" * 5000 + ")" * 5000 + "}", "not readable"),
    }
    for name, (header, needle) in cases.items():
        (tmp_path / f"{name}.npy").write_bytes(_npy(header, b"\0" * 48))
        _refused([tmp_path / f"{name}.npy", "--kind", "logits"], 4, needle)
    zero = "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4294967296), }"
    (tmp_path / "wide.npy").write_bytes(_npy(zero))
    _refused([tmp_path / "wide.npy", "--kind", "logits"], 2, "4294967296 columns")
    good = _npy(
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", np.zeros(6).tobytes()
    )
    (tmp_path / "v5.npy").write_bytes(good[:6] + b"\x05\x00" + good[8:])
    _refused([tmp_path / "v5.npy", "--kind", "logits"], 4, "version 5.0")
    (tmp_path / "long.npy").write_bytes(good + good)  # two arrays in one file
    _refused([tmp_path / "long.npy", "--kind", "logits"], 4, "bytes after the array")
    (tmp_path / "short.npy").write_bytes(good[:-1])
    _refused([tmp_path / "short.npy", "--kind", "logits"], 4, "truncated")


def _zip_patch(raw: bytes, *, method=None, flags=None) -> bytes:
    """Set the compression method or flag bits of every member (local and central headers)."""
    b = bytearray(raw)
    for sig, fl, me in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        i = b.find(sig)
        while i >= 0:
            if flags is not None:
                b[i + fl : i + fl + 2] = struct.pack("<H", flags)
            if method is not None:
                b[i + me : i + me + 2] = struct.pack("<H", method)
            i = b.find(sig, i + 4)
    return bytes(b)


def test_npz_members_encrypted_unsupported_or_damaged(tmp_path):
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(53, 4)), rng.integers(0, 4, 53)
    np.savez(tmp_path / "ok.npz", target=y, logits=X)
    raw = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "enc.npz").write_bytes(_zip_patch(raw, flags=0x1))
    _refused([tmp_path / "enc.npz", "--kind", "logits"], 4, "encrypted", "'target'")
    for method, name in ((98, "ppmd"), (9, "deflate64"), (77, "unknown")):
        (tmp_path / "m.npz").write_bytes(_zip_patch(raw, method=method))
        _refused([tmp_path / "m.npz", "--kind", "logits"], 4, f"method {method} ({name})")
    # one data byte of a stored member: the archive's CRC-32 catches it
    i = raw.index(X[7].tobytes())
    b = bytearray(raw)
    b[i + 3] ^= 0x01
    (tmp_path / "crc.npz").write_bytes(bytes(b))
    _refused([tmp_path / "crc.npz", "--kind", "logits"], 4, "Bad CRC-32", "'logits'")
    # a member whose NPY header announces more rows than it holds (a valid CRC-32), or
    # so many that their size overflows int64
    for shape, needle in (
        ("(93, 4)", "announces shape (93, 4)"),
        ("(4611686018427387904, 4)", "announces"),
    ):
        arr, target = _pyio.BytesIO(), _pyio.BytesIO()
        np.save(arr, X)
        np.save(target, y)
        member = arr.getvalue().replace(b"'shape': (53, 4)", f"'shape': {shape}".encode())
        with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
            z.writestr("target.npy", target.getvalue())
            z.writestr("logits.npy", member)
        _refused([tmp_path / "big.npz", "--kind", "logits"], 4, needle, "logits")


def test_arrow_metadata_that_lies_is_a_file_error(tmp_path):
    """pyarrow trusts a record batch's lengths and a schema's names when it reads them; a batch
    longer than its buffers or a name that is not UTF-8 is a damaged file (exit 4)."""
    rng = np.random.default_rng(53)
    tab = pa.table({"y": rng.integers(0, 3, 8), "a": rng.normal(size=8), "b": rng.normal(size=8)})
    raw, ends = _stream_bytes(tab, 4)
    only = pa.BufferOutputStream()
    pa.ipc.new_stream(only, tab.schema).close()
    schema_end = only.tell() - 8  # where the first batch starts (its end marker: 8 bytes)
    first = raw[: ends[0]]
    words = {
        i: int.from_bytes(first[i : i + 8], "little") for i in range(schema_end, len(first) - 8, 8)
    }
    # the batch's and each field node's length 4 → 1000; each buffer's length or offset 64 → 16
    spots = [(i, {4: 1000, 64: 16}[v]) for i, v in words.items() if v in (4, 64)]
    assert len(spots) >= 6, "no length fields found"
    codes = []
    for i, value in spots:
        b = bytearray(raw)
        b[i : i + 8] = value.to_bytes(8, "little")
        (tmp_path / "long.arrows").write_bytes(bytes(b))
        rc, _, err, warned = _cli([tmp_path / "long.arrows", "--kind", "logits"])
        assert rc in (0, 3, 4) and not warned, (i, rc, err)  # _cli: never an internal error
        codes.append((rc, "too small" in err))
    assert (4, True) in codes  # a buffer shorter than its array: named, exit 4
    i = raw.index(b"\x01\x00\x00\x00a\x00")  # the name "a" in the schema (flatbuffer string)
    b = bytearray(raw)
    b[i + 4] = 0xFF
    (tmp_path / "name.arrows").write_bytes(bytes(b))
    _refused([tmp_path / "name.arrows", "--kind", "logits"], 4, "not Arrow IPC")
