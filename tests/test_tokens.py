"""Per-token statistics (docs/semantics.md §15) against float64 NumPy/SciPy and torch references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import logsumexp as sp_logsumexp

from crossentropy import loss_terms
from crossentropy.tokens import sequence_log_prob, token_stats

RTOL64 = 1e-12


def _ref(x: np.ndarray, y: np.ndarray, ignore: int = -100):
    lq = sp_log_softmax(x, axis=-1)
    lse = sp_logsumexp(x, axis=-1)
    q = np.exp(lq)
    ent = -np.sum(np.where(q == 0, 0.0, q * lq), axis=-1)
    act = y != ignore
    lp = np.where(act, lq[np.arange(len(y)), np.where(act, y, 0)], 0.0)
    am = np.argmax(x, axis=-1)
    return lp, lse, ent, am, (am == y) & act


@pytest.mark.parametrize("n,c", [(1, 1), (7, 5), (33, 50)])
def test_index_targets_against_scipy(n, c):
    rng = np.random.default_rng(n * 100 + c)
    x = rng.normal(size=(n, c)) * 3
    y = rng.integers(0, c, n)
    y[::3] = -100
    st = token_stats(x, y)
    lp, lse, ent, am, hit = _ref(x, y)
    np.testing.assert_allclose(st.log_prob, lp, rtol=RTOL64, atol=0)
    np.testing.assert_allclose(st.logsumexp, lse, rtol=RTOL64, atol=0)
    np.testing.assert_allclose(st.entropy, ent, rtol=RTOL64, atol=1e-15)
    np.testing.assert_array_equal(st.argmax, am)
    np.testing.assert_array_equal(st.correct, hit)
    t = loss_terms(x, y)
    np.testing.assert_array_equal(st.loss, t.loss)
    np.testing.assert_array_equal(st.weight, t.weight)
    np.testing.assert_allclose(st.loss, -lp, rtol=RTOL64, atol=0)


def test_torch_namespace_float32_and_float64():
    g = torch.Generator().manual_seed(0)
    for dtype, rtol, atol in ((torch.float64, RTOL64, 0.0), (torch.float32, 1e-5, 1e-6)):
        x = torch.randn(4, 3, 11, generator=g, dtype=dtype) * 4
        y = torch.randint(0, 11, (4, 3), generator=g)
        y[0, 1] = -100
        st = token_stats(x, y)
        lq = torch.log_softmax(x, -1)
        ref_lp = lq.gather(-1, y.clamp(min=0)[..., None])[..., 0].masked_fill(y == -100, 0.0)
        torch.testing.assert_close(st.log_prob, ref_lp, rtol=rtol, atol=atol)
        torch.testing.assert_close(st.logsumexp, torch.logsumexp(x, -1), rtol=rtol, atol=atol)
        ent = -(torch.softmax(x, -1) * lq).sum(-1)
        torch.testing.assert_close(st.entropy, ent, rtol=rtol, atol=atol)
        assert torch.equal(st.argmax, x.argmax(-1))
        assert st.argmax.shape == (4, 3) and st.log_prob.dtype == dtype


def test_soft_targets_probs_kind_and_minus_inf():
    x = np.array([[0.0, 1.0, -np.inf], [2.0, 2.0, 0.0]])
    y = np.array([[0.25, 0.75, 0.0], [0.0, 1.0, 0.0]])
    st = token_stats(x, y)
    lq = sp_log_softmax(x, axis=-1)
    safe = np.where(np.isfinite(lq), lq, 0.0)  # 0 · log 0 = 0
    np.testing.assert_allclose(st.log_prob, np.sum(y * safe, -1), rtol=RTOL64)
    q = np.exp(lq)
    ent = -np.sum(q * safe, -1)
    np.testing.assert_allclose(st.entropy, ent, rtol=RTOL64)
    assert np.all(np.isfinite(st.entropy))  # 0 · log 0 = 0 at the −inf logit
    assert st.argmax.tolist() == [1, 0]  # a tie goes to the lowest class
    assert st.correct.tolist() == [True, False]
    sp = token_stats(np.exp(lq), y, kind="probs")
    np.testing.assert_allclose(sp.log_prob, st.log_prob, rtol=1e-12)
    np.testing.assert_allclose(sp.entropy, st.entropy, rtol=1e-12)
    np.testing.assert_allclose(sp.logsumexp, 0.0, atol=1e-15)


def test_weights_go_to_the_loss_not_the_log_prob():
    x = np.random.default_rng(1).normal(size=(5, 4))
    y = np.array([0, 1, 2, 3, 0])
    sw = np.array([2.0, 0.0, 1.0, 0.5, 1.0])
    st = token_stats(x, y, sample_weight=sw, label_smoothing=0.1)
    t = loss_terms(x, y, sample_weight=sw, label_smoothing=0.1)
    np.testing.assert_allclose(st.loss, t.loss, rtol=RTOL64, atol=0)
    lp, *_ = _ref(x, y)
    np.testing.assert_allclose(st.log_prob, np.where(sw == 0, 0.0, lp), rtol=RTOL64)
    assert not st.correct[1]


def test_sequence_log_prob_layouts_agree_with_a_loop():
    rng = np.random.default_rng(3)
    lens = [3, 0, 5, 1]
    flat = -rng.exponential(size=sum(lens))
    keep = rng.random(sum(lens)) > 0.3
    cu = np.concatenate([[0], np.cumsum(lens)])
    ids = np.repeat(np.arange(len(lens)), lens)
    want = np.array([flat[a:b][keep[a:b]].sum() for a, b in zip(cu[:-1], cu[1:], strict=True)])
    got_cu = sequence_log_prob(flat, mask=keep, cu_seqlens=cu)
    got_id = sequence_log_prob(flat, mask=keep, segment_ids=ids, num_segments=4)
    np.testing.assert_allclose(got_cu, want, rtol=RTOL64, atol=0)
    np.testing.assert_allclose(got_id, want, rtol=RTOL64, atol=0)
    padded = np.full((4, 5), -np.inf)  # padding holds −inf: masked out exactly
    pmask = np.zeros((4, 5), dtype=bool)
    for k, (a, b) in enumerate(zip(cu[:-1], cu[1:], strict=True)):
        padded[k, : b - a] = flat[a:b]
        pmask[k, : b - a] = keep[a:b]
    np.testing.assert_allclose(sequence_log_prob(padded, mask=pmask), want, rtol=RTOL64, atol=0)
    counts = np.array([keep[a:b].sum() for a, b in zip(cu[:-1], cu[1:], strict=True)])
    with np.errstate(invalid="ignore"):
        mean = sequence_log_prob(flat, mask=keep, cu_seqlens=cu, normalize=True)
    np.testing.assert_allclose(
        mean[counts > 0], (want / np.maximum(counts, 1))[counts > 0], rtol=RTOL64
    )
    assert np.isnan(mean[1])
    t = sequence_log_prob(torch.as_tensor(flat), segment_ids=torch.as_tensor(ids))
    np.testing.assert_allclose(t.numpy(), sequence_log_prob(flat, cu_seqlens=cu), rtol=RTOL64)


def test_sequence_log_prob_from_token_stats_is_the_log_likelihood_of_each_sequence():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 6, 9, generator=g, dtype=torch.float64)
    y = torch.randint(0, 9, (2, 6), generator=g)
    y[1, 4:] = -100
    st = token_stats(x, y)
    seq = sequence_log_prob(st.log_prob, mask=y != -100)
    ref = torch.stack(
        [-torch.nn.functional.cross_entropy(x[b], y[b], reduction="sum") for b in range(2)]
    )
    torch.testing.assert_close(seq, ref, rtol=RTOL64, atol=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"cu_seqlens": np.array([0, 2, 4]), "segment_ids": np.array([0, 0, 1, 1])}, "not both"),
        ({"cu_seqlens": np.array([0, 3, 2, 4])}, "non-decreasing"),
        ({"cu_seqlens": np.array([0, 2])}, "from 0 to len"),
        ({"segment_ids": np.array([0, 0.5, 1, 1])}, "integers"),
        ({"segment_ids": np.array([0, 3, 1, 1]), "num_segments": 2}, "num_segments"),
        ({"mask": np.ones(3)}, "shape of `log_prob`"),
    ],
)
def test_sequence_log_prob_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sequence_log_prob(np.zeros(4), **kwargs)


def test_padded_needs_two_axes():
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        sequence_log_prob(np.zeros(4))
