"""Tasks and their metrics (docs/semantics.md §10.1): binary, multi-label, multi-class additions.

Every expected number comes from scikit-learn, torchmetrics or a float64 NumPy reference
written here, on the bundled examples (UCI breast cancer, digits) and scikit-learn data.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn import metrics as skm

import crossentropy as ce
from crossentropy import cli
from crossentropy.accumulate import STATE_VERSION, Accumulator
from crossentropy.examples import example_path
from crossentropy.kinds import infer_task
from crossentropy.ranking import ranking, score_histograms

RTOL = 1e-12  # float64 against an oracle (properties.md §2)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def load(name):
    with np.load(example_path(name)) as z:
        return z["logits"], z["target"]


@pytest.fixture(scope="module")
def cancer():
    return load("breast_cancer")


@pytest.fixture(scope="module")
def multilabel():
    return load("digits_multilabel")


def close(a, b, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- decisions
def test_kind_auto_states_the_true_reason():
    """The issue's case: rows in [0, 1] not summing to 1 were 'values outside [0, 1]'."""
    kind, reason = ce.infer_kind(np.array([[0.2, 0.3, 0.1]]))
    assert kind == "logits"
    assert "outside" not in reason and "do not sum to 1" in reason
    kind, reason = ce.infer_kind(np.array([[2.0, -1.0, 0.5]]))
    assert "outside [0, 1]" in reason


@pytest.mark.parametrize(
    ("pred", "target", "task"),
    [
        (np.array([[0.2], [0.9]]), np.array([0, 1]), "binary"),
        (np.zeros((2, 3)), np.array([0, 2]), "multiclass"),
        (np.full((2, 3), 0.3), np.array([[1.0, 0, 1], [0, 0, 0]]), "multilabel"),
        (np.full((2, 2), 0.5), np.array([[0.3, 0.7], [1.0, 0.0]]), "multiclass"),
        (np.full((2, 2), 0.5), np.array([[0.0, 1.0], [1.0, 0.0]]), "multiclass"),
    ],
)
def test_infer_task(pred, target, task):
    assert infer_task(pred, target)[0] == task


def test_task_auto_must_decide_the_same_on_every_batch():
    acc = Accumulator(kind="probs")
    acc.update(np.array([[0.2, 0.8], [0.6, 0.4]]), np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="decided 'multilabel' for this batch"):
        acc.update(np.array([[0.2, 0.8]]), np.array([[1.0, 1.0]]))


# ----------------------------------------------------------------------------- binary
def test_binary_matches_sklearn_on_breast_cancer(cancer):
    x, y = cancer
    p = sigmoid(x)
    r = ce.evaluate(x, y)  # one column of logits: task and kind decided
    assert (r.task, r.kind, r.num_classes) == ("binary", "logits", 2)
    close(r.cross_entropy, skm.log_loss(y, p))
    close(r.brier, skm.brier_score_loss(y, p))
    close(r.accuracy, skm.accuracy_score(y, p > 0.5))
    auc, ap = skm.roc_auc_score(y, x), skm.average_precision_score(y, x)
    assert abs(r.roc_auc - auc) <= r.roc_auc_bound + 1e-15
    assert abs(r.average_precision - ap) <= r.average_precision_bound + 1e-15
    for v in (r.cross_entropy, r.brier, r.roc_auc, r.average_precision, r.per_label[0].auc):
        assert type(v) is float


@pytest.mark.parametrize("layout", ["probs1", "probs2", "logits2", "log_probs1", "log_probs2"])
def test_binary_layouts_agree(cancer, layout):
    """One column of p, two columns (1 − p, p), two logits, log-probabilities: one report."""
    x, y = cancer
    p = sigmoid(x)
    pred, kind = {
        "probs1": (p, "probs"),
        "probs2": (np.stack([1 - p, p], axis=1), "probs"),
        "logits2": (np.stack([np.zeros_like(x), x], axis=1), "logits"),
        "log_probs1": (np.log(p), "log_probs"),
        "log_probs2": (np.log(np.stack([1 - p, p], axis=1)), "log_probs"),
    }[layout]
    r = ce.evaluate(pred, y, kind=kind, task="binary")
    close(r.cross_entropy, skm.log_loss(y, p), rtol=1e-9)
    close(r.brier, skm.brier_score_loss(y, p), rtol=1e-9)


def test_binary_weights_and_ignore_index(cancer):
    x, y = cancer
    rng = np.random.default_rng(3)
    w = rng.random(len(y))
    yy = y.copy()
    yy[::7] = -100
    keep = yy != -100
    r = ce.evaluate(x, yy, sample_weight=w)
    p = sigmoid(x)
    close(r.cross_entropy, skm.log_loss(y[keep], p[keep], sample_weight=w[keep]))
    close(r.brier, skm.brier_score_loss(y[keep], p[keep], sample_weight=w[keep]))
    assert r.n_ignored == int((~keep).sum())
    auc = skm.roc_auc_score(y[keep], x[keep], sample_weight=w[keep])
    assert abs(r.roc_auc - auc) <= r.roc_auc_bound + 1e-15


def test_binary_positive_class_reliability(cancer):
    """P(y=1) against p per uniform bin: scikit-learn's calibration_curve and a float64 ECE."""
    x, y = cancer
    p = sigmoid(x)
    r = ce.evaluate(p, y, kind="probs", bins=10)
    bins = [b for b in r.calibration.bins if b.count > 0]
    from sklearn.calibration import calibration_curve

    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    close([b.accuracy for b in bins], prob_true, rtol=1e-12)
    close([b.mean_confidence for b in bins], prob_pred, rtol=1e-12)
    k = np.minimum(np.floor(p * 10), 9).astype(int)  # [lo, hi) bins, the last closed
    ece = sum(abs(p[k == j].sum() - y[k == j].sum()) for j in range(10)) / len(p)
    close(r.calibration.ece, ece)


def test_binary_ece_matches_torchmetrics(cancer):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    x, y = cancer
    p = sigmoid(x)
    m = tm.BinaryCalibrationError(n_bins=15, norm="l1")
    want = float(m(torch.as_tensor(p), torch.as_tensor(y)))
    r = ce.evaluate(p, y, kind="probs", bins=15)
    close(r.calibration.ece, want, rtol=1e-5)  # torchmetrics computes in float32


def test_binary_quantile_bins_are_the_reported_edges(cancer):
    x, y = cancer
    p = sigmoid(x)
    r = ce.evaluate(p, y, kind="probs", bins=5, strategy="quantile")
    for b in r.calibration.bins:
        last = b.hi == 1.0
        inside = (p >= b.lo) & ((p <= b.hi) if last else (p < b.hi))
        assert b.count == int(inside.sum())
        if b.count:
            close(b.mean_confidence, p[inside].mean(), rtol=1e-12)
            close(b.accuracy, y[inside].mean(), rtol=1e-12)


def test_binary_cli_bad_label_names_the_fix(tmp_path, capsys):
    path = tmp_path / "b.csv"
    path.write_text("y,p\n0,0.2\n2,0.9\n")
    code = cli.main(["evaluate", str(path)])
    err = capsys.readouterr().err
    assert code == 3 and "label out of range [0, 2)" in err and "row 1" in err


# ----------------------------------------------------------------------------- ranking
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_ap_within_their_stated_bound(seed):
    rng = np.random.default_rng(seed)
    n = 5000
    y = rng.random(n) < 0.2
    s = rng.normal(size=n) * 3 + y
    if seed == 2:
        s = np.round(s, 1)  # ties: scikit-learn counts them as ties too
    w = rng.random(n)
    r = ranking(*score_histograms(s, y, w))
    assert abs(r.auc - skm.roc_auc_score(y, s, sample_weight=w)) <= r.auc_bound + 1e-14
    ap = skm.average_precision_score(y, s, sample_weight=w)
    assert abs(r.ap - ap) <= r.ap_bound + 1e-14
    if seed != 2:  # distinct scores: the bins are fine enough for the bound to be useful
        assert r.auc_bound < 1e-3 and r.ap_bound < 1e-2


def test_one_class_gives_nan_auc():
    r = ce.evaluate(np.array([0.2, 0.7]), np.array([1, 1]), kind="probs", task="binary")
    assert math.isnan(r.roc_auc) and not math.isnan(r.average_precision)


# ----------------------------------------------------------------------------- multi-label
def test_multilabel_matches_sklearn_per_column(multilabel):
    x, Y = multilabel
    P = sigmoid(x)
    r = ce.evaluate(x, Y.astype(float))
    assert (r.task, r.target_kind, len(r.per_label)) == ("multilabel", "labels", 3)
    per = [skm.log_loss(Y[:, k], P[:, k]) for k in range(3)]
    close(r.cross_entropy, np.mean(per))
    for k, lab in enumerate(r.per_label):
        close(lab.nll, per[k])
        close(lab.brier, skm.brier_score_loss(Y[:, k], P[:, k]))
        close(lab.accuracy, skm.accuracy_score(Y[:, k], P[:, k] > 0.5))
        assert abs(lab.auc - skm.roc_auc_score(Y[:, k], x[:, k])) <= lab.auc_bound + 1e-15
        ap = skm.average_precision_score(Y[:, k], x[:, k])
        assert abs(lab.average_precision - ap) <= lab.ap_bound + 1e-15
        assert lab.positive_weight == Y[:, k].sum()
    close(r.accuracy, 1 - skm.hamming_loss(Y, P > 0.5))
    m = r.label_averages
    for avg in ("macro", "micro"):
        auc = skm.roc_auc_score(Y, x, average=avg)
        ap = skm.average_precision_score(Y, x, average=avg)
        assert abs(m[avg]["auc"] - auc) < 1e-3 and abs(m[avg]["average_precision"] - ap) < 1e-2
    close(m["macro"]["nll"], m["micro"]["nll"])  # same rows and weights in every label


def test_multilabel_the_issue_case():
    """Three sigmoid columns and multi-hot labels, rows with no positive included."""
    rng = np.random.default_rng(0)
    Y = (rng.random((400, 3)) < 0.3).astype(float)
    Y[:5] = 0.0  # rows with no positive label count like any other
    P = np.clip(0.15 + 0.6 * Y + 0.2 * rng.random((400, 3)), 0, 1)
    r = ce.evaluate(P, Y, kind="auto")  # kind and task decided
    assert (r.task, r.kind, r.n_valid) == ("multilabel", "probs", 400)
    close(r.cross_entropy, np.mean([skm.log_loss(Y[:, k], P[:, k]) for k in range(3)]))


def test_multilabel_auroc_matches_torchmetrics(multilabel):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.classification")
    x, Y = multilabel
    r = ce.evaluate(x, Y.astype(float), task="multilabel")
    m = tm.MultilabelAUROC(num_labels=3, average="none", thresholds=None)
    want = m(torch.as_tensor(x), torch.as_tensor(Y)).numpy()
    for lab, w in zip(r.per_label, want, strict=True):
        assert abs(lab.auc - w) <= lab.auc_bound + 1e-6


def test_multilabel_labels_must_be_zero_or_one():
    with pytest.raises(ValueError, match="must hold 0 or 1 per label"):
        ce.evaluate(np.zeros((2, 2)), np.array([[0.0, 0.5], [1.0, 1.0]]), task="multilabel")


# ----------------------------------------------------------------------------- multi-class
def test_top_k_and_confusion_on_digits():
    x, y = load("digits")
    rng = np.random.default_rng(1)
    w = rng.random(len(y))
    r = ce.evaluate(x, y, sample_weight=w, top_k=4)
    assert r.task == "multiclass"
    for k in (1, 2, 3, 4):
        close(r.top_k_accuracy[k], skm.top_k_accuracy_score(y, x, k=k, sample_weight=w))
    cm = skm.confusion_matrix(y, x.argmax(1), labels=range(10), sample_weight=w)
    close(np.array(r.confusion_matrix), cm)
    close(r.top_k_accuracy[1], r.accuracy)


def test_top_k_zero_skips_it():
    r = ce.evaluate(np.zeros((3, 4)), np.array([0, 1, 2]), top_k=0)
    assert r.top_k_accuracy is None and r.confusion_matrix is not None


# ----------------------------------------------------------------------------- merging
def _splits(n, rng):
    cuts = np.sort(rng.choice(np.arange(1, n), size=4, replace=False))
    return np.split(np.arange(n), cuts)


@pytest.mark.parametrize("which", ["binary", "multilabel", "multiclass"])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_statistic_merges_exactly_across_random_splits(which, seed, cancer, multilabel):
    rng = np.random.default_rng(seed)
    if which == "binary":
        x, y = cancer
    elif which == "multilabel":
        x, y = multilabel[0], multilabel[1].astype(float)
    else:
        x, y = load("digits")
    w = rng.random(len(y))
    opts = dict(kind="logits", bins=7, bootstrap=5, seed=3)
    whole = Accumulator(**opts)
    whole.update(x, y, sample_weight=w)
    parts = []
    for idx in _splits(len(y), rng):
        a = Accumulator(**opts)
        a.update(x[idx], y[idx], sample_weight=w[idx], row_offset=int(idx[0]))
        parts.append(a)
    order = rng.permutation(len(parts))
    merged = parts[order[0]]
    for k in order[1:]:
        merged = merged.merge(parts[k])
    merged = Accumulator.from_state(json.loads(json.dumps(merged.to_state())))
    a, b = whole.to_state()["stats"], merged.to_state()["stats"]
    assert set(a) == set(b)
    for name in a:
        for field, va in a[name].items():
            vb = b[name][field]
            if isinstance(va, list):
                close(
                    np.asarray(va, dtype=float), np.asarray(vb, dtype=float), rtol=1e-12, atol=1e-12
                )
            else:
                assert va == vb or math.isclose(va, vb, rel_tol=1e-12), (name, field)
    ra, rb = whole.finalize(), merged.finalize()
    assert ra.intervals == rb.intervals  # replicate sums are exact integers
    close(ra.cross_entropy, rb.cross_entropy)


def test_old_state_version_is_refused():
    st = Accumulator().to_state()
    st["schema_version"] = STATE_VERSION - 1
    with pytest.raises(ValueError, match="unsupported accumulator state schema_version"):
        Accumulator.from_state(st)


# ----------------------------------------------------------------------------- command line
def _json(argv, capsys):
    code = cli.main([*argv, "--format", "json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), out.err


def _write(tmp_path, name, frame):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return str(path)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
@pytest.mark.parametrize("column", ["p", "logit"])
def test_cli_binary_one_column(tmp_path, capsys, cancer, ext, column):
    pd = pytest.importorskip("pandas")
    x, y = cancer
    p = sigmoid(x)
    frame = pd.DataFrame({"y": y, column: p if column == "p" else x})
    d, err = _json(["evaluate", _write(tmp_path, f"b.{ext}", frame)], capsys)
    assert d["source"]["task"] == "binary" and "task: binary" in err
    assert d["source"]["kind"] == ("probs" if column == "p" else "logits")
    rep = d["report"]
    close(rep["cross_entropy"], skm.log_loss(y, p), rtol=1e-9)
    close(rep["brier"], skm.brier_score_loss(y, p), rtol=1e-9)


def test_cli_binary_two_named_classes_and_explicit_kind(tmp_path, capsys, cancer):
    pd = pytest.importorskip("pandas")
    x, y = cancer
    p = sigmoid(x)
    names = np.where(y == 1, "benign", "malignant")
    path = _write(tmp_path, "n.csv", pd.DataFrame({"y": names, "p": p}))
    d, _ = _json(
        ["evaluate", path, "--classes", "malignant,benign", "--kind", "probs", "--task", "binary"],
        capsys,
    )
    close(d["report"]["brier"], skm.brier_score_loss(y, p), rtol=1e-9)
    path2 = _write(tmp_path, "two.csv", pd.DataFrame({"y": y, "p0": 1 - p, "p1": p}))
    d2, _ = _json(["evaluate", path2, "--task", "binary", "--kind", "probs"], capsys)
    close(d2["report"]["brier"], skm.brier_score_loss(y, p), rtol=1e-9)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_cli_multilabel(tmp_path, capsys, multilabel, ext):
    pd = pytest.importorskip("pandas")
    x, Y = multilabel
    P = sigmoid(x)
    cols = {f"p_{k}": P[:, k] for k in range(3)} | {f"y_{k}": Y[:, k] for k in range(3)}
    path = _write(tmp_path, f"m.{ext}", pd.DataFrame(cols))
    d, err = _json(["evaluate", path, "--target", "y_*", "--pred", "p_*"], capsys)
    assert d["source"]["task"] == "multilabel" and d["rows"]["ignored"] == 0
    per = [skm.log_loss(Y[:, k], P[:, k]) for k in range(3)]
    close(d["report"]["cross_entropy"], np.mean(per), rtol=1e-9)
    close([lab["nll"] for lab in d["report"]["per_label"]], per, rtol=1e-9)


def test_cli_multiclass_top_k(capsys):
    d, _ = _json(["evaluate"], capsys)
    x, y = load("digits")
    close(d["report"]["top_k_accuracy"]["2"], skm.top_k_accuracy_score(y, x, k=2))
    close(d["report"]["confusion_matrix"], skm.confusion_matrix(y, x.argmax(1)))


def test_cli_target_file_and_apply_temperature(tmp_path, capsys):
    x, y = load("digits")
    np.save(tmp_path / "logits.npy", x)
    np.save(tmp_path / "labels.npy", y)
    argv = ["evaluate", str(tmp_path / "logits.npy"), "--target-file", str(tmp_path / "labels.npy")]
    d, _ = _json(argv, capsys)
    close(d["report"]["cross_entropy"], skm.log_loss(y, _softmax(x)), rtol=1e-9)
    fit, _ = _json([*argv, "--temperature"], capsys)
    T = fit["report"]["temperature"]["T"]
    (tmp_path / "fit.json").write_text(json.dumps(fit))
    applied, _ = _json([*argv, "--temperature-from", str(tmp_path / "fit.json")], capsys)
    assert applied["source"]["temperature_applied"] == T
    assert applied["report"]["temperature"] is None  # applied, not fitted
    close(applied["report"]["cross_entropy"], skm.log_loss(y, _softmax(x / T)), rtol=1e-9)
    same, _ = _json([*argv, "--apply-temperature", repr(T)], capsys)
    assert same["report"] == applied["report"]


def test_cli_target_file_row_mismatch(tmp_path, capsys):
    np.save(tmp_path / "logits.npy", np.zeros((4, 3)))
    np.save(tmp_path / "labels.npy", np.zeros(3, dtype=np.int64))
    code = cli.main(
        ["evaluate", str(tmp_path / "logits.npy"), "--target-file", str(tmp_path / "labels.npy")]
    )
    assert code == 2 and "row for row" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--version"], ["evaluate", "--version"]])
def test_cli_version(argv, capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert (
        e.value.code == 0
        and capsys.readouterr().out.strip() == f"crossentropy {version('crossentropy')}"
    )


def _softmax(x):
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------- golden JSON
GOLDEN_KEYS = {
    "binary": {"roc_auc", "roc_auc_bound", "average_precision", "average_precision_bound"},
    "multilabel": {"per_label", "label_averages", "roc_auc"},
    "multiclass": {"top_k_accuracy", "confusion_matrix"},
}


@pytest.mark.parametrize(
    ("example", "task"),
    [("breast_cancer", "binary"), ("digits_multilabel", "multilabel"), ("digits", "multiclass")],
)
def test_golden_json_per_task(capsys, example, task):
    """The JSON of each bundled example: its task, fields and numbers (against scikit-learn)."""
    d, _ = _json(["evaluate", "--example", example], capsys)
    rep = d["report"]
    assert d["source"]["task"] == rep["task"] == task
    assert GOLDEN_KEYS[task] <= set(rep) and rep["schema_version"] == 1
    x, y = load(example)
    names = np.load(example_path(example))["label_names" if task == "multilabel" else "class_names"]
    assert rep["class_names"] == [str(n) for n in names]  # the example's own names
    if task == "binary":
        close(rep["cross_entropy"], skm.log_loss(y, sigmoid(x)), rtol=1e-9)
        assert rep["label_averages"] is None and len(rep["per_label"]) == 1
        assert [c["count"] for c in rep["per_class"]] == np.bincount(y).tolist()
    elif task == "multilabel":
        per = [skm.log_loss(y[:, k], sigmoid(x[:, k])) for k in range(3)]
        close(rep["cross_entropy"], np.mean(per), rtol=1e-9)
        assert set(rep["label_averages"]) == {"macro", "micro"}
        assert rep["top_k_accuracy"] is None and rep["per_class"] == []
    else:
        close(rep["cross_entropy"], skm.log_loss(y, _softmax(x)), rtol=1e-9)
        assert rep["per_label"] == [] and rep["roc_auc"] is None


# ----------------------------------------------------------------------------- Dask
def test_dask_engine_binary_equals_local(tmp_path, cancer):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("dask")
    from crossentropy.dask import evaluate_files

    x, y = cancer
    for k, idx in enumerate(np.array_split(np.arange(len(y)), 3)):
        pd.DataFrame({"y": y[idx], "logit": x[idx]}).to_parquet(tmp_path / f"part{k}.parquet")
    r = evaluate_files(str(tmp_path / "*.parquet"), bootstrap=4)
    local = ce.evaluate(x, y, bootstrap=4)
    assert r.task == "binary"
    close(r.cross_entropy, local.cross_entropy)
    close(r.roc_auc, local.roc_auc)
    assert r.intervals == local.intervals


def test_cli_multilabel_bad_label_is_rejected_or_skipped(tmp_path, capsys):
    path = tmp_path / "m.csv"
    path.write_text("p_0,p_1,y_0,y_1\n0.2,0.7,0,1\n0.4,0.1,2,0\n0.9,0.8,1,1\n")
    argv = ["evaluate", str(path), "--target", "y_*", "--pred", "p_*", "--task", "multilabel"]
    assert cli.main(argv) == 3
    assert "label is not 0 or 1 (found [2.0])" in capsys.readouterr().err
    d, _ = _json([*argv, "--on-invalid", "skip"], capsys)
    assert d["rows"]["rejected"] == 1 and d["report"]["n_rows"] == 2
    P, Y = np.array([[0.2, 0.7], [0.9, 0.8]]), np.array([[0, 1], [1, 1]])
    want = np.mean([skm.log_loss(Y[:, k], P[:, k], labels=[0, 1]) for k in range(2)])
    close(d["report"]["cross_entropy"], want, rtol=1e-9)


def test_temperature_fit_is_multiclass_only(tmp_path, capsys):
    path = tmp_path / "b.csv"
    path.write_text("y,logit\n0,-1.0\n1,2.0\n")
    assert cli.main(["evaluate", str(path), "--temperature"]) == 3
    assert "--apply-temperature" in capsys.readouterr().err


def test_apply_temperature_to_a_binary_file(tmp_path, capsys, cancer):
    pd = pytest.importorskip("pandas")
    x, y = cancer
    path = _write(tmp_path, "b.csv", pd.DataFrame({"y": y, "p": sigmoid(x)}))
    d, _ = _json(["evaluate", path, "--apply-temperature", "2.5"], capsys)
    close(d["report"]["cross_entropy"], skm.log_loss(y, sigmoid(x / 2.5)), rtol=1e-9)
    assert d["source"]["temperature_applied"] == 2.5


def test_report_text_names_each_task(cancer, multilabel):
    b = str(ce.evaluate(*cancer))
    assert "task=binary" in b and "brier (binary)" in b and "P(y=1) against p" in b
    m = str(ce.evaluate(multilabel[0], multilabel[1].astype(float)))
    assert "task=multilabel" in m and "per label (3)" in m and "micro" in m


def test_softmax_only_options_are_refused_on_label_tasks(cancer):
    with pytest.raises(ValueError, match="label_smoothing apply to multi-class"):
        ce.evaluate(*cancer, label_smoothing=0.1)
