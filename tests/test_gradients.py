"""Closed-form gradients against PyTorch autograd, finite differences and the float64 reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, softmax

import crossentropy as ce

from oracles import assert_close, ref_grad_logits


def _autograd(x, y, **kw):
    t = torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(t, torch.as_tensor(y), **kw)
    go = kw.pop("_go", None)
    loss.backward(torch.ones_like(loss) if go is None else go)
    return t.grad.numpy()


@pytest.mark.parametrize(
    "reduction,weights,ignore,eps",
    list(itertools.product(["mean", "sum"], [False, True], [False, True], [0.0, 0.2])),
)
def test_grad_equals_autograd(rng, impl, reduction, weights, ignore, eps):
    x = rng.normal(size=(8, 5)) * 2
    y = rng.integers(0, 5, size=8)
    if ignore:
        y[[0, 5]] = -100
    w = rng.uniform(0.3, 2.0, size=5) if weights else None
    got = ce.cross_entropy_grad(x, y, reduction=reduction, weight=w, label_smoothing=eps, impl=impl)
    want = _autograd(
        x,
        y,
        reduction=reduction,
        weight=None if w is None else torch.as_tensor(w),
        label_smoothing=eps,
    )
    assert_close(got, want, atol=1e-15)
    assert_close(
        got, ref_grad_logits(x, y, reduction=reduction, weight=w, label_smoothing=eps), atol=1e-15
    )


def test_grad_none_with_nonuniform_grad_output(rng, impl):
    """The bug fused kernels shipped: reduction='none' must scale each row by its own grad_output."""
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    go = rng.normal(size=6)
    t = torch.tensor(x, requires_grad=True)
    F.cross_entropy(t, torch.as_tensor(y), reduction="none").backward(torch.as_tensor(go))
    got = ce.cross_entropy_grad(x, y, reduction="none", grad_output=go, impl=impl)
    assert_close(got, t.grad.numpy(), atol=1e-15)


def test_grad_soft_targets_and_kdim(rng, impl):
    x = rng.normal(size=(2, 3, 4))
    y = softmax(rng.normal(size=(2, 3, 4)), axis=1)
    t = torch.tensor(x, requires_grad=True)
    F.cross_entropy(t, torch.as_tensor(y), label_smoothing=0.1).backward()
    got = ce.cross_entropy_grad(x, y, axis=1, label_smoothing=0.1, impl=impl)
    assert_close(got, t.grad.numpy(), atol=1e-15)


def test_grad_finite_differences(rng, impl):
    x = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)
    w = np.array([0.5, 2.0, 1.0])
    sw = np.array([1.0, 0.5, 2.0, 0.0])
    kw = dict(weight=w, sample_weight=sw, label_smoothing=0.1, smoothing="others", impl=impl)
    g = ce.cross_entropy_grad(x, y, **kw)
    h = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp_, xm = x.copy(), x.copy()
        xp_[idx] += h
        xm[idx] -= h
        fd[idx] = (ce.cross_entropy(xp_, y, **kw) - ce.cross_entropy(xm, y, **kw)) / (2 * h)
    np.testing.assert_allclose(g, fd, atol=1e-8)


def test_grad_kinds_log_probs_and_probs(rng):
    x = rng.normal(size=(5, 4))
    y = rng.integers(0, 4, size=5)
    lq = log_softmax(x, axis=-1)
    t = torch.tensor(lq, requires_grad=True)
    F.nll_loss(t, torch.as_tensor(y)).backward()
    assert_close(ce.cross_entropy_grad(lq, y, kind="log_probs"), t.grad.numpy(), atol=1e-15)
    p = softmax(x, axis=-1)
    tp = torch.tensor(p, requires_grad=True)
    F.nll_loss(torch.log(tp), torch.as_tensor(y)).backward()
    assert_close(ce.cross_entropy_grad(p, y, kind="probs"), tp.grad.numpy(), atol=1e-15)


def test_masked_rows_have_exact_zero_gradient(impl):
    x = np.array([[np.nan, 1.0, 2.0], [np.inf, -np.inf, 0.0], [0.0, 1.0, 2.0]])
    y = np.array([-100, -100, 2])
    g = ce.cross_entropy_grad(x, y, impl=impl)
    assert np.all(g[:2] == 0) and np.all(np.isfinite(g))
    # all ignored: zeros, never NaN, in every empty mode
    for empty in ("nan", "zero"):
        g = ce.cross_entropy_grad(x[:2], y[:2], empty=empty, impl=impl)
        assert np.all(g == 0)


def test_minus_inf_logit_with_zero_target_has_zero_gradient(impl):
    """P13: a masked class (−inf logit, zero target) changes nothing and gets gradient 0."""
    x = np.array([[1.0, -np.inf, 0.5], [-np.inf, 2.0, 0.0]])
    y = np.array([0, 2])
    g = ce.cross_entropy_grad(x, y, impl=impl)
    assert g[0, 1] == 0 and g[1, 0] == 0
    finite = ce.cross_entropy_grad(np.array([[1.0, 0.5], [2.0, 0.0]]), np.array([0, 1]), impl=impl)
    assert_close(g[:, [0, 2]][0], finite[0])
    assert_close(g[1, 1:], finite[1])


@pytest.mark.parametrize("gamma", [None, 0.0, 2.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_grad_equals_autograd(rng, gamma, reduction):
    x = rng.normal(size=(6, 3)) * 3
    y = rng.uniform(size=(6, 3))
    pw = np.array([1.0, 2.0, 0.5])
    w = rng.uniform(0.5, 1.5, size=(6, 3))
    t = torch.tensor(x, requires_grad=True)
    p = torch.sigmoid(t)
    ty = torch.as_tensor(y)
    if gamma is None:
        loss = F.binary_cross_entropy_with_logits(
            t, ty, weight=torch.as_tensor(w), pos_weight=torch.as_tensor(pw), reduction=reduction
        )
    else:
        lp, l1p = F.logsigmoid(t), F.logsigmoid(-t)
        el = -(
            torch.as_tensor(pw) * ty * (1 - p) ** gamma * lp + (1 - ty) * p**gamma * l1p
        ) * torch.as_tensor(w)
        loss = {"mean": el.mean(), "sum": el.sum(), "none": el}[reduction]
    go = (
        torch.as_tensor(rng.normal(size=(6, 3)))
        if reduction == "none"
        else torch.tensor(1.7, dtype=torch.float64)
    )
    loss.backward(go)
    got = ce.binary_cross_entropy_grad(
        x,
        y,
        pos_weight=pw,
        weight=w,
        focal_gamma=gamma,
        reduction=reduction,
        grad_output=go.numpy(),
    )
    assert_close(got, t.grad.numpy(), atol=1e-14)
