"""GPU checks of the torch adapters (skipped without CUDA; run by benchmarks/gpu.sh).

The GPU path is the same torch reference code as on the CPU; these tests check
it on a device: values and gradients against the materialised logits in
float32 and bfloat16, and int64 offsets just above 2³¹ logits (N·V > 2³¹).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import crossentropy.torch as ct

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _problem(n, d, v, dtype, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    h = (torch.randn(n, d, device="cuda", generator=g) / 2).to(dtype).requires_grad_(True)
    w = (torch.randn(v, d, device="cuda", generator=g) / d**0.5).to(dtype).requires_grad_(True)
    y = torch.randint(0, v, (n,), device="cuda", generator=g)
    y[::5] = -100
    return h, w, y


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_linear_ce_float32_equals_materialised(reduction):
    h, w, y = _problem(1024, 256, 50_257, torch.float32)
    torch.backends.cuda.matmul.allow_tf32 = False
    ours = ct.linear_cross_entropy(
        h, w, y, reduction=reduction, label_smoothing=0.1, z_loss=1e-4, softcap=30.0
    )
    ref = ct.cross_entropy(
        F.linear(h, w), y, reduction=reduction, label_smoothing=0.1, z_loss=1e-4, softcap=30.0
    )
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    go = torch.rand(ours.shape, device="cuda")
    for a, b in zip(
        torch.autograd.grad(ours, (h, w), go), torch.autograd.grad(ref, (h, w), go), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_linear_ce_bfloat16_no_worse_than_torch():
    h, w, y = _problem(2048, 512, 32_000, torch.bfloat16)
    ours = ct.linear_cross_entropy(h, w, y)
    naive = F.cross_entropy(F.linear(h, w), y)
    hd, wd = (t.detach().double().requires_grad_(True) for t in (h, w))
    truth = F.cross_entropy(F.linear(hd, wd), y)
    err, err_n = abs(ours.double() - truth).item(), abs(naive.double() - truth).item()
    assert err <= 4 * err_n or err <= err_n + 1e-2, (err, err_n)
    gt = torch.autograd.grad(truth, (hd, wd))
    for a, n_, t in zip(
        torch.autograd.grad(ours, (h, w)), torch.autograd.grad(naive, (h, w)), gt, strict=True
    ):
        e, en = (a.double() - t).abs().max().item(), (n_.double() - t).abs().max().item()
        assert e <= 4 * en or e <= en + 1e-2, (e, en)


def test_drop_in_on_cuda_and_no_writeback():
    g = torch.Generator(device="cuda").manual_seed(1)
    x = torch.randn(4096, 1000, device="cuda", generator=g).requires_grad_(True)
    y = torch.randint(0, 1000, (4096,), device="cuda", generator=g)
    x0 = x.detach().clone()
    ours, ref = (
        ct.cross_entropy(x, y, label_smoothing=0.1),
        F.cross_entropy(x, y, label_smoothing=0.1),
    )
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x)[0], torch.autograd.grad(ref, x)[0])
    assert torch.equal(x.detach(), x0)


def test_offsets_above_2_31():
    """N·V = 65,537 × 32,768 > 2³¹ logits through the fused path (never materialised)."""
    n, d, v = 65_537, 64, 32_768
    h, w, y = _problem(n, d, v, torch.bfloat16, seed=2)
    y[-1] = v - 1  # the very last logit is the target of the very last row
    loss = ct.linear_cross_entropy(h, w, y, reduction="none")
    # check a few rows, including the last, against their own materialised rows
    rows = torch.tensor([0, 1, n // 2, n - 2, n - 1], device="cuda")
    ref = F.cross_entropy(F.linear(h[rows].float(), w.float()), y[rows], reduction="none")
    torch.testing.assert_close(loss[rows], ref, rtol=2e-2, atol=2e-2)
    assert torch.isfinite(loss[y != -100]).all()
