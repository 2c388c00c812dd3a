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
        class_names=ex.class_names,
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
    assert "<link" not in page and "<script" not in page and "http://" not in page
    assert "Temperature scaling" in page and "Calibration bins" in page and "Per class" in page
    assert f"{report.cross_entropy:.6g}" in page


def test_empty_report_says_so():
    r = evaluate(np.zeros((3, 2)), np.array([-100, -100, -100]))
    page = html.render(r)
    assert "No valid rows" in page and "<img" not in page


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (install Debian's chromium package to run the browser test)",
)
def test_rendered_in_headless_chromium(report_page, tmp_path):
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
