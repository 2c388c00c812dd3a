"""Fused linear distillation: a divergence between teacher and student without the N × V logits.

(Over the ~600-line guide: the fused linear distillation, its autograd function and its
vocabulary-parallel version share one chunk job; about 150 lines are the ``@overload``
signatures typing needs spelled out.)

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

import math
from collections.abc import Collection
from typing import Literal, get_args, overload

import torch

from .._options import IGNORE_INDEX, ReductionOptions
from .._types import Direction, Empty, Reduction
from .._validate import check_option, real_number
from ._common import check_common, check_tensors, compute_dtype, prepare_rows, xp_of
from ._plan import Plan, StatsSink, TokenStats, accumulate, auto_rows, in_dtypes, wanted_stats
from ._tiles import TORCH_TILES, capped_slope

__all__ = ["linear_distillation_loss", "vocab_parallel_linear_distillation_loss", "DIRECTIONS"]

DIRECTIONS: tuple[str, ...] = get_args(Direction)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.finfo(dtype).bits // 8


def _xdiff(a: torch.Tensor, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``a · (u − w)`` with ``0 · anything = 0``."""
    return a * torch.where(a == 0, torch.zeros_like(u), u - w)


def divergence_rows(lp: torch.Tensor, lq: torch.Tensor, direction: str, beta: float):
    """``(D_i, ∂D_i/∂x_i)`` for log-distributions ``lp`` (teacher), ``lq`` (student), ``x`` the tempered logits.

    >>> lp = torch.log(torch.tensor([[0.5, 0.5]], dtype=torch.float64))
    >>> lq = torch.log(torch.tensor([[0.25, 0.75]], dtype=torch.float64))
    >>> d, g = divergence_rows(lp, lq, "forward", 0.5)
    >>> round(float(d), 6), g.tolist()                       # KL(p ‖ q); q − p
    (0.143841, [[-0.25, 0.25]])
    """
    if direction == "jsd" and beta in (0.0, 1.0):
        direction = "forward" if beta == 0.0 else "reverse"
    p, q = torch.exp(lp), torch.exp(lq)
    if direction == "forward":
        d, g = _xdiff(p, lp, lq).sum(-1), -p
    elif direction == "reverse":
        e = _xdiff(q, lq, lp)
        d, g = e.sum(-1), e + q
    else:
        both = (p == 0) & (q == 0)
        a = torch.where(both, torch.zeros_like(lp), lp + math.log(beta))
        b = torch.where(both, torch.zeros_like(lq), lq + math.log1p(-beta))
        lm = torch.where(both, torch.full_like(lp, -math.inf), torch.logaddexp(a, b))
        eq = _xdiff(q, lq, lm)
        d = (beta * _xdiff(p, lp, lm) + (1.0 - beta) * eq).sum(-1)
        g = (1.0 - beta) * eq
    return d, g - q * g.sum(-1, keepdim=True)


class _Job:
    """What the autograd Function needs: the student's plan, the teacher's source, the options."""

    def __init__(self, plan, teacher, t_plan, direction, beta, temperature, factor, alpha):
        self.plan: Plan = plan
        self.teacher = teacher  # (N, V) logits, or (h_t, W_t, b_t)
        self.t_plan: Plan | None = t_plan
        self.direction, self.beta, self.T = direction, beta, temperature
        self.factor, self.alpha = factor, alpha

    def teacher_logits(self, r) -> torch.Tensor:
        cd = self.plan.cdtype
        if self.t_plan is None:  # a fresh buffer (the chunk is overwritten), never the caller's
            if isinstance(r, slice):
                return self.teacher[r].to(cd, copy=True)
            return self.teacher.index_select(0, r).to(cd)
        ht, wt, bt = self.teacher
        return self.t_plan.logits(ht, wt, bt, r, 0, wt.shape[0])[0]

    def chunk(self, h, w, b, r, gs, sink: StatsSink | None = None):
        """``(ℓ_r, G, h_r, W)``: the rows' losses and (``gs`` given) their gradient tile.

        ``sink``: also record the rows' statistics of the untempered student logits (§15), read
        by the tiles' own ``stats`` before the logits are overwritten.
        """
        plan, rows = self.plan, self.plan.rows
        z, hc, wv = plan.logits(h, w, b, r, 0, w.shape[0])  # a fresh buffer: ours to overwrite
        if sink is not None:  # the tiles' stats read z and leave it as it is
            st = plan.ops.stats(
                z, rows, r, 0, None,
                entropy=sink.entropy is not None, argmax=sink.argmax is not None,
            )  # fmt: skip
            sink.record(plan, r, st, st.lse())
        zt = self.teacher_logits(r)  # a fresh buffer too
        T = self.T
        s = rows.s[r]
        kd = 1.0 - self.alpha
        slope = capped_slope(z, plan.cap) if (plan.cap is not None and gs is not None) else None
        ce_ell = sm = None
        if (
            self.alpha
        ):  # the hard-label term reads the untempered logits before they are overwritten
            ce_lse = torch.logsumexp(z, -1)
            assert rows.index is not None  # class indices: `alpha > 0` needs `target=`
            idx = rows.index[r].clamp(min=0)[:, None]
            ce_ell = self.alpha * s * (ce_lse - z.gather(1, idx)[:, 0])
            if gs is not None:
                sm = torch.exp(z - ce_lse[:, None]).mul_((self.alpha * gs)[:, None])
                sm.scatter_add_(1, idx, -(self.alpha * gs)[:, None])
        lq, q = _log_softmax_(z, T)
        lp, p = _log_softmax_(zt, T)
        d, gx = _divergence_(lp, p, lq, q, self.direction, self.beta)
        ell = (kd * self.factor) * s * d
        if ce_ell is not None:
            ell = ell + ce_ell
        if gs is None:
            return ell, None, hc, wv
        g = gx.mul_((gs * (kd * self.factor / T))[:, None])
        if sm is not None:
            g = g.add_(sm)
        if slope is not None:
            g = g.mul_(slope)
        return ell, g, hc, wv


def _log_softmax_(x: torch.Tensor, T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log softmax(x / T), softmax(x / T))``, the first written over ``x`` (one more tile for the second)."""
    if T != 1.0:
        x.div_(T)
    m = x.amax(-1, keepdim=True) if x.shape[-1] else x.new_zeros((x.shape[0], 1))
    x.sub_(torch.where(torch.isfinite(m), m, torch.zeros_like(m)))
    e = torch.exp(x)
    tot = e.sum(-1, keepdim=True)
    return x.sub_(torch.log(tot)), e.div_(tot)


def _rowdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_c a_c b_c`` per row, without a product tile."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def _divergence_(lp, p, lq, q, direction: str, beta: float):
    """:func:`divergence_rows` from both log-distributions and distributions, overwriting them.

    Forward: ``D = Σ p (log p − log q)``, gradient ``q − p`` (in ``q``'s buffer); reverse:
    ``D = Σ q d``, ``d = log q − log p``, gradient ``q (d − D)`` (in ``lq``'s). ``0 · log 0 = 0``:
    the difference is set to 0 where the weighting distribution is 0.
    """
    if direction == "jsd" and beta in (0.0, 1.0):
        direction = "forward" if beta == 0.0 else "reverse"
    if direction == "forward":
        diff = lp.sub_(lq).masked_fill_(p == 0, 0.0)
        return _rowdot(p, diff), q.sub_(p)
    if direction == "reverse":
        diff = lq.sub_(lp).masked_fill_(q == 0, 0.0)
        dsum = _rowdot(q, diff)
        return dsum, diff.sub_(dsum[:, None]).mul_(q)
    return divergence_rows(lp, lq, direction, beta)


class _LinearDistill(torch.autograd.Function):
    """Loss per row (or reduced) and, for mean/sum, the gradients in the same pass."""

    @staticmethod
    def forward(ctx, h, w, b, job: _Job, scale, fill, reduced: bool, sink: StatsSink | None = None):
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
        return (*in_dtypes(grads, (h, w, b)), None, None, None, None, None)


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
        Rows per chunk; by default ``_plan.auto_rows`` (from V and the cache, as the one-pass
        ``linear_cross_entropy``): a chunk holds ``chunk_size × V`` logits of each model and
        about four such tiles live at once.
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
    nc = (
        chunk_size
        if chunk_size is not None
        else auto_rows(n_active, V, _itemsize(cdtype), h.device)
    )
    nc = max(1, min(int(nc), max(n_active, 1)))
    if chunk_size is not None and int(chunk_size) < 1:
        msg = f"`chunk_size` must be ≥ 1; got {chunk_size}"
        raise ValueError(msg)
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
    job = _Job(plan, teacher, t_plan, direction, b_, T, factor, a_)
    h2 = h.reshape(n, d)
    w_rows = rows.divisor_weights()
    sink = StatsSink(want, n, cdtype, h.device) if want else None
    if reduction == "none":
        red.check_none(n)
        loss = _LinearDistill.apply(h2, w, b, job, None, None, False, sink).reshape(batch_shape)
    else:
        if validate or empty == "raise":  # the host checks of `empty=` (warning, error)
            red.finish(xp_of(w_rows), w_rows.sum() * 0, w_rows.sum(), n=n, host_check=validate)
        scale, fill = red.scale_and_fill(xp_of(w_rows), w_rows.sum().to(cdtype))
        loss = _LinearDistill.apply(h2, w, b, job, scale, fill, True, sink)
    if sink is None:
        return loss
    stats = sink.result(plan, target, False, batch_shape)
    return loss, stats if target is not None else stats._replace(correct=None)


# ---- vocabulary-parallel ---------------------------------------------------------------------


def _global_log_softmax_(x: torch.Tensor, T: float, group) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_log_softmax_` over the classes of every rank of ``group`` (one MAX, one SUM)."""
    import torch.distributed as dist

    if T != 1.0:
        x.div_(T)
    m = x.amax(-1) if x.shape[-1] else x.new_full((x.shape[0],), float("-inf"))
    dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    x.sub_(m[:, None])
    e = torch.exp(x)
    tot = e.sum(-1)
    dist.all_reduce(tot, op=dist.ReduceOp.SUM, group=group)
    return x.sub_(torch.log(tot)[:, None]), e.div_(tot[:, None])


def _global_divergence_(lp, p, lq, q, direction: str, beta: float, group):
    """:func:`_divergence_` with the row sums over every shard (one or two SUMs)."""
    import torch.distributed as dist

    def total(t):
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
        return t

    if direction == "jsd" and beta in (0.0, 1.0):
        direction = "forward" if beta == 0.0 else "reverse"
    if direction == "forward":
        diff = lp.sub_(lq).masked_fill_(p == 0, 0.0)
        return total(_rowdot(p, diff)), q.sub_(p)
    if direction == "reverse":
        diff = lq.sub_(lp).masked_fill_(q == 0, 0.0)
        dsum = total(_rowdot(q, diff))
        return dsum, diff.sub_(dsum[:, None]).mul_(q)
    both = (p == 0) & (q == 0)
    a = torch.where(both, torch.zeros_like(lp), lp + math.log(beta))
    b = torch.where(both, torch.zeros_like(lq), lq + math.log1p(-beta))
    lm = torch.where(both, torch.full_like(lp, -math.inf), torch.logaddexp(a, b))
    eq = _xdiff(q, lq, lm)
    d_and_g = torch.stack([(beta * _xdiff(p, lp, lm) + (1.0 - beta) * eq).sum(-1), eq.sum(-1)], 1)
    total(d_and_g)
    g = (1.0 - beta) * eq
    return d_and_g[:, 0], g - q * ((1.0 - beta) * d_and_g[:, 1])[:, None]


class _VocabParallelDistill(torch.autograd.Function):
    """Every rank holds the same rows and its slice of both vocabularies; reduced losses only."""

    @staticmethod
    def forward(ctx, h, w, b, plan: Plan, teacher, T, factor, direction, beta, group, scale, fill):
        import torch.distributed as dist

        rows = plan.rows
        n = rows.s.shape[0]
        need = ctx.needs_input_grad
        grads = plan.grad_buffers(h, w, b, need)
        want = any(g is not None for g in grads)
        loss = torch.zeros(n, dtype=plan.cdtype, device=h.device)
        for r in plan.row_chunks():
            z, hc, wv = plan.logits(h, w, b, r, 0, w.shape[0])
            slope = capped_slope(z, plan.cap) if (plan.cap is not None and want) else None
            src = teacher[r] if isinstance(r, slice) else teacher.index_select(0, r)
            zt = src.to(plan.cdtype, copy=True)
            lq, q = _global_log_softmax_(z, T, group)
            lp, p = _global_log_softmax_(zt, T, group)
            d, g = _global_divergence_(lp, p, lq, q, direction, beta, group)
            s = rows.s[r]
            loss[r] = factor * s * d
            if want:
                g = g.mul_((s * scale * factor / T)[:, None])
                if slope is not None:
                    g = g.mul_(slope)
                accumulate(plan, g, hc, wv, r, 0, w.shape[0], grads)
        if grads[0] is not None:
            dist.all_reduce(grads[0], op=dist.ReduceOp.SUM, group=group)
        ctx.grads = grads
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        loss = torch.where(rows.bad, torch.full_like(loss, math.nan), loss)
        return loss.sum() * scale + fill

    @staticmethod
    def backward(ctx, grad_out):
        res = [
            None if g is None else (g * grad_out.to(g.dtype)).to(dt)
            for g, dt in zip(ctx.grads, ctx.dtypes, strict=True)
        ]
        ctx.grads = None
        return (*res, *([None] * 9))


def vocab_parallel_linear_distillation_loss(
    hidden: torch.Tensor,
    local_weight: torch.Tensor,
    local_teacher_logits: torch.Tensor,
    *,
    group=None,
    local_bias: torch.Tensor | None = None,
    direction: Direction = "forward",
    beta: float = 0.5,
    temperature: float = 1.0,
    scale_by_t2: bool = True,
    target: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    sample_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
    empty: Empty = "nan",
    normalizer: float | torch.Tensor | None = None,
    softcap: float | None = None,
    chunk_size: int | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """:func:`linear_distillation_loss` with both vocabularies sharded by rows over ``group``.

    ``hidden`` ``(..., d)`` is replicated; ``local_weight`` ``(V_r, d)`` (and ``local_bias``)
    and ``local_teacher_logits`` ``(..., V_r)`` are this rank's classes (the same slice for
    both models; shards may be uneven). Per chunk of rows the two log-softmaxes and the
    divergence's row sums cross ranks (four or five all-reduces of O(rows) numbers), and
    ``grad_hidden`` is all-reduced once; each rank's weight gradient is its own slice. The
    loss is replicated. ``"mean"`` and ``"sum"`` only; no hard-label term (``alpha``).

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> from crossentropy.torch import linear_distillation_loss
    >>> from crossentropy.torch.distill import vocab_parallel_linear_distillation_loss as vp
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> _ = torch.manual_seed(0)
    >>> h = torch.randn(5, 3, dtype=torch.float64); W = torch.randn(8, 3, dtype=torch.float64)
    >>> t = torch.randn(5, 8, dtype=torch.float64)
    >>> ours = vp(h, W, t, direction="reverse", temperature=2.0, chunk_size=2)
    >>> one = linear_distillation_loss(h, W, t, direction="reverse", temperature=2.0)
    >>> bool(torch.isclose(ours, one, rtol=1e-12, atol=0))
    True
    >>> dist.destroy_process_group()
    """
    check_common(reduction=reduction, empty=empty, divide_by="weight", z_loss=0.0, softcap=softcap)
    if reduction == "none":
        msg = "the vocabulary-parallel distillation reduces: use reduction='mean' or 'sum'"
        raise ValueError(msg)
    red = ReductionOptions(reduction, empty, normalizer=normalizer)
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
    check_tensors(
        hidden=hidden, local_weight=local_weight, local_bias=local_bias,
        local_teacher_logits=local_teacher_logits, target=target, sample_weight=sample_weight,
    )  # fmt: skip
    if local_weight.dim() != 2 or hidden.shape[-1] != local_weight.shape[1]:
        msg = f"`local_weight` must be (V_local, d) with d = hidden.shape[-1]; got {tuple(local_weight.shape)} and hidden {tuple(hidden.shape)}"
        raise ValueError(msg)
    local, d = local_weight.shape
    lead = tuple(hidden.shape[:-1])
    if tuple(local_teacher_logits.shape) != (*lead, local):
        msg = f"`local_teacher_logits` must have shape {(*lead, local)} (this rank's classes); got {tuple(local_teacher_logits.shape)}"
        raise ValueError(msg)
    n = math.prod(lead)
    cdtype = compute_dtype(hidden, local_weight, local_bias, name="hidden")
    mdtype = torch.promote_types(hidden.dtype, local_weight.dtype)
    if local_bias is not None:
        mdtype = torch.promote_types(mdtype, local_bias.dtype)
    # only the mask is read from `target` (its ids are global classes): ignored → ignore_index, else 0
    labels = torch.zeros(lead, dtype=torch.int64, device=hidden.device)
    if target is not None:
        labels = torch.where(target.to(hidden.device) == ignore_index, ignore_index, labels)
    rows = prepare_rows(
        labels, num_classes=max(local, 1), local_classes=max(local, 1), batch_shape=lead,
        dtype=cdtype, device=hidden.device, class_weight=None, sample_weight=sample_weight,
        ignore_index=ignore_index if target is not None else None, label_smoothing=0.0,
        smoothing="uniform", divide_by="weight", validate=False, soft=False,
    )  # fmt: skip
    active_idx = None if bool(rows.active.all()) else rows.active.nonzero()[:, 0]
    nc = int(chunk_size or auto_rows(n, max(local, 1), _itemsize(cdtype), hidden.device))
    plan = Plan(rows, active_idx, cdtype, mdtype, nc, max(local, 1), 0.0, softcap, TORCH_TILES)
    w_rows = rows.divisor_weights()
    if validate or empty == "raise":
        red.finish(xp_of(w_rows), w_rows.sum() * 0, w_rows.sum(), n=n, host_check=validate)
    scale, fill = red.scale_and_fill(xp_of(w_rows), w_rows.sum().to(cdtype))
    factor = T * T if scale_by_t2 else 1.0
    teacher = local_teacher_logits.reshape(n, local).detach()
    return _VocabParallelDistill.apply(
        hidden.reshape(n, d), local_weight, local_bias, plan, teacher, T, factor, direction, b_,
        group, scale, fill,
    )  # fmt: skip
