"""The distillation's divergence kernel in Triton's CPU interpreter: run by tests/torch/test_triton_distill.py.

Not collected on its own (the name does not start with ``test_``): the parent test runs
``pytest`` on this file in a subprocess with ``TRITON_INTERPRET=1`` set before triton is
imported, as tests/torch/test_triton_interpret.py does for the cross-entropy kernels. By hand:

    TRITON_INTERPRET=1 python -m pytest tests/torch/triton_distill_cases.py -q -p no:cacheprovider

Oracle: ``crossentropy.torch.distill.divergence_rows`` on ``log_softmax`` of the tempered
logits (torch), in the kernel's dtype. Every direction (JSD β ∈ {0, 0.3, 0.5, 1}) meets every
temperature T ∈ {0.5, 1, 3} over V ∈ {1, 7, 37, 1000, 5003} (blocks of 16, 512 and 4096
columns: no V is a multiple of its block), with −inf logits in the student, the teacher and
both, logits of ±1e4, and a row with a single finite class. The interpreter is slow: a few
rows per call, one temperature per (direction, V) in turn.
"""

import math
import os

import numpy as np
import pytest
import torch

INTERPRETED = os.environ.get("TRITON_INTERPRET", "0") == "1"
if not INTERPRETED:  # pragma: no cover - imported by doctest collection in the parent run
    pytestmark = pytest.mark.skip(reason="run by test_triton_distill.py with TRITON_INTERPRET=1")
else:
    pytest.importorskip("triton", reason="triton is not installed")
    from crossentropy.torch._triton_distill import divergence_tile_
    from crossentropy.torch.distill import divergence_rows

    # the interpreter evaluates both sides of tl.where with NumPy (−inf − −inf, or the
    # rescaling e^{R_old − R} of a sum still 0, before the guard discards them): noise here
    pytestmark = [
        pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
        pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning"),
    ]

#: properties.md: float64 against the reference at rtol 1e-12; float32 at rtol 1e-5, atol 1e-6
TOL = {torch.float64: dict(rtol=1e-12, atol=1e-13), torch.float32: dict(rtol=1e-5, atol=1e-6)}
CASES = [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.0), ("jsd", 0.3), ("jsd", 0.5), ("jsd", 1.0)]
TEMPS = (0.5, 1.0, 3.0)
#: (V, block): V = 1 and 7 in one partial block, 37, 1000 and 5003 over several
SIZES = ((1, 16), (7, 16), (37, 16), (1000, 512), (5003, 4096))
NINF = -math.inf


def _rows(v: int, seed: int, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Student and teacher logits ``(n, v)``: ordinary rows and the edge rows of the module docstring."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * 3

    if v == 1:  # a row of a single class: p = q = 1, D = 0 and a zero gradient
        z, zt = randn(3, 1), randn(3, 1)
        z[2], zt[2] = 1e4, -1e4
        return z.to(dtype), zt.to(dtype)
    z, zt = randn(7, v), randn(7, v)
    some = torch.randperm(v, generator=g)[: max(1, v // 3)]
    z[1, some] = NINF  # q = 0 where p > 0: forward D = +inf, its gradient finite
    zt[2, some] = NINF  # p = 0 where q > 0: reverse D = +inf, its gradient not finite
    both = torch.cat([some, torch.tensor([0, v - 1])])
    z[3, both] = zt[3, both] = NINF  # classes −inf in both (the first and the last among them)
    signs = torch.where(torch.rand(2, v, generator=g) < 0.5, -1.0, 1.0).double()
    z[4], zt[4] = 1e4 * signs[0], 1e4 * signs[1]  # ±1e4: exp under- and overflow without the max
    z[4, 1], zt[4, 2] = 1e4, 1e4  # a +1e4 in both
    z[5], zt[5] = NINF, NINF
    z[5, 2], zt[5, 2] = 5.0, -7.0  # a single finite class: p = q = one-hot
    zt[6] = z[6]  # the teacher equals the student: D = 0
    return z.to(dtype), zt.to(dtype)


def _oracle(z, zt, T, direction, beta):
    lp, lq = torch.log_softmax(zt / T, -1), torch.log_softmax(z / T, -1)
    return divergence_rows(lp, lq, direction, beta)


def _close(a, b, tol):
    """Equal within ``tol``; non-finite entries equal (the same inf, NaN where NaN)."""
    a, b = a.detach().double().numpy(), b.detach().double().numpy()
    np.testing.assert_allclose(a, b, equal_nan=True, **tol)


def _finite_abs(t):
    return torch.where(torch.isfinite(t), t.abs(), torch.zeros_like(t))


def _close_rows(g, ref, ref_d, tol):
    """:func:`_close` with ``atol`` relative to each row's scale ``max(1, |D_i|, max_c |G_ic|)``.

    The reverse and JSD gradients ``q_c (d_c − D)`` cancel where ``d_c ≈ D``, leaving the
    rounding of ``log q_c − log p_c`` (float32: ≈ 1e-7 · |D|), which torch's own float32
    ``divergence_rows`` carries as much as the kernel does (both measured against float64).
    """
    scale = torch.maximum(_finite_abs(ref).amax(-1), _finite_abs(ref_d)).clamp(min=1.0)[:, None]
    _close(g / scale, ref / scale, tol)


def _run(z, zt, T, direction, beta, block):
    """The kernel on views into wider buffers (row strides ≠ V): returns D, the gradient, the buffers."""
    n, v = z.shape
    buf = torch.full((n, v + 5), 123.0, dtype=z.dtype)
    buf[:, :v] = z
    tbuf = torch.full((n, v + 3), -9.0, dtype=z.dtype)
    tbuf[:, :v] = zt
    d = divergence_tile_(
        buf[:, :v], tbuf[:, :v], temperature=T, direction=direction, beta=beta, block_v=block
    )
    return d, buf[:, :v], buf, tbuf


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{d}-{b}" for d, b in CASES])
def test_equals_divergence_rows(case, dtype):
    direction, beta = CASES[case]
    for k, (v, block) in enumerate(SIZES):
        T = TEMPS[(case + k) % 3]  # over the cases, each direction meets each T at several V
        z, zt = _rows(v, 100 * case + k, dtype)
        d, g, buf, tbuf = _run(z, zt, T, direction, beta, block)
        ref_d, ref_g = _oracle(z, zt, T, direction, beta)
        assert d.dtype == dtype and d.shape == (z.shape[0],)
        _close(d, ref_d, TOL[dtype])
        _close_rows(g, ref_g, ref_d, TOL[dtype])
        assert torch.equal(buf[:, v:], torch.full((z.shape[0], 5), 123.0, dtype=dtype))
        assert torch.equal(tbuf[:, :v], zt)  # the teacher is read only
        assert torch.equal(tbuf[:, v:], torch.full((z.shape[0], 3), -9.0, dtype=dtype))


@pytest.mark.parametrize("case", range(len(CASES)), ids=[f"{d}-{b}" for d, b in CASES])
def test_edge_rows_by_the_formulas(case):
    """The edge rows against §13's statements, not only against the oracle (float64, V = 37)."""
    direction, beta = CASES[case]
    z, zt = _rows(37, 7, torch.float64)
    d, g, _, _ = _run(z, zt, 2.0, direction, beta, 16)
    neither = (z[3] == NINF) & (zt[3] == NINF)
    assert torch.equal(g[3, neither], torch.zeros(int(neither.sum()), dtype=torch.float64))
    assert abs(float(d[5])) <= 1e-15 and (g[5].abs() <= 1e-15).all()  # log m = log 1 may round
    assert abs(float(d[6])) < 1e-15
    fwd = direction == "forward" or (direction == "jsd" and beta == 0.0)
    rev = direction == "reverse" or (direction == "jsd" and beta == 1.0)
    assert d[1] == math.inf if fwd else math.isfinite(d[1])  # q = 0 < p somewhere
    assert torch.isfinite(g[1]).all()  # the forward gradient q − p stays finite
    assert d[2] == math.inf if rev else math.isfinite(d[2])  # p = 0 < q somewhere
    assert torch.isfinite(g[2]).all() != rev
    finite = torch.isfinite(d)
    assert (d[finite] >= -1e-14).all()
    if direction == "jsd" and 0 < beta < 1:  # bounded by the entropy of (β, 1 − β)
        bound = -beta * math.log(beta) - (1 - beta) * math.log1p(-beta)
        assert finite.all() and (d <= bound + 1e-12).all()
    # every finite gradient row sums to 0 (the gradient of a function of log-softmax)
    ok = torch.isfinite(g).all(-1)
    sums = g[ok].sum(-1).abs()
    assert (sums <= 1e-12 * (1 + d[ok].abs())).all(), sums


# ---- end to end: linear_distillation_loss(impl="triton") -------------------------------------

E2E = {
    "forward-mean": dict(direction="forward", reduction="mean"),
    "reverse-sum-alpha": dict(direction="reverse", reduction="sum", alpha=0.3),
    "jsd-none-softcap": dict(direction="jsd", beta=0.3, reduction="none", softcap=4.0),
    "jsd0-teacher-head": dict(direction="jsd", beta=0.0, teacher_head=True),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(E2E))
def test_linear_distillation_triton_equals_torch(name, dtype, monkeypatch):
    """Value and gradients (hidden, weight, bias) of impl="triton" equal impl="torch"; the tile ran."""
    import crossentropy.torch as ct
    from crossentropy.torch import _triton_distill as td
    from crossentropy.torch import triton_kernels as tk

    monkeypatch.setattr(tk, "BLOCK_V", 16)  # V = 37: three blocks, the last one masked
    calls = []
    real = td.divergence_tile_
    monkeypatch.setattr(td, "divergence_tile_", lambda *a, **k: calls.append(1) or real(*a, **k))
    kw = dict(E2E[name])
    g = torch.Generator().manual_seed(len(name))
    n, d, v = 9, 8, 37
    h = torch.randn(n, d, generator=g, dtype=dtype).requires_grad_(True)
    w = (torch.randn(v, d, generator=g, dtype=dtype) * 2).requires_grad_(True)
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_(True)
    y = torch.randint(0, v, (n,), generator=g)
    y[[1, 6]] = -100
    if kw.pop("teacher_head", False):
        kw |= dict(teacher_hidden=torch.randn(n, 5, generator=g, dtype=dtype))
        kw |= dict(teacher_weight=torch.randn(v, 5, generator=g, dtype=dtype) * 2)
        teacher = None
    else:
        teacher = torch.randn(n, v, generator=g, dtype=dtype) * 2
        if kw["direction"] != "reverse":  # (reverse: D = inf there, every W gradient NaN)
            teacher[0, :5] = NINF  # p = 0 on a few classes
    kw |= dict(student_bias=b, target=y, temperature=2.0, chunk_size=4)
    ours = ct.linear_distillation_loss(h, w, teacher, impl="triton", **kw)
    ref = ct.linear_distillation_loss(h, w, teacher, impl="torch", **kw)
    assert calls, "the Triton tile did not run"
    _close(ours, ref, TOL[dtype])
    go = torch.linspace(-1.0, 2.0, ours.numel(), dtype=dtype).reshape(ours.shape)
    for a, r in zip(
        torch.autograd.grad(ours, (h, w, b), go),
        torch.autograd.grad(ref, (h, w, b), go),
        strict=True,
    ):
        scale = _finite_abs(r).max().clamp(min=1.0)  # atol relative to the gradient's scale
        _close(a / scale, r / scale, TOL[dtype])
