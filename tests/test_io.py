"""Reading prediction files: every format gives the same numbers, batches are exact,
and every malformed file gives a named error with the right exit status."""

from __future__ import annotations

import os

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from crossentropy import io  # noqa: E402
from test_file_fuzz import _ce, _refused, _stream_bytes  # noqa: E402

N, C = 53, 4


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(scale=3.0, size=(N, C))
    # awkward floats: subnormal, huge, negative zero, many digits
    X[0, 0] = 5e-324
    X[1, 1] = -1.7976931348623157e308 / 1e10
    X[2, 2] = -0.0
    X[3, 3] = 0.1 + 0.2
    y = rng.integers(0, C, N)
    w = rng.uniform(0.5, 2.0, N)
    return X, y, w


def write_all(d, X, y, w=None):
    """The same table in every supported format; returns {name: (path, schema)}."""
    cols = {f"logit_{j}": X[:, j] for j in range(X.shape[1])}
    extra = {} if w is None else {"w": w}
    tab = pa.table({"y": y, **cols, **extra})
    out = {}
    p = os.path.join(d, "t.csv")
    with open(p, "w") as f:
        f.write(",".join(["y", *cols, *extra]) + "\n")
        for i in range(len(y)):
            vals = [repr(float(v)) for v in X[i]] + ([] if w is None else [repr(float(w[i]))])
            f.write(",".join([str(int(y[i])), *vals]) + "\n")
    out["csv"] = p
    p = os.path.join(d, "t.parquet")
    pq.write_table(tab, p, row_group_size=10)
    out["parquet"] = p
    p = os.path.join(d, "t.arrow")
    with pa.OSFile(p, "wb") as s, pa.ipc.new_file(s, tab.schema) as wr:
        wr.write_table(tab, max_chunksize=9)
    out["arrow"] = p
    p = os.path.join(d, "t.arrows")
    with pa.OSFile(p, "wb") as s, pa.ipc.new_stream(s, tab.schema) as wr:
        wr.write_table(tab, max_chunksize=11)
    out["arrow-stream"] = p
    p = os.path.join(d, "t.npz")
    np.savez_compressed(p, y=y, **cols, **extra)
    out["npz"] = p
    p = os.path.join(d, "plain.npz")
    np.savez(p, y=y, **cols, **extra)
    out["npz-stored"] = p
    return out


def _collect(paths, schema, batch_size=7, **kw):
    bs = list(io.read_batches(paths, schema, batch_size=batch_size, **kw))
    pred = np.concatenate([b.pred for b in bs])
    target = np.concatenate([b.target for b in bs])
    w = np.concatenate([b.weight for b in bs]) if bs and bs[0].weight is not None else None
    return bs, pred, target, w


def test_every_format_reads_bit_identical(tmp_path):
    X, y, w = _data()
    files = write_all(str(tmp_path), X, y, w)
    schema = io.Schema(target="y", pred="logit_*", weight="w")
    for name, path in files.items():
        bs, pred, target, ww = _collect([path], schema)
        assert pred.tobytes() == X.tobytes(), name  # bit-identical, -0.0 and subnormals included
        assert np.array_equal(target, y) and target.dtype == np.int64, name
        assert ww.tobytes() == w.tobytes(), name
        # batch boundaries do not depend on the format's own chunking
        assert [(b.offset, len(b)) for b in bs] == [(i, min(7, N - i)) for i in range(0, N, 7)]


def test_npy_structured_and_plain_memory_mapped(tmp_path):
    X, y, _ = _data(1)
    st = np.zeros(N, dtype=[("y", "i8"), ("logits", "f8", (C,))])
    st["y"], st["logits"] = y, X
    np.save(tmp_path / "s.npy", st)
    np.save(tmp_path / "p.npy", np.column_stack([X, y]))
    _, pred, target, _ = _collect([str(tmp_path / "s.npy")], io.Schema(target="y"))
    assert pred.tobytes() == X.tobytes() and np.array_equal(target, y)
    _, pred, target, _ = _collect([str(tmp_path / "p.npy")], io.Schema(target=str(C)))
    assert pred.tobytes() == X.tobytes() and np.array_equal(target, y)


def test_list_column_and_fortran_npz(tmp_path):
    X, y, _ = _data(2)
    tab = pa.table({"label": y, "logits": pa.array(list(X), pa.list_(pa.float64(), C))})
    pq.write_table(tab, tmp_path / "l.parquet", row_group_size=8)
    _, pred, target, _ = _collect([str(tmp_path / "l.parquet")], io.Schema())
    assert pred.tobytes() == X.tobytes() and np.array_equal(target, y)
    np.savez(tmp_path / "f.npz", logits=np.asfortranarray(X), target=y)
    _, pred, target, _ = _collect([str(tmp_path / "f.npz")], io.Schema())
    assert pred.tobytes() == X.tobytes()


def test_glob_is_natural_sorted(tmp_path):
    cols = {f"logit_{j}": np.full(3, float(j)) for j in (10, 2, 1, 0)}
    np.savez(tmp_path / "a.npz", y=np.zeros(3, int), **cols)
    _, pred, _, _ = _collect([str(tmp_path / "a.npz")], io.Schema(target="y", pred="logit_*"))
    assert pred[0].tolist() == [0.0, 1.0, 2.0, 10.0]
    # an explicit list keeps its order
    _, pred, _, _ = _collect(
        [str(tmp_path / "a.npz")], io.Schema(target="y", pred="logit_10,logit_0")
    )
    assert pred[0].tolist() == [10.0, 0.0]


def test_csv_na_is_a_class_name_unless_told(tmp_path):
    p = tmp_path / "na.csv"
    p.write_text("y,a,b\nNA,1,2\nB,3,4\nNA,5,6\n")
    # no names given: "NA" is neither an integer nor a known class -> bad label, named
    b = next(io.read_batches([str(p)], io.Schema(target="y")))
    assert b.bad_labels.tolist() == [True, True, True] and b.bad_label_values[0] == "NA"
    # names given: "NA" is class 0
    b = next(io.read_batches([str(p)], io.Schema(target="y", classes=("NA", "B"))))
    assert b.target.tolist() == [0, 1, 0] and b.missing is None and b.bad_labels is None
    # --na-values NA: a missing label, reported by row
    b = next(
        io.read_batches([str(p)], io.Schema(target="y", classes=("NA", "B"), na_values=("NA",)))
    )
    assert b.missing.tolist() == [True, False, True]


def test_float_labels_exact_integers_only(tmp_path):
    np.savez(tmp_path / "f.npz", target=np.array([0.0, 2.0, 1.5, np.nan]), logits=np.zeros((4, 3)))
    b = next(io.read_batches([str(tmp_path / "f.npz")], io.Schema()))
    assert b.target[:2].tolist() == [0, 2]
    assert b.bad_labels.tolist() == [False, False, True, False]  # never truncated
    assert b.missing.tolist() == [False, False, False, True]  # NaN label = missing, reported
    p = tmp_path / "f.csv"
    p.write_text("y,a,b\n1.0,0,0\n2.5,0,0\n")
    b = next(io.read_batches([str(p)], io.Schema(target="y")))
    assert b.target[0] == 1 and b.bad_labels.tolist() == [False, True]


def test_integer_label_column_with_nulls_reports_rows(tmp_path):
    tab = pa.table({"y": pa.array([0, None, 1, None], pa.int64()), "a": [0.0] * 4, "b": [1.0] * 4})
    pq.write_table(tab, tmp_path / "n.parquet")
    bs = list(io.read_batches([str(tmp_path / "n.parquet")], io.Schema(target="y"), batch_size=3))
    assert np.flatnonzero(
        np.concatenate([b.missing if b.missing is not None else np.zeros(len(b), bool) for b in bs])
    ).tolist() == [1, 3]


def test_soft_targets_from_several_columns(tmp_path):
    rng = np.random.default_rng(3)
    t = rng.dirichlet(np.ones(3), size=5)
    np.savez(tmp_path / "s.npz", t0=t[:, 0], t1=t[:, 1], t2=t[:, 2], logits=np.zeros((5, 3)))
    b = next(io.read_batches([str(tmp_path / "s.npz")], io.Schema(target="t*", pred="logits")))
    assert b.target.shape == (5, 3) and b.target.tobytes() == t.tobytes()


def test_format_rows():
    assert (
        io.format_rows(np.array([1, 2, 3, 4, 5, 6, 7]), 10) == "rows 11, 12, 13, 14, 15 and 2 more"
    )


# ----------------------------------------------------------------------------- malformed
def _err(paths, schema=None, **kw):
    with pytest.raises(io.InputError) as ei:
        list(io.read_batches(paths, schema or io.Schema(target="y"), **kw))
    return ei.value


def test_missing_and_empty_and_directory(tmp_path):
    e = _err([str(tmp_path / "nope.csv")])
    assert type(e) is io.FileError and "no such file" in str(e)
    (tmp_path / "empty.csv").write_bytes(b"")
    e = _err([str(tmp_path / "empty.csv")])
    assert type(e) is io.FileError and "empty" in str(e)
    e = _err([str(tmp_path)])
    assert type(e) is io.FileError and "is a directory" in str(e)


def test_truncated_or_not_parquet(tmp_path):
    X, y, _ = _data()
    files = write_all(str(tmp_path), X, y)
    raw = open(files["parquet"], "rb").read()
    (tmp_path / "trunc.parquet").write_bytes(raw[: len(raw) // 2])
    e = _err([str(tmp_path / "trunc.parquet")])
    assert type(e) is io.FileError and str(e).startswith(
        f"file truncated or not Parquet: {tmp_path / 'trunc.parquet'}"
    )
    (tmp_path / "text.parquet").write_text("y,a\n1,2\n")
    e = _err([str(tmp_path / "text.parquet")])
    assert type(e) is io.FileError and "file truncated or not Parquet" in str(e)


def test_pickled_and_truncated_npz(tmp_path):
    np.savez(tmp_path / "obj.npz", y=np.array([0, 1]), logits=np.array([{"a": 1}, None], object))
    e = _err([str(tmp_path / "obj.npz")], io.Schema())
    assert type(e) is io.FileError and "pickled" in str(e)
    X, y, _ = _data()
    raw = open(write_all(str(tmp_path), X, y)["npz"], "rb").read()
    (tmp_path / "cut.npz").write_bytes(raw[: len(raw) - 40])
    e = _err([str(tmp_path / "cut.npz")])
    assert type(e) is io.FileError and "truncated or not NPZ" in str(e)


def test_missing_column_lists_available(tmp_path):
    X, y, _ = _data()
    p = write_all(str(tmp_path), X, y)["parquet"]
    e = _err([p], io.Schema(target="label"))
    assert type(e) is io.SchemaError and "'label' not found" in str(e) and "logit_0" in str(e)
    e = _err([p], io.Schema(target="y", pred="prob_*"))
    assert (
        type(e) is io.SchemaError
        and "no column" in str(e)
        and "available columns: y, logit_0" in str(e)
    )


def test_wrong_types(tmp_path):
    tab = pa.table({"y": [True, False], "a": [0.0, 1.0], "b": [1.0, 0.0]})
    pq.write_table(tab, tmp_path / "b.parquet")
    e = _err([str(tmp_path / "b.parquet")])
    assert type(e) is io.SchemaError and "boolean" in str(e)
    tab = pa.table({"y": [0, 1], "a": ["x", "y"], "b": [1.0, 0.0]})
    pq.write_table(tab, tmp_path / "s.parquet")
    e = _err([str(tmp_path / "s.parquet")])
    assert type(e) is io.SchemaError and "'a'" in str(e)
    (tmp_path / "bad.csv").write_text("y,a,b\n0,0.5,0.5\n1,oops,0.5\n")
    e = _err([str(tmp_path / "bad.csv")])
    assert type(e) is io.DataError and "'a'" in str(e) and "'oops' at row 1" in str(e)


def test_duplicate_header(tmp_path):
    (tmp_path / "d.csv").write_text("y,a,a\n0,1,2\n")
    e = _err([str(tmp_path / "d.csv")])
    assert type(e) is io.SchemaError and "duplicate" in str(e)


def test_mixed_schemas_across_files(tmp_path):
    X, y, _ = _data()
    a = write_all(str(tmp_path), X, y)["parquet"]
    d2 = tmp_path / "b"
    d2.mkdir()
    b = write_all(str(d2), X[:, :3], y % 3)["parquet"]
    e = _err([a, b], io.Schema(target="y", pred="logit_*"))
    assert type(e) is io.SchemaError and "mixed schemas" in str(e) and a in str(e) and b in str(e)


def test_variable_length_list_column(tmp_path):
    tab = pa.table({"y": [0, 1], "logits": pa.array([[0.0, 1.0], [0.0, 1.0, 2.0]])})
    pq.write_table(tab, tmp_path / "v.parquet")
    e = _err([str(tmp_path / "v.parquet")], io.Schema())
    assert type(e) is io.SchemaError and "different lengths" in str(e)


# ----------------------------------------------------------------------------- special inputs
def test_npy_versions_1_2_3_read_alike(tmp_path):
    X, y, _ = _data(5)
    st = np.zeros(N, dtype=[("y", "<i8"), ("logits", "<f8", (C,))])
    st["y"], st["logits"] = y, X
    got = {}
    for v in ((1, 0), (2, 0), (3, 0)):
        p = tmp_path / f"v{v[0]}.npy"
        with open(p, "wb") as f:
            with __import__("warnings").catch_warnings():
                __import__("warnings").simplefilter("ignore")  # numpy notes 3.0 needs numpy ≥ 1.17
                np.lib.format.write_array(f, st, version=v)
        assert p.read_bytes()[6:8] == bytes(v)
        _, pred, target, _ = _collect([str(p)], io.Schema(target="y"))
        got[v] = (pred.tobytes(), target.tolist())
    assert got[(1, 0)] == got[(2, 0)] == got[(3, 0)] == (X.tobytes(), y.tolist())
    # np.save picks 3.0 itself for a field name outside Latin-1; Fortran order is mapped
    X32 = np.random.default_rng(9).normal(size=(N, C)).astype(np.float32)
    st3 = np.zeros(N, dtype=[("метка", "<i4"), ("logits", "<f4", (C,))])
    st3["метка"], st3["logits"] = y, X32
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")  # numpy's note on 3.0
        np.save(tmp_path / "u.npy", st3)
    assert (tmp_path / "u.npy").read_bytes()[6] == 3
    _, pred, target, _ = _collect([str(tmp_path / "u.npy")], io.Schema(target="метка"))
    assert pred.tobytes() == X32.astype(np.float64).tobytes() and target.tolist() == y.tolist()
    np.save(tmp_path / "f.npy", np.asfortranarray(np.column_stack([y, X])))
    _, pred, target, _ = _collect([str(tmp_path / "f.npy")], io.Schema(target="0"))
    assert pred.tobytes() == X.tobytes() and target.tolist() == y.tolist()


def test_special_inputs_are_named(tmp_path):
    import socket

    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    _refused([tmp_path / "l1"], 4, "symbolic link loop")
    (tmp_path / "d.csv").symlink_to(tmp_path / "gone.csv")
    _refused([tmp_path / "d.csv"], 4, "dangling symbolic link", "gone.csv")
    (tmp_path / "no_files").mkdir()  # a directory's files are read (tests/test_paths.py); none here
    _refused([tmp_path / "no_files"], 4, "is a directory")
    if os.path.exists("/dev/zero"):
        _refused(["/dev/zero"], 4, "character device")
    if os.path.exists("/proc/self/status"):
        _refused(["/proc/self/status"], 4, "virtual file")
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tmp_path / "sock"))
        _refused([tmp_path / "sock"], 4, "is a socket")
    finally:
        s.close()


def _csv_bytes(X, y) -> bytes:
    lines = ["y," + ",".join(f"p{j}" for j in range(X.shape[1]))]
    lines += [
        ",".join([str(int(t))] + [repr(float(v)) for v in row]) for t, row in zip(y, X, strict=True)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_stdin_and_fifo_stream_csv_and_arrow(tmp_path):
    import threading

    from crossentropy import evaluate

    X, y, _ = _data(8)
    want = evaluate(X, y).cross_entropy
    data = _csv_bytes(X, y)
    (tmp_path / "f.csv").write_bytes(data)
    by_path = _ce([tmp_path / "f.csv"])
    by_stdin = _ce(["-"], stdin=data)
    assert by_stdin["report"] == by_path["report"] and by_stdin["rows"]["read"] == N
    assert by_stdin["report"]["cross_entropy"] == pytest.approx(want, rel=1e-12)
    tab = pa.table({"y": y, **{f"p{j}": X[:, j] for j in range(C)}})
    raw, _ = _stream_bytes(tab, 10)
    assert _ce(["-"], stdin=raw)["report"] == by_path["report"]
    # a FIFO (as a shell's <(...) gives): read once, in the same way
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data))
    writer.start()
    try:
        assert _ce([fifo, "--progress"])["report"] == by_path["report"]
    finally:
        writer.join(10)
    # what a pipe cannot do, said as such
    buf = pa.BufferOutputStream()
    pq.write_table(tab, buf)
    _refused(
        ["-"], 4, "<stdin>: parquet cannot be read from a pipe", stdin=buf.getvalue().to_pybytes()
    )
    _refused(["-"], 4, "<stdin>: is empty", stdin=b"")
    _refused(["-", "--temperature"], 2, "read only once", "--temperature", stdin=data)
    _refused(["-", "-", "--kind", "logits"], 4, "already read", stdin=data)
    lines = data.split(b"\n")
    lines[6] = b"1,oops,0,0,0"
    _refused(
        ["-", "--kind", "logits"], 3, "'p0' must hold numbers", "'oops'", stdin=b"\n".join(lines)
    )


# ----------------------------------------------------------------------------- labels
def _labels_csv(tmp_path, labels, name="l.csv") -> str:
    p = tmp_path / name
    p.write_text("y,a,b,c\n" + "".join(f"{t},0.1,0.2,0.3\n" for t in labels), encoding="utf-8")
    return str(p)


def test_text_labels_are_ascii_integers_or_names_never_both(tmp_path):
    # written class indices: ASCII digits, a sign, a zero fraction; nothing else
    ok = _labels_csv(tmp_path, ["2", "+1", "0", " 1", "2.0", "-100", "007"], "ok.csv")
    b = next(io.read_batches([ok], io.Schema(target="y")))
    assert b.target.tolist() == [2, 1, 0, 1, 2, -100, 7] and b.bad_labels is None
    for bad in ("1_0", "\u0663", "\u0661\u0660", "1e1", "0x1", "2.5", "½", "٣", "1 0"):
        p = _labels_csv(tmp_path, ["0", bad, "1"], "bad.csv")
        _refused([p, "--kind", "logits"], 3, "label is not a class index", repr(bad), "row 1")
    # names: the names and nothing else, even when a label looks like an index
    names = _labels_csv(tmp_path, ["20", "10", "30", "2"], "n.csv")
    err = _refused(
        [names, "--classes", "10,20,30", "--kind", "logits"],
        3,
        "not one of the --classes names",
        "'2'",
        "row 3",
    )
    assert "never mix" in err
    fine = _labels_csv(tmp_path, ["20", "10", "30"], "n2.csv")
    b = next(io.read_batches([fine], io.Schema(target="y", classes=("10", "20", "30"))))
    assert b.target.tolist() == [1, 0, 2]
    # --on-invalid skip counts them under their own reason
    d = _ce([names, "--classes", "10,20,30", "--on-invalid", "skip"])
    assert d["rows"]["rejected_by_reason"] == {"label is not one of the --classes names": 1}


def test_huge_labels_are_out_of_range_in_their_own_width(tmp_path):
    for big in ("184467440737095516160", "-9223372036854775809", "9" * 5000):
        p = _labels_csv(tmp_path, ["1", big], "h.csv")
        _refused([p, "--kind", "logits"], 3, "label out of range [0, 3)", "64-bit", "row 1")
    # uint64 above int64: never wrapped (onto -100 or anything else)
    for v in (2**64 - 100, 2**63, 2**64 - 1):
        np.savez(tmp_path / "u.npz", target=np.array([0, v, 1], np.uint64), logits=np.zeros((3, 3)))
        _refused([tmp_path / "u.npz", "--kind", "logits"], 3, f"found {v}", "row 1")
    np.savez(tmp_path / "u.npz", target=np.array([0, 2, 1], np.uint64), logits=np.zeros((3, 3)))
    assert _ce([tmp_path / "u.npz"])["rows"]["evaluated"] == 3
    # float labels: whole numbers only, beyond int64 out of range; float16 without warnings
    np.savez(tmp_path / "f.npz", target=np.array([0, 1e19, 2], np.float64), logits=np.zeros((3, 3)))
    _refused([tmp_path / "f.npz", "--kind", "logits"], 3, "out of range", "1e+19")
    for bad, needle in ((np.inf, "inf"), (2.5, "2.5"), (65504.0, "found [65504]")):
        np.savez(
            tmp_path / "h.npz", target=np.array([0, bad, 1], np.float16), logits=np.zeros((3, 3))
        )
        _refused([tmp_path / "h.npz", "--kind", "logits"], 3, needle, "row 1")
    np.savez(tmp_path / "h.npz", target=np.array([0, 2, 1], np.float16), logits=np.zeros((3, 3)))
    assert _ce([tmp_path / "h.npz"])["rows"]["evaluated"] == 3
