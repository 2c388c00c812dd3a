"""The public API: complete, documented with runnable examples, and free of optional imports."""

from __future__ import annotations

import inspect
import subprocess
import sys

import crossentropy as ce


def test_all_names_exist_and_are_documented_with_an_example():
    for name in ce.__all__:
        obj = getattr(ce, name)
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{name} has no docstring"
        if inspect.isfunction(obj):
            assert ">>>" in doc, f"{name}'s docstring has no runnable example"


def test_prediction_first_options_keyword_only():
    for name in [
        "log_prob",
        "likelihood",
        "log_likelihood",
        "nll",
        "cross_entropy",
        "perplexity",
        "binary_cross_entropy",
        "kl_divergence",
        "decompose",
        "cross_entropy_grad",
        "binary_cross_entropy_grad",
    ]:
        params = list(inspect.signature(getattr(ce, name)).parameters.values())
        assert [p.name for p in params[:2]] == ["pred", "target"], name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[2:]), name


def test_core_import_pulls_no_optional_dependency():
    code = (
        "import sys, crossentropy; "
        "bad = [m for m in ('torch', 'numba', 'dask', 'pyarrow', 'matplotlib', 'scipy', 'sklearn', 'rich') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
