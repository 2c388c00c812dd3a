"""Vocabulary-parallel cross-entropy on ``torch.distributed``.

(Over the ~600-line guide: the vocabulary-parallel losses share one all-reduce protocol
and its gloo/NCCL and DTensor entry; the tile work itself lives in ``_plan``/``_tiles``.)

Each rank of ``group`` holds the logits (or the classifier rows) of a contiguous
slice ``[vocab_start, vocab_start + V_local)`` of a vocabulary of ``vocab_size``
classes. Only per-token numbers cross ranks:

1. ``all_reduce(MAX)`` of each token's local maximum logit;
2. one ``all_reduce(SUM)`` of a packed ``(N, k)`` tensor holding, per token, the
   rescaled sum of exponentials, ``P = Σ_c weight_c y_c z_c`` (the target logit for an
   index target), and — with label smoothing or soft targets — ``Q = Σ_c weight_c z_c``,
   the target mass and its class-weighted mass.

So label smoothing and soft targets are exact over the *global* vocabulary (``ε/V``
with the global V, not the shard size: Megatron's per-shard smoothing differs from
``F.cross_entropy`` by about 1%). The loss is replicated on every rank. The backward of
:func:`vocab_parallel_cross_entropy` needs no collective (each rank's gradient is its
own slice); that of :func:`vocab_parallel_linear_cross_entropy` all-reduces the
hidden-state gradient once. ``vocab_size=None`` costs one more all-reduce (of one number).

Targets: class indices in the *global* vocabulary, identical on every rank, or a
float distribution over the rank's *own* slice (``(..., V_local)``). Class weights,
when given, are the global ``(vocab_size,)`` vector, identical on every rank.

:func:`vocab_parallel_cross_entropy` also takes a ``DTensor`` of logits sharded on the
class axis over a 1-D ``DeviceMesh`` (the layout of ``torch.distributed.tensor.parallel.loss_parallel``):
the shard, the group and ``vocab_start`` come from the DTensor itself.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection

import torch
import torch.distributed as dist

from .._options import IGNORE_INDEX
from .._types import DivideBy, Empty, Reduction, Smoothing
from ..kinds import target_kind
from ._common import (
    Rows,
    check_common,
    check_tensors,
    compute_dtype,
    prepare_rows,
    reduce_loss,
    xp_of,
)
from ._plan import (
    OnlineState,
    Plan,
    StatsSink,
    TokenStats,
    in_dtypes,
    online_state,
    recompute_gradients,
    row_loss,
    wanted_stats,
)
from ._shards import _combine, _combine_extras, _global_argmax, _global_vocab, _local_rows
from ._tiles import TORCH_TILES, softcap, softcap_slope, tile_grad_

__all__ = ["vocab_parallel_cross_entropy", "vocab_parallel_linear_cross_entropy"]


def _loss_from(rows: Rows, lse, P, Q, z_loss):
    """Every row's loss: 0 on masked rows, NaN on bad ones."""
    ell = row_loss(rows, slice(None), lse, P, Q, z_loss)
    ell = torch.where(rows.active, ell, torch.zeros_like(ell))
    return torch.where(rows.bad, torch.full_like(ell, float("nan")), ell)


class _VocabParallelCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rows: Rows, group, z_loss, cap, dtype, soft):
        z = softcap(x.to(dtype), cap)
        # a shard with no columns (torch.chunk's trailing shards) contributes exp-sum 0
        st = TORCH_TILES.stats(z, rows, slice(None), 0, None)
        lse, P, Q, _, _ = _combine(rows, st, group, soft)
        loss = _loss_from(rows, lse, P, Q, z_loss)
        ctx.save_for_backward(x, lse)
        ctx.rows, ctx.z_loss, ctx.cap, ctx.dtype = rows, z_loss, cap, dtype
        return loss

    @staticmethod
    def backward(ctx, grad):
        x, lse = ctx.saved_tensors
        rows = ctx.rows
        if x.shape[-1] == 0:  # a shard with no columns has an empty gradient
            return torch.zeros_like(x), None, None, None, None, None, None
        z = softcap(x.to(ctx.dtype), ctx.cap)
        if z is x:
            z = z.clone()
        g = tile_grad_(z, lse, grad.to(ctx.dtype) * rows.s, rows, slice(None), 0, ctx.z_loss)
        if ctx.cap is not None:
            g = g * softcap_slope(x.to(ctx.dtype), ctx.cap)
        g = torch.where(rows.active[:, None], g, torch.zeros_like(g))
        return g.to(x.dtype), None, None, None, None, None, None


def _prepare(
    target,
    x_like,
    *,
    local,
    vocab_start,
    vocab_size,
    batch_shape,
    dtype,
    weight,
    sample_weight,
    ignore_index,
    label_smoothing,
    smoothing,
    divide_by,
    validate,
):
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    pred_shape = (*batch_shape, local)
    soft = target_kind(xp_of(target), pred_shape, target, len(batch_shape)) == "distribution"
    if vocab_start < 0 or vocab_start + local > vocab_size:
        msg = (
            f"this rank's vocabulary slice [{vocab_start}, {vocab_start + local}) does not fit in "
            f"[0, {vocab_size}); check `vocab_start` and `vocab_size`"
        )
        raise ValueError(msg)
    rows = prepare_rows(
        target,
        num_classes=vocab_size,
        local_classes=local,
        batch_shape=batch_shape,
        dtype=dtype,
        device=x_like.device,
        class_weight=weight,
        sample_weight=sample_weight,
        ignore_index=None if soft else ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=validate,
        vocab_start=vocab_start,
        soft=soft,
    )
    return _local_rows(rows, vocab_start), soft


def _dtensor_types():
    """``(DTensor, Shard, Replicate)``, or ``None`` where ``torch.distributed.tensor`` is unavailable."""
    try:
        from torch.distributed.tensor import DTensor, Replicate, Shard
    except ImportError:  # pragma: no cover - depends on the torch build
        return None
    return DTensor, Shard, Replicate


def _is_dtensor(t) -> bool:
    types = _dtensor_types()
    return types is not None and isinstance(t, types[0])


def _chunk_bounds(V: int, world: int, coord: int) -> tuple[int, int]:
    """Columns ``[start, stop)`` of shard ``coord`` when ``torch.chunk`` splits ``V`` into ``world`` parts.

    ``Shard(dim)`` follows ``torch.chunk``: every shard has ``ceil(V / world)`` columns except the
    last non-empty one, and trailing shards may be empty (``V = 9, world = 4``: 3, 3, 3, 0).
    """
    size = -(-V // world) if world else 0
    start = min(V, size * coord)
    return start, min(V, start + size)


def _dtensor_local(name: str, t, mesh, shard_like: int | None):
    """The local tensor of a DTensor argument (``target``, ``weight``, ``sample_weight``) on ``mesh``.

    Replicated DTensors give their (full) local copy; with ``shard_like`` (the logits' number of
    axes) a float DTensor of that many axes with the logits' placements (a soft target sharded
    like them) gives its shard. Plain tensors pass.
    """
    if not _is_dtensor(t):
        return t
    _, Shard, Replicate = _dtensor_types()
    placements = tuple(t.placements)
    if t.device_mesh == mesh and all(isinstance(p, Replicate) for p in placements):
        return t.to_local()
    if (
        shard_like is not None
        and t.ndim == shard_like
        and t.dtype.is_floating_point
        and t.device_mesh == mesh
        and len(placements) == 1
        and type(placements[0]) is Shard
        and placements[0].dim % t.ndim == t.ndim - 1
    ):
        return t.to_local()
    what = (
        "(Replicate(),) or, for a soft target, (Shard(-1),) like the logits"
        if shard_like is not None
        else "(Replicate(),)"
    )
    msg = (
        f"`{name}` is a DTensor with placements {placements} on mesh {t.device_mesh}; with DTensor logits "
        f"on mesh {mesh} it must be a plain tensor (the same on every rank) or a DTensor on the same mesh "
        f"with placements {what}"
    )
    raise ValueError(msg)


def _unwrap_dtensor(x, target, weight, sample_weight, group, vocab_start, vocab_size):
    """Local shard, group, ``vocab_start``, ``vocab_size`` and local arguments of DTensor logits.

    Supported: a 1-D mesh with placements ``(Shard(class axis),)``, the class axis last.
    ``vocab_start`` / ``vocab_size`` / ``group``, when given, must agree with the DTensor.
    """
    _, Shard, _ = _dtensor_types()
    mesh, placements = x.device_mesh, tuple(x.placements)
    last = x.ndim - 1
    supported = (
        f"a 1-D DeviceMesh with placements (Shard({last}),) (the class axis, the last one, sharded)"
    )
    if x.ndim < 1:
        msg = "`local_logits` must have a class axis (the last one)"
        raise ValueError(msg)
    if mesh.ndim != 1:
        msg = (
            f"`local_logits` is a DTensor on a {mesh.ndim}-D DeviceMesh with placements {placements}; "
            f"vocab_parallel_cross_entropy supports {supported}. For a multi-dimensional mesh, pass "
            f"`local_logits.to_local()` with `group=` the tensor-parallel group and `vocab_start=`"
        )
        raise ValueError(msg)
    p = placements[0]
    if type(p) is not Shard:
        msg = f"`local_logits` is a DTensor with placements {placements}; vocab_parallel_cross_entropy supports {supported}"
        if p.is_replicate():
            msg += " (a replicated DTensor holds the full logits: use the plain loss on `local_logits.to_local()`)"
        raise ValueError(msg)
    if p.dim % x.ndim != last:
        msg = (
            f"`local_logits` is a DTensor with placements {placements} (axis {p.dim % x.ndim} of shape "
            f"{tuple(x.shape)} sharded); vocab_parallel_cross_entropy supports {supported}. For the "
            f"(N, C, d1, ...) layout, move the class axis last first (`local_logits.movedim(1, -1)`, "
            f"target unchanged)"
        )
        raise ValueError(msg)
    V = int(x.shape[-1])
    world, coord = mesh.size(0), mesh.get_local_rank(0)
    start, stop = _chunk_bounds(V, world, coord)
    local = x.to_local()
    if local.shape[-1] != stop - start:
        msg = (
            f"`local_logits` is a DTensor of global class size {V} over {world} ranks, so rank {coord} of the "
            f"mesh should hold columns [{start}, {stop}) (torch.chunk's split), but its shard has "
            f"{local.shape[-1]} columns (an uneven `DTensor.from_local`?); pass `local_logits.to_local()` "
            f"with the right `vocab_start=` instead"
        )
        raise ValueError(msg)
    for arg, given, derived in (("vocab_start", vocab_start, start), ("vocab_size", vocab_size, V)):
        if given is not None and int(given) != derived:
            msg = (
                f"`{arg}={given}` disagrees with the DTensor `local_logits` (rank {coord} of its mesh holds "
                f"columns [{start}, {stop}) of {V}); omit `{arg}` for DTensor logits"
            )
            raise ValueError(msg)
    mesh_group = mesh.get_group(0)
    if group is not None and dist.get_process_group_ranks(group) != dist.get_process_group_ranks(
        mesh_group
    ):
        msg = (
            f"`group` (ranks {dist.get_process_group_ranks(group)}) is not the process group of the DTensor's "
            f"mesh (ranks {dist.get_process_group_ranks(mesh_group)}); omit `group` for DTensor logits"
        )
        raise ValueError(msg)
    target = _dtensor_local("target", target, mesh, shard_like=x.ndim)
    weight = _dtensor_local("weight", weight, mesh, shard_like=None)
    sample_weight = _dtensor_local("sample_weight", sample_weight, mesh, shard_like=None)
    return local, target, weight, sample_weight, mesh_group, start, V


def vocab_parallel_cross_entropy(
    local_logits: torch.Tensor,
    target: torch.Tensor,
    *,
    group=None,
    vocab_start: int | None = None,
    vocab_size: int | None = None,
    weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    z_loss: float = 0.0,
    softcap: float | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    validate: bool = True,
) -> torch.Tensor:
    """Cross-entropy of logits sharded along the vocabulary (class axis last) over ``group``.

    Equals :func:`crossentropy.torch.cross_entropy` (and ``F.cross_entropy``) of the
    concatenated logits, on every rank: ``ℓ_i = s_i (A_i lse_i − Σ_c a_ic z_ic)`` with the
    global ``lse_i`` and sums over the global vocabulary (see the module docstring).

    Parameters
    ----------
    local_logits : Tensor or DTensor
        ``(..., V_local)``: this rank's columns ``[vocab_start, vocab_start + V_local)``. Or a
        ``DTensor`` of the global ``(..., V)`` logits on a 1-D ``DeviceMesh`` with placements
        ``(Shard(-1),)``: its local shard, its mesh's group and ``vocab_start`` are used (see Notes).
    target : Tensor
        Global class indices (``local_logits``' shape without the last axis), the same on
        every rank; or a float distribution over this rank's columns (``(..., V_local)``).
        With DTensor logits also a replicated DTensor, or (soft) a DTensor sharded like them.
    group : ProcessGroup, optional
        The tensor-parallel group (default: the world; for DTensor logits, the mesh's group).
    vocab_start : int
        First global class held by this rank. Required for a plain tensor; derived for a DTensor.
    vocab_size : int, optional
        Global V; when omitted it is all-reduced from the shard sizes (one more collective),
        or, for a DTensor, read from its global shape (no collective).
    weight, sample_weight, ignore_index, reduction, label_smoothing, smoothing, z_loss, softcap, empty, divide_by, validate
        As in :func:`crossentropy.torch.cross_entropy` (``weight`` is the global class-weight vector).

    Returns
    -------
    Tensor
        The loss (replicated on every rank), in the compute dtype; a plain tensor also for
        DTensor logits, whose gradient (``Shard(-1)`` like them) flows back through ``to_local()``.

    Raises
    ------
    ValueError
        For a DTensor on a mesh of more than one dimension, with placements other than
        ``(Shard(-1),)`` (``Replicate``, ``Partial``, ``Shard`` of another axis), a shard that is
        not ``torch.chunk``'s split of V, or ``vocab_start``/``vocab_size``/``group`` that disagree
        with the DTensor; for a plain tensor without ``vocab_start``.

    Notes
    -----
    **DTensor logits.** ``Shard(d)`` splits like ``torch.chunk``: with ``k = ceil(V / world)``,
    mesh rank ``r`` holds columns ``[min(V, r k), min(V, (r + 1) k))`` (trailing ranks may hold
    none); the shard is checked against that split. Only per-token numbers cross ranks, as for
    plain shards, and ``vocab_size`` costs no collective.

    **Relation to** ``torch.distributed.tensor.parallel.loss_parallel``. Inside ``with
    loss_parallel():``, ``F.cross_entropy`` of the same DTensor computes the same loss for what
    it covers (torch 2.13): index targets with class ``weight``, ``ignore_index`` and every
    ``reduction``, with the class dimension at axis 1 (``(N, C, d1, ...)``; ours takes the class
    axis last, the same thing for 2-D logits), on 1-D meshes (and on N-D meshes with
    ``"sum"``/``"none"``, which this function does not take). It does not cover label smoothing
    (a ``RuntimeError`` from DTensor dispatch), its docstring lists probability targets as
    unsupported (a plain-tensor one fails), and in torch 2.13 its backward with a class ``weight``
    fails when a target equals ``ignore_index`` (the weight is gathered at the raw target). Its
    loss is a DTensor and its backward must also run inside the context. This function adds, exactly over
    the global vocabulary: label smoothing (both formulas), soft targets, ``sample_weight``,
    ``z_loss``, ``softcap``, the ``empty=`` and ``divide_by=`` policies; it works inside or
    outside the context.

    Examples
    --------
    A group of one rank is the plain loss:

    >>> import os, torch, torch.distributed as dist
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import vocab_parallel_cross_entropy
    >>> store = dist.HashStore()
    >>> dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    >>> x = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]); y = torch.tensor([1, 2])
    >>> ours = vocab_parallel_cross_entropy(x, y, vocab_start=0, vocab_size=3, label_smoothing=0.1)
    >>> bool(torch.allclose(ours, F.cross_entropy(x, y, label_smoothing=0.1)))
    True

    A DTensor sharded on the class axis needs no ``vocab_start``:

    >>> from torch.distributed.device_mesh import init_device_mesh
    >>> from torch.distributed.tensor import Shard, distribute_tensor
    >>> mesh = init_device_mesh("cpu", (1,))
    >>> xd = distribute_tensor(x, mesh, [Shard(-1)]).requires_grad_(True)
    >>> ours = vocab_parallel_cross_entropy(xd, y, label_smoothing=0.1)
    >>> bool(torch.allclose(ours, F.cross_entropy(x, y, label_smoothing=0.1)))
    True
    >>> ours.backward(); type(xd.grad).__name__, xd.grad.placements
    ('DTensor', (Shard(dim=1),))
    >>> dist.destroy_process_group()
    """
    check_common(
        reduction=reduction, empty=empty, divide_by=divide_by, z_loss=z_loss, softcap=softcap
    )
    check_tensors(
        local_logits=local_logits, target=target, weight=weight, sample_weight=sample_weight
    )
    if _is_dtensor(local_logits):
        local_logits, target, weight, sample_weight, group, vocab_start, vocab_size = (
            _unwrap_dtensor(
                local_logits, target, weight, sample_weight, group, vocab_start, vocab_size
            )
        )
    elif vocab_start is None:
        msg = (
            "`vocab_start` is required for a plain `local_logits` tensor: the first global class of this "
            "rank's columns (it is derived only from a DTensor sharded on the class axis)"
        )
        raise ValueError(msg)
    if local_logits.dim() < 1:
        msg = "`local_logits` must have a class axis (the last one)"
        raise ValueError(msg)
    dtype = compute_dtype(local_logits, name="local_logits")
    local = local_logits.shape[-1]
    V = _global_vocab(local, vocab_size, group, local_logits.device)
    batch_shape = tuple(local_logits.shape[:-1])
    rows, soft = _prepare(
        target,
        local_logits,
        local=local,
        vocab_start=int(vocab_start),
        vocab_size=V,
        batch_shape=batch_shape,
        dtype=dtype,
        weight=weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=validate,
    )
    x2 = local_logits.reshape(
        math.prod(batch_shape), local
    )  # explicit rows: a shard may have no columns
    loss = _VocabParallelCE.apply(x2, rows, group, float(z_loss), softcap, dtype, soft)
    return reduce_loss(
        loss,
        rows.divisor_weights(),
        reduction=reduction,
        empty=empty,
        host_check=validate,
        batch_shape=batch_shape,
    )


class _VocabParallelLinearCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, w, b, plan: Plan, group, soft, sink=None, vocab_start=0):
        rows = plan.rows
        n = rows.s.shape[0]
        cd = plan.cdtype
        zeros = functools.partial(torch.zeros, n, dtype=cd, device=h.device)
        M, S, P = zeros(), zeros(), zeros()
        Q = zeros() if rows.beta else None
        T = zeros() if plan.want_entropy else None
        arg = torch.zeros(n, dtype=torch.int64, device=h.device) if plan.want_argmax else None
        best = (
            torch.full((n,), float("-inf"), dtype=cd, device=h.device) if arg is not None else None
        )
        for r in plan.row_chunks():
            st = online_state(plan, h, w, b, r)
            M[r], S[r], P[r] = st.reference(), st.s, st.p
            if Q is not None and st.q is not None:
                Q[r] = st.q
            if T is not None and st.t is not None:
                T[r] = st.t
            if arg is not None and best is not None and st.arg is not None and st.best is not None:
                arg[r], best[r] = st.arg, st.best
        local = OnlineState(M, S, P, Q, T, arg, best)
        lse, P, Q, Mg, Sg = _combine(rows, local, group, soft)
        if sink is not None:
            T, arg = _combine_extras(local, Mg, vocab_start, group)
            sink.record(plan, slice(None), OnlineState(Mg, Sg, P, Q, T, arg), lse)
        loss = _loss_from(rows, lse, P, Q, plan.z_loss)
        lse = torch.where(rows.active, lse, torch.full_like(lse, float("nan")))
        ctx.save_for_backward(h, w, b, lse)
        ctx.plan, ctx.group = plan, group
        return loss

    @staticmethod
    def backward(ctx, grad):
        h, w, b, lse_all = ctx.saved_tensors
        plan = ctx.plan
        gs = grad.to(plan.cdtype) * plan.rows.s
        grads = recompute_gradients(plan, h, w, b, lse_all, gs, ctx.needs_input_grad)
        if grads[0] is not None:
            dist.all_reduce(grads[0], op=dist.ReduceOp.SUM, group=ctx.group)
        return (*in_dtypes(grads, (h, w, b)), None, None, None, None, None)


def vocab_parallel_linear_cross_entropy(
    hidden: torch.Tensor,
    local_weight: torch.Tensor,
    target: torch.Tensor,
    *,
    group=None,
    vocab_start: int,
    vocab_size: int | None = None,
    local_bias: torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    reduction: Reduction = "mean",
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    z_loss: float = 0.0,
    softcap: float | None = None,
    empty: Empty = "nan",
    divide_by: DivideBy = "weight",
    chunk_size: int | None = None,
    vocab_chunk_size: int | None = None,
    validate: bool = True,
    return_stats: bool | Collection[str] = False,
) -> torch.Tensor | tuple[torch.Tensor, TokenStats]:
    """:func:`crossentropy.torch.linear_cross_entropy` with the classifier sharded by vocabulary rows.

    ``return_stats`` (as in ``linear_cross_entropy``) also returns the per-token statistics
    over the global vocabulary, replicated: the entropy's sum and the argmax cross ranks in
    up to three more all-reduces of O(N) numbers (docs/semantics.md §15).

    ``hidden`` ``(..., d)`` is replicated on every rank of ``group``; ``local_weight``
    ``(V_local, d)`` (and ``local_bias``) hold rows ``[vocab_start, vocab_start + V_local)``
    of the global classifier. The loss equals the single-process loss on the full
    classifier and is replicated; per-token statistics cross ranks in the forward (two
    all-reduces of O(N) numbers), and the backward all-reduces ``grad_hidden`` (N × d)
    once. Each rank's weight gradient is its own slice. Logits are never materialised:
    tiles of ``chunk_size × vocab_chunk_size``, recomputed in the backward.

    Examples
    --------
    >>> import torch, torch.distributed as dist
    >>> import torch.nn.functional as F
    >>> from crossentropy.torch import vocab_parallel_linear_cross_entropy as vp_lce
    >>> dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    >>> _ = torch.manual_seed(0)
    >>> h = torch.randn(5, 4, dtype=torch.float64); W = torch.randn(9, 4, dtype=torch.float64)
    >>> y = torch.tensor([0, 8, 3, -100, 5])
    >>> ours = vp_lce(h, W, y, vocab_start=0, vocab_size=9, chunk_size=2, vocab_chunk_size=4)
    >>> bool(torch.allclose(ours, F.cross_entropy(h @ W.T, y)))
    True
    >>> dist.destroy_process_group()
    """
    check_common(
        reduction=reduction, empty=empty, divide_by=divide_by, z_loss=z_loss, softcap=softcap
    )
    check_tensors(
        hidden=hidden, local_weight=local_weight, local_bias=local_bias, target=target,
        class_weight=class_weight, sample_weight=sample_weight,
    )  # fmt: skip
    if local_weight.dim() != 2 or hidden.shape[-1] != local_weight.shape[1]:
        msg = f"`local_weight` must be (V_local, d) with d = hidden.shape[-1]; got {tuple(local_weight.shape)} and hidden {tuple(hidden.shape)}"
        raise ValueError(msg)
    local, d = local_weight.shape
    mdtype = hidden.dtype
    for t in (local_weight, local_bias):
        if t is not None:
            mdtype = torch.promote_types(mdtype, t.dtype)
    cdtype = compute_dtype(hidden, local_weight, local_bias, name="hidden")
    V = _global_vocab(local, vocab_size, group, hidden.device)
    batch_shape = tuple(hidden.shape[:-1])
    n = math.prod(batch_shape)
    rows, soft = _prepare(
        target,
        hidden,
        local=local,
        vocab_start=int(vocab_start),
        vocab_size=V,
        batch_shape=batch_shape,
        dtype=cdtype,
        weight=class_weight,
        sample_weight=sample_weight,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        smoothing=smoothing,
        divide_by=divide_by,
        validate=validate,
    )
    nc = int(chunk_size or max(1, min(max(n, 1), 1024)))
    vc = int(vocab_chunk_size or max(1, min(local, (1 << 22) // nc)))
    active_idx = None
    if not soft and not bool(rows.active.all()):
        active_idx = rows.active.nonzero()[:, 0]
    want = wanted_stats(return_stats)
    if "log_prob" in want and soft and class_weight is not None:
        msg = "`return_stats` with 'log_prob' needs no `class_weight` for a distribution target"
        raise ValueError(msg)
    plan = Plan(
        rows, active_idx, cdtype, mdtype, nc, vc, float(z_loss), softcap, TORCH_TILES,
        want_entropy="entropy" in want, want_argmax="argmax" in want,
    )  # fmt: skip
    sink = StatsSink(want, n, cdtype, hidden.device) if want else None
    loss = _VocabParallelLinearCE.apply(
        hidden.reshape(n, d), local_weight, local_bias, plan, group, soft, sink, int(vocab_start)
    )
    out = reduce_loss(
        loss,
        rows.divisor_weights(),
        reduction=reduction,
        empty=empty,
        host_check=validate,
        batch_shape=batch_shape,
    )
    if sink is None:
        return out
    sink.loss = loss.detach()
    truth = None
    if "argmax" in want and rows.index is not None:
        truth = torch.where(rows.active, rows.index + int(vocab_start), rows.index)
    elif "argmax" in want:  # a sharded distribution: its argmax over the global vocabulary
        t2 = target.reshape(n, local).to(cdtype)
        if local:
            tb, ta = t2.max(-1)
        else:
            tb = torch.full((n,), float("-inf"), dtype=cdtype, device=hidden.device)
            ta = torch.zeros(n, dtype=torch.int64, device=hidden.device)
        truth = _global_argmax(tb, ta, int(vocab_start), group)
    return out, sink.result(plan, target, soft, batch_shape, truth=truth)
