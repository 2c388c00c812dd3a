"""``normalizer=``: one divisor for a whole optimiser step (docs/semantics.md §14).

A batch split into micro-batches (and over data-parallel ranks), each micro-batch's loss taken
with ``normalizer = Σw of the whole step`` and its gradient accumulated, gives the loss and the
gradients of the whole batch's mean — ≤ 1e-12 relative in float64. The expected values are the
unsplit batch through the same public function (and ``F.cross_entropy`` for index targets), an
independent computation of the same number; the split is a Hypothesis draw (derandomized).
"""

from __future__ import annotations

import os
import socket
import warnings

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crossentropy as ce
import crossentropy.torch as ct

SETTINGS = settings(
    max_examples=int(os.environ.get("CE_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _close(a, b, rtol=1e-12, atol=1e-15):
    a = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)
    b = np.asarray(b.detach() if hasattr(b, "detach") else b, dtype=np.float64)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@st.composite
def _steps(draw):
    """A batch and its options, and a split of its rows into micro-batches (some may be empty
    of unmasked rows)."""
    n = draw(st.integers(2, 40))
    c = draw(st.integers(2, 9))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    k = draw(st.integers(1, min(5, n)))
    cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else []
    bounds = [0, *[int(i) for i in cuts], n]
    opts = {
        "soft": draw(st.booleans()),
        "class_weight": draw(st.booleans()),
        "sample_weight": draw(st.booleans()),
        "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
        "divide_by": draw(st.sampled_from(["weight", "count"])),
    }
    x = torch.tensor(rng.normal(size=(n, c)) * 3)
    y = torch.tensor(rng.integers(0, c, size=n))
    y[torch.tensor(rng.random(n) < 0.3)] = -100
    if opts["soft"]:
        y = torch.softmax(torch.tensor(rng.normal(size=(n, c))), -1)
        y[torch.tensor(rng.random(n) < 0.2)] = 0.0  # all-zero rows are masks
    cw = torch.tensor(rng.uniform(0.2, 2.0, size=c)) if opts["class_weight"] else None
    sw = torch.tensor(rng.uniform(0.0, 2.0, size=n)) if opts["sample_weight"] else None
    return x, y, cw, sw, opts, list(zip(bounds[:-1], bounds[1:], strict=True))


def _split_run(loss_fn, x, y, cw, sw, opts, pieces, num_classes):
    """Σ over micro-batches of loss(normalizer=W) and the accumulated gradient."""
    W = sum(
        ct.step_weight(
            y[a:b],
            num_classes,
            weight=cw,
            divide_by=opts["divide_by"],
            sample_weight=None if sw is None else sw[a:b],
        )
        for a, b in pieces
    )
    xs = x.clone().requires_grad_(True)
    total = 0.0
    for a, b in pieces:
        loss = loss_fn(xs[a:b], y[a:b], None if sw is None else sw[a:b], W)
        loss.backward()
        total = total + loss.detach()
    return total, xs.grad, W


@SETTINGS
@given(step=_steps())
def test_micro_batches_add_up_to_the_whole_batch(step):
    x, y, cw, sw, opts, pieces = step

    def loss_fn(xb, yb, swb, normalizer):
        return ct.cross_entropy(
            xb, yb, cw, label_smoothing=opts["label_smoothing"], divide_by=opts["divide_by"],
            sample_weight=swb, normalizer=normalizer, empty="zero",
        )  # fmt: skip

    whole_x = x.clone().requires_grad_(True)
    whole = loss_fn(whole_x, y, sw, None)
    whole.backward()
    total, grad, W = _split_run(loss_fn, x, y, cw, sw, opts, pieces, x.shape[1])
    if float(W) == 0:  # every row masked: the empty policy (zero), zero gradients
        assert float(total) == 0.0 and torch.all(grad == 0)
        return
    _close(total, whole)
    _close(grad, whole_x.grad, atol=1e-15 * float(whole_x.grad.abs().max()))
    if not opts["soft"] and sw is None and opts["divide_by"] == "weight":  # PyTorch's own mean
        _close(total, F.cross_entropy(x, y, cw, label_smoothing=opts["label_smoothing"]))


@SETTINGS
@given(step=_steps(), chunk=st.sampled_from([1, 3, 64]), recompute=st.booleans())
def test_linear_cross_entropy_micro_batches_add_up(step, chunk, recompute):
    x, y, cw, sw, opts, pieces = step
    n, c = x.shape
    rng = np.random.default_rng(n * 100 + c)
    h = torch.tensor(rng.normal(size=(n, 6)))
    Wt = torch.tensor(rng.normal(size=(c, 6)), requires_grad=True)
    bias = torch.tensor(rng.normal(size=c), requires_grad=True)
    kw = dict(class_weight=cw, label_smoothing=opts["label_smoothing"], divide_by=opts["divide_by"],
              chunk_size=chunk, recompute=recompute, empty="zero")  # fmt: skip

    hw = h.clone().requires_grad_(True)
    whole = ct.linear_cross_entropy(hw, Wt, y, bias=bias, sample_weight=sw, **kw)
    whole.backward()
    ref = [hw.grad, Wt.grad.clone(), bias.grad.clone()]
    Wt.grad = bias.grad = None

    def loss_fn(hb, yb, swb, normalizer):
        return ct.linear_cross_entropy(hb, Wt, yb, bias=bias, sample_weight=swb,
                                       normalizer=normalizer, **kw)  # fmt: skip

    total, gh, W = _split_run(loss_fn, h, y, cw, sw, opts, pieces, c)
    if float(W) == 0:
        assert float(total) == 0.0
        return
    _close(total, whole)
    for got, want in zip([gh, Wt.grad, bias.grad], ref, strict=True):
        _close(got, want, atol=1e-14 * float(want.abs().max()))


def test_modules_take_the_normalizer_per_call():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, -100, 3, 2, -100, 1, 1, 0])
    W = ct.step_weight(y, 4)
    assert float(W) == 7.0
    loss_fn = ct.CrossEntropyLoss(label_smoothing=0.1)
    parts = loss_fn(x[:4], y[:4], normalizer=W) + loss_fn(x[4:], y[4:], normalizer=W)
    _close(parts, F.cross_entropy(x, y, label_smoothing=0.1))
    nll = ct.NLLLoss()
    lp = torch.log_softmax(x, -1)
    _close(nll(lp[:2], y[:2], normalizer=W) + nll(lp[2:], y[2:], normalizer=W), F.nll_loss(lp, y))
    head = ct.LinearCrossEntropyLoss(4, 5, chunk_size=2).double()
    h = torch.randn(9, 4, generator=g, dtype=torch.float64)
    y5 = torch.tensor([0, 4, -100, 3, 2, 1, 1, 4, 0])
    W5 = ct.step_weight(y5, 5)
    _close(head(h[:5], y5[:5], normalizer=W5) + head(h[5:], y5[5:], normalizer=W5), head(h, y5))


def test_shifted_step_weight_matches_linear_shift():
    g = torch.Generator().manual_seed(2)
    h = torch.randn(2, 6, 3, generator=g, dtype=torch.float64)
    Wt = torch.randn(7, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (2, 6), generator=g)
    y[0, 3] = -100
    W = ct.step_weight(y, 7, shift=True)
    assert float(W) == 9.0  # 2 × 5 positions after the shift, one ignored
    whole = ct.linear_cross_entropy(h, Wt, y, shift=True)
    parts = sum(
        ct.linear_cross_entropy(h[i : i + 1], Wt, y[i : i + 1], shift=True, normalizer=W)
        for i in range(2)
    )
    _close(parts, whole)


def test_step_weight_is_the_core_divisor():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 5, size=8)
    y[2] = -100
    cw, sw = rng.uniform(0.5, 2, size=5), rng.uniform(0, 2, size=8)
    core = ce.loss_terms(x, y, weight=cw, sample_weight=sw).weight.sum()
    ours = ct.step_weight(
        torch.tensor(y), 5, weight=torch.tensor(cw), sample_weight=torch.tensor(sw)
    )
    assert ours.dtype == torch.float64
    _close(ours, core, rtol=1e-15)
    soft = rng.dirichlet(np.ones(5), size=8)
    soft[1] = 0.0
    core = ce.loss_terms(x, soft, weight=cw).weight.sum()
    _close(ct.step_weight(torch.tensor(soft), 5, weight=torch.tensor(cw)), core, rtol=1e-15)


def test_empty_step_follows_empty_and_a_masked_micro_batch_is_not_empty():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.full((4,), -100)
    with pytest.warns(ce.EmptyReductionWarning, match="normalizer is 0"):
        assert torch.isnan(ct.cross_entropy(x, y, normalizer=0.0))
    loss = ct.cross_entropy(x, y, normalizer=0.0, empty="zero")
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(x.grad == 0)
    with pytest.raises(ValueError, match="normalizer is 0"):
        ct.cross_entropy(x, y, normalizer=0.0, empty="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ce.CrossEntropyWarning)  # a masked micro-batch: silent
        assert float(ct.cross_entropy(x, y, normalizer=5.0).detach()) == 0.0
        lin = ct.linear_cross_entropy(x, torch.randn(3, 3, dtype=torch.float64), y, normalizer=5.0)
        assert float(lin.detach()) == 0.0


def test_normalizer_errors_name_the_argument():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 4, generator=g, dtype=torch.float64), torch.tensor([0, 1, 2])
    for bad, what in ((-1.0, "finite and ≥ 0"), (float("inf"), "finite"), ("3", "number")):
        with pytest.raises((ValueError, TypeError), match=f"`normalizer` must be.*{what}"):
            ct.cross_entropy(x, y, normalizer=bad)
    with pytest.raises(ValueError, match="reduction='mean'"):
        ct.cross_entropy(x, y, reduction="sum", normalizer=3.0)
    with pytest.raises(ValueError, match="reduction='mean'"):
        ct.linear_cross_entropy(x, torch.randn(5, 4), y, reduction="none", normalizer=3.0)
    with pytest.raises(ValueError, match="one number"):
        ct.cross_entropy(x, y, normalizer=torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="`normalizer` must be finite and non-negative"):
        ct.cross_entropy(x, y, normalizer=torch.tensor(-2.0))
    _close(
        ct.cross_entropy(x, y, normalizer=torch.tensor(6.0)),
        ct.cross_entropy(x, y, reduction="sum") / 6,
    )


# ----------------------------------------------------------------------------- two gloo ranks


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _problem():
    g = torch.Generator().manual_seed(5)
    h = torch.randn(13, 4, generator=g, dtype=torch.float64)
    Wt = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (13,), generator=g)
    y[[0, 1, 2, 9]] = -100  # rank 0's first micro-batch is all masked
    sw = torch.rand(13, generator=g, dtype=torch.float64) + 0.1
    return h, Wt, y, sw


#: rank → its micro-batches (row ranges): uneven, 2 and 3 micro-batches
SHARDS = {0: [(0, 3), (3, 7)], 1: [(7, 8), (8, 11), (11, 13)]}


def _worker(rank, port, out_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        h, Wt, y, sw = _problem()
        W = sum(ct.step_weight(y[a:b], 6, sample_weight=sw[a:b]) for a, b in SHARDS[rank])
        dist.all_reduce(W)  # the step's Σw over both ranks
        Wl = Wt.clone().requires_grad_(True)
        hh = h.clone().requires_grad_(True)
        x = (h @ Wt.T).requires_grad_(True)
        total = torch.zeros((), dtype=torch.float64)
        for a, b in SHARDS[rank]:
            lin = ct.linear_cross_entropy(
                hh[a:b], Wl, y[a:b], sample_weight=sw[a:b], normalizer=W, chunk_size=2
            )
            lin.backward()
            ce_loss = ct.cross_entropy(x[a:b], y[a:b], sample_weight=sw[a:b], normalizer=W)
            ce_loss.backward()
            total += lin.detach()
        dist.all_reduce(total)
        for g in (Wl.grad, hh.grad, x.grad):  # the sum over ranks (DDP would average: × world)
            dist.all_reduce(g)
        # a DTensor of logits sharded on the class axis (tensor parallel: the same rows on both
        # ranks) takes the normalizer too; here the step is two halves of the batch
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import Shard, distribute_tensor

        mesh = init_device_mesh("cpu", (2,))
        xd = distribute_tensor((h @ Wt.T).detach(), mesh, [Shard(1)]).requires_grad_(True)
        W_all = ct.step_weight(y, 6, sample_weight=sw)
        d_total = sum(
            ct.cross_entropy(xd[a:b], y[a:b], sample_weight=sw[a:b], normalizer=W_all)
            for a, b in ((0, 6), (6, 13))
        )
        d_total.backward()
        dt = (d_total.detach(), xd.grad.to_local())
        torch.save((total, Wl.grad, hh.grad, x.grad, W, dt), f"{out_dir}/r{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    h, Wt, y, sw = _problem()
    hh, Wl = h.clone().requires_grad_(True), Wt.clone().requires_grad_(True)
    whole = ct.linear_cross_entropy(hh, Wl, y, sample_weight=sw)
    whole.backward()
    x = (h @ Wt.T).requires_grad_(True)
    ct.cross_entropy(x, y, sample_weight=sw).backward()
    for r in range(2):
        total, gW, gh, gx, W, (d_total, d_grad) = torch.load(tmp_path / f"r{r}.pt")
        _close(W, sw[y != -100].sum())
        _close(total, whole)
        _close(gW, Wl.grad)
        _close(gh, hh.grad)
        _close(gx, x.grad)
        _close(d_total, whole)
        _close(d_grad, x.grad[:, 3 * r : 3 * r + 3])
