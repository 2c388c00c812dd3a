"""JAX: every public loss under ``jit``, ``vmap`` and ``grad`` (docs/semantics.md §4, §9).

Oracles: the library on NumPy float64 copies of the same float32 values (values and
``cross_entropy_grad``'s closed form, itself checked against PyTorch in test_gradients.py),
and optax (softmax and sigmoid cross-entropy, the safe softmax CE at −inf logits, KL).
Tolerances: properties.md §2 (float32: rtol 1e-5, atol 1e-6).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy

import crossentropy as ce  # noqa: E402

from oracles import assert_close  # noqa: E402

F32 = np.float32
RNG = np.random.default_rng(7)
N, C = 6, 4
X = RNG.normal(size=(N, C)).astype(F32) * 2
Y = np.array([0, 1, -100, 3, 2, 1], dtype=np.int32)  # one ignored row
SOFT = RNG.dirichlet(np.ones(C), N).astype(F32)
SOFT[1, 2] = 0.0
SOFT[1] /= SOFT[1].sum()
W = np.array([1.0, 2.0, 0.5, 1.5], dtype=F32)
SW = RNG.uniform(0.2, 2.0, N).astype(F32)
YB = (RNG.uniform(size=(N, C)) > 0.5).astype(np.int32)
YB[0, 1] = -1  # an ignored element (ignore_index=-1)
PW = np.array([2.0, 1.0, 0.5, 1.0], dtype=F32)
TEACHER = RNG.normal(size=(N, C)).astype(F32)

#: name -> f(x, y, soft, w, sw, yb, pw, teacher): every array an argument, so that under jit
#: all of them are traced (no value can be read on the host).
LOSSES = {
    "cross_entropy": lambda x, y, s, w, sw, yb, pw, t: ce.cross_entropy(x, y),
    "cross_entropy weighted": lambda x, y, s, w, sw, yb, pw, t: ce.cross_entropy(
        x, y, weight=w, sample_weight=sw, label_smoothing=0.1
    ),
    "cross_entropy soft": lambda x, y, s, w, sw, yb, pw, t: ce.cross_entropy(x, s, weight=w),
    "cross_entropy none": lambda x, y, s, w, sw, yb, pw, t: ce.cross_entropy(
        x, y, reduction="none", weight=w
    ),
    "nll": lambda x, y, s, w, sw, yb, pw, t: ce.nll(x, y),
    "nll weighted": lambda x, y, s, w, sw, yb, pw, t: ce.nll(x, y, weight=w, sample_weight=sw),
    "log_likelihood": lambda x, y, s, w, sw, yb, pw, t: ce.log_likelihood(x, y, sample_weight=sw),
    "likelihood": lambda x, y, s, w, sw, yb, pw, t: ce.likelihood(x, y, reduction="mean", weight=w),
    "log_prob": lambda x, y, s, w, sw, yb, pw, t: ce.log_prob(x, y),
    "perplexity": lambda x, y, s, w, sw, yb, pw, t: ce.perplexity(x, y, weight=w),
    "perplexity none": lambda x, y, s, w, sw, yb, pw, t: ce.perplexity(x, y, reduction="none"),
    "loss_terms": lambda x, y, s, w, sw, yb, pw, t: ce.loss_terms(x, y, sample_weight=sw).loss,
    "entropy": lambda x, y, s, w, sw, yb, pw, t: ce.entropy(x, kind="logits"),
    "kl_divergence": lambda x, y, s, w, sw, yb, pw, t: ce.kl_divergence(x, s, sample_weight=sw),
    "decompose": lambda x, y, s, w, sw, yb, pw, t: ce.decompose(x, s, weight=w).entropy,
    "binary_cross_entropy": lambda x, y, s, w, sw, yb, pw, t: ce.binary_cross_entropy(
        x, yb, ignore_index=-1
    ),
    "binary_cross_entropy weighted": lambda x, y, s, w, sw, yb, pw, t: ce.binary_cross_entropy(
        x, yb, ignore_index=-1, pos_weight=pw, weight=w, sample_weight=sw, focal_gamma=2.0
    ),
    "cross_entropy_grad": lambda x, y, s, w, sw, yb, pw, t: ce.cross_entropy_grad(
        x, y, weight=w, sample_weight=sw
    ),
    "binary_cross_entropy_grad": lambda x, y, s, w, sw, yb, pw, t: ce.binary_cross_entropy_grad(
        x, yb, ignore_index=-1, pos_weight=pw
    ),
    "distillation_loss": lambda x, y, s, w, sw, yb, pw, t: ce.distillation_loss(x, t),
}
ARGS = (X, Y, SOFT, W, SW, YB, PW, TEACHER)


def _numpy_args(args):
    """float64 copies of the float arrays (the reference), labels as int64."""
    return tuple(a.astype(np.float64) if a.dtype == F32 else a.astype(np.int64) for a in args)


def _no_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    assert not caught, [str(w.message) for w in caught]
    return out


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_under_jit_equals_numpy_and_never_reads_the_host(name):
    fn = LOSSES[name]
    expected = fn(*_numpy_args(ARGS))
    jitted = jax.jit(fn)
    with jax.transfer_guard_device_to_host("disallow"):
        got = _no_warnings(lambda: jitted(*(jnp.asarray(a) for a in ARGS)))
        jax.block_until_ready(got)
    assert isinstance(got, jax.Array)
    assert_close(np.asarray(got), expected, F32)


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_under_vmap_equals_numpy_per_batch(name):
    fn = LOSSES[name]
    second = (X[::-1] * 0.5, Y[::-1], SOFT[::-1], W[::-1], SW[::-1], YB[::-1], PW, -TEACHER)
    expected = np.stack([fn(*_numpy_args(a)) for a in (ARGS, second)])
    batched = [
        jnp.stack([jnp.asarray(a), jnp.asarray(b)]) for a, b in zip(ARGS, second, strict=True)
    ]
    with jax.transfer_guard_device_to_host("disallow"):
        got = _no_warnings(lambda: jax.jit(jax.vmap(fn))(*batched))
    assert_close(np.asarray(got), expected, F32)


# --------------------------------------------------------------------------- gradients


def _closed_form(x, target, **kw):
    return ce.cross_entropy_grad(np.asarray(x, dtype=np.float64), np.asarray(target), **kw)


@pytest.mark.parametrize(
    "loss, kw",
    [
        (ce.cross_entropy, {}),
        (ce.cross_entropy, {"weight": W, "sample_weight": SW, "label_smoothing": 0.2}),
        (ce.cross_entropy, {"reduction": "sum", "smoothing": "others", "label_smoothing": 0.1}),
        (ce.nll, {"weight": W}),
        (ce.cross_entropy, {"base": 2}),
    ],
)
def test_jitted_grad_is_the_closed_form(loss, kw):
    jkw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    value, g = jax.jit(jax.value_and_grad(lambda x, y: loss(x, y, **jkw)))(X, Y)
    assert_close(value, loss(X.astype(np.float64), Y.astype(np.int64), **kw), F32)
    ckw = {k: v for k, v in kw.items() if k != "base"}
    if loss is ce.nll:
        ckw.setdefault("reduction", "sum")
    expected = _closed_form(X, Y, **ckw) / np.log(kw.get("base", np.e))
    assert_close(np.asarray(g), expected, F32)


def test_ignored_rows_holding_nan_or_inf_get_exactly_zero_gradient():
    x = X.copy()
    x[2] = [np.nan, np.inf, -np.inf, 1.0]  # row 2 is ignored (Y[2] = -100)
    for loss in (ce.cross_entropy, ce.nll, ce.log_likelihood):
        g = np.asarray(jax.jit(jax.grad(lambda a, loss=loss: loss(a, Y)))(x))
        assert np.all(g[2] == 0.0)
        assert np.isfinite(g).all()
    g = np.asarray(jax.grad(lambda a: ce.cross_entropy(a, Y, sample_weight=SW * (Y >= 0)))(x))
    assert_close(g, _closed_form(x, Y, sample_weight=SW * (Y >= 0)), F32)
    # per example: a masked row of `log_prob` has no gradient either
    g = np.asarray(jax.grad(lambda a: jnp.sum(ce.log_prob(a, Y)))(x))
    assert np.all(g[2] == 0.0) and np.isfinite(g).all()


def test_probability_zero_on_a_zero_target_class_has_zero_gradient():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=F32)
    soft = np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]], dtype=F32)
    g = np.asarray(jax.jit(jax.grad(lambda a: ce.cross_entropy(a, soft, kind="probs")))(p))
    assert np.isfinite(g).all() and g[0, 2] == 0.0
    assert_close(g, _closed_form(p, soft, kind="probs"), F32)
    g = np.asarray(jax.grad(lambda a: ce.kl_divergence(a, soft, kind="probs"))(p))
    assert np.isfinite(g).all() and g[0, 2] == 0.0


def test_a_label_that_is_not_a_class_gives_nan_gradient_under_validate_false():
    y = np.array([0, 7, 2, 1, 3, 0], dtype=np.int32)  # 7 is not a class of C = 4
    g_mean = np.asarray(jax.grad(lambda a: ce.cross_entropy(a, y, validate=False))(X))
    assert np.isnan(g_mean).all()  # the mean's divisor is NaN: every row (§4)
    assert_close(g_mean, _closed_form(X, y, validate=False), F32)
    g_sum = np.asarray(
        jax.grad(lambda a: ce.cross_entropy(a, y, reduction="sum", validate=False))(X)
    )
    assert np.isnan(g_sum[1]).all() and np.isfinite(np.delete(g_sum, 1, axis=0)).all()
    # under jit the default validate=True cannot read the labels: the same NaN row
    value, g = jax.jit(jax.value_and_grad(lambda a, t: ce.cross_entropy(a, t, reduction="sum")))(
        X, y
    )
    assert np.isnan(float(value)) and np.isnan(np.asarray(g)[1]).all()


def test_binary_grad_is_the_closed_form_and_zero_on_ignored_nan_elements():
    x = X.copy()
    x[0, 1] = np.nan  # YB[0, 1] = -1: ignored
    kw = {"ignore_index": -1, "pos_weight": PW, "sample_weight": SW}
    jkw = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    g = np.asarray(jax.jit(jax.grad(lambda a: ce.binary_cross_entropy(a, YB, **jkw)))(x))
    assert g[0, 1] == 0.0 and np.isfinite(g).all()
    expected = ce.binary_cross_entropy_grad(x.astype(np.float64), YB, **kw)
    assert_close(g, expected, F32)
    g = np.asarray(jax.grad(lambda a: ce.binary_cross_entropy(a, YB, focal_gamma=2.0, **jkw))(x))
    expected = ce.binary_cross_entropy_grad(x.astype(np.float64), YB, focal_gamma=2.0, **kw)
    assert_close(g, expected, F32)


def test_done_means_value_and_grad_of_a_weighted_loss_with_default_options():
    f = jax.jit(jax.value_and_grad(lambda x, y, w: ce.cross_entropy(x, y, weight=w)))
    with jax.transfer_guard_device_to_host("disallow"):
        value, g = _no_warnings(lambda: f(X, Y, W))
        jax.block_until_ready(g)
    assert_close(value, ce.cross_entropy(X.astype(np.float64), Y, weight=W), F32)
    assert_close(g, _closed_form(X, Y, weight=W), F32)
    # the labels and weights closed over as concrete JAX arrays: checked once, at trace time
    y, w = jnp.asarray(Y), jnp.asarray(W)
    closure = jax.jit(jax.value_and_grad(lambda x: ce.cross_entropy(x, y, weight=w)))
    value, g = _no_warnings(lambda: closure(X))
    assert_close(value, ce.cross_entropy(X.astype(np.float64), Y, weight=W), F32)
    assert_close(g, _closed_form(X, Y, weight=W), F32)


def test_numeric_options_may_be_traced_and_static_options_are_static_arguments():
    f = jax.jit(
        lambda x, y, eps: ce.cross_entropy(x, y, label_smoothing=eps, smoothing="others"),
    )
    for eps in (0.0, 0.25):
        expected = ce.cross_entropy(
            X.astype(np.float64), Y, label_smoothing=eps, smoothing="others"
        )
        assert_close(f(X, Y, jnp.float32(eps)), expected, F32)
    g = jax.jit(ce.cross_entropy, static_argnames=("reduction", "kind", "smoothing"))
    assert_close(g(X, Y, reduction="sum"), ce.nll(X.astype(np.float64), Y), F32)
    norm = jax.jit(lambda x, y, z: ce.cross_entropy(x, y, normalizer=z))
    expected = ce.nll(X.astype(np.float64), Y) / 10.0
    assert_close(norm(X, Y, jnp.float32(10.0)), expected, F32)
    eps = jax.jit(lambda x, y, e: ce.binary_cross_entropy(x, y, label_smoothing=e, ignore_index=-1))
    expected = ce.binary_cross_entropy(
        X.astype(np.float64), YB, label_smoothing=0.2, ignore_index=-1
    )
    assert_close(eps(X, YB, jnp.float32(0.2)), expected, F32)


def test_what_needs_the_values_says_so_under_jit():
    with pytest.raises(ValueError, match="kind='auto'.*pass kind="):
        jax.jit(lambda x, y: ce.cross_entropy(x, y, kind="auto"))(X, Y)
    with pytest.raises(ValueError, match="empty='raise'.*empty='nan' or empty='zero'"):
        jax.jit(lambda x, y: ce.cross_entropy(x, y, empty="raise"))(X, Y)
    with pytest.raises(ValueError, match="empty='raise'"):
        jax.jit(lambda x, y: ce.cross_entropy_grad(x, y, empty="raise"))(X, Y)
    # shapes are checked whatever the values
    with pytest.raises(ValueError, match="`weight` must have one entry per class"):
        jax.jit(lambda x, y, w: ce.cross_entropy(x, y, weight=w))(X, Y, W[:3])
    # eagerly the values are there: validation runs as on NumPy
    with pytest.raises(ValueError, match="out-of-range labels.*value 7"):
        ce.cross_entropy(jnp.asarray(X), jnp.asarray([0, 7, 2, 1, 3, 0]))


# --------------------------------------------------------------------------- integer labels


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.int8, np.uint8])
def test_native_integer_labels_give_no_warning_on_every_namespace(dtype):
    import torch

    ignore = 255 if dtype == np.uint8 else -100
    y = np.array([0, 1, ignore, 3, 2, 1]).astype(dtype)
    expected = ce.cross_entropy(X.astype(np.float64), y.astype(np.int64), ignore_index=ignore)
    for convert in (np.asarray, jnp.asarray, torch.as_tensor):
        got = _no_warnings(lambda c=convert: ce.cross_entropy(c(X), c(y), ignore_index=ignore))
        assert_close(np.asarray(got), expected, F32)
    got = _no_warnings(
        lambda: jax.jit(lambda a, b: ce.cross_entropy(a, b, ignore_index=ignore))(X, y)
    )
    assert_close(got, expected, F32)
    g = _no_warnings(lambda: jax.grad(lambda a: ce.cross_entropy(a, y, ignore_index=ignore))(X))
    assert_close(g, _closed_form(X, y.astype(np.int64), ignore_index=ignore), F32)


def test_small_unsigned_labels_are_read_in_their_own_width():
    y = np.array([0, 1, 200, 3, 2, 1], dtype=np.uint8)  # 200 is not a class; -100 is no uint8
    with pytest.raises(ValueError, match="value 200"):
        ce.cross_entropy(jnp.asarray(X), jnp.asarray(y))
    out = jax.jit(lambda a, b: ce.cross_entropy(a, b, reduction="none"))(X, y)
    assert np.isnan(np.asarray(out)[2]) and np.isfinite(np.delete(np.asarray(out), 2)).all()


# --------------------------------------------------------------------------- optax oracles


def test_softmax_cross_entropy_equals_optax_in_value_and_gradient():
    per_row = optax.softmax_cross_entropy(X, SOFT)
    assert_close(
        ce.cross_entropy(jnp.asarray(X), jnp.asarray(SOFT), reduction="none"), per_row, F32
    )
    labels = np.array([0, 1, 2, 3, 2, 1])
    ours = jax.grad(lambda a: ce.cross_entropy(a, labels))(X)
    theirs = jax.grad(lambda a: optax.softmax_cross_entropy_with_integer_labels(a, labels).mean())(
        X
    )
    assert_close(ours, theirs, F32)


def test_sigmoid_binary_cross_entropy_equals_optax_in_value_and_gradient():
    y = (YB > 0).astype(F32)
    per_elem = optax.sigmoid_binary_cross_entropy(X, y)
    assert_close(ce.binary_cross_entropy(jnp.asarray(X), y, reduction="none"), per_elem, F32)
    ours = jax.grad(lambda a: ce.binary_cross_entropy(a, y, reduction="sum"))(X)
    theirs = jax.grad(lambda a: optax.sigmoid_binary_cross_entropy(a, y).sum())(X)
    assert_close(ours, theirs, F32)


def test_minus_inf_logits_equal_optax_safe_softmax_cross_entropy():
    x = X.copy()
    x[:, 3] = -np.inf  # a masked class, never a target
    x[0, 2] = -np.inf
    soft = SOFT.copy()
    soft[:, 3] = 0.0
    soft[0] = [0.5, 0.5, 0.0, 0.0]
    soft /= soft.sum(axis=1, keepdims=True)
    theirs = optax.safe_softmax_cross_entropy(x, soft)
    ours = ce.cross_entropy(jnp.asarray(x), jnp.asarray(soft), reduction="none")
    assert_close(ours, theirs, F32)
    g_ours = np.asarray(jax.grad(lambda a: ce.cross_entropy(a, soft, reduction="sum"))(x))
    g_theirs = jax.grad(lambda a: optax.safe_softmax_cross_entropy(a, soft).sum())(x)
    assert np.all(g_ours[:, 3] == 0.0) and np.isfinite(g_ours).all()
    assert_close(g_ours, g_theirs, F32)


def test_kl_divergence_equals_optax():
    log_q = np.asarray(jax.nn.log_softmax(X))
    theirs = optax.kl_divergence(log_q, SOFT)
    ours = ce.kl_divergence(
        jnp.asarray(log_q), jnp.asarray(SOFT), kind="log_probs", reduction="none"
    )
    assert_close(ours, theirs, F32)
    g_ours = jax.grad(lambda a: ce.kl_divergence(a, SOFT, kind="log_probs", reduction="sum"))(log_q)
    g_theirs = jax.grad(lambda a: optax.kl_divergence(a, SOFT).sum())(log_q)
    assert_close(g_ours, g_theirs, F32)


def test_forward_mode_is_the_same_closed_form():
    t = np.asarray(RNG.normal(size=X.shape), dtype=F32)
    _, tangent = jax.jvp(lambda a: ce.cross_entropy(a, Y, weight=W), (X,), (t,))
    assert_close(tangent, np.sum(_closed_form(X, Y, weight=W) * t), F32)
    jac = np.asarray(jax.jacfwd(lambda a: ce.nll(a, Y, reduction="none"))(X))
    per_row = _closed_form(X, Y, reduction="sum")  # row i of the sum's gradient is ∇ℓ_i
    assert_close(jac[np.arange(N), np.arange(N)], per_row, F32)
    assert np.all(jac[2] == 0.0)  # the ignored row
