"""Distillation (docs/semantics.md §13): values and gradients against independent references.

References, each written from a definition rather than from the module under test:

- a float64 NumPy/SciPy reference of §13 (``scipy.special.rel_entr`` is ``x log(x/y)`` with
  ``0 log 0 = 0``);
- PyTorch: ``F.kl_div`` (with and without ``log_target``) and torch autograd of a float64 torch
  transcription of the same formulas (the gradient reference);
- optax ``kl_divergence`` / ``convex_kl_divergence`` and Liger's JSD kernel, transcribed from
  their published formulas (neither library is installed here);
- central finite differences of the NumPy value (every kind of student input).
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import rel_entr

import crossentropy as ce
from crossentropy import distillation_grad, distillation_loss

pytestmark = pytest.mark.filterwarnings("ignore::crossentropy.CrossEntropyWarning")

SETTINGS = settings(
    max_examples=int(os.environ.get("CE_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

N, C = 7, 5
#: (direction, beta) pairs: the two KLs and the JSD at both endpoints and inside
DIRECTIONS = [
    ("forward", 0.5),
    ("reverse", 0.5),
    ("jsd", 0.0),
    ("jsd", 0.3),
    ("jsd", 0.5),
    ("jsd", 1.0),
]
MASKS = ["none", "labels", "labels+weights"]


def _problem(seed=0, n=N, c=C):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(n, c)) * 2.0
    t = rng.normal(size=(n, c)) * 2.0
    labels = rng.integers(0, c, size=n)
    labels[[1, 4]] = -100
    w = rng.uniform(0.2, 2.0, size=n)
    w[2] = 0.0
    return s, t, labels, w


def _mask_kwargs(mask, labels, w):
    if mask == "none":
        return {}
    if mask == "labels":
        return {"labels": labels}
    return {"labels": labels, "sample_weight": w}


# ----------------------------------------------------------------------------- references


def ref_rows(s, t, direction, beta, temperature):
    """D_i of §13 in float64 (SciPy), endpoints of the JSD as the two KLs."""
    p = np.exp(sp_log_softmax(np.asarray(t, np.float64) / temperature, axis=-1))
    q = np.exp(sp_log_softmax(np.asarray(s, np.float64) / temperature, axis=-1))
    if direction == "jsd" and beta == 0.0:
        direction = "forward"
    if direction == "jsd" and beta == 1.0:
        direction = "reverse"
    if direction == "forward":
        return rel_entr(p, q).sum(-1)
    if direction == "reverse":
        return rel_entr(q, p).sum(-1)
    m = beta * p + (1 - beta) * q
    return (beta * rel_entr(p, m) + (1 - beta) * rel_entr(q, m)).sum(-1)


def ref_loss(s, t, *, direction, beta, temperature, reduction, labels=None, sample_weight=None,
             scale_by_t2=True):  # fmt: skip
    d = ref_rows(s, t, direction, beta, temperature)
    keep = np.ones(len(d), bool) if labels is None else labels != -100
    w = np.ones(len(d)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    w = np.where(keep, w, 0.0)
    loss = np.where(w > 0, w * (temperature**2 if scale_by_t2 else 1.0) * d, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / w.sum()


def torch_ref_loss(
    s, t, *, direction, beta, temperature, reduction, labels=None, sample_weight=None
):
    """The same in float64 torch, through ``F.kl_div`` (TRL's way of writing the JSD)."""
    lq = torch.log_softmax(s / temperature, -1)
    lp = torch.log_softmax(t / temperature, -1)
    if direction == "jsd" and beta == 0.0:
        direction = "forward"
    if direction == "jsd" and beta == 1.0:
        direction = "reverse"
    if direction == "forward":
        d = F.kl_div(lq, lp, reduction="none", log_target=True).sum(-1)
    elif direction == "reverse":
        d = F.kl_div(lp, lq, reduction="none", log_target=True).sum(-1)
    else:
        lm = torch.logsumexp(torch.stack([lp + math.log(beta), lq + math.log(1 - beta)]), 0)
        d = beta * F.kl_div(lm, lp, reduction="none", log_target=True).sum(-1) + (
            1 - beta
        ) * F.kl_div(lm, lq, reduction="none", log_target=True).sum(-1)
    keep = torch.ones(d.shape, dtype=torch.bool) if labels is None else labels != -100
    w = torch.ones_like(d) if sample_weight is None else sample_weight
    w = torch.where(keep, w, torch.zeros_like(w))
    loss = torch.where(w > 0, w * temperature**2 * d, torch.zeros_like(d))
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.sum() / w.sum()


def _close(actual, expected, rtol=1e-12, atol=1e-14):
    a = np.asarray(actual.detach() if hasattr(actual, "detach") else actual, dtype=np.float64)
    np.testing.assert_allclose(a, np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- the grid


@pytest.mark.parametrize("direction,beta", DIRECTIONS)
@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("mask", MASKS)
def test_values_and_gradients_against_float64_references(
    direction, beta, temperature, reduction, mask
):
    s, t, labels, w = _problem()
    kw = dict(direction=direction, beta=beta, temperature=temperature, reduction=reduction)
    mk = _mask_kwargs(mask, labels, w)
    ours = distillation_loss(s, t, **kw, **mk)
    _close(ours, ref_loss(s, t, **kw, **mk))

    # gradient: torch autograd of the independent torch formula, float64
    st_ = torch.tensor(s, requires_grad=True)
    tk = {k: torch.as_tensor(v) for k, v in mk.items()}
    ref = torch_ref_loss(st_, torch.tensor(t), **kw, **tk)
    go = np.linspace(0.5, 1.5, N) if reduction == "none" else 0.7
    ref.backward(torch.as_tensor(go, dtype=torch.float64))
    g = distillation_grad(s, t, **kw, **mk, grad_output=go)
    _close(g, st_.grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("direction,beta", DIRECTIONS)
def test_torch_tensors_autograd_through_the_loss_equals_the_closed_form(direction, beta):
    s, t, labels, w = _problem(1)
    st_ = torch.tensor(s, requires_grad=True)
    kw = dict(direction=direction, beta=beta, temperature=1.7, labels=torch.as_tensor(labels))
    loss = distillation_loss(st_, torch.tensor(t), sample_weight=torch.as_tensor(w), **kw)
    assert isinstance(loss, torch.Tensor) and loss.dtype == torch.float64
    loss.backward()
    g = distillation_grad(s, t, sample_weight=w, **{**kw, "labels": labels})
    _close(st_.grad, g, rtol=1e-11, atol=1e-14)


def test_jsd_endpoints_are_the_two_kls_and_the_limits_of_the_scaled_jsd():
    s, t, _, _ = _problem(2)
    fwd = distillation_loss(s, t, reduction="none")
    rev = distillation_loss(s, t, direction="reverse", reduction="none")
    _close(distillation_loss(s, t, direction="jsd", beta=0.0, reduction="none"), fwd)
    _close(distillation_loss(s, t, direction="jsd", beta=1.0, reduction="none"), rev)
    assert np.all(np.abs(fwd - rev) > 1e-3)  # the two directions are different numbers
    # the convention: β is the teacher's share, JSD_β ≈ β·KL(p‖q) near 0 and (1−β)·KL(q‖p) near 1
    eps = 1e-6
    near0 = distillation_loss(s, t, direction="jsd", beta=eps, reduction="none") / eps
    near1 = distillation_loss(s, t, direction="jsd", beta=1 - eps, reduction="none") / eps
    _close(near0, fwd, rtol=1e-4)
    _close(near1, rev, rtol=1e-4)


def test_a_swapped_mixture_is_a_different_number():
    """The pre-fix TRL/Liger mixture β·student + (1−β)·teacher differs except at β = ½."""
    s, t, _, _ = _problem(3)
    p = np.exp(sp_log_softmax(t, -1))
    q = np.exp(sp_log_softmax(s, -1))
    for beta in (0.2, 0.5):
        swapped = beta * q + (1 - beta) * p
        old = (beta * rel_entr(p, swapped) + (1 - beta) * rel_entr(q, swapped)).sum(-1)
        ours = distillation_loss(s, t, direction="jsd", beta=beta, reduction="none")
        if beta == 0.5:
            _close(ours, old)
        else:
            assert np.all(np.abs(ours - old) > 1e-4)


# ----------------------------------------------------------------------------- peers


def test_torch_kl_div_routes():
    s, t, _, _ = _problem(4)
    T = 2.0
    lq = torch.log_softmax(torch.tensor(s) / T, -1)
    lp = torch.log_softmax(torch.tensor(t) / T, -1)
    plain = dict(temperature=T, scale_by_t2=False, reduction="sum")
    _close(distillation_loss(s, t, **plain), F.kl_div(lq, lp.exp(), reduction="sum"))
    _close(distillation_loss(s, t, **plain), F.kl_div(lq, lp, reduction="sum", log_target=True))
    _close(
        distillation_loss(s, t, direction="reverse", **plain),
        F.kl_div(lp, lq, reduction="sum", log_target=True),
    )
    hinton = F.kl_div(lq, lp.exp(), reduction="batchmean") * T**2
    _close(distillation_loss(s, t, temperature=T), hinton)


def optax_kl_divergence(log_predictions, targets):
    """optax.kl_divergence: ``Σ targets · (where(targets == 0, 0, log targets) − log_predictions)``."""
    with np.errstate(all="ignore"):
        log_t = np.where(targets == 0, 0.0, np.log(targets))
        return np.sum(targets * (log_t - log_predictions), axis=-1)


def optax_convex_kl_divergence(log_predictions, targets):
    """optax.convex_kl_divergence: ``kl_divergence + Σ (exp(log_predictions) − targets)``."""
    return optax_kl_divergence(log_predictions, targets) + np.sum(
        np.exp(log_predictions) - targets, axis=-1
    )


def test_optax_routes_and_their_nan_at_zero_times_minus_inf():
    s, t, _, _ = _problem(5)
    lq = sp_log_softmax(s, -1)
    p = np.exp(sp_log_softmax(t, -1))
    ours = distillation_loss(s, t, reduction="none", scale_by_t2=False)
    _close(ours, optax_kl_divergence(lq, p))
    _close(ours, optax_convex_kl_divergence(lq, p), rtol=1e-12, atol=1e-13)
    # a class where p = 0 and log q = −inf: optax gives NaN, we give 0·log 0 = 0
    s2 = np.array([[0.0, 1.0, -np.inf]])
    t2 = np.array([[0.5, 0.0, -np.inf]])
    assert np.isnan(optax_kl_divergence(sp_log_softmax(s2, -1), np.exp(sp_log_softmax(t2, -1)))[0])
    _close(
        distillation_loss(s2, t2, reduction="none"),
        ref_rows(s2[:, :2], t2[:, :2], "forward", 0.5, 1.0),
    )


def liger_jsd(X, Y, labels, beta, ignore_index=-100):
    """Liger's ``_jsd_kernel`` (X = log Q student, Y = log P teacher): ``(loss_sum, dX)`` / n_non_ignore."""
    keep = labels != ignore_index
    n = keep.sum()
    Q, P = np.exp(X), np.exp(Y)
    if beta == 0.0:
        loss, dX = P * (Y - X), -P
    elif beta == 1.0:
        loss = Q * (X - Y)
        dX = loss + Q
    else:
        M = beta * P + (1 - beta) * Q
        logM = np.log(M)
        loss = beta * P * Y + (1 - beta) * Q * X - M * logM
        dX = (1 - beta) * Q * (X - logM)
    loss = np.where(keep[:, None], loss, 0.0) / n
    dX = np.where(keep[:, None], dX, 0.0) / n
    return loss.sum(), dX


@pytest.mark.parametrize("beta", [0.0, 0.3, 0.5, 1.0])
def test_liger_jsd_value_and_gradient_with_log_prob_inputs(beta):
    s, t, labels, _ = _problem(6)
    X, Y = sp_log_softmax(s, -1), sp_log_softmax(t, -1)
    want, dX = liger_jsd(X, Y, labels, beta)
    kw = dict(direction="jsd", beta=beta, kind_student="log_probs", kind_teacher="log_probs")
    _close(distillation_loss(X, Y, labels=labels, **kw), want)
    _close(distillation_grad(X, Y, labels=labels, **kw), dX, rtol=1e-11, atol=1e-15)


# ----------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("direction,beta", [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.3)])
@pytest.mark.parametrize("kind", ["logits", "log_probs", "probs"])
@pytest.mark.parametrize("temperature", [1.0, 1.8])
def test_gradient_equals_central_finite_differences(direction, beta, kind, temperature):
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(3, 4))
    x = {"logits": logits, "log_probs": sp_log_softmax(logits, -1),
         "probs": np.exp(sp_log_softmax(logits, -1))}[kind]  # fmt: skip
    t = rng.normal(size=(3, 4))
    kw = dict(direction=direction, beta=beta, temperature=temperature, kind_student=kind,
              sample_weight=np.array([1.0, 0.5, 2.0]), validate=False)  # fmt: skip
    g = distillation_grad(x, t, **kw)
    h = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fd[idx] = (distillation_loss(x + e, t, **kw) - distillation_loss(x - e, t, **kw)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- masks and zeros


@pytest.mark.parametrize("direction,beta", DIRECTIONS)
@pytest.mark.parametrize("kind", ["logits", "log_probs", "probs"])
def test_masked_rows_with_inf_and_nan_give_exact_zeros(direction, beta, kind):
    s, t, labels, w = _problem(8)
    if kind != "logits":
        s, t = sp_log_softmax(s, -1), sp_log_softmax(t, -1)
        if kind == "probs":
            s, t = np.exp(s), np.exp(t)
    bad = [np.nan, np.inf, -np.inf, 1e300, -1e300]
    s[1] = bad  # labels[1] == -100
    t[4] = bad[::-1]  # labels[4] == -100
    s[2, 0] = np.nan  # sample_weight[2] == 0
    kw = dict(direction=direction, beta=beta, kind_student=kind, kind_teacher=kind,
              labels=labels, sample_weight=w, temperature=1.3)  # fmt: skip
    per = distillation_loss(s, t, reduction="none", **kw)
    assert np.all(per[[1, 2, 4]] == 0.0) and np.all(np.isfinite(per))
    g = distillation_grad(s, t, **kw)
    assert np.all(g[[1, 2, 4]] == 0.0) and np.all(np.isfinite(g))
    # the same through torch autograd of the loss itself: no NaN leaks from the masked rows
    st_ = torch.tensor(s, requires_grad=True)
    tk = {**kw, "labels": torch.as_tensor(labels), "sample_weight": torch.as_tensor(w)}
    distillation_loss(st_, torch.tensor(t), **tk).backward()
    assert torch.all(st_.grad[[1, 2, 4]] == 0) and bool(torch.isfinite(st_.grad).all())
    _close(st_.grad, g, rtol=1e-11, atol=1e-15)
    # masking equals removing the rows (P10)
    keep = np.array([0, 3, 5, 6])
    sub = dict(kw, labels=labels[keep], sample_weight=w[keep])
    _close(distillation_loss(s, t, **kw), distillation_loss(s[keep], t[keep], **sub))


@pytest.mark.parametrize("direction,beta", DIRECTIONS)
def test_classes_with_zero_mass_in_both_contribute_nothing_in_value_and_gradient(direction, beta):
    """P13: a class that is −inf in both leaves the loss and the other gradients unchanged."""
    s, t, _, _ = _problem(9)
    s2 = np.concatenate([s[:, :2], np.full((N, 1), -np.inf), s[:, 2:]], axis=1)
    t2 = np.concatenate([t[:, :2], np.full((N, 1), -np.inf), t[:, 2:]], axis=1)
    kw = dict(direction=direction, beta=beta, reduction="none")
    _close(distillation_loss(s2, t2, **kw), distillation_loss(s, t, **kw))
    g = distillation_grad(s2, t2, direction=direction, beta=beta)
    assert np.all(g[:, 2] == 0.0)
    _close(np.delete(g, 2, axis=1), distillation_grad(s, t, direction=direction, beta=beta))
    st_ = torch.tensor(s2, requires_grad=True)  # autograd through the value: no NaN either
    distillation_loss(st_, torch.tensor(t2), direction=direction, beta=beta).backward()
    assert bool(torch.isfinite(st_.grad).all()) and torch.all(st_.grad[:, 2] == 0)


def test_infinite_divergences_are_the_true_answer():
    s = np.array([[0.0, -np.inf]])  # q = (1, 0)
    t = np.array([[0.0, 0.0]])  # p = (½, ½)
    assert distillation_loss(s, t) == np.inf  # the teacher has mass where the student has none
    assert np.isclose(distillation_loss(s, t, direction="reverse"), math.log(2))
    _close(distillation_grad(s, t), [[0.5, -0.5]])  # forward: q − p, finite
    jsd = distillation_loss(s, t, direction="jsd", beta=0.5)
    assert 0 < jsd <= math.log(2)  # the JSD is bounded by h(β)


# ----------------------------------------------------------------------------- reductions


def test_empty_policy_and_zero_gradient():
    s, t, _, _ = _problem(10)
    labels = np.full(N, -100)
    with pytest.warns(ce.EmptyReductionWarning):
        assert np.isnan(distillation_loss(s, t, labels=labels))
    assert distillation_loss(s, t, labels=labels, empty="zero") == 0.0
    assert distillation_loss(s, t, labels=labels, reduction="sum") == 0.0
    with pytest.raises(ValueError, match="empty='raise'"):
        distillation_loss(s, t, labels=labels, empty="raise")
    with pytest.raises(ValueError, match="empty='raise'"):
        distillation_grad(s, t, labels=labels, empty="raise")
    assert np.all(distillation_grad(s, t, labels=labels) == 0.0)


@pytest.mark.parametrize("direction,beta", [("forward", 0.5), ("jsd", 0.4)])
def test_normalizer_pieces_add_up_to_the_whole(direction, beta):
    s, t, labels, w = _problem(11, n=12)
    kw = dict(direction=direction, beta=beta, temperature=2.0)
    whole = distillation_loss(s, t, labels=labels, sample_weight=w, **kw)
    whole_g = distillation_grad(s, t, labels=labels, sample_weight=w, **kw)
    W = float(np.where(labels != -100, w, 0.0).sum())
    parts, grads = 0.0, []
    for sl in (slice(0, 5), slice(5, 6), slice(6, 12)):
        pk = dict(labels=labels[sl], sample_weight=w[sl], normalizer=W, **kw)
        parts += distillation_loss(s[sl], t[sl], **pk)
        grads.append(distillation_grad(s[sl], t[sl], **pk))
    _close(parts, whole)
    _close(np.concatenate(grads), whole_g, rtol=1e-12, atol=1e-16)


def test_base_and_sum_none_mean_identities():
    s, t, labels, w = _problem(12)
    kw = dict(labels=labels, sample_weight=w, direction="jsd", beta=0.5)
    none = distillation_loss(s, t, reduction="none", **kw)
    _close(distillation_loss(s, t, reduction="sum", **kw), none.sum())
    _close(distillation_loss(s, t, **kw), none.sum() / np.where(labels != -100, w, 0).sum())
    _close(distillation_loss(s, t, base=2, **kw), distillation_loss(s, t, **kw) / math.log(2))
    _close(distillation_grad(s, t, base=2, **kw), distillation_grad(s, t, **kw) / math.log(2))


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_class_axis_and_k_dimensional_batches(axis):
    rng = np.random.default_rng(13)
    s, t = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4, 5))
    last_s, last_t = np.moveaxis(s, axis, -1), np.moveaxis(t, axis, -1)
    per = distillation_loss(s, t, axis=axis, reduction="none")
    assert per.shape == last_s.shape[:-1]
    _close(per, ref_rows(last_s, last_t, "forward", 0.5, 1.0))
    g = distillation_grad(s, t, axis=axis, reduction="sum")
    assert g.shape == s.shape
    _close(np.moveaxis(g, axis, -1), distillation_grad(last_s, last_t, reduction="sum"))


def test_every_namespace_gives_the_numpy_numbers(backend):
    _, conv = backend
    s, t, labels, w = _problem(14)
    kw = dict(direction="jsd", beta=0.3, temperature=1.5)
    want = distillation_loss(s, t, labels=labels, sample_weight=w, **kw)
    got = distillation_loss(conv(s), conv(t), labels=conv(labels), sample_weight=conv(w), **kw)
    _close(np.asarray(got), want)
    g = distillation_grad(conv(s), conv(t), labels=conv(labels), sample_weight=conv(w), **kw)
    _close(np.asarray(g), distillation_grad(s, t, labels=labels, sample_weight=w, **kw))


def test_float32_is_computed_in_float32_within_tolerance():
    s, t, labels, _ = _problem(15)
    got = distillation_loss(s.astype(np.float32), t.astype(np.float32), labels=labels)
    assert got.dtype == np.float32
    _close(got, distillation_loss(s, t, labels=labels), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- properties


@st.composite
def _pairs(draw):
    n = draw(st.integers(1, 6))
    c = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([0.1, 1.0, 10.0]))
    return rng.normal(size=(n, c)) * scale, rng.normal(size=(n, c)) * scale, rng


@SETTINGS
@given(
    pair=_pairs(), which=st.sampled_from(DIRECTIONS), temperature=st.sampled_from([0.5, 1.0, 3.0])
)
def test_properties(pair, which, temperature):
    s, t, rng = pair
    direction, beta = which
    kw = dict(direction=direction, beta=beta, temperature=temperature, reduction="none")
    d = distillation_loss(s, t, **kw)
    scale = temperature**2
    # P1: non-negative, zero against itself, the JSD bounded by h(β)
    assert np.all(d >= -1e-12 * scale)
    np.testing.assert_allclose(distillation_loss(s, s, **kw), 0.0, atol=1e-12 * scale)
    if direction == "jsd" and 0 < beta < 1:
        assert np.all(
            d <= scale * (-beta * math.log(beta) - (1 - beta) * math.log1p(-beta)) + 1e-12
        )
    # value against the reference
    np.testing.assert_allclose(d, ref_loss(s, t, **kw), rtol=1e-10, atol=1e-12)
    # P4: shift invariance of both inputs, row by row
    c = rng.normal(size=(len(s), 1)) * 100
    np.testing.assert_allclose(distillation_loss(s + c, t - c, **kw), d, rtol=1e-9, atol=1e-9)
    # P12: a permutation of the classes changes nothing (the gradient permutes)
    perm = rng.permutation(s.shape[1])
    np.testing.assert_allclose(
        distillation_loss(s[:, perm], t[:, perm], **kw), d, rtol=1e-12, atol=1e-14
    )
    g = distillation_grad(s, t, direction=direction, beta=beta, temperature=temperature)
    gp = distillation_grad(
        s[:, perm], t[:, perm], direction=direction, beta=beta, temperature=temperature
    )
    np.testing.assert_allclose(gp, g[:, perm], rtol=1e-12, atol=1e-15)
    # each gradient row sums to 0 (logits: the softmax is shift invariant)
    np.testing.assert_allclose(g.sum(-1), 0.0, atol=1e-12 * max(1.0, np.abs(g).max()))


# ----------------------------------------------------------------------------- bad input


def test_bad_options_and_inputs_name_the_argument():
    s, t, labels, _ = _problem(16)
    with pytest.raises(ValueError, match="`direction`"):
        distillation_loss(s, t, direction="backward")
    with pytest.raises(ValueError, match="`beta`"):
        distillation_loss(s, t, direction="jsd", beta=1.5)
    with pytest.raises(ValueError, match="`temperature`"):
        distillation_loss(s, t, temperature=0.0)
    with pytest.raises(ValueError, match="`teacher` must have the student's shape"):
        distillation_loss(s, t[:, :3])
    with pytest.raises(TypeError, match="`labels`"):
        distillation_loss(s, t, labels=labels.astype(float))
    with pytest.raises(ValueError, match="`labels`"):
        distillation_loss(s, t, labels=labels[:3])
    with pytest.raises(ValueError, match="`sample_weight`"):
        distillation_loss(s, t, sample_weight=-np.ones(N))
    with pytest.raises(ValueError, match="`kind_teacher`"):
        distillation_loss(s, t, kind_teacher="auto")
    with pytest.raises(ValueError, match="`normalizer`"):
        distillation_loss(s, t, reduction="sum", normalizer=3.0)
    with pytest.raises(ValueError, match="`normalizer`"):
        distillation_loss(s, t, normalizer=-1.0)
    with pytest.raises(ValueError, match="`grad_output`"):
        distillation_grad(s, t, grad_output=np.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ce.DoubleSoftmaxWarning):
            probs = np.exp(sp_log_softmax(t, -1))
            distillation_loss(s, probs)  # a teacher of probabilities passed as logits
