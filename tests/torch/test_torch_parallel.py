"""Vocabulary-parallel cross-entropy: 2 and 3 gloo processes equal one process.

The test spawns the ranks itself (localhost, a free port), shards the logits /
classifier rows unevenly, and compares every rank's loss and gradient slice to
the single-process losses (``F.cross_entropy`` and the drop-in on the full
logits). It also counts collectives: two all-reduces in the forward, none in the
backward of the logits version, one (``grad_hidden``) in the linear version.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import crossentropy.torch as ct

N, V, D = 10, 23, 6


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, V, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, V, (N,), generator=g)
    y[[1, 6]] = -100  # 20% ignored
    cw = torch.rand(V, generator=g, dtype=torch.float64) + 0.2
    soft = torch.softmax(torch.randn(N, V, generator=g, dtype=torch.float64), -1)
    h = torch.randn(N, D, generator=g, dtype=torch.float64)
    W = torch.randn(V, D, generator=g, dtype=torch.float64)
    b = torch.randn(V, generator=g, dtype=torch.float64)
    go = torch.linspace(0.5, 2.0, N, dtype=torch.float64)
    return x, y, cw, soft, h, W, b, go


def _bounds(world):
    cuts = np.linspace(0, V, world + 1).round().astype(int)
    return [(int(cuts[i]), int(cuts[i + 1])) for i in range(world)]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _suite(rank, world, group, calls):
    x, y, cw, soft, h, W, b, go = _problem()
    v0, v1 = _bounds(world)[rank]
    res = {}
    # 1. index targets with class weights and smoothing; "others" smoothing + z-loss with a
    #    non-uniform grad_output; soft targets sharded like the logits
    for name, kw in {
        "mean": dict(reduction="mean", label_smoothing=0.1, weight=cw),
        "none": dict(reduction="none", label_smoothing=0.2, smoothing="others", z_loss=1e-2),
        "soft": dict(reduction="mean", label_smoothing=0.1, weight=cw),
    }.items():
        xl = x[:, v0:v1].clone().requires_grad_(True)
        tgt = soft[:, v0:v1] if name == "soft" else y
        calls["n"] = 0
        loss = ct.vocab_parallel_cross_entropy(
            xl, tgt, group=group, vocab_start=v0, vocab_size=V, **kw
        )
        fwd = calls["n"]
        loss.backward(go if name == "none" else None)
        res[name] = (loss.detach(), xl.grad, fwd, calls["n"] - fwd)
    # 2. the global vocabulary size from the shards (one more collective)
    calls["n"] = 0
    res["vsize"] = (
        ct.vocab_parallel_cross_entropy(x[:, v0:v1], y, group=group, vocab_start=v0),
        calls["n"],
    )
    # 3. linear CE with the classifier sharded by rows
    hh = h.clone().requires_grad_(True)
    Wl = W[v0:v1].clone().requires_grad_(True)
    bl = b[v0:v1].clone().requires_grad_(True)
    calls["n"] = 0
    loss = ct.vocab_parallel_linear_cross_entropy(
        hh,
        Wl,
        y,
        group=group,
        vocab_start=v0,
        vocab_size=V,
        local_bias=bl,
        label_smoothing=0.1,
        class_weight=cw,
        chunk_size=3,
        vocab_chunk_size=4,
    )
    fwd = calls["n"]
    loss.backward()
    res["linear"] = (loss.detach(), hh.grad, Wl.grad, bl.grad, fwd, calls["n"] - fwd)
    # 4. per-token statistics over the global vocabulary; classes 0 and V − 1 (first and last
    #    shard) tie as the largest logit of most rows: the argmax is the lower id
    W2, b2 = _tied(W, b)
    for name, tgt in (("stats", y), ("stats_soft", soft[:, v0:v1])):
        loss, st = ct.vocab_parallel_linear_cross_entropy(
            h, W2[v0:v1], tgt, group=group, vocab_start=v0, vocab_size=V, local_bias=b2[v0:v1],
            reduction="none", return_stats=True, chunk_size=3, vocab_chunk_size=4,
        )  # fmt: skip
        res[name] = (loss, st._asdict())
    # 5. distillation with both vocabularies sharded (teacher logits sliced like the classifier)
    from crossentropy.torch.distill import vocab_parallel_linear_distillation_loss

    zt = _teacher()
    for direction, beta in (("forward", 0.5), ("reverse", 0.5), ("jsd", 0.3)):
        hh = h.clone().requires_grad_(True)
        Wl = W[v0:v1].clone().requires_grad_(True)
        loss = vocab_parallel_linear_distillation_loss(
            hh, Wl, zt[:, v0:v1], group=group, direction=direction, beta=beta, temperature=1.5,
            target=y, softcap=5.0, chunk_size=4,
        )  # fmt: skip
        loss.backward()
        res["distill_" + direction] = (loss.detach(), hh.grad, Wl.grad)
    return res


def _teacher():
    return torch.randn(N, V, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 2


def _tied(W, b):
    """Classes 0 and V − 1 with the same logit 8 on every row, exactly (zero weight rows)."""
    W2, b2 = W.clone(), b.clone()
    W2[0] = W2[V - 1] = 0.0
    b2[0] = b2[V - 1] = 8.0
    return W2, b2


def _worker(rank, port, out_dir):
    """Three ranks: the world (3 shards) and a subgroup of ranks 0 and 1 (2 shards)."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=3)
    calls = {"n": 0}
    real = dist.all_reduce

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    try:
        pair = dist.new_group([0, 1])
        dist.all_reduce = counting
        torch.save(_suite(rank, 3, None, calls), f"{out_dir}/w3_r{rank}.pt")
        if rank < 2:
            torch.save(_suite(rank, 2, pair, calls), f"{out_dir}/w2_r{rank}.pt")
        dist.all_reduce = real
        dist.barrier()
    finally:
        dist.all_reduce = real
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    out = tmp_path_factory.mktemp("vocab_parallel")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=3, join=True)
    return out


def _close(a, b):
    np.testing.assert_allclose(
        np.asarray(a.detach()), np.asarray(b.detach()), rtol=1e-12, atol=1e-13
    )


@pytest.mark.parametrize("world", [2, 3])
def test_vocab_parallel_equals_one_process(world, spawned):
    results = [torch.load(spawned / f"w{world}_r{r}.pt") for r in range(world)]
    x, y, cw, soft, h, W, b, go = _problem()
    for name, kw, tgt in (
        ("mean", dict(reduction="mean", label_smoothing=0.1, weight=cw), y),
        ("none", dict(reduction="none", label_smoothing=0.2, smoothing="others", z_loss=1e-2), y),
        ("soft", dict(reduction="mean", label_smoothing=0.1, weight=cw), soft),
    ):
        xf = x.clone().requires_grad_(True)
        ref = ct.cross_entropy(xf, tgt, **kw)
        ref.backward(go if name == "none" else None)
        if name == "mean":
            _close(ref, F.cross_entropy(x, y, cw, label_smoothing=0.1))
        grads = []
        for r in range(world):
            loss, g, fwd, bwd = results[r][name]
            _close(loss, ref)  # replicated on every rank, exact over the global vocabulary
            assert (fwd, bwd) == (2, 0), (name, fwd, bwd)
            grads.append(g)
        _close(torch.cat(grads, 1), xf.grad)
    for r in range(world):
        loss, n_calls = results[r]["vsize"]
        _close(loss, F.cross_entropy(x, y))
        assert n_calls == 3
    # linear
    hf, Wf, bf = (t.clone().requires_grad_(True) for t in (h, W, b))
    ref = F.cross_entropy(hf @ Wf.T + bf, y, cw, label_smoothing=0.1)
    ref.backward()
    for r in range(world):
        loss, gh, gW, gb, fwd, bwd = results[r]["linear"]
        _close(loss, ref)
        _close(gh, hf.grad)
        assert (fwd, bwd) == (2, 1)
    _close(torch.cat([results[r]["linear"][2] for r in range(world)]), Wf.grad)
    _close(torch.cat([results[r]["linear"][3] for r in range(world)]), bf.grad)
    # per-token statistics: every rank equals one process and the materialised logits
    W2, b2 = _tied(W, b)
    z = h @ W2.T + b2
    act = y != -100
    q = torch.softmax(z, -1)
    for name, tgt in (("stats", y), ("stats_soft", soft)):
        _, one = ct.linear_cross_entropy(h, W2, tgt, bias=b2, reduction="none", return_stats=True)
        for r in range(world):
            loss, st = results[r][name]
            _close(loss, one.loss)
            for key in ("log_prob", "logsumexp", "entropy", "weight"):
                _close(st[key], getattr(one, key))
            assert torch.equal(st["argmax"], one.argmax) and torch.equal(st["correct"], one.correct)
            rows = act if name == "stats" else torch.ones_like(act)
            _close(st["entropy"][rows], -(q * q.log()).sum(-1)[rows])
            _close(st["logsumexp"][rows], torch.logsumexp(z, -1)[rows])
            assert torch.equal(st["argmax"][rows], z.argmax(-1)[rows])
            assert int((st["argmax"] == 0).sum()) > N // 2  # the tie went to class 0
    # distillation over sharded vocabularies: every rank equals one process
    zt = _teacher()
    for direction, beta in (("forward", 0.5), ("reverse", 0.5), ("jsd", 0.3)):
        hf, Wf = h.clone().requires_grad_(True), W.clone().requires_grad_(True)
        ref = ct.linear_distillation_loss(
            hf, Wf, zt, direction=direction, beta=beta, temperature=1.5, target=y, softcap=5.0
        )
        ref.backward()
        for r in range(world):
            loss, gh, _ = results[r]["distill_" + direction]
            _close(loss, ref)
            _close(gh, hf.grad)
        _close(torch.cat([results[r]["distill_" + direction][2] for r in range(world)]), Wf.grad)


def test_megatron_shard_smoothing_differs_and_ours_does_not():
    """Smoothing over one shard (Megatron's K = local size) is not F.cross_entropy; ours over the global V is."""
    x, y, *_ = _problem()
    y = y.clamp(min=0)
    half = V // 2
    full = F.cross_entropy(x, y, label_smoothing=0.1)
    # the per-shard formula averages log-probs over the shard only
    lq = torch.log_softmax(x, -1)
    shard_mean = torch.stack([lq[:, :half].mean(-1), lq[:, half:].mean(-1)]).mean(0)
    megatron_like = ((1 - 0.1) * -lq.gather(1, y[:, None])[:, 0] - 0.1 * shard_mean).mean()
    assert abs(megatron_like - full) > 1e-6  # a different number
    if not dist.is_initialized():
        dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        _close(
            ct.vocab_parallel_cross_entropy(x, y, vocab_start=0, vocab_size=V, label_smoothing=0.1),
            full,
        )
    finally:
        dist.destroy_process_group()
