"""Shard arithmetic shared by the vocabulary-parallel losses (cross-entropy and distillation).

Internal. Each rank of ``group`` holds a contiguous slice of the vocabulary; these functions
combine per-token numbers across ranks (all-reduces of O(rows) numbers): the global
log-sum-exp and target logit of an :class:`~crossentropy.torch._plan.OnlineState`, the
entropy's sum and the first global argmax, and index targets expressed in a shard's columns.
Used by :mod:`crossentropy.torch.parallel` and :mod:`crossentropy.torch.distill_parallel`.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.distributed as dist

from ._common import Rows
from ._plan import OnlineState


def _global_vocab(local: int, vocab_size: int | None, group, device) -> int:
    if vocab_size is not None:
        return int(vocab_size)
    t = torch.tensor([local], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return int(t.item())


def _combine(rows: Rows, st: OnlineState, group, soft: bool):
    """The two all-reduces of this rank's state; the global (lse, P, Q), ``rows`` completed for soft targets."""
    m_loc, s_loc, p, q = st.m, st.s, st.p, st.q
    M = m_loc.clone()
    dist.all_reduce(M, op=dist.ReduceOp.MAX, group=group)
    cols = [s_loc * torch.exp(m_loc - M), p]
    if q is not None:
        cols.append(q)
    if soft:
        cols += [rows.u, rows.m]
    pack = torch.stack(cols, dim=1)
    dist.all_reduce(pack, op=dist.ReduceOp.SUM, group=group)
    S, P = pack[:, 0], pack[:, 1]
    Q = pack[:, 2] if q is not None else None
    if soft:
        rows.finish_soft(pack[:, -2], pack[:, -1])
    lse = M + torch.log(S)
    return lse, P, Q, M, S


def _global_argmax(best: torch.Tensor, arg: torch.Tensor, vocab_start: int, group) -> torch.Tensor:
    """The lowest global class id holding the largest value over every shard (one MAX, one MIN)."""
    B = best.clone()
    dist.all_reduce(B, op=dist.ReduceOp.MAX, group=group)
    big = torch.iinfo(torch.int64).max
    out = torch.where(best == B, arg + vocab_start, torch.full_like(arg, big))
    dist.all_reduce(out, op=dist.ReduceOp.MIN, group=group)
    return out


def _combine_extras(st: OnlineState, M: torch.Tensor, vocab_start: int, group):
    """The global entropy sum ``T`` (relative to ``M``) and the first global argmax, from every shard.

    ``T = Σ_ranks e^{m_r − M}(T_r + (m_r − M) S_r)`` (one SUM); the argmax: the largest logit
    (one MAX), then the lowest global class id holding it (one MIN).
    """
    T = arg = None
    if st.t is not None:
        d = st.m - M
        T = torch.where(st.s == 0, torch.zeros_like(st.s), torch.exp(d) * (st.t + d * st.s))
        dist.all_reduce(T, op=dist.ReduceOp.SUM, group=group)
    if st.arg is not None and st.best is not None:
        arg = _global_argmax(st.best, st.arg, vocab_start, group)
    return T, arg


def _local_rows(rows: Rows, vocab_start: int) -> Rows:
    """The same rows with index targets expressed in this shard's columns."""
    if rows.index is None:
        return rows
    idx = torch.where(rows.active, rows.index - vocab_start, torch.full_like(rows.index, -1))
    return replace(rows, index=idx)
