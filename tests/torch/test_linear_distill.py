"""Fused linear distillation (docs/semantics.md §13, §16) against the materialised computation.

Oracles: the materialised logits through ``F.kl_div`` (forward and reverse KL, ``log_target=True``)
or the JSD written out with ``torch.logsumexp``, plus ``F.cross_entropy`` for the hard-label term,
differentiated by torch autograd; and the core ``crossentropy.distillation_loss`` on the same
materialised logits (an independent implementation). float64 at 1e-12, float32 at 1e-5.
Memory is asserted by construction: the chunk holds ``chunk_size × V`` logits, below ``N × V``.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import crossentropy as ce
from crossentropy.torch import linear_distillation_loss
from crossentropy.torch._plan import MAX_AUTO_ROWS, MIN_AUTO_ROWS, auto_rows

TOL = {torch.float64: dict(rtol=1e-12, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-5)}


def _problem(dtype, n=19, d=6, V=29, seed=0, dt=5):
    g = torch.Generator().manual_seed(seed)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    h, W, b = mk(n, d), mk(V, d) * 1.3, mk(V)
    ht, Wt, bt = mk(n, dt), mk(V, dt) * 1.5, mk(V)
    y = torch.randint(0, V, (n,), generator=g)
    y[::4] = -100
    s = torch.rand(n, generator=g, dtype=torch.float64) * 2
    return [t.to(dtype) for t in (h, W, b, ht, Wt, bt)] + [y, s.to(dtype)]


def _reference(h, W, b, zt, y, s, *, direction, beta, T, t2, alpha, reduction, cap=None):
    z = F.linear(h, W, b)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    lq, lp = torch.log_softmax(z / T, -1), torch.log_softmax(zt / T, -1)
    if direction == "jsd" and beta in (0.0, 1.0):
        direction = "forward" if beta == 0.0 else "reverse"
    if direction == "forward":
        D = F.kl_div(lq, lp, log_target=True, reduction="none").sum(-1)
    elif direction == "reverse":
        D = F.kl_div(lp, lq, log_target=True, reduction="none").sum(-1)
    else:
        lm = torch.logsumexp(torch.stack([lp + math.log(beta), lq + math.log1p(-beta)]), 0)
        D = beta * F.kl_div(lm, lp, log_target=True, reduction="none").sum(-1) + (
            1 - beta
        ) * F.kl_div(lm, lq, log_target=True, reduction="none").sum(-1)
    act = y != -100
    sw = torch.where(act, s, torch.zeros_like(s))
    ell = (1 - alpha) * (T * T if t2 else 1.0) * sw * D
    if alpha:
        ell = ell + alpha * sw * F.cross_entropy(z, y, reduction="none")
    ell = torch.where(act, ell, torch.zeros_like(ell))
    if reduction == "none":
        return ell
    return ell.sum() if reduction == "sum" else ell.sum() / sw.sum()


CASES = [
    ("forward", 0.5, 1.0, True, 0.0),
    ("reverse", 0.5, 2.0, True, 0.0),
    ("jsd", 0.5, 1.5, False, 0.0),
    ("jsd", 0.0, 1.0, True, 0.0),
    ("jsd", 1.0, 1.0, True, 0.0),
    ("jsd", 0.3, 3.0, True, 0.25),
    ("forward", 0.5, 2.0, True, 0.5),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("direction,beta,T,t2,alpha", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("teacher", ["logits", "hidden"])
def test_values_and_gradients_equal_the_materialised_computation(
    dtype, direction, beta, T, t2, alpha, reduction, teacher
):
    h, W, b, ht, Wt, bt, y, s = _problem(dtype)
    zt = F.linear(ht, Wt, bt)
    leaves = [t.clone().requires_grad_(True) for t in (h, W, b)]
    tkw = (
        dict(teacher_logits=zt)
        if teacher == "logits"
        else dict(teacher_hidden=ht, teacher_weight=Wt, teacher_bias=bt)
    )
    ours = linear_distillation_loss(
        leaves[0], leaves[1], student_bias=leaves[2], direction=direction, beta=beta,
        temperature=T, scale_by_t2=t2, alpha=alpha, target=y, sample_weight=s,
        reduction=reduction, chunk_size=4, **tkw,
    )  # fmt: skip
    ref_leaves = [t.clone().requires_grad_(True) for t in (h, W, b)]
    ref = _reference(*ref_leaves, zt, y, s, direction=direction, beta=beta, T=T, t2=t2,
                     alpha=alpha, reduction=reduction)  # fmt: skip
    tol = TOL[dtype]
    torch.testing.assert_close(ours, ref, **tol)
    go = torch.linspace(-1, 2, ours.numel(), dtype=dtype).reshape(ours.shape)
    for g1, g2 in zip(
        torch.autograd.grad(ours, leaves, go), torch.autograd.grad(ref, ref_leaves, go), strict=True
    ):
        torch.testing.assert_close(g1, g2, **tol)


@pytest.mark.parametrize("direction,beta", [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.4)])
def test_equals_the_core_distillation_loss(direction, beta):
    h, W, b, ht, Wt, bt, y, s = _problem(torch.float64, seed=3)
    zt = F.linear(ht, Wt, bt)
    ours = linear_distillation_loss(
        h, W, zt, student_bias=b, direction=direction, beta=beta, temperature=1.7,
        target=y, sample_weight=s, chunk_size=3,
    )  # fmt: skip
    core = ce.distillation_loss(
        (F.linear(h, W, b)).numpy(), zt.numpy(), direction=direction, beta=beta, temperature=1.7,
        labels=y.numpy(), sample_weight=s.numpy(),
    )  # fmt: skip
    torch.testing.assert_close(
        ours, torch.as_tensor(float(core), dtype=torch.float64), **TOL[torch.float64]
    )


def test_jsd_endpoints_are_the_two_kls():
    h, W, b, ht, Wt, bt, y, _ = _problem(torch.float64, seed=4)
    zt = F.linear(ht, Wt, bt)
    kw = dict(student_bias=b, target=y, temperature=1.3)
    for beta, direction in ((0.0, "forward"), (1.0, "reverse")):
        jsd = linear_distillation_loss(h, W, zt, direction="jsd", beta=beta, **kw)
        kl = linear_distillation_loss(h, W, zt, direction=direction, **kw)
        assert float(jsd) == float(kl)


def test_softcap_shift_and_normalizer():
    dtype = torch.float64
    g = torch.Generator().manual_seed(7)
    B, Tn, d, V = 2, 5, 4, 13
    h = torch.randn(B, Tn, d, generator=g, dtype=dtype, requires_grad=True)
    W = torch.randn(V, d, generator=g, dtype=dtype, requires_grad=True)
    zt = torch.randn(B, Tn, V, generator=g, dtype=dtype)
    y = torch.randint(0, V, (B, Tn), generator=g)
    y[0, 2] = -100
    ours = linear_distillation_loss(
        h, W, zt, softcap=2.0, shift=True, target=y, direction="reverse", normalizer=7.0,
        chunk_size=3,
    )  # fmt: skip
    hh, yy = h[:, :-1].reshape(-1, d), y[:, 1:].reshape(-1)
    ref = _reference(hh, W, None, zt[:, :-1].reshape(-1, V), yy, torch.ones(yy.shape, dtype=dtype),
                     direction="reverse", beta=0.5, T=1.0, t2=True, alpha=0.0, reduction="sum",
                     cap=2.0) / 7.0  # fmt: skip
    torch.testing.assert_close(ours, ref, **TOL[dtype])
    for g1, g2 in zip(
        torch.autograd.grad(ours, (h, W)), torch.autograd.grad(ref, (h, W)), strict=True
    ):
        torch.testing.assert_close(g1, g2, **TOL[dtype])


def test_masked_rows_get_zero_and_empty_follows_empty():
    h, W, b, ht, Wt, bt, _, _ = _problem(torch.float64, seed=5)
    zt = F.linear(ht, Wt, bt)
    zt[0] = float("nan")  # a masked row's teacher may hold anything
    y = torch.full((h.shape[0],), -100)
    y[1:3] = 0
    hl = h.clone().requires_grad_(True)
    per = linear_distillation_loss(hl, W, zt, target=y, reduction="none")
    assert per[0] == 0 and bool(torch.isfinite(per).all())
    out = linear_distillation_loss(hl, W, zt, target=torch.full_like(y, -100), empty="zero")
    out.backward()
    assert float(out.detach()) == 0.0 and not bool(hl.grad.any())


def test_inputs_are_not_modified():
    h, W, b, ht, Wt, bt, y, s = _problem(torch.float64, seed=6)
    zt = F.linear(ht, Wt, bt)
    saved = [t.clone() for t in (h, W, b, zt, ht, Wt, bt)]
    for direction in ("forward", "reverse", "jsd"):
        loss = linear_distillation_loss(
            h.requires_grad_(True), W, zt, student_bias=b, direction=direction, chunk_size=5,
            target=y, alpha=0.3, softcap=4.0, temperature=2.0,
        )  # fmt: skip
        loss.backward()
        linear_distillation_loss(h, W, teacher_hidden=ht, teacher_weight=Wt, teacher_bias=bt)
    for a, b_ in zip((h, W, b, zt, ht, Wt, bt), saved, strict=True):
        assert torch.equal(a.detach(), b_)


def test_chunks_hold_less_than_n_by_v():
    """Memory by construction: the default chunk of rows × V logits is below N × V."""
    n, V = 4096, 32_768
    rows_per_chunk = auto_rows(n, V, 4, torch.device("cpu"))
    assert rows_per_chunk * V < n * V and MIN_AUTO_ROWS <= rows_per_chunk <= MAX_AUTO_ROWS


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(direction="sideways"), "direction"),
        (dict(beta=1.5), "beta"),
        (dict(temperature=0.0), "temperature"),
        (dict(alpha=0.5), "target"),
        (dict(alpha=2.0, target=torch.zeros(3, dtype=torch.long)), "alpha"),
    ],
)
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        linear_distillation_loss(torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(3, 4), **kw)


def test_teacher_is_given_once():
    with pytest.raises(ValueError, match="exactly one"):
        linear_distillation_loss(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="shape"):
        linear_distillation_loss(torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(3, 5))
