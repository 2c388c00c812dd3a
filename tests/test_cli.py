"""The ``crossentropy`` command: golden output on the bundled example (checked against
scikit-learn), format invariance (P20), chunked = one-shot, and every malformed input
with its exit status and message (never a traceback)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from crossentropy import cli, pipeline  # noqa: E402
from crossentropy.accumulate import evaluate  # noqa: E402
from crossentropy.examples import load_example  # noqa: E402

# Golden numbers: computed once by `crossentropy evaluate --format json` on the bundled
# example, reviewed, and re-derived independently in the test below (sklearn + NumPy).
GOLDEN = {
    "cross_entropy": 0.1893316585247904,
    "nll": 102.04976394486202,
    "accuracy": 0.9554730983302412,  # 515 / 539
    "brier": 0.07879468575117804,
    "ece": 0.07414552001717879,
}
GOLDEN_TABLE_HEAD = [
    "Evaluating the bundled example: 539 held-out UCI handwritten digits scored by a softmax "
    "regression (run `crossentropy evaluate YOUR_FILE --target COL --pred 'COLS'` to evaluate "
    "your own predictions).",
    "input: bundled example",
    "columns: target target; prediction logits; kind logits; task multiclass",
    "rows: 539 read, 539 evaluated, 0 ignored, 0 rejected",
]


def run(argv, capsys):
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse usage errors
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def run_json(argv, capsys):
    code, out, err = run([*argv, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out), out, err


def _softmax(x):
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- golden
def test_golden_table_on_bundled_example(capsys):
    code, out, err = run(["evaluate"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[:4] == GOLDEN_TABLE_HEAD  # the first line says it is the bundled example
    assert any(
        ln.split()[:2] == ["cross_entropy", "(nats)"]
        and float(ln.split()[-1]) == pytest.approx(GOLDEN["cross_entropy"], rel=1e-5)
        for ln in lines
    )


def test_golden_json_schema_and_numbers_vs_sklearn(capsys):
    from sklearn.metrics import accuracy_score, log_loss

    d, out, err = run_json(["evaluate"], capsys)
    assert "bundled example" in err  # the note goes to stderr, stdout is pure JSON
    assert d["schema"] == "crossentropy.evaluate" and d["schema_version"] == 1
    assert set(d) >= {"schema", "schema_version", "source", "rows", "report"}
    assert set(d["source"]) == {
        "files",
        "bundled_example",
        "target",
        "pred",
        "weight",
        "kind",
        "kind_reason",
        "task",
        "task_reason",
        "temperature_applied",
        "classes",
        "batch_size",
    }
    assert set(d["rows"]) == {
        "read",
        "evaluated",
        "ignored",
        "missing_labels",
        "rejected",
        "rejected_by_reason",
        "zero_probability_cells",
        "clamped_cells",
    }
    assert d["rows"]["read"] == 539 and d["source"]["bundled_example"] is True
    r = d["report"]
    assert r["schema_version"] == 1 and r["empty"] is False
    for k in ("cross_entropy", "nll", "accuracy", "brier"):
        assert r[k] == pytest.approx(GOLDEN[k], rel=1e-12, abs=0), k
    assert r["calibration"]["ece"] == pytest.approx(GOLDEN["ece"], rel=1e-12)
    # the golden is not self-referential: independent oracles on the same data
    ex = load_example()
    p = _softmax(ex.logits)
    assert log_loss(ex.target, p, labels=np.arange(10)) == pytest.approx(
        GOLDEN["cross_entropy"], rel=1e-12
    )
    assert accuracy_score(ex.target, p.argmax(1)) == pytest.approx(GOLDEN["accuracy"], rel=1e-15)
    onehot = np.eye(10)[ex.target]
    assert np.mean(np.sum((p - onehot) ** 2, axis=1)) == pytest.approx(GOLDEN["brier"], rel=1e-12)
    conf, pred = p.max(1), p.argmax(1)
    idx = np.clip(np.ceil(conf * 15).astype(int) - 1, 0, 14)
    ece = sum(
        abs(np.mean(conf[idx == b]) - np.mean(pred[idx == b] == ex.target[idx == b]))
        * np.mean(idx == b)
        for b in range(15)
        if np.any(idx == b)
    )
    assert ece == pytest.approx(GOLDEN["ece"], rel=1e-9)
    assert r["perplexity"] == pytest.approx(math.exp(GOLDEN["cross_entropy"]), rel=1e-14)


def test_python_dash_m(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "crossentropy", "evaluate", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["report"]["cross_entropy"] == pytest.approx(
        GOLDEN["cross_entropy"], rel=1e-12
    )


def test_help_documents_exit_codes(capsys):
    code, out, _ = run(["evaluate", "--help"], capsys)
    assert code == 0
    for status, what in (
        (2, "usage or schema error"),
        (3, "data validation error"),
        (4, "I/O error"),
        (130, "interrupted"),
    ):
        assert re.search(rf"^\s+{status}\s+{what}", out, re.M), (status, what)


def test_flag_defaults_are_the_options_defaults():
    """argparse reads every default from EvaluateOptions: the flags left out give its defaults."""
    import dataclasses

    from crossentropy.pipeline import EvaluateOptions

    args = cli.build_parser().parse_args(["evaluate"])
    for f in dataclasses.fields(EvaluateOptions):
        assert EvaluateOptions(**{f.name: getattr(args, f.name)}) == EvaluateOptions(), f.name


def test_exit_codes_map_error_classes():
    from crossentropy import io

    assert [cli.exit_code(e("x")) for e in (io.SchemaError, io.DataError, io.FileError)] == [
        2,
        3,
        4,
    ]
    assert cli.exit_code(RuntimeError("x")) == 1
    assert not hasattr(io.InputError("x"), "exit_code")  # the reader knows no exit status


# ----------------------------------------------------------------------------- P20
def _write_formats(d, X, y, w):
    cols = {f"logit_{j}": X[:, j] for j in range(X.shape[1])}
    tab = pa.table({"y": y, **cols, "w": w})
    paths = {}
    p = os.path.join(d, "t.csv")
    with open(p, "w") as f:
        f.write(",".join(["y", *cols, "w"]) + "\n")
        for i in range(len(y)):
            f.write(
                ",".join([str(int(y[i]))] + [repr(float(v)) for v in X[i]] + [repr(float(w[i]))])
                + "\n"
            )
    paths["csv"] = p
    paths["parquet"] = os.path.join(d, "t.parquet")
    pq.write_table(tab, paths["parquet"], row_group_size=100)
    paths["arrow"] = os.path.join(d, "t.arrow")
    with pa.OSFile(paths["arrow"], "wb") as s, pa.ipc.new_file(s, tab.schema) as wr:
        wr.write_table(tab, max_chunksize=77)
    paths["npz"] = os.path.join(d, "t.npz")
    np.savez_compressed(paths["npz"], y=y, w=w, **cols)
    st = np.zeros(len(y), dtype=[("y", "i8")] + [(c, "f8") for c in cols] + [("w", "f8")])
    st["y"], st["w"] = y, w
    for c, v in cols.items():
        st[c] = v
    paths["npy"] = os.path.join(d, "t.npy")
    np.save(paths["npy"], st)
    return paths


def test_format_invariance_bit_identical_json(tmp_path, capsys):
    ex = load_example()
    rng = np.random.default_rng(0)
    w = rng.uniform(0.25, 3.0, len(ex.target))
    paths = _write_formats(str(tmp_path), ex.logits, ex.target, w)
    outs = {}
    for name, p in paths.items():
        d, out, err = run_json(
            [
                "evaluate",
                p,
                "--target",
                "y",
                "--pred",
                "logit_*",
                "--weight-col",
                "w",
                "--batch-size",
                "64",
                "--bootstrap",
                "20",
                "--temperature",
            ],
            capsys,
        )
        d["source"].pop("files")
        outs[name] = json.dumps(d, sort_keys=True)
    assert len(set(outs.values())) == 1, {k: v[:200] for k, v in outs.items()}


def test_chunked_equals_one_shot_evaluate(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = rng.normal(scale=2.0, size=(250, 6))
    y = rng.integers(0, 6, 250)
    y[::17] = -100  # ignored rows
    np.savez(tmp_path / "d.npz", logits=X, target=y)
    d, _, _ = run_json(
        ["evaluate", tmp_path / "d.npz", "--batch-size", "7", "--kind", "logits"], capsys
    )
    ref = evaluate(X, y).to_dict()
    got = d["report"]
    for k in ("cross_entropy", "nll", "accuracy", "brier", "n_valid", "n_ignored"):
        assert got[k] == pytest.approx(ref[k], rel=1e-12), k
    assert got["calibration"]["ece"] == pytest.approx(ref["calibration"]["ece"], rel=1e-12)
    for a, b in zip(got["per_class"], ref["per_class"], strict=True):
        assert a["count"] == b["count"] and a["nll_mean"] == pytest.approx(b["nll_mean"], rel=1e-12)
    assert d["rows"]["ignored"] == int(np.sum(y == -100))


def test_row_order_does_not_matter(tmp_path, capsys):
    ex = load_example()
    perm = np.random.default_rng(5).permutation(len(ex.target))
    np.savez(tmp_path / "a.npz", logits=ex.logits, target=ex.target)
    np.savez(tmp_path / "b.npz", logits=ex.logits[perm], target=ex.target[perm])
    a, _, _ = run_json(["evaluate", tmp_path / "a.npz", "--batch-size", "100"], capsys)
    b, _, _ = run_json(["evaluate", tmp_path / "b.npz", "--batch-size", "100"], capsys)
    for k in ("cross_entropy", "accuracy", "brier"):
        assert a["report"][k] == pytest.approx(b["report"][k], rel=1e-12)
    assert a["report"]["calibration"]["ece"] == pytest.approx(
        b["report"]["calibration"]["ece"], rel=1e-12
    )


def test_core_value_error_names_file_and_rows(tmp_path, capsys, monkeypatch):
    from crossentropy import accumulate

    def boom(self, *a, **k):
        raise ValueError("pred: something the core rejects")

    monkeypatch.setattr(accumulate.Accumulator, "update", boom)
    np.savez(tmp_path / "d.npz", logits=np.zeros((10, 2)), target=np.arange(10) % 2)
    _fails(
        ["evaluate", tmp_path / "d.npz", "--batch-size", "4"],
        capsys,
        3,
        f"{tmp_path / 'd.npz'} rows 0–3: pred: something the core rejects",
    )


def test_weights_base2_probs_and_auto_kind(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    p = _softmax(X)
    y = rng.integers(0, 3, 40)
    w = rng.uniform(0.1, 2, 40)
    np.savez(tmp_path / "p.npz", probs=p, target=y, w=w)
    d, _, err = run_json(
        ["evaluate", tmp_path / "p.npz", "--weight-col", "w", "--base", "2"], capsys
    )
    assert "kind: probs" in err  # auto says what it decided and why
    ref = evaluate(p, y, kind="probs", sample_weight=w)
    assert d["report"]["cross_entropy"] == pytest.approx(ref.cross_entropy / math.log(2), rel=1e-12)
    assert d["source"]["kind"] == "probs"


def test_temperature_matches_in_memory_fit(tmp_path, capsys):
    from crossentropy.temperature import fit_temperature

    ex = load_example()
    np.savez(tmp_path / "d.npz", logits=ex.logits, target=ex.target)
    d, _, _ = run_json(
        ["evaluate", tmp_path / "d.npz", "--temperature", "--batch-size", "50"], capsys
    )
    t = d["report"]["temperature"]
    ref = fit_temperature(ex.logits, ex.target)
    assert t["T"] == pytest.approx(ref.T, rel=1e-8)
    assert t["nll_after"] <= t["nll_before"]
    assert d["temperature_scaled"]["cross_entropy"] == pytest.approx(t["nll_after"], rel=1e-12)


def test_class_names_map_text_labels(tmp_path, capsys):
    (tmp_path / "n.csv").write_text("label,a,b,c\nNA,3,0,0\ncat,0,2,0\ndog,0,0,1\nNA,1,0,0\n")
    d, _, _ = run_json(
        ["evaluate", tmp_path / "n.csv", "--classes", "NA,cat,dog", "--kind", "logits"], capsys
    )
    X = np.array([[3, 0, 0], [0, 2, 0], [0, 0, 1], [1, 0, 0]], float)
    assert d["report"]["cross_entropy"] == pytest.approx(
        evaluate(X, np.array([0, 1, 2, 0])).cross_entropy, rel=1e-12
    )


def test_soft_targets_and_bom_csv(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 3))
    T = rng.dirichlet(np.ones(3), size=12)
    with open(tmp_path / "s.csv", "w", encoding="utf-8-sig") as f:  # with a BOM
        f.write("t0,t1,t2,x0,x1,x2\n")
        for i in range(12):
            f.write(",".join(repr(float(v)) for v in [*T[i], *X[i]]) + "\n")
    d, _, _ = run_json(
        [
            "evaluate",
            tmp_path / "s.csv",
            "--target",
            "t*",
            "--pred",
            "x*",
            "--kind",
            "logits",
            "--batch-size",
            "5",
        ],
        capsys,
    )
    ref = evaluate(X, T)
    r = d["report"]
    assert r["cross_entropy"] == pytest.approx(ref.cross_entropy, rel=1e-12)
    assert r["cross_entropy"] == pytest.approx(r["entropy"] + r["kl"], rel=1e-12)


def test_plots_and_report_from_the_command(tmp_path, capsys):
    code, out, err = run(
        [
            "evaluate",
            "--plots",
            tmp_path / "figs",
            "--report",
            tmp_path / "r.html",
            "--temperature",
        ],
        capsys,
    )
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "figs")) == sorted(
        ["reliability.png", "nll_curve.png", "per_class.png", "nll_distribution.png"]
    )
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 4 and "Temperature scaling" in page
    assert "after temperature scaling:" in out


def test_missing_plot_extra_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr("crossentropy.cli._evaluate._has_matplotlib", lambda: False)
    _fails(["evaluate", "--plots", "x"], capsys, 2, "pip install 'crossentropy[plot]'")


def test_json_stdout_stays_pure_with_progress(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", logits=np.zeros((10, 2)), target=np.arange(10) % 2)
    d, out, err = run_json(["evaluate", tmp_path / "d.npz", "--progress"], capsys)
    assert d["rows"]["read"] == 10 and "rows" in err


# ----------------------------------------------------------------------------- bad input
@pytest.fixture
def good(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 3, 30)
    tab = pa.table({"y": y, "logit_0": X[:, 0], "logit_1": X[:, 1], "logit_2": X[:, 2]})
    p = tmp_path / "good.parquet"
    pq.write_table(tab, p)
    return p


def _fails(argv, capsys, code, *needles):
    got, out, err = run(argv, capsys)
    assert got == code, (got, err)
    for n in needles:
        assert n in err, (n, err)
    if "usage:" not in err:  # argparse prints its usage; everything else is one message
        assert err.count("\n") <= 3, err
    return err


def test_usage_errors(capsys, good):
    _fails(["evaluate", good, "--kind", "softmax"], capsys, 2, "invalid choice")
    _fails(["evaluate", good, "--batch-size", "0"], capsys, 2, "--batch-size")
    _fails(["evaluate", good, "--target", "y", "--classes", "5"], capsys, 2, "--classes says 5")


def test_missing_and_extra_columns(capsys, good):
    _fails(
        ["evaluate", good, "--target", "label"],
        capsys,
        2,
        "'label' not found",
        "available columns: y, logit_0, logit_1, logit_2",
    )
    _fails(["evaluate", good, "--target", "y", "--pred", "prob_*"], capsys, 2, "'prob_*'")


def test_wrong_types(tmp_path, capsys):
    pq.write_table(
        pa.table({"y": [0, 1], "id": ["a", "b"], "x": [0.0, 1.0]}), tmp_path / "t.parquet"
    )
    _fails(["evaluate", tmp_path / "t.parquet"], capsys, 2, "'id'", "--pred")


def test_na_labels_and_nan_labels(tmp_path, capsys):
    (tmp_path / "na.csv").write_text("y,a,b\n0,1,2\nNA,3,4\n1,5,6\n")
    _fails(["evaluate", tmp_path / "na.csv"], capsys, 3, "'NA'", "row 1", "--classes")
    # told that NA means missing: still an error by default, naming the row ...
    _fails(
        ["evaluate", tmp_path / "na.csv", "--na-values", "NA"],
        capsys,
        3,
        "label is missing",
        "row 1",
    )
    # ... or counted as ignored when asked
    d, _, _ = run_json(
        ["evaluate", tmp_path / "na.csv", "--na-values", "NA", "--missing-labels", "ignore"], capsys
    )
    assert d["rows"]["missing_labels"] == 1 and d["rows"]["ignored"] == 1
    assert d["report"]["n_valid"] == 2
    np.savez(
        tmp_path / "nan.npz", target=np.array([0.0, np.nan, 1.0, np.nan]), logits=np.zeros((4, 2))
    )
    _fails(["evaluate", tmp_path / "nan.npz"], capsys, 3, "label is missing", "rows 1, 3")


def test_label_out_of_range_and_skip(tmp_path, capsys):
    np.savez(tmp_path / "r.npz", target=np.array([0, 1, 7, 2, -3]), logits=np.zeros((5, 3)))
    _fails(
        ["evaluate", tmp_path / "r.npz", "--batch-size", "2"],
        capsys,
        3,
        "out of range [0, 3)",
        "row 2",
    )
    d, _, _ = run_json(["evaluate", tmp_path / "r.npz", "--on-invalid", "skip"], capsys)
    assert d["rows"]["rejected"] == 2 and d["rows"]["read"] == 5 and d["report"]["n_rows"] == 3


def test_zero_and_clamped_probabilities_are_counted(tmp_path, capsys):
    eps = np.finfo(np.float64).eps
    p = np.array([[0.5, 0.5], [1.0 + 2 * eps, 0.0], [0.0, 1.0]])
    np.savez(tmp_path / "p.npz", probs=p, target=np.array([0, 0, 1]))
    d, _, _ = run_json(["evaluate", tmp_path / "p.npz", "--kind", "probs"], capsys)
    assert d["rows"]["zero_probability_cells"] == 2 and d["rows"]["clamped_cells"] == 1


def test_non_finite_logits_rejected_and_counted_exactly(tmp_path, capsys):
    """The row screen (one matrix-vector product) against the elementwise oracle: finite rows
    whose sum overflows are kept, NaN / +inf rows rejected, −inf cells counted."""
    big = np.finfo(np.float64).max
    X = np.array(
        [
            [0.0, 1.0, 2.0],
            [big, big, 0.0],
            [np.nan, 0.0, 1.0],
            [np.inf, 0.0, 0.0],
            [-np.inf, 0.0, 1.0],
            [-np.inf, -np.inf, 3.0],
            [np.inf, -np.inf, 0.0],
            [-big, -big, -big],
            [1.0, 2.0, 3.0],
        ]
    )
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    np.savez(tmp_path / "x.npz", logits=X, target=y)
    d, _, _ = run_json(
        [
            "evaluate",
            tmp_path / "x.npz",
            "--kind",
            "logits",
            "--on-invalid",
            "skip",
            "--batch-size",
            "4",
        ],
        capsys,
    )
    nan_rows = np.isnan(X).any(axis=1)
    pinf_rows = np.isposinf(X).any(axis=1)
    kept = ~(nan_rows | pinf_rows)
    assert d["rows"]["rejected"] == int((~kept).sum()) == 3
    assert d["rows"]["rejected_by_reason"] == {
        "prediction is NaN": int(nan_rows.sum()),
        "logit is +inf": int(pinf_rows.sum()),
    }
    assert d["rows"]["zero_probability_cells"] == int(np.isneginf(X[kept]).sum()) == 3
    assert d["report"]["n_rows"] == int(kept.sum())
    _fails(
        ["evaluate", tmp_path / "x.npz", "--kind", "logits"],
        capsys,
        3,
        "prediction is NaN",
        "row 2",
    )


def test_probabilities_out_of_range(tmp_path, capsys):
    p = np.array([[0.5, 0.5], [1.2, -0.2], [0.3, 0.7]])
    np.savez(tmp_path / "p.npz", probs=p, target=np.array([0, 1, 1]))
    _fails(
        ["evaluate", tmp_path / "p.npz", "--kind", "probs"],
        capsys,
        3,
        "probability outside [0, 1]",
        "row 1",
    )


def test_nonfinite_predictions(tmp_path, capsys):
    X = np.zeros((4, 3))
    X[2, 1] = np.nan
    np.savez(tmp_path / "n.npz", logits=X, target=np.array([0, 1, 2, 0]))
    _fails(["evaluate", tmp_path / "n.npz", "--kind", "logits"], capsys, 3, "NaN", "row 2")


def test_file_errors(tmp_path, capsys, good):
    raw = good.read_bytes()
    (tmp_path / "cut.parquet").write_bytes(raw[: len(raw) // 2])
    _fails(
        ["evaluate", tmp_path / "cut.parquet"],
        capsys,
        4,
        f"file truncated or not Parquet: {tmp_path / 'cut.parquet'}",
    )
    (tmp_path / "fake.parquet").write_text("y,a\n0,1\n")
    _fails(["evaluate", tmp_path / "fake.parquet"], capsys, 4, "file truncated or not Parquet")
    np.savez(tmp_path / "obj.npz", target=np.array([0]), logits=np.array([None], dtype=object))
    _fails(["evaluate", tmp_path / "obj.npz"], capsys, 4, "pickled")
    (tmp_path / "empty.csv").write_bytes(b"")
    _fails(["evaluate", tmp_path / "empty.csv"], capsys, 4, "empty")
    (tmp_path / "nothing").mkdir()  # a directory's files are read (tests/test_paths.py); none here
    _fails(["evaluate", tmp_path / "nothing"], capsys, 4, "is a directory with no file to read")
    _fails(["evaluate", tmp_path / "missing.parquet"], capsys, 4, "no such file")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root can read any file: an unreadable path cannot be made",
)
def test_unreadable_path(tmp_path, capsys, good):
    os.chmod(good, 0)
    try:
        _fails(["evaluate", good], capsys, 4, "permission denied")
    finally:
        os.chmod(good, 0o644)


def test_permission_denied_branch(monkeypatch, capsys, good):
    """Runs as root too (where chmod cannot make a file unreadable): the OS answers 'no' to R_OK."""
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if str(p) == str(good) and mode == os.R_OK else real(p, mode),
    )
    _fails(["evaluate", good], capsys, 4, "permission denied")


def test_header_only_file_has_no_rows(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("y,a,b\n")
    _fails(["evaluate", tmp_path / "h.csv"], capsys, 3, "no rows")


def test_mixed_schemas(tmp_path, capsys, good):
    pq.write_table(pa.table({"y": [0], "logit_0": [0.0], "logit_1": [1.0]}), tmp_path / "b.parquet")
    _fails(
        ["evaluate", good, tmp_path / "b.parquet", "--pred", "logit_*"],
        capsys,
        2,
        "mixed schemas",
        str(good),
        str(tmp_path / "b.parquet"),
    )


def test_core_errors_carry_file_and_rows(tmp_path, capsys):
    # a soft target with a negative entry is rejected before the core; a log-probability
    # row that is far from normalised is a core warning, shown once with its place
    X = np.log(np.array([[0.2, 0.2], [0.5, 0.5]]))
    np.savez(tmp_path / "l.npz", logits=X, target=np.array([0, 1]))
    code, out, err = run(["evaluate", tmp_path / "l.npz", "--kind", "log_probs"], capsys)
    assert code == 0 and "NotNormalizedWarning" in err and "l.npz rows 0–1" in err


# ----------------------------------------------------------------------------- memory
IMPORT_PROBE = """
import sys, io, contextlib
from crossentropy import cli
with contextlib.redirect_stdout(io.StringIO()):
    rc = cli.main(["evaluate", sys.argv[1], "--target", "y", "--pred", "logit_*", "--kind", "logits",
                   "--format", "json"])
heavy = sorted(m for m in ("pandas", "torch", "matplotlib", "sklearn", "dask") if m in sys.modules)
print(rc, ",".join(heavy))
"""


def test_streaming_a_parquet_file_imports_no_heavy_library(tmp_path):
    """Reading Parquet columns must not pull in pandas (pyarrow's to_numpy imports it), nor
    torch, matplotlib, scikit-learn or dask: start-up time and resident memory of the CLI."""
    rng = np.random.default_rng(0)
    n = 30_000  # 300,000 logits: large enough for the fused row pass
    tab = pa.table(
        {
            "y": rng.integers(0, 10, n),
            **{f"logit_{j}": rng.standard_normal(n).astype(np.float32) for j in range(10)},
        }
    )
    pq.write_table(tab, tmp_path / "p.parquet", row_group_size=7_000)
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(tmp_path / "p.parquet")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[0].strip() == "0", proc.stdout


RSS_PROBE = """
import resource, sys, io, contextlib, json
from crossentropy import cli
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    rc = cli.main(["evaluate", sys.argv[1], "--target", "y", "--pred", "logit_*",
                   "--kind", "logits", "--format", "json"])
d = json.loads(buf.getvalue())
def peak_mb():
    # VmHWM: this process image's own peak; ru_maxrss also counts the parent's peak at
    # fork time on Linux (it survives exec), i.e. the memory of the pytest process
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rc": rc, "rows": d["rows"]["read"], "ce": d["report"]["cross_entropy"],
                  "rss_mb": peak_mb()}))
"""


@pytest.mark.slow
def test_ten_million_rows_flat_memory(tmp_path):
    """10M × 10 Parquet streamed in a fresh process: peak RSS < 300 MB (the data alone
    would be 400 MB as float32, 800 MB as float64)."""
    n, c, group = 10_000_000, 10, 500_000
    path = tmp_path / "big.parquet"
    rng = np.random.default_rng(0)
    schema = pa.schema([("y", pa.int64())] + [(f"logit_{j}", pa.float32()) for j in range(c)])
    sums = 0.0
    with pq.ParquetWriter(path, schema) as w:
        for _ in range(n // group):
            X = rng.standard_normal((group, c), dtype=np.float32)
            y = rng.integers(0, c, group)
            X64 = X.astype(np.float64)
            m = X64.max(1)
            lse = m + np.log(np.exp(X64 - m[:, None]).sum(1))
            sums += float(np.sum(lse - X64[np.arange(group), y]))
            w.write_table(
                pa.table([pa.array(y)] + [pa.array(X[:, j]) for j in range(c)], schema=schema)
            )
    proc = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(path)], capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["rc"] == 0 and got["rows"] == n
    assert got["ce"] == pytest.approx(sums / n, rel=1e-10)  # float64 reference, same data
    assert got["rss_mb"] < 300, got


# ----------------------------------------------------------------------------- outputs
# Outputs are checked before anything is read, never written over an input, and written
# all or nothing. Each class of problem is tried over several spellings, formats and names.
def _inputs(tmp_path, rng=None):
    """The same 20 rows as CSV, Parquet and NPZ (the inputs whose outputs we aim at them)."""
    rng = rng or np.random.default_rng(12)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 3, 20)
    paths = {}
    paths["csv"] = tmp_path / "data.csv"
    with open(paths["csv"], "w") as f:
        f.write("y,l0,l1,l2\n")
        for t, row in zip(y, X, strict=True):
            f.write(",".join([str(int(t))] + [repr(float(v)) for v in row]) + "\n")
    paths["parquet"] = tmp_path / "preds.parquet"
    pq.write_table(
        pa.table({"y": y, "l0": X[:, 0], "l1": X[:, 1], "l2": X[:, 2]}), paths["parquet"]
    )
    paths["npz"] = tmp_path / "scores.npz"
    np.savez(paths["npz"], y=y, logits=X)
    return paths


def _digest(path) -> bytes:
    import hashlib

    return hashlib.sha256(open(path, "rb").read()).digest()


def _aliases(tmp_path, inp):
    """Output paths that name ``inp`` without being its spelling: (flag, path) pairs."""
    sub = tmp_path / "sub"
    sub.mkdir(exist_ok=True)
    (tmp_path / "link.html").symlink_to(inp)
    (sub / "chain").symlink_to(tmp_path / "link.html")  # a link to a link
    os.link(inp, tmp_path / "hard.html")
    rel = os.path.relpath(inp, os.getcwd())
    return {
        "as given": ("--report", str(inp)),
        "relative": ("--report", rel),
        "dot-dot": ("--report", str(sub / ".." / inp.name)),
        "symlink": ("--report", str(tmp_path / "link.html")),
        "symlink chain": ("--report", str(sub / "chain")),
        "hard link": ("--report", str(tmp_path / "hard.html")),
        "plots folder is the input": ("--plots", str(inp)),
    }


ALIAS_KINDS = [
    "as given",
    "relative",
    "dot-dot",
    "symlink",
    "symlink chain",
    "hard link",
    "plots folder is the input",
]


@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@pytest.mark.parametrize("how", ALIAS_KINDS)
def test_an_output_that_is_an_input_is_a_usage_error(tmp_path, capsys, fmt, how):
    inp = _inputs(tmp_path)[fmt]
    before = {p.name: _digest(p) for p in tmp_path.iterdir() if p.is_file()}
    flag, out = _aliases(tmp_path, inp)[how]
    err = _fails(["evaluate", inp, "--kind", "logits", flag, out], capsys, 2, flag, "input")
    assert "rows" not in err  # refused before reading
    assert _digest(inp) == before[inp.name]
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".") and p.is_file()]


@pytest.mark.parametrize(
    "figure", ["reliability.png", "nll_curve.png", "per_class.png", "nll_distribution.png"]
)
def test_plots_folder_holding_the_input_under_a_figure_name(tmp_path, capsys, figure):
    from crossentropy import plots

    assert figure in plots.FILES.values()
    figs = tmp_path / "figs"
    figs.mkdir()
    src = _inputs(tmp_path)["csv"]
    inp = figs / figure
    inp.write_bytes(src.read_bytes())
    argv = ["evaluate", inp, "--input-format", "csv", "--kind", "logits", "--plots", figs]
    _fails(argv, capsys, 2, "--plots", figure, "input")
    assert inp.read_bytes() == src.read_bytes() and sorted(os.listdir(figs)) == [figure]
    # a folder holding the input under another name is fine: nothing is written over it
    other = figs / "inputs.csv"
    other.write_bytes(src.read_bytes())
    code, _, err = run(["evaluate", other, "--kind", "logits", "--plots", figs], capsys)
    assert code == 0, err
    assert other.read_bytes() == src.read_bytes()


def test_explain_plot_folder_holding_the_input(tmp_path, capsys):
    from crossentropy import explain

    figs = tmp_path / "walk"
    figs.mkdir()
    for name in explain.PLOT_FILES:
        inp = figs / name
        inp.write_bytes(_inputs(tmp_path)["csv"].read_bytes())
        argv = ["explain", inp, "--input-format", "csv", "--kind", "logits", "--plot", figs]
        _fails(argv, capsys, 2, "--plot", name, "input")
        inp.unlink()


def test_two_outputs_on_one_file_is_a_usage_error(tmp_path, capsys):
    inp = _inputs(tmp_path)["npz"]
    for report in ("figs/per_class.png", "./figs/../figs/reliability.png"):
        argv = ["evaluate", inp, "--report", tmp_path / report, "--plots", tmp_path / "figs"]
        _fails(argv, capsys, 2, "--report", "--plots")
    assert not (tmp_path / "figs").exists()


@pytest.mark.parametrize("flag", ["--report", "--plots"])
def test_empty_output_path_is_a_usage_error(tmp_path, capsys, flag):
    _fails(["evaluate", _inputs(tmp_path)["npz"], flag, ""], capsys, 2, flag, "empty path")


def _bad_data(tmp_path):
    """A file that fails validation (exit 3) if read: an output error must come first."""
    p = tmp_path / "bad.csv"
    p.write_text("y,a,b\n7,0.0,1.0\n")
    return p


def test_output_paths_are_checked_before_reading(tmp_path, capsys):
    bad = _bad_data(tmp_path)
    d = tmp_path / "adir"
    d.mkdir()
    f = tmp_path / "afile.txt"
    f.write_text("keep")
    cases = [
        (["--report", tmp_path / "missing" / "r.html"], "missing"),
        (["--report", tmp_path / "missing" / "deeper" / "r.html"], "does not exist"),
        (["--report", d], "is a folder"),
        (["--report", f / "r.html"], "is not a folder"),
        (["--plots", f], "is not a folder"),
        (["--plots", f / "sub"], "is not a folder"),
        (["--report", d / "r.html", "--plots", f], "is not a folder"),
    ]
    for extra, needle in cases:
        err = _fails(["evaluate", bad, "--kind", "logits", *extra], capsys, 4, needle)
        assert "label" not in err, err  # the data were not read
    for p in (d / "r.html", f / "r.html"):
        assert not p.exists()
    assert f.read_text() == "keep" and os.listdir(d) == []


def test_explain_plot_path_checked_before_reading(tmp_path, capsys):
    bad = _bad_data(tmp_path)
    f = tmp_path / "afile.txt"
    f.write_text("keep")
    _fails(["explain", bad, "--kind", "logits", "--plot", f], capsys, 4, "--plot", "not a folder")
    _fails(["explain", bad, "--kind", "logits", "--plot", ""], capsys, 2, "--plot", "empty path")


def test_read_only_output_branch(monkeypatch, tmp_path, capsys):
    """As root chmod does not stop a write: the OS answers 'no' to W_OK for these paths."""
    inp = _inputs(tmp_path)["npz"]
    ro_file = tmp_path / "old.html"
    ro_file.write_text("old")
    ro_dir = tmp_path / "locked"
    ro_dir.mkdir()
    denied = {str(ro_file), str(ro_dir)}
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if str(p) in denied and mode & os.W_OK else real(p, mode),
    )
    _fails(["evaluate", inp, "--report", ro_file], capsys, 4, str(ro_file), "not writable")
    _fails(["evaluate", inp, "--report", ro_dir / "r.html"], capsys, 4, str(ro_dir), "not writable")
    _fails(["evaluate", inp, "--plots", ro_dir / "figs"], capsys, 4, str(ro_dir), "not writable")
    assert ro_file.read_text() == "old" and os.listdir(ro_dir) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_failures_are_exit_4(tmp_path):
    inp = _inputs(tmp_path)["csv"]
    cmd = [sys.executable, "-m", "crossentropy", "evaluate", str(inp), "--kind", "logits"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [*cmd, "--report", "/dev/full"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 4 and "/dev/full" in proc.stderr and "Traceback" not in proc.stderr
    for fmt in ("table", "json"):
        with open("/dev/full", "w") as full:
            proc = subprocess.run(
                [*cmd, "--format", fmt],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                timeout=120,
            )
        assert proc.returncode == 4, proc.stderr
        assert "standard output" in proc.stderr and "Traceback" not in proc.stderr
        assert "Exception ignored" not in proc.stderr


def test_outputs_replace_files_atomically_and_keep_their_mode(tmp_path, capsys):
    inp = _inputs(tmp_path)["parquet"]
    rep = tmp_path / "r.html"
    rep.write_text("old report")
    os.chmod(rep, 0o640)
    link = tmp_path / "latest.html"
    link.symlink_to(rep)
    code, _, err = run(["evaluate", inp, "--report", link, "--plots", tmp_path / "a" / "b"], capsys)
    assert code == 0, err
    assert link.is_symlink() and rep.read_text().startswith("<!DOCTYPE html>")
    assert oct(os.stat(rep).st_mode & 0o777) == oct(0o640)
    assert sorted(os.listdir(tmp_path / "a" / "b")) == sorted(
        ["reliability.png", "nll_curve.png", "per_class.png", "nll_distribution.png"]
    )
    assert not [p for p in tmp_path.rglob(".*.tmp")]


@pytest.mark.parametrize("stop_at", range(5))
def test_an_interrupt_while_writing_leaves_no_output(monkeypatch, tmp_path, capsys, stop_at):
    """Ctrl-C at each figure or at the HTML page: exit 130, no new file, no temporary file,
    and a report already there is untouched."""
    from crossentropy import html, plots

    inp = _inputs(tmp_path)["csv"]
    old = tmp_path / "r.html"
    old.write_text("the report of yesterday")
    before = sorted(p.name for p in tmp_path.iterdir())
    calls = {"n": 0}
    png, page = plots.png_bytes, html.render

    def interrupt_at(fn):
        def wrapped(*a, **k):
            calls["n"] += 1
            if calls["n"] > stop_at:
                raise KeyboardInterrupt
            return fn(*a, **k)

        return wrapped

    monkeypatch.setattr(plots, "png_bytes", interrupt_at(png))
    monkeypatch.setattr(html, "render", interrupt_at(page))
    argv = [
        "evaluate",
        inp,
        "--kind",
        "logits",
        "--plots",
        tmp_path / "new" / "figs",
        "--report",
        old,
    ]
    code, _, err = run(argv, capsys)
    assert code == 130 and "interrupted" in err
    assert old.read_text() == "the report of yesterday"
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


SIGINT_CHILD = r"""
import os, signal, sys, time
from crossentropy import cli, plots
real = plots.png_bytes
def slow(fig, *a, **k):
    out = real(fig, *a, **k)
    print("STAGED", file=sys.stderr, flush=True)  # one figure written to a temporary file
    time.sleep(60)
    return out
plots.png_bytes = slow
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_during_the_report_phase_exits_130_and_writes_nothing(tmp_path):
    import signal

    inp = _inputs(tmp_path)["npz"]
    rep = tmp_path / "out" / "r.html"
    (tmp_path / "out").mkdir()
    argv = ["evaluate", str(inp), "--plots", str(tmp_path / "out" / "figs"), "--report", str(rep)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGINT_CHILD, *argv],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        for line in proc.stderr:
            if line.startswith("STAGED"):
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, rest
    finally:
        proc.kill()
    assert "interrupted" in rest and "Traceback" not in rest
    assert os.listdir(tmp_path / "out") == []  # no figure, no report, no temporary file


# ----------------------------------------------------------------------------- options
HUGE = 10**30


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--batch-size", 2**63),
        ("--batch-size", HUGE),
        ("--batch-size", -5),
        ("--ignore-index", 2**63),
        ("--ignore-index", -(2**63) - 1),
        ("--ignore-index", -HUGE),
        ("--bins", 0),
        ("--bins", 4097),
        ("--bins", HUGE),
        ("--seed", -1),
        ("--seed", 2**64),
        ("--seed", HUGE),
        ("--bootstrap", -1),
        ("--bootstrap", 2**31),
        ("--bootstrap", HUGE),
        ("--classes", 0),
        ("--classes", -3),
        ("--classes", 2**31),
        ("--classes", HUGE),
    ],
)
def test_option_values_out_of_range_are_usage_errors(tmp_path, capsys, flag, value):
    inp = _inputs(tmp_path)["csv"]
    err = _fails(["evaluate", inp, flag, str(value)], capsys, 2, flag, str(value))
    assert "rows" not in err and "internal error" not in err
    if flag in ("--ignore-index", "--classes"):  # explain reads these options too
        err = _fails(["explain", inp, flag, str(value)], capsys, 2, flag)


@pytest.mark.parametrize("text,n", [("+3", 3), (" 3 ", 3), ("003", 3), ("+03", 3)])
def test_classes_as_a_signed_count(tmp_path, capsys, text, n):
    inp = _inputs(tmp_path)["npz"]
    d, _, _ = run_json(["evaluate", inp, "--classes", text], capsys)
    ref, _, _ = run_json(["evaluate", inp], capsys)
    assert d["report"] == ref["report"] and d["source"]["classes"] is None
    assert d["report"]["num_classes"] == n


@pytest.mark.parametrize("value", ["0", str(HUGE), "-1"])
def test_workers_out_of_range(tmp_path, capsys, value):
    pytest.importorskip("distributed")
    argv = ["evaluate", _inputs(tmp_path)["npz"], "--engine", "dask", "--workers", value]
    _fails(argv, capsys, 2, "--workers")


@pytest.mark.parametrize("address", ["garbage://x", "x y", "tcp://", "", "   "])
def test_scheduler_that_is_not_an_address(tmp_path, capsys, address):
    pytest.importorskip("distributed")
    argv = ["evaluate", _inputs(tmp_path)["npz"], "--engine", "dask", "--scheduler", address]
    _fails(argv, capsys, 2, "--scheduler")


def test_unreachable_scheduler_is_exit_4_within_the_timeout(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    import socket
    import time

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr("crossentropy.cli._evaluate.CONNECT_TIMEOUT", 1.5)
    t0 = time.perf_counter()
    argv = ["evaluate", _inputs(tmp_path)["npz"], "--engine", "dask"]
    _fails([*argv, "--scheduler", f"tcp://127.0.0.1:{port}"], capsys, 4, f"127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 30


# ----------------------------------------------------------------------------- rows
@pytest.mark.parametrize("fmt", ["csv", "parquet", "npz"])
@pytest.mark.parametrize("row,classes,batch", [(0, 2, 1000), (7, 3, 4), (19, 5, 3)])
def test_row_with_no_finite_logit_is_a_data_error_naming_it(
    tmp_path, capsys, fmt, row, classes, batch
):
    rng = np.random.default_rng(row)
    X, y = rng.normal(size=(20, classes)), rng.integers(0, classes, 20)
    X[row] = -np.inf
    X[(row + 1) % 20, 1:] = -np.inf  # one finite logit left, the true class: a valid row
    y[(row + 1) % 20] = 0
    cols = {f"l{j}": X[:, j] for j in range(classes)}
    path = tmp_path / f"f.{fmt}"
    if fmt == "csv":
        with open(path, "w") as f:
            f.write(",".join(["y", *cols]) + "\n")
            for i in range(20):
                f.write(",".join([str(y[i])] + [repr(float(v)) for v in X[i]]) + "\n")
    elif fmt == "parquet":
        pq.write_table(pa.table({"y": y, **cols}), path)
    else:
        np.savez(path, y=y, **cols)
    argv = ["evaluate", path, "--kind", "logits", "--batch-size", str(batch)]
    _fails(argv, capsys, 3, "no finite logit", f"row {row}")
    _fails(["explain", path, "--kind", "logits"], capsys, 3, "no finite logit", f"row {row}")
    d, _, _ = run_json([*argv, "--on-invalid", "skip"], capsys)
    assert d["rows"]["rejected_by_reason"] == {"no finite logit": 1}
    keep = np.arange(20) != row
    ref = evaluate(X[keep], y[keep])
    assert d["report"]["cross_entropy"] == pytest.approx(ref.cross_entropy, rel=1e-12)


# ----------------------------------------------------------------------------- terminal
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

NASTY = {
    "osc title": "\x1b]0;owned\x07",
    "clear screen": "\x1b[2J\x1b[H",
    "c1 csi": "\x9b31m",
    "backspace": "ok\x08\x08no",
    "right-to-left": "cod\u202egnp.",
    "delete": "x\x7fy",
}


@pytest.mark.parametrize("what", sorted(NASTY))
def test_file_and_column_names_reach_the_terminal_escaped(tmp_path, capsys, what):
    nasty = NASTY[what]
    path = tmp_path / f"in{nasty}.npz"
    rng = np.random.default_rng(5)
    np.savez(
        path,
        y=rng.integers(0, 2, 6),
        **{f"p{nasty}0": rng.normal(size=6), "p1": rng.normal(size=6)},
    )
    code, out, err = run(["evaluate", path, "--pred", "p*"], capsys)
    assert code == 0, err
    assert not _RAW_CONTROL.search(out) and not _RAW_CONTROL.search(err)
    escaped = nasty.encode("unicode_escape").decode("ascii")
    assert f"in{escaped}.npz" in out and f"p{escaped}0" in out and "kind:" in err
    code, _, err = run(["evaluate", path, "--pred", "missing"], capsys)
    assert code == 2 and not _RAW_CONTROL.search(err) and f"p{escaped}0" in err
    code, out, err = run(["explain", path, "--pred", "p*", "--kind", "logits"], capsys)
    assert code == 0 and not _RAW_CONTROL.search(out + err), err
    d, _, _ = run_json(["evaluate", path, "--pred", "p*"], capsys)  # JSON keeps the names exact
    assert d["source"]["files"] == [str(path)] and f"p{nasty}0" in d["source"]["pred"]


def test_newline_in_a_file_name_cannot_forge_a_line(tmp_path, capsys):
    path = tmp_path / "a\nrows: 0 read.npz"
    np.savez(path, y=np.array([0, 1]), logits=np.zeros((2, 2)))
    code, out, _ = run(["evaluate", path], capsys)
    assert code == 0 and [ln for ln in out.splitlines() if ln.startswith("rows:")] == [
        "rows: 2 read, 2 evaluated, 0 ignored, 0 rejected"
    ]


@pytest.mark.parametrize(
    "names",
    [
        ("$\\foo$", "b", "c"),
        ("$x$", "$y^2$", "$$"),
        ("a_b", "\\alpha$", "50$"),
        ("$\\frac{1}{0}$", "{}", "^"),
    ],
)
def test_class_names_are_printed_literally_in_figures(tmp_path, capsys, names):
    inp = _inputs(tmp_path)["npz"]
    argv = ["evaluate", inp, "--classes", ",".join(names), "--plots", tmp_path / "f"]
    code, _, err = run([*argv, "--report", tmp_path / "r.html"], capsys)
    assert code == 0, err
    assert len(os.listdir(tmp_path / "f")) == 4


def test_runtime_warnings_are_one_line_notes(monkeypatch, tmp_path, capsys):
    import warnings

    real = pipeline_run = pipeline.run

    def noisy(*a, **k):
        warnings.warn("overflow encountered in reduce", RuntimeWarning, stacklevel=1)
        with np.errstate(all="warn"):
            np.float64(1e308) * 10
        return real(*a, **k)

    monkeypatch.setattr(pipeline, "run", noisy)
    code, _, err = run(["evaluate", _inputs(tmp_path)["npz"]], capsys)
    assert code == 0 and pipeline_run is real
    notes = [ln for ln in err.splitlines() if "RuntimeWarning" in ln]
    assert len(notes) == 2 and all(ln.startswith("crossentropy evaluate: warning:") for ln in notes)
    assert ".py" not in err


# ----------------------------------------------------------------------------- dask engine
def _part_files(d):
    """The same 60 rows in five parts, under names the local reader accepts (any extension
    or none: the extension, else the first bytes), plus a dataset folder's bookkeeping."""
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(60, 3)), rng.integers(0, 3, 60)
    tab = lambda sl: pa.table({"y": y[sl], "l0": X[sl, 0], "l1": X[sl, 1], "l2": X[sl, 2]})  # noqa: E731
    names = []
    with open(d / "a.txt", "w") as f:  # CSV text under .txt
        f.write("y,l0,l1,l2\n")
        for i in range(0, 12):
            f.write(",".join([str(int(y[i]))] + [repr(float(v)) for v in X[i]]) + "\n")
    names.append("a.txt")
    pq.write_table(tab(slice(12, 24)), d / "b.PARQUET")
    names.append("b.PARQUET")
    with (
        pa.OSFile(str(d / "c.arrows"), "wb") as s,
        pa.ipc.new_stream(s, tab(slice(24, 36)).schema) as w,
    ):
        w.write_table(tab(slice(24, 36)))
    names.append("c.arrows")
    pq.write_table(tab(slice(36, 48)), d / "part-00003")  # no extension: Parquet by its bytes
    names.append("part-00003")
    with open(d / "e.NPZ", "wb") as f:  # (np.savez would add ".npz" to the name)
        np.savez(f, y=y[48:], l0=X[48:, 0], l1=X[48:, 1], l2=X[48:, 2])
    names.append("e.NPZ")
    (d / "_SUCCESS").write_bytes(b"")
    (d / ".part-00003.crc").write_bytes(b"\x00\x01")
    (d / "_metadata").write_bytes(b"PAR1")
    return sorted(names), X, y


def test_dask_folder_reads_every_part_the_local_reader_reads(tmp_path, capsys):
    pytest.importorskip("dask")
    import dask

    from crossentropy.dask import evaluate_files, expand_paths

    d = tmp_path / "parts"
    d.mkdir()
    names, X, y = _part_files(d)
    assert [os.path.basename(p) for p in expand_paths(str(d))] == names
    files = [str(d / n) for n in names]
    local, _, _ = run_json(["evaluate", *files, "--kind", "logits", "--pred", "l*"], capsys)
    assert local["rows"]["read"] == 60
    with dask.config.set(scheduler="threads"):
        r = evaluate_files(str(d), kind="logits", pred="l*")
    assert r.n_rows == 60
    assert r.cross_entropy == pytest.approx(evaluate(X, y).cross_entropy, rel=1e-12)
    assert r.cross_entropy == pytest.approx(local["report"]["cross_entropy"], rel=1e-12)


def test_local_cluster_workers_log_only_critical():
    """A worker that heartbeats while the scheduler closes logs an ERROR with a traceback:
    the local cluster's workers are started so that it never reaches stderr."""
    pytest.importorskip("distributed")
    import logging

    from crossentropy.dask import client_for, close_client

    client = client_for(workers=1)
    try:

        def stderr_levels():  # what the worker's stream handlers let through
            lg = logging.getLogger("distributed")
            return [h.level for h in lg.handlers if isinstance(h, logging.StreamHandler)]

        levels = client.run(stderr_levels)
        assert levels and all(v and min(v) >= logging.CRITICAL for v in levels.values()), levels
    finally:
        close_client(client)


@pytest.mark.parametrize(
    "extra,advice", [([], "lower --batch-size"), (["--bootstrap", "7"], "fewer --bootstrap")]
)
def test_out_of_memory_advice_names_what_sizes_memory(monkeypatch, tmp_path, capsys, extra, advice):
    def no_memory(*a, **k):
        raise MemoryError

    monkeypatch.setattr(pipeline, "run", no_memory)
    err = _fails(["evaluate", _inputs(tmp_path)["npz"], *extra], capsys, 4, "out of memory", advice)
    assert ("bootstrap" in err) == bool(extra)


@pytest.mark.parametrize("argv", [["--version"], ["evaluate", "--version"]])
def test_version_is_printed_on_stdout_only_when_asked(argv, capsys):
    """``--version`` prints the installed distribution's version (looked up here independently,
    with importlib.metadata) on stdout and exits 0; it is read when the flag is given, not while
    the parser is built."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        want = version("crossentropy")
    except PackageNotFoundError:
        want = "(not installed)"
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 0 and out == f"crossentropy {want}\n" and err == ""


def test_parser_is_built_without_looking_up_the_version(monkeypatch):
    from crossentropy.cli import _arguments

    def looked_up():
        raise AssertionError("the version was looked up without --version")

    monkeypatch.setattr(_arguments, "_version", looked_up)
    parser = cli.build_parser()
    assert parser.parse_args(["evaluate"]).command == "evaluate"
