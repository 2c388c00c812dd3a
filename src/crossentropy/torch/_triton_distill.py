"""A Triton kernel for the divergence tile of the fused linear distillation (imports triton).

One program per row of a chunk walks the row's ``V`` columns in masked blocks of
``BLOCK_V`` (as the kernels of :mod:`crossentropy.torch.triton_kernels`; 64-bit row
offsets), three times. With ``T`` the temperature, ``x = z / T`` the student's tempered
logits and ``x_t = z_t / T`` the teacher's (docs/semantics.md §13):

1. the two online log-sum-exps, ``R ← max(R, max_c x_c)``, ``S ← S e^{R_old − R} + Σ_c e^{x_c − R}``
   (``R`` the running maximum where finite, else 0), so that
   ``log q_c = (x_c − R) − log S`` and ``log p_c`` likewise;
2. ``D = Σ_c d_c`` and ``Σ_c g_c``, where ``g = ∂D/∂ log q``:

   - ``"forward"``: ``d_c = p_c (log p_c − log q_c)``, ``g_c = −p_c``;
   - ``"reverse"``: ``d_c = q_c (log q_c − log p_c)``, ``g_c = d_c + q_c``;
   - ``"jsd"``: ``d_c = β f_c + (1 − β) h_c``, ``g_c = (1 − β) h_c``, with
     ``f = p (log p − log m)``, ``h = q (log q − log m)`` and ``log m = logaddexp(log β +
     log p, log(1 − β) + log q)`` (−inf where ``p_c = q_c = 0``); β = 0 and 1 are
     ``"forward"`` and ``"reverse"`` (§13's endpoints);

   ``a (u − w)`` is 0 where ``a = 0``: 0 · log 0 = 0 in value and gradient;
3. ``∂D/∂x_c = g_c − q_c Σ_k g_k``, written over ``z``.

These are the operations of ``crossentropy.torch.distill.divergence_rows`` in the same
order, so non-finite rows (a teacher −inf where the student has mass, under ``"reverse"``)
come out as they do there. Sums accumulate in the tile's dtype (float32 or float64).

Triton decides between compiling and interpreting when the kernel is defined, here at
import: set ``TRITON_INTERPRET=1`` before this module is first imported to run it on CPU
tensors. Without triton the module imports and defines no kernel; :func:`divergence_tile_`
then raises an ``ImportError`` naming what to install.
"""

import functools
import math
from typing import get_args

import torch

from .._options import divergence_direction
from .._types import Direction
from .._validate import check_option
from . import triton_kernels as tk

try:
    import triton
    import triton.language as tl
except ImportError:  # imported by doctest collection without triton: define no kernel
    triton = tl = None

__all__ = ["divergence_tile_"]

if triton is not None:
    from ._triton_jit import _finite_or_zero

    @triton.jit
    def _xdiff(a, u, w):
        """``a (u − w)``, 0 where ``a = 0``."""
        return a * tl.where(a == 0, 0.0, u - w)

    @triton.jit
    def _terms(z, zt, T, rq, lsq, rp, lsp, beta, lb, lomb, DIRECTION: tl.constexpr):
        """``(d, g, q)`` of a block of columns (step 2 of the module docstring)."""
        lq = (z / T - rq) - lsq
        lp = (zt / T - rp) - lsp
        q = tl.exp(lq)
        p = tl.exp(lp)
        if DIRECTION == "forward":
            d = _xdiff(p, lp, lq)
            g = -p
        elif DIRECTION == "reverse":
            d = _xdiff(q, lq, lp)
            g = d + q
        else:
            both = (p == 0) & (q == 0)
            a = tl.where(both, 0.0, lp + lb)
            b = tl.where(both, 0.0, lq + lomb)
            top = tl.maximum(a, b)
            lm = tl.where(both, float("-inf"), top + tl.log(1.0 + tl.exp(-tl.abs(a - b))))
            h = _xdiff(q, lq, lm)
            d = beta * _xdiff(p, lp, lm) + (1.0 - beta) * h
            g = (1.0 - beta) * h
        return d, g, q

    @triton.jit
    def _divergence_kernel(
        z_ptr, stride_z, zt_ptr, stride_t, d_ptr, prm_ptr, n_cols,
        DIRECTION: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        row = tl.program_id(0).to(tl.int64)
        z_row = z_ptr + row * stride_z
        t_row = zt_ptr + row * stride_t
        T = tl.load(prm_ptr)
        beta = tl.load(prm_ptr + 1)
        lb = tl.load(prm_ptr + 2)
        lomb = tl.load(prm_ptr + 3)
        dt = z_ptr.dtype.element_ty
        offs = tl.arange(0, BLOCK)
        mq = tl.full([], float("-inf"), dt)
        mp = tl.full([], float("-inf"), dt)
        sq = tl.zeros([], dt)
        sp = tl.zeros([], dt)
        for start in range(0, n_cols, BLOCK):  # pass 1: the two log-sum-exps
            cols = start + offs
            mask = cols < n_cols
            x = tl.load(z_row + cols, mask=mask, other=float("-inf")) / T
            xt = tl.load(t_row + cols, mask=mask, other=float("-inf")) / T
            mq_new = tl.maximum(mq, tl.max(x, axis=0))
            mp_new = tl.maximum(mp, tl.max(xt, axis=0))
            rq_old, rq = _finite_or_zero(mq), _finite_or_zero(mq_new)
            rp_old, rp = _finite_or_zero(mp), _finite_or_zero(mp_new)
            sq = tl.where(sq == 0, sq, sq * tl.exp(rq_old - rq)) + tl.sum(tl.exp(x - rq), axis=0)
            sp = tl.where(sp == 0, sp, sp * tl.exp(rp_old - rp)) + tl.sum(tl.exp(xt - rp), axis=0)
            mq, mp = mq_new, mp_new
        rq, lsq = _finite_or_zero(mq), tl.log(sq)
        rp, lsp = _finite_or_zero(mp), tl.log(sp)
        dsum = tl.zeros([], dt)
        gsum = tl.zeros([], dt)
        for start in range(0, n_cols, BLOCK):  # pass 2: D and Σ g
            cols = start + offs
            mask = cols < n_cols
            z = tl.load(z_row + cols, mask=mask, other=float("-inf"))
            zt = tl.load(t_row + cols, mask=mask, other=float("-inf"))
            d, g, _ = _terms(z, zt, T, rq, lsq, rp, lsp, beta, lb, lomb, DIRECTION)
            dsum += tl.sum(tl.where(mask, d, 0.0), axis=0)
            gsum += tl.sum(tl.where(mask, g, 0.0), axis=0)
        tl.store(d_ptr + row, dsum)
        for start in range(0, n_cols, BLOCK):  # pass 3: ∂D/∂x over z
            cols = start + offs
            mask = cols < n_cols
            z = tl.load(z_row + cols, mask=mask, other=float("-inf"))
            zt = tl.load(t_row + cols, mask=mask, other=float("-inf"))
            _, g, q = _terms(z, zt, T, rq, lsq, rp, lsp, beta, lb, lomb, DIRECTION)
            tl.store(z_row + cols, g - q * gsum, mask=mask)


def divergence_tile_(
    z: torch.Tensor,
    zt: torch.Tensor,
    *,
    temperature: float,
    direction: str,
    beta: float,
    block_v: int | None = None,
) -> torch.Tensor:
    """``D_i`` per row, and ``∂D_i/∂x_i`` (``x = z / T``) written over ``z``.

    .. math::

        D_i = \\mathrm{KL}(p_i ‖ q_i) \\mid \\mathrm{KL}(q_i ‖ p_i) \\mid \\mathrm{JSD}_β(p_i, q_i),\\quad
        p = \\operatorname{softmax}(z_t / T),\\ q = \\operatorname{softmax}(z / T)

    The two outputs of ``crossentropy.torch.distill.divergence_rows(log_softmax(zt / T),
    log_softmax(z / T), direction, beta)``; ``temperature`` (finite, > 0) and ``beta`` (in
    [0, 1], the teacher's share of the JSD's mixture) are checked by the caller,
    ``linear_distillation_loss``.

    Parameters
    ----------
    z : Tensor
        ``(n, V)`` student logits (already soft-capped), float32 or float64, unit column
        stride, on CUDA (or on CPU under ``TRITON_INTERPRET=1``): overwritten.
    zt : Tensor
        ``(n, V)`` teacher logits, same dtype and device (read only).
    block_v : int, optional
        Columns per block (a power of two; default ``triton_kernels.BLOCK_V``).

    Returns
    -------
    Tensor
        ``(n,)`` the divergences ``D_i``, in ``z``'s dtype.

    Examples
    --------
    >>> import torch
    >>> z, zt = torch.log(torch.tensor([[0.25, 0.75]])), torch.zeros(1, 2)
    >>> try:  # KL(p ‖ q) and q − p; needs CUDA tensors or TRITON_INTERPRET=1
    ...     d = divergence_tile_(z, zt, temperature=1.0, direction="forward", beta=0.5)
    ...     ok = abs(float(d) - 0.143841) < 1e-6 and torch.allclose(z, torch.tensor([[-0.25, 0.25]]))
    ... except (ImportError, ValueError):
    ...     ok = True
    >>> ok
    True
    """
    tk.check_tile(z, "z")
    tk.check_tile(zt, "zt")
    if zt.shape != z.shape or zt.dtype != z.dtype or zt.device != z.device:
        msg = (
            f"`zt` must match `z` in shape, dtype and device; got {tuple(zt.shape)} {zt.dtype} "
            f"on {zt.device} for `z` {tuple(z.shape)} {z.dtype} on {z.device}"
        )
        raise ValueError(msg)
    if z.shape[1] > 1 and z.stride(1) != 1:
        msg = f"`z` must have unit stride along its columns to be overwritten; got strides {z.stride()}"
        raise ValueError(msg)
    check_option("direction", direction, get_args(Direction))
    if triton is None:  # pragma: no cover - imported before triton was installed
        raise ImportError(tk.INSTALL_HINT)
    direction = divergence_direction(direction, beta)  # the JSD's endpoints: the two KLs
    prm = _params(float(temperature), float(beta), direction, z.dtype, z.device)
    n, v = z.shape
    d = torch.empty(n, dtype=z.dtype, device=z.device)
    if n == 0:
        return d
    zt = tk.cols_last(zt)
    _divergence_kernel[(n,)](
        z, z.stride(0), zt, zt.stride(0), d, prm, v,
        DIRECTION=direction, BLOCK=tk.block_size(block_v, v, triton),
    )  # fmt: skip
    return d


@functools.lru_cache(maxsize=64)
def _params(temperature: float, beta: float, direction: str, dtype, device) -> torch.Tensor:
    """``[T, β, log β, log(1 − β)]`` in the tile's dtype on its device (the logs for the JSD only).

    A tensor, not scalar arguments, because Triton passes Python floats as float32; cached,
    because a copy to a GPU waits for the work queued before it (once per chunk otherwise).

    >>> _params(2.0, 0.5, "jsd", torch.float64, torch.device("cpu")).tolist()[:2]
    [2.0, 0.5]
    """
    logs = (math.log(beta), math.log1p(-beta)) if direction == "jsd" else (0.0, 0.0)
    return torch.tensor([temperature, beta, *logs], dtype=dtype, device=device)
