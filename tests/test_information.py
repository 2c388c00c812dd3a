"""Entropy, KL and CE = H + KL against SciPy and PyTorch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, rel_entr, softmax
from scipy.stats import entropy as scipy_entropy

import crossentropy as ce

from oracles import assert_close, ref_entropy


def _dist(rng, n=6, c=5, zeros=True):
    p = softmax(rng.normal(size=(n, c)) * 2, axis=-1)
    if zeros:
        p[0, 1] = 0
        p[0] /= p[0].sum()
    return p


def test_entropy_equals_scipy(rng):
    p = _dist(rng)
    assert_close(ce.entropy(p), scipy_entropy(p, axis=-1))
    assert_close(ce.entropy(p, base=2), scipy_entropy(p, axis=-1, base=2))
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    assert_close(ce.entropy(logp, kind="log_probs"), ref_entropy(p))
    x = rng.normal(size=(4, 3))
    assert_close(ce.entropy(x, kind="logits"), scipy_entropy(softmax(x, axis=-1), axis=-1))
    assert_close(ce.entropy(p, reduction="mean"), ref_entropy(p).mean())


def test_entropy_bounds(rng):
    p = _dist(rng, 50, 7)
    h = ce.entropy(p)
    assert np.all(h >= -1e-15) and np.all(h <= math.log(7) + 1e-12)


def test_kl_equals_scipy_and_torch_batchmean(rng):
    y = _dist(rng)
    x = rng.normal(size=y.shape)
    q = softmax(x, axis=-1)
    per_row = rel_entr(y, q).sum(-1)
    assert_close(ce.kl_divergence(x, y, reduction="none"), per_row)
    assert_close(
        ce.kl_divergence(q, y, kind="probs", reduction="none"), scipy_entropy(y, q, axis=-1)
    )
    batchmean = F.kl_div(
        torch.as_tensor(log_softmax(x, axis=-1)), torch.as_tensor(y), reduction="batchmean"
    )
    assert_close(ce.kl_divergence(x, y), batchmean.numpy())
    assert_close(
        ce.kl_divergence(q, q, kind="probs", reduction="none"), np.zeros(len(q)), atol=1e-15
    )


def test_torch_kl_div_batchmean_1d_divides_by_classes(rng):
    """§12: torch's batchmean divides by ``input.shape[0]`` — C for one 1-D row, not 1."""
    y = _dist(rng, 1, 5, zeros=False)[0]
    lq = log_softmax(rng.normal(size=5))
    theirs = F.kl_div(torch.as_tensor(lq), torch.as_tensor(y), reduction="batchmean").numpy()
    ours = ce.kl_divergence(lq, y, kind="log_probs", reduction="sum")
    assert_close(ours / lq.shape[0], theirs)
    # reduction="mean" is the row's KL itself: C times theirs, so it is not their route
    assert_close(ce.kl_divergence(lq, y, kind="log_probs", reduction="mean"), 5 * theirs)
    assert_close(ce.kl_divergence(lq, y, kind="log_probs", reduction="none"), 5 * theirs)


def test_torch_kl_div_routes_every_reduction_and_shape(rng):
    """§12: batchmean = sum / shape[0]; mean = sum / size; none summed over the class axis;
    log_target=True takes exp(target) as the distribution."""
    lq = log_softmax(rng.normal(size=(4, 3, 2)), axis=1)  # (N, C, d), classes on axis 1
    y = softmax(rng.normal(size=(4, 3, 2)), axis=1)
    tl, ty = torch.as_tensor(lq), torch.as_tensor(y)
    total = ce.kl_divergence(lq, y, kind="log_probs", axis=1, reduction="sum")
    assert_close(total / 4, F.kl_div(tl, ty, reduction="batchmean").numpy())
    with warnings.catch_warnings():  # torch warns that its "mean" is not a KL
        warnings.simplefilter("ignore", UserWarning)
        assert_close(total / lq.size, F.kl_div(tl, ty, reduction="mean").numpy())
    assert_close(total, F.kl_div(tl, ty, reduction="sum").numpy())
    assert_close(
        ce.kl_divergence(lq, y, kind="log_probs", axis=1, reduction="none"),
        F.kl_div(tl, ty, reduction="none").sum(1).numpy(),
    )
    theirs = F.kl_div(tl, torch.log(ty), reduction="batchmean", log_target=True).numpy()
    assert_close(total / 4, theirs)
    # 2-D rows that are not normalised: batchmean divides by N, our mean by Σ_i m_i
    y2 = rng.uniform(0.1, 1, size=(5, 4))
    lq2 = log_softmax(rng.normal(size=(5, 4)), axis=-1)
    theirs = F.kl_div(torch.as_tensor(lq2), torch.as_tensor(y2), reduction="batchmean").numpy()
    with pytest.warns(ce.NotNormalizedWarning):
        ours = ce.kl_divergence(lq2, y2, kind="log_probs", reduction="sum")
        mean = ce.kl_divergence(lq2, y2, kind="log_probs", reduction="mean")
    assert_close(ours / 5, theirs)
    assert_close(mean, ours / y2.sum())


def test_torch_kl_div_nan_where_we_give_zero():
    """§12 difference: a zero target on a −inf log-probability is NaN in torch (0·(−inf)), 0 here."""
    lq = np.array([[-np.inf, 0.0]])
    y = np.array([[0.0, 1.0]])
    assert np.isnan(F.kl_div(torch.as_tensor(lq), torch.as_tensor(y), reduction="sum").item())
    assert ce.kl_divergence(lq, y, kind="log_probs", reduction="sum") == 0.0


def test_kl_inf_where_model_gives_zero():
    y = np.array([[0.5, 0.5]])
    q = np.array([[1.0, 0.0]])
    assert ce.kl_divergence(q, y, kind="probs") == np.inf


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_decompose_identity(rng, eps):
    """P3: CE = H + KL per example and after every reduction, with weights and smoothing."""
    y = _dist(rng, 8, 5)
    x = rng.normal(size=(8, 5))
    w = rng.uniform(0.2, 2, size=5)
    sw = rng.uniform(0.2, 2, size=8)
    for red in ("none", "sum", "mean"):
        d = ce.decompose(x, y, weight=w, sample_weight=sw, label_smoothing=eps, reduction=red)
        assert_close(d.cross_entropy, np.asarray(d.entropy) + np.asarray(d.kl))
        assert_close(
            d.cross_entropy,
            ce.cross_entropy(x, y, weight=w, sample_weight=sw, label_smoothing=eps, reduction=red),
        )
    hard = rng.integers(0, 5, size=8)
    d = ce.decompose(x, hard)
    assert float(d.entropy) == 0.0
    assert_close(d.kl, d.cross_entropy)


def test_cross_entropy_minimised_at_target_not_one_hot(rng):
    """For a soft target the minimum over q of CE(y, q) is at q = y, where CE = H(y)."""
    y = np.array([[0.7, 0.2, 0.1]])
    at_target = ce.cross_entropy(np.log(y), y)
    assert_close(at_target, ce.entropy(y)[0])
    for _ in range(20):
        other = rng.normal(size=(1, 3))
        assert ce.cross_entropy(other, y) >= at_target
    sharp = np.log(np.array([[0.98, 0.01, 0.01]]))
    assert ce.cross_entropy(sharp, y) > at_target


def test_bits_and_perplexity_bases(rng):
    x = rng.normal(size=(10, 4))
    y = rng.integers(0, 4, size=10)
    nats = ce.cross_entropy(x, y)
    assert_close(ce.cross_entropy(x, y, base=2), nats / math.log(2))
    assert_close(ce.perplexity(x, y), 2 ** ce.cross_entropy(x, y, base=2))
    with pytest.raises(ValueError, match="base"):
        ce.entropy(softmax(x, axis=-1), base=1)


def test_perplexity_overflow_is_inf_not_error():
    x = np.array([[0.0, 800.0]])
    with np.errstate(over="ignore"):
        assert ce.perplexity(x, np.array([0])) == np.inf
