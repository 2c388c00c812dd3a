"""Binary and multi-label cross-entropy against PyTorch, scikit-learn and the softmax identity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import expit
from sklearn.metrics import log_loss

import crossentropy as ce

from oracles import (
    assert_close,
    keras_categorical_focal_crossentropy,
    optax_sigmoid_focal_loss,
)


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


def test_focal_forms_agree_on_hard_labels_and_p_t_is_optax(rng):
    """§8: focal="p_t" is optax's sigmoid_focal_loss (soft labels included); the two forms
    agree on 0/1 labels; α-balancing is weight=α·y + (1−α)·(1−y)."""
    x = rng.normal(size=(6, 5)) * 3
    y = rng.uniform(size=(6, 5))
    y[0] = [0, 1, 0, 1, 1]
    for gamma in (0.5, 2.0):
        got = ce.binary_cross_entropy(x, y, focal_gamma=gamma, focal="p_t", reduction="none")
        assert_close(got, optax_sigmoid_focal_loss(x, y, gamma=gamma), atol=1e-15)
        alpha_t = 0.25 * y + 0.75 * (1 - y)
        got = ce.binary_cross_entropy(
            x, y, focal_gamma=gamma, focal="p_t", weight=alpha_t, reduction="none"
        )
        assert_close(got, optax_sigmoid_focal_loss(x, y, alpha=0.25, gamma=gamma), atol=1e-15)
        expected = ce.binary_cross_entropy(x, y, focal_gamma=gamma, reduction="none")
        assert_close(expected[0], got[0] / alpha_t[0], atol=1e-15)  # hard labels: the same
        assert not np.allclose(expected[1:], got[1:] / alpha_t[1:])  # soft labels: not


def test_focal_expected_is_linear_in_the_label_and_two_class_keras_focal(rng):
    """§8: focal="expected" of a soft label is the y-weighted average of the two hard-label
    focal losses, which is Keras's categorical focal loss (α = 1) on the classes [1 − p, p]."""
    p = rng.uniform(0.01, 0.99, size=12)
    y = rng.uniform(size=12)
    x = np.log(p) - np.log1p(-p)

    def focal(t):
        return ce.binary_cross_entropy(x, t, focal_gamma=2.0, reduction="none")

    assert_close(focal(y), y * focal(np.ones(12)) + (1 - y) * focal(np.zeros(12)), atol=1e-15)
    two = keras_categorical_focal_crossentropy(
        np.stack([1 - y, y], -1), np.stack([1 - p, p], -1), alpha=1.0, gamma=2.0
    )
    assert_close(focal(y), two, atol=1e-14)


def test_focal_gamma_zero_and_infinite_logits_are_finite():
    """γ = 0 is the plain loss exactly (it gave NaN at a confident correct prediction);
    both forms keep 0·log 0 = 0 at ±inf logits."""
    p = np.array([1.0, 0.0, 0.3])
    y = np.array([1.0, 0.0, 1.0])
    for focal in ("expected", "p_t"):
        got = ce.binary_cross_entropy(
            p, y, kind="probs", focal_gamma=0.0, focal=focal, reduction="none"
        )
        assert_close(got, [0.0, 0.0, -np.log(0.3)])
        inf = np.array([np.inf, -np.inf, np.inf])
        got = ce.binary_cross_entropy(
            inf, np.array([1.0, 0.0, 0.5]), focal_gamma=2.0, focal=focal, reduction="none"
        )
        assert got[0] == 0 and got[1] == 0 and got[2] == np.inf
    with pytest.raises(ValueError, match="focal"):
        ce.binary_cross_entropy(np.zeros(2), np.zeros(2), focal_gamma=2.0, focal="whole")
