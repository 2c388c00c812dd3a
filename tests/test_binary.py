"""Binary and multi-label cross-entropy against PyTorch, scikit-learn and the softmax identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import expit
from sklearn.metrics import log_loss

import crossentropy as ce

from oracles import assert_close


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_equals_torch_bce_with_logits(rng, reduction):
    x = rng.normal(size=(7, 4)) * 4
    y = rng.uniform(size=(7, 4))
    pw = rng.uniform(0.5, 3, size=4)
    w = rng.uniform(0.1, 2, size=(7, 4))
    theirs = F.binary_cross_entropy_with_logits(
        torch.as_tensor(x),
        torch.as_tensor(y),
        weight=torch.as_tensor(w),
        pos_weight=torch.as_tensor(pw),
        reduction=reduction,
    ).numpy()
    assert_close(
        ce.binary_cross_entropy(x, y, pos_weight=pw, weight=w, reduction=reduction), theirs
    )


def test_probs_kind_equals_torch_and_sklearn(rng):
    p = rng.uniform(0.05, 0.95, size=30)
    y = rng.integers(0, 2, size=30)
    sw = rng.uniform(0.1, 2, size=30)
    theirs = F.binary_cross_entropy(
        torch.as_tensor(p), torch.as_tensor(y, dtype=torch.float64)
    ).numpy()
    assert_close(ce.binary_cross_entropy(p, y, kind="probs"), theirs)
    assert_close(
        ce.binary_cross_entropy(p, y, kind="probs", sample_weight=sw),
        log_loss(y, p, sample_weight=sw),
    )
    assert_close(ce.binary_cross_entropy(np.log(p), y, kind="log_probs"), theirs)


def test_is_two_class_softmax(rng):
    """P6: BCE(x, y) = CE(logits=[0, x], target=[1−y, y]) = softplus(x) − y·x, soft y included."""
    x = rng.normal(size=12) * 5
    y = rng.uniform(size=12)
    bce = ce.binary_cross_entropy(x, y, reduction="none")
    two = ce.cross_entropy(
        np.stack([np.zeros(12), x], 1), np.stack([1 - y, y], 1), reduction="none"
    )
    assert_close(bce, two)
    assert_close(bce, np.logaddexp(0, x) - y * x)


def test_extreme_logits_linear_and_finite():
    x = np.array([1e9, -1e9, 1e9, -1e9])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    assert_close(ce.binary_cross_entropy(x, y, reduction="none"), [1e9, 1e9, 0, 0])
    inf = np.array([np.inf, -np.inf])
    out = ce.binary_cross_entropy(inf, np.array([1.0, 0.0]), reduction="none")
    assert np.all(out == 0)
    g = ce.binary_cross_entropy_grad(inf, np.array([1.0, 0.0]))
    assert np.all(g == 0)


def test_focal_gamma_zero_is_bce_and_matches_formula(rng):
    x = rng.normal(size=20) * 3
    y = rng.integers(0, 2, size=20).astype(float)
    assert_close(ce.binary_cross_entropy(x, y, focal_gamma=0.0), ce.binary_cross_entropy(x, y))
    p = expit(x)
    gamma = 2.0
    ref = -(y * (1 - p) ** gamma * np.log(p) + (1 - y) * p**gamma * np.log1p(-p))
    assert_close(
        ce.binary_cross_entropy(x, y, focal_gamma=gamma, reduction="none"), ref, atol=1e-14
    )


def test_ignore_index_and_label_smoothing(rng):
    x = rng.normal(size=(5, 3))
    y = rng.integers(0, 2, size=(5, 3))
    y[0, 1] = -1
    got = ce.binary_cross_entropy(x, y, ignore_index=-1)
    keep = y != -1
    want = F.binary_cross_entropy_with_logits(
        torch.as_tensor(x[keep]), torch.as_tensor(y[keep], dtype=torch.float64)
    )
    assert_close(got, want.numpy())
    eps = 0.2
    sm = ce.binary_cross_entropy(x, y, ignore_index=-1, label_smoothing=eps, reduction="none")
    ys = (1 - eps) * y[keep] + eps / 2
    assert_close(sm[keep], np.logaddexp(0, x[keep]) - ys * x[keep])
    assert sm[0, 1] == 0


def test_binary_auto_kind():
    with pytest.warns(ce.KindDecisionWarning, match="logits"):
        ce.binary_cross_entropy(np.array([2.0, -1.0]), np.array([1.0, 0.0]), kind="auto")
    with pytest.raises(ValueError, match="ambiguous"):
        ce.binary_cross_entropy(np.array([0.2, 0.9]), np.array([1.0, 0.0]), kind="auto")
    with pytest.raises(ValueError, match="ambiguous"):
        ce.binary_cross_entropy(np.array([-0.2, -3.0]), np.array([1.0, 0.0]), kind="auto")


def test_binary_bad_targets():
    with pytest.raises(ValueError, match=r"must be 0 or 1.*value 2"):
        ce.binary_cross_entropy(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"in \[0, 1\].*1.5"):
        ce.binary_cross_entropy(np.zeros(2), np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="shape"):
        ce.binary_cross_entropy(np.zeros(3), np.zeros(2))
