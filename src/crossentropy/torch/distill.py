"""Fused linear distillation: a divergence between teacher and student without the N × V logits.

(Over the ~600-line guide: the divergence tile, the chunk job and the autograd function are
shared with the vocabulary-parallel version (:mod:`crossentropy.torch.distill_parallel`);
about 150 lines are the ``@overload`` signatures typing needs spelled out.)

The student's logits ``z = softcap(h Wᵀ + b)`` and the teacher's (given, or ``h_t W_tᵀ + b_t``)
are formed a chunk of rows at a time (the chunk plan of :mod:`crossentropy.torch._plan`);
each chunk's loss and its gradient tile are computed at once and folded into the gradients
of the student's hidden states, weight and bias, so no ``N × V`` matrix exists for either
model. Per row (docs/semantics.md §13, §16), with ``T`` the temperature,
``p = softmax(teacher / T)``, ``q = softmax(z / T)``:

    D_i  = KL(p ‖ q) | KL(q ‖ p) | JSD_β(p, q)            (``direction=``, β the teacher's share)
    ℓ_i  = (1 − α) s_i T² D_i + α s_i CE(z_i, y_i)          (T² with ``scale_by_t2``; CE at T = 1)
    w_i  = s_i on rows not masked                           (``target == ignore_index`` masks a row)
    ∂ℓ_i/∂z_i = (1 − α) s_i T (g_i − q_i Σ_c g_ic) + α s_i (softmax(z_i) − onehot(y_i))

where ``g = ∂D/∂ log q`` (forward ``−p``; reverse ``q (log q − log p + 1)``; JSD
``(1 − β) q (log q − log m)``), times the soft-cap slope. ``0 · log 0 = 0`` throughout.
The teacher gets no gradient.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection
from typing import Literal, get_args, overload

import torch

from .._options import IGNORE_INDEX, ReductionOptions, divergence_direction
from .._types import Direction, Empty, Reduction
from .._validate import check_option, real_number
from ._common import check_common, check_tensors, compute_dtype, prepare_rows, xp_of
from ._plan import (
    Plan,
    StatsSink,
    TokenStats,
    accumulate,
    auto_rows,
    chunks,
    in_dtypes,
    wanted_stats,
)
from ._tiles import TORCH_TILES, capped_slope
from .linear import resolve_impl

__all__ = ["linear_distillation_loss", "DIRECTIONS", "divergence_tile_", "divergence_rows"]

DIRECTIONS: tuple[str, ...] = get_args(Direction)

#: ``impl`` of the distillation: its divergence tile exists in torch and Triton (no numba tile)
DistillImpl = Literal["auto", "torch", "triton"]
DISTILL_IMPLS: tuple[str, ...] = get_args(DistillImpl)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.finfo(dtype).bits // 8


def check_distill_options(direction, beta, temperature, alpha) -> tuple[float, float, float]:
    """``(β, T, α)`` as floats, each checked: β ∈ [0, 1], T finite > 0, α ∈ [0, 1].

    >>> check_distill_options("jsd", 0.5, 2, 0)
    (0.5, 2.0, 0.0)
    """
    check_option("direction", direction, DIRECTIONS)
    b_ = real_number("beta", beta, "a number in [0, 1]")
    if not 0.0 <= b_ <= 1.0:
        msg = f"`beta` must lie in [0, 1] (the teacher's share of the mixture m); got {beta!r}"
        raise ValueError(msg)
    T = real_number("temperature", temperature, "a finite number > 0")
    if not (math.isfinite(T) and T > 0):
        msg = (
            f"`temperature` must be a finite number > 0 (T divides the logits); got {temperature!r}"
        )
        raise ValueError(msg)
    a_ = real_number("alpha", alpha, "a number in [0, 1]")
    if not 0.0 <= a_ <= 1.0:
        msg = f"`alpha` (the hard-label share) must lie in [0, 1]; got {alpha!r}"
        raise ValueError(msg)
    return float(b_), float(T), float(a_)


def xdiff(a: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``a · (u − w)`` with ``0 · anything = 0``."""
    return a * torch.where(a == 0, torch.zeros_like(u), u - w)


def masked_(a: torch.Tensor, diff: torch.Tensor) -> torch.Tensor:
    """``diff`` with 0 where ``a == 0`` (in place): the factor of ``a · diff`` with ``0 · log 0 = 0``."""
    return diff.masked_fill_(a == 0, 0.0)


def rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_c a_c b_c`` per row, without a product tile.

    >>> rowdot(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])).tolist()
    [11.0]
    """
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def divergence_rows(lp: torch.Tensor, lq: torch.Tensor, direction: str, beta: float):
    """``(D_i, ∂D_i/∂x_i)`` for log-distributions ``lp`` (teacher), ``lq`` (student), ``x`` the tempered logits.

    The reference of :func:`divergence_tile_` (whole tiles, no buffer reuse).

    >>> lp = torch.log(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    >>> lq = torch.log(torch.tensor([[0.25, 0.75]], dtype=torch.float64))
    >>> d, g = divergence_rows(lp, lq, "forward", 0.5)
    >>> round(float(d), 6), g.tolist()                       # KL(p ‖ q); q − p
    (0.143841, [[-0.25, 0.25]])
    """
    direction = divergence_direction(direction, beta)  # the JSD's endpoints: the two KLs
    p, q = torch.exp(lp), torch.exp(lq)
    if direction == "forward":
        d, g = xdiff(p, lp, lq).sum(-1), -p
    elif direction == "reverse":
        e = xdiff(q, lq, lp)
        d, g = e.sum(-1), e + q
    else:
        both = (p == 0) & (q == 0)
        a = torch.where(both, torch.zeros_like(lp), lp + math.log(beta))
        b = torch.where(both, torch.zeros_like(lq), lq + math.log1p(-beta))
        lm = torch.where(both, torch.full_like(lp, -math.inf), torch.logaddexp(a, b))
        eq = xdiff(q, lq, lm)
        d = (beta * xdiff(p, lp, lm) + (1.0 - beta) * eq).sum(-1)
        g = (1.0 - beta) * eq
    return d, g - q * g.sum(-1, keepdim=True)


#: Elements per column block of the divergence's element-wise passes (16 MiB of float32): the
#: block temporaries stay a fraction of a tile, and a chunk needs few blocks (few, large torch ops).
BLOCK_ELEMENTS = 1 << 22


def column_blocks(n: int, V: int, block_elements: int | None = None) -> list[tuple[int, int]]:
    """``(c0, c1)`` column ranges of an ``n × V`` tile, each about ``block_elements`` large.

    (Default :data:`BLOCK_ELEMENTS`, read at each call.)

    >>> column_blocks(4, 10, block_elements=16)
    [(0, 4), (4, 8), (8, 10)]
    >>> column_blocks(0, 3)
    [(0, 3)]
    """
    width = max(1, (block_elements or BLOCK_ELEMENTS) // max(n, 1))
    return list(chunks(V, width)) if V else []


def _finite(m: torch.Tensor) -> torch.Tensor:
    """``m`` where finite, else 0 (the shift of an online log-sum-exp)."""
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


class _Scratch:
    """One column block's float and boolean buffers, reused by every block (no allocation per block)."""

    def __init__(self, n: int, width: int, like: torch.Tensor) -> None:
        self.n = n
        self.f = torch.empty(n * width, dtype=like.dtype, device=like.device)
        self.b = torch.empty(n * width, dtype=torch.bool, device=like.device)

    def floats(self, w: int) -> torch.Tensor:
        return self.f[: self.n * w].view(self.n, w)

    def zero_mask(self, a: torch.Tensor) -> torch.Tensor:
        """``a == 0`` in the boolean buffer."""
        return torch.eq(a, 0, out=self.b[: a.numel()].view(a.shape))


def _online_lse(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor, buf: torch.Tensor) -> None:
    """Fold the block ``x`` into the running row max ``m`` and ``s = Σ e^{x − m'}`` (``m'`` = ``m`` if finite, else 0)."""
    new = torch.maximum(m, x.amax(-1)) if x.shape[1] else m.clone()
    ref = _finite(new)
    s.mul_(torch.where(s > 0, torch.exp(_finite(m) - ref), torch.zeros_like(s)))
    s.add_(torch.sub(x, ref[:, None], out=buf).exp_().sum(-1))
    m.copy_(new)


def _forward_kl_tile_(z: torch.Tensor, zt: torch.Tensor, T: float) -> torch.Tensor:
    """The forward KL of :func:`divergence_tile_` with one ``exp`` per element of each tile.

    With ``u = x − max x`` (both models, ``x`` the tempered logits), ``e = exp(u)`` and
    ``S = Σ_c e_c``: ``D = Σ_c e^t_c (u^t_c − u_c) / S^t − log S^t + log S`` (the difference 0
    where ``e^t_c = 0``) and ``∂D/∂x = e / S − e^t / S^t``; ``e^t`` is kept over ``zt``.
    """
    if T != 1.0:
        z.div_(T)
        zt.div_(T)
    n, V = z.shape
    blocks = column_blocks(n, V)
    scratch = _Scratch(n, blocks[0][1] if blocks else 0, z)
    mq = _finite(z.amax(-1)) if V else z.new_zeros(n)
    mp = _finite(zt.amax(-1)) if V else z.new_zeros(n)
    sq, sp, t = z.new_zeros(n), z.new_zeros(n), z.new_zeros(n)
    for c0, c1 in blocks:
        zb, tb = z[:, c0:c1], zt[:, c0:c1]
        ep = torch.sub(tb, mp[:, None], out=scratch.floats(c1 - c0)).exp_()
        sp += ep.sum(-1)
        diff = tb.sub_(mp[:, None]).sub_(zb.sub_(mq[:, None]))
        t += diff.masked_fill_(scratch.zero_mask(ep), 0.0).mul_(ep).sum(-1)
        tb.copy_(ep)
        sq += zb.exp_().sum(-1)
    z.mul_(sq.reciprocal()[:, None]).addcmul_(zt, sp.reciprocal()[:, None], value=-1.0)
    return t / sp - torch.log(sp) + torch.log(sq)


def divergence_tile_(
    z: torch.Tensor, zt: torch.Tensor, *, temperature: float, direction: str, beta: float
) -> torch.Tensor:
    """``D_i`` per row, and ``∂D_i/∂x_i`` (``x = z / T``) written over ``z`` (torch, column blocks).

    The two outputs of :func:`divergence_rows` ``(log_softmax(zt / T), log_softmax(z / T),
    direction, beta)`` with no ``n × V`` temporary. Forward KL: :func:`_forward_kl_tile_` (one
    ``exp`` per element). Reverse KL and JSD: a first pass over column blocks divides by ``T``
    in place and folds both rows' online log-sum-exps; a second writes ``log q`` and ``log p``
    in place, accumulates ``D`` and writes ``g = ∂D/∂ log q`` over ``z`` (``q`` over ``zt``,
    the teacher's scratch); a third subtracts ``q Σ_c g_c``. Temporaries
    are one column block large (:data:`BLOCK_ELEMENTS`), in buffers reused by every block.
    ``0 · log 0 = 0`` in value and gradient.

    >>> z = torch.log(torch.tensor([[0.25, 0.75]], dtype=torch.float64))
    >>> zt = torch.zeros(1, 2, dtype=torch.float64)
    >>> d = divergence_tile_(z, zt, temperature=1.0, direction="forward", beta=0.5)
    >>> round(float(d), 6), z.tolist()                     # KL(p ‖ q); q − p
    (0.143841, [[-0.25, 0.25]])
    """
    direction = divergence_direction(direction, beta)  # the JSD's endpoints: the two KLs
    if direction == "forward":
        return _forward_kl_tile_(z, zt, temperature)
    n, V = z.shape
    blocks = column_blocks(n, V)
    scratch = _Scratch(n, blocks[0][1] if blocks else 0, z)
    new = functools.partial(torch.zeros, n, dtype=z.dtype, device=z.device)
    inf = functools.partial(torch.full, (n,), -math.inf, dtype=z.dtype, device=z.device)
    mq, sq, mp, sp, d, gsum = inf(), new(), inf(), new(), new(), new()
    for c0, c1 in blocks:  # pass 1: x = z / T, x_t = z_t / T and both log-sum-exps
        zb, tb = z[:, c0:c1], zt[:, c0:c1]
        if temperature != 1.0:
            zb.div_(temperature)
            tb.div_(temperature)
        buf = scratch.floats(c1 - c0)
        _online_lse(zb, mq, sq, buf)
        _online_lse(tb, mp, sp, buf)
    lse_q, lse_p = (_finite(mq) + torch.log(sq))[:, None], (_finite(mp) + torch.log(sp))[:, None]
    if direction == "jsd":
        log_b, log_1b = math.log(beta), math.log1p(-beta)
    for c0, c1 in blocks:  # pass 2: log q, log p in place; D; g over z, q over zt
        lq, lp = z[:, c0:c1].sub_(lse_q), zt[:, c0:c1].sub_(lse_p)
        buf = scratch.floats(c1 - c0)
        if direction == "reverse":  # D = Σ q (log q − log p); ∂D/∂x = q (log q − log p − D)
            q = torch.exp(lq, out=buf)
            diff = lq.sub_(lp).masked_fill_(scratch.zero_mask(q), 0.0)
            lp.copy_(q)
            d += q.mul_(diff).sum(-1)
        else:  # D = β Σ p (log p − log m) + (1 − β) Σ q (log q − log m); g = (1 − β) q (log q − log m)
            p, q = torch.exp(lp), torch.exp(lq)
            lm = torch.logaddexp(lp + log_b, lq + log_1b)
            d += beta * rowdot(p, masked_(p, lp.sub_(lm)))
            g = q * masked_(q, lq.sub_(lm))
            s = g.sum(-1)
            d += (1.0 - beta) * s
            gsum += (1.0 - beta) * s
            lq.copy_(g).mul_(1.0 - beta)
            lp.copy_(q)
    if direction == "reverse":  # pass 3: q (diff − D), q held in zt
        z.sub_(d[:, None]).mul_(zt)
    elif direction == "jsd":  # pass 3: g − q Σ_c g_c
        z.addcmul_(zt, gsum[:, None], value=-1.0)
    return d


def row_logsumexp(z: torch.Tensor) -> torch.Tensor:
    """``log Σ_c e^{z_ic}`` per row over column blocks (no ``n × V`` temporary; ``z`` unchanged).

    >>> float(row_logsumexp(torch.zeros(1, 4, dtype=torch.float64))[0]) == math.log(4)
    True
    """
    n = z.shape[0]
    m = torch.full((n,), -math.inf, dtype=z.dtype, device=z.device)
    s = torch.zeros(n, dtype=z.dtype, device=z.device)
    blocks = column_blocks(n, z.shape[1])
    scratch = _Scratch(n, blocks[0][1] if blocks else 0, z)
    for c0, c1 in blocks:
        _online_lse(z[:, c0:c1], m, s, scratch.floats(c1 - c0))
    return _finite(m) + torch.log(s)


def extra_tiles(alpha: float, softcap: float | None) -> int:
    """Chunk × V tiles a chunk keeps alive beyond the student's and the teacher's logits.

    One for the hard-label softmax (``alpha > 0``), one for the soft-cap slope. The automatic
    chunk divides its rows by ``1 +`` this, so that these options do not raise the memory.

    >>> extra_tiles(0.0, None), extra_tiles(0.1, 30.0)
    (0, 2)
    """
    return int(alpha > 0) + int(softcap is not None)


class DistillJob:
    """What the autograd Function needs: the student's plan, the teacher's source, the options.

    ``tile`` is the divergence tile (:func:`divergence_tile_` or the Triton one, same contract).
    """

    def __init__(self, plan, teacher, t_plan, direction, beta, temperature, factor, alpha, tile):
        self.plan: Plan = plan
        self.teacher = teacher  # (N, V) logits, or (h_t, W_t, b_t)
        self.t_plan: Plan | None = t_plan
        self.direction, self.beta, self.T = direction, beta, temperature
        self.factor, self.alpha, self.tile = factor, alpha, tile
        self._buf: torch.Tensor | None = None  # the teacher's scratch, reused by every chunk
        self._zbuf: torch.Tensor | None = None  # the student's logits, reused by every chunk

    def teacher_logits(self, r) -> torch.Tensor:
        """The teacher's logits of rows ``r`` in a buffer the divergence may overwrite (never the caller's)."""
        if self.t_plan is not None:
            ht, wt, bt = self.teacher
            return self.t_plan.logits(ht, wt, bt, r, 0, wt.shape[0])[0]
        src = self.teacher[r] if isinstance(r, slice) else self.teacher.index_select(0, r)
        if self._buf is None:
            self._buf = torch.empty(
                (self.plan.nc, src.shape[1]), dtype=self.plan.cdtype, device=src.device
            )
        return self._buf[: src.shape[0]].copy_(src)

    def hidden_grad_done(self, gh: torch.Tensor | None) -> None:
        """Called once the hidden-state gradient is complete (the vocabulary-parallel job all-reduces it)."""

    def chunk(self, h, w, b, r, gs, sink: StatsSink | None = None):
        """``(ℓ_r, G, h_r, W)``: the rows' losses and (``gs`` given) their gradient tile.

        ``sink``: also record the rows' statistics of the untempered student logits (§15), read
        by the tiles' own ``stats`` before the logits are overwritten.
        """
        plan, rows = self.plan, self.plan.rows
        if self._zbuf is None:  # ours to overwrite; the caller frees a chunk's tile before the next
            self._zbuf = torch.empty((plan.nc, w.shape[0]), dtype=plan.cdtype, device=h.device)
        z, hc, wv = plan.logits(h, w, b, r, 0, w.shape[0], out=self._zbuf)
        if sink is not None:  # the tiles' stats read z and leave it as it is
            st = plan.ops.stats(
                z, rows, r, 0, None,
                entropy=sink.entropy is not None, argmax=sink.argmax is not None,
            )  # fmt: skip
            sink.record(plan, r, st, st.lse())
        s = rows.s[r]
        slope = capped_slope(z, plan.cap) if (plan.cap is not None and gs is not None) else None
        ce_ell = sm = None
        if self.alpha:  # the hard-label term reads the untempered logits before the tile does
            assert rows.index is not None  # class indices: `alpha > 0` needs `target=`
            idx = rows.index[r].clamp(min=0)[:, None]
            ce_lse = row_logsumexp(z)
            ce_ell = self.alpha * s * (ce_lse - z.gather(1, idx)[:, 0])
            if gs is not None:
                sm = torch.exp(z - ce_lse[:, None]).mul_((self.alpha * gs)[:, None])
                sm.scatter_add_(1, idx, -(self.alpha * gs)[:, None])
        zt = self.teacher_logits(r)
        d = self.tile(z, zt, temperature=self.T, direction=self.direction, beta=self.beta)
        kd = 1.0 - self.alpha
        ell = (kd * self.factor) * s * d
        if ce_ell is not None:
            ell = ell + ce_ell
        if gs is None:
            return ell, None, hc, wv
        g = z.mul_((gs * (kd * self.factor / self.T))[:, None])
        if sm is not None:
            g = g.add_(sm)
        if slope is not None:
            g = g.mul_(slope)
        return ell, g, hc, wv


class DistillFunction(torch.autograd.Function):
    """Loss per row (or reduced) and, for mean/sum, the gradients in the same pass."""

    @staticmethod
    def forward(ctx, h, w, b, job: DistillJob, scale, fill, reduced: bool, sink=None):
        plan = job.plan
        n = plan.rows.s.shape[0]
        need = ctx.needs_input_grad
        grads = plan.grad_buffers(h, w, b, need) if reduced else (None, None, None)
        want = any(g is not None for g in grads)
        loss = torch.zeros(n, dtype=plan.cdtype, device=h.device)
        for r in plan.row_chunks():
            gs = plan.rows.s[r] * scale if want else None
            ell, g, hc, wv = job.chunk(h, w, b, r, gs, sink)
            loss[r] = ell
            if g is not None:
                accumulate(plan, g, hc, wv, r, 0, w.shape[0], grads)
            del g  # the tile is freed before the next chunk's is formed
        if want:
            job.hidden_grad_done(grads[0])
        loss = torch.where(plan.rows.bad, torch.full_like(loss, math.nan), loss)
        if sink is not None:
            sink.loss = loss.detach().clone()
        ctx.job, ctx.reduced, ctx.grads = job, reduced, grads
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        if not reduced:
            ctx.save_for_backward(h, w, b)
            return loss
        return loss.sum() * scale + fill

    @staticmethod
    def backward(ctx, grad_out):
        job = ctx.job
        if ctx.reduced:
            go = grad_out.to(job.plan.cdtype)
            res = [
                None if g is None else g.mul_(go).to(dt)
                for g, dt in zip(ctx.grads, ctx.dtypes, strict=True)
            ]
            ctx.grads = None
            return (*res, None, None, None, None, None)
        h, w, b = ctx.saved_tensors
        plan = job.plan
        grads = plan.grad_buffers(h, w, b, ctx.needs_input_grad)
        gs_all = grad_out.to(plan.cdtype) * plan.rows.s
        for r in plan.row_chunks():
            _, g, hc, wv = job.chunk(h, w, b, r, gs_all[r])
            accumulate(plan, g, hc, wv, r, 0, w.shape[0], grads)
            del g
        job.hidden_grad_done(grads[0])
        return (*in_dtypes(grads, (h, w, b)), None, None, None, None, None)


def divergence_tile_fn(impl: str, device: torch.device):
    """The divergence tile of ``impl`` (resolved by ``linear.resolve_impl``): torch's or Triton's."""
    if resolve_impl(impl, device) == "triton":
        from ._triton_distill import divergence_tile_ as triton_tile

        return triton_tile
    return divergence_tile_


@overload
def linear_distillation_loss(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    *,
    teacher_hidden: torch.Tensor | None = None,
    teacher_weight: torch.Tensor | None = None,
    student_bias: torch.Tensor | None = None,
    teacher_bias: torch.Tensor | None = None,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    alpha: float = 0.0,
    target: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    sample_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: float | torch.Tensor | None = None,
    softcap: float | None = None,
    shift: bool = False,
    chunk_size: int | None = None,
    impl: DistillImpl = "auto",
    return_stats: Literal[False] = False,
    validate: bool = True,
) -> torch.Tensor: ...


@overload
def linear_distillation_loss(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    *,
    teacher_hidden: torch.Tensor | None = None,
    teacher_weight: torch.Tensor | None = None,
    student_bias: torch.Tensor | None = None,
    teacher_bias: torch.Tensor | None = None,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    alpha: float = 0.0,
    target: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    sample_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: float | torch.Tensor | None = None,
    softcap: float | None = None,
    shift: bool = False,
    chunk_size: int | None = None,
    impl: DistillImpl = "auto",
    return_stats: Literal[True] | Collection[str],
    validate: bool = True,
) -> tuple[torch.Tensor, TokenStats]: ...


def linear_distillation_loss(
    student_hidden: torch.Tensor,
    student_weight: torch.Tensor,
    teacher_logits: torch.Tensor | None = None,
    *,
    teacher_hidden: torch.Tensor | None = None,
    teacher_weight: torch.Tensor | None = None,
    student_bias: torch.Tensor | None = None,
    teacher_bias: torch.Tensor | None = None,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    alpha: float = 0.0,
    target: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    sample_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: float | torch.Tensor | None = None,
    softcap: float | None = None,
    shift: bool = False,
    chunk_size: int | None = None,
    impl: DistillImpl = "auto",
    return_stats: bool | Collection[str] = False,
    validate: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, TokenStats]:
    r"""Distillation of ``student_hidden @ student_weightᵀ`` towards a teacher, chunked (no N × V logits).

    .. math::

        ℓ_i = (1 − α)\, s_i T^2 D_i(p_i, q_i) + α\, s_i \operatorname{CE}(z_i, y_i),\quad
        p = \operatorname{softmax}(z^t / T),\ q = \operatorname{softmax}(z / T)

    ``D`` is :func:`crossentropy.distillation_loss`'s (``direction="forward"``: KL(p ‖ q);
    ``"reverse"``: KL(q ‖ p); ``"jsd"``: the generalised JSD with ``beta`` the teacher's share;
    docs/semantics.md §13), ``T²`` only with ``scale_by_t2``, and the hard-label term (``alpha > 0``,
    needs ``target``) is the cross-entropy of the untempered student logits. ``"mean"`` is
    ``Σℓ / Σ s_i`` over the rows not masked (``target == ignore_index``), or ``/ normalizer``.

    Parameters
    ----------
    student_hidden, student_weight : Tensor
        ``(..., d)`` and ``(V, d)``; ``student_bias`` ``(V,)``. The student's logits are
        ``softcap(h Wᵀ + b)`` (``softcap`` optional).
    teacher_logits : Tensor, optional
        ``(..., V)`` with the hidden states' leading shape — or ``teacher_hidden`` ``(..., d_t)``
        with ``teacher_weight`` ``(V, d_t)`` (and ``teacher_bias``), formed chunk by chunk too.
        The teacher gets no gradient.
    target : Tensor, optional
        Class indices with the leading shape: rows equal to ``ignore_index`` are masked, and the
        hard-label term reads them.
    shift : bool
        Causal-LM shift: the last position of the hidden states (both models) and the first
        of ``target`` / ``sample_weight`` are dropped.
    chunk_size : int, optional
        Rows per chunk. Nothing to tune by default: ``_plan.auto_rows`` (from V and the cache,
        as the one-pass ``linear_cross_entropy``), divided by ``1 +`` :func:`extra_tiles`. A
        chunk holds two ``chunk × V`` tiles, the student's logits (overwritten with the
        gradient) and the teacher's (the divergence's scratch), plus one with ``alpha`` and one
        with ``softcap``; the element-wise work runs over column blocks of them
        (:func:`divergence_tile_`), with no further ``chunk × V`` temporary.
    impl : {"auto", "torch", "triton"}
        The divergence tile: ``"torch"`` (CPU and GPU, :func:`divergence_tile_`) or
        ``"triton"`` (a Triton kernel with the same contract; CUDA tensors, or CPU tensors
        under Triton's interpreter, ``TRITON_INTERPRET=1``, for tests). ``"auto"``:
        ``"torch"`` on every device until the Triton kernel has been verified on a GPU, as
        :func:`~crossentropy.torch.linear_cross_entropy`'s ``impl``.
    return_stats : bool or collection of str
        Also return a :class:`~crossentropy.torch.TokenStats` from the same chunked pass, as
        :func:`~crossentropy.torch.linear_cross_entropy` (docs/semantics.md §15, §16): ``True``
        for all, or some of ``"loss"`` (``ℓ_i`` above), ``"weight"`` (``w_i``), ``"log_prob"``
        (``log softmax(z_i)_{y_i}``, needs ``target``), ``"logsumexp"`` (``log Σ_c e^{z_ic}``),
        ``"entropy"`` (``H(softmax(z_i))``) and ``"argmax"`` (with ``correct`` when ``target``
        is given). They describe the student's untempered logits ``z`` (after the soft-cap),
        whatever the temperature.

    Returns
    -------
    Tensor or (Tensor, TokenStats)
        The loss (compute dtype), and the statistics when ``return_stats``.

    Examples
    --------
    >>> import torch, torch.nn.functional as F
    >>> from crossentropy.torch import linear_distillation_loss
    >>> _ = torch.manual_seed(0)
    >>> h = torch.randn(6, 4, dtype=torch.float64); W = torch.randn(11, 4, dtype=torch.float64)
    >>> t = torch.randn(6, 11, dtype=torch.float64)
    >>> ours = linear_distillation_loss(h, W, t, temperature=2.0, chunk_size=4)
    >>> ref = F.kl_div(torch.log_softmax(h @ W.T / 2, -1), torch.log_softmax(t / 2, -1),
    ...                log_target=True, reduction="batchmean") * 4
    >>> bool(torch.isclose(ours, ref, rtol=1e-12, atol=0))
    True
    >>> y = torch.tensor([3, -100, 0, 7, 7, 1])
    >>> loss, st = linear_distillation_loss(h, W, t, target=y, return_stats=("log_prob", "entropy"))
    >>> q = torch.softmax(h @ W.T, -1)
    >>> bool(torch.allclose(st.entropy[y != -100], -(q * q.log()).sum(-1)[y != -100], rtol=1e-12))
    True
    >>> st.log_prob[1].item(), st.argmax is None
    (0.0, True)
    """
    check_common(reduction=reduction, empty=empty, divide_by="weight", z_loss=0.0, softcap=softcap)
    red = ReductionOptions(reduction, empty, normalizer=normalizer)
    b_, T, a_ = check_distill_options(direction, beta, temperature, alpha)
    check_option("impl", impl, DISTILL_IMPLS)
    if a_ > 0 and target is None:
        msg = f"`alpha` = {alpha!r} mixes in the hard-label cross-entropy: pass `target=` (class indices)"
        raise ValueError(msg)
    want = wanted_stats(return_stats)
    if "log_prob" in want and target is None:
        msg = "`return_stats` with 'log_prob' needs `target=` (the class whose log q it reads); pass it or drop 'log_prob'"
        raise ValueError(msg)
    check_tensors(
        student_hidden=student_hidden, student_weight=student_weight, student_bias=student_bias,
        teacher_logits=teacher_logits, teacher_hidden=teacher_hidden, teacher_weight=teacher_weight,
        teacher_bias=teacher_bias, target=target, sample_weight=sample_weight,
    )  # fmt: skip
    if (teacher_logits is None) == (teacher_hidden is None):
        msg = "pass the teacher as `teacher_logits` or as `teacher_hidden` with `teacher_weight`, exactly one"
        raise ValueError(msg)
    if teacher_hidden is not None and teacher_weight is None:
        msg = "`teacher_hidden` needs `teacher_weight` (V, d_t), the teacher's classifier"
        raise ValueError(msg)
    h, w, b = student_hidden, student_weight, student_bias
    if w.dim() != 2:
        msg = f"`student_weight` must be the (V, d) classifier; got shape {tuple(w.shape)}"
        raise ValueError(msg)
    V, d = w.shape
    if h.dim() < 1 or h.shape[-1] != d:
        msg = f"`student_hidden` must end with d = {d} of `student_weight`; got {tuple(h.shape)}"
        raise ValueError(msg)
    for name, bias in (("student_bias", b), ("teacher_bias", teacher_bias)):
        if bias is not None and tuple(bias.shape) != (V,):
            msg = f"`{name}` must have shape ({V},); got {tuple(bias.shape)}"
            raise ValueError(msg)
    lead = tuple(h.shape[:-1])
    if teacher_logits is not None and tuple(teacher_logits.shape) != (*lead, V):
        msg = f"`teacher_logits` must have shape {(*lead, V)} (the student's rows × V); got {tuple(teacher_logits.shape)}"
        raise ValueError(msg)
    if teacher_hidden is not None:
        assert teacher_weight is not None
        if teacher_weight.dim() != 2 or teacher_weight.shape[0] != V:
            msg = f"`teacher_weight` must be ({V}, d_t) (the student's vocabulary); got {tuple(teacher_weight.shape)}"
            raise ValueError(msg)
        if tuple(teacher_hidden.shape) != (*lead, teacher_weight.shape[1]):
            msg = f"`teacher_hidden` must have shape {(*lead, teacher_weight.shape[1])}; got {tuple(teacher_hidden.shape)}"
            raise ValueError(msg)
    if target is not None and tuple(target.shape) != lead:
        msg = f"`target` must hold class indices of shape {lead}; got {tuple(target.shape)}"
        raise ValueError(msg)
    if shift:
        if h.dim() < 2:
            msg = f"`shift=True` needs a sequence axis: hidden of shape (..., T, d); got {tuple(h.shape)}"
            raise ValueError(msg)
        h = h[..., :-1, :]
        if teacher_logits is not None:
            teacher_logits = teacher_logits[..., :-1, :]
        else:
            teacher_hidden = teacher_hidden[..., :-1, :]  # type: ignore[index]
        if target is not None:
            target = target[..., 1:]
        if sample_weight is not None:
            sample_weight = sample_weight[..., 1:]
    batch_shape = tuple(h.shape[:-1])
    n = math.prod(batch_shape)
    cdtype = compute_dtype(h, w, b, name="student_hidden")
    mdtype = (
        torch.promote_types(h.dtype, w.dtype)
        if b is None
        else torch.promote_types(torch.promote_types(h.dtype, w.dtype), b.dtype)
    )
    labels = (
        target
        if target is not None
        else torch.zeros(batch_shape, dtype=torch.int64, device=h.device)
    )
    rows = prepare_rows(
        labels, num_classes=V, local_classes=V, batch_shape=batch_shape, dtype=cdtype,
        device=h.device, class_weight=None, sample_weight=sample_weight,
        ignore_index=ignore_index if target is not None else None, label_smoothing=0.0,
        smoothing="uniform", divide_by="weight", validate=validate, soft=False,
    )  # fmt: skip
    active_idx = None if bool(rows.active.all()) else rows.active.nonzero()[:, 0]
    n_active = n if active_idx is None else int(active_idx.shape[0])
    if chunk_size is not None and int(chunk_size) < 1:
        msg = f"`chunk_size` must be ≥ 1; got {chunk_size}"
        raise ValueError(msg)
    nc = (
        chunk_size
        if chunk_size is not None
        else auto_rows(n_active, V * (1 + extra_tiles(a_, softcap)), _itemsize(cdtype), h.device)
    )
    nc = max(1, min(int(nc), max(n_active, 1)))
    plan = Plan(rows, active_idx, cdtype, mdtype, nc, V, 0.0, softcap, TORCH_TILES)
    t_plan = None
    teacher: torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
    if teacher_hidden is not None:
        assert teacher_weight is not None
        tm = torch.promote_types(teacher_hidden.dtype, teacher_weight.dtype)
        teacher = (
            teacher_hidden.reshape(n, -1).detach(),
            teacher_weight.detach(),
            None if teacher_bias is None else teacher_bias.detach(),
        )
        t_plan = Plan(rows, active_idx, cdtype, tm, nc, V, 0.0, None, TORCH_TILES)
    else:
        assert teacher_logits is not None
        teacher = teacher_logits.reshape(n, V).detach()
    factor = T * T if scale_by_t2 else 1.0
    tile = divergence_tile_fn(impl, h.device)
    job = DistillJob(plan, teacher, t_plan, direction, b_, T, factor, a_, tile)
    h2 = h.reshape(n, d)
    w_rows = rows.divisor_weights()
    sink = StatsSink(want, n, cdtype, h.device) if want else None
    if reduction == "none":
        red.check_none(n)
        loss = DistillFunction.apply(h2, w, b, job, None, None, False, sink).reshape(batch_shape)
    else:
        if validate or empty == "raise":  # the host checks of `empty=` (warning, error)
            red.finish(xp_of(w_rows), w_rows.sum() * 0, w_rows.sum(), n=n, host_check=validate)
        scale, fill = red.scale_and_fill(xp_of(w_rows), w_rows.sum().to(cdtype))
        loss = DistillFunction.apply(h2, w, b, job, scale, fill, True, sink)
    if sink is None:
        return loss
    stats = sink.result(plan, target, False, batch_shape)
    return loss, stats if target is not None else stats._replace(correct=None)


def __getattr__(name: str):
    """The old import path of :func:`~crossentropy.torch.distill_parallel.vocab_parallel_linear_distillation_loss`."""
    if name == "vocab_parallel_linear_distillation_loss":
        from .distill_parallel import vocab_parallel_linear_distillation_loss

        return vocab_parallel_linear_distillation_loss
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
