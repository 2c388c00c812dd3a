"""``torch.autograd.Function`` for cross-entropy on full logits, with the closed-form backward.

The function maps a ``(N, C)`` prediction to the per-example losses ``ℓ_i`` of
docs/semantics.md §4 (the reduction is done outside, by ordinary tensor ops, so a
non-uniform upstream gradient of ``reduction="none"`` is handled row by row).
Its backward is docs/semantics.md §9, scaled by each row's upstream gradient ``g_i``:

    kind="logits":     g_i s_i (A_i q_ic − a_ic)  [+ 2 ζ g_i s_i lse_i q_ic with z-loss ζ]
                       times 1 − tanh²(x_ic / cap) with a soft-cap
    kind="log_probs":  − g_i s_i a_ic
    kind="probs":      − g_i s_i a_ic / p_ic      (0 where a_ic = 0)

Masked rows get exactly zero gradient whatever they hold (±inf, NaN). The
caller's tensor is never written: the backward works on fresh buffers. float16
and bfloat16 are computed in float32; the gradient is returned in the input's dtype.

>>> import torch
>>> from crossentropy.torch.autograd import cross_entropy_rows
>>> from crossentropy.torch._common import prepare_rows
>>> x = torch.tensor([[2.0, 0.0, -1.0]], requires_grad=True)
>>> rows = prepare_rows(torch.tensor([0]), num_classes=3, local_classes=3, batch_shape=(1,),
...     dtype=torch.float32, device=x.device, class_weight=None, sample_weight=None,
...     ignore_index=-100, label_smoothing=0.0, smoothing="uniform", divide_by="weight", validate=True)
>>> loss = cross_entropy_rows(x, rows)
>>> loss.backward(torch.ones(1))
>>> bool(torch.allclose(x.grad, torch.softmax(x.detach(), -1) - torch.tensor([1.0, 0, 0])))
True
"""

from __future__ import annotations

import torch

from ._common import Rows
from ._plan import row_dot
from ._tiles import partial_pq, softcap, softcap_slope, tile_grad_

__all__ = ["CrossEntropyFunction", "cross_entropy_rows"]


def _log_q_input(x: torch.Tensor, kind: str, dtype: torch.dtype, cap: float | None) -> torch.Tensor:
    z = x.to(dtype)
    if kind == "logits":
        return softcap(z, cap)
    if kind == "probs":
        return torch.log(z)
    return z


class CrossEntropyFunction(torch.autograd.Function):
    """Per-example cross-entropy ``ℓ_i`` of a ``(N, C)`` prediction; see the module docstring."""

    @staticmethod
    def forward(
        ctx, x, rows: Rows, kind: str, z_loss: float, cap: float | None, dtype: torch.dtype
    ):
        z = _log_q_input(x, kind, dtype, cap)
        r = slice(None)
        p, q = partial_pq(z, rows, r, 0)
        d = row_dot(rows, r, p, q)
        if kind == "logits":
            lse = torch.logsumexp(z, -1) if z.shape[1] else torch.full_like(d, float("-inf"))
            loss = rows.s * (rows.A * lse - d)
            if z_loss:
                loss = loss + z_loss * rows.s * lse * lse
        else:
            lse = torch.zeros_like(d)
            loss = -rows.s * d
        loss = torch.where(rows.active, loss, torch.zeros_like(loss))
        loss = torch.where(rows.bad, torch.full_like(loss, float("nan")), loss)
        ctx.save_for_backward(x, lse)
        ctx.rows, ctx.kind, ctx.z_loss, ctx.cap, ctx.dtype = rows, kind, z_loss, cap, dtype
        return loss

    @staticmethod
    def backward(ctx, grad):
        x, lse = ctx.saved_tensors
        rows, kind = ctx.rows, ctx.kind
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None, None
        gs = grad.to(ctx.dtype) * rows.s
        r = slice(None)
        if kind == "logits":
            z = softcap(x.to(ctx.dtype), ctx.cap)
            if z is x:  # never write into the caller's tensor
                z = z.clone()
            g = tile_grad_(z, lse, gs, rows, r, 0, ctx.z_loss)
            if ctx.cap is not None:
                g = g * softcap_slope(x.to(ctx.dtype), ctx.cap)
        else:
            # ∂ℓ/∂log q = −g s a: reuse the tile code with q ≡ 0 (A·q vanishes)
            a = rows.coefficients(ctx.dtype) * gs[:, None]
            if kind == "probs":
                p = x.to(ctx.dtype)
                g = torch.where(a == 0, torch.zeros_like(a), -a / p)
            else:
                g = -a
        g = torch.where(rows.active[:, None], g, torch.zeros_like(g))
        g = torch.where(rows.bad[:, None], torch.full_like(g, float("nan")), g)
        return g.to(x.dtype), None, None, None, None, None


def cross_entropy_rows(
    x: torch.Tensor,
    rows: Rows,
    *,
    kind: str = "logits",
    z_loss: float = 0.0,
    softcap: float | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Per-example losses ``ℓ_i`` (compute dtype) of a ``(N, C)`` prediction and prepared rows."""
    if dtype is None:
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    return CrossEntropyFunction.apply(x, rows, kind, float(z_loss), softcap, dtype)
