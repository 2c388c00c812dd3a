"""The compiled top-k / confusion pieces of the evaluation (kernels.rowstats.rank_rows,
rank_sums, confusion_sums) against their NumPy oracles: ``np.argmax``, a comparison count, and
``np.bincount`` (the same integers, the same float64 sums in the same row order: bit-equal)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import kernels, taskstats
from crossentropy._batchrows import _fused_ranks

pytestmark = pytest.mark.skipif(not kernels.available(), reason="needs numba (the fast extra)")


def _oracle(score: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """argmax as NumPy defines it, and #{c : score_c > score_true} (C without a class / NaN)."""
    n, C = score.shape
    top = np.argmax(score, axis=1)
    rank = np.full(n, C)
    for i in range(n):
        t = true[i]
        if 0 <= t < C and not np.isnan(score[i, t]):
            rank[i] = int(np.sum(score[i] > score[i, t]))
    return top, rank


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("C", [1, 2, 10, 37])
@pytest.mark.parametrize("parallel", [False, True])
def test_rank_rows_match_numpy(dtype, C, parallel, monkeypatch):
    from crossentropy.kernels import rowstats

    if parallel:
        monkeypatch.setattr(rowstats, "PARALLEL_RANK_CELLS", 0)
    rng = np.random.default_rng(C)
    n = 3000
    x = rng.integers(-3, 3, (n, C)).astype(dtype)  # many ties
    u = rng.random((n, C))
    x[u < 0.03] = np.nan
    x[u > 0.97] = np.inf
    x[(u > 0.5) & (u < 0.53)] = -np.inf
    true = rng.integers(-1, C, n)
    for score in (x, x[:, ::-1]):  # contiguous and not
        top, rank = _fused_ranks(score, true)
        want_top, want_rank = _oracle(score, true)
        np.testing.assert_array_equal(top, want_top)
        np.testing.assert_array_equal(rank, want_rank)


def _report(x, y, **kw) -> str:
    return json.dumps(ce.evaluate(x, y, **kw).to_dict(), sort_keys=True, default=str)


@pytest.mark.parametrize("C", [3, 12, 90])
def test_compiled_topk_and_confusion_sums_equal_bincount(C, monkeypatch):
    rng = np.random.default_rng(C)
    n = 20_000
    x = (rng.normal(size=(n, C)) * 3).astype(np.float32)
    y = rng.integers(0, C, n)
    y[::97] = -100  # ignored rows
    x[5, 1] = np.nan  # a NaN row
    sw = rng.random(n)
    used = []
    real = taskstats._compiled
    monkeypatch.setattr(
        taskstats, "_compiled", lambda rows: used.append(real(rows) is not None) or real(rows)
    )
    for kw in ({}, {"sample_weight": sw}, {"block_rows": 777}):
        used.clear()
        compiled = _report(x, y, top_k=5, impl="kernel", **kw)
        assert used and all(used)  # the fused path ran and took the compiled sums
        with monkeypatch.context() as m:
            m.setattr(taskstats, "_compiled", lambda rows: None)  # NumPy's bincount
            numpy_sums = _report(x, y, top_k=5, impl="kernel", **kw)
        assert compiled == numpy_sums


def test_top_k_accuracy_against_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    n, C = 5000, 8
    x = rng.normal(size=(n, C))
    y = rng.integers(0, C, n)
    r = ce.evaluate(x, y, top_k=3)
    for k in (1, 2, 3):
        want = sklearn.top_k_accuracy_score(y, x, k=k, labels=np.arange(C))
        assert r.top_k_accuracy[k] == pytest.approx(want, rel=1e-12)
    want_cm = sklearn.confusion_matrix(y, x.argmax(1), labels=np.arange(C))
    np.testing.assert_array_equal(np.asarray(r.confusion_matrix), want_cm)


def test_torch_validate_false_takes_torch_values():
    torch = pytest.importorskip("torch")
    from crossentropy.torch import cross_entropy

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 10, (64,), generator=g)
    y[3] = -100
    for reduction in ("mean", "sum", "none"):
        ours = cross_entropy(x, y, validate=False, reduction=reduction)
        want = torch.nn.functional.cross_entropy(x, y, reduction=reduction)
        torch.testing.assert_close(ours, want, rtol=1e-12, atol=0)
        (g1,) = torch.autograd.grad(ours.sum(), x)
        (g2,) = torch.autograd.grad(want.sum(), x)
        torch.testing.assert_close(g1, g2, rtol=1e-12, atol=0)
    bad = y.clone()
    bad[5] = 10  # not a class: a NaN row (docs/semantics.md §4), not an error
    per_row = cross_entropy(x, bad, validate=False, reduction="none")
    assert torch.isnan(per_row[5]) and torch.isfinite(per_row[torch.arange(64) != 5]).all()
    assert torch.isnan(cross_entropy(x, bad, validate=False))
