"""The ``crossentropy`` command: golden output on the bundled example (checked against
scikit-learn), format invariance (P20), chunked = one-shot, and every malformed input
with its exit status and message (never a traceback)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from crossentropy import cli  # noqa: E402
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
    "columns: target target; prediction logits; kind logits",
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
    for line in ("2  usage or schema error", "3  data validation error", "4  I/O error"):
        assert line in out


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
    monkeypatch.setattr(cli, "_has_matplotlib", lambda: False)
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
    _fails(["evaluate", tmp_path], capsys, 4, "is a directory")
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
