"""torch.compile(fullgraph=True) of the drop-in losses and modules, with default arguments.

Compiled equals eager (the same library, traced) and both equal PyTorch's own losses (the
oracle) on values and gradients. Under compilation the checks that read values cannot run:
an invalid label follows ``validate=False`` (a NaN row: docs/semantics.md §4, validation
under tracing), and the library emits no warning of its own while tracing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crossentropy.torch as ct

RTOL64 = dict(rtol=1e-12, atol=1e-14)
FAST = ["eager", "aot_eager"]  # Dynamo's tracing (eager) and AOTAutograd's joint graph


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _close(a, b, **tol):
    np.testing.assert_allclose(
        a.detach().double().numpy(), b.detach().double().numpy(), equal_nan=True, **(tol or RTOL64)
    )


def _data(n=12, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64).mul(2)
    y = torch.randint(0, c, (n,), generator=g)
    y[::4] = -100  # some ignored rows
    w = torch.rand(c, generator=g, dtype=torch.float64) + 0.1
    return x, y, w


def _value_and_grad(fn, x, *args, **kwargs):
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x, *args, **kwargs)
    go = torch.linspace(0.5, 1.5, loss.numel(), dtype=loss.dtype).reshape(loss.shape)
    (g,) = torch.autograd.grad(loss, x, go)
    return loss, g


def _compiled(fn, backend):
    return torch.compile(fn, fullgraph=True, backend=backend)


OPTIONS = {
    "default": {},
    "weight": {"weight": True},
    "ignore_index": {"ignore_index": 3},
    "label_smoothing": {"label_smoothing": 0.2},
    "weight+smoothing": {"weight": True, "label_smoothing": 0.1},
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_cross_entropy_compiled_equals_eager_and_torch(reduction, name, backend="aot_eager"):
    x, y, w = _data()
    opts = dict(OPTIONS[name], reduction=reduction)
    if opts.pop("weight", False):
        opts["weight"] = w
    if "ignore_index" in opts:
        y = torch.where(y == -100, opts["ignore_index"], y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got, g_got = _value_and_grad(_compiled(ct.cross_entropy, backend), x, y, **opts)
    ours = [w for w in caught if "crossentropy" in w.filename]
    assert ours == [], [str(w.message) for w in ours]
    eager, g_eager = _value_and_grad(ct.cross_entropy, x, y, **opts)
    ref, g_ref = _value_and_grad(F.cross_entropy, x, y, **opts)
    _close(got, eager)
    _close(g_got, g_eager)
    _close(got, ref)
    _close(g_got, g_ref)


def test_no_library_warning_and_no_graph_break_with_defaults():
    """fullgraph=True fails on any graph break; every warning raised while tracing is recorded."""
    x, y, _ = _data()
    x.requires_grad_(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = _compiled(ct.cross_entropy, "aot_eager")(x, y)
        loss.backward()
    assert [str(w.message) for w in caught] == []
    _close(loss, F.cross_entropy(x, y))


@pytest.mark.parametrize("backend", FAST)
def test_nll_loss_and_bce_compiled(backend):
    x, y, w = _data(seed=1)
    lp = torch.log_softmax(x, -1)
    for opts in ({}, {"weight": w, "reduction": "sum"}):
        got, g_got = _value_and_grad(_compiled(ct.nll_loss, backend), lp, y, **opts)
        ref, g_ref = _value_and_grad(F.nll_loss, lp, y, **opts)
        _close(got, ref)
        _close(g_got, g_ref)
    t = (torch.rand_like(x) > 0.5).double()
    pw = torch.linspace(0.5, 2.0, x.shape[1], dtype=torch.float64)
    for opts in ({}, {"weight": w, "pos_weight": pw, "reduction": "none"}):
        bce = ct.binary_cross_entropy_with_logits
        got, g_got = _value_and_grad(_compiled(bce, backend), x, t, **opts)
        ref, g_ref = _value_and_grad(F.binary_cross_entropy_with_logits, x, t, **opts)
        _close(got, ref)
        _close(g_got, g_ref)


@pytest.mark.parametrize(
    ("ours", "theirs", "prep"),
    [
        (ct.CrossEntropyLoss, torch.nn.CrossEntropyLoss, lambda x, y: (x, y)),
        (ct.NLLLoss, torch.nn.NLLLoss, lambda x, y: (torch.log_softmax(x, -1), y)),
        (
            ct.BCEWithLogitsLoss,
            torch.nn.BCEWithLogitsLoss,
            lambda x, y: (x, (torch.rand_like(x) > 0.5).double()),
        ),
    ],
)
def test_modules_compiled(ours, theirs, prep):
    x, y, _ = _data(seed=2)
    torch.manual_seed(0)
    inp, tgt = prep(x, y)
    module = torch.compile(ours(), fullgraph=True, backend="aot_eager")
    got, g_got = _value_and_grad(module, inp, tgt)
    ref, g_ref = _value_and_grad(theirs(), inp, tgt)
    _close(got, ref)
    _close(g_got, g_ref)


def test_invalid_label_under_compile_is_a_nan_row():
    """Eager (validate=True) raises; compiled, the label cannot be read: validate=False's NaN row."""
    x, _, _ = _data(n=4, c=3)
    y = torch.tensor([0, 5, -100, 2])
    with pytest.raises(ValueError, match="out-of-range labels"):
        ct.cross_entropy(x, y)
    got, g = _value_and_grad(_compiled(ct.cross_entropy, "aot_eager"), x, y, reduction="none")
    ref, g_ref = _value_and_grad(ct.cross_entropy, x, y, reduction="none", validate=False)
    assert torch.isnan(got[1]) and torch.isnan(g[1]).all()
    assert got[2] == 0 and (g[2] == 0).all()
    _close(got, ref)
    _close(g, g_ref)
    fine = torch.tensor([0, 1, -100, 2])
    _close(got[[0, 3]], F.cross_entropy(x, fine, reduction="none")[[0, 3]])


def test_empty_raise_is_refused_under_fullgraph():
    """empty='raise' reads Σw on the host; compiled with fullgraph it stops with our message."""
    x, y, _ = _data(n=4, c=3)
    with pytest.raises(Exception, match="empty='raise' looks at the total weight"):
        _compiled(ct.cross_entropy, "eager")(x, y, empty="raise")


@pytest.mark.slow
def test_inductor_default_backend():
    """The default backend (inductor) generates and compiles C++ on CPU: tens of seconds."""
    x, y, w = _data(seed=3)
    got, g_got = _value_and_grad(
        torch.compile(ct.cross_entropy, fullgraph=True), x, y, weight=w, label_smoothing=0.1
    )
    ref, g_ref = _value_and_grad(F.cross_entropy, x, y, weight=w, label_smoothing=0.1)
    _close(got, ref)
    _close(g_got, g_ref)
