"""Vocabulary-parallel fused linear distillation on ``torch.distributed``.

Every rank of ``group`` holds the same rows and a contiguous slice of both vocabularies
(the student's classifier rows and the teacher's logits, or the teacher's classifier rows);
shards may be uneven. Per chunk of rows (the chunk job of :mod:`crossentropy.torch.distill`),
only per-row numbers cross ranks:

- the two tempered log-softmaxes: one MAX and one SUM each;
- the divergence's row sums: one SUM (forward, reverse) or one SUM of two columns (JSD);
- with ``alpha`` or ``return_stats``: the untempered student's global log-sum-exp, target logit
  and (on request) entropy's sum and argmax, by the shard helpers of
  :mod:`crossentropy.torch._shards` (those of the vocabulary-parallel cross-entropy).

The gradient of the hidden states is all-reduced once; each rank's weight (and bias)
gradient is its own slice. The loss is replicated.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch
import torch.distributed as dist

from .._options import IGNORE_INDEX, ReductionOptions, divergence_direction
from .._types import Direction, Empty, Reduction
from ._common import check_common, check_tensors, compute_dtype, prepare_rows, xp_of
from ._plan import OnlineState, Plan, StatsSink, TokenStats, auto_rows, wanted_stats
from ._shards import _combine, _combine_extras, _local_rows
from ._tiles import TORCH_TILES, capped_slope
from .distill import (
    DistillFunction,
    DistillJob,
    check_distill_options,
    extra_tiles,
    masked_,
    rowdot,
    xdiff,
)

__all__ = ["vocab_parallel_linear_distillation_loss"]


def _total(t: torch.Tensor, group, op=dist.ReduceOp.SUM) -> torch.Tensor:
    dist.all_reduce(t, op=op, group=group)
    return t


def global_log_softmax_(x: torch.Tensor, T: float, group) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log softmax(x / T), softmax(x / T))`` over the classes of every rank (one MAX, one SUM).

    The first is written over ``x``. A row's maximum is replaced by 0 where not finite.
    """
    if T != 1.0:
        x.div_(T)
    m = x.amax(-1) if x.shape[-1] else x.new_full((x.shape[0],), -math.inf)
    m = _total(m, group, dist.ReduceOp.MAX)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    x.sub_(m[:, None])
    e = torch.exp(x)
    tot = _total(e.sum(-1), group)
    return x.sub_(torch.log(tot)[:, None]), e.div_(tot[:, None])


def global_divergence_(lp, p, lq, q, direction: str, beta: float, group):
    """``(D_i, ∂D_i/∂x_i)`` of ``distill.divergence_rows`` with the row sums over every shard.

    Overwrites its arguments; ``0 · log 0 = 0`` as there.
    """
    direction = divergence_direction(direction, beta)  # the JSD's endpoints: the two KLs
    if direction == "forward":
        return _total(rowdot(p, masked_(p, lp.sub_(lq))), group), q.sub_(p)
    if direction == "reverse":
        diff = masked_(q, lq.sub_(lp))
        dsum = _total(rowdot(q, diff), group)
        return dsum, diff.sub_(dsum[:, None]).mul_(q)
    both = (p == 0) & (q == 0)
    a = torch.where(both, torch.zeros_like(lp), lp + math.log(beta))
    b = torch.where(both, torch.zeros_like(lq), lq + math.log1p(-beta))
    lm = torch.where(both, torch.full_like(lp, -math.inf), torch.logaddexp(a, b))
    eq = xdiff(q, lq, lm)
    d_and_g = torch.stack([(beta * xdiff(p, lp, lm) + (1.0 - beta) * eq).sum(-1), eq.sum(-1)], 1)
    _total(d_and_g, group)
    g = (1.0 - beta) * eq
    return d_and_g[:, 0], g - q * ((1.0 - beta) * d_and_g[:, 1])[:, None]


class ParallelDistillJob(DistillJob):
    """The chunk job over a vocabulary shard: global log-softmaxes, hard-label term and statistics."""

    def __init__(
        self,
        plan,
        teacher,
        t_plan,
        direction,
        beta,
        temperature,
        factor,
        alpha,
        *,
        group,
        vocab_start: int,
    ) -> None:
        super().__init__(plan, teacher, t_plan, direction, beta, temperature, factor, alpha, None)
        self.group, self.vocab_start = group, vocab_start

    def hidden_grad_done(self, gh: torch.Tensor | None) -> None:
        if gh is not None:
            _total(gh, self.group)

    def chunk(self, h, w, b, r, gs, sink: StatsSink | None = None):
        plan, rows, group = self.plan, self.plan.rows, self.group
        z, hc, wv = plan.logits(h, w, b, r, 0, w.shape[0])
        s = rows.s[r]
        ce_ell = sm = None
        if sink is not None or self.alpha:  # the untempered student over every shard (§15)
            want_t = sink is not None and sink.entropy is not None
            want_a = sink is not None and sink.argmax is not None
            st = TORCH_TILES.stats(z, rows, r, 0, None, entropy=want_t, argmax=want_a)
            lse, P, _, M, S = _combine(rows, st, group, False)
            if sink is not None:
                T_, arg = _combine_extras(st, M, self.vocab_start, group)
                sink.record(plan, r, OnlineState(M, S, P, None, T_, arg), lse)
            if self.alpha:  # ℓ = α s (lse − z_y), z_y from the rank that holds y
                ce_ell = self.alpha * s * (lse - P)
                if gs is not None:
                    sm = torch.exp(z - lse[:, None]).mul_((self.alpha * gs)[:, None])
                    assert rows.index is not None
                    col = rows.index[r]
                    inside = (col >= 0) & (col < z.shape[1])
                    amt = torch.where(inside, -(self.alpha * gs), torch.zeros_like(gs))
                    sm.scatter_add_(1, col.clamp(0, max(z.shape[1] - 1, 0))[:, None], amt[:, None])
        slope = capped_slope(z, plan.cap) if (plan.cap is not None and gs is not None) else None
        zt = self.teacher_logits(r)
        lq, q = global_log_softmax_(z, self.T, group)
        lp, p = global_log_softmax_(zt, self.T, group)
        d, g = global_divergence_(lp, p, lq, q, self.direction, self.beta, group)
        kd = 1.0 - self.alpha
        ell = (kd * self.factor) * s * d
        if ce_ell is not None:
            ell = ell + ce_ell
        if gs is None:
            return ell, None, hc, wv
        g = g.mul_((gs * (kd * self.factor / self.T))[:, None])
        if sm is not None:
            g = g.add_(sm)
        if slope is not None:
            g = g.mul_(slope)
        return ell, g, hc, wv


def _same_on_every_rank(value: int, group, device) -> int:
    """The largest ``value`` over the ranks (chunks must cut the same rows everywhere)."""
    t = torch.tensor([value], dtype=torch.int64, device=device)
    return int(_total(t, group, dist.ReduceOp.MAX).item())


def vocab_parallel_linear_distillation_loss(
    hidden: torch.Tensor,
    local_weight: torch.Tensor,
    local_teacher_logits: torch.Tensor | None = None,
    *,
    group=None,
    vocab_start: int | None = None,
    local_bias: torch.Tensor | None = None,
    teacher_hidden: torch.Tensor | None = None,
    local_teacher_weight: torch.Tensor | None = None,
    local_teacher_bias: torch.Tensor | None = None,
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
    chunk_size: int | None = None,
    return_stats: bool | Collection[str] = False,
    validate: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, TokenStats]:
    """:func:`~crossentropy.torch.linear_distillation_loss` with both vocabularies sharded by rows over ``group``.

    ``hidden`` ``(..., d)`` is replicated; ``local_weight`` ``(V_r, d)`` (and ``local_bias``)
    are this rank's classes ``[vocab_start, vocab_start + V_r)`` of the student's head, and
    the teacher is ``local_teacher_logits`` ``(..., V_r)`` (the same classes) or
    ``teacher_hidden`` ``(..., d_t)`` (replicated) with ``local_teacher_weight`` ``(V_r, d_t)``
    (and ``local_teacher_bias``). Shards may be uneven. Every option means what it means in
    ``linear_distillation_loss``, over the global vocabulary: ``reduction`` (``"none"`` too),
    ``alpha`` (the hard-label cross-entropy: the global log-sum-exp of the untempered logits
    and the target's logit from the rank that holds it) and ``return_stats`` (the student's
    untempered per-token statistics, replicated). ``vocab_start`` is needed where the target's
    classes are read (``alpha > 0``, ``return_stats``); ``target`` holds global class ids.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from crossentropy.torch import linear_distillation_loss
    >>> from crossentropy.torch import vocab_parallel_linear_distillation_loss as vp
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> _ = torch.manual_seed(0)
    >>> h = torch.randn(5, 3, dtype=torch.float64); W = torch.randn(8, 3, dtype=torch.float64)
    >>> t = torch.randn(5, 8, dtype=torch.float64); y = torch.tensor([0, 7, -100, 3, 3])
    >>> ours = vp(h, W, t, direction="reverse", temperature=2.0, chunk_size=2, alpha=0.2,
    ...           target=y, vocab_start=0)
    >>> one = linear_distillation_loss(h, W, t, direction="reverse", temperature=2.0, alpha=0.2,
    ...                                target=y)
    >>> bool(torch.isclose(ours, one, rtol=1e-12, atol=0))
    True
    >>> dist.destroy_process_group()
    """
    check_common(reduction=reduction, empty=empty, divide_by="weight", z_loss=0.0, softcap=softcap)
    red = ReductionOptions(reduction, empty, normalizer=normalizer)
    b_, T, a_ = check_distill_options(direction, beta, temperature, alpha)
    if a_ > 0 and target is None:
        msg = f"`alpha` = {alpha!r} mixes in the hard-label cross-entropy: pass `target=` (global class indices)"
        raise ValueError(msg)
    want = wanted_stats(return_stats)
    if "log_prob" in want and target is None:
        msg = "`return_stats` with 'log_prob' needs `target=` (the class whose log q it reads); pass it or drop 'log_prob'"
        raise ValueError(msg)
    reads_classes = a_ > 0 or bool(want)
    if reads_classes and vocab_start is None:
        msg = (
            "`vocab_start` (this rank's first global class) is needed with `alpha > 0` or "
            "`return_stats`: the target's class and the argmax are global class ids"
        )
        raise ValueError(msg)
    check_tensors(
        hidden=hidden, local_weight=local_weight, local_bias=local_bias,
        local_teacher_logits=local_teacher_logits, teacher_hidden=teacher_hidden,
        local_teacher_weight=local_teacher_weight, local_teacher_bias=local_teacher_bias,
        target=target, sample_weight=sample_weight,
    )  # fmt: skip
    if (local_teacher_logits is None) == (teacher_hidden is None) or (
        teacher_hidden is not None and local_teacher_weight is None
    ):
        msg = (
            "pass the teacher as `local_teacher_logits` or as `teacher_hidden` with "
            "`local_teacher_weight`, exactly one"
        )
        raise ValueError(msg)
    if local_weight.dim() != 2 or hidden.shape[-1] != local_weight.shape[1]:
        msg = f"`local_weight` must be (V_local, d) with d = hidden.shape[-1]; got {tuple(local_weight.shape)} and hidden {tuple(hidden.shape)}"
        raise ValueError(msg)
    local, d = local_weight.shape
    lead = tuple(hidden.shape[:-1])
    if local_teacher_logits is not None and tuple(local_teacher_logits.shape) != (*lead, local):
        msg = f"`local_teacher_logits` must have shape {(*lead, local)} (this rank's classes); got {tuple(local_teacher_logits.shape)}"
        raise ValueError(msg)
    if teacher_hidden is not None:
        assert local_teacher_weight is not None
        dt = local_teacher_weight.shape[-1]
        if local_teacher_weight.dim() != 2 or local_teacher_weight.shape[0] != local:
            msg = f"`local_teacher_weight` must be ({local}, d_t) (this rank's classes); got {tuple(local_teacher_weight.shape)}"
            raise ValueError(msg)
        if tuple(teacher_hidden.shape) != (*lead, dt):
            msg = (
                f"`teacher_hidden` must have shape {(*lead, dt)}; got {tuple(teacher_hidden.shape)}"
            )
            raise ValueError(msg)
    for name, bias in (("local_bias", local_bias), ("local_teacher_bias", local_teacher_bias)):
        if bias is not None and tuple(bias.shape) != (local,):
            msg = f"`{name}` must have shape ({local},); got {tuple(bias.shape)}"
            raise ValueError(msg)
    if target is not None and tuple(target.shape) != lead:
        msg = f"`target` must hold global class indices of shape {lead}; got {tuple(target.shape)}"
        raise ValueError(msg)
    n = math.prod(lead)
    cdtype = compute_dtype(hidden, local_weight, local_bias, name="hidden")
    mdtype = torch.promote_types(hidden.dtype, local_weight.dtype)
    if local_bias is not None:
        mdtype = torch.promote_types(mdtype, local_bias.dtype)
    dev = hidden.device
    if reads_classes:  # global class ids checked against the global V, then local columns
        V = int(_total(torch.tensor([local], dtype=torch.int64, device=dev), group).item())
        v0 = int(vocab_start)  # type: ignore[arg-type]
        labels = target if target is not None else torch.zeros(lead, dtype=torch.int64, device=dev)
        rows = prepare_rows(
            labels, num_classes=V, local_classes=local, batch_shape=lead, dtype=cdtype,
            device=dev, class_weight=None, sample_weight=sample_weight,
            ignore_index=ignore_index if target is not None else None, label_smoothing=0.0,
            smoothing="uniform", divide_by="weight", validate=validate, soft=False,
            vocab_start=v0,
        )  # fmt: skip
        rows = _local_rows(rows, v0)
    else:  # only the mask is read from `target`: ignored → ignore_index, else 0
        v0 = 0
        labels = torch.zeros(lead, dtype=torch.int64, device=dev)
        if target is not None:
            labels = torch.where(target.to(dev) == ignore_index, ignore_index, labels)
        rows = prepare_rows(
            labels, num_classes=max(local, 1), local_classes=max(local, 1), batch_shape=lead,
            dtype=cdtype, device=dev, class_weight=None, sample_weight=sample_weight,
            ignore_index=ignore_index if target is not None else None, label_smoothing=0.0,
            smoothing="uniform", divide_by="weight", validate=False, soft=False,
        )  # fmt: skip
    active_idx = None if bool(rows.active.all()) else rows.active.nonzero()[:, 0]
    n_active = n if active_idx is None else int(active_idx.shape[0])
    if chunk_size is not None and int(chunk_size) < 1:
        msg = f"`chunk_size` must be ≥ 1; got {chunk_size}"
        raise ValueError(msg)
    if chunk_size is None:  # from the widest shard, the same on every rank
        widest = _same_on_every_rank(max(local, 1), group, dev)
        chunk_size = auto_rows(
            n_active, widest * (1 + extra_tiles(a_, softcap)), torch.finfo(cdtype).bits // 8, dev
        )
    nc = max(1, min(int(chunk_size), max(n_active, 1)))
    plan = Plan(rows, active_idx, cdtype, mdtype, nc, max(local, 1), 0.0, softcap, TORCH_TILES)
    t_plan = None
    teacher: torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
    if teacher_hidden is not None:
        assert local_teacher_weight is not None
        tm = torch.promote_types(teacher_hidden.dtype, local_teacher_weight.dtype)
        teacher = (
            teacher_hidden.reshape(n, -1).detach(),
            local_teacher_weight.detach(),
            None if local_teacher_bias is None else local_teacher_bias.detach(),
        )
        t_plan = Plan(rows, active_idx, cdtype, tm, nc, max(local, 1), 0.0, None, TORCH_TILES)
    else:
        assert local_teacher_logits is not None
        teacher = local_teacher_logits.reshape(n, local).detach()
    factor = T * T if scale_by_t2 else 1.0
    job = ParallelDistillJob(
        plan, teacher, t_plan, direction, b_, T, factor, a_, group=group, vocab_start=v0
    )
    h2 = hidden.reshape(n, d)
    w_rows = rows.divisor_weights()
    sink = StatsSink(want, n, cdtype, dev) if want else None
    if reduction == "none":
        red.check_none(n)
        loss = DistillFunction.apply(h2, local_weight, local_bias, job, None, None, False, sink)
        loss = loss.reshape(lead)
    else:
        if validate or empty == "raise":
            red.finish(xp_of(w_rows), w_rows.sum() * 0, w_rows.sum(), n=n, host_check=validate)
        scale, fill = red.scale_and_fill(xp_of(w_rows), w_rows.sum().to(cdtype))
        loss = DistillFunction.apply(h2, local_weight, local_bias, job, scale, fill, True, sink)
    if sink is None:
        return loss
    truth = None
    if target is not None and rows.index is not None:
        truth = torch.where(rows.active, rows.index + v0, rows.index)
    stats = sink.result(plan, target, False, lead, truth=truth)
    return loss, stats if target is not None else stats._replace(correct=None)
