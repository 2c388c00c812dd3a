"""``--target-file`` in every format: the labels in a file of their own (CSV, Parquet, Arrow
IPC, NPZ, NPY) give the same report as the same rows in one file; row counts are checked
and a missing or doubly named column is a named error."""

from __future__ import annotations

import json

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")
import pyarrow.feather  # noqa: E402

from crossentropy import cli  # noqa: E402
from crossentropy.examples import load_example  # noqa: E402


def run(argv, capsys):
    try:
        code = cli.main([str(x) for x in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def write_labels(path, y, fmt):
    """``y`` as the column ``label`` beside an ``id`` column (which must not be read as a
    prediction), in ``fmt``; NPY holds the bare array."""
    frame = pd.DataFrame({"id": np.arange(len(y)) * 3, "label": y})
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "parquet":
        frame.to_parquet(path)
    elif fmt == "arrow":
        pyarrow.feather.write_feather(pa.Table.from_pandas(frame), str(path), compression=None)
    elif fmt == "npz":
        np.savez(path, id=frame["id"].to_numpy(), label=y)
    else:
        np.save(path, y)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The bundled digits logits as logits.npy and logits.csv, and the one-file layout."""
    ex = load_example()
    d = tmp_path_factory.mktemp("target_file")
    np.save(d / "logits.npy", ex.logits)
    cols = [f"p{j}" for j in range(ex.logits.shape[1])]
    pd.DataFrame(ex.logits, columns=cols).to_csv(d / "logits.csv", index=False)
    np.savez(d / "single.npz", logits=ex.logits, label=ex.target)
    return d, ex


def _report(argv, capsys):
    code, out, err = run([*argv, "--format", "json", "--batch-size", "64"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow", "npz", "npy"])
@pytest.mark.parametrize("pred", ["logits.npy", "logits.csv"])
def test_each_format_gives_the_single_file_report(digits, fmt, pred, capsys):
    d, ex = digits
    want = _report(["evaluate", d / "single.npz", "--target", "label", "--pred", "logits"], capsys)
    labels = d / f"labels_{pred.split('.')[1]}.{fmt}"
    write_labels(labels, ex.target, fmt)
    argv = ["evaluate", d / pred, "--target-file", labels]
    got = _report([*argv, *([] if fmt == "npy" else ["--target", "label"])], capsys)
    assert got["report"] == want["report"]  # the same rows in the same batches: bit for bit
    assert got["rows"] == want["rows"]
    assert got["source"]["pred"] == (
        [str(j) for j in range(10)] if pred.endswith("npy") else [f"p{j}" for j in range(10)]
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@pytest.mark.parametrize("n", [530, 545])
def test_row_count_mismatch_names_both_counts(digits, fmt, n, capsys):
    d, ex = digits
    y = np.resize(ex.target, n)
    labels = d / f"labels_{n}.{fmt}"
    write_labels(labels, y, fmt)
    for pred in ("logits.npy", "logits.csv"):
        argv = ["evaluate", d / pred, "--target-file", labels, "--target", "label"]
        code, _, err = run([*argv, "--batch-size", "64"], capsys)
        assert code == 2, err
        assert f"has {n} rows but" in err and "539" in err and "row for row" in err, err


def test_missing_and_clashing_columns(digits, capsys):
    d, ex = digits
    labels = d / "labels_cols.csv"
    write_labels(labels, ex.target, "csv")
    argv = ["evaluate", d / "logits.npy", "--target-file", labels]
    code, _, err = run([*argv, "--target", "nope"], capsys)
    assert code == 2 and "'nope' not found" in err and "id, label" in err, err
    assert f"--target-file {labels}" in err, err
    code, _, err = run(argv, capsys)  # the default target* matches nothing in id, label
    assert code == 2 and "--target" in err and "label" in err, err
    clash = d / "clash.csv"
    pd.DataFrame({"0": ex.target}).to_csv(clash, index=False)
    code, _, err = run(["evaluate", d / "logits.npy", "--target-file", clash], capsys)
    assert code == 2 and "both have a column '0'" in err, err
    code, _, err = run([*argv[:-1], d / "missing.parquet"], capsys)
    assert code == 4 and "--target-file" in err and "no such file" in err, err


def test_dask_engine_reads_the_same_labels_file(digits, capsys):
    pytest.importorskip("dask")
    d, ex = digits
    labels = d / "labels_dask.parquet"
    write_labels(labels, ex.target, "parquet")
    argv = ["evaluate", d / "logits.csv", "--target-file", labels, "--target", "label"]
    local = _report(argv, capsys)
    dask = _report([*argv, "--engine", "dask"], capsys)
    assert dask["report"]["cross_entropy"] == pytest.approx(
        local["report"]["cross_entropy"], rel=1e-12
    )
    assert dask["report"]["n_rows"] == len(ex.target)
