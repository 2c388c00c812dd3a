"""Model comparison: the paired Poisson-bootstrap interval (bit-identical for any split, equal to
a float64 NumPy reference), the point differences (= the difference of two ``evaluate``
reports), the verdict, and ``crossentropy compare`` on CSV/Parquet, ``--id`` and a JSON
baseline."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest
from scipy.special import log_softmax

from crossentropy import cli
from crossentropy.accumulate import Accumulator, evaluate
from crossentropy.bootstrap import percentile_interval, poisson_weights
from crossentropy.compare import DIFF_EDGES, POINT_ONLY, CompareSums, compare
from crossentropy.examples import load_example


@pytest.fixture(scope="module")
def digits():
    """The bundled digits predictions (A) and a worse, under-confident B (logits × 0.6)."""
    ex = load_example()
    return ex.logits, ex.logits * 0.6, ex.target


def _rows_nll(x, y):
    return -log_softmax(x, axis=1)[np.arange(len(y)), y]


def test_point_differences_equal_two_evaluate_reports(digits):
    a, b, y = digits
    c = compare(a, b, y, bootstrap=0)
    ra, rb = evaluate(a, y), evaluate(b, y)
    for k in ("cross_entropy", "nll", "accuracy", "brier", "perplexity"):
        assert c.difference[k] == getattr(rb, k) - getattr(ra, k), k
    assert c.difference["calibration.ece"] == rb.calibration.ece - ra.calibration.ece
    assert c.intervals is None and c.paired and c.n_rows == len(y)


def test_interval_equals_float64_reference(digits):
    """Δ_k = Σ r ℓ^B / Σ r − Σ r ℓ^A / Σ r with the same r_uk for both models (NumPy, float64)."""
    a, b, y = digits
    K, seed = 300, 7
    c = compare(a, b, y, bootstrap=K, seed=seed)
    r = poisson_weights(seed, np.arange(len(y)), K)  # (N, K)
    la, lb = _rows_nll(a, y), _rows_nll(b, y)
    W = r.sum(axis=0)
    delta = (r.T @ lb) / W - (r.T @ la) / W
    lo, hi = percentile_interval(delta, 0.95)
    np.testing.assert_allclose(c.intervals["cross_entropy"], (lo, hi), rtol=1e-12)
    acc_a = (a.argmax(1) == y).astype(float)
    acc_b = (b.argmax(1) == y).astype(float)
    ref = percentile_interval((r.T @ acc_b) / W - (r.T @ acc_a) / W, 0.95)
    np.testing.assert_allclose(c.intervals["accuracy"], ref, rtol=1e-12, atol=1e-15)


def test_interval_bit_identical_for_any_split(digits):
    a, b, y = digits
    whole = compare(a, b, y, bootstrap=200, seed=3)
    rng = np.random.default_rng(0)
    for trial in range(4):
        cuts = np.sort(rng.choice(np.arange(1, len(y)), size=rng.integers(1, 8), replace=False))
        bounds = [0, *cuts.tolist(), len(y)]
        parts = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            s = CompareSums(bootstrap=200, seed=3)
            s.update(a[lo:hi], b[lo:hi], y[lo:hi], row_offset=lo)
            if trial % 2:  # through JSON, as a shard would send it
                s = CompareSums.from_state(json.loads(json.dumps(s.to_state())))
            parts.append(s)
        rng.shuffle(parts)
        merged = parts[0]
        for p in parts[1:]:
            merged = merged.merge(p)
        got = merged.finalize()
        assert got.intervals == whole.intervals  # bit-identical
        assert got.histogram == whole.histogram
        assert (got.b_lower, got.a_lower, got.equal) == (whole.b_lower, whole.a_lower, whole.equal)
    by_blocks = compare(a, b, y, bootstrap=200, seed=3, block_rows=13)
    assert by_blocks.intervals == whole.intervals


def test_nll_difference_histogram(digits):
    a, b, y = digits
    c = compare(a, b, y, bootstrap=0)
    d = _rows_nll(b, y) - _rows_nll(a, y)
    assert c.histogram.edges == tuple(DIFF_EDGES)
    ref, _ = np.histogram(d, bins=DIFF_EDGES)  # numpy: half-open bins like ours, ±inf ends
    assert c.histogram.count == tuple(ref.tolist())
    assert c.b_lower == int((d < 0).sum()) and c.a_lower == int((d > 0).sum())
    assert c.b_lower + c.a_lower + c.equal == len(y)


def test_verdict_texts(digits):
    a, b, y = digits
    worse = compare(a, b, y, bootstrap=200, names=("base", "sharp"))
    lo, hi = worse.intervals["cross_entropy"]
    assert lo > 0
    d = worse.difference["cross_entropy"]
    assert worse.verdict() == (
        f"sharp has higher cross-entropy than base by {d:.3g} nats (95% paired interval "
        f"{lo:.3g} to {hi:.3g}; 539 rows)"
    )
    better = compare(b, a, y, bootstrap=200)
    assert better.verdict().startswith(f"B has lower cross-entropy than A by {d:.3g} nats")
    assert better.verdict() in str(better) and "paired interval" in str(better)
    # B is A with the predictions of same-label row pairs swapped: the total loss is unchanged
    order = np.argsort(y, kind="stable")
    ys, xs = y[order], a[order]
    swapped = xs.copy()
    for i in range(0, len(ys) - 1, 2):
        if ys[i] == ys[i + 1]:
            swapped[[i, i + 1]] = xs[[i + 1, i]]
    same = compare(xs, swapped, ys, bootstrap=200)
    lo, hi = same.intervals["cross_entropy"]
    assert lo < 0 < hi
    assert same.verdict().startswith("no difference in cross-entropy detectable: B − A = ")
    assert compare(a, a, y, bootstrap=20).verdict() == (
        "A and B give the same loss on every one of the 539 rows"
    )


def test_saved_reports_give_point_differences_only(digits):
    a, b, y = digits
    ra, rb = evaluate(a, y), evaluate(b, y)
    acc = Accumulator()
    acc.update(b, y)
    for left, right in ((ra, rb), (ra.to_dict(), json.loads(rb.to_json())), (ra, acc.to_state())):
        c = compare(left, right)
        assert not c.paired and c.intervals is None
        assert c.difference["cross_entropy"] == rb.cross_entropy - ra.cross_entropy
        assert "point difference" in c.verdict() and POINT_ONLY in str(c)
    with pytest.raises(ValueError, match="different numbers of rows"):
        compare(ra, evaluate(b[:10], y[:10]))
    with pytest.raises(TypeError, match="`a` must be a Report"):
        compare([1, 2], rb)


def test_bad_inputs(digits):
    a, b, y = digits
    with pytest.raises(ValueError, match="must score the same rows"):
        compare(a, b[:-1], y)
    with pytest.raises(ValueError, match="different seed"):
        CompareSums(seed=1).merge(CompareSums(seed=2))


# ---------------------------------------------------------------------------- command line


def run(argv, capsys):
    try:
        code = cli.main([str(x) for x in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


@pytest.fixture(scope="module")
def files(digits, tmp_path_factory):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    a, b, y = digits
    d = tmp_path_factory.mktemp("compare")
    cols = [f"p{j}" for j in range(a.shape[1])]

    def frame(x, ids):
        f = pd.DataFrame(x, columns=cols)
        f.insert(0, "label", y[: len(x)])
        f.insert(0, "id", ids)
        return f

    ids = np.arange(len(y)) * 3
    frame(a, ids).to_parquet(d / "a.parquet")
    frame(b, ids).to_csv(d / "b.csv", index=False)
    bad = ids.copy()
    bad[200] = -1
    frame(b, bad).to_csv(d / "b_bad_id.csv", index=False)
    frame(b[:-5], ids[:-5]).to_csv(d / "b_short.csv", index=False)
    return d


def test_cli_csv_against_parquet_equals_python(files, digits, capsys):
    a, b, y = digits
    argv = ["compare", files / "a.parquet", files / "b.csv", "--target", "label"]
    argv += ["--pred", "p*", "--id", "id", "--batch-size", "100", "--bootstrap", "200"]
    code, out, err = run([*argv, "--format", "json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    want = compare(a, b, y, bootstrap=200)
    assert d["paired"] and d["n_rows"] == len(y)
    assert d["difference"]["cross_entropy"] == pytest.approx(
        want.difference["cross_entropy"], rel=1e-12
    )
    assert d["intervals"]["cross_entropy"] == list(want.intervals["cross_entropy"])
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert "has higher cross-entropy than" in out and "paired interval" in out


def test_cli_id_mismatch_names_the_id_and_row(files, capsys):
    argv = ["compare", files / "a.parquet", files / "b_bad_id.csv", "--target", "label"]
    code, _, err = run([*argv, "--pred", "p*", "--id", "id", "--batch-size", "64"], capsys)
    assert code == 3
    assert "row 200 has id '600'" in err and "'-1'" in err and "first differing id" in err
    code, _, err = run([*argv, "--pred", "p*", "--id", "nope"], capsys)
    assert code == 2 and "--id nope: no such column" in err


def test_cli_row_count_and_options(files, capsys):
    argv = ["compare", files / "a.parquet", files / "b_short.csv", "--target", "label"]
    code, _, err = run([*argv, "--pred", "p*"], capsys)
    assert code == 3 and "has 534 rows" in err
    code, _, err = run([*argv, "--pred", "p*", "--on-invalid", "skip"], capsys)
    assert code == 2 and "--on-invalid skip" in err
    code, _, err = run(["compare", files / "missing.csv", files / "b.csv"], capsys)
    assert code == 4 and "no such file" in err
    code, _, err = run([*argv, "--pred", "p*", "--bootstrap", "-1"], capsys)
    assert code == 2 and "--bootstrap must be ≥ 0" in err


def test_cli_json_baseline(files, digits, capsys):
    a, b, y = digits
    base = files / "a.json"
    code, out, _ = run(
        ["evaluate", files / "a.parquet", "--target", "label", "--pred", "p*", "--format", "json"],
        capsys,
    )
    assert code == 0
    base.write_text(out)
    argv = ["compare", base, files / "b.csv", "--target", "label", "--pred", "p*"]
    code, out, _ = run([*argv, "--format", "json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["paired"] is False and d["intervals"] is None and d["note"] == POINT_ONLY
    want = evaluate(b, y).cross_entropy - evaluate(a, y).cross_entropy
    assert d["difference"]["cross_entropy"] == pytest.approx(want, rel=1e-12)
    code, out, _ = run(argv, capsys)
    assert "point difference" in out and "no paired interval" in out
    short = files / "short.json"
    short.write_text(json.dumps(evaluate(a[:9], y[:9]).to_dict()))
    code, _, err = run(["compare", short, base], capsys)
    assert code == 3 and "different numbers of rows" in err


def test_binary_task_interval_equals_float64_reference():
    """The other tasks go through the same paired sums: binary logits against a NumPy reference
    (per-row binary cross-entropy and scikit-learn's Brier (p − y)²)."""
    from scipy.special import expit

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=300) + (2 * y - 1)
    xb = 0.5 * x
    c = compare(x, xb, y, task="binary", bootstrap=100, seed=1)
    r = poisson_weights(1, np.arange(300), 100)
    W = r.sum(axis=0)

    def bce(z):
        p = expit(z)
        return -(y * np.log(p) + (1 - y) * np.log1p(-p))

    for name, f in (("cross_entropy", bce), ("brier", lambda z: (expit(z) - y) ** 2)):
        ref = percentile_interval((r.T @ f(xb)) / W - (r.T @ f(x)) / W, 0.95)
        np.testing.assert_allclose(c.intervals[name], ref, rtol=1e-12)
    assert "calibration.ece" not in c.intervals  # P(y=1) calibration: point difference only
    rb, ra = evaluate(xb, y, task="binary"), evaluate(x, y, task="binary")
    assert c.difference["roc_auc"] == rb.roc_auc - ra.roc_auc


def test_multilabel_point_differences(digits):
    rng = np.random.default_rng(2)
    Y = rng.integers(0, 2, (200, 3))
    X = rng.normal(size=(200, 3)) + (2 * Y - 1)
    c = compare(X, 0.5 * X, Y, task="multilabel", bootstrap=50)
    ra, rb = evaluate(X, Y, task="multilabel"), evaluate(0.5 * X, Y, task="multilabel")
    assert c.difference["cross_entropy"] == rb.cross_entropy - ra.cross_entropy
    lo, hi = c.intervals["cross_entropy"]
    assert lo <= c.difference["cross_entropy"] <= hi


def test_verdict_with_infinite_losses():
    """A probability 0 on an observed class makes a model's cross-entropy +inf (§4): the verdict
    says which one, instead of an interval of infinities."""
    p = np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    y = np.array([0, 1, 2])
    q = p.copy()
    q[0] = [0.1, 0.45, 0.45]
    ce_q = float(-np.mean(np.log(q[np.arange(3), y])))
    c = compare(p, q, y, kind="probs", bootstrap=50)
    assert c.difference["cross_entropy"] == -np.inf
    assert c.verdict() == (
        "B has lower cross-entropy than A: A's is infinite (it gives probability 0 to an "
        f"observed class) and B's is {ce_q:.4g} nats (3 rows)"
    )
    assert (
        compare(p, p, y, kind="probs", bootstrap=50)
        .verdict()
        .startswith("A and B both have an infinite cross-entropy")
    )


def test_cli_binary_files_of_different_kinds(tmp_path, capsys):
    """A's probabilities (CSV) against B's logits (Parquet): each file's kind and task decided
    as `evaluate` decides them, the numbers those of the Python comparison."""
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from scipy.special import expit

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = rng.normal(size=300) + (2 * y - 1)
    pd.DataFrame({"y": y, "p": expit(x)}).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame({"y": y, "logit": 0.5 * x}).to_parquet(tmp_path / "b.parquet")
    argv = ["compare", tmp_path / "a.csv", tmp_path / "b.parquet", "--target", "y"]
    code, out, err = run([*argv, "--bootstrap", "100", "--format", "json"], capsys)
    assert code == 0, err
    assert "kind: probs" in err and "kind: logits" in err and "task: binary" in err
    d = json.loads(out)
    want = compare(x, 0.5 * x, y, task="binary", bootstrap=100)
    assert d["difference"]["cross_entropy"] == pytest.approx(
        want.difference["cross_entropy"], rel=1e-9
    )
    np.testing.assert_allclose(d["intervals"]["brier"], want.intervals["brier"], rtol=1e-9)


class _Page(HTMLParser):
    """The text of a page and its images' sources, by alt text."""

    def __init__(self):
        super().__init__()
        self.text, self.images = [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images[a["alt"]] = a["src"]

    def handle_data(self, data):
        self.text.append(data)


def _png_size(raw):
    import io

    import matplotlib.image as mpimg

    img = mpimg.imread(io.BytesIO(raw), format="png")
    return img.shape[1], img.shape[0]


def test_cli_plots_and_report(files, digits, tmp_path, capsys):
    import base64

    a, b, y = digits
    plots_dir, page = tmp_path / "figs" / "new", tmp_path / "compare.html"
    argv = ["compare", files / "a.parquet", files / "b.csv", "--target", "label", "--pred", "p*"]
    argv += ["--bootstrap", "200", "--plots", plots_dir, "--report", page]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    names = (str(files / "a.parquet"), str(files / "b.csv"))
    verdict = compare(a, b, y, bootstrap=200, names=names).verdict()
    assert verdict.startswith(f"{names[1]} has higher cross-entropy than {names[0]} by")
    assert out.splitlines()[1] == verdict  # the stdout table is unchanged by the files
    pngs = {"nll_difference.png", "reliability_a.png", "reliability_b.png"}
    assert {p.name for p in plots_dir.iterdir()} == pngs  # no temporary file left
    for p in plots_dir.iterdir():
        w, h = _png_size(p.read_bytes())
        assert w > 0 and h > 0, p
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    text = " ".join(parser.text)
    assert verdict in text and "95% paired interval of B − A" in text
    assert set(parser.images) == {n.removesuffix(".png") for n in pngs}
    for name, src in parser.images.items():
        assert src.startswith("data:image/png;base64,"), name  # self-contained
        raw = base64.b64decode(src.split(",", 1)[1])
        assert raw == (plots_dir / f"{name}.png").read_bytes()
        assert min(_png_size(raw)) > 0


def test_cli_report_against_saved_baseline(files, digits, tmp_path, capsys):
    a, b, y = digits
    base = tmp_path / "a.json"
    base.write_text(json.dumps(evaluate(a, y).to_dict()))
    page, plots_dir = tmp_path / "c.html", tmp_path / "figs"
    argv = ["compare", base, files / "b.csv", "--target", "label", "--pred", "p*"]
    code, _, err = run([*argv, "--report", page, "--plots", plots_dir], capsys)
    assert code == 0, err
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    text = " ".join(parser.text)
    assert "point difference" in text and POINT_ONLY in text
    # the saved side has no per-row data: its reliability diagram is not drawn
    assert set(parser.images) == {"nll_difference", "reliability_b"}
    assert {p.name for p in plots_dir.iterdir()} == {"nll_difference.png", "reliability_b.png"}


def test_cli_unwritable_output_fails_before_reading(files, tmp_path, capsys):
    missing = tmp_path / "not-there.csv"  # never read: the outputs are checked first
    argv = ["compare", missing, files / "b.csv", "--target", "label", "--pred", "p*"]
    code, _, err = run([*argv, "--report", tmp_path / "no" / "such" / "dir" / "c.html"], capsys)
    assert code == 4 and "--report" in err and "does not exist" in err
    assert "not-there" not in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run([*argv, "--plots", blocker], capsys)
    assert code == 4 and "--plots" in err and "is not a folder" in err
    code, _, err = run([*argv, "--report", files / "b.csv"], capsys)
    assert code == 2 and "refusing to overwrite an input" in err
    assert (files / "b.csv").read_text().startswith("id,label")


def test_cli_report_renders_in_headless_chromium(files, tmp_path, capsys):
    import re
    import subprocess

    from test_html_browser import CHROMIUM, FLAGS, PROBE, _chromium_or_skip

    _chromium_or_skip()
    page = tmp_path / "compare.html"
    argv = ["compare", files / "a.parquet", files / "b.csv", "--target", "label", "--pred", "p*"]
    code, _, err = run([*argv, "--bootstrap", "50", "--report", page], capsys)
    assert code == 0, err
    probe = tmp_path / "probe.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    dom = subprocess.run(
        [*[CHROMIUM, *FLAGS], f"--user-data-dir={tmp_path / 'profile'}"]
        + ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'<pre id="probe">([^<]*)</pre>', dom.stdout)
    assert m, dom.stderr[-2000:]
    sizes = dict(item.split("=") for item in m.group(1).split(";"))
    assert set(sizes) == {"nll_difference", "reliability_a", "reliability_b"}
    for name, wh in sizes.items():
        w, h = (int(v) for v in wh.split("x"))
        assert w > 0 and h > 0, (name, wh)  # the browser decoded the image
