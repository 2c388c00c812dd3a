"""Triton kernels in Triton's CPU interpreter: the cases run by tests/torch/test_triton_interpret.py.

Not collected on its own (the name does not start with ``test_``): the parent test runs
``pytest`` on this file in a subprocess with ``TRITON_INTERPRET=1`` set before triton is
imported, so the rest of the suite is unaffected. Run by hand with

    TRITON_INTERPRET=1 python -m pytest tests/torch/triton_cases.py -q -p no:cacheprovider

Oracles: ``impl="torch"`` (the chunked reference), ``F.cross_entropy`` on the materialised
logits differentiated by autograd, and the drop-in ``crossentropy.torch.cross_entropy``
(soft-cap, z-loss). Small shapes: N = 13, d = 16, V = 37 with kernel blocks of 16 columns,
so V is not a multiple of the block.
"""

import itertools
import os
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"
if not INTERPRETED:  # pragma: no cover - imported by doctest collection in the parent run
    pytestmark = pytest.mark.skip(reason="run by test_triton_interpret.py with TRITON_INTERPRET=1")
else:
    pytest.importorskip("triton", reason="triton is not installed")
    import crossentropy.torch as ct
    from crossentropy.torch import triton_kernels as tk

    tk.BLOCK_V = 16
    # ±inf / NaN logits are part of the cases, and the interpreter evaluates both sides of
    # tl.where with NumPy (0·inf before the guard discards it): its warnings are noise here
    pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

FP32 = dict(rtol=1e-5, atol=1e-6)
FP64 = dict(rtol=1e-12, atol=1e-13)
N, D, V = 13, 16, 37


def _close(a, b, tol):
    np.testing.assert_allclose(
        a.detach().double().numpy(), b.detach().double().numpy(), equal_nan=True, **tol
    )


def _problem(seed=0, dtype=torch.float32, shape=(N,), ignore=0.2):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(*shape, D, generator=g, dtype=torch.float64)
    W = torch.randn(V, D, generator=g, dtype=torch.float64) / D**0.5 * 2
    b = torch.randn(V, generator=g, dtype=torch.float64)
    y = torch.randint(0, V, shape, generator=g)
    y[torch.rand(shape, generator=g) < ignore] = -100
    y.view(-1)[1] = -100  # at least one ignored row
    cw = torch.rand(V, generator=g, dtype=torch.float64) + 0.2
    leaf = [t.to(dtype).requires_grad_(True) for t in (h, W, b)]
    return (*leaf, y, cw.to(dtype))


def _go(out):
    """A non-uniform upstream gradient (the reduction='none' bug of other fused kernels)."""
    return torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).reshape(out.shape)


class _Spy:
    """Counts the kernel launches of a block (to be sure the Triton path ran)."""

    def __init__(self, monkeypatch):
        self.stats = self.grads = 0
        up, gr = tk.online_update_, tk.grad_tile_

        def up_(*a, **k):
            self.stats += 1
            return up(*a, **k)

        def gr_(*a, **k):
            self.grads += 1
            return gr(*a, **k)

        monkeypatch.setattr(tk, "online_update_", up_)
        monkeypatch.setattr(tk, "grad_tile_", gr_)


OPTIONS = {
    "plain": dict(),
    "smooth_weight": dict(label_smoothing=0.1, class_weight=True),
    "others_chunked": dict(
        label_smoothing=0.2, smoothing="others", chunk_size=4, vocab_chunk_size=16
    ),
    "shift": dict(shift=True),
}
GRID = list(itertools.product(["mean", "sum", "none"], OPTIONS))


@pytest.mark.parametrize("reduction,option", GRID)
def test_equals_torch_impl_and_materialised(reduction, option, monkeypatch):
    kw = dict(OPTIONS[option])
    shape = (3, 5) if kw.get("shift") else (N,)
    h, W, b, y, cw = _problem(seed=list(OPTIONS).index(option), shape=shape)
    if kw.pop("class_weight", False):
        kw["class_weight"] = cw
    spy = _Spy(monkeypatch)
    ours = ct.linear_cross_entropy(h, W, y, bias=b, reduction=reduction, impl="triton", **kw)
    assert spy.stats > 0  # the forward ran the kernels (mean/sum: the gradient tiles too)
    ref_impl = ct.linear_cross_entropy(h, W, y, bias=b, reduction=reduction, impl="torch", **kw)
    hh, yy = (h[..., :-1, :], y[..., 1:]) if kw.get("shift") else (h, y)
    logits = (hh @ W.T + b).reshape(-1, V)
    mat = F.cross_entropy(
        logits,
        yy.reshape(-1),
        weight=kw.get("class_weight"),
        reduction=reduction,
        label_smoothing=kw.get("label_smoothing", 0.0),
    )
    if (
        kw.get("smoothing") == "others"
    ):  # not PyTorch's formula: the drop-in (core semantics) instead
        mat = ct.cross_entropy(
            logits, yy.reshape(-1), reduction=reduction, label_smoothing=0.2, smoothing="others"
        )
    mat = mat.reshape(ours.shape)
    _close(ours, ref_impl, FP32)
    _close(ours, mat, FP32)
    go = _go(ours)
    g_ours = torch.autograd.grad(ours, (h, W, b), go)
    assert spy.grads > 0
    for g1, g2, g3 in zip(
        g_ours,
        torch.autograd.grad(ref_impl, (h, W, b), go),
        torch.autograd.grad(mat, (h, W, b), go),
        strict=True,
    ):
        _close(g1, g2, FP32)
        _close(g1, g3, FP32)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_softcap_zloss_equal_dropin_on_logits(reduction):
    h, W, b, y, cw = _problem(seed=3)
    kw = dict(reduction=reduction, softcap=2.5, z_loss=1e-2, label_smoothing=0.1, class_weight=cw)
    ours = ct.linear_cross_entropy(
        h, W, y, bias=b, impl="triton", vocab_chunk_size=16, chunk_size=5, **kw
    )
    ref = ct.cross_entropy(
        h @ W.T + b,
        y,
        reduction=reduction,
        softcap=2.5,
        z_loss=1e-2,
        label_smoothing=0.1,
        weight=cw,
    )
    _close(ours, ref, FP32)
    go = _go(ours)
    for g1, g2 in zip(
        torch.autograd.grad(ours, (h, W, b), go),
        torch.autograd.grad(ref, (h, W, b), go),
        strict=True,
    ):
        _close(g1, g2, FP32)


def test_soft_targets_with_class_weights_equal_torch_impl():
    h, W, b, _, cw = _problem(seed=4)
    g = torch.Generator().manual_seed(5)
    soft = torch.softmax(torch.randn(N, V, generator=g), -1)
    soft[2] = 0  # an all-zero row is masked
    for reduction in ("mean", "none"):
        kw = dict(bias=b, reduction=reduction, class_weight=cw, label_smoothing=0.1)
        ours = ct.linear_cross_entropy(h, W, soft, impl="triton", vocab_chunk_size=16, **kw)
        ref = ct.linear_cross_entropy(h, W, soft, impl="torch", vocab_chunk_size=16, **kw)
        _close(ours, ref, FP32)
        go = _go(ours)
        for g1, g2 in zip(
            torch.autograd.grad(ours, (h, W, b), go),
            torch.autograd.grad(ref, (h, W, b), go),
            strict=True,
        ):
            _close(g1, g2, FP32)


def test_float64_to_float64_rounding():
    h, W, b, y, cw = _problem(seed=6, dtype=torch.float64)
    ours = ct.linear_cross_entropy(
        h, W, y, bias=b, label_smoothing=0.1, class_weight=cw, impl="triton"
    )
    ref = F.cross_entropy(h @ W.T + b, y, weight=cw, label_smoothing=0.1)
    _close(ours, ref, FP64)
    for g1, g2 in zip(
        torch.autograd.grad(ours, (h, W, b)), torch.autograd.grad(ref, (h, W, b)), strict=True
    ):
        _close(g1, g2, FP64)


@pytest.mark.parametrize(
    "reduction,empty", [("mean", "zero"), ("mean", "nan"), ("sum", "nan"), ("none", "nan")]
)
def test_all_ignored_gives_exact_zero_gradients(reduction, empty):
    h, W, b, y, _ = _problem(seed=7)
    y[:] = -100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = ct.linear_cross_entropy(
            h, W, y, bias=b, reduction=reduction, empty=empty, impl="triton"
        )
    if reduction == "mean" and empty == "nan":
        assert torch.isnan(loss)
    else:
        assert torch.equal(loss, torch.zeros_like(loss))
    for g in torch.autograd.grad(loss, (h, W, b), _go(loss)):
        assert torch.equal(g, torch.zeros_like(g))


def test_out_of_range_target_without_validation_is_nan():
    h, W, b, y, _ = _problem(seed=8)
    y[4] = V  # out of range
    per = ct.linear_cross_entropy(h, W, y, bias=b, reduction="none", validate=False, impl="triton")
    assert torch.isnan(per[4]) and torch.isfinite(per[torch.arange(N) != 4]).all()
    assert torch.isnan(ct.linear_cross_entropy(h, W, y, bias=b, validate=False, impl="triton"))


def test_inputs_not_modified():
    h, W, b, y, cw = _problem(seed=9)
    before = [t.detach().clone() for t in (h, W, b, y)]
    ct.linear_cross_entropy(h, W, y, bias=b, softcap=3.0, impl="triton").backward()
    ct.linear_cross_entropy(h, W, y, bias=b, reduction="none", impl="triton").sum().backward()
    for t, c in zip((h, W, b, y), before, strict=True):
        assert torch.equal(t.detach(), c)


# ---- the kernels on plain logits -------------------------------------------------------------


def _logits_problem(seed=10):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(6, V, generator=g) * 3
    y = torch.tensor([0, V - 1, 16, 5, -1, 20])
    return z, y


def test_online_state_over_tiles_equals_logsumexp_and_sums():
    z, y = _logits_problem()
    cw = torch.rand(V, generator=torch.Generator().manual_seed(1)) + 0.1
    yc = y.clamp(min=0)
    st = tk.OnlineState.empty(6, torch.float32, "cpu")
    for v0 in range(0, V, 16):  # tiles of 16, 16, 5 columns
        tile = z[:, v0 : v0 + 16]
        tk.online_update_(
            tile,
            st,
            v0=v0,
            n_classes=V,
            target=y,
            target_coef=cw[yc],
            class_weight=cw[v0 : v0 + 16],
            want_q=True,
        )
    _close(st.lse(), torch.logsumexp(z, -1), FP32)
    p_ref = torch.where(y >= 0, cw[yc] * z.gather(1, yc[:, None])[:, 0], torch.zeros(6))
    _close(st.p, p_ref, FP32)
    _close(st.q, z @ cw, FP32)


def test_online_state_edge_rows():
    z = torch.zeros(4, V)
    z[0] = float("-inf")  # all −inf: lse = −inf
    z[1, 3] = float("inf")  # a +inf logit: lse = +inf
    z[2, :20] = float("-inf")  # partly −inf
    y = torch.tensor([-1, 0, 25, -7])  # −7: out of range → NaN P
    st = tk.OnlineState.empty(4, torch.float32, "cpu")
    tk.online_update_(z, st, n_classes=V, target=y)
    lse = st.lse()
    assert lse[0] == float("-inf") and lse[1] == float("inf")
    _close(lse[2:3], torch.logsumexp(z[2:3], -1), FP32)
    assert st.p[0] == 0 and st.p[2] == 0 and torch.isnan(st.p[3])


def test_grad_tile_masks_and_special_rows():
    """Columns past V untouched (strided views), masked rows exact 0, −inf logits with zero target give 0."""
    z, y = _logits_problem()
    z[3, 7] = float("-inf")  # −inf logit, zero target coefficient → 0
    z[4] = float("nan")  # a masked row (row_scale 0) holding NaN → exact 0
    buf = torch.full((6, V + 11), 123.0)
    buf[:, :V] = z
    out = torch.full((6, V + 5), -7.0)
    lse = torch.logsumexp(z, -1)
    gs = torch.tensor([1.0, 0.5, 2.0, -1.0, 0.0, 1.0])
    g = tk.grad_tile_(
        buf[:, :V],
        lse,
        gs,
        torch.ones(6),
        n_classes=V,
        target=y,
        target_value=torch.ones(6),
        out=out[:, :V],
    )
    assert g.data_ptr() == out.data_ptr()
    assert torch.equal(out[:, V:], torch.full((6, 5), -7.0))  # nothing written past the tile
    assert torch.equal(buf[:, V:], torch.full((6, 11), 123.0))
    torch.testing.assert_close(buf[:, :V], z, rtol=0, atol=0, equal_nan=True)  # input not written
    ref = torch.softmax(z, -1)
    live = torch.tensor([0, 1, 2, 3, 5])
    ref[live, y[live]] -= 1
    ref = ref * gs[:, None]
    _close(g[live], ref[live], FP32)
    assert g[3, 7] == 0
    assert torch.equal(g[4], torch.zeros(V))


def test_grad_tile_out_of_range_target_is_nan_row():
    z, y = _logits_problem()
    y[2] = V + 3
    g = tk.grad_tile_(
        z.clone(),
        torch.logsumexp(z, -1),
        torch.ones(6),
        torch.ones(6),
        n_classes=V,
        target=y,
        target_value=torch.ones(6),
    )
    assert torch.isnan(g[2]).all() and torch.isfinite(g[torch.arange(6) != 2]).all()


# ---- the two TileOps implementations, method by method ---------------------------------------


def _tile_rows(soft: bool):
    """A tile of 6 rows × V classes (float64) and prepared rows: weights, smoothing, a masked row."""
    from crossentropy.torch._common import prepare_rows

    g = torch.Generator().manual_seed(30 + soft)
    x = torch.randn(6, V, generator=g, dtype=torch.float64) * 3
    if soft:
        target = torch.softmax(torch.randn(6, V, generator=g, dtype=torch.float64), -1)
        target[4] = 0  # an all-zero row is masked
    else:
        target = torch.tensor([0, V - 1, 16, 5, -100, 20])
    rows = prepare_rows(
        target,
        num_classes=V,
        local_classes=V,
        batch_shape=(6,),
        dtype=torch.float64,
        device=x.device,
        class_weight=torch.rand(V, generator=g, dtype=torch.float64) + 0.2,
        sample_weight=torch.rand(6, generator=g, dtype=torch.float64) + 0.5,
        ignore_index=-100,
        label_smoothing=0.1,
        smoothing="uniform",
        divide_by="weight",
        validate=True,
        soft=soft,
    )
    return x, rows


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("cap", [None, 2.5])
def test_triton_tiles_equal_torch_tiles(soft, cap):
    """stats over vocabulary tiles, grad (soft-cap factor included) and stats_and_grad: equal per method."""
    from crossentropy.torch._plan import chunks
    from crossentropy.torch._tiles import TORCH_TILES, softcap

    x, rows = _tile_rows(soft)
    z = softcap(x, cap)
    r, z_loss = torch.arange(6), 1e-2
    gs = torch.linspace(-1.0, 2.0, 6, dtype=torch.float64) * rows.s
    states = []
    for ops in (tk.TRITON_TILES, TORCH_TILES):
        st = None
        for v0, v1 in chunks(V, 16):  # tiles of 16, 16, 5 columns
            st = ops.stats(z[:, v0:v1].clone(), rows, r, v0, st)
        states.append(st)
    tri, ref = states
    _close(tri.lse(), ref.lse(), FP64)
    _close(tri.lse(), torch.logsumexp(z, -1), FP64)
    _close(tri.p, ref.p, FP64)
    _close(tri.q, ref.q, FP64)
    lse = ref.lse()
    grads = [
        torch.cat(
            [
                ops.grad(z[:, v0:v1].clone(), lse, gs, rows, r, v0, z_loss, cap)
                for v0, v1 in chunks(V, 16)
            ],
            1,
        )
        for ops in (tk.TRITON_TILES, TORCH_TILES)
    ]
    _close(grads[0], grads[1], FP64)
    (st_t, g_t), (st_r, g_r) = (
        ops.stats_and_grad(z.clone(), rows, r, gs, z_loss, cap)
        for ops in (tk.TRITON_TILES, TORCH_TILES)
    )
    _close(st_t.lse(), st_r.lse(), FP64)
    _close(st_t.p, st_r.p, FP64)
    _close(g_t, g_r, FP64)
    _close(g_t, grads[1], FP64)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, FP32), (torch.float64, FP64)])
@pytest.mark.parametrize(
    "reduction,chunks", [("mean", {}), ("none", dict(vocab_chunk_size=16, chunk_size=5))]
)
def test_per_token_statistics_equal_torch_impl_and_materialised(dtype, tol, reduction, chunks):
    """return_stats: the kernels fold T (entropy) and the argmax; oracles: torch tiles, softmax, argmax."""
    h, W, b, y, _ = _problem(seed=8, dtype=dtype)
    b.data[3] = 30.0  # class 3 is the largest logit of most rows...
    W.data[20], b.data[20] = W.data[3], b.data[3]  # ...tied with class 20, in another block of 16
    kw = dict(bias=b, reduction=reduction, return_stats=True, **chunks)
    _, ours = ct.linear_cross_entropy(h, W, y, impl="triton", **kw)
    _, ref = ct.linear_cross_entropy(h, W, y, impl="torch", **kw)
    z = (h @ W.T + b).detach()
    act = y != -100
    q = torch.softmax(z, -1)
    _close(ours.entropy[act], -(q * torch.log_softmax(z, -1)).sum(-1)[act], tol)
    _close(ours.logsumexp[act], torch.logsumexp(z, -1)[act], tol)
    _close(ours.log_prob, ref.log_prob, tol)
    _close(ours.entropy, ref.entropy, tol)
    assert torch.equal(ours.argmax, ref.argmax)
    assert torch.equal(ours.argmax[act], z.argmax(-1)[act])
    assert int((ours.argmax == 3).sum()) > 0 and int((ours.argmax == 20).sum()) == 0
