"""Per-token statistics of ``linear_cross_entropy(return_stats=...)`` against the materialised logits.

Oracles: ``torch.logsumexp``, the entropy of ``torch.softmax``, ``argmax`` and
``log_softmax`` gathered at the target, all on ``hidden @ weightᵀ + bias`` formed whole;
the per-token loss against ``F.cross_entropy(..., reduction="none")``. Every path of the
fused loss: one pass with gradients (mean/sum), vocabulary-chunked forward (no gradient,
``reduction="none"``, ``recompute=True``), small chunks so that the argmax and the entropy
merge across vocabulary tiles.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F

from crossentropy import kernels
from crossentropy.torch import linear_cross_entropy
from crossentropy.torch.linear import STATS


@pytest.fixture(params=["torch", "numba"] if kernels.available() else ["torch"])
def lce(request):
    """``linear_cross_entropy`` with each CPU ``impl`` (the one-pass tiles: torch's and numba's)."""
    return functools.partial(linear_cross_entropy, impl=request.param)


TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}


def _problem(dtype, n=23, d=8, V=41, seed=0, ignore=True):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype)
    W = (torch.randn(V, d, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    b = torch.randn(V, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randint(0, V, (n,), generator=g)
    if ignore:
        y[::5] = -100
    return h, W, b, y


def _reference(h, W, b, y, cap=None):
    z = F.linear(h, W, b)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    lq = torch.log_softmax(z, -1)
    act = y != -100
    lp = lq.gather(-1, y.clamp(min=0)[:, None])[:, 0]
    q = torch.softmax(z, -1)
    ent = -(q * lq).sum(-1)
    return z, act, torch.where(act, lp, torch.zeros_like(lp)), torch.logsumexp(z, -1), ent


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("mode", ["one_pass_mean", "one_pass_sum", "no_grad", "none", "recompute"])
@pytest.mark.parametrize("chunks", [(None, None), (4, 8), (7, 5)])
def test_stats_equal_the_materialised_logits(dtype, mode, chunks, lce):
    h, W, b, y = _problem(dtype)
    grad = mode != "no_grad"
    hh = h.clone().requires_grad_(grad)
    reduction = {"one_pass_sum": "sum", "none": "none"}.get(mode, "mean")
    with torch.set_grad_enabled(grad):
        loss, st = lce(
            hh, W, y, bias=b, reduction=reduction, return_stats=True,
            chunk_size=chunks[0], vocab_chunk_size=chunks[1], recompute=mode == "recompute",
        )  # fmt: skip
    z, act, lp, lse, ent = _reference(h, W, b, y)
    tol = TOL[dtype]
    torch.testing.assert_close(st.log_prob, lp.to(st.log_prob.dtype), **tol)
    torch.testing.assert_close(st.logsumexp[act], lse[act], **tol)
    torch.testing.assert_close(st.entropy[act], ent[act], **tol)
    assert torch.equal(st.argmax[act], z.argmax(-1)[act])
    assert torch.equal(st.correct, (z.argmax(-1) == y) & act)
    assert bool(st.logsumexp[~act].isnan().all()) and bool((st.argmax[~act] == -1).all())
    ref_loss = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(st.loss, ref_loss, **tol)
    torch.testing.assert_close(st.weight, act.to(st.weight.dtype))
    if grad:  # the statistics do not change the loss or its gradient
        plain = lce(
            h.clone().requires_grad_(True), W, y, bias=b, reduction=reduction,
            chunk_size=chunks[0], vocab_chunk_size=chunks[1], recompute=mode == "recompute",
        )  # fmt: skip
        torch.testing.assert_close(loss, plain, rtol=0, atol=0)


def test_ties_go_to_the_first_class_across_vocabulary_chunks(lce):
    h = torch.ones(3, 1, dtype=torch.float64)
    W = torch.tensor([[0.0], [2.0], [1.0], [2.0], [2.0], [-1.0]], dtype=torch.float64)
    y = torch.tensor([1, 3, -100])
    with torch.no_grad():
        _, st = lce(h, W, y, return_stats=("argmax",), chunk_size=1, vocab_chunk_size=2)
    assert st.argmax.tolist() == [1, 1, -1]
    assert st.correct.tolist() == [True, False, False]
    assert st.entropy is None and st.log_prob is None


def test_soft_target_softcap_smoothing_and_class_weights(lce):
    h, W, b, y = _problem(torch.float64, ignore=False)
    cap = 3.0
    cw = (
        torch.rand(W.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        + 0.5
    )
    _, st = lce(
        h, W, y, bias=b, softcap=cap, label_smoothing=0.1, class_weight=cw,
        return_stats=True, chunk_size=5, vocab_chunk_size=9, reduction="none",
    )  # fmt: skip
    z, _, lp, lse, ent = _reference(h, W, b, y, cap=cap)
    torch.testing.assert_close(st.log_prob, lp, **TOL[torch.float64])
    torch.testing.assert_close(st.entropy, ent, **TOL[torch.float64])
    torch.testing.assert_close(st.logsumexp, lse, **TOL[torch.float64])
    soft = torch.softmax(torch.randn(z.shape, dtype=torch.float64), -1)
    _, st2 = lce(h, W, soft, bias=b, return_stats=True, chunk_size=6)
    lq = torch.log_softmax(F.linear(h, W, b), -1)
    torch.testing.assert_close(st2.log_prob, (soft * lq).sum(-1), **TOL[torch.float64])
    assert torch.equal(st2.correct, F.linear(h, W, b).argmax(-1) == soft.argmax(-1))


@pytest.mark.parametrize("grad", [False, True])
def test_minus_inf_logits_give_a_finite_entropy(grad, lce):
    h = torch.ones(2, 1, dtype=torch.float64, requires_grad=grad)
    b = torch.tensor([0.0, float("-inf"), 0.0, float("-inf")], dtype=torch.float64)
    W = torch.zeros(4, 1, dtype=torch.float64)
    with torch.set_grad_enabled(grad):  # grad: the one-pass tiles; else vocabulary chunks of 1
        _, st = lce(
            h, W, torch.tensor([0, 2]), bias=b, return_stats=("entropy", "argmax"),
            vocab_chunk_size=1, chunk_size=1,
        )  # fmt: skip
    torch.testing.assert_close(st.entropy, torch.full((2,), math.log(2.0), dtype=torch.float64))
    assert st.argmax.tolist() == [0, 0]


def test_bad_requests_are_refused():
    h, W, _, y = _problem(torch.float64)
    with pytest.raises(ValueError, match="unknown statistics"):
        linear_cross_entropy(h, W, y, return_stats=("lse",))
    with pytest.raises(TypeError, match="one-element tuple"):
        linear_cross_entropy(h, W, y, return_stats="entropy")
    with pytest.raises(ValueError, match="not both"):
        linear_cross_entropy(h, W, y, return_stats=True, return_lse=True)
    soft = torch.softmax(torch.randn(h.shape[0], W.shape[0], dtype=torch.float64), -1)
    with pytest.raises(ValueError, match="class_weight"):
        linear_cross_entropy(
            h,
            W,
            soft,
            return_stats=("log_prob",),
            class_weight=torch.ones(W.shape[0], dtype=torch.float64),
        )
    assert set(STATS) == {"loss", "weight", "log_prob", "logsumexp", "entropy", "argmax"}


# ---- the module: LinearCrossEntropyLoss(return_stats=...), forward(..., sample_weight, normalizer)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_module_stats_class_weight_sample_weight_and_normalizer(dtype):
    from crossentropy.torch import LinearCrossEntropyLoss

    h, W, b, y = _problem(dtype, seed=3)
    V, d = W.shape
    g = torch.Generator().manual_seed(4)
    cw = (torch.rand(V, generator=g, dtype=torch.float64) + 0.5).to(dtype)
    s = (torch.rand(h.shape[0], generator=g, dtype=torch.float64) * 2).to(dtype)
    head = LinearCrossEntropyLoss(
        d, V, bias=True, dtype=dtype, class_weight=cw, label_smoothing=0.1, chunk_size=4,
        return_stats=("loss", "entropy", "argmax"),
    )  # fmt: skip
    with torch.no_grad():
        head.weight.copy_(W)
        head.bias.copy_(b)
    loss, st = head(h, y, sample_weight=s, normalizer=9.0)
    z, act, _, _, ent = _reference(h, W, b, y)
    per = F.cross_entropy(z, y, weight=cw, label_smoothing=0.1, reduction="none") * s
    tol = TOL[dtype]
    torch.testing.assert_close(loss, per.sum() / 9.0, **tol)
    torch.testing.assert_close(st.loss, per, **tol)
    torch.testing.assert_close(st.entropy[act], ent[act], **tol)
    assert torch.equal(st.argmax[act], z.argmax(-1)[act]) and st.log_prob is None
    loss.backward()
    Wr, br = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    zr = F.linear(h, Wr, br)
    ref = (F.cross_entropy(zr, y, weight=cw, label_smoothing=0.1, reduction="none") * s).sum() / 9
    gW, gb = torch.autograd.grad(ref, (Wr, br))
    torch.testing.assert_close(head.weight.grad, gW, **tol)
    torch.testing.assert_close(head.bias.grad, gb, **tol)


def test_module_class_weight_is_a_buffer_and_bad_stats_are_refused_at_construction():
    from crossentropy.torch import LinearCrossEntropyLoss

    head = LinearCrossEntropyLoss(3, 4, class_weight=torch.ones(4)).double()
    assert head.class_weight.dtype == torch.float64 and "class_weight" in dict(head.named_buffers())
    with pytest.raises(TypeError, match="one-element tuple"):
        LinearCrossEntropyLoss(3, 4, return_stats="entropy")
