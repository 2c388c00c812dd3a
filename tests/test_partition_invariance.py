"""Partition invariance (docs/semantics.md §14): one optimiser step's loss and gradients do not
depend on how its tokens were split.

A step's rows are cut into ``r`` ranks × ``k`` micro-batches (some pieces may be empty or all
masked); each piece is scored with ``normalizer = W``, the whole step's ``Σw`` (each piece's own
``loss_terms(...).weight.sum()``, summed over the pieces and "all-reduced" over the simulated ranks:
a sum). The sum of the pieces' losses must equal the unsplit batch's mean, and the pieces'
gradients, put side by side, the unsplit batch's gradient — ≤ 1e-12 relative in float64. The
expected values are the unsplit batch through the same public function (an independent
computation of the same number: one reduction instead of r·k) and, for index targets without
weights, PyTorch's ``F.cross_entropy``. The real multi-process version (gloo) is
tests/torch/test_normalizer.py::test_two_gloo_ranks_equal_one_process.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
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


def _close(a, b, *, scale=None):
    a = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)
    b = np.asarray(b.detach() if hasattr(b, "detach") else b, dtype=np.float64)
    atol = 0.0 if scale is None else 1e-14 * scale
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=atol)


@st.composite
def steps(draw, weighted: bool):
    """(x, y, weight, sample_weight, options, pieces): pieces are ranks × micro-batches of rows."""
    n = draw(st.integers(1, 30))
    c = draw(st.integers(2, 7))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    r, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    cuts = np.sort(rng.integers(0, n + 1, size=r * k - 1))  # with repeats: empty pieces
    bounds = [0, *[int(i) for i in cuts], n]
    pieces = list(zip(bounds[:-1], bounds[1:], strict=True))
    ranks = [pieces[i * k : (i + 1) * k] for i in range(r)]
    soft = draw(st.booleans())
    x = rng.normal(size=(n, c)) * 3
    y = rng.integers(0, c, size=n)
    y[rng.random(n) < 0.3] = -100
    if soft:
        y = np.exp(rng.normal(size=(n, c)))
        y /= y.sum(-1, keepdims=True)
        y[rng.random(n) < 0.2] = 0.0  # an all-zero row is masked
    cw = sw = None
    if weighted:
        cw = rng.uniform(0.2, 3.0, size=c) if draw(st.booleans()) else None
        sw = rng.uniform(0.0, 5.0, size=n) if (cw is None or draw(st.booleans())) else None
    opts = {
        "label_smoothing": draw(st.sampled_from([0.0, 0.1])),
        "divide_by": draw(st.sampled_from(["weight", "count"])),
    }
    return x, y, cw, sw, opts, ranks


def _core_split(x, y, cw, sw, opts, ranks, xp):
    """Σ over ranks and micro-batches of cross_entropy(normalizer=W), and the pieces' gradients."""

    def piece(a, b):
        return xp(x[a:b]), xp(y[a:b]), None if sw is None else xp(sw[a:b])

    kw = dict(weight=None if cw is None else xp(cw), label_smoothing=opts["label_smoothing"])
    per_rank = []
    for pieces in ranks:  # each rank knows its own pieces' Σw ...
        total_w = 0.0
        for a, b in pieces:
            xb, yb, sb = piece(a, b)
            # w_i of docs/semantics.md §4: s_i Σ_c weight_c y_ic, or s_i for divide_by="count"
            cwk = kw if opts["divide_by"] == "weight" else dict(kw, weight=None)
            w = ce.loss_terms(xb, yb, sample_weight=sb, **cwk).weight
            total_w = total_w + float(np.sum(np.asarray(w)))
        per_rank.append(total_w)
    W = sum(per_rank)  # ... and the all-reduce sums them
    loss, grads = 0.0, []
    for pieces in ranks:
        for a, b in pieces:
            xb, yb, sb = piece(a, b)
            full = dict(
                kw, sample_weight=sb, divide_by=opts["divide_by"], normalizer=W, empty="zero"
            )
            loss = loss + float(ce.cross_entropy(xb, yb, **full))
            grads.append(np.asarray(ce.cross_entropy_grad(xb, yb, **full)))
    return loss, np.concatenate(grads, axis=0), W


def _check_core(step, xp):
    x, y, cw, sw, opts, ranks = step
    kw = dict(
        weight=None if cw is None else xp(cw),
        sample_weight=None if sw is None else xp(sw),
        label_smoothing=opts["label_smoothing"],
        divide_by=opts["divide_by"],
        empty="zero",
    )
    whole = float(ce.cross_entropy(xp(x), xp(y), **kw))
    whole_g = np.asarray(ce.cross_entropy_grad(xp(x), xp(y), **kw))
    loss, grad, W = _core_split(x, y, cw, sw, opts, ranks, xp)
    if W == 0:  # the empty step: empty="zero" and zero gradients
        assert loss == 0.0 and not np.any(grad)
        return
    _close(loss, whole)
    _close(grad, whole_g, scale=float(np.abs(whole_g).max()))
    if y.ndim == 1 and cw is None and sw is None and opts["divide_by"] == "weight":
        ref = F.cross_entropy(
            torch.tensor(x), torch.tensor(y), label_smoothing=opts["label_smoothing"]
        )
        _close(loss, ref)


@pytest.mark.parametrize("xp", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
@SETTINGS
@given(step=steps(weighted=False))
def test_core_loss_and_gradient_do_not_depend_on_the_split(step, xp):
    _check_core(step, xp)


@pytest.mark.parametrize("xp", [np.asarray, torch.as_tensor], ids=["numpy", "torch"])
@SETTINGS
@given(step=steps(weighted=True))
def test_core_with_weights_does_not_depend_on_the_split(step, xp):
    _check_core(step, xp)


@SETTINGS
@given(step=steps(weighted=True))
def test_torch_loss_and_gradient_do_not_depend_on_the_split(step):
    x, y, cw, sw, opts, ranks = step
    t = torch.as_tensor
    kw = dict(label_smoothing=opts["label_smoothing"], divide_by=opts["divide_by"], empty="zero")
    cwt = None if cw is None else t(cw)
    xw = t(x).requires_grad_(True)
    whole = ct.cross_entropy(xw, t(y), cwt, sample_weight=None if sw is None else t(sw), **kw)
    whole.backward()
    W = sum(  # per rank, then the all-reduce: both sums
        sum(
            ct.step_weight(
                t(y[a:b]),
                x.shape[1],
                weight=cwt,
                divide_by=opts["divide_by"],
                sample_weight=None if sw is None else t(sw[a:b]),
            )  # fmt: skip
            for a, b in pieces
        )
        for pieces in ranks
    )
    xs = t(x).requires_grad_(True)
    total = 0.0
    for pieces in ranks:
        for a, b in pieces:
            sb = None if sw is None else t(sw[a:b])
            loss = ct.cross_entropy(xs[a:b], t(y[a:b]), cwt, sample_weight=sb, normalizer=W, **kw)
            loss.backward()
            total = total + float(loss.detach())
    if float(W) == 0:
        assert total == 0.0 and not bool(xs.grad.any())
        return
    _close(total, whole)
    _close(xs.grad, xw.grad, scale=float(xw.grad.abs().max()))


@SETTINGS
@given(step=steps(weighted=True), direction=st.sampled_from(["forward", "reverse", "jsd"]))
def test_distillation_does_not_depend_on_the_split(step, direction):
    x, y, _, sw, _, ranks = step
    teacher = np.random.default_rng(x.shape[0]).normal(size=x.shape) * 2
    labels = y if y.ndim == 1 else None
    kw = dict(direction=direction, temperature=2.0, empty="zero")
    whole = float(ce.distillation_loss(x, teacher, labels=labels, sample_weight=sw, **kw))
    whole_g = ce.distillation_grad(x, teacher, labels=labels, sample_weight=sw, **kw)
    pieces = [p for rank in ranks for p in rank]

    def part(a, b):
        return dict(labels=None if labels is None else labels[a:b],
                    sample_weight=None if sw is None else sw[a:b])  # fmt: skip

    act = np.ones(x.shape[0], bool) if labels is None else labels != -100
    s = np.ones(x.shape[0]) if sw is None else sw
    W = float(np.sum(np.where(act, s, 0.0)))  # w_i = s_i on unmasked rows (§13)
    loss = sum(
        float(ce.distillation_loss(x[a:b], teacher[a:b], normalizer=W, **part(a, b), **kw))
        for a, b in pieces
    )
    grad = np.concatenate(
        [
            ce.distillation_grad(x[a:b], teacher[a:b], normalizer=W, **part(a, b), **kw)
            for a, b in pieces
        ]  # fmt: skip
    )
    if W == 0:
        assert loss == 0.0 and not np.any(grad)
        return
    _close(loss, whole)
    _close(grad, whole_g, scale=float(np.abs(whole_g).max()))
