"""Fused linear cross-entropy: ``CE(hidden @ weightᵀ + bias, target)`` without the N × V logits.

(Just over the ~600-line guide: about 120 lines are the ``@overload`` signatures of
``return_lse``/``return_stats`` that typing needs spelled out; the tile work lives in
``_tiles``, ``_numba_tiles`` and ``triton_kernels``.)

For a language model the logits of N tokens over a vocabulary of V entries
dominate memory (N·V floats, then as many again for their gradient). This
module computes the same loss and gradients as

    F.cross_entropy(F.linear(hidden, weight, bias), target, ...)

while holding only a chunk of logits at a time. The chunking, the matrix products
(torch, cuBLAS on a GPU) and the loops are :mod:`crossentropy.torch._plan`'s; the
element-wise work of each tile of logits — online log-sum-exp, target gather,
smoothing sum, gradient tile — is a ``TileOps``: the torch reference
(``impl="torch"``, CPU and GPU), one numba kernel per tile of whole rows
(:mod:`crossentropy.torch._numba_tiles`, ``impl="numba"``, CPU) or the Triton kernels of
:mod:`crossentropy.torch.triton_kernels` (``impl="triton"``). ``impl="auto"`` takes numba
on CPU when it is installed and stays on the torch reference on GPU until the Triton
kernels have run there (they are verified in Triton's interpreter).

**How.** Rows (tokens) that are masked are dropped before any work. Then:

- ``reduction="mean"`` / ``"sum"`` with gradients needed (training): tokens are
  processed in chunks of ``chunk_size`` rows; each chunk's full logits row
  gives its loss *and* its gradient ``G`` right away (softmax minus the smoothed
  target, scaled), which is folded into ``grad_hidden = G @ weight``,
  ``grad_weight += Gᵀ @ hidden`` and ``grad_bias += Σ G`` (accumulated in float32
  or float64). The backward only multiplies by the upstream scalar. Three matrix
  products in all, the same as the materialised path.
- ``reduction="none"`` (a per-token upstream gradient) or no gradient needed:
  chunks of tokens × chunks of vocabulary with an online log-sum-exp in the
  forward (only ``lse`` per token is kept); the backward recomputes each tile of
  logits from ``lse`` and accumulates the same three gradients. Four matrix products.

Memory beyond the inputs and the gradients: one chunk of logits (``chunk_size × V``
or ``chunk_size × vocab_chunk_size`` floats in the compute dtype) plus O(N) per-token
numbers. A float soft ``target`` of shape ``(N, V)`` is itself N·V floats: it is
the caller's, read chunk by chunk, never copied whole.

**Dtype promotion.** The matrix products run in ``promote(hidden, weight, bias)``
(PyTorch's promotion: bfloat16 with float32 → float32, anything with float64 →
float64); the log-sum-exp, the loss and every gradient accumulation run in the
compute dtype ``max(float32, that dtype)``; each gradient is returned in its
input's dtype.

=============  =============  =============  ================  ==============
hidden         weight         bias           matmul            loss/accumulate
=============  =============  =============  ================  ==============
bfloat16       bfloat16       bfloat16/None  bfloat16          float32
float16        float16        float16/None   float16           float32
bfloat16       float32        any            float32           float32
float32        float32        float32/None   float32           float32
any            float64        any            float64           float64
=============  =============  =============  ================  ==============

**Validation** runs on the host before any product (targets in range or equal to
``ignore_index``; weights and options). With ``validate=False`` an out-of-range
target makes its row's loss NaN (and the mean NaN), never a plausible number.
Offsets are Python/int64 integers throughout: no 32-bit index arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Literal, get_args, overload

import torch

from .. import kernels
from .._options import IGNORE_INDEX, ReductionOptions
from .._types import DivideBy, Empty, Reduction, Smoothing
from .._validate import check_option
from ..kinds import target_kind
from ._common import check_common, check_tensors, compute_dtype, prepare_rows, reduce_loss, xp_of
from ._plan import (
    STATS,
    Plan,
    StatsSink,
    TileOps,
    TokenStats,
    accumulate,
    auto_rows,
    chunks,
    in_dtypes,
    online_partials,
    online_state,
    recompute_gradients,
    row_loss,
    wanted_stats,
)
from ._tiles import TORCH_TILES

__all__ = ["linear_cross_entropy", "IMPLS", "STATS", "TokenStats", "chunks", "online_partials"]

LinearImpl = Literal["auto", "torch", "numba", "triton"]
IMPLS: tuple[str, ...] = get_args(LinearImpl)

#: Floats of logits a chunk of the vocabulary-chunked path holds by default (16 MiB in float32);
#: the one-pass path (gradient formed in the forward) sizes its chunks by ``_plan.auto_rows``.
DEFAULT_TILE_ELEMENTS = 1 << 22


def _tk():
    """The Triton kernels module (imported when a Triton path runs)."""
    from . import triton_kernels

    return triton_kernels


def resolve_impl(impl: str, device: torch.device) -> str:
    """``"torch"``, ``"numba"`` or ``"triton"`` for ``impl`` on ``device`` (see ``linear_cross_entropy``'s ``impl``).

    >>> resolve_impl("auto", torch.device("cpu")) == ("numba" if kernels.available() else "torch")
    True
    >>> resolve_impl("torch", torch.device("cpu"))
    'torch'
    """
    if impl == "auto":
        # CPU: the numba tile when numba is installed. The Triton kernels are verified in
        # Triton's interpreter only; until they have run on a GPU (benchmarks/gpu.sh), "auto"
        # keeps the torch implementation there.
        return "numba" if device.type == "cpu" and kernels.available() else "torch"
    if impl == "numba":
        if device.type != "cpu":
            msg = f"impl='numba' runs on CPU tensors; `hidden` is on {device}. Use impl='auto' or 'torch'"
            raise ValueError(msg)
        if not kernels.available():
            msg = "impl='numba' needs numba: install the `fast` extra (pip install 'crossentropy[fast]') or use impl='torch'"
            raise ImportError(msg)
        return impl
    tk = _tk()
    if impl == "triton":
        if device.type != "cuda" and not (device.type == "cpu" and tk.interpreter_enabled()):
            msg = (
                f"impl='triton' needs CUDA tensors (or, for tests, CPU tensors under Triton's interpreter "
                f"with TRITON_INTERPRET=1 set before the kernels are first used); `hidden` is on {device}. "
                "Use impl='torch' or impl='auto' here"
            )
            raise ValueError(msg)
        tk.require()
    return impl


def _tile_ops(impl: str) -> TileOps:
    """The :class:`~crossentropy.torch._plan.TileOps` of a resolved ``impl``."""
    if impl == "numba":
        from ._numba_tiles import NUMBA_TILES

        return NUMBA_TILES
    return _tk().TRITON_TILES if impl == "triton" else TORCH_TILES


def _nan_where_bad(plan: Plan, loss: torch.Tensor) -> torch.Tensor:
    return torch.where(plan.rows.bad, torch.full_like(loss, float("nan")), loss)


class _ReducedLinearCE(torch.autograd.Function):
    """mean/sum: loss and (when needed) gradients in one pass over token chunks."""

    @staticmethod
    def forward(
        ctx, h, w, b, plan: Plan, denom_scale, fill, want_lse, sink: StatsSink | None = None
    ):
        rows = plan.rows
        n, V = rows.s.shape[0], w.shape[0]
        need = ctx.needs_input_grad
        grads = plan.grad_buffers(h, w, b, need)
        want_grads = any(g is not None for g in grads)
        cd = plan.cdtype
        loss = torch.zeros(n, dtype=cd, device=h.device)
        lse_all = torch.full((n,), float("nan"), dtype=cd, device=h.device) if want_lse else None
        # one tile buffer for every chunk (each chunk's gradient is accumulated before the next)
        buf = torch.empty(min(plan.nc, n), V, dtype=cd, device=h.device) if want_grads else None
        for r in plan.row_chunks():
            if want_grads:  # whole rows: the gradient tile right away
                z, hc, wv = plan.logits(h, w, b, r, 0, V, out=buf)
                gs = rows.s[r] * denom_scale
                st, g = plan.ops.stats_and_grad(
                    z, rows, r, gs, plan.z_loss, plan.cap,
                    entropy=plan.want_entropy, argmax=plan.want_argmax,
                )  # fmt: skip
                accumulate(plan, g, hc, wv, r, 0, V, grads)
                del z, g
            else:  # no gradient: vocabulary-chunked forward, one tile at a time
                st = online_state(plan, h, w, b, r)
            lse = st.lse()
            loss[r] = row_loss(rows, r, lse, st.p, st.q, plan.z_loss)
            if lse_all is not None:
                lse_all[r] = lse
            if sink is not None:
                sink.record(plan, r, st, lse)
        loss = _nan_where_bad(plan, loss)
        if sink is not None:
            sink.loss = loss
        out = loss.sum() * denom_scale + fill
        ctx.grads = grads
        ctx.cdtype = cd
        ctx.dtypes = (h.dtype, w.dtype, None if b is None else b.dtype)
        if want_lse:
            ctx.mark_non_differentiable(lse_all)
            return out, lse_all
        return out, torch.empty(0, dtype=cd, device=h.device)

    @staticmethod
    def backward(ctx, grad_out, _grad_lse):
        if ctx.grads is None:
            msg = (
                "linear_cross_entropy computed its gradients during the forward and handed them over in the "
                "first backward; to differentiate the same graph twice (retain_graph=True, gradcheck) pass "
                "recompute=True"
            )
            raise RuntimeError(msg)
        grads = ctx.grads
        ctx.grads = None  # hand the buffers over (no copy, no second reference)
        go = grad_out.to(ctx.cdtype)
        res = [
            None if g is None else (g.mul_(go)).to(d)
            for g, d in zip(grads, ctx.dtypes, strict=True)
        ]
        return res[0], res[1], res[2], None, None, None, None, None


class _RowsLinearCE(torch.autograd.Function):
    """reduction='none': per-token losses; the backward recomputes tiles of logits from lse."""

    @staticmethod
    def forward(ctx, h, w, b, plan: Plan, sink: StatsSink | None = None):
        rows = plan.rows
        n = rows.s.shape[0]
        cd = plan.cdtype
        loss = torch.zeros(n, dtype=cd, device=h.device)
        lse_all = torch.full((n,), float("nan"), dtype=cd, device=h.device)
        for r in plan.row_chunks():
            st = online_state(plan, h, w, b, r)
            lse = st.lse()
            loss[r] = row_loss(rows, r, lse, st.p, st.q, plan.z_loss)
            lse_all[r] = lse
            if sink is not None:
                sink.record(plan, r, st, lse)
        ctx.save_for_backward(h, w, b, lse_all)
        ctx.plan = plan
        ctx.mark_non_differentiable(lse_all)
        loss = _nan_where_bad(plan, loss)
        if sink is not None:
            sink.loss = loss.detach().clone()
        return loss, lse_all

    @staticmethod
    def backward(ctx, grad, _grad_lse):
        h, w, b, lse_all = ctx.saved_tensors
        plan = ctx.plan
        gs = grad.to(plan.cdtype) * plan.rows.s
        grads = recompute_gradients(plan, h, w, b, lse_all, gs, ctx.needs_input_grad)
        return (*in_dtypes(grads, (h, w, b)), None, None)


@overload
def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    softcap: float | None = None,
    z_loss: float = 0.0,
    shift: bool = False,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    class_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    normalizer: float | torch.Tensor | None = None,
    impl: LinearImpl = "auto",
    return_lse: Literal[False] = False,
    return_stats: Literal[False] = False,
    recompute: bool = False,
    validate: bool = True,
) -> torch.Tensor: ...


@overload
def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    softcap: float | None = None,
    z_loss: float = 0.0,
    shift: bool = False,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    class_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    normalizer: float | torch.Tensor | None = None,
    impl: LinearImpl = "auto",
    return_lse: Literal[True],
    return_stats: Literal[False] = False,
    recompute: bool = False,
    validate: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    softcap: float | None = None,
    z_loss: float = 0.0,
    shift: bool = False,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    class_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    normalizer: float | torch.Tensor | None = None,
    impl: LinearImpl = "auto",
    return_lse: Literal[False] = False,
    return_stats: Literal[True] | Collection[str],
    recompute: bool = False,
    validate: bool = True,
) -> tuple[torch.Tensor, TokenStats]: ...


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    target: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    softcap: float | None = None,
    z_loss: float = 0.0,
    shift: bool = False,
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    class_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    normalizer: float | torch.Tensor | None = None,
    impl: LinearImpl = "auto",
    return_lse: bool = False,
    return_stats: bool | Collection[str] = False,
    recompute: bool = False,
    validate: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, TokenStats]:
    """Cross-entropy of ``hidden @ weightᵀ + bias`` against ``target``, chunked (no N × V logits).

    .. math::

        z_i = \\operatorname{softcap}(W h_i + b), \\quad
        ℓ_i = s_i \\Big(\\sum_c a_{ic}\\Big) \\operatorname{lse}(z_i) − s_i \\sum_c a_{ic} z_{ic}
              + ζ s_i \\operatorname{lse}(z_i)^2

    with ``a_ic = class_weight_c · y'_ic`` (``y'`` the smoothed target) — the same numbers as
    :func:`crossentropy.torch.cross_entropy` on the materialised logits, and reduced the same
    way (``mean = Σ ℓ_i / Σ w_i``).

    Parameters
    ----------
    hidden : Tensor
        ``(..., d)`` hidden states (any leading shape; ``(B, T, d)`` for ``shift=True``).
    weight : Tensor
        ``(V, d)`` classifier (the ``nn.Linear`` / tied-embedding layout).
    target : Tensor
        Class indices with ``hidden``'s leading shape, or a float distribution ``(..., V)``
        (soft targets, e.g. distillation; it is N·V floats itself).
    bias : Tensor, optional
        ``(V,)``.
    ignore_index, reduction, label_smoothing, smoothing, empty, divide_by, normalizer, validate
        As in :func:`crossentropy.torch.cross_entropy` (``normalizer``: the whole optimiser
        step's ``Σw`` under ``"mean"``, docs/semantics.md §14).
    softcap : float, optional
        Logits become ``softcap · tanh(logits / softcap)`` (Gemma 2).
    z_loss : float
        Coefficient ζ on ``lse²`` for every non-masked token (sample weight applies).
    shift : bool
        Causal-LM shift: drop the last position of ``hidden`` (axis −2) and the first of
        ``target``, so that position t predicts token t + 1.
    chunk_size, vocab_chunk_size : int, optional
        Tokens (and vocabulary entries, for the two-pass path) per chunk. Nothing to tune by
        default: the one-pass path takes ``2 · cache / (V · itemsize)`` tokens rounded down to a
        power of two in ``[256, 1024]`` (the GPU's L2 or the CPU's last-level cache;
        ``_plan.auto_rows``), the two-pass path chunks of about 4 Mi logits.
    class_weight, sample_weight : Tensor, optional
        Per-class ``(V,)`` and per-token weights.
    impl : {"auto", "torch", "numba", "triton"}
        ``"torch"``: the chunked torch reference (CPU and GPU). ``"numba"``: the same chunks
        and matrix products, with the one-pass tile of index targets (loss, statistics and
        gradient of whole rows) in one numba kernel (CPU tensors; needs numba).
        ``"triton"``: the per-tile work in Triton kernels (CUDA tensors; CPU tensors only under
        Triton's interpreter, ``TRITON_INTERPRET=1``, for tests). ``"auto"``: ``"numba"`` on CPU
        when numba is installed, else ``"torch"`` (also on GPU until the Triton kernels have
        been verified there; pass ``impl="triton"`` to opt in).
    return_lse : bool
        Also return the per-token log-sum-exp (NaN on masked tokens, which are skipped).
    return_stats : bool or collection of str
        Also return a :class:`TokenStats` of per-token statistics from the same pass
        (docs/semantics.md §15): ``True`` for all, or some of ``"loss"`` (``ℓ_i``),
        ``"weight"`` (``w_i``), ``"log_prob"`` (``log q`` of the target: ``z_y − lse``),
        ``"logsumexp"``, ``"entropy"`` (``H(q) = log S − T/S`` with ``T = Σ_c e^{z_c − m}(z_c − m)``
        folded tile by tile) and ``"argmax"`` (with ``correct``). Not with ``return_lse``.
    recompute : bool
        Always use the two-pass path (the backward recomputes the logits): four matrix
        products instead of three, but the graph can be differentiated more than once
        (``retain_graph=True``, ``gradcheck``). ``reduction="none"`` always uses it.

    Returns
    -------
    Tensor, (Tensor, Tensor) or (Tensor, TokenStats)
        The loss (compute dtype), and the per-token ``lse`` when ``return_lse`` or the
        statistics when ``return_stats``.

    Examples
    --------
    >>> import torch
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import linear_cross_entropy
    >>> _ = torch.manual_seed(0)
    >>> h = torch.randn(10, 16, dtype=torch.float64); W = torch.randn(37, 16, dtype=torch.float64)
    >>> y = torch.randint(0, 37, (10,)); y[3] = -100
    >>> ours = linear_cross_entropy(h, W, y, label_smoothing=0.1, chunk_size=4)
    >>> ref = F.cross_entropy(h @ W.T, y, label_smoothing=0.1)
    >>> bool(torch.allclose(ours, ref, rtol=1e-12, atol=0))
    True
    >>> loss, st = linear_cross_entropy(h, W, y, return_stats=("log_prob", "entropy", "argmax"))
    >>> z = h @ W.T
    >>> q = torch.softmax(z, -1)
    >>> bool(torch.allclose(st.entropy[y != -100], -(q * q.log()).sum(-1)[y != -100], rtol=1e-12))
    True
    >>> bool(torch.equal(st.argmax[y != -100], z.argmax(-1)[y != -100])), st.loss is None
    (True, True)
    """
    check_common(
        reduction=reduction, empty=empty, divide_by=divide_by, z_loss=z_loss, softcap=softcap
    )
    red = ReductionOptions(reduction, empty, normalizer=normalizer)  # checks normalizer
    check_option("impl", impl, IMPLS)
    check_tensors(
        hidden=hidden, weight=weight, bias=bias, target=target,
        class_weight=class_weight, sample_weight=sample_weight,
    )  # fmt: skip
    for name, t in (("hidden", hidden), ("weight", weight), ("target", target)):
        if not isinstance(t, torch.Tensor):
            msg = f"`{name}` must be a torch.Tensor; got {type(t).__name__}"
            raise TypeError(msg)
    resolved = resolve_impl(impl, hidden.device)
    want = wanted_stats(return_stats)
    if want and return_lse:
        msg = "pass `return_lse=True` or `return_stats=`, not both: the statistics hold the log-sum-exp"
        raise ValueError(msg)
    if weight.dim() != 2:
        msg = f"`weight` must be the (V, d) classifier matrix; got shape {tuple(weight.shape)}"
        raise ValueError(msg)
    V, d = weight.shape
    if V == 0:
        msg = "`weight` has no rows: the vocabulary is empty"
        raise ValueError(msg)
    if hidden.dim() < 1 or hidden.shape[-1] != d:
        msg = f"`hidden` must end with the feature size d = {d} of `weight` {tuple(weight.shape)}; got {tuple(hidden.shape)}"
        raise ValueError(msg)
    if bias is not None and tuple(bias.shape) != (V,):
        msg = f"`bias` must have shape ({V},); got {tuple(bias.shape)}"
        raise ValueError(msg)
    mdtype = hidden.dtype
    for other in (weight, bias):
        if other is not None:
            mdtype = torch.promote_types(mdtype, other.dtype)
    cdtype = compute_dtype(hidden, weight, bias, name="hidden")
    if mdtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        msg = f"`hidden`, `weight` and `bias` must be floating point; got {hidden.dtype}, {weight.dtype}, {None if bias is None else bias.dtype}"
        raise TypeError(msg)

    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    pred_shape = (*hidden.shape[:-1], V)
    soft = target_kind(xp_of(target), pred_shape, target, len(pred_shape) - 1) == "distribution"
    if shift:
        if hidden.dim() < 2:
            msg = f"`shift=True` needs a sequence axis: hidden of shape (..., T, d); got {tuple(hidden.shape)}"
            raise ValueError(msg)
        hidden = hidden[..., :-1, :]
        target = target[..., 1:, :] if soft else target[..., 1:]
        if sample_weight is not None:
            sample_weight = sample_weight[..., 1:]
    batch_shape = tuple(hidden.shape[:-1])
    n = math.prod(batch_shape)
    h2 = hidden.reshape(n, d)
    rows = prepare_rows(
        target,
        num_classes=V,
        local_classes=V,
        batch_shape=batch_shape,
        dtype=cdtype,
        device=hidden.device,
        class_weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=None if soft else ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=validate,
        soft=soft,
    )
    if "log_prob" in want and soft and class_weight is not None:
        msg = (
            "`return_stats` with 'log_prob' needs no `class_weight` for a distribution target "
            "(the weighted sum Σ_c weight_c y_c z_c does not give Σ_c y_c log q_c); drop one of them"
        )
        raise ValueError(msg)
    active_idx = None
    if not bool(rows.active.all()):
        active_idx = rows.active.nonzero()[:, 0]
    n_active = n if active_idx is None else int(active_idx.shape[0])
    tokens_grad = (
        reduction != "none"
        and not recompute
        and torch.is_grad_enabled()
        and (
            hidden.requires_grad
            or weight.requires_grad
            or (bias is not None and bias.requires_grad)
        )
    )
    if chunk_size is None:
        if tokens_grad:  # full rows: sized from V and the cache (_plan.auto_rows)
            itemsize = torch.finfo(cdtype).bits // 8
            chunk_size = auto_rows(n_active, V, itemsize, hidden.device)
        else:
            chunk_size = DEFAULT_TILE_ELEMENTS // min(V, vocab_chunk_size or 4096)
        chunk_size = max(1, min(max(n_active, 1), chunk_size))
    if vocab_chunk_size is None:
        vocab_chunk_size = max(1, min(V, DEFAULT_TILE_ELEMENTS // max(1, chunk_size)))
    if int(chunk_size) < 1 or int(vocab_chunk_size) < 1:
        msg = (
            f"`chunk_size` and `vocab_chunk_size` must be ≥ 1; got {chunk_size}, {vocab_chunk_size}"
        )
        raise ValueError(msg)
    plan = Plan(
        rows,
        active_idx,
        cdtype,
        mdtype,
        int(chunk_size),
        int(vocab_chunk_size),
        float(z_loss),
        softcap,
        _tile_ops(resolved),
        want_entropy="entropy" in want,
        want_argmax="argmax" in want,
    )
    sink = StatsSink(want, n, cdtype, hidden.device) if want else None

    w_rows = rows.divisor_weights()
    if reduction == "none" or recompute:
        loss, lse = _RowsLinearCE.apply(h2, weight, bias, plan, sink)
        loss = reduce_loss(
            loss,
            w_rows,
            reduction=reduction,
            empty=empty,
            host_check=validate,
            batch_shape=batch_shape,
            normalizer=normalizer,
        )
        if sink is not None:
            return loss, sink.result(plan, target, soft, batch_shape)
        return (loss, lse.reshape(batch_shape)) if return_lse else loss
    # the host checks of `empty=` (its warning and error need the row count, not the losses)
    if validate or empty == "raise":
        reduce_loss(
            torch.zeros_like(w_rows),
            w_rows,
            reduction=reduction,
            empty=empty,
            host_check=validate,
            normalizer=normalizer,
        )
    # the mean's scale and fill, known before the forward forms the gradients (no synchronisation)
    scale, fill = red.scale_and_fill(xp_of(w_rows), w_rows.sum().to(cdtype))
    loss, lse = _ReducedLinearCE.apply(h2, weight, bias, plan, scale, fill, return_lse, sink)
    if sink is not None:
        return loss, sink.result(plan, target, soft, batch_shape)
    return (loss, lse.reshape(batch_shape)) if return_lse else loss
