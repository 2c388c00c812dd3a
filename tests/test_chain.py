"""The chain against its oracles: PyTorch, scikit-learn, SciPy and the float64 reference."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.special import log_softmax, softmax
from sklearn.metrics import log_loss

import crossentropy as ce

from oracles import assert_close, ref_cross_entropy, ref_terms, to_np


def _data(rng, n=7, c=5, dtype=np.float64):
    x = rng.normal(size=(n, c)).astype(dtype) * 3
    y = rng.integers(0, c, size=n)
    return x, y


# ---------------------------------------------------------------- identities of the chain


@pytest.mark.parametrize("soft", [False, True])
def test_chain_identities(rng, impl, soft):
    x, y = _data(rng, 11, 4)
    if soft:
        y = softmax(rng.normal(size=x.shape), axis=-1)
    sw = rng.uniform(0.1, 2.0, size=11)
    kw = dict(sample_weight=sw, impl=impl)
    ll = ce.log_likelihood(x, y, **kw)
    nll = ce.nll(x, y, **kw)
    cross = ce.cross_entropy(x, y, **kw)
    lik = ce.likelihood(x, y, **kw)
    terms = ce.loss_terms(x, y, **kw)
    assert_close(nll, -ll)
    assert_close(lik, np.exp(ll))
    assert_close(cross, nll / terms.weight.sum())
    assert_close(ce.perplexity(x, y, **kw), np.exp(cross))
    assert_close(ce.cross_entropy(x, y, base=2, **kw), cross / math.log(2))
    assert_close(ce.nll(x, y, reduction="none", **kw), terms.loss)
    assert_close(ce.log_prob(x, y, impl=impl), -ref_terms(x, y)[0])
    assert_close(ce.likelihood(x, y, reduction="mean", **kw), np.exp(-cross))


def test_likelihood_underflows_where_log_likelihood_does_not():
    # 0.5 per example: the float64 product 2^-n is subnormal until n = 1074, then 0.0.
    half = np.full((1100, 2), 0.5)
    y = np.zeros(1100, dtype=int)
    assert float(ce.likelihood(half[:1074], y[:1074], kind="probs")) == 2.0**-1074
    assert float(ce.likelihood(half, y, kind="probs")) == 0.0
    assert_close(ce.log_likelihood(half, y, kind="probs"), -1100 * math.log(2))


# ---------------------------------------------------------------- PyTorch grid


def _torch_ce(x, y, **kw):
    return F.cross_entropy(torch.as_tensor(x), torch.as_tensor(y), **kw).numpy()


GRID = list(
    itertools.product(
        ["mean", "sum", "none"],
        [None, "weights"],
        [False, True],  # ignore some rows
        [0.0, 0.15],
    )
)


@pytest.mark.parametrize("reduction,weights,ignore,eps", GRID)
def test_index_targets_equal_torch(rng, impl, reduction, weights, ignore, eps):
    x, y = _data(rng, 9, 5)
    if ignore:
        y[[1, 4]] = -100
    w = rng.uniform(0.2, 3.0, size=5) if weights else None
    ours = ce.cross_entropy(x, y, reduction=reduction, weight=w, label_smoothing=eps, impl=impl)
    theirs = _torch_ce(
        x,
        y,
        reduction=reduction,
        weight=None if w is None else torch.as_tensor(w),
        label_smoothing=eps,
    )
    assert_close(ours, theirs)
    assert_close(ours, ref_cross_entropy(x, y, reduction=reduction, weight=w, label_smoothing=eps))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_kdim_axis1_equals_torch(rng, impl, reduction, eps):
    x = rng.normal(size=(2, 3, 5, 4))
    y = rng.integers(0, 3, size=(2, 5, 4))
    y[0, 1, 2] = -100
    w = np.array([0.5, 1.0, 2.0])
    ours = ce.cross_entropy(
        x, y, axis=1, reduction=reduction, weight=w, label_smoothing=eps, impl=impl
    )
    theirs = _torch_ce(x, y, reduction=reduction, weight=torch.as_tensor(w), label_smoothing=eps)
    assert_close(ours, theirs)
    # axis=1 equals moving the class axis last
    last = ce.cross_entropy(
        np.moveaxis(x, 1, -1), y, reduction=reduction, weight=w, label_smoothing=eps, impl=impl
    )
    assert_close(ours, last)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_probability_targets_equal_torch_without_weights(rng, impl, reduction, eps):
    x = rng.normal(size=(6, 4))
    y = softmax(rng.normal(size=(6, 4)), axis=-1)
    ours = ce.cross_entropy(x, y, reduction=reduction, label_smoothing=eps, impl=impl)
    assert_close(ours, _torch_ce(x, y, reduction=reduction, label_smoothing=eps))


def test_probability_targets_with_weights_torch_divisor(rng, impl):
    """PyTorch divides by N for probability targets with class weights; divide_by='count' reproduces it."""
    x = rng.normal(size=(6, 4))
    y = softmax(rng.normal(size=(6, 4)), axis=-1)
    w = np.array([0.1, 1.0, 2.0, 5.0])
    theirs = _torch_ce(x, y, weight=torch.as_tensor(w))
    assert_close(ce.cross_entropy(x, y, weight=w, divide_by="count", impl=impl), theirs)
    # our default divides by Σ_i Σ_c w_c y_ic, so that the one-hot case equals index targets
    assert_close(ce.cross_entropy(x, y, weight=w, impl=impl), ref_cross_entropy(x, y, weight=w))


def test_index_equals_one_hot(rng, impl):
    """With class weights, smoothing and ignored rows, an index target = its one-hot distribution."""
    x, y = _data(rng, 10, 6)
    y[3] = -100
    onehot = np.zeros((10, 6))
    keep = y != -100
    onehot[np.arange(10)[keep], y[keep]] = 1.0
    w = rng.uniform(0.1, 2.0, size=6)
    for eps, sm in [(0.0, "uniform"), (0.3, "uniform"), (0.3, "others")]:
        for red in ["mean", "sum", "none"]:
            a = ce.cross_entropy(
                x, y, weight=w, label_smoothing=eps, smoothing=sm, reduction=red, impl=impl
            )
            b = ce.cross_entropy(
                x, onehot, weight=w, label_smoothing=eps, smoothing=sm, reduction=red, impl=impl
            )
            assert_close(a, b)
    # PyTorch's two paths disagree here (pytorch/pytorch#107680): ours agrees with its index path
    assert_close(
        ce.cross_entropy(x, y, weight=w, impl=impl), _torch_ce(x, y, weight=torch.as_tensor(w))
    )


def test_smoothing_identity(rng, impl):
    """P16: CE_ε = (1−ε)·CE + ε·mean_c(−log q_c) for the uniform formula."""
    x, y = _data(rng, 8, 5)
    eps = 0.25
    lq = log_softmax(x, axis=-1)
    expected = (1 - eps) * -lq[np.arange(8), y] + eps * (-lq).mean(-1)
    assert_close(ce.cross_entropy(x, y, label_smoothing=eps, reduction="none", impl=impl), expected)


def test_smoothing_others_formula(rng, impl):
    x, y = _data(rng, 8, 5)
    eps = 0.25
    lq = log_softmax(x, axis=-1)
    target = np.full((8, 5), eps / 4)
    target[np.arange(8), y] = 1 - eps
    expected = -(target * lq).sum(-1)
    got = ce.cross_entropy(
        x, y, label_smoothing=eps, smoothing="others", reduction="none", impl=impl
    )
    assert_close(got, expected)


def test_nll_loss_log_probs_equals_torch(rng):
    x, y = _data(rng, 8, 5)
    lq = log_softmax(x, axis=-1)
    w = rng.uniform(0.5, 2.0, size=5)
    theirs = F.nll_loss(torch.as_tensor(lq), torch.as_tensor(y), weight=torch.as_tensor(w)).numpy()
    assert_close(ce.cross_entropy(lq, y, kind="log_probs", weight=w), theirs)


# ---------------------------------------------------------------- scikit-learn


def test_log_loss_equals_sklearn(rng):
    p = softmax(rng.normal(size=(20, 4)), axis=-1)
    y = rng.integers(0, 4, size=20)
    sw = rng.uniform(0.1, 3.0, size=20)
    assert_close(ce.cross_entropy(p, y, kind="probs"), log_loss(y, p, labels=range(4)))
    assert_close(
        ce.cross_entropy(p, y, kind="probs", sample_weight=sw),
        log_loss(y, p, labels=range(4), sample_weight=sw),
    )
    assert_close(ce.nll(p, y, kind="probs"), log_loss(y, p, labels=range(4), normalize=False))


def test_zero_probability_of_observed_class_is_inf_not_clipped():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    y = np.array([1, 0])
    assert ce.cross_entropy(p, y, kind="probs", reduction="none")[0] == np.inf
    # sklearn clips to eps and returns a finite number; we return the true answer
    assert np.isfinite(log_loss(y, p, labels=[0, 1]))
    assert ce.cross_entropy(p, y, kind="probs") == np.inf


# ---------------------------------------------------------------- reductions, empty, weights


def test_empty_policies(impl):
    x = np.zeros((3, 4))
    y = np.full(3, -100)
    with pytest.warns(ce.EmptyReductionWarning):
        assert np.isnan(ce.cross_entropy(x, y, impl=impl))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(ce.cross_entropy(x, y, empty="zero", impl=impl)) == 0.0
        assert float(ce.cross_entropy(x, y, reduction="sum", impl=impl)) == 0.0
    with pytest.raises(ValueError, match="empty='raise'"):
        ce.cross_entropy(x, y, empty="raise", impl=impl)
    e = np.zeros((0, 4))
    with pytest.warns(ce.EmptyReductionWarning, match="N = 0"):
        assert np.isnan(ce.cross_entropy(e, np.zeros(0, dtype=int), impl=impl))
    assert ce.cross_entropy(e, np.zeros(0, dtype=int), reduction="none", impl=impl).shape == (0,)
    # PyTorch agrees on NaN for the all-ignored mean
    assert np.isnan(_torch_ce(x, y))


def test_sample_weight_equals_repetition(rng, impl):
    x, y = _data(rng, 6, 3)
    reps = np.array([1, 2, 0, 3, 1, 1])
    a = ce.cross_entropy(x, y, sample_weight=reps.astype(float), impl=impl)
    b = ce.cross_entropy(np.repeat(x, reps, axis=0), np.repeat(y, reps), impl=impl)
    assert_close(a, b)


def test_masking_equals_slicing(rng, impl):
    """P10: ignore_index = removing the rows; ignored rows with ±inf/NaN logits stay 0."""
    x, y = _data(rng, 10, 4)
    keep = rng.random(10) < 0.6
    keep[0] = True
    y2 = np.where(keep, y, -100)
    x2 = x.copy()
    x2[~keep] = np.nan
    x2[np.flatnonzero(~keep)[:1]] = np.inf
    assert_close(ce.cross_entropy(x2, y2, impl=impl), ce.cross_entropy(x[keep], y[keep], impl=impl))
    none = ce.cross_entropy(x2, y2, reduction="none", impl=impl)
    assert np.all(none[~keep] == 0)


def test_sklearn_weight_invariances(rng):
    x, y = _data(rng, 12, 3)
    sw = rng.uniform(0.5, 2, size=12)
    base = ce.cross_entropy(x, y, sample_weight=sw)
    assert_close(ce.cross_entropy(x, y, sample_weight=sw * 2.0), base)
    assert_close(ce.cross_entropy(x, y, sample_weight=sw * 0.3), base)
    assert_close(ce.cross_entropy(x, y, sample_weight=list(sw)), base)
    assert_close(
        ce.cross_entropy(x, y, sample_weight=None),
        ce.cross_entropy(x, y, sample_weight=np.ones(12)),
    )


# ---------------------------------------------------------------- dtypes and namespaces


def test_float16_and_bfloat16_computed_in_float32(rng):
    x, y = _data(rng, 16, 5)
    out = ce.cross_entropy(x.astype(np.float16), y)
    assert out.dtype == np.float32
    tx = torch.as_tensor(x).to(torch.bfloat16)
    out_t = ce.cross_entropy(tx, torch.as_tensor(y))
    assert out_t.dtype == torch.float32
    # error vs float64 no worse than PyTorch's own bf16 computation + tol (CCE's method)
    truth = ref_cross_entropy(x, y)
    ours = abs(float(out_t) - truth)
    theirs = abs(float(F.cross_entropy(tx, torch.as_tensor(y)).float()) - truth)
    naive_input_err = abs(ref_cross_entropy(tx.float().numpy(), y) - truth)
    assert ours <= max(theirs, naive_input_err) + 1e-2


def test_every_function_on_every_backend(backend):
    name, conv = backend
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 3))
    y = rng.integers(0, 3, size=5)
    soft = softmax(rng.normal(size=(5, 3)), axis=-1)
    xs, ys, ss = conv(x), conv(y), conv(soft)
    checks = {
        "log_prob": (ce.log_prob(xs, ys), ce.log_prob(x, y)),
        "nll": (ce.nll(xs, ys), ce.nll(x, y)),
        "log_likelihood": (ce.log_likelihood(xs, ys), ce.log_likelihood(x, y)),
        "likelihood": (ce.likelihood(xs, ys), ce.likelihood(x, y)),
        "cross_entropy": (
            ce.cross_entropy(xs, ss, reduction="none"),
            ce.cross_entropy(x, soft, reduction="none"),
        ),
        "perplexity": (ce.perplexity(xs, ys), ce.perplexity(x, y)),
        "entropy": (ce.entropy(ss), ce.entropy(soft)),
        "kl": (ce.kl_divergence(xs, ss), ce.kl_divergence(x, soft)),
        "decompose": (ce.decompose(xs, ss).kl, ce.decompose(x, soft).kl),
        "grad": (ce.cross_entropy_grad(xs, ys), ce.cross_entropy_grad(x, y)),
        "bce": (ce.binary_cross_entropy(xs, ss), ce.binary_cross_entropy(x, soft)),
        "bce_grad": (ce.binary_cross_entropy_grad(xs, ss), ce.binary_cross_entropy_grad(x, soft)),
        "to_log_probs": (ce.to_log_probs(xs), ce.to_log_probs(x)),
    }
    for key, (got, want) in checks.items():
        assert type(got).__module__.split(".")[0] == type(xs).__module__.split(".")[0], key
        assert_close(to_np(got), want)


def test_validate_false_out_of_range_target_gives_nan_row(impl):
    """With validation off nothing is checked, but a bad index never yields a plausible number."""
    x = np.zeros((3, 4))
    y = np.array([1, 7, -3])
    out = ce.cross_entropy(x, y, reduction="none", validate=False, impl=impl)
    assert out[0] == pytest.approx(math.log(4)) and np.isnan(out[1]) and np.isnan(out[2])
    g = ce.cross_entropy_grad(x, y, reduction="sum", validate=False, impl=impl)
    assert np.all(np.isfinite(g[0])) and np.all(np.isnan(g[1:]))
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\].*value 7"):
        ce.cross_entropy(x, y, impl=impl)


def test_huge_equal_logits_keep_every_digit(impl):
    """(x − M) − log S, never x − (M + log S): at |x| = 1e30 the latter rounds log 2 away."""
    for dtype in (np.float32, np.float64):
        x = np.array([[1e30, 1e30], [-1e30, -1e30]], dtype=dtype)
        y = np.array([0, 1])
        assert_close(ce.cross_entropy(x, y, reduction="none", impl=impl), [math.log(2)] * 2, dtype)
        assert_close(
            ce.cross_entropy_grad(x, y, reduction="sum", impl=impl),
            [[-0.5, 0.5], [0.5, -0.5]],
            dtype,
        )


def test_double_softmax_warning_only_when_every_row_is_a_distribution():
    p = softmax(np.random.default_rng(0).normal(size=(6, 4)), axis=-1)
    y = np.arange(6) % 4
    with pytest.warns(ce.DoubleSoftmaxWarning, match="double softmax"):
        ce.cross_entropy(p, y)
    mixed = p.copy()
    mixed[3] = [2.0, -1.0, 0.5, 0.0]  # a later row is not a distribution: these may well be logits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ce.cross_entropy(mixed, y)
        ce.cross_entropy(mixed[::-1], y)
