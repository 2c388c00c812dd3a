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


# ---- per-token statistics (return_stats=, docs/semantics.md §15, §16) ---------------------------


def _student_stats(h, W, b, y, cap=None):
    """The statistics of the untempered student logits, materialised (the oracles of §15)."""
    z = F.linear(h, W, b)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    act = y != -100
    lq = torch.log_softmax(z, -1)
    lp = lq.gather(-1, y.clamp(min=0)[:, None])[:, 0]
    q = torch.softmax(z, -1)
    nan = torch.full_like(lp, math.nan)
    return dict(
        log_prob=torch.where(act, lp, torch.zeros_like(lp)),
        logsumexp=torch.where(act, torch.logsumexp(z, -1), nan),
        entropy=torch.where(act, -(q * lq).sum(-1), nan),
        argmax=torch.where(act, z.argmax(-1), torch.full_like(y, -1)),
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", ["jsd_alpha", "reverse_cap_hidden"])
def test_stats_equal_the_materialised_student_logits(dtype, reduction, case):
    h, W, b, ht, Wt, bt, y, s = _problem(dtype, seed=8)
    zt = F.linear(ht, Wt, bt)
    if case == "jsd_alpha":
        opts = dict(teacher_logits=zt, direction="jsd", beta=0.3, temperature=2.0, alpha=0.25)
        cap = None
    else:
        opts = dict(teacher_hidden=ht, teacher_weight=Wt, teacher_bias=bt, direction="reverse",
                    temperature=1.5, softcap=3.0)  # fmt: skip
        cap = 3.0
    hl = h.clone().requires_grad_(True)
    loss, st = linear_distillation_loss(
        hl, W, student_bias=b, target=y, sample_weight=s, reduction=reduction, chunk_size=4,
        return_stats=True, **opts,
    )  # fmt: skip
    tol = TOL[dtype]
    ref = _student_stats(h, W, b, y, cap)
    for name in ("log_prob", "logsumexp", "entropy"):
        torch.testing.assert_close(getattr(st, name), ref[name], equal_nan=True, **tol)
    assert torch.equal(st.argmax, ref["argmax"])
    assert torch.equal(st.correct, (ref["argmax"] == y) & (y != -100))
    act = y != -100
    torch.testing.assert_close(st.weight, torch.where(act, s, torch.zeros_like(s)), **tol)
    per_row = _reference(
        h, W, b, F.linear(ht, Wt, bt), y, s, direction=opts["direction"],
        beta=opts.get("beta", 0.5), T=opts["temperature"], t2=True,
        alpha=opts.get("alpha", 0.0), reduction="none", cap=cap,
    )  # fmt: skip
    torch.testing.assert_close(st.loss, per_row, **tol)
    assert not st.loss.requires_grad and st.loss.dtype == dtype


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("return_stats", [True, ("entropy",), ("argmax", "log_prob")])
def test_loss_and_gradients_with_stats_equal_those_without_bit_for_bit(reduction, return_stats):
    h, W, b, ht, Wt, bt, y, s = _problem(torch.float32, seed=9)
    zt = F.linear(ht, Wt, bt)
    kw = dict(student_bias=b, target=y, sample_weight=s, alpha=0.3, temperature=2.0,
              direction="forward", reduction=reduction, chunk_size=5)  # fmt: skip
    outs = []
    for rs in (False, return_stats):
        hl, Wl = h.clone().requires_grad_(True), W.clone().requires_grad_(True)
        res = linear_distillation_loss(hl, Wl, zt, return_stats=rs, **kw)
        loss = res[0] if rs else res
        go = torch.linspace(-1, 2, loss.numel()).reshape(loss.shape)
        outs.append((loss.detach(), *torch.autograd.grad(loss, (hl, Wl), go)))
    for a, b_ in zip(*outs, strict=True):
        assert torch.equal(a, b_)


def test_stats_without_target_and_asked_by_name():
    h, W, b, ht, Wt, bt, y, _ = _problem(torch.float64, seed=10)
    loss, st = linear_distillation_loss(
        h, W, teacher_hidden=ht, teacher_weight=Wt, chunk_size=3,
        return_stats=("argmax", "logsumexp"),
    )  # fmt: skip
    z = F.linear(h, W)
    assert torch.equal(st.argmax, z.argmax(-1)) and st.correct is None
    torch.testing.assert_close(st.logsumexp, torch.logsumexp(z, -1), **TOL[torch.float64])
    assert st.loss is st.entropy is st.log_prob is st.weight is None
    with pytest.raises(ValueError, match="log_prob.*target"):
        linear_distillation_loss(h, W, F.linear(ht, Wt, bt), return_stats=("log_prob",))


def test_stats_follow_the_shift_and_the_batch_shape():
    g = torch.Generator().manual_seed(12)
    B, Tn, d, V = 2, 6, 4, 9
    h = torch.randn(B, Tn, d, generator=g, dtype=torch.float64)
    W = torch.randn(V, d, generator=g, dtype=torch.float64)
    zt = torch.randn(B, Tn, V, generator=g, dtype=torch.float64)
    y = torch.randint(0, V, (B, Tn), generator=g)
    y[1, 3] = -100
    _, st = linear_distillation_loss(
        h, W, zt, target=y, shift=True, chunk_size=3, return_stats=("log_prob", "argmax")
    )
    hh, yy = h[:, :-1].reshape(-1, d), y[:, 1:].reshape(-1)
    ref = _student_stats(hh, W, None, yy)
    assert st.log_prob.shape == (B, Tn - 1)
    torch.testing.assert_close(st.log_prob.reshape(-1), ref["log_prob"], **TOL[torch.float64])
    assert torch.equal(st.argmax.reshape(-1), ref["argmax"])


@pytest.mark.parametrize(
    "rs,err,match",
    [("entropy", TypeError, "one-element tuple"), (("perplexity",), ValueError, "unknown")],
)
def test_bad_return_stats_are_refused(rs, err, match):
    with pytest.raises(err, match=match):
        linear_distillation_loss(
            torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(3, 4), return_stats=rs
        )


# ---- the module: LinearDistillationLoss ------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_module_equals_the_materialised_computation(dtype):
    from crossentropy.torch import LinearDistillationLoss

    h, W, b, ht, Wt, bt, y, s = _problem(dtype, seed=11)
    V, d = W.shape
    head = LinearDistillationLoss(
        d, V, bias=True, dtype=dtype, direction="reverse", temperature=2.0, alpha=0.2,
        chunk_size=4, return_stats=("entropy",),
    )  # fmt: skip
    with torch.no_grad():
        head.weight.copy_(W)
        head.bias.copy_(b)
    zt = F.linear(ht, Wt, bt)
    loss, st = head(h, zt, y, sample_weight=s, normalizer=11.0)
    Wr, br = W.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ref = _reference(h, Wr, br, zt, y, s, direction="reverse", beta=0.5, T=2.0, t2=True,
                     alpha=0.2, reduction="sum") / 11.0  # fmt: skip
    tol = TOL[dtype]
    torch.testing.assert_close(loss, ref, **tol)
    torch.testing.assert_close(
        st.entropy, _student_stats(h, W, b, y)["entropy"], equal_nan=True, **tol
    )
    loss.backward()
    for g1, g2 in zip(
        (head.weight.grad, head.bias.grad), torch.autograd.grad(ref, (Wr, br)), strict=True
    ):
        torch.testing.assert_close(g1, g2, **tol)
    # the teacher as hidden states and head, through forward's keywords
    by_head = head(h, None, y, sample_weight=s, normalizer=11.0, teacher_hidden=ht,
                   teacher_weight=Wt, teacher_bias=bt, return_stats=False)  # fmt: skip
    torch.testing.assert_close(by_head, ref, **tol)
    with pytest.raises(TypeError, match="one-element tuple"):
        LinearDistillationLoss(d, V, return_stats="entropy")


# ---- the divergence tile (the seam shared with the Triton kernel) -----------------------------


def _tile_oracle(z, zt, T, direction, beta):
    """``(D, ∂D/∂x)`` by torch autograd on the materialised divergence (x = z / T)."""
    x = (z / T).clone().requires_grad_(True)
    lq, lp = torch.log_softmax(x, -1), torch.log_softmax(zt / T, -1)
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
    (g,) = torch.autograd.grad(D.sum(), x)
    return D.detach(), g


@pytest.mark.parametrize("block", [None, 16, 7])
@pytest.mark.parametrize(
    "direction,beta,T", [("forward", 0.5, 1.0), ("reverse", 0.5, 2.5), ("jsd", 0.3, 0.7)]
)
def test_divergence_tile_equals_autograd_over_column_blocks(direction, beta, T, block, monkeypatch):
    """Several column blocks (a block of 16 or 7 elements: 3-4 or 1 column per row) equal one."""
    from crossentropy.torch import distill

    if block is not None:
        monkeypatch.setattr(distill, "BLOCK_ELEMENTS", block)
    g = torch.Generator().manual_seed(13)
    z = torch.randn(5, 41, generator=g, dtype=torch.float64) * 3 - 200  # far from 0: the shift
    zt = torch.randn(5, 41, generator=g, dtype=torch.float64) * 3 + 50
    ref_d, ref_g = _tile_oracle(z, zt, T, direction, beta)
    zz, tt = z.clone(), zt.clone()
    d = distill.divergence_tile_(zz, tt, temperature=T, direction=direction, beta=beta)
    torch.testing.assert_close(d, ref_d, **TOL[torch.float64])
    torch.testing.assert_close(zz, ref_g, **TOL[torch.float64])


@pytest.mark.parametrize("direction", ["forward", "reverse", "jsd"])
def test_divergence_tile_where_the_teacher_has_no_mass(direction, monkeypatch):
    """0 · log 0 = 0: teacher logits −inf on some classes (every direction finite where defined)."""
    from crossentropy.torch import distill

    monkeypatch.setattr(distill, "BLOCK_ELEMENTS", 8)
    g = torch.Generator().manual_seed(14)
    z = torch.randn(3, 9, generator=g, dtype=torch.float64)
    zt = torch.randn(3, 9, generator=g, dtype=torch.float64)
    zt[:, 2] = zt[0, 5] = -math.inf
    lp, lq = torch.log_softmax(zt, -1), torch.log_softmax(z, -1)
    ref_d, ref_g = distill.divergence_rows(lp, lq, direction, 0.4)
    zz = z.clone()
    d = distill.divergence_tile_(zz, zt.clone(), temperature=1.0, direction=direction, beta=0.4)
    torch.testing.assert_close(d, ref_d, equal_nan=True, **TOL[torch.float64])
    torch.testing.assert_close(zz, ref_g, equal_nan=True, **TOL[torch.float64])
    if direction != "reverse":  # KL(q ‖ p) is +inf where p = 0 < q
        assert bool(torch.isfinite(d).all()) and bool(torch.isfinite(zz).all())


def test_default_chunk_is_the_linear_ce_one_divided_by_the_extra_tiles(monkeypatch):
    """Default rows: auto_rows of V (as linear_cross_entropy), halved per extra tile (alpha, softcap)."""
    from crossentropy.torch import distill

    seen = []
    real = distill.auto_rows
    monkeypatch.setattr(distill, "auto_rows", lambda n, v, *a: seen.append(v) or real(n, v, *a))
    h, W, b, ht, Wt, bt, y, s = _problem(torch.float32, seed=16)
    zt = F.linear(ht, Wt, bt)
    linear_distillation_loss(h, W, zt)
    linear_distillation_loss(h, W, zt, target=y, alpha=0.5)
    linear_distillation_loss(h, W, zt, target=y, alpha=0.5, softcap=3.0)
    V = W.shape[0]
    assert seen == [V, 2 * V, 3 * V]


def test_impl_torch_and_auto_agree_and_triton_needs_its_device():
    h, W, b, ht, Wt, bt, y, s = _problem(torch.float64, seed=15)
    zt = F.linear(ht, Wt, bt)
    kw = dict(student_bias=b, target=y, alpha=0.2, direction="jsd", chunk_size=4)
    auto = linear_distillation_loss(h, W, zt, **kw)
    assert float(linear_distillation_loss(h, W, zt, impl="torch", **kw)) == float(auto)
    with pytest.raises(ValueError, match="impl"):
        linear_distillation_loss(h, W, zt, impl="cuda", **kw)
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        with pytest.raises((ImportError, ValueError)):
            linear_distillation_loss(h, W, zt, impl="triton", **kw)
    else:  # CPU tensors without Triton's interpreter: refused with the fix named
        from crossentropy.torch import triton_kernels

        if not triton_kernels.interpreter_enabled():
            with pytest.raises(ValueError, match="TRITON_INTERPRET"):
                linear_distillation_loss(h, W, zt, impl="triton", **kw)


def test_module_passes_impl():
    from crossentropy.torch import LinearDistillationLoss

    head = LinearDistillationLoss(4, 7, impl="torch", chunk_size=2)
    assert head.options["impl"] == "torch"
    with pytest.raises(ValueError, match="impl"):
        LinearDistillationLoss(4, 7, impl="nope")(torch.randn(3, 4), torch.randn(3, 7))
