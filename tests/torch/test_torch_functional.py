"""crossentropy.torch drop-in losses: values and gradients against F.cross_entropy and the core.

Oracles side by side: PyTorch (``F.cross_entropy``, ``F.nll_loss``,
``F.binary_cross_entropy_with_logits``, autograd of a composed reference) and
the core (``crossentropy.cross_entropy`` / ``cross_entropy_grad`` on NumPy copies).
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import crossentropy as ce
import crossentropy.torch as ct

RTOL64 = dict(rtol=1e-12, atol=1e-14)
RTOL32 = dict(rtol=1e-5, atol=1e-6)


def _data(n=40, c=7, dtype=torch.float64, seed=0, ignore=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, generator=g, dtype=torch.float64).mul(2).to(dtype)
    y = torch.randint(0, c, (n,), generator=g)
    y[torch.rand(n, generator=g) < ignore] = -100
    w = torch.rand(c, generator=g, dtype=torch.float64) + 0.1
    return x, y, w


def _grad(loss, x, go):
    (g,) = torch.autograd.grad(loss, x, go)
    return g


def _close(a, b, **tol):
    np.testing.assert_allclose(
        np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64),
        np.asarray(b.detach() if hasattr(b, "detach") else b, dtype=np.float64),
        equal_nan=True,
        **(tol or RTOL64),
    )


GRID = list(itertools.product(["mean", "sum", "none"], [False, True], [0.0, 0.25]))


@pytest.mark.parametrize("reduction,weighted,eps", GRID)
def test_equals_torch_and_core(reduction, weighted, eps):
    x, y, w = _data()
    w = w if weighted else None
    x.requires_grad_(True)
    ours = ct.cross_entropy(x, y, w, reduction=reduction, label_smoothing=eps)
    theirs = F.cross_entropy(x, y, w, reduction=reduction, label_smoothing=eps)
    core = ce.cross_entropy(
        x.detach().numpy(),
        y.numpy(),
        weight=None if w is None else w.numpy(),
        reduction=reduction,
        label_smoothing=eps,
    )
    _close(ours, theirs)
    _close(ours, core)
    # a non-uniform upstream gradient (Liger's reduction='none' bug)
    go = torch.linspace(-1.5, 2.0, ours.numel(), dtype=torch.float64).reshape(ours.shape)
    g_ours, g_theirs = _grad(ours, x, go), _grad(theirs, x, go)
    g_core = ce.cross_entropy_grad(
        x.detach().numpy(),
        y.numpy(),
        weight=None if w is None else w.numpy(),
        reduction=reduction,
        label_smoothing=eps,
        grad_output=go.numpy(),
    )
    _close(g_ours, g_theirs)
    _close(g_ours, g_core)
    assert torch.all(g_ours[y == -100] == 0)


@pytest.mark.parametrize(
    "smoothing,weighted", list(itertools.product(["uniform", "others"], [False, True]))
)
def test_soft_targets_and_smoothing_formulas_equal_core(smoothing, weighted):
    x, _, w = _data(n=12, c=6, seed=1)
    g = torch.Generator().manual_seed(3)
    t = torch.rand(12, 6, generator=g, dtype=torch.float64)
    t = t / t.sum(-1, keepdim=True)
    t[4] = 0  # an all-zero row is a mask
    w = w if weighted else None
    x.requires_grad_(True)
    for divide_by in ("weight", "count"):
        ours = ct.cross_entropy(
            x, t, w, label_smoothing=0.2, smoothing=smoothing, divide_by=divide_by
        )
        core = ce.cross_entropy(
            x.detach().numpy(),
            t.numpy(),
            weight=None if w is None else w.numpy(),
            label_smoothing=0.2,
            smoothing=smoothing,
            divide_by=divide_by,
        )
        _close(ours, core)
        g = _grad(ours, x, torch.tensor(1.7, dtype=torch.float64))
        gc = ce.cross_entropy_grad(
            x.detach().numpy(),
            t.numpy(),
            weight=None if w is None else w.numpy(),
            label_smoothing=0.2,
            smoothing=smoothing,
            divide_by=divide_by,
            grad_output=1.7,
        )
        _close(g, gc)
        assert torch.all(g[4] == 0)
    if (
        smoothing == "uniform"
    ):  # PyTorch divides by N for probability targets: divide_by="count" (no mask row)
        t2 = t.clone()
        t2[4] = 1.0 / 6
        _close(
            ct.cross_entropy(x, t2, w, label_smoothing=0.2, divide_by="count"),
            F.cross_entropy(x, t2, w, label_smoothing=0.2),
        )


def test_index_equals_one_hot_with_weights():
    x, y, w = _data(n=10, c=5, ignore=0.0)
    onehot = F.one_hot(y, 5).double()
    _close(
        ct.cross_entropy(x, y, w, label_smoothing=0.1),
        ct.cross_entropy(x, onehot, w, label_smoothing=0.1),
    )


def test_k_dimensional_and_unbatched():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 5, 2, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 4, (3, 5, 2), generator=g)
    y[0, 1, 1] = -100
    for red in ("none", "mean"):
        ours, theirs = ct.cross_entropy(x, y, reduction=red), F.cross_entropy(x, y, reduction=red)
        assert ours.shape == theirs.shape
        _close(ours, theirs)
        go = torch.rand(ours.shape, generator=g, dtype=torch.float64)
        _close(_grad(ours, x, go), _grad(theirs, x, go))
    x1 = torch.randn(6, dtype=torch.float64)
    _close(ct.cross_entropy(x1, torch.tensor(2)), F.cross_entropy(x1, torch.tensor(2)))
    assert ct.cross_entropy(x1, torch.tensor(2), reduction="none").shape == ()


@pytest.mark.parametrize("kind", ["log_probs", "probs"])
def test_other_kinds_equal_core(kind):
    x, y, w = _data(n=9, c=4, seed=2)
    lp = torch.log_softmax(x, -1)
    pred = (lp if kind == "log_probs" else lp.exp()).detach().requires_grad_(True)
    ours = ct.cross_entropy(pred, y, w, kind=kind, label_smoothing=0.1, reduction="sum")
    core = ce.cross_entropy(
        pred.detach().numpy(),
        y.numpy(),
        kind=kind,
        weight=w.numpy(),
        label_smoothing=0.1,
        reduction="sum",
    )
    _close(ours, core)
    g = _grad(ours, pred, torch.tensor(0.5, dtype=torch.float64))
    gc = ce.cross_entropy_grad(
        pred.detach().numpy(),
        y.numpy(),
        kind=kind,
        weight=w.numpy(),
        label_smoothing=0.1,
        reduction="sum",
        grad_output=0.5,
    )
    _close(g, gc)
    if kind == "log_probs":
        _close(ct.nll_loss(pred, y, w), F.nll_loss(pred, y, w))


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_softcap_and_z_loss_against_autograd(reduction):
    x, y, w = _data(n=16, c=6, seed=4)
    x = (x * 10).requires_grad_(True)
    cap, zl = 15.0, 1e-3
    ours = ct.cross_entropy(
        x, y, w, reduction=reduction, label_smoothing=0.1, softcap=cap, z_loss=zl
    )
    # reference composed from torch ops, differentiated by autograd
    z = cap * torch.tanh(x / cap)
    per = F.cross_entropy(z, y, w, reduction="none", label_smoothing=0.1)
    lse = torch.logsumexp(z, -1)
    per = per + zl * torch.where(y != -100, lse**2, torch.zeros_like(lse))
    ref = per if reduction == "none" else per.sum() / w[y[y != -100]].sum()
    _close(ours, ref)
    go = torch.rand(ours.shape, dtype=torch.float64) + 0.5
    _close(_grad(ours, x, go), _grad(ref, x, go))


def test_gradcheck_float64():
    x, y, w = _data(n=6, c=5, seed=6)
    x.requires_grad_(True)
    for kw in (
        dict(),
        dict(weight=w, label_smoothing=0.3, reduction="none"),
        dict(softcap=3.0, z_loss=0.1),
    ):
        assert torch.autograd.gradcheck(lambda a, kw=kw: ct.cross_entropy(a, y, **kw), (x,))
    lp = torch.log_softmax(x.detach(), -1).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a: ct.cross_entropy(a, y, kind="log_probs", label_smoothing=0.2, validate=False),
        (lp,),
    )


def test_all_ignored_and_empty_policies():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    y = torch.full((4,), -100)
    with pytest.warns(ce.EmptyReductionWarning):
        loss = ct.cross_entropy(x, y)
    assert torch.isnan(loss)
    assert torch.isnan(F.cross_entropy(x, y))  # same as PyTorch
    (g,) = torch.autograd.grad(loss, x)
    assert torch.equal(g, torch.zeros_like(g))
    loss0 = ct.cross_entropy(x, y, empty="zero")
    assert loss0.item() == 0.0
    (g0,) = torch.autograd.grad(loss0, x)
    assert torch.equal(g0, torch.zeros_like(g0))
    with pytest.raises(ValueError, match="empty='raise'"):
        ct.cross_entropy(x, y, empty="raise")
    assert ct.cross_entropy(x, y, reduction="sum").item() == 0.0
    e = torch.zeros(0, 3, dtype=torch.float64)
    assert ct.cross_entropy(e, torch.zeros(0, dtype=torch.long), reduction="none").shape == (0,)
    assert ct.cross_entropy(e, torch.zeros(0, dtype=torch.long), reduction="sum").item() == 0.0


def test_masked_rows_with_inf_and_nan_have_exact_zero_gradient():
    x, y, _ = _data(n=6, c=4, ignore=0.0)
    x = x.clone()
    y[1] = -100
    y[3] = -100
    x[1] = float("nan")
    x[3, 0] = float("inf")
    x[3, 1] = float("-inf")
    x[5, 2] = float("-inf")  # a masked class (not the target) on a live row
    y[5] = 0
    x.requires_grad_(True)
    loss = ct.cross_entropy(x, y, label_smoothing=0.0, reduction="none")
    assert loss[1] == 0 and loss[3] == 0 and torch.isfinite(loss).all()
    g = _grad(loss.sum(), x, None)
    assert torch.equal(g[1], torch.zeros(4, dtype=torch.float64))
    assert torch.equal(g[3], torch.zeros(4, dtype=torch.float64))
    assert g[5, 2] == 0 and torch.isfinite(g).all()
    # a target on a -inf class is +inf (the true answer), nothing clipped
    y2 = y.clone()
    y2[5] = 2
    assert ct.cross_entropy(x.detach(), y2, reduction="none")[5] == float("inf")


def test_inputs_not_modified_and_upstream_softmax_intact():
    x, y, w = _data(n=8, c=5)
    x0, y0, w0 = x.clone(), y.clone(), w.clone()
    a = x.clone().requires_grad_(True)
    p = torch.softmax(a, -1)  # an upstream op that saved its output (Liger#272)
    loss = ct.cross_entropy(p.log(), y, w, label_smoothing=0.1, kind="log_probs", validate=False)
    loss.backward()
    ref = a.detach().clone().requires_grad_(True)
    F.cross_entropy(torch.softmax(ref, -1).log(), y, w, label_smoothing=0.1).backward()
    _close(a.grad, ref.grad)
    for kw in (dict(), dict(softcap=5.0)):
        xx = x.clone().requires_grad_(True)
        ct.cross_entropy(xx, y, w, **kw).backward()
        assert torch.equal(xx.detach(), x0)
    assert torch.equal(x, x0) and torch.equal(y, y0) and torch.equal(w, w0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_error_no_worse_than_torch(dtype):
    x, y, w = _data(n=256, c=50, seed=7)
    truth = F.cross_entropy(x, y, w, label_smoothing=0.1)
    xl = x.to(dtype).requires_grad_(True)
    ours = ct.cross_entropy(xl, y, w.to(dtype), label_smoothing=0.1)
    naive = F.cross_entropy(xl, y, w.to(dtype), label_smoothing=0.1)  # torch in the same dtype
    assert ours.dtype == torch.float32  # computed and returned in float32 (docs/semantics.md §6)
    truth_l = F.cross_entropy(xl.detach().double(), y, w.to(dtype).double(), label_smoothing=0.1)
    err, err_naive = abs(ours.double() - truth_l).item(), abs(naive.double() - truth_l).item()
    assert err <= 4 * err_naive or err <= err_naive + 1e-3, (err, err_naive)
    g = _grad(ours, xl, None)
    assert g.dtype == dtype
    xt = xl.detach().double().requires_grad_(True)
    gt = _grad(F.cross_entropy(xt, y, w.to(dtype).double(), label_smoothing=0.1), xt, None)
    gn = _grad(F.cross_entropy(xl, y, w.to(dtype), label_smoothing=0.1), xl, None)
    e, en = (g.double() - gt).abs().max().item(), (gn.double() - gt).abs().max().item()
    assert e <= 4 * en or e <= en + 1e-3, (e, en)
    assert abs(truth.item() - truth_l.item()) < 0.05  # the rounding of the input itself


def test_float32_matches_torch():
    x, y, w = _data(dtype=torch.float32)
    w = w.float()
    x.requires_grad_(True)
    ours, theirs = (
        ct.cross_entropy(x, y, w, label_smoothing=0.1),
        F.cross_entropy(x, y, w, label_smoothing=0.1),
    )
    _close(ours, theirs, **RTOL32)
    _close(_grad(ours, x, None), _grad(theirs, x, None), **RTOL32)


def test_validation_errors_and_validate_false():
    x, y, _ = _data(n=5, c=3, ignore=0.0)
    bad = y.clone()
    bad[2] = 3
    with pytest.raises(ValueError, match=r"\[0, 2\].*index 2 \(value 3\)"):
        ct.cross_entropy(x, bad)
    out = ct.cross_entropy(x, bad, validate=False, reduction="none")
    assert torch.isnan(out[2]) and torch.isfinite(out[[0, 1, 3, 4]]).all()
    assert torch.isnan(ct.cross_entropy(x, bad, validate=False))
    with pytest.raises(TypeError, match="bool"):
        ct.cross_entropy(x, y > 0)
    with pytest.raises(ValueError, match="label_smoothing"):
        ct.cross_entropy(x, y, label_smoothing=-0.1)
    with pytest.raises(ValueError, match="reduction"):
        ct.cross_entropy(x, y, reduction="avg")
    with pytest.raises(ValueError, match="weight"):
        ct.cross_entropy(x, y, torch.tensor([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="whole number"):
        ct.cross_entropy(x, y.double() + 0.5)
    _close(ct.cross_entropy(x, y.double()), F.cross_entropy(x, y))  # exact-integer floats accepted
    with pytest.raises(TypeError, match="floating"):
        ct.cross_entropy(torch.ones(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="softcap"):
        ct.cross_entropy(x, y, softcap=0.0)
    with pytest.warns(ce.DoubleSoftmaxWarning):
        ct.cross_entropy(torch.softmax(x, -1), y)


def test_sample_weight_matches_core():
    x, y, w = _data(n=10, c=4, seed=8)
    s = torch.rand(10, dtype=torch.float64)
    s[0] = 0
    x.requires_grad_(True)
    ours = ct.cross_entropy(x, y, w, sample_weight=s, label_smoothing=0.1)
    core = ce.cross_entropy(
        x.detach().numpy(),
        y.numpy(),
        weight=w.numpy(),
        sample_weight=s.numpy(),
        label_smoothing=0.1,
    )
    _close(ours, core)
    gc = ce.cross_entropy_grad(
        x.detach().numpy(),
        y.numpy(),
        weight=w.numpy(),
        sample_weight=s.numpy(),
        label_smoothing=0.1,
    )
    _close(_grad(ours, x, None), gc)


def test_modules_drop_in():
    x, y, w = _data(n=12, c=5, seed=9)
    for ours, theirs in (
        (
            ct.CrossEntropyLoss(w, ignore_index=-100, label_smoothing=0.2),
            torch.nn.CrossEntropyLoss(w, label_smoothing=0.2),
        ),
        (ct.CrossEntropyLoss(reduction="none"), torch.nn.CrossEntropyLoss(reduction="none")),
    ):
        _close(ours(x, y), theirs(x, y))
    lp = torch.log_softmax(x, -1)
    _close(ct.NLLLoss(w)(lp, y), torch.nn.NLLLoss(w)(lp, y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _close(
            ct.CrossEntropyLoss(reduce=False)(x, y), torch.nn.CrossEntropyLoss(reduce=False)(x, y)
        )
        _close(
            ct.CrossEntropyLoss(size_average=False)(x, y),
            torch.nn.CrossEntropyLoss(size_average=False)(x, y),
        )
    m = ct.CrossEntropyLoss(w)
    assert "weight" in dict(m.named_buffers())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_equals_torch_and_core(reduction):
    g = torch.Generator().manual_seed(10)
    x = (torch.randn(6, 4, generator=g, dtype=torch.float64) * 3).requires_grad_(True)
    y = torch.rand(6, 4, generator=g, dtype=torch.float64)
    w = torch.rand(6, 4, generator=g, dtype=torch.float64)
    pw = torch.rand(4, generator=g, dtype=torch.float64) + 0.5
    ours = ct.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw)
    theirs = F.binary_cross_entropy_with_logits(x, y, w, reduction=reduction, pos_weight=pw)
    core = ce.binary_cross_entropy(
        x.detach().numpy(), y.numpy(), weight=w.numpy(), pos_weight=pw.numpy(), reduction=reduction
    )
    _close(ours, theirs)
    _close(ours, core)
    go = torch.rand(ours.shape, generator=g, dtype=torch.float64)
    _close(_grad(ours, x, go), _grad(theirs, x, go))
    _close(ct.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw)(x, y), theirs)


def test_bce_extremes_ignore_and_smoothing():
    x = torch.tensor([1e9, -1e9, float("inf"), float("-inf")], requires_grad=True)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = ct.binary_cross_entropy_with_logits(x, y, reduction="sum")
    assert loss.item() == 0.0
    (g,) = torch.autograd.grad(loss, x)
    assert torch.equal(g, torch.zeros(4))
    xi = torch.randn(5, dtype=torch.float64, requires_grad=True)
    yi = torch.tensor([1, 0, -1, 1, -1])
    ours = ct.binary_cross_entropy_with_logits(xi, yi, ignore_index=-1, label_smoothing=0.2)
    keep = yi != -1
    ys = yi[keep].double() * 0.8 + 0.1
    _close(ours, F.binary_cross_entropy_with_logits(xi[keep], ys))
    (gi,) = torch.autograd.grad(ours, xi)
    assert torch.all(gi[~keep] == 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ct.binary_cross_entropy_with_logits(
            xi, torch.tensor([0.0, 2.0, 0.0, 1.0, 0.0], dtype=torch.float64)
        )


def test_non_contiguous_views():
    """Transposed, step-sliced, expanded and offset views give the same numbers as contiguous copies."""
    g = torch.Generator().manual_seed(11)
    big = torch.randn(9, 14, generator=g, dtype=torch.float64)
    views = {
        "step": big[:, ::2],  # (9, 7)
        "transposed": big[:7, :9].T,  # (9, 7)
        "offset": big[1:, 3:10],  # (8, 7) starting one row in
        "expanded": big[:1, :7].expand(9, 7),
    }
    for x in views.values():
        y = torch.randint(0, 7, (1,), generator=g).expand(x.shape[0])  # a stride-0 target
        xv = x.detach().requires_grad_(True)  # the view itself, not a copy
        assert not xv.is_contiguous()
        xr = x.contiguous().requires_grad_(True)
        ours = ct.cross_entropy(xv, y, label_smoothing=0.1)
        ref = F.cross_entropy(xr, y.contiguous(), label_smoothing=0.1)
        _close(ours, ref)
        _close(_grad(ours, xv, None), _grad(ref, xr, None))


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
@pytest.mark.parametrize("bad", [-1.0, -1e-300, float("nan"), float("inf"), float("-inf")])
def test_bce_weights_are_validated_like_the_core(name, bad):
    """Negative or non-finite BCE weights raise with the core's message on both paths (M1)."""
    x = torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.0, -3.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    w = torch.ones(3, dtype=torch.float64)
    w[1] = bad
    with pytest.raises(ValueError, match=f"`{name}` must be finite and non-negative") as ours:
        ct.binary_cross_entropy_with_logits(x, y, **{name: w})
    with pytest.raises(ValueError) as core:
        ce.binary_cross_entropy(x.numpy(), y.numpy(), **{name: w.numpy()})
    assert str(ours.value) == str(core.value)
    # validate=False is the caller's promise: no check, no synchronisation
    ct.binary_cross_entropy_with_logits(x, y, validate=False, **{name: w})


# --------------------------------------------------------------------------- unusable tensors
def _entry_points():
    """name → (function, keyword arguments of a valid call, whether it runs without a process group)."""
    x, y, w = _data(n=6, c=4, dtype=torch.float32, ignore=0.0)
    s = torch.rand(6) + 0.5
    h, W = torch.randn(6, 3), torch.randn(4, 3)
    xb, yb = torch.randn(6, 4), torch.rand(6, 4)
    ce_args = dict(input=x, target=y, weight=w, sample_weight=s)
    vp_args = dict(local_logits=x, target=y, weight=w, sample_weight=s, vocab_start=0, vocab_size=4)
    lin = dict(hidden=h, weight=W, target=y, class_weight=w, sample_weight=s)
    vpl = dict(hidden=h, local_weight=W, target=y, class_weight=w, sample_weight=s, vocab_start=0)
    return {
        "cross_entropy": (ct.cross_entropy, ce_args, True),
        "nll_loss": (ct.nll_loss, dict(input=x.log_softmax(-1), target=y, weight=w), True),
        "binary": (
            ct.binary_cross_entropy_with_logits,
            dict(input=xb, target=yb, weight=torch.rand(4), pos_weight=torch.rand(4)),
            True,
        ),
        "linear_cross_entropy": (ct.linear_cross_entropy, lin, True),
        "vocab_parallel": (ct.vocab_parallel_cross_entropy, vp_args, False),
        "vocab_parallel_linear": (ct.vocab_parallel_linear_cross_entropy, vpl, False),
    }


_UNUSABLE = {  # problem → (make it, exception, what the message says)
    "meta": (lambda t: t.to("meta"), ValueError, r"meta tensor.*real device"),
    "sparse": (lambda t: t.to_sparse(), TypeError, r"layout torch\.sparse_coo.*\.to_dense\(\)"),
    "float8": (lambda t: t.to(torch.float8_e4m3fn), TypeError, r"float8_e4m3fn.*\.float\(\)"),
}


@pytest.mark.parametrize("problem", list(_UNUSABLE))
@pytest.mark.parametrize("entry", list(_entry_points()))
def test_unusable_tensors_raise_naming_the_argument_and_the_fix(entry, problem):
    # meta, sparse and float8 tensors failed deep inside PyTorch (Tensor.item() on meta,
    # "reshape is not implemented for sparse tensors", "ge_cpu" not implemented for float8);
    # every tensor argument now gets one check that names it and the fix
    fn, args, standalone = _entry_points()[entry]
    make, exc, says = _UNUSABLE[problem]
    if standalone:
        assert torch.isfinite(fn(**args)).all()  # the valid call runs
    tried = 0
    for name, t in args.items():
        if not isinstance(t, torch.Tensor) or (problem == "float8" and not t.is_floating_point()):
            continue  # a float8 class index is not a thing
        with pytest.raises(exc, match=rf"`{name}`.*{says}"):
            fn(**{**args, name: make(t)})
        tried += 1
    assert tried >= 2


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize(
    "special", ["pos_inf", "neg_inf", "nan", "all_neg_inf", "pos_inf_on_target"]
)
def test_default_options_on_non_finite_logits_equal_the_core(validate, special):
    """Default options take a checked route to PyTorch's kernel; a +inf logit is where that
    kernel differs from §3 (NaN, not +inf), so the route must hand such calls to the general
    path. Values and gradients equal the core's closed form on every non-finite case."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, -100, 1])
    row = {"pos_inf": (1, 0), "neg_inf": (1, 3), "nan": (2, 0), "pos_inf_on_target": (3, 3)}
    if special == "all_neg_inf":
        x[0] = -math.inf
    else:
        x[row[special]] = {"neg_inf": -math.inf, "nan": math.nan}.get(special, math.inf)
    x[4] = math.inf  # an ignored row: exactly zero gradient whatever it holds
    for reduction in ("mean", "sum", "none"):
        xt = x.clone().requires_grad_(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = ct.cross_entropy(xt, y, reduction=reduction, validate=validate)
            want = ce.cross_entropy(x.numpy(), y.numpy(), reduction=reduction, validate=validate)
            gw = ce.cross_entropy_grad(x.numpy(), y.numpy(), reduction=reduction, validate=validate)
        np.testing.assert_array_equal(np.isnan(out.detach().numpy()), np.isnan(want))
        np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12, equal_nan=True)
        out.sum().backward()
        np.testing.assert_allclose(xt.grad.numpy(), gw, rtol=1e-12, atol=1e-15, equal_nan=True)
