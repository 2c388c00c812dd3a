"""Where people read a report: a short repr, IPython's pretty text, ``_repr_html_`` (valid HTML,
parsed with ``html.parser``) and ``to_pandas`` (values equal the report's)."""

from __future__ import annotations

import base64
import builtins
import math
from html.parser import HTMLParser

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import display
from crossentropy.accumulate import evaluate
from crossentropy.compare import compare
from crossentropy.examples import load_example

VOID = {"img", "br", "meta", "hr", "input", "link", "col", "wbr"}


class _Checker(HTMLParser):
    """Tags must nest and close (void elements excepted); collects the images' sources."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def _parse(fragment: str) -> _Checker:
    p = _Checker()
    p.feed(fragment)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    return p


@pytest.fixture(scope="module")
def report():
    ex = load_example()
    return evaluate(ex.logits, ex.target, bootstrap=50, seed=0)


def test_repr_is_one_short_line(report):
    r = repr(report)
    assert "\n" not in r and len(r) < 120 and "np.float64" not in r
    assert r == (
        f"Report(task=multiclass, rows=539, cross_entropy={report.cross_entropy:.6g} nats, "
        f"accuracy={report.accuracy:.6g}, ece={report.calibration.ece:.6g})"
    )
    empty = evaluate(np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert repr(empty) == "Report(task=multiclass, rows=0, empty: no valid rows)"


def test_repr_pretty_is_the_text_table(report):
    class P:
        def __init__(self):
            self.out = []

        def text(self, s):
            self.out.append(s)

    p = P()
    report._repr_pretty_(p, False)
    assert p.out == [str(report)]
    p = P()
    report._repr_pretty_(p, True)
    assert p.out == [repr(report)]


def test_repr_html_parses_and_holds_the_figure(report):
    pytest.importorskip("matplotlib")
    page = report._repr_html_()
    p = _parse(page)
    assert len(p.images) == 1 and p.images[0].startswith("data:image/png;base64,")
    png = base64.b64decode(p.images[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"{report.cross_entropy:.6g}" in page
    lo, hi = report.intervals["cross_entropy"]
    assert f"[{lo:.4g}, {hi:.4g}]" in page


def test_repr_html_without_matplotlib(report, monkeypatch):
    real = builtins.__import__

    def no_mpl(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    page = report._repr_html_()
    assert "<img" not in _parse(page).images and "cross_entropy" in page


def test_to_pandas_values_equal_the_report(report):
    pytest.importorskip("pandas")
    t = report.to_pandas()
    m = t["metrics"].set_index("metric")
    assert m.loc["cross_entropy", "value"] == report.cross_entropy
    assert m.loc["accuracy", "value"] == report.accuracy
    assert m.loc["brier", "value"] == report.brier
    assert m.loc["calibration.ece", "value"] == report.calibration.ece
    assert (m.loc["cross_entropy", "lo"], m.loc["cross_entropy", "hi"]) == report.intervals[
        "cross_entropy"
    ]
    assert math.isnan(m.loc["nll", "lo"])  # no interval for the sum
    pc = t["per_class"]
    assert pc["nll_mean"].tolist() == [c.nll_mean for c in report.per_class]
    assert pc["count"].tolist() == [c.count for c in report.per_class]
    bins = t["bins"]
    assert bins["count"].tolist() == [b.count for b in report.calibration.bins]
    assert bins["lo"].tolist() == [b.lo for b in report.calibration.bins]


def test_to_pandas_names_the_extra(report, monkeypatch):
    real = builtins.__import__

    def no_pandas(name, *a, **k):
        if name == "pandas":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    with pytest.raises(
        ImportError, match=r"needs pandas \(an optional dependency\): pip install pandas"
    ):
        report.to_pandas()


def test_metrics_are_python_floats(report):
    m = display.metrics(report)
    assert m and all(type(v) is float for v in m.values())
    assert display.metrics(report.to_dict()) == m


def _numpy_scalars(x, where):
    """The places in a record that hold a NumPy scalar or array instead of a Python one."""
    if isinstance(x, np.generic | np.ndarray):
        return [f"{where} is {type(x).__name__}"]
    out = []
    if hasattr(x, "__dataclass_fields__"):
        for f in x.__dataclass_fields__:
            out += _numpy_scalars(getattr(x, f), f"{where}.{f}")
    elif isinstance(x, tuple | list):
        for i, v in enumerate(x):
            out += _numpy_scalars(v, f"{where}[{i}]")
    elif isinstance(x, dict):
        for k, v in x.items():
            out += _numpy_scalars(v, f"{where}[{k!r}]")
    return out


def test_public_scalars_are_python_floats(report):
    """Every number in the public result records is a Python scalar, not a NumPy one."""
    assert not _numpy_scalars(report, "report")
    ex = load_example()
    assert not _numpy_scalars(compare(ex.logits, ex.logits * 0.9, ex.target, bootstrap=20), "c")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scalar_results_on_numpy_are_numpy_scalars(dtype):
    """Every reduction on NumPy returns a NumPy scalar of the compute dtype, as ``np.sum`` does
    (docs/semantics.md §6): ``cross_entropy`` and ``nll`` return the same type."""
    ex = load_example()
    x, y = ex.logits.astype(dtype), ex.target
    soft = np.full(x.shape, 1.0 / x.shape[1], dtype)
    results = {
        "cross_entropy": ce.cross_entropy(x, y),
        "nll": ce.nll(x, y),
        "nll mean": ce.nll(x, y, reduction="mean"),
        "kernel": ce.cross_entropy(x, y, impl="kernel"),
        "blocked": ce.cross_entropy(x, y, impl="blocked"),
        "perplexity": ce.perplexity(x, y),
        "binary": ce.binary_cross_entropy(x, (soft > 0).astype(dtype)),
        "kl": ce.kl_divergence(x, soft),
        "distillation": ce.distillation_loss(x, x),
        "grad loss": ce.cross_entropy_grad(x, y, return_loss=True)[0],
    }
    for name, r in results.items():
        assert type(r) is dtype, (name, type(r))
    assert float(results["cross_entropy"]) * len(y) == pytest.approx(
        float(results["nll"]), rel=1e-5
    )


def test_to_pandas_and_html_take_every_table_of_every_task():
    """The tables are read generically: a multi-label report's per-label records become a
    DataFrame, its scalar metrics (AUC, …) rows of ``metrics``, without an edit here."""
    pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 2, (200, 3))
    X = rng.normal(size=(200, 3)) + (2 * Y - 1)
    r = evaluate(X, Y, task="multilabel")
    t = r.to_pandas()
    recs = r.per_label
    assert len(t["per_label"]) == len(recs) == 3
    first = t["per_label"].iloc[0].to_dict()
    for k, v in first.items():
        want = getattr(recs[0], k)
        assert v == want or (isinstance(v, float) and math.isnan(v) and math.isnan(want)), k
    m = t["metrics"].set_index("metric")["value"]
    assert m["cross_entropy"] == r.cross_entropy
    assert set(display.metrics(r)) == set(m.index)
    assert repr(r).startswith("Report(task=multilabel, rows=200, cross_entropy=")
    _parse(r._repr_html_())


# ----------------------------------------------------------------------------- class names
def test_class_names_reach_text_html_and_pandas(report):
    """``Report.class_names`` names the per-class rows everywhere a report is read; the numbers
    are the same records (only the label of a row changes)."""
    import dataclasses

    names = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    named = dataclasses.replace(report, class_names=names)
    assert report.class_names is None and report.name_of(3) == "3"
    assert named.name_of(3) == "three" and named.name_of(10) == "10"
    text = str(named).splitlines()
    start = next(i for i, x in enumerate(text) if x.strip().startswith("per class"))
    rows = text[start + 2 : start + 12]
    assert [r.split()[0] for r in rows] == list(names)
    assert [int(r.split()[1]) for r in rows] == [c.count for c in report.per_class]
    assert named.to_dict()["class_names"] == list(names) and report.to_dict()["class_names"] is None
    page = named._repr_html_()
    _parse(page)
    for n in names:
        assert f'<td class="l">{n}</td>' in page
    assert repr(named) == repr(report)  # the one line holds no per-class numbers
    pytest.importorskip("pandas")
    pc = named.to_pandas()["per_class"]
    assert pc["name"].tolist() == list(names) and pc["cls"].tolist() == list(range(10))
    assert pc["nll_mean"].tolist() == [c.nll_mean for c in report.per_class]
    assert "name" not in report.to_pandas()["per_class"].columns  # no names: indices only


def _run_pipeline(path, **schema):
    from crossentropy import io, pipeline

    src = pipeline.Source([str(path)], io.Schema(**schema))
    return pipeline.run(pipeline.EvaluateOptions(), src, pipeline.LocalEngine()).report


def test_cli_classes_names_are_in_the_report(tmp_path, capsys):
    import json

    from crossentropy import cli

    path = tmp_path / "named.csv"
    path.write_text(
        "y,c0,c1,c2\ncat,2.0,0.1,-1.0\ndog,0.0,1.5,0.2\nbird,0.3,0.1,2.5\ndog,1.0,-0.5,0.0\n"
    )
    r = _run_pipeline(path, target="y", pred="c*", classes=("cat", "dog", "bird"))
    assert r.class_names == ("cat", "dog", "bird")
    text = str(r)
    assert [x.split()[0] for x in text.splitlines()[-3:]] == ["cat", "dog", "bird"]
    argv = ["evaluate", str(path), "--target", "y", "--pred", "c*", "--classes", "cat,dog,bird"]
    assert cli.main([*argv, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["report"]["class_names"] == ["cat", "dog", "bird"] == d["source"]["classes"]
    # numeric labels without --classes: no names, the indices are shown
    plain = tmp_path / "plain.csv"
    plain.write_text("y,c0,c1\n0,2.0,0.1\n1,0.0,1.5\n")
    assert _run_pipeline(plain, target="y", pred="c*").class_names is None


def test_multilabel_label_names_from_the_label_columns(tmp_path):
    path = tmp_path / "ml.csv"
    path.write_text("p_cat,p_dog,y_cat,y_dog\n0.2,0.7,0,1\n0.4,0.1,1,0\n0.9,0.8,1,1\n0.3,0.2,0,0\n")
    r = _run_pipeline(path, target="y_*", pred="p_*")
    assert r.task == "multilabel" and r.class_names == ("y_cat", "y_dog")
    lines = str(r).splitlines()
    start = next(i for i, x in enumerate(lines) if x.strip().startswith("per label"))
    assert [x.split()[0] for x in lines[start + 2 : start + 4]] == ["y_cat", "y_dog"]
    _parse(r._repr_html_())
    assert '<td class="l">y_dog</td>' in r._repr_html_()
    pytest.importorskip("pandas")
    pl = r.to_pandas()["per_label"]
    assert pl["name"].tolist() == ["y_cat", "y_dog"] and pl["label"].tolist() == [0, 1]
    assert pl["nll"].tolist() == [lab.nll for lab in r.per_label]


@pytest.mark.parametrize(
    ("example", "key"), [("breast_cancer", "class_names"), ("digits_multilabel", "label_names")]
)
def test_bundled_examples_name_their_classes(example, key, capsys):
    import json

    from crossentropy import cli
    from crossentropy.examples import example_path

    assert cli.main(["evaluate", "--example", example, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    want = [str(x) for x in np.load(example_path(example))[key]]
    assert d["report"]["class_names"] == want
