"""docs/semantics.md §12, row by row: each route reproduces the peer's number.

PyTorch is called directly; Keras 3 and optax (not installed here) through the float64
references at the end of tests/oracles.py, which follow the named peer functions line by
line. Where §12 documents a difference rather than a route, the test shows the difference
and then the route that removes it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import expit, softmax

import crossentropy as ce

from oracles import (
    KERAS_EPSILON,
    assert_close,
    keras_binary_crossentropy,
    keras_binary_focal_crossentropy,
    keras_categorical_focal_crossentropy,
    keras_probs,
    keras_reduce,
    keras_sparse_categorical_crossentropy,
    optax_safe_softmax_cross_entropy,
    optax_smooth_labels,
    optax_softmax_cross_entropy,
)


def _soft_unnormalised(rng, n, c):
    y = rng.uniform(0, 1, size=(n, c)) * rng.uniform(0.3, 2.0, size=(n, 1))
    return y  # row masses anywhere in (0, 2c)


# ----------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_smoothing_of_unnormalised_soft_targets(rng, reduction):
    """torch smooths a soft row to (1−ε)·y + ε/C (not ε·m/C): pass that target, ε = 0,
    and divide_by="count" for their mean over N."""
    x = rng.normal(size=(6, 4))
    y = _soft_unnormalised(rng, 6, 4)
    w = rng.uniform(0.3, 2, size=4)
    eps = 0.2
    theirs = F.cross_entropy(
        torch.as_tensor(x),
        torch.as_tensor(y),
        weight=torch.as_tensor(w),
        label_smoothing=eps,
        reduction=reduction,
    ).numpy()
    with pytest.warns(ce.NotNormalizedWarning):
        ours = ce.cross_entropy(
            x, (1 - eps) * y + eps / 4, weight=w, divide_by="count", reduction=reduction
        )
        mass_kept = ce.cross_entropy(
            x, y, weight=w, label_smoothing=eps, divide_by="count", reduction=reduction
        )
    assert_close(ours, theirs)
    assert not np.allclose(mass_kept, theirs)  # our label_smoothing keeps each row's mass


def test_torch_counts_all_zero_soft_rows_in_n(rng):
    """An all-zero soft row is a mask here (out of every divisor); torch's mean over N counts
    it: reduction="sum" divided by N reproduces theirs."""
    x = rng.normal(size=(5, 3))
    y = softmax(rng.normal(size=(5, 3)), axis=-1)
    y[2] = 0.0
    theirs = F.cross_entropy(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    assert_close(ce.cross_entropy(x, y, reduction="sum") / 5, theirs)
    assert_close(ce.cross_entropy(x, y, divide_by="count"), theirs * 5 / 4)


def test_torch_binary_cross_entropy_clamps_log_at_minus_100(rng):
    """torch's BCE from probabilities clamps each log at −100; for 0/1 targets the element
    loss is min(ours, 100)."""
    p = rng.uniform(size=8)
    p[:3] = [1.0, 0.0, 1e-50]
    y = rng.integers(0, 2, size=8).astype(float)
    y[:3] = [0.0, 1.0, 1.0]
    theirs = F.binary_cross_entropy(torch.as_tensor(p), torch.as_tensor(y), reduction="none")
    with np.errstate(divide="ignore"):
        ours = ce.binary_cross_entropy(p, y, kind="probs", reduction="none")
    assert np.isinf(ours[:2]).all()
    assert_close(np.minimum(ours, 100.0), theirs.numpy())


# ----------------------------------------------------------------------------- Keras
def test_keras_sum_over_batch_size_divides_weighted_sum_by_n(rng):
    """Keras's default reduction is Σ s_i·ℓ_i / N (N counts zero weights): reduction="sum" / N.
    Its "mean_with_sample_weight" is Σ s·ℓ / Σ s: divide_by="count"."""
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 5, size=8)
    s = rng.uniform(0.2, 3, size=8)
    s[3] = 0.0
    values, _ = keras_sparse_categorical_crossentropy(y, x, from_logits=True)
    theirs = keras_reduce(values, s)
    assert_close(ce.cross_entropy(x, y, sample_weight=s, reduction="sum") / 8, theirs)
    assert not np.isclose(ce.cross_entropy(x, y, sample_weight=s), theirs)
    assert_close(
        ce.cross_entropy(x, y, sample_weight=s, divide_by="count"),
        keras_reduce(values, s, reduction="mean_with_sample_weight"),
    )
    assert_close(ce.cross_entropy(x, y, divide_by="count"), keras_reduce(values))  # no weights
    # fit(class_weight=cw) becomes s_i = cw[y_i]: their mean still divides by N
    cw = rng.uniform(0.2, 3, size=5)
    assert_close(
        ce.cross_entropy(x, y, weight=cw, reduction="sum") / 8, keras_reduce(values, cw[y])
    )


def test_keras_ignore_class_divides_by_the_valid_count(rng):
    """SparseCategoricalCrossentropy(ignore_class=k) masks k and divides Σ s·ℓ by the number of
    unmasked positions: reduction="sum" with ignore_index=k, divided by that count."""
    x = rng.normal(size=(9, 4))
    y = rng.integers(0, 4, size=9)
    y[[1, 5]] = -1
    s = rng.uniform(0.2, 3, size=9)
    values, mask = keras_sparse_categorical_crossentropy(y, x, from_logits=True, ignore_class=-1)
    theirs = keras_reduce(values, s, mask)
    valid = int((y != -1).sum())
    ours = ce.cross_entropy(x, y, ignore_index=-1, sample_weight=s, reduction="sum") / valid
    assert_close(ours, theirs)
    assert_close(
        ce.cross_entropy(x, y, ignore_index=-1, divide_by="count"), keras_reduce(values, None, mask)
    )


def test_keras_squeezes_n_by_1_labels_we_do_not(rng):
    """Keras squeezes (N, 1) class labels and matches (N,) binary labels to (N, 1); we never
    reshape a target: pass y[:, 0] (or y.reshape(pred.shape))."""
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=(6, 1))
    values, _ = keras_sparse_categorical_crossentropy(y, x, from_logits=True)
    with pytest.raises(ValueError, match=r"shape \(6, 1\)"):
        ce.cross_entropy(x, y)
    assert_close(ce.cross_entropy(x, y[:, 0], reduction="none"), values)

    z = rng.normal(size=(6, 1))
    b = rng.integers(0, 2, size=6).astype(float)
    theirs = keras_binary_crossentropy(b, z, from_logits=True)  # shape (6,)
    with pytest.raises(ValueError, match="shape"):
        ce.binary_cross_entropy(z, b)
    ours = ce.binary_cross_entropy(z, b.reshape(z.shape), reduction="none").mean(-1)
    assert_close(ours, theirs)


def test_keras_binary_crossentropy_clips_probabilities(rng):
    """From probabilities Keras clips p to [1e-7, 1 − 1e-7] (a confident miss costs ≈ 16.1, not
    +inf): clip first, then kind="probs". From logits nothing is clipped: kind="logits"."""
    p = rng.uniform(size=(5, 3))
    p[0] = [1.0, 0.0, 1e-12]
    y = rng.integers(0, 2, size=(5, 3)).astype(float)
    y[0] = [0.0, 1.0, 1.0]
    for eps in (0.0, 0.1):
        theirs = keras_binary_crossentropy(y, p, label_smoothing=eps)
        clipped = np.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON)
        ours = ce.binary_cross_entropy(
            clipped, y, kind="probs", label_smoothing=eps, reduction="none"
        ).mean(-1)
        assert_close(ours, theirs, atol=1e-15)
    with np.errstate(divide="ignore"):
        raw = ce.binary_cross_entropy(p, y, kind="probs", reduction="none")
    assert np.isinf(raw[0, :2]).all() and np.isfinite(theirs).all()
    assert_close(raw[0, 2], -np.log(1e-12))  # theirs stops at −log(1e-7)
    x = rng.normal(size=(5, 3)) * 30
    assert_close(
        ce.binary_cross_entropy(x, y, reduction="none").mean(-1),
        keras_binary_crossentropy(y, x, from_logits=True),
    )
    # BinaryCrossentropy(sample_weight=s): Σ_i s_i·mean_j ℓ_ij / N
    s = rng.uniform(0.2, 2, size=5)
    theirs = keras_reduce(keras_binary_crossentropy(y, x, from_logits=True), s)
    assert_close(ce.binary_cross_entropy(x, y, sample_weight=s, reduction="sum") / y.size, theirs)


@pytest.mark.parametrize("balancing", [False, True])
def test_keras_binary_focal_crossentropy(rng, balancing):
    """Keras's binary focal loss is focal="p_t" on the (clipped) probabilities, smoothing towards
    0.5 first; apply_class_balancing is weight = α·y' + (1 − α)·(1 − y')."""
    p = rng.uniform(1e-3, 1 - 1e-3, size=(4, 6))
    y = rng.uniform(size=(4, 6))
    y[0] = rng.integers(0, 2, size=6)
    alpha, gamma, eps = 0.3, 2.0, 0.1
    theirs = keras_binary_focal_crossentropy(
        y, p, apply_class_balancing=balancing, alpha=alpha, gamma=gamma, label_smoothing=eps
    )
    ys = (1 - eps) * y + eps / 2
    w = alpha * ys + (1 - alpha) * (1 - ys) if balancing else None
    opts = dict(focal_gamma=gamma, focal="p_t", label_smoothing=eps, weight=w, reduction="none")
    clipped = np.clip(p, KERAS_EPSILON, 1 - KERAS_EPSILON)
    assert_close(ce.binary_cross_entropy(clipped, y, kind="probs", **opts).mean(-1), theirs)
    default = ce.binary_cross_entropy(clipped, y, kind="probs", **{**opts, "focal": "expected"})
    assert not np.allclose(default.mean(-1), theirs)  # soft and smoothed labels differ
    # from_logits: Keras takes the sigmoid; while every σ(x) lies inside the clip range our
    # focal loss from logits is theirs; beyond it (|x| > 16.1) clip σ(x) and pass probabilities:
    # Keras's factor (1 − p_t)^γ then uses the unclipped p, a relative difference ≤ 2γ·1e-7
    x = rng.normal(size=(4, 6)) * 4
    assert np.abs(x).max() < 16
    theirs = keras_binary_focal_crossentropy(y, x, from_logits=True, gamma=gamma)
    ours = ce.binary_cross_entropy(x, y, focal_gamma=gamma, focal="p_t", reduction="none")
    np.testing.assert_allclose(ours.mean(-1), theirs, rtol=1e-10)  # their log(1 − σ(x)) rounds
    x = x * 10
    theirs = keras_binary_focal_crossentropy(y, x, from_logits=True, gamma=gamma)
    q = np.clip(expit(x), KERAS_EPSILON, 1 - KERAS_EPSILON)
    ours = ce.binary_cross_entropy(
        q, y, kind="probs", focal_gamma=gamma, focal="p_t", reduction="none"
    ).mean(-1)
    np.testing.assert_allclose(ours, theirs, rtol=2 * gamma * KERAS_EPSILON)


@pytest.mark.parametrize("alpha", [0.25, "per_class"])
def test_keras_categorical_focal_crossentropy(rng, alpha):
    """Keras's categorical focal loss −Σ_c α_c (1 − q_c)^γ y'_c log q_c (q renormalised and
    clipped, y' smoothed by ε/C): its value is cross_entropy with the modulated target
    y'·(1 − q)^γ and weight=α on Keras's q, kind="probs", validate=False."""
    p = rng.uniform(0.01, 1, size=(5, 4))  # not normalised: Keras renormalises
    p[0, 1] = 1e-12  # below the clip
    y = softmax(rng.normal(size=(5, 4)), axis=-1)
    y[1] = [0, 0, 1, 0]
    a = 0.25 if alpha == 0.25 else rng.uniform(0.1, 1, size=4)
    gamma, eps = 2.0, 0.1
    theirs = keras_categorical_focal_crossentropy(y, p, alpha=a, gamma=gamma, label_smoothing=eps)
    q = keras_probs(p)
    ys = (1 - eps) * y + eps / 4
    weight = np.broadcast_to(np.asarray(a, dtype=float), (4,))
    ours = ce.cross_entropy(
        q, ys * (1 - q) ** gamma, weight=weight, kind="probs", reduction="none", validate=False
    )
    assert_close(ours, theirs)


def test_keras_categorical_crossentropy_from_probabilities(rng):
    """Keras renormalises and clips probabilities; passing its q with kind="probs" reproduces it."""
    p = rng.uniform(0.01, 1, size=(5, 4))
    p[0, 2] = 0.0
    y = rng.integers(0, 4, size=5)
    y[0] = 2
    onehot = np.eye(4)[y]
    theirs = keras_categorical_focal_crossentropy(onehot, p, alpha=1.0, gamma=0.0)
    ours = ce.cross_entropy(keras_probs(p), y, kind="probs", reduction="none", validate=False)
    assert_close(ours, theirs)
    assert_close(theirs[0], -np.log(KERAS_EPSILON))
    # their label_smoothing=ε is (1 − ε)·y + ε/C: ours on one-hot (normalised) rows
    theirs = keras_categorical_focal_crossentropy(
        onehot, p, alpha=1.0, gamma=0.0, label_smoothing=0.1
    )
    ours = ce.cross_entropy(
        keras_probs(p), y, kind="probs", label_smoothing=0.1, reduction="none", validate=False
    )
    assert_close(ours, theirs)


# ----------------------------------------------------------------------------- optax
def test_optax_softmax_cross_entropy_with_smooth_labels(rng):
    """optax.smooth_labels adds α/C whatever the row's mass: pass its output as the target with
    label_smoothing=0; on normalised rows label_smoothing=α is the same."""
    x = rng.normal(size=(6, 5))
    y = _soft_unnormalised(rng, 6, 5)
    alpha = 0.2
    theirs = optax_softmax_cross_entropy(x, optax_smooth_labels(y, alpha))
    with pytest.warns(ce.NotNormalizedWarning):
        ours = ce.cross_entropy(x, optax_smooth_labels(y, alpha), reduction="none")
        mass_kept = ce.cross_entropy(x, y, label_smoothing=alpha, reduction="none")
    assert_close(ours, theirs)
    assert not np.allclose(mass_kept, theirs)
    yn = y / y.sum(-1, keepdims=True)
    assert_close(
        ce.cross_entropy(x, yn, label_smoothing=alpha, reduction="none"),
        optax_softmax_cross_entropy(x, optax_smooth_labels(yn, alpha)),
    )


def test_optax_softmax_cross_entropy_nan_on_minus_inf_logit():
    """A zero label on a −inf logit: optax.softmax_cross_entropy gives NaN (0·(−inf)); we give
    optax.safe_softmax_cross_entropy's number."""
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -1.0]])
    y = np.array([[0.3, 0.0, 0.7], [1.0, 0.0, 0.0]])
    assert np.isnan(optax_softmax_cross_entropy(x, y)[0])
    assert_close(ce.cross_entropy(x, y, reduction="none"), optax_safe_softmax_cross_entropy(x, y))
