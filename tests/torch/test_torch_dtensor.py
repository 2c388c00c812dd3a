"""Vocab-parallel cross-entropy of a DTensor sharded on the class axis (2 gloo ranks, CPU mesh).

The test spawns two ranks (localhost, a free port) that build a 1-D CPU ``DeviceMesh``
and shard float64 logits on the class axis unevenly (V = 23: 12 + 11 columns, torch.chunk's
split). Every rank saves its loss and the gathered gradient; the parent compares them with

(a) ``F.cross_entropy`` (and the drop-in, for what torch lacks) on the full logits, for every
    reduction, ``ignore_index``, class weights, label smoothing, soft targets, a 3-D
    ``(B, T, V)`` input and a non-uniform ``grad_output``;
(b) torch's own ``loss_parallel()`` on the same DTensor, for what it covers (index targets,
    class weights, ``ignore_index``, every reduction; no smoothing).

It also checks the errors for the layouts we do not take (Replicate, Shard of another axis,
a 2-D mesh, a shard that is not torch.chunk's split, a contradicting ``vocab_start``).
"""

from __future__ import annotations

import socket
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import crossentropy.torch as ct

pytest.importorskip("torch.distributed.tensor")

N, V, B, T = 10, 23, 2, 3


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, V, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, V, (N,), generator=g)
    y[[1, 6]] = -100  # 20% ignored
    cw = torch.rand(V, generator=g, dtype=torch.float64) + 0.2
    soft = torch.softmax(torch.randn(N, V, generator=g, dtype=torch.float64), -1)
    go = torch.linspace(0.5, 2.0, N, dtype=torch.float64)
    x3 = torch.randn(B, T, V, generator=g, dtype=torch.float64)
    y3 = torch.randint(0, V, (B, T), generator=g)
    y3[0, 1] = -100
    return x, y, cw, soft, go, x3, y3


# name -> (options, which target, grad_output?) — shared by the ranks and the parent
OURS = {
    "mean_w_ls": (dict(reduction="mean", weight="cw", label_smoothing=0.1), "y", False),
    "sum_ii": (dict(reduction="sum"), "y", False),
    "none_ls_go": (dict(reduction="none", label_smoothing=0.2), "y", True),
    "none_w_ii_go": (dict(reduction="none", weight="cw"), "y", True),
    "soft_ls": (dict(reduction="mean", label_smoothing=0.1), "soft", False),
    "bt_mean_ls": (dict(reduction="mean", label_smoothing=0.05, weight="cw"), "y3", False),
    "ignore_7": (dict(reduction="mean", ignore_index=7), "y7", False),
}
# cases torch's loss_parallel covers (index targets, no smoothing). Class weights only with
# no ignored target: in torch 2.13 its backward gathers the weight at the raw target, so a
# target equal to ignore_index (-100) fails there ("index -100 is out of bounds").
THEIRS = {
    "lp_mean_ii": (dict(reduction="mean"), "y"),
    "lp_sum_ii": (dict(reduction="sum"), "y"),
    "lp_none_ii": (dict(reduction="none"), "y"),
    "lp_mean_w": (dict(reduction="mean", weight="cw"), "yfull"),
    "lp_sum_w": (dict(reduction="sum", weight="cw"), "yfull"),
    "lp_none_w": (dict(reduction="none", weight="cw"), "yfull"),
}


def _padded_as_7(y):
    """The ignored positions marked with class 7 instead (a real class used as the padding id)."""
    return torch.where(y == -100, torch.full_like(y, 7), y)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _resolve(kw, cw):
    return {k: (cw if v == "cw" else v) for k, v in kw.items()}


def _count_all_reduce():
    """Count ``dist.all_reduce`` calls (our collectives) until ``dist.all_reduce = calls["real"]``."""
    calls = {"n": 0, "real": dist.all_reduce}

    def counting(*a, **k):
        calls["n"] += 1
        return calls["real"](*a, **k)

    dist.all_reduce = counting
    return calls


def _error(fn):
    try:
        fn()
    except ValueError as e:
        return str(e)
    return None


def _suite(rank, mesh):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor
    from torch.distributed.tensor.parallel import loss_parallel

    x, y, cw, soft, go, x3, y3 = _problem()
    res = {"local_cols": distribute_tensor(x, mesh, [Shard(1)]).to_local().shape[-1]}
    # (a) ours on the sharded DTensor
    for name, (kw, tname, use_go) in OURS.items():
        base = x3 if tname == "y3" else x
        xd = distribute_tensor(base, mesh, [Shard(-1)]).requires_grad_(True)
        tgt = {
            "y": y,
            "y3": y3,
            "y7": _padded_as_7(y),
            "soft": distribute_tensor(soft, mesh, [Shard(1)]),
        }[tname]
        calls = _count_all_reduce()
        loss = ct.vocab_parallel_cross_entropy(xd, tgt, **_resolve(kw, cw))
        fwd = calls["n"]
        loss.backward(go if use_go else None)
        res[f"{name}_calls"] = (fwd, calls["n"] - fwd)
        dist.all_reduce = calls["real"]
        res[name] = (
            loss.detach(),
            type(xd.grad).__name__,
            tuple(xd.grad.placements),
            xd.grad.full_tensor(),
        )
    # the drop-ins on torch's layout (classes on axis 1, Shard(1)): routed to the vocab-parallel op
    xd = distribute_tensor(x, mesh, [Shard(1)]).requires_grad_(True)
    loss = ct.cross_entropy(xd, y, weight=cw, label_smoothing=0.1)
    loss.backward()
    res["dropin_2d"] = (loss.detach(), xd.grad.full_tensor())
    x3c = x3.movedim(-1, 1).contiguous()  # (B, V, T)
    xd = distribute_tensor(x3c, mesh, [Shard(1)]).requires_grad_(True)
    loss = ct.CrossEntropyLoss(reduction="sum", label_smoothing=0.05)(xd, y3)
    loss.backward()
    res["dropin_3d"] = (loss.detach(), xd.grad.full_tensor())
    # the target as a replicated DTensor, inside loss_parallel() (our op ignores the context)
    xd = distribute_tensor(x, mesh, [Shard(1)]).requires_grad_(True)
    with loss_parallel():
        loss = ct.vocab_parallel_cross_entropy(
            xd, distribute_tensor(y, mesh, [Replicate()]), label_smoothing=0.1
        )
        loss.backward()
    res["in_context"] = (loss.detach(), xd.grad.full_tensor())
    # (b) torch's loss_parallel next to ours, same DTensor
    for name, (kw, tname) in THEIRS.items():
        kw = _resolve(kw, cw)
        y_ = _padded_as_7(y) if tname == "yfull" else y
        xt = distribute_tensor(x, mesh, [Shard(1)]).requires_grad_(True)
        xo = distribute_tensor(x, mesh, [Shard(1)]).requires_grad_(True)
        with loss_parallel():
            theirs = F.cross_entropy(xt, y_, **kw)
            if kw["reduction"] == "none":
                theirs.backward(DTensor.from_local(go, mesh, [Replicate()]))
            else:
                theirs.backward()
        ours = ct.vocab_parallel_cross_entropy(xo, y_, **kw)
        ours.backward(go if kw["reduction"] == "none" else None)
        res[name] = (
            theirs.full_tensor().detach(),
            ours.detach(),
            xt.grad.full_tensor(),
            xo.grad.full_tensor(),
        )
    # a shard with no columns (V = 1 over 2 ranks: torch.chunk gives 1 + 0)
    x1 = x[:, :1].clone()
    xd = distribute_tensor(x1, mesh, [Shard(1)]).requires_grad_(True)
    loss = ct.vocab_parallel_cross_entropy(
        xd, torch.zeros(N, dtype=torch.int64), label_smoothing=0.1
    )
    loss.backward()
    res["empty_shard"] = (xd.to_local().shape[-1], loss.detach(), xd.grad.full_tensor())
    # errors (raised on every rank before any collective, so no rank waits on another)
    uneven = DTensor.from_local(
        x[:, :10] if rank == 0 else x[:, 10:],
        mesh,
        [Shard(1)],
        run_check=False,
        shape=x.shape,
        stride=x.stride(),
    )
    mesh2 = init_device_mesh("cpu", (2, 1), mesh_dim_names=("dp", "tp"))
    res["errors"] = {
        "replicate": _error(
            lambda: ct.vocab_parallel_cross_entropy(distribute_tensor(x, mesh, [Replicate()]), y)
        ),
        "shard0": _error(
            lambda: ct.vocab_parallel_cross_entropy(distribute_tensor(x, mesh, [Shard(0)]), y)
        ),
        "channel_first": _error(
            lambda: ct.vocab_parallel_cross_entropy(
                distribute_tensor(x3.transpose(1, 2), mesh, [Shard(1)]), y3
            )
        ),
        "mesh2d": _error(
            lambda: ct.vocab_parallel_cross_entropy(
                distribute_tensor(x, mesh2, [Replicate(), Shard(1)]), y
            )
        ),
        "uneven": _error(lambda: ct.vocab_parallel_cross_entropy(uneven, y)),
        "vocab_start": _error(
            lambda: ct.vocab_parallel_cross_entropy(
                distribute_tensor(x, mesh, [Shard(1)]), y, vocab_start=5
            )
        ),
        "target_sharded": _error(
            lambda: ct.vocab_parallel_cross_entropy(
                distribute_tensor(x, mesh, [Shard(1)]), distribute_tensor(y, mesh, [Shard(0)])
            )
        ),
        "plain_no_start": _error(lambda: ct.vocab_parallel_cross_entropy(x, y)),
    }
    return res


def _worker(rank, port, out_dir):
    from torch.distributed.device_mesh import init_device_mesh

    # a bounded wait: a rank that skipped a collective fails the test instead of hanging it
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=2,
        timeout=timedelta(seconds=60),
    )
    try:
        mesh = init_device_mesh("cpu", (2,))
        torch.save(_suite(rank, mesh), f"{out_dir}/r{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def spawned(tmp_path_factory):
    out = tmp_path_factory.mktemp("dtensor")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=2, join=True)
    return [torch.load(out / f"r{r}.pt", weights_only=False) for r in range(2)]


def _close(a, b):
    np.testing.assert_allclose(
        np.asarray(a.detach()), np.asarray(b.detach()), rtol=1e-12, atol=1e-13
    )


def test_shards_follow_torch_chunk(spawned):
    k = -(-V // 2)
    assert [r["local_cols"] for r in spawned] == [k, V - k] == [12, 11]


@pytest.mark.parametrize("name", list(OURS))
def test_dtensor_equals_full_logits(name, spawned):
    x, y, cw, soft, go, x3, y3 = _problem()
    kw, tname, use_go = OURS[name]
    kw = _resolve(kw, cw)
    base = (x3 if tname == "y3" else x).clone().requires_grad_(True)
    tgt = {"y": y, "y3": y3, "y7": _padded_as_7(y), "soft": soft}[tname]
    full = base.movedim(-1, 1) if tname == "y3" else base  # torch's layout: classes on axis 1
    ref = F.cross_entropy(full, tgt, **kw)
    ref.backward(go if use_go else None)
    drop_in = ct.cross_entropy(full.detach(), tgt, **kw)  # the library's reference semantics
    _close(drop_in, ref)
    for r in range(2):
        loss, gtype, gplace, grad = spawned[r][name]
        _close(loss, ref)
        assert gtype == "DTensor"
        assert [p.dim % base.ndim for p in gplace] == [base.ndim - 1]
        _close(grad, base.grad)


@pytest.mark.parametrize("name", list(OURS))
def test_collectives(name, spawned):
    """Two all-reduces forward (max, packed sums), none backward; the global V needs none."""
    for r in range(2):
        assert spawned[r][f"{name}_calls"] == (2, 0)


def test_dtensor_target_inside_loss_parallel_context(spawned):
    x, y, *_ = _problem()
    xf = x.clone().requires_grad_(True)
    ref = F.cross_entropy(xf, y, label_smoothing=0.1)
    ref.backward()
    for r in range(2):
        loss, grad = spawned[r]["in_context"]
        _close(loss, ref)
        _close(grad, xf.grad)


@pytest.mark.parametrize("name", list(THEIRS))
def test_equals_torch_loss_parallel(name, spawned):
    x, y, cw, _, go, *_ = _problem()
    kw, tname = THEIRS[name]
    kw = _resolve(kw, cw)
    xf = x.clone().requires_grad_(True)
    ref = F.cross_entropy(xf, _padded_as_7(y) if tname == "yfull" else y, **kw)
    ref.backward(go if kw["reduction"] == "none" else None)
    for r in range(2):
        theirs, ours, g_theirs, g_ours = spawned[r][name]
        _close(ours, theirs)
        _close(g_ours, g_theirs)
        _close(ours, ref)
        _close(g_ours, xf.grad)


def test_drop_in_losses_route_dtensor_input(spawned):
    """ct.cross_entropy / ct.CrossEntropyLoss on a class-sharded DTensor equal F.cross_entropy."""
    x, y, cw, _, _, x3, y3 = _problem()
    full = x.clone().requires_grad_(True)
    ref = F.cross_entropy(full, y, weight=cw, label_smoothing=0.1)
    ref.backward()
    full3 = x3.movedim(-1, 1).contiguous().requires_grad_(True)
    ref3 = F.cross_entropy(full3, y3, reduction="sum", label_smoothing=0.05)
    ref3.backward()
    for r in range(2):
        loss, grad = spawned[r]["dropin_2d"]
        _close(loss, ref)
        _close(grad, full.grad)
        loss, grad = spawned[r]["dropin_3d"]
        _close(loss, ref3)
        _close(grad, full3.grad)


def test_empty_shard(spawned):
    x, *_ = _problem()
    x1 = x[:, :1].clone().requires_grad_(True)
    ref = F.cross_entropy(x1, torch.zeros(N, dtype=torch.int64), label_smoothing=0.1)
    ref.backward()
    assert [r["empty_shard"][0] for r in spawned] == [1, 0]
    for r in range(2):
        _, loss, grad = spawned[r]["empty_shard"]
        _close(loss, ref)
        _close(grad, x1.grad)


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("replicate", ["Replicate()", "Shard(1)", "1-D DeviceMesh"]),
        ("shard0", ["Shard(dim=0)", "Shard(1)"]),
        ("channel_first", ["Shard(dim=1)", "Shard(2)", "movedim"]),
        ("mesh2d", ["2-D DeviceMesh", "to_local()", "vocab_start"]),
        ("uneven", ["[12, 23)", "13 columns", "vocab_start"]),
        ("vocab_start", ["vocab_start=5", "[12, 23)"]),
        ("target_sharded", ["`target`", "Shard(dim=0)", "Replicate()"]),
        ("plain_no_start", ["vocab_start", "DTensor"]),
    ],
)
def test_unsupported_layouts_raise(case, words, spawned):
    msg = spawned[1]["errors"][case]
    assert msg is not None, f"{case}: no ValueError"
    for w in words:
        assert w in msg, (case, w, msg)
    if case not in ("uneven", "vocab_start"):  # rank-independent messages
        assert spawned[0]["errors"][case] == msg
