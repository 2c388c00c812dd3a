"""The HTML report: self-contained, and rendered by a real headless browser with every
figure decoded (natural width > 0) and a screenshot taken."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from crossentropy import html  # noqa: E402
from crossentropy.accumulate import evaluate  # noqa: E402
from crossentropy.examples import load_example  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PROBE = (
    '<script>window.addEventListener("load", function () {'
    ' var o = document.createElement("pre"); o.id = "probe";'
    " o.textContent = Array.from(document.images).map(function (i) {"
    '   return i.alt + "=" + i.naturalWidth + "x" + i.naturalHeight; }).join(";");'
    " document.body.appendChild(o); });</script>"
)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    from crossentropy.temperature import fit_temperature

    ex = load_example()
    before = evaluate(ex.logits, ex.target)
    t = fit_temperature(ex.logits, ex.target)
    after = evaluate(ex.logits / t.T, ex.target)
    import dataclasses

    before = dataclasses.replace(before, temperature=t)
    d = tmp_path_factory.mktemp("html")
    path = str(d / "report.html")
    html.write_report(
        path,
        before,
        after=after,
        class_names=[f"digit {n}" for n in ex.class_names],  # as --classes gives them
        source={
            "files": [],
            "bundled_example": True,
            "target": ["target"],
            "pred": ["logits"],
            "weight": None,
            "kind": "logits",
            "kind_reason": "given",
        },
        rows={
            "read": 539,
            "evaluated": 539,
            "ignored": 0,
            "missing_labels": 0,
            "rejected": 0,
            "rejected_by_reason": {},
        },
    )
    return path, before


def test_self_contained(report_page):
    path, report = report_page
    page = open(path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    # no external resource: every src is a data: URI, no link/script tags at all
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "With a fitted temperature both models are drawn" in page  # the post-T diagram
    assert "<link" not in page and "<script" not in page and "http://" not in page
    assert "Temperature scaling" in page and "Calibration bins" in page and "Per class" in page
    assert f"{report.cross_entropy:.6g}" in page


def test_empty_report_says_so():
    r = evaluate(np.zeros((3, 2)), np.array([-100, -100, -100]))
    page = html.render(r)
    assert "No valid rows" in page and "<img" not in page


def test_bins_are_half_open_and_empty_bins_dashed(report_page):
    path, report = report_page
    page = open(path, encoding="utf-8").read()
    bins = report.calibration.bins
    table = page.split("<h2>Calibration bins</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
    assert len(rows) == len(bins)
    for i, (b, row) in enumerate(zip(bins, rows, strict=True)):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        close = "]" if i == len(bins) - 1 else ")"
        assert cells[0] == f"[{b.lo:.4f}, {b.hi:.4f}{close}"
        if b.count == 0:
            assert cells[3:] == ["—", "—", "—"]
        else:
            assert "—" not in cells and "NaN" not in cells
    assert any(b.count == 0 for b in bins)  # the digits example has empty low-confidence bins


def test_class_names_in_the_per_class_table(report_page):
    path, _ = report_page
    page = open(path, encoding="utf-8").read()
    table = page.split("<h2>Per class (by true class)</h2>", 1)[1].split("</table>", 1)[0]
    names = re.findall(r'<tr><td class="l">(.*?)</td>', table)
    assert names == [f"digit {n}" for n in load_example().class_names]


def test_page_uses_its_width(report_page):
    page = open(report_page[0], encoding="utf-8").read()
    assert "max-width:70em" not in page and "grid-template-columns" in page


def _chromium_or_skip():
    if CHROMIUM is None:
        if os.environ.get("CI"):  # .ci/run installs it: a CI run without it is a failure
            pytest.fail("chromium is not installed on this CI machine (.ci/run installs it)")
        pytest.skip("chromium is not installed (install Debian's chromium package)")


def test_rendered_in_headless_chromium(report_page, tmp_path):
    _chromium_or_skip()
    path, _ = report_page
    page = open(path, encoding="utf-8").read()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    base = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [*base, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    m = re.search(r'<pre id="probe">([^<]*)</pre>', dom.stdout)
    assert m, dom.stderr[-2000:]
    sizes = dict(item.split("=") for item in m.group(1).split(";"))
    assert set(sizes) == {"reliability", "nll_curve", "per_class", "nll_distribution"}
    for name, wh in sizes.items():
        w, h = (int(v) for v in wh.split("x"))
        assert w > 0 and h > 0, (name, wh)  # the image decoded
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            *base,
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            "--hide-scrollbars",
            "file://" + os.path.abspath(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    import matplotlib.image as mpimg

    img = mpimg.imread(str(shot))
    assert img.shape[0] > 100 and float(np.std(img[..., :3])) > 0.01  # not a blank page
