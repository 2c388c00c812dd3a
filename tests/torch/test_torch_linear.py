"""Fused linear cross-entropy: equal to cross-entropy of the materialised logits.

Oracles: ``F.cross_entropy(hidden @ W.T + b, ...)`` differentiated by autograd,
the drop-in :func:`crossentropy.torch.cross_entropy` on materialised logits (for
softcap / z-loss / soft targets), and the core on NumPy copies.
"""

from __future__ import annotations

import functools
import itertools
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crossentropy as ce
import crossentropy.torch as ct
from crossentropy import kernels
from crossentropy.torch.linear import chunks

TOL64 = dict(rtol=1e-12, atol=1e-13)

#: the CPU tile implementations: the torch reference and, with numba, the fused tile kernel
CPU_IMPLS = ["torch", "numba"] if kernels.available() else ["torch"]


@pytest.fixture(params=CPU_IMPLS)
def lce(request):
    """``linear_cross_entropy`` with each CPU ``impl`` (the tests run over both tile classes)."""
    return functools.partial(ct.linear_cross_entropy, impl=request.param)


def _close(a, b, **tol):
    np.testing.assert_allclose(
        np.asarray(a.detach(), dtype=np.float64),
        np.asarray(b.detach(), dtype=np.float64),
        equal_nan=True,
        **(tol or TOL64),
    )


def _problem(n=37, d=12, V=53, seed=0, dtype=torch.float64, ignore=0.2, bias=True):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype).requires_grad_(True)
    W = (
        (torch.randn(V, d, generator=g, dtype=torch.float64) / d**0.5 * 3)
        .to(dtype)
        .requires_grad_(True)
    )
    b = (
        (torch.randn(V, generator=g, dtype=torch.float64)).to(dtype).requires_grad_(True)
        if bias
        else None
    )
    y = torch.randint(0, V, (n,), generator=g)
    y[torch.rand(n, generator=g) < ignore] = -100
    cw = torch.rand(V, generator=g, dtype=torch.float64) + 0.2
    return h, W, b, y, cw


def _materialised(h, W, b, y, fn=F.cross_entropy, **kw):
    logits = h @ W.T + (b if b is not None else 0)
    return fn(logits, y, **kw)


def _grads(loss, params, go):
    return torch.autograd.grad(loss, [p for p in params if p is not None], go)


GRID = list(itertools.product(["mean", "sum", "none"], [False, True], [0.0, 0.1], [None, 5]))


@pytest.mark.parametrize("reduction,weighted,eps,chunk", GRID)
def test_equals_materialised_torch(reduction, weighted, eps, chunk, lce):
    h, W, b, y, cw = _problem()
    cw = cw if weighted else None
    ours = lce(
        h,
        W,
        y,
        bias=b,
        reduction=reduction,
        label_smoothing=eps,
        class_weight=cw,
        chunk_size=chunk,
        vocab_chunk_size=None if chunk is None else 16,
    )
    ref = _materialised(h, W, b, y, weight=cw, reduction=reduction, label_smoothing=eps)
    _close(ours, ref)
    go = torch.linspace(-1.0, 2.0, ours.numel(), dtype=torch.float64).reshape(
        ours.shape
    )  # non-uniform
    for g1, g2 in zip(_grads(ours, (h, W, b), go), _grads(ref, (h, W, b), go), strict=True):
        _close(g1, g2)


def test_equals_core_reference(lce):
    h, W, b, y, cw = _problem(seed=1)
    ours = lce(
        h, W, y, bias=b, class_weight=cw, label_smoothing=0.2, smoothing="others", chunk_size=8
    )
    logits = (h @ W.T + b).detach().numpy()
    core = ce.cross_entropy(
        logits, y.numpy(), weight=cw.numpy(), label_smoothing=0.2, smoothing="others"
    )
    _close(ours, torch.as_tensor(core))
    (gh, gW, gb) = _grads(ours, (h, W, b), None)
    G = torch.as_tensor(
        ce.cross_entropy_grad(
            logits, y.numpy(), weight=cw.numpy(), label_smoothing=0.2, smoothing="others"
        )
    )
    _close(gh, G @ W.detach())
    _close(gW, G.T @ h.detach())
    _close(gb, G.sum(0))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_softcap_z_loss_sample_weight(reduction, lce):
    h, W, b, y, cw = _problem(seed=2)
    s = torch.rand(h.shape[0], dtype=torch.float64)
    kw = dict(softcap=2.5, z_loss=1e-2, label_smoothing=0.1, reduction=reduction, sample_weight=s)
    ours = lce(h, W, y, bias=b, class_weight=cw, chunk_size=6, vocab_chunk_size=20, **kw)
    ref = ct.cross_entropy(h @ W.T + b, y, cw, **kw)
    _close(ours, ref)
    go = torch.rand(ours.shape, dtype=torch.float64) + 0.3
    for g1, g2 in zip(_grads(ours, (h, W, b), go), _grads(ref, (h, W, b), go), strict=True):
        _close(g1, g2)


def test_soft_targets_distillation(lce):
    h, W, b, _, cw = _problem(n=11, V=29, seed=3)
    teacher = torch.softmax(torch.randn(11, 29, dtype=torch.float64) * 2, -1)
    for red in ("mean", "none"):
        ours = lce(
            h,
            W,
            teacher,
            bias=b,
            class_weight=cw,
            label_smoothing=0.05,
            chunk_size=4,
            vocab_chunk_size=7,
            reduction=red,
        )
        ref = ct.cross_entropy(h @ W.T + b, teacher, cw, label_smoothing=0.05, reduction=red)
        _close(ours, ref)
        go = torch.rand(ours.shape, dtype=torch.float64)
        for g1, g2 in zip(_grads(ours, (h, W, b), go), _grads(ref, (h, W, b), go), strict=True):
            _close(g1, g2)


def test_shift_causal_lm(lce):
    g = torch.Generator().manual_seed(4)
    h = torch.randn(2, 9, 8, generator=g, dtype=torch.float64, requires_grad=True)
    W = torch.randn(21, 8, generator=g, dtype=torch.float64, requires_grad=True)
    tok = torch.randint(0, 21, (2, 9), generator=g)
    tok[0, 5] = -100
    ours = lce(h, W, tok, shift=True, chunk_size=3)
    ref = F.cross_entropy((h[:, :-1] @ W.T).reshape(-1, 21), tok[:, 1:].reshape(-1))
    _close(ours, ref)
    for g1, g2 in zip(_grads(ours, (h, W), None), _grads(ref, (h, W), None), strict=True):
        _close(g1, g2)
    per = lce(h, W, tok, shift=True, reduction="none")
    assert per.shape == (2, 8)


def test_chunk_size_and_batch_split_invariance(lce):
    h, W, b, y, _ = _problem(n=40, V=61, seed=5)
    base = lce(h, W, y, bias=b, reduction="sum")
    gbase = _grads(base, (h, W, b), None)
    for nc, vc in [(1, 1), (7, 61), (40, 8), (13, 60), (64, 128)]:  # V not a multiple of the chunk
        for red in ("sum", "none"):
            out = lce(h, W, y, bias=b, reduction=red, chunk_size=nc, vocab_chunk_size=vc)
            out = out.sum()
            _close(out, base)
            for g1, g2 in zip(_grads(out, (h, W, b), None), gbase, strict=True):
                _close(g1, g2)
    # batch split: sums and weights add up; the mean of the whole is Σℓ / Σw of the parts
    parts = [lce(h[a:c], W, y[a:c], bias=b, reduction="sum") for a, c in [(0, 17), (17, 40)]]
    _close(sum(parts), base)
    n_live = (y != -100).sum()
    _close(lce(h, W, y, bias=b), base / n_live)


def test_all_ignored_exact_zero_grads_and_empty_policies(lce):
    h, W, b, y, _ = _problem(n=6, seed=6)
    y = torch.full_like(y, -100)
    with pytest.warns(ce.EmptyReductionWarning):
        loss = lce(h, W, y, bias=b)
    assert torch.isnan(loss)
    for g in _grads(loss, (h, W, b), None):
        assert torch.equal(g, torch.zeros_like(g))
    loss0 = lce(h, W, y, bias=b, empty="zero")
    assert loss0.item() == 0.0
    for g in _grads(loss0, (h, W, b), None):
        assert torch.equal(g, torch.zeros_like(g))
    # the same error as the drop-in on the materialised logits (it counts the masked rows)
    for reduction in ("mean", "sum"):
        with pytest.raises(ValueError) as ours:
            lce(h, W, y, empty="raise", reduction=reduction)
        with pytest.raises(ValueError) as dropin:
            ct.cross_entropy(h @ W.T, y, empty="raise", reduction=reduction)
        assert str(ours.value) == str(dropin.value)
        assert "all 6 examples are masked" in str(ours.value)
    # masked tokens whose hidden state is garbage (NaN) still give exact zeros
    h2 = h.detach().clone()
    y2 = torch.randint(0, W.shape[0], (6,))
    y2[2] = -100
    h2[2] = float("nan")
    h2.requires_grad_(True)
    loss = lce(h2, W, y2, bias=b)
    assert torch.isfinite(loss)
    gh, gW, gb = _grads(loss, (h2, W, b), None)
    assert torch.equal(gh[2], torch.zeros_like(gh[2])) and torch.isfinite(gW).all()


def test_gradcheck_float64(lce):
    h, W, b, y, cw = _problem(n=5, d=3, V=7, seed=7)
    for red in ("mean", "none"):
        assert torch.autograd.gradcheck(
            lambda a, B, c, red=red: lce(
                a,
                B,
                y,
                bias=c,
                reduction=red,
                class_weight=cw,
                label_smoothing=0.2,
                softcap=4.0,
                z_loss=0.05,
                chunk_size=2,
                vocab_chunk_size=3,
                recompute=True,
            ),
            (h, W, b),
        )
    # the one-pass path hands its gradients over once, and says so on a second backward
    loss = lce(h, W, y, bias=b)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="recompute=True"):
        loss.backward()
    # and its gradients equal those gradcheck verified
    g1 = _grads(lce(h, W, y, bias=b, softcap=4.0, z_loss=0.05), (h, W, b), None)
    g2 = _grads(
        lce(h, W, y, bias=b, softcap=4.0, z_loss=0.05, recompute=True),
        (h, W, b),
        None,
    )
    for a, c in zip(g1, g2, strict=True):
        _close(a, c)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_no_worse_than_torch(dtype, lce):
    h, W, b, y, _ = _problem(n=64, d=32, V=300, seed=8, dtype=dtype)
    ours = lce(h, W, y, bias=b, chunk_size=16)
    assert ours.dtype == torch.float32
    naive = F.cross_entropy(F.linear(h, W, b), y)
    hd, Wd, bd = (t.detach().double().requires_grad_(True) for t in (h, W, b))
    truth = F.cross_entropy(F.linear(hd, Wd, bd), y)
    err, err_n = abs(ours.double() - truth).item(), abs(naive.double() - truth).item()
    assert err <= 4 * err_n or err <= err_n + 1e-2, (err, err_n)
    gt = _grads(truth, (hd, Wd, bd), None)
    go = _grads(ours, (h, W, b), None)
    gn = _grads(naive, (h, W, b), None)
    for a, n_, t in zip(go, gn, gt, strict=True):
        assert a.dtype == dtype
        e, en = (a.double() - t).abs().max().item(), (n_.double() - t).abs().max().item()
        assert e <= 4 * en or e <= en + 1e-2, (e, en)


def test_dtype_promotion_table(lce):
    h, W, b, y, _ = _problem(n=8, d=6, V=10, seed=9)
    hb = h.detach().to(torch.bfloat16).requires_grad_(True)
    out = lce(hb, W, y, bias=b)  # bf16 hidden, fp64 weight: computes in float64
    assert out.dtype == torch.float64
    ref = F.cross_entropy(hb.double() @ W.T + b, y)
    _close(out, ref)
    (gh,) = torch.autograd.grad(out, hb)
    assert gh.dtype == torch.bfloat16
    W32 = W.detach().float()
    out32 = lce(hb, W32, y)
    assert out32.dtype == torch.float32


def test_return_lse_and_no_grad_path(lce):
    h, W, b, y, _ = _problem(seed=10)
    loss, lse = lce(h, W, y, bias=b, return_lse=True, chunk_size=5)
    full = torch.logsumexp(h @ W.T + b, -1)
    live = y != -100
    _close(lse[live], full[live])
    assert torch.isnan(lse[~live]).all()
    with torch.no_grad():
        nog = lce(h, W, y, bias=b, chunk_size=5, vocab_chunk_size=9)
    _close(nog, loss)
    _, lse_none = lce(h, W, y, bias=b, reduction="none", return_lse=True)
    _close(lse_none[live], full[live])


def test_inputs_not_modified_and_validation():
    h, W, b, y, _ = _problem(n=9, seed=11)
    copies = [t.detach().clone() for t in (h, W, b, y)]
    ct.linear_cross_entropy(h, W, y, bias=b, softcap=3.0).backward()
    ct.linear_cross_entropy(h, W, y, bias=b, reduction="none").sum().backward()
    for t, c in zip((h, W, b, y), copies, strict=True):
        assert torch.equal(t.detach(), c)
    bad = y.clone()
    bad[4] = W.shape[0]
    with pytest.raises(ValueError, match="out-of-range"):
        ct.linear_cross_entropy(h, W, bad)
    per = ct.linear_cross_entropy(h, W, bad, reduction="none", validate=False)
    assert torch.isnan(per[4]) and torch.isfinite(per[torch.arange(9) != 4]).all()
    assert torch.isnan(ct.linear_cross_entropy(h, W, bad, validate=False))
    with pytest.raises(ValueError, match="feature size"):
        ct.linear_cross_entropy(h[:, :3], W, y)
    with pytest.raises(ValueError, match="bias"):
        ct.linear_cross_entropy(h, W, y, bias=b[:-1])
    with pytest.raises(ValueError, match="'auto', 'torch', 'numba', 'triton'; got 'cuda'"):
        ct.linear_cross_entropy(h, W, y, impl="cuda")
    from crossentropy.torch.linear import resolve_impl

    with pytest.raises(ValueError, match="impl='numba' runs on CPU tensors"):
        resolve_impl("numba", torch.device("meta"))
    if (
        os.environ.get("TRITON_INTERPRET", "0") != "1"
    ):  # CPU tensors: Triton needs CUDA (or its interpreter)
        with pytest.raises(ValueError, match="impl='triton' needs CUDA tensors"):
            ct.linear_cross_entropy(h, W, y, impl="triton")


def test_offsets_are_unbounded_python_ints():
    spans = chunks(2**33 + 5, 2**31)
    first = next(iter(spans))
    assert first == (0, 2**31)
    assert list(chunks(2**33 + 5, 2**31))[-1] == (2**33, 2**33 + 5)


def _tile_problem(seed, soft=False, smoothing=0.1):
    """A tile of 5 rows × 11 classes (one ignored row), its prepared rows, and the softcap input."""
    from crossentropy.torch._common import prepare_rows

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 11, generator=g, dtype=torch.float64) * 3
    cw = torch.rand(11, generator=g, dtype=torch.float64) + 0.2
    if soft:
        target = torch.softmax(torch.randn(5, 11, generator=g, dtype=torch.float64), -1)
        target[1] = 0  # an all-zero row is masked
    else:
        target = torch.tensor([3, -100, 0, 10, 7])
    rows = prepare_rows(
        target,
        num_classes=11,
        local_classes=11,
        batch_shape=(5,),
        dtype=torch.float64,
        device=x.device,
        class_weight=cw,
        sample_weight=torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0], dtype=torch.float64),
        ignore_index=-100,
        label_smoothing=smoothing,
        smoothing="uniform",
        divide_by="weight",
        validate=True,
        soft=soft,
    )
    return x, target, cw, rows


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("cap", [None, 2.5])
def test_torch_tiles_against_autograd_of_the_drop_in(soft, cap):
    """TORCH_TILES: stats over vocabulary tiles, grad (soft-cap factor included) and the one-pass
    stats_and_grad, against the drop-in ``cross_entropy`` on the whole logits and its autograd."""
    from crossentropy.torch._plan import row_loss
    from crossentropy.torch._tiles import TORCH_TILES, softcap

    x, target, cw, rows = _tile_problem(seed=20 + soft, soft=soft)
    sw = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0], dtype=torch.float64)
    z_loss, r, go = 1e-2, slice(None), torch.linspace(-1.0, 2.0, 5, dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    ref = ct.cross_entropy(
        xr,
        target,
        weight=cw,
        sample_weight=sw,
        label_smoothing=0.1,
        z_loss=z_loss,
        softcap=cap,
        reduction="none",
    )
    (ref_grad,) = torch.autograd.grad(ref, xr, go)
    z = softcap(x, cap)
    st = None
    for v0, v1 in chunks(11, 4):  # tiles of 4, 4, 3 classes
        st = TORCH_TILES.stats(z[:, v0:v1].clone(), rows, r, v0, st)
    lse = st.lse()
    _close(lse, torch.logsumexp(z, -1))
    live = rows.active
    _close(row_loss(rows, r, lse, st.p, st.q, z_loss)[live], ref[live])
    gs = go * rows.s
    g = torch.cat(
        [
            TORCH_TILES.grad(z[:, v0:v1].clone(), lse, gs, rows, r, v0, z_loss, cap)
            for v0, v1 in chunks(11, 4)
        ],
        1,
    )
    _close(g, ref_grad)
    for tiles in _one_pass_tiles():
        st1, g1 = tiles.stats_and_grad(z.clone(), rows, r, gs, z_loss, cap)
        _close(st1.lse(), lse)
        _close(st1.p, st.p)
        if st.q is not None or st1.q is not None:
            _close(st1.q, st.q)
        _close(g1, ref_grad)


def _one_pass_tiles():
    """The tile classes whose ``stats_and_grad`` serves the one-pass path on CPU."""
    from crossentropy.torch._tiles import TORCH_TILES

    if not kernels.available():
        return [TORCH_TILES]
    from crossentropy.torch._numba_tiles import NUMBA_TILES

    return [TORCH_TILES, NUMBA_TILES]


@pytest.mark.skipif(not kernels.available(), reason="the numba tiles need numba")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cap", [None, 3.0])
@pytest.mark.parametrize("weighted,eps", [(False, 0.0), (True, 0.1)])
def test_numba_tile_equals_torch_tile_with_non_finite_logits(dtype, cap, weighted, eps):
    """NUMBA_TILES.stats_and_grad against the torch reference tile, every statistic, on rows with
    −inf entries, a NaN, a +inf, all −inf and all equal (docs/semantics.md §3), long enough
    (300 classes) for the vectorised loops and the float32 exp polynomial."""
    from crossentropy.torch._common import prepare_rows
    from crossentropy.torch._numba_tiles import NUMBA_TILES
    from crossentropy.torch._tiles import TORCH_TILES

    g = torch.Generator().manual_seed(31)
    n, V = 9, 300
    z = (torch.randn(n, V, generator=g, dtype=torch.float64) * 4).to(dtype)
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    z[1] = -math.inf
    z[2, 5] = math.nan
    z[3, 7] = -math.inf
    z[4] = z[4, 0]
    if cap is None:
        z[5, 9] = math.inf
    y = torch.randint(0, V, (n,), generator=g)
    y[3] = 7  # the target's logit is −inf
    cw = (torch.rand(V, generator=g, dtype=torch.float64) + 0.2).to(dtype) if weighted else None
    if cw is not None:
        cw[11] = 0.0
    rows = prepare_rows(
        y, num_classes=V, local_classes=V, batch_shape=(n,), dtype=dtype, device="cpu",
        class_weight=cw, sample_weight=None, ignore_index=-100, label_smoothing=eps,
        smoothing="uniform", divide_by="weight", validate=True,
    )  # fmt: skip
    gs = torch.rand(n, generator=g, dtype=torch.float64).to(dtype)
    kw = dict(entropy=True, argmax=True)
    st0, g0 = TORCH_TILES.stats_and_grad(z.clone(), rows, slice(None), gs, 1e-3, cap, **kw)
    st1, g1 = NUMBA_TILES.stats_and_grad(z.clone(), rows, slice(None), gs, 1e-3, cap, **kw)
    tol = TOL64 if dtype == torch.float64 else dict(rtol=2e-5, atol=2e-6)
    _close(st1.lse(), st0.lse(), **tol)
    _close(st1.entropy(), st0.entropy(), **tol)
    _close(st1.p, st0.p, **tol)
    if eps:
        _close(st1.q, st0.q, **(tol if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-3)))
    else:
        assert st1.q is None and st0.q is None
    assert torch.equal(st1.arg, st0.arg)
    _close(g1, g0, **tol)


def test_module():
    torch.manual_seed(0)
    head = ct.LinearCrossEntropyLoss(
        6, 13, bias=True, label_smoothing=0.1, chunk_size=3, dtype=torch.float64
    )
    h = torch.randn(7, 6, dtype=torch.float64)
    y = torch.randint(0, 13, (7,))
    loss = head(h, y)
    ref = F.cross_entropy(h @ head.weight.T + head.bias, y, label_smoothing=0.1)
    _close(loss, ref)
    loss.backward()
    assert head.weight.grad is not None and head.bias.grad is not None


def test_non_contiguous_hidden_and_tied_weight(lce):
    g = torch.Generator().manual_seed(12)
    emb_t = torch.randn(8, 31, generator=g, dtype=torch.float64)  # (d, V): W is its transpose view
    W = emb_t.T.requires_grad_(False)
    Wv = W.detach().requires_grad_(True)
    hs = torch.randn(3, 20, 8, generator=g, dtype=torch.float64)[:, ::2]  # step-sliced sequence
    h = hs.detach().requires_grad_(True)
    y = torch.randint(0, 31, (3, 10), generator=g)
    ours = lce(h, Wv, y, shift=True, chunk_size=4)
    hr, Wr = (
        h.detach().contiguous().requires_grad_(True),
        W.detach().contiguous().requires_grad_(True),
    )
    ref = F.cross_entropy((hr[:, :-1] @ Wr.T).reshape(-1, 31), y[:, 1:].reshape(-1))
    _close(ours, ref)
    for a, b in zip(_grads(ours, (h, Wv), None), _grads(ref, (hr, Wr), None), strict=True):
        _close(a, b)
