"""Figures from a Report: all four drawn, faithful to the report's bins, and lazily imported."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from crossentropy import plots  # noqa: E402
from crossentropy.accumulate import evaluate  # noqa: E402
from crossentropy.examples import load_example  # noqa: E402
from crossentropy.temperature import fit_temperature  # noqa: E402


@pytest.fixture(scope="module")
def reports():
    ex = load_example()
    t = fit_temperature(ex.logits, ex.target)
    before = dataclasses.replace(evaluate(ex.logits, ex.target), temperature=t)
    after = evaluate(ex.logits / t.T, ex.target)
    return before, after


def test_save_all_writes_pngs(reports, tmp_path):
    before, after = reports
    paths = plots.save_all(before, str(tmp_path), after=after, class_names=list("0123456789"))
    assert [p.rsplit("/", 1)[-1] for p in paths] == [f"{n}.png" for n in plots.FIGURES]
    for p in paths:
        data = open(p, "rb").read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_reliability_draws_the_report_bins(reports):
    before, after = reports
    fig = plots.reliability(before, after=after)
    ax = fig.axes[0]
    lines = {ln.get_label().split(":")[0]: ln for ln in ax.get_lines()}
    for key, rep in (("before", before), (f"after T = {before.temperature.T:.3g}", after)):
        bins = [b for b in rep.calibration.bins if b.count > 0]
        x, y = lines[key].get_data()
        assert np.array_equal(x, [b.mean_confidence for b in bins])
        assert np.array_equal(y, [b.accuracy for b in bins])


def test_per_class_and_units(reports):
    before, _ = reports
    fig = plots.per_class(before, class_names=[f"digit {i}" for i in range(10)])
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == [c.nll_mean for c in before.per_class]
    assert [t.get_text() for t in ax.get_xticklabels()][:2] == ["digit 0", "digit 1"]
    ex = load_example()
    r2 = evaluate(ex.logits, ex.target, base=2)
    assert "bits" in plots.nll_curve(r2).axes[1].get_ylabel()


def test_empty_report_figures():
    r = evaluate(np.zeros((2, 3)), np.array([-100, -100]))
    figs = plots.figures(r)
    for fig in figs.values():
        assert any("no valid rows" in t.get_text() for ax in fig.axes for t in ax.texts)
        assert len(plots.png_bytes(fig)) > 1000


def test_matplotlib_is_lazy_and_pyplot_unused():
    code = (
        "import sys, crossentropy, crossentropy.cli; "
        "assert 'matplotlib' not in sys.modules, 'eager'; "
        "import crossentropy.plots; assert 'matplotlib' not in sys.modules; "
        "import numpy as np; from crossentropy.accumulate import evaluate; "
        "crossentropy.plots.figures(evaluate(np.zeros((2, 2)), np.array([0, 1]))); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"crossentropy\[plot\]"):
        plots.nll_curve(evaluate(np.zeros((2, 2)), np.array([0, 1])))


@pytest.mark.parametrize(
    "names",
    [
        ["$\\foo$", "b", "c", "d"],
        ["$x$", "$y^2$", "$$", "a$b"],
        ["\\alpha$", "50$", "_^{}", "$\\frac{1}{0}$"],
    ],
)
def test_class_names_are_drawn_literally(names):
    """No mathtext and no TeX for user text: the tick label is the name, character for
    character, and renders (an unparsable '$\\foo$' used to raise)."""
    import matplotlib

    rng = np.random.default_rng(0)
    r = evaluate(rng.normal(size=(40, 4)), np.arange(40) % 4)
    for tex in (False, True):  # even a TeX default (rcParams) does not apply to the names
        with matplotlib.rc_context({"text.usetex": tex}):
            fig = plots.per_class(r, class_names=names)
        labels = fig.axes[0].get_xticklabels()
        assert [t.get_text() for t in labels] == names
        assert not any(t.get_parse_math() or t.get_usetex() for t in labels)
    fig = plots.per_class(r, class_names=names)
    assert plots.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_save_all_is_all_or_nothing(reports, tmp_path, monkeypatch):
    before, after = reports
    real, calls = plots.png_bytes, []

    def fail_third(fig, **k):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(fig, **k)

    monkeypatch.setattr(plots, "png_bytes", fail_third)
    target = tmp_path / "new" / "figs"
    with pytest.raises(OSError):
        plots.save_all(before, str(target), after=after)
    assert not (tmp_path / "new").exists()  # no figure, no temporary file, no folder left


def test_wilson_interval_against_scipy():
    from scipy.stats import binomtest

    n = np.array([1, 7, 20, 311, 5])
    k = np.array([0, 3, 20, 290, 5])
    lo, hi = plots.wilson(k / n, n)
    for i in range(len(n)):
        ci = binomtest(int(k[i]), int(n[i])).proportion_ci(0.95, method="wilson")
        np.testing.assert_allclose([lo[i], hi[i]], [ci.low, ci.high], rtol=1e-7, atol=1e-12)


def test_reliability_counts_intervals_log_panel_and_legend_outside(reports):
    before, _ = reports
    fig = plots.reliability(before)
    ax, axh = fig.axes[:2]
    bins = [b for b in before.calibration.bins if b.count > 0]
    # points sized by their bin's count, each count written under its point
    from matplotlib.collections import LineCollection, PathCollection

    scatter = next(c for c in ax.collections if isinstance(c, PathCollection))
    sizes = scatter.get_sizes()
    order = np.argsort([b.count for b in bins], kind="stable")
    assert np.all(np.diff(sizes[order]) >= 0) and sizes.max() > sizes.min()
    labels = [t.get_text() for t in ax.texts]
    assert labels == [f"{b.count:,}" for b in bins]
    # a Wilson interval per non-empty bin
    lo, hi = plots.wilson(np.array([b.accuracy for b in bins]), np.array([b.count for b in bins]))
    segs = next(c for c in ax.collections if isinstance(c, LineCollection))
    ys = np.array([[s[0][1], s[1][1]] for s in segs.get_segments()])
    np.testing.assert_allclose(np.sort(ys, axis=1), np.column_stack([lo, hi]), atol=1e-12)
    # the count panel is log-scaled with the per-bin counts; the legend is outside the axes
    assert axh.get_yscale() == "log"
    heights = [p.get_height() for p in axh.patches]
    assert heights == [float(b.count) for b in before.calibration.bins]
    assert ax.get_legend() is None and len(fig.legends) == 1


def test_nll_histogram_axis_fits_the_data(reports):
    before, _ = reports
    fig = plots.nll_distribution(before)
    ax = fig.axes[0]
    h = before.histograms.nll
    edges = np.asarray(h.edges)
    seen = np.flatnonzero(np.asarray(h.count) > 0)
    left, right = ax.get_xlim()
    assert left == pytest.approx(min(edges[seen[0]], before.cross_entropy) / 1.5)
    assert right == pytest.approx(max(edges[seen[-1] + 1], before.cross_entropy) * 1.5)
    assert left > 1e-7 and right < 1e3  # not the histogram's whole 1e-6 … 1e3 grid


def test_nll_difference_figure_draws_the_comparison_histogram():
    from crossentropy.compare import compare

    ex = load_example()
    c = compare(ex.logits, ex.logits * 0.6, ex.target, bootstrap=50)
    fig = plots.nll_difference(c)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [float(n) for n in c.histogram.count]
    assert ax.get_title() == c.verdict()
    assert plots.png_bytes(fig)[:8] == b"\x89PNG\r\n\x1a\n"
