"""Hypothesis property tests of the core (P1–P7, P10–P17, P19 of the property list).

Every property is checked in float32 and float64 and, where the function takes
``impl=``, under both implementations (the ``impl`` fixture). Values are compared
with the independent float64 references of ``oracles.py`` (and SciPy / PyTorch
side by side) evaluated on the *same* array the library received.

Tolerance policy (``oracles.TOL``): fp64 rtol 1e-12, fp32 rtol 1e-5 / atol 1e-6,
plus an absolute allowance of ``8·eps·|x|`` where ``|x|`` is the largest finite
magnitude of the row's logits (or of the shift). The loss of a row has a gradient
of 1-norm ≤ 2 with respect to its logits, so a backward-stable evaluation in the
input's dtype may be off by about ``2·eps·|x|``: with logits of ±1e4 in float32
that is ~2e-3 and no implementation can promise better. The allowance is zero for
small logits, where the plain policy applies.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import logsumexp as sp_logsumexp
from scipy.special import softmax as sp_softmax

import crossentropy as ce
from crossentropy.special import logsumexp

from oracles import TOL, ref_entropy, ref_grad_logits, ref_reduce, ref_terms

pytestmark = pytest.mark.filterwarnings("ignore::crossentropy.CrossEntropyWarning")

SETTINGS = settings(
    max_examples=int(os.environ.get("CE_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
DTYPES = [np.float32, np.float64]
dtypes = pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])


# --------------------------------------------------------------------------- tolerance


def _eps(dtype) -> float:
    return float(np.finfo(dtype).eps)


def row_scale(x) -> np.ndarray:
    """Largest finite |x| per row (class axis last); 0 for a row without finite values."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    a = np.where(np.isfinite(a), a, 0.0)
    if a.shape[-1] == 0:
        return np.zeros(a.shape[:-1])
    return a.max(axis=-1)


def check(actual, expected, dtype, scale=0.0, *, what="", check_dtype=True):
    """|a − e| ≤ atol + 8·eps·scale + rtol·|e| elementwise (TOL[dtype]); NaN/±inf must match.

    Also checks the shape, and that the result was computed in ``dtype``.
    """
    if check_dtype and hasattr(actual, "dtype"):
        got = actual.dtype
        if isinstance(got, torch.dtype):
            assert got == getattr(torch, np.dtype(dtype).name), (what, got, dtype)
        else:
            assert np.dtype(got) == np.dtype(dtype), (what, got, dtype)
    a = np.asarray(to_np(actual), dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (what, a.shape, e.shape)
    tol = TOL[np.dtype(dtype)]
    atol = tol["atol"] + 8 * _eps(dtype) * np.asarray(scale, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = (np.isnan(a) & np.isnan(e)) | (np.isinf(a) & (a == e))
        finite = np.isfinite(a) & np.isfinite(e)
        ok |= finite & (np.abs(a - e) <= atol + tol["rtol"] * np.abs(e))
    if not np.all(ok):
        bad = np.argwhere(~ok) if a.ndim else [()]
        i = tuple(bad[0])
        raise AssertionError(
            f"{what}: {int((~ok).sum())} mismatches; first at {i}: actual {a[i]!r}, expected {e[i]!r} "
            f"(dtype {np.dtype(dtype).name})"
        )


def to_np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------- strategies


def _floats(bound=1e4):
    return st.floats(-bound, bound, width=32, allow_subnormal=False)


@st.composite
def logits(
    draw,
    dtype,
    *,
    min_n=0,
    max_n=6,
    min_c=1,
    max_c=6,
    neginf=True,
    extreme=True,
    bound=1e4,
    n=None,
    c=None,
):
    """(N, C) logits in [−bound, bound]; optionally −inf injected in cells or whole rows, and ±1e30."""
    n = draw(st.integers(min_n, max_n)) if n is None else n
    c = draw(st.integers(min_c, max_c)) if c is None else c
    x = np.array(draw(hnp.arrays(dtype, (n, c), elements=_floats(bound))))
    if n * c:
        if neginf and draw(st.booleans()):
            x[draw(hnp.arrays(np.bool_, (n, c)))] = -np.inf
            if draw(st.booleans()):  # a whole row of −inf: no distribution (NaN)
                x[draw(st.integers(0, n - 1))] = -np.inf
        if extreme and draw(st.booleans()):
            x[draw(hnp.arrays(np.bool_, (n, c)))] = draw(st.sampled_from([1e30, -1e30]))
    return x


@st.composite
def labels(draw, n, c, *, ignore=True, ignore_index=-100):
    t = np.array(draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))))
    if ignore and n and draw(st.booleans()):
        t[draw(hnp.arrays(np.bool_, (n,)))] = ignore_index
    return t


@st.composite
def soft_labels(draw, n, c, dtype, *, zeros=True):
    """Non-negative rows normalised to 1 (in float64, then cast), with exact zeros."""
    raw = np.array(
        draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0.0, 1.0, allow_subnormal=False)))
    )
    if zeros and n * c:
        raw[draw(hnp.arrays(np.bool_, (n, c)))] = 0.0
    for i in range(n):
        if not raw[i].sum() > 1e-30:
            raw[i] = 0.0
            raw[i, draw(st.integers(0, c - 1))] = 1.0
    y = raw / raw.sum(-1, keepdims=True) if n else raw
    return y.astype(dtype)


def finite_label_rows(x, t):
    """Labels moved onto a finite logit of their row (where the row has one)."""
    t = t.copy()
    for i, k in enumerate(t):
        if k >= 0 and not np.isfinite(x[i, k]):
            fin = np.flatnonzero(np.isfinite(x[i]))
            if fin.size:
                t[i] = fin[0]
    return t


def onehot(t, c, dtype):
    y = np.zeros((t.shape[0], c), dtype=dtype)
    for i, k in enumerate(t):
        if k >= 0:
            y[i, k] = 1
    return y


# --------------------------------------------------------------------------- P1


@dtypes
@SETTINGS
@given(data=st.data())
def test_p1_cross_entropy_nonnegative_hard(impl, dtype, data):
    x = data.draw(logits(dtype))
    n, c = x.shape
    t = data.draw(labels(n, c))
    out = ce.cross_entropy(x, t, reduction="none", impl=impl)
    assert out.dtype == dtype and out.shape == (n,)
    out = np.asarray(out, dtype=np.float64)
    all_neginf = np.all(x == -np.inf, axis=-1) & (t != -100)
    assert np.all(np.isnan(out) == all_neginf), (x, t, out)
    ok = out[~all_neginf] >= -c * _eps(dtype) * (1 + row_scale(x)[~all_neginf])
    assert np.all(ok), (x, t, out)


@dtypes
@SETTINGS
@given(data=st.data())
def test_p1_soft_labels_kl_entropy_bounds(dtype, data):
    x = data.draw(logits(dtype, min_n=1, extreme=False))
    n, c = x.shape
    y = data.draw(soft_labels(n, c, dtype))
    d = ce.decompose(x, y, reduction="none")
    rows_ok = ~np.all(x == -np.inf, axis=-1)
    slack = c * _eps(dtype) * (1 + row_scale(x))
    cross = np.asarray(d.cross_entropy, dtype=np.float64)
    kl = np.asarray(d.kl, dtype=np.float64)
    assert np.all(cross[rows_ok] >= -slack[rows_ok]), cross
    assert np.all(kl[rows_ok] >= -slack[rows_ok]), kl
    # KL(p ‖ p) = 0 and 0 ≤ H(p) ≤ log C
    p = y
    self_kl = ce.kl_divergence(p, p, kind="probs", reduction="none")
    check(self_kl, np.zeros(n), dtype, what="KL(p‖p)")
    h = np.asarray(ce.entropy(p), dtype=np.float64)
    assert h.shape == (n,)
    assert np.all(h >= -c * _eps(dtype)) and np.all(h <= math.log(c) + c * 10 * _eps(dtype)), h
    check(ce.entropy(p), ref_entropy(p), dtype, what="entropy vs reference")


# --------------------------------------------------------------------------- P2


@dtypes
@SETTINGS
@given(data=st.data())
def test_p2_hard_label_is_nll_of_true_class(impl, dtype, data):
    x = data.draw(logits(dtype))
    n, c = x.shape
    t = data.draw(labels(n, c))
    out = ce.cross_entropy(x, t, reduction="none", impl=impl)
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        lsm = sp_log_softmax(x64, axis=-1) if n else np.zeros((0, c))
    expected = np.array([0.0 if k == -100 else -lsm[i, k] for i, k in enumerate(t)])
    check(out, expected, dtype, row_scale(x), what="CE(hard) vs −log_softmax[y]")
    check(ce.log_prob(x, t, impl=impl), -expected, dtype, row_scale(x), what="log_prob")
    # PyTorch side by side (float64, the same input)
    ref_t = torch.nn.functional.cross_entropy(
        torch.as_tensor(x64), torch.as_tensor(t), reduction="none", ignore_index=-100
    )
    check(out, ref_t.numpy(), dtype, row_scale(x), what="CE vs torch")


@dtypes
@SETTINGS
@given(data=st.data())
def test_p2_index_equals_one_hot_with_weights(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1))
    n, c = x.shape
    t = data.draw(labels(n, c))
    w = np.array(
        data.draw(
            hnp.arrays(dtype, (c,), elements=st.floats(0.0, 3.0, width=32, allow_subnormal=False))
        )
    )
    s = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 3.0, width=32, allow_subnormal=False))
        )
    )
    y = onehot(t, c, dtype)
    scale = row_scale(x) * 9
    for red in ("none", "sum", "mean"):
        a = ce.cross_entropy(x, t, weight=w, sample_weight=s, reduction=red, impl=impl)
        b = ce.cross_entropy(x, y, weight=w, sample_weight=s, reduction=red, impl=impl)
        sc = scale if red == "none" else scale.sum() if red == "sum" else scale.max() * 10
        check(a, to_np(b), dtype, sc, what=f"index vs one-hot, {red}")
        exp = ref_reduce(*ref_terms(x, t, weight=w, sample_weight=s), red)
        check(a, np.asarray(exp), dtype, sc, what=f"index vs reference, {red}")


# --------------------------------------------------------------------------- P3


@dtypes
@SETTINGS
@given(data=st.data())
def test_p3_cross_entropy_is_entropy_plus_kl(dtype, data):
    x = data.draw(logits(dtype, extreme=False))
    n, c = x.shape
    y = data.draw(soft_labels(n, c, dtype))
    d = ce.decompose(x, y, reduction="none")
    scale = row_scale(x) + 1
    check(d.cross_entropy, to_np(d.entropy) + to_np(d.kl), dtype, scale, what="CE = H + KL per row")
    check(d.entropy, ref_entropy(y), dtype, what="H vs reference")
    check(d.cross_entropy, ref_terms(x, y)[0], dtype, scale, what="CE vs reference")
    check(
        ce.cross_entropy(x, y, reduction="none"),
        ref_terms(x, y)[0],
        dtype,
        scale,
        what="cross_entropy",
    )
    if n and np.all(np.isfinite(to_np(d.kl))):
        m = ce.decompose(x, y)
        check(
            m.cross_entropy,
            float(to_np(m.entropy)) + float(to_np(m.kl)),
            dtype,
            scale.max(),
            what="CE = H + KL after the mean",
        )


# --------------------------------------------------------------------------- P4


@dtypes
@SETTINGS
@given(data=st.data())
def test_p4_shift_invariance(impl, dtype, data):
    x = data.draw(logits(dtype, extreme=False))
    n, c = x.shape
    t = data.draw(labels(n, c))
    base = ce.cross_entropy(x, t, reduction="none", impl=impl)
    gb = ce.cross_entropy_grad(x, t, reduction="sum", impl=impl)
    for shift in (-1e3, 1e3, 1e4):
        xs = (x + dtype(shift)).astype(dtype)  # the shifted input, rounded in its own dtype
        shifted = ce.cross_entropy(xs, t, reduction="none", impl=impl)
        # against the float64 reference evaluated on the SAME shifted array
        check(
            shifted, ref_terms(xs, t)[0], dtype, row_scale(xs), what=f"CE(x + {shift}) vs reference"
        )
        # invariance: equal up to the rounding of x + c in the input dtype
        allowance = 2 * (row_scale(x) + abs(shift))
        check(shifted, to_np(base), dtype, allowance, what=f"CE(x + {shift}) = CE(x)")
        gs = ce.cross_entropy_grad(xs, t, reduction="sum", impl=impl)
        check(
            gs,
            to_np(gb),
            dtype,
            allowance[:, None] * np.ones((1, c)),
            what=f"gradient, shift {shift}",
        )


# --------------------------------------------------------------------------- P5


@dtypes
@SETTINGS
@given(
    data=st.data(),
    eps_=st.sampled_from([0.0, 0.1, 0.7]),
    smoothing=st.sampled_from(["uniform", "others"]),
)
def test_p5_gradient_closed_form(impl, dtype, data, eps_, smoothing):
    x = data.draw(logits(dtype, min_c=2))
    n, c = x.shape
    t = finite_label_rows(x, data.draw(labels(n, c)))
    # rows with a −inf somewhere are fine when smoothing is 0; with smoothing the target has mass
    # everywhere (loss +inf), so keep those rows finite there
    if eps_:
        x = np.where(np.isfinite(x), x, dtype(-7.0))
    w = np.array(
        data.draw(
            hnp.arrays(dtype, (c,), elements=st.floats(0.0, 2.0, width=32, allow_subnormal=False))
        )
    )
    s = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 2.0, width=32, allow_subnormal=False))
        )
    )
    kw = dict(label_smoothing=eps_, smoothing=smoothing)
    for red in ("mean", "sum"):
        for opts in ({}, {"weight": w, "sample_weight": s}):
            g = ce.cross_entropy_grad(x, t, reduction=red, impl=impl, **kw, **opts)
            exp = ref_grad_logits(x, t, reduction=red, **kw, **opts)
            den = 1.0
            if red == "mean":
                ww = ref_terms(x, t, **kw, **opts)[1].sum()
                den = ww if ww else 1.0
            sc = (1 + row_scale(x)[:, None]) * np.ones((1, c)) * 16 / den
            check(g, exp, dtype, sc, what=f"gradient vs reference {red} {sorted(opts)}")
            allneg = np.all(x == -np.inf, axis=-1)
            if not opts and not np.any(allneg):
                # rows of a normalised target sum to 0
                rs = to_np(g).astype(np.float64).sum(-1)
                check(
                    rs,
                    np.zeros(n),
                    dtype,
                    8 * c / den,
                    what="gradient rows sum to 0",
                    check_dtype=False,
                )
    # the textbook form: softmax − ((1−ε)·onehot + ε/C), ÷ count for the mean
    if smoothing == "uniform" and not np.any(np.all(x == -np.inf, axis=-1)):
        valid = t != -100
        g = ce.cross_entropy_grad(x, t, reduction="mean", label_smoothing=eps_, impl=impl)
        with np.errstate(all="ignore"):
            q = sp_softmax(x.astype(np.float64), axis=-1) if n else np.zeros((0, c))
        target = (1 - eps_) * onehot(t, c, np.float64) + eps_ / c
        exp = np.where(valid[:, None], q - target, 0.0) / max(int(valid.sum()), 1)
        check(g, exp, dtype, 4 / max(int(valid.sum()), 1), what="softmax − y'")


@SETTINGS
@given(data=st.data(), eps_=st.sampled_from([0.0, 0.2]))
def test_p5_gradient_matches_autograd_and_finite_differences(impl, data, eps_):
    x = data.draw(
        logits(
            np.float64, min_n=1, max_n=3, min_c=2, max_c=4, neginf=False, extreme=False, bound=20.0
        )
    )
    n, c = x.shape
    t = data.draw(labels(n, c))
    w = np.array(data.draw(hnp.arrays(np.float64, (c,), elements=st.floats(0.1, 2.0))))
    g = ce.cross_entropy_grad(x, t, weight=w, label_smoothing=eps_, impl=impl)
    xt = torch.tensor(x, requires_grad=True)
    if np.any(t != -100):
        loss = torch.nn.functional.cross_entropy(
            xt, torch.as_tensor(t), weight=torch.as_tensor(w), label_smoothing=eps_
        )
        loss.backward()
        check(g, xt.grad.numpy(), np.float64, 4, what="gradient vs torch autograd")

    def f(z):
        return float(
            ce.cross_entropy(z, t, weight=w, label_smoothing=eps_, impl=impl, empty="zero")
        )

    h = 1e-6
    fd = np.zeros_like(x)
    for i in range(n):
        for j in range(c):
            zp, zm = x.copy(), x.copy()
            zp[i, j] += h
            zm[i, j] -= h
            fd[i, j] = (f(zp) - f(zm)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_p5_gradient_with_subnormal_class_weight(impl):
    # float32, weight[0] = 2e−39 (subnormal): mean gradient = s·w0·(q − onehot) / (s·w0) = q − onehot
    # = [−½, ½] exactly representable; dividing by the tiny Σw first overflows to ±inf
    x = np.zeros((1, 2), dtype=np.float32)
    w = np.array([2e-39, 1.0], dtype=np.float32)
    g = ce.cross_entropy_grad(x, np.array([0]), weight=w, impl=impl)
    check(g, [[-0.5, 0.5]], np.float32, what="gradient with a subnormal class weight")
    check(
        ce.cross_entropy(x, np.array([0]), weight=w, impl=impl),
        math.log(2),
        np.float32,
        what="loss",
    )


def test_p5_gradient_zero_coefficient_row_is_exactly_zero(impl):
    # class weights all zero: every a_ic = 0, so ℓ_i ≡ 0 and Σw = 0 (the all-masked rule: exact zero
    # gradient), even for a row of −inf logits whose softmax is NaN
    x = np.array([[0.0, 0.0], [-np.inf, -np.inf]])
    t = np.array([0, 0])
    w = np.zeros(2)
    assert ce.cross_entropy(x, t, weight=w, reduction="none", impl=impl).tolist() == [0.0, 0.0]
    for red in ("mean", "sum"):
        g = ce.cross_entropy_grad(x, t, weight=w, reduction=red, empty="zero", impl=impl)
        assert g.tolist() == [[0.0, 0.0], [0.0, 0.0]], (red, g)


# --------------------------------------------------------------------------- P6


@dtypes
@SETTINGS
@given(data=st.data())
def test_p6_binary_equals_two_class_softmax_and_softplus(dtype, data):
    shape = data.draw(st.tuples(st.integers(0, 5), st.integers(1, 3)))
    x = np.array(data.draw(hnp.arrays(dtype, shape, elements=_floats(1e4))))
    y = np.array(
        data.draw(
            hnp.arrays(dtype, shape, elements=st.floats(0.0, 1.0, width=32, allow_subnormal=False))
        )
    )
    b = ce.binary_cross_entropy(x, y, reduction="none")
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    expected = np.logaddexp(0.0, x64) - y64 * x64  # softplus(x) − y·x
    scale = np.abs(x64) + 1
    check(b, expected, dtype, scale, what="BCE = softplus(x) − y·x")
    two = ce.cross_entropy(
        np.stack([np.zeros_like(x), x], axis=-1), np.stack([1 - y, y], axis=-1), reduction="none"
    )
    check(b, to_np(two), dtype, scale, what="BCE = CE([0, x], [1 − y, y])")
    if x.size:
        check(ce.binary_cross_entropy(x, y), expected.mean(), dtype, scale.max(), what="BCE mean")


@dtypes
@SETTINGS
@given(data=st.data())
def test_p6_binary_probs_matches_logits_away_from_saturation(dtype, data):
    n = data.draw(st.integers(1, 8))
    x = np.array(data.draw(hnp.arrays(dtype, (n,), elements=st.floats(-6, 6, width=32))))
    y = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 1.0, width=32, allow_subnormal=False))
        )
    )
    p = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dtype)  # sigmoid ∈ (0.0024, 0.9976)
    p64 = p.astype(np.float64)
    from_p = ce.binary_cross_entropy(p, y, kind="probs", reduction="none")
    exp_p = -(y * np.log(p64) + (1 - y) * np.log1p(-p64))
    check(from_p, exp_p, dtype, what="BCE(probs) vs formula")
    from_x = ce.binary_cross_entropy(x, y, reduction="none")
    # the rounding of p in its dtype moves log(1 − p) by up to eps/(1 − p)
    check(
        from_p,
        to_np(from_x),
        dtype,
        2 / np.minimum(p64, 1 - p64) + np.abs(x),
        what="BCE(probs) = BCE(logits)",
    )


def test_p6_binary_extreme_logits():
    x = np.array([1e9, -1e9])
    assert float(ce.binary_cross_entropy(x, np.array([0.0, 0.0]))) == 5e8
    assert float(ce.binary_cross_entropy(x, np.array([1.0, 0.0]))) == 0.0
    inf = np.array([np.inf, -np.inf, np.inf, -np.inf])
    out = ce.binary_cross_entropy(inf, np.array([1.0, 0.0, 0.0, 1.0]), reduction="none")
    assert not np.any(np.isnan(out))
    assert out.tolist() == [0.0, 0.0, np.inf, np.inf]
    g = ce.binary_cross_entropy_grad(inf[:2], np.array([1.0, 0.0]))
    assert not np.any(np.isnan(g)) and g.tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- P7


@dtypes
@SETTINGS
@given(data=st.data())
def test_p7_chain_identities(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1, neginf=False, extreme=False, bound=30.0))
    n, c = x.shape
    t = data.draw(labels(n, c, ignore=False))
    x64 = x.astype(np.float64)
    log_true = sp_log_softmax(x64, axis=-1)[np.arange(n), t]
    mean_nll = -log_true.mean()
    sc = row_scale(x).max() + 1
    cross = ce.cross_entropy(x, t, impl=impl)
    check(cross, mean_nll, dtype, sc, what="CE mean")
    check(
        ce.likelihood(x, t, reduction="mean", impl=impl),
        np.exp(log_true.mean()),
        dtype,
        sc,
        what="likelihood mean = geometric mean of p_true",
    )
    check(
        ce.likelihood(x, t, reduction="none", impl=impl),
        np.exp(log_true),
        dtype,
        sc,
        what="likelihood per example",
    )
    ll = ce.log_likelihood(x, t, impl=impl)
    check(ll, -to_np(ce.nll(x, t, impl=impl)), dtype, what="log_likelihood = −nll")
    check(
        np.asarray(to_np(ll)) / n,
        -float(to_np(cross)),
        dtype,
        sc,
        what="log_likelihood = −n·CE (as sum/n)",
    )
    check(ll / n, log_true.sum() / n, dtype, sc, what="log_likelihood vs reference (sum/n)")
    check(ce.perplexity(x, t, impl=impl), np.exp(mean_nll), dtype, sc * 10, what="perplexity")
    check(
        ce.perplexity(x, t, reduction="none", impl=impl),
        np.exp(-log_true),
        dtype,
        sc * 10,
        what="per-example perplexity",
    )


@dtypes
def test_p7_perplexity_overflow_is_inf_not_an_error(impl, dtype):
    # mean NLL ≈ 1e4: exp overflows in both dtypes; computed in log space it is +inf, silently
    x = np.array([[0.0, 1e4], [1e4, 0.0]], dtype=dtype)
    t = np.array([0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert float(ce.perplexity(x, t, impl=impl)) == math.inf
        assert float(ce.likelihood(x, t, impl=impl)) == 0.0
        assert float(ce.cross_entropy(x, t, impl=impl)) == 1e4


# --------------------------------------------------------------------------- P10


@dtypes
@SETTINGS
@given(data=st.data())
def test_p10_ignored_rows_equal_removing_them(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1))
    n, c = x.shape
    t = data.draw(labels(n, c))
    t = finite_label_rows(x, t)
    keep = t != -100
    # poison the ignored rows: whatever they hold must not matter
    poison = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    xp = x.copy()
    xp[~keep] = poison
    sc = row_scale(x)
    for red in ("sum", "mean"):
        full = ce.cross_entropy(xp, t, reduction=red, impl=impl)
        sub = ce.cross_entropy(x[keep], t[keep], reduction=red, impl=impl)
        check(full, to_np(sub), dtype, sc.sum() + sc.max(), what=f"ignore = removal ({red})")
    none = np.asarray(ce.cross_entropy(xp, t, reduction="none", impl=impl))
    assert np.all(none[~keep] == 0.0)
    g = np.asarray(ce.cross_entropy_grad(xp, t, impl=impl))
    assert np.all(g[~keep] == 0.0), g
    gs = ce.cross_entropy_grad(x[keep], t[keep], impl=impl)
    check(g[keep], to_np(gs), dtype, 4, what="gradient of kept rows")
    # sample_weight = 0 is the same mask
    s = keep.astype(dtype)
    t2 = np.where(keep, t, 0)
    check(
        ce.cross_entropy(xp, t2, sample_weight=s, impl=impl),
        to_np(ce.cross_entropy(x[keep], t[keep], impl=impl)),
        dtype,
        sc.max(),
        what="s = 0 mask",
    )
    assert np.all(
        np.asarray(ce.cross_entropy_grad(xp, t2, sample_weight=s, impl=impl))[~keep] == 0.0
    )


# --------------------------------------------------------------------------- P11


@dtypes
@SETTINGS
@given(data=st.data())
def test_p11_reductions_and_additivity(impl, dtype, data):
    x = data.draw(logits(dtype))
    n, c = x.shape
    t = data.draw(labels(n, c))
    s = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 3.0, width=32, allow_subnormal=False))
        )
    )
    none = to_np(ce.cross_entropy(x, t, sample_weight=s, reduction="none", impl=impl)).astype(
        np.float64
    )
    total = ce.cross_entropy(x, t, sample_weight=s, reduction="sum", impl=impl)
    cnt = max(n, 1)
    check(
        to_np(total) / cnt,
        none.sum() / cnt,
        dtype,
        (row_scale(x) * 3).sum() / cnt,
        what="sum = Σ none (÷ n)",
    )
    terms = ce.loss_terms(x, t, sample_weight=s, impl=impl)
    check(terms.loss, none, dtype, row_scale(x) * 3, what="loss_terms.loss = none")
    wsum = float(np.sum(to_np(terms.weight), dtype=np.float64))
    mean = ce.cross_entropy(x, t, sample_weight=s, impl=impl)
    exp_mean = none.sum() / wsum if wsum else np.nan
    check(mean, exp_mean, dtype, (row_scale(x) * 3).sum() / (wsum or 1), what="mean = sum / Σw")
    exp_w, _ = ref_terms(x, t, sample_weight=s)[1], None
    check(terms.weight, exp_w, dtype, what="w_i vs reference")
    # additive across a split of the batch
    k = data.draw(st.integers(0, n))
    a = ce.loss_terms(x[:k], t[:k], sample_weight=s[:k], impl=impl)
    b = ce.loss_terms(x[k:], t[k:], sample_weight=s[k:], impl=impl)
    check(
        np.concatenate([to_np(a.loss), to_np(b.loss)]),
        to_np(terms.loss),
        dtype,
        row_scale(x) * 3,
        what="split loss terms",
    )
    check(
        np.concatenate([to_np(a.weight), to_np(b.weight)]),
        to_np(terms.weight),
        dtype,
        what="split weights",
    )


# --------------------------------------------------------------------------- P12


@dtypes
@SETTINGS
@given(data=st.data())
def test_p12_sample_and_class_permutation(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1))
    n, c = x.shape
    t = data.draw(labels(n, c))
    w = np.array(
        data.draw(
            hnp.arrays(dtype, (c,), elements=st.floats(0.125, 3.0, width=32, allow_subnormal=False))
        )
    )
    perm = np.array(data.draw(st.permutations(range(n))), dtype=np.int64)
    cperm = np.array(
        data.draw(st.permutations(range(c))), dtype=np.int64
    )  # new column j = old cperm[j]
    inv = np.argsort(cperm)
    base_none = to_np(ce.cross_entropy(x, t, weight=w, reduction="none", impl=impl))
    sc = row_scale(x) * 4
    # sample order
    check(
        ce.cross_entropy(x[perm], t[perm], weight=w, impl=impl),
        to_np(ce.cross_entropy(x, t, weight=w, impl=impl)),
        dtype,
        sc.sum(),
        what="sample order",
    )
    # class permutation with remapped labels and weights
    t2 = np.where(t == -100, t, inv[np.where(t == -100, 0, t)])
    out = ce.cross_entropy(x[:, cperm], t2, weight=w[cperm], reduction="none", impl=impl)
    check(out, base_none, dtype, sc, what="class permutation")
    g = to_np(ce.cross_entropy_grad(x, finite_label_rows(x, t), weight=w, impl=impl))
    g2 = ce.cross_entropy_grad(
        x[:, cperm],
        np.where(t == -100, t, inv[np.where(t == -100, 0, finite_label_rows(x, t))]),
        weight=w[cperm],
        impl=impl,
    )
    check(g2, g[:, cperm], dtype, 4 * np.ones((n, c)), what="class permutation of the gradient")


# --------------------------------------------------------------------------- P13


@dtypes
@SETTINGS
@given(data=st.data())
def test_p13_appending_a_neginf_class_changes_nothing(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1, extreme=False))
    n, c = x.shape
    t = finite_label_rows(x, data.draw(labels(n, c)))
    pos = data.draw(st.integers(0, c))
    xa = np.insert(x, pos, -np.inf, axis=1).astype(dtype)
    ta = np.where((t != -100) & (t >= pos), t + 1, t)
    sc = row_scale(x)
    check(
        ce.cross_entropy(xa, ta, reduction="none", impl=impl),
        to_np(ce.cross_entropy(x, t, reduction="none", impl=impl)),
        dtype,
        sc,
        what="loss with −inf class",
    )
    g = to_np(ce.cross_entropy_grad(x, t, impl=impl))
    ga = np.asarray(ce.cross_entropy_grad(xa, ta, impl=impl))
    rows = ~np.all(x == -np.inf, axis=-1)  # an all −inf row has no distribution: NaN throughout
    assert np.all(ga[rows, pos] == 0.0), ga  # the new class's own gradient is exactly 0
    check(np.delete(ga, pos, axis=1), g, dtype, 4 * np.ones((n, c)), what="other gradients")
    # soft targets: zero mass on the new class
    y = data.draw(soft_labels(n, c, dtype))
    y = np.where(np.isfinite(x), y, 0).astype(dtype)
    ya = np.insert(y, pos, 0.0, axis=1).astype(dtype)
    check(
        ce.cross_entropy(xa, ya, reduction="none", impl=impl),
        to_np(ce.cross_entropy(x, y, reduction="none", impl=impl)),
        dtype,
        sc,
        what="soft target",
    )


# --------------------------------------------------------------------------- P14


@dtypes
@SETTINGS
@given(data=st.data())
def test_p14_monotone_in_true_and_wrong_logits(impl, dtype, data):
    x = data.draw(logits(dtype, min_n=1, min_c=2, neginf=False, extreme=False, bound=5.0))
    n, c = x.shape
    t = data.draw(labels(n, c, ignore=False))
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, c - 1).filter(lambda k: k != t[i]))
    base = np.asarray(ce.cross_entropy(x, t, reduction="none", impl=impl))
    up = x.copy()
    up[i, t[i]] += 1
    wrong = x.copy()
    wrong[i, j] += 1
    assert np.asarray(ce.cross_entropy(up, t, reduction="none", impl=impl))[i] < base[i]
    assert np.asarray(ce.cross_entropy(wrong, t, reduction="none", impl=impl))[i] > base[i]


# --------------------------------------------------------------------------- P15


@dtypes
@SETTINGS
@given(data=st.data())
def test_p15_logsumexp_bounds_and_reference(dtype, data):
    x = data.draw(logits(dtype, min_n=1, neginf=True, extreme=True))
    n, c = x.shape
    out = logsumexp(x, axis=-1)
    assert out.dtype == dtype
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        ref = sp_logsumexp(x64, axis=-1)
    check(out, ref, dtype, row_scale(x), what="logsumexp vs SciPy")
    m = x64.max(-1)
    o = np.asarray(out, dtype=np.float64)
    fin = np.isfinite(m)
    slack = 4 * _eps(dtype) * (np.abs(m) + 1)
    assert np.all(o[fin] >= m[fin] - slack[fin])
    assert np.all(o[fin] <= m[fin] + math.log(c) + slack[fin])
    assert np.all(o[~fin] == m[~fin])  # all −inf → −inf


def test_p15_logsumexp_scipy_edge_cases():
    # values derived by hand: log(e^a + e^a) = a + log 2, log(n e^a) = a + log n
    assert float(logsumexp(np.array([1000.0, 1000.0]))) == pytest.approx(
        1000 + math.log(2), rel=1e-15
    )
    assert float(logsumexp(np.full(1000, 10000.0))) == pytest.approx(
        10000 + math.log(1000), rel=1e-15
    )
    tiny = np.full(10**6, math.log(1e-40))
    assert float(logsumexp(tiny)) == pytest.approx(math.log(1e-40) + math.log(1e6), rel=1e-12)
    assert float(logsumexp(np.array([-np.inf, -np.inf]))) == -np.inf
    assert float(logsumexp(np.array([np.inf, 0.0]))) == np.inf
    assert np.isnan(float(logsumexp(np.array([np.nan, 0.0]))))
    mixed = np.array([[1e10, 1e-10], [-1e10, -np.inf]])
    np.testing.assert_array_equal(logsumexp(mixed, axis=-1), sp_logsumexp(mixed, axis=-1))
    np.testing.assert_array_equal(logsumexp(mixed, axis=0), sp_logsumexp(mixed, axis=0))
    # an empty slice is the log of an empty sum: −inf (SciPy's convention)
    assert float(logsumexp(np.zeros(0))) == -np.inf


# --------------------------------------------------------------------------- P16


@dtypes
@SETTINGS
@given(data=st.data(), eps_=st.floats(0.0, 1.0))
def test_p16_label_smoothing_identity(impl, dtype, data, eps_):
    x = data.draw(logits(dtype, neginf=False))
    n, c = x.shape
    t = data.draw(labels(n, c))
    s = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 2.0, width=32, allow_subnormal=False))
        )
    )
    sm = ce.cross_entropy(x, t, label_smoothing=eps_, reduction="none", impl=impl)
    plain = to_np(ce.cross_entropy(x, t, reduction="none", impl=impl)).astype(np.float64)
    with np.errstate(all="ignore"):
        mean_nll = -(sp_log_softmax(x.astype(np.float64), axis=-1).mean(-1) if n else np.zeros(0))
    valid = t != -100
    exp = np.where(valid, (1 - eps_) * plain + eps_ * mean_nll, 0.0)
    sc = row_scale(x) * 2
    check(sm, exp, dtype, sc, what="CE_ε = (1 − ε)·CE + ε·mean_c(−log q_c)")
    for smoothing in ("uniform", "others"):
        if smoothing == "others" and c < 2:
            continue
        kw = dict(label_smoothing=eps_, smoothing=smoothing, sample_weight=s)
        idx = ce.cross_entropy(x, t, reduction="none", impl=impl, **kw)
        y = onehot(t, c, np.float64)
        if smoothing == "uniform":
            ys = (1 - eps_) * y + eps_ * y.sum(-1, keepdims=True) / c
        else:
            ys = (1 - eps_) * y + eps_ * (y.sum(-1, keepdims=True) - y) / (c - 1)
        ys = ys.astype(dtype)
        soft = ce.cross_entropy(x, ys, sample_weight=s, reduction="none", impl=impl)
        check(
            idx,
            to_np(soft),
            dtype,
            sc * 2,
            what=f"index smoothing = smoothed one-hot ({smoothing})",
        )
        check(
            idx,
            ref_terms(x, t, **kw)[0],
            dtype,
            sc * 2,
            what=f"smoothing vs reference ({smoothing})",
        )
        mi = ce.cross_entropy(x, t, impl=impl, **kw)
        ms = ce.cross_entropy(x, ys, sample_weight=s, impl=impl)
        check(
            mi,
            to_np(ms),
            dtype,
            sc.sum() + 1,
            what=f"mean, index vs smoothed one-hot ({smoothing})",
        )


# --------------------------------------------------------------------------- P17


@dtypes
@SETTINGS
@given(data=st.data())
def test_p17_input_kinds_agree(impl, dtype, data):
    x = data.draw(logits(dtype, min_c=2, neginf=False, extreme=False, bound=20.0))
    n, c = x.shape
    t = data.draw(labels(n, c))
    x64 = x.astype(np.float64)
    with np.errstate(all="ignore"):
        p = (sp_softmax(x64, axis=-1) if n else np.zeros((0, c))).astype(dtype)
        lp = (sp_log_softmax(x64, axis=-1) if n else np.zeros((0, c))).astype(dtype)
    a = ce.cross_entropy(x, t, reduction="none", impl=impl)
    other = impl if impl == "array_api" else "auto"  # the fused kernels take logits only
    b = ce.cross_entropy(p, t, kind="probs", reduction="none", impl=other)
    cc = ce.cross_entropy(lp, t, kind="log_probs", reduction="none", impl=other)
    sc = row_scale(x) * 2 + 2
    check(b, to_np(a), dtype, sc, what="CE(probs = softmax) = CE(logits)")
    check(cc, to_np(a), dtype, sc, what="CE(log_probs = log_softmax) = CE(logits)")
    y = data.draw(soft_labels(n, c, dtype))
    check(
        ce.cross_entropy(p, y, kind="probs", reduction="none"),
        to_np(ce.cross_entropy(x, y, reduction="none")),
        dtype,
        sc,
        what="soft target, probs vs logits",
    )


@dtypes
def test_p17_flags_where_probabilities_underflow(dtype):
    # softmax([0, −200])[1] = e^−200 ≈ 1.4e−87: representable in float64, below float32's smallest
    # subnormal (1.4e−45). In float32 the probs path sees p = 0 and gives +inf, the true loss of
    # what it was given, while the logits path keeps 200: this is where the kinds part ways.
    x = np.array([[0.0, -200.0]], dtype=dtype)
    p = sp_softmax(x.astype(np.float64), axis=-1).astype(dtype)
    t = np.array([1])
    from_logits = float(ce.cross_entropy(x, t))
    from_probs = float(ce.cross_entropy(p, t, kind="probs"))
    assert from_logits == pytest.approx(200.0, rel=1e-6)
    if p[0, 1] == 0:  # float32: the probability underflowed; the logits path keeps the answer
        assert from_probs == math.inf
    else:
        assert from_probs == pytest.approx(200.0, rel=1e-12)


# --------------------------------------------------------------------------- P19


def _snapshot(arrs):
    return [
        None if a is None else (type(a), to_np(a).tobytes(), tuple(a.shape), str(a.dtype))
        for a in arrs
    ]


@pytest.mark.parametrize("lib", ["numpy", "torch"])
@dtypes
@SETTINGS
@given(data=st.data())
def test_p19_inputs_are_never_written(impl, lib, dtype, data):
    if lib == "torch" and impl != "array_api":
        pytest.skip("impl= selects NumPy kernels; torch inputs always take the array-API path")
    x = data.draw(logits(dtype, min_n=1, min_c=2))
    n, c = x.shape
    t = data.draw(labels(n, c))
    y = data.draw(soft_labels(n, c, dtype))
    w = np.array(
        data.draw(
            hnp.arrays(dtype, (c,), elements=st.floats(0.0, 2.0, width=32, allow_subnormal=False))
        )
    )
    s = np.array(
        data.draw(
            hnp.arrays(dtype, (n,), elements=st.floats(0.0, 2.0, width=32, allow_subnormal=False))
        )
    )
    p = sp_softmax(np.where(np.isfinite(x), x, -5).astype(np.float64), axis=-1).astype(dtype)
    p[0, 0] = 1 + _eps(dtype)  # inside the 10·eps tolerance: set to the bound, but never in place
    bx = np.array(data.draw(hnp.arrays(dtype, (n, c), elements=_floats(50))))
    by = (
        np.array(data.draw(hnp.arrays(np.float64, (n, c), elements=st.floats(0, 1)))) > 0.5
    ).astype(dtype)
    conv = (lambda a: torch.as_tensor(a)) if lib == "torch" else (lambda a: a)
    X, T, Y, W, S, P, BX, BY = (conv(a.copy()) for a in (x, t, y, w, s, p, bx, by))
    inputs = [X, T, Y, W, S, P, BX, BY]
    before = _snapshot(inputs)
    kw_impl = dict(impl=impl) if lib == "numpy" else {}
    calls = [
        lambda: ce.cross_entropy(X, T, weight=W, sample_weight=S, label_smoothing=0.1, **kw_impl),
        lambda: ce.cross_entropy(X, Y, weight=W, sample_weight=S, reduction="none", **kw_impl),
        lambda: ce.cross_entropy_grad(
            X, T, weight=W, sample_weight=S, label_smoothing=0.1, **kw_impl
        ),
        lambda: ce.cross_entropy_grad(X, Y, reduction="sum", **kw_impl),
        lambda: ce.cross_entropy_grad(P, T, kind="probs"),
        lambda: ce.log_prob(X, T, **kw_impl),
        lambda: ce.nll(P, T, kind="probs"),
        lambda: ce.likelihood(X, T, **kw_impl),
        lambda: ce.log_likelihood(X, T, sample_weight=S, **kw_impl),
        lambda: ce.perplexity(X, T, **kw_impl),
        lambda: ce.decompose(X, Y, weight=W),
        lambda: ce.kl_divergence(P, Y, kind="probs"),
        lambda: ce.entropy(P),
        lambda: ce.binary_cross_entropy(BX, BY, sample_weight=S, pos_weight=W[:1]),
        lambda: ce.binary_cross_entropy_grad(BX, BY, focal_gamma=2.0),
        lambda: logsumexp(X),
    ]
    for call in calls:
        call()
        assert _snapshot(inputs) == before


# --------------------------------------------------------------------------- P11: the weights' scale


@dtypes
@SETTINGS
@given(
    data=st.data(),
    k_sample=st.integers(-1020, 1020),
    k_class=st.integers(-1020, 1020),
    eps_=st.sampled_from([0.0, 0.2]),
)
def test_p11_weighted_mean_invariant_to_the_weights_scale(
    impl, dtype, data, k_sample, k_class, eps_
):
    # sklearn's weight-scaling invariance, pushed to float64's range: a mean Σℓ/Σw (and its
    # gradient) does not change when the sample weights or the class weights are multiplied by a
    # power of two, however far it takes them from the compute dtype's range (§4). The weights
    # are drawn in [1/2, 2] (or 0), so every scaled weight stays a normal float64 number.
    x = data.draw(logits(dtype, min_c=2, neginf=False, extreme=False))
    n, c = x.shape
    t = data.draw(labels(n, c))
    pos = st.one_of(st.just(0.0), st.floats(0.5, 2.0))
    w = np.array(data.draw(hnp.arrays(np.float64, (c,), elements=pos)))
    s = np.array(data.draw(hnp.arrays(np.float64, (n,), elements=pos)))
    fs, fc = 2.0**k_sample, 2.0**k_class
    kw = dict(label_smoothing=eps_, impl=impl)
    base = ce.cross_entropy(x, t, weight=w, sample_weight=s, **kw)
    scaled = ce.cross_entropy(x, t, weight=w * fc, sample_weight=s * fs, **kw)
    check(scaled, to_np(base), dtype, what="mean with scaled weights")
    g_base = ce.cross_entropy_grad(x, t, weight=w, sample_weight=s, **kw)
    g_scaled = ce.cross_entropy_grad(x, t, weight=w * fc, sample_weight=s * fs, **kw)
    check(g_scaled, to_np(g_base), dtype, what="mean gradient with scaled weights")
    # divide_by="count" divides by Σ s: the sample weights' scale cancels there too
    count = dict(divide_by="count", **kw)
    cnt = ce.cross_entropy(x, t, weight=w, sample_weight=s * fs, **count)
    check(cnt, to_np(ce.cross_entropy(x, t, weight=w, sample_weight=s, **count)), dtype)
