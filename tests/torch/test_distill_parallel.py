"""Vocabulary-parallel fused linear distillation: 2 and 3 gloo processes equal one process.

The ranks are spawned here (localhost, a free port) with uneven shards of both vocabularies
(V = 23 over 3 ranks: 8 / 7 / 8; over a subgroup of 2 ranks: 12 / 11). Every rank's loss,
per-token statistics and gradients (hidden states: replicated; weight and bias: its slice)
are compared with the single-process ``linear_distillation_loss`` on the concatenated
weights — itself checked against the materialised computation in test_linear_distill.py —
in float64 at 1e-12 relative.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import crossentropy.torch as ct

N, V, D, DT = 11, 23, 6, 5

#: name -> options; each case runs sharded and in one process
CASES = {
    "jsd_alpha_none_stats": dict(
        direction="jsd", beta=0.3, temperature=1.7, alpha=0.25, reduction="none", softcap=4.0,
        return_stats=True, chunk_size=4,
    ),
    "reverse_alpha_mean_hidden": dict(
        direction="reverse", temperature=2.0, alpha=0.4, reduction="mean", chunk_size=3,
        teacher="hidden",
    ),
    "forward_sum_stats_auto_chunk": dict(
        direction="forward", temperature=1.0, reduction="sum", return_stats=("entropy", "argmax"),
    ),
    "forward_mean_no_classes": dict(direction="forward", temperature=1.3, reduction="mean"),
}  # fmt: skip


def _problem():
    g = torch.Generator().manual_seed(0)
    mk = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    h, W, b = mk(N, D), mk(V, D) * 1.3, mk(V)
    ht, Wt, bt = mk(N, DT), mk(V, DT) * 1.5, mk(V)
    y = torch.randint(0, V, (N,), generator=g)
    y[[2, 7]] = -100
    y[0], y[1] = 0, V - 1  # the first and the last shard hold a target
    s = torch.rand(N, generator=g, dtype=torch.float64) + 0.5
    go = torch.linspace(0.5, 2.0, N, dtype=torch.float64)
    return h, W, b, ht, Wt, bt, y, s, go


def _bounds(world):
    cuts = np.linspace(0, V, world + 1).round().astype(int)
    return [(int(cuts[i]), int(cuts[i + 1])) for i in range(world)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(fn, kw, h, W, b, ht, Wt, bt, y, s, go, **shard):
    """Loss, statistics and gradients of (h, W, b) for one case, through ``fn``."""
    kw = dict(kw)
    hidden = kw.pop("teacher", "logits") == "hidden"
    leaves = [t.clone().requires_grad_(True) for t in (h, W, b)]
    teacher = (
        dict(teacher_hidden=ht, **{shard.get("tw", "teacher_weight"): Wt,
                                   shard.get("tb", "teacher_bias"): bt})
        if hidden
        else {shard.get("tl", "teacher_logits"): ht @ Wt.T + bt}
    )  # fmt: skip
    bias = {shard.get("sb", "student_bias"): leaves[2]}
    extra = {k: v for k, v in shard.items() if k in ("group", "vocab_start")}
    out = fn(leaves[0], leaves[1], **teacher, **bias, target=y, sample_weight=s, **extra, **kw)
    loss, st = out if kw.get("return_stats") else (out, None)
    loss.backward(go if kw["reduction"] == "none" else None)
    return loss.detach(), None if st is None else st._asdict(), [t.grad for t in leaves]


def _sharded(rank, world, group):
    h, W, b, ht, Wt, bt, y, s, go = _problem()
    v0, v1 = _bounds(world)[rank]
    res = {}
    for name, kw in CASES.items():
        shard = dict(group=group, tw="local_teacher_weight", tb="local_teacher_bias",
                     tl="local_teacher_logits", sb="local_bias")  # fmt: skip
        if name != "forward_mean_no_classes":  # needed for alpha / return_stats only
            shard["vocab_start"] = v0
        teacher = (ht, Wt[v0:v1], bt[v0:v1])  # its head's rows, or its logits' columns
        res[name] = _run(
            ct.vocab_parallel_linear_distillation_loss, kw, h, W[v0:v1], b[v0:v1], *teacher,
            y, s, go, **shard,
        )  # fmt: skip
    return res


def _worker(rank, port, out_dir):
    """Three ranks: the world (3 shards) and a subgroup of ranks 0 and 1 (2 shards)."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=3)
    try:
        pair = dist.new_group([0, 1])
        torch.save(_sharded(rank, 3, None), f"{out_dir}/w3_r{rank}.pt")
        if rank < 2:
            torch.save(_sharded(rank, 2, pair), f"{out_dir}/w2_r{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    out = tmp_path_factory.mktemp("distill_parallel")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=3, join=True)
    return out


def _close(a, b):
    np.testing.assert_allclose(
        np.asarray(a.detach()), np.asarray(b.detach()), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("world", [2, 3])
def test_sharded_distillation_equals_one_process(world, name, spawned):
    results = [torch.load(spawned / f"w{world}_r{r}.pt")[name] for r in range(world)]
    one_loss, one_st, (gh, gW, gb) = _run(ct.linear_distillation_loss, CASES[name], *_problem())
    for loss, st, (rh, _, _) in results:
        _close(loss, one_loss)
        _close(rh, gh)
        if one_st is not None:
            for key, ref in one_st.items():
                if ref is None:
                    assert st[key] is None
                elif ref.dtype in (torch.int64, torch.bool):
                    assert torch.equal(st[key], ref), key
                else:
                    _close(st[key], ref)
    _close(torch.cat([r[2][1] for r in results]), gW)
    _close(torch.cat([r[2][2] for r in results]), gb)


def test_one_rank_needs_vocab_start_where_classes_are_read():
    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        h, W, b, ht, Wt, bt, y, s, go = _problem()
        with pytest.raises(ValueError, match="vocab_start"):
            ct.vocab_parallel_linear_distillation_loss(h, W, ht @ Wt.T, target=y, alpha=0.5)
        with pytest.raises(ValueError, match="exactly one"):
            ct.vocab_parallel_linear_distillation_loss(h, W)
    finally:
        dist.destroy_process_group()
