"""The default-options route of ``crossentropy.torch.cross_entropy`` (PyTorch's own kernel after
the library's checks; issue 14): which calls take it, and that every call it hands back to the
general path gets the general path's values, gradients, errors and warnings.

Oracles: the core (``crossentropy.cross_entropy`` / ``cross_entropy_grad`` on NumPy copies) and
``torch.nn.functional.cross_entropy``. Batches of 6 rows read their labels in Python, 300 rows
with one ``aminmax``: both routes are covered.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crossentropy as ce
import crossentropy.torch as ct
from crossentropy.torch import functional as ctf

SIZES = [6, 300]  # ≤ 128 rows: labels read in Python; more: one torch.aminmax


def _logits(n, c=4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    return x, y


def _against_core(x, y, reduction, validate, rtol):
    """Value and gradient of ``ct.cross_entropy`` against the core's, NaN where the core's is."""
    xt = x.clone().requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ct.cross_entropy(xt, y, reduction=reduction, validate=validate)
        xn, yn = x.numpy(), y.numpy()
        want = ce.cross_entropy(xn, yn, reduction=reduction, validate=validate)
        gw = ce.cross_entropy_grad(xn, yn, reduction=reduction, validate=validate)
    np.testing.assert_array_equal(np.isnan(out.detach().numpy()), np.isnan(want))
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=rtol, equal_nan=True)
    out.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), gw, rtol=rtol, atol=rtol * 1e-3, equal_nan=True)


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pos_inf_logit_without_masked_rows_equals_the_core(dtype, n, reduction, validate):
    # PyTorch's kernel gives NaN for a row holding +inf, §3 gives +inf (and NaN at the +inf
    # class); the route sees it in PyTorch's loss and hands the call on. No row is masked
    # here, so no label read can have sent the call elsewhere first.
    x, y = _logits(n, dtype=dtype)
    x[1, (int(y[1]) + 1) % 4] = math.inf  # +inf on another class: loss +inf
    x[n - 1, int(y[n - 1])] = math.inf  # +inf on the target: loss NaN (∞ − ∞)
    _against_core(x, y, reduction, validate, 1e-12 if dtype == torch.float64 else 1e-5)


@pytest.mark.parametrize("special", [math.nan, -math.inf])
@pytest.mark.parametrize("n", SIZES)
def test_nan_and_neg_inf_logits_equal_the_core(n, special):
    x, y = _logits(n, seed=1)
    x[2, int(y[2])] = special  # NaN: a NaN row; −inf on the target: loss +inf
    for reduction in ("mean", "none"):
        _against_core(x, y, reduction, True, 1e-12)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("bad", [4, 11])
def test_a_label_beyond_the_classes_is_named_or_nan(n, bad):
    # ≤ 128 rows: PyTorch's kernel refuses it (IndexError) and the general path names it
    x, y = _logits(n, seed=2)
    y[3] = bad
    with pytest.raises(ValueError, match=rf"\[0, 3\].*index 3 \(value {bad}\)"):
        ct.cross_entropy(x, y)
    out = ct.cross_entropy(x, y, validate=False, reduction="none")
    assert torch.isnan(out[3]) and torch.isfinite(out[torch.arange(n) != 3]).all()
    for reduction in ("mean", "none"):
        _against_core(x, y, reduction, False, 1e-12)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("ignore_index", [0, 3, 255])
def test_non_negative_ignore_index_masks_like_pytorch(n, ignore_index):
    x, y = _logits(n, seed=3)
    y[::5] = ignore_index
    x[5, 1] = math.inf  # row 5 is masked: exactly zero gradient whatever it holds
    for reduction in ("mean", "sum", "none"):
        xt = x.clone().requires_grad_(True)
        out = ct.cross_entropy(xt, y, ignore_index=ignore_index, reduction=reduction)
        x0 = x.clone()
        x0[5] = 0.0  # PyTorch's backward gives NaN on a masked row holding +inf
        x0.requires_grad_(True)
        ref = F.cross_entropy(x0, y, ignore_index=ignore_index, reduction=reduction)
        torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-14)
        (g,) = torch.autograd.grad(out.sum(), xt)
        (gr,) = torch.autograd.grad(ref.sum(), x0)
        torch.testing.assert_close(g, gr, rtol=1e-12, atol=1e-15)
        assert (g[y == ignore_index] == 0).all()


def test_probabilities_with_a_bad_label_warn_once_then_raise():
    # the double-softmax check runs after PyTorch's kernel: a call handed to the general path
    # (here: a label ≥ C, refused by the kernel) is checked once, there
    x, y = _logits(6, seed=4)
    p = torch.softmax(x, -1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ct.cross_entropy(p, y)
    assert sum(issubclass(w.category, ce.DoubleSoftmaxWarning) for w in seen) == 1
    y[2] = 4
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"index 2 \(value 4\)"):
            ct.cross_entropy(p, y)
    assert sum(issubclass(w.category, ce.DoubleSoftmaxWarning) for w in seen) == 1


@pytest.mark.parametrize("n", SIZES)
def test_default_options_on_finite_logits_take_pytorchs_kernel(n, monkeypatch):
    # the speed of the drop-ins at small batches rests on this route; the general path's
    # autograd function must not run, and its values are PyTorch's
    x, y = _logits(n, c=10, dtype=torch.float32, seed=5)

    def general(*args, **kwargs):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(ctf, "cross_entropy_rows", general)
    xt = x.clone().requires_grad_(True)
    out = ct.CrossEntropyLoss()(xt, y)
    out.backward()
    x0 = x.clone().requires_grad_(True)
    ref = F.cross_entropy(x0, y)
    ref.backward()
    assert torch.equal(out, ref) and torch.equal(xt.grad, x0.grad)
    x[0, 0] = math.inf  # ... and a +inf logit is handed on
    with pytest.raises(AssertionError, match="general path ran"):
        ct.cross_entropy(x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("n", SIZES)
def test_nll_loss_route_equals_pytorch_and_the_core(n, reduction, monkeypatch):
    # log-probabilities take PyTorch's nll_loss after the log-prob checks; masked rows (one
    # holding NaN) get loss 0 and exactly zero gradient
    x, y = _logits(n, seed=6)
    lp = torch.log_softmax(x, -1)
    y[::4] = -100
    lp[4, 2] = math.nan
    monkeypatch.setattr(ctf, "cross_entropy_rows", None)  # the general path would fail
    lt = lp.clone().requires_grad_(True)
    out = ct.NLLLoss(reduction=reduction)(lt, y)
    l0 = lp.clone().requires_grad_(True)
    ref = F.nll_loss(l0, y, reduction=reduction)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-14)
    (g,) = torch.autograd.grad(out.sum(), lt)
    (gr,) = torch.autograd.grad(ref.sum(), l0)
    torch.testing.assert_close(g, gr, rtol=1e-12, atol=1e-15)
    assert (g[y == -100] == 0).all()
    want = ce.cross_entropy(lp.numpy(), y.numpy(), kind="log_probs", reduction=reduction)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)


@pytest.mark.parametrize("n", SIZES)
def test_nll_loss_route_keeps_the_log_prob_checks(n):
    x, y = _logits(n, seed=7)
    lp = torch.log_softmax(x, -1)
    bad = lp.clone()
    bad[3, 1] = 0.5
    with pytest.raises(ValueError, match=r"must be ≤ 0"):
        ct.nll_loss(bad, y)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        ct.nll_loss(lp - 0.5, y)  # rows that do not log-sum-exp to 0: used as given, warned
    assert sum(issubclass(w.category, ce.NotNormalizedWarning) for w in seen) == 1
    y[2] = 9
    with pytest.raises(ValueError, match=r"index 2 \(value 9\)"):
        ct.nll_loss(lp, y)
    out = ct.nll_loss(lp, y, validate=False, reduction="none")
    assert torch.isnan(out[2]) and torch.isfinite(out[torch.arange(n) != 2]).all()
