"""``cross_entropy_grad(..., return_loss=True, out=...)``: the loss and its gradient from one call.

Oracles: the float64 NumPy reference of docs/semantics.md §4 and §9 (``oracles``) and PyTorch
autograd of ``F.cross_entropy``; the ``out=`` buffer is checked for identity and content.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import logsumexp

import crossentropy as ce
from crossentropy import kernels

from oracles import assert_close, ref_cross_entropy, ref_grad_logits

OPTIONS = [
    {},
    {"weight": "w"},
    {"label_smoothing": 0.2},
    {"weight": "w", "label_smoothing": 0.1, "smoothing": "others"},
    {"sample_weight": "s"},
]


def _kw(opts, rng, n, c):
    out = dict(opts)
    if out.get("weight") == "w":
        out["weight"] = rng.uniform(0.3, 2.0, size=c)
    if out.get("sample_weight") == "s":
        out["sample_weight"] = rng.uniform(0.0, 2.0, size=n)
    return out


@pytest.mark.parametrize(
    "reduction,opts", list(itertools.product(["mean", "sum", "none"], OPTIONS))
)
def test_loss_and_grad_match_reference(rng, impl, reduction, opts):
    n, c = 11, 7
    x = rng.normal(size=(n, c)) * 2
    y = rng.integers(0, c, size=n)
    y[[1, 6]] = -100
    kw = _kw(opts, rng, n, c)
    loss, g = ce.cross_entropy_grad(x, y, reduction=reduction, return_loss=True, impl=impl, **kw)
    assert_close(loss, ref_cross_entropy(x, y, reduction=reduction, **kw), atol=1e-15)
    assert_close(g, ref_grad_logits(x, y, reduction=reduction, **kw), atol=1e-15)
    # the same numbers as the two separate calls
    assert_close(loss, ce.cross_entropy(x, y, reduction=reduction, impl=impl, **kw), atol=1e-15)
    assert_close(g, ce.cross_entropy_grad(x, y, reduction=reduction, impl=impl, **kw), atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_loss_and_grad_match_torch_autograd(rng, impl, reduction, eps):
    n, c = 9, 6
    x = rng.normal(size=(n, c)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    y[2] = -100
    w = rng.uniform(0.5, 1.5, size=c)
    t = torch.tensor(x, requires_grad=True)
    want = F.cross_entropy(
        t, torch.as_tensor(y), weight=torch.as_tensor(w, dtype=torch.float32),
        reduction=reduction, label_smoothing=eps,
    )  # fmt: skip
    want.backward()
    loss, g = ce.cross_entropy_grad(
        x, y, weight=w, reduction=reduction, label_smoothing=eps, return_loss=True, impl=impl
    )
    assert g.dtype == np.float32
    assert_close(loss, want.detach().numpy(), np.float32)
    assert_close(g, t.grad.numpy(), np.float32)


def test_soft_targets_and_class_axis(rng, impl):
    x = rng.normal(size=(4, 5, 3))  # classes on axis 1
    p = rng.dirichlet(np.ones(5), size=(4, 3)).transpose(0, 2, 1)
    loss, g = ce.cross_entropy_grad(x, p, axis=1, return_loss=True, impl=impl)
    x2 = np.moveaxis(x, 1, -1).reshape(-1, 5)
    p2 = np.moveaxis(p, 1, -1).reshape(-1, 5)
    assert_close(loss, ref_cross_entropy(x2, p2), atol=1e-15)
    want = np.moveaxis(ref_grad_logits(x2, p2).reshape(4, 3, 5), -1, 1)
    assert_close(g, want, atol=1e-15)


@pytest.mark.parametrize("axis", [-1, 0])
def test_out_is_written_and_returned(rng, impl, axis):
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=6)
    xa = x if axis == -1 else np.ascontiguousarray(x.T)
    fresh = ce.cross_entropy_grad(xa, y, axis=axis, impl=impl)
    out = np.full(xa.shape, 7.0, dtype=np.float32)
    loss, g = ce.cross_entropy_grad(xa, y, axis=axis, return_loss=True, out=out, impl=impl)
    assert g is out
    np.testing.assert_array_equal(out, fresh)
    assert_close(loss, ref_cross_entropy(x, y), np.float32)
    out2 = np.full(xa.shape, 7.0, dtype=np.float32)
    assert ce.cross_entropy_grad(xa, y, axis=axis, out=out2, impl=impl) is out2
    np.testing.assert_array_equal(out2, fresh)


def test_large_input_uses_the_fused_kernel_into_out():
    """At 2^18+ elements ``impl="auto"`` takes the kernel; out= receives the gradient in place."""
    rng = np.random.default_rng(3)
    n, c = 70, 4000  # 280,000 elements: two online-LSE blocks per row
    x = (rng.normal(size=(n, c)) * 3).astype(np.float32)
    x[5, 3500] = 40.0  # the row maximum in the second block
    y = rng.integers(0, c, size=n)
    y[[0, 9]] = -100
    x[9] = np.nan  # a masked row: zero gradient whatever it holds
    out = np.empty_like(x)
    loss, g = ce.cross_entropy_grad(x, y, return_loss=True, out=out)
    assert g is out
    assert (g[9] == 0).all()
    assert_close(loss, ref_cross_entropy(x, y), np.float32)
    assert_close(g, ref_grad_logits(x, y).astype(np.float32), np.float32)


def test_bad_rows_without_validation_are_nan(impl):
    x = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [3.0, 0.0, 0.0]])
    y = np.array([0, 7, 1])  # row 1: not a class
    loss, g = ce.cross_entropy_grad(x, y, validate=False, return_loss=True, impl=impl)
    assert np.isnan(loss)
    assert np.isnan(g[1]).all()
    r_loss, r_g = ce.cross_entropy_grad(
        x, y, reduction="none", validate=False, return_loss=True, impl=impl
    )
    assert np.isnan(r_loss[1]) and np.isfinite(r_loss[[0, 2]]).all()
    keep = [0, 2]
    assert_close(r_loss[keep], ref_cross_entropy(x[keep], y[keep], reduction="none"), atol=1e-15)
    assert_close(r_g[keep], ref_grad_logits(x[keep], y[keep], reduction="sum"), atol=1e-15)


@pytest.mark.parametrize(
    "make_out,words",
    [
        (lambda x: np.empty((3, 3), dtype=x.dtype), ["`out`", "shape (3, 3)", "(6, 5)"]),
        (lambda x: np.empty(x.shape, dtype=np.float64), ["`out`", "dtype float64", "float32"]),
        (lambda x: x, ["`out`", "shares memory with `pred`"]),
    ],
)
def test_out_errors_name_the_problem(rng, make_out, words):
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=6)
    with pytest.raises(ValueError) as info:
        ce.cross_entropy_grad(x, y, out=make_out(x))
    msg = str(info.value)
    assert all(w in msg for w in words), msg
    assert "np.empty((6, 5), dtype=np.float32)" in msg  # the fix


def test_out_read_only_and_foreign_arrays(rng):
    x = rng.normal(size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=6)
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ce.cross_entropy_grad(x, y, out=ro)
    with pytest.raises(TypeError, match="`out` must be a NumPy array"):
        ce.cross_entropy_grad(torch.from_numpy(x), torch.from_numpy(y), out=np.empty_like(x))
    with pytest.raises(TypeError, match="`out` must be a NumPy array"):
        ce.cross_entropy_grad(x, y, out=[[0.0] * 5] * 6)


@pytest.mark.skipif(not kernels.available(), reason="the fused kernel needs numba")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_non_finite_rows(dtype):
    """The gradient's fast path (row maximum, then one exp per element) and its fallback."""
    rng = np.random.default_rng(11)
    c = 2600
    x = rng.normal(size=(7, c)).astype(dtype)
    y = np.array([0, 1, 2, 3, 4, 2590, 6])
    x[0, 50] = np.nan  # NaN: the whole row NaN
    x[1] = -np.inf
    x[1, [1, 2400]] = 0.5  # two finite logits: q = 1/2 each
    x[2, 10] = np.inf  # +inf: NaN row (as the reference)
    x[3, :2048] = -np.inf  # first block only -inf
    x[5, 2590] = 60.0  # the maximum in the last block, on the target
    loss, _, g = kernels.softmax_terms_and_grad(x, y, row_scale=0.5)
    g_only = kernels.softmax_terms_grad(x, y, row_scale=0.5)
    with np.errstate(invalid="ignore"):
        ref = ref_grad_logits(x, y, reduction="sum") * 0.5
        ref_loss = ref_cross_entropy(x, y, reduction="none")
    np.testing.assert_array_equal(np.isnan(g), np.isnan(ref))
    np.testing.assert_array_equal(np.isnan(g_only), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert_close(g[ok], ref[ok].astype(dtype), dtype)
    assert_close(g_only[ok], ref[ok].astype(dtype), dtype)
    assert np.isnan(loss[0]) and np.isnan(g[0]).all()
    assert_close(loss[[1, 3, 4, 5, 6]], ref_loss[[1, 3, 4, 5, 6]], dtype)
    assert g[1, 0] == 0 and g[1, 1] == pytest.approx(0.5 * (0.5 - 1.0))


@pytest.mark.skipif(not kernels.available(), reason="the fused kernel needs numba")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernel_short_rows(dtype):
    """Rows of at most 64 classes are taken 256 at a time (one exp over the block); non-finite rows fall back."""
    rng = np.random.default_rng(12)
    n, c = 600, 10  # more than two blocks of rows, the last one partial
    x = rng.normal(size=(n, c)).astype(dtype)
    y = rng.integers(0, c, size=n)
    x[3, 4] = np.nan
    x[300] = -np.inf
    x[300, [2, 7]] = 1.0
    y[300] = 7
    x[301, 1] = np.inf
    x[599, 2] = 1e4  # a huge logit in the partial block
    y[[5, 598]] = -100
    x[5] = np.nan  # masked: zero gradient, zero loss
    rs = rng.uniform(0.5, 2.0, size=n)
    loss, wsum, g, lse = kernels.softmax_terms_and_grad(x, y, row_scale=rs, return_lse=True)
    fwd_loss, fwd_wsum, fwd_lse = kernels.softmax_terms(x, y, return_lse=True)
    with np.errstate(invalid="ignore"):
        ref = ref_grad_logits(x, y, reduction="sum") * rs[:, None]
        ref_loss = ref_cross_entropy(x, y, reduction="none")
        ref_lse = logsumexp(x.astype(np.float64), axis=1)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(ref))
    ok = ~np.isnan(ref)
    assert_close(g[ok], ref[ok], dtype)
    assert (g[5] == 0).all() and loss[5] == 0 and wsum[5] == 0
    for got in (loss, fwd_loss):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref_loss))
        assert_close(got[~np.isnan(ref_loss)], ref_loss[~np.isnan(ref_loss)], dtype)
    fin = np.isfinite(ref_lse)
    assert fin.sum() >= n - 3  # every row but the NaN and +inf ones
    assert_close(lse[fin], ref_lse[fin], dtype)
    assert_close(fwd_lse[fin], ref_lse[fin], dtype)
    assert loss[300] == pytest.approx(np.log(2.0))
