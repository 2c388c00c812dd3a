"""Fused CPU kernels and the row-blocked NumPy path vs a float64 NumPy reference.

The reference below is written independently of the library: log-softmax by
max shift in float64, dense smoothed coefficients, ``0 * log q = 0``.
numba compiles each kernel once per dtype and layout (cached on disk), so the
first run of this file is slower than the next ones.
"""

import numpy as np
import pytest

from crossentropy import kernels

numba = pytest.importorskip("numba")

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}
IMPLS = ["kernel", "blocked"]


# ---------------------------------------------------------------- reference
def ref_log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x - m) - np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))


def ref_coefficients(y, n, c, weight, eps, smoothing, ignore_index):
    """Dense (y, y') before and after smoothing, float64; ignored index rows are 0."""
    if y.ndim == 1:
        dense = np.zeros((n, c))
        keep = y != ignore_index
        dense[np.arange(n)[keep], y[keep]] = 1.0
    else:
        dense = np.asarray(y, dtype=np.float64)
    m = dense.sum(axis=1, keepdims=True)
    if smoothing == "uniform":
        sm = (1 - eps) * dense + eps * m / c
    else:
        sm = (1 - eps) * dense + (eps * (m - dense) / (c - 1) if eps else 0.0)
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    return dense * w, sm * w


def ref_terms(x, y, *, weight=None, ignore_index=-100, eps=0.0, smoothing="uniform", s=None):
    n, c = x.shape
    a_y, a = ref_coefficients(y, n, c, weight, eps, smoothing, ignore_index)
    lq = ref_log_softmax(x)
    with np.errstate(invalid="ignore"):
        inner = np.where(a == 0, 0.0, a * lq).sum(axis=1)
    s = np.ones(n) if s is None else np.asarray(s, dtype=np.float64)
    mask = (a_y.sum(axis=1) == 0) if y.ndim == 2 else (y == ignore_index)
    mask = mask | (s == 0)
    with np.errstate(invalid="ignore"):
        loss = np.where(mask, 0.0, -s * inner)
        wsum = np.where(mask, 0.0, s * a_y.sum(axis=1))
    return loss, wsum


def ref_grad(x, y, row_scale, *, weight=None, ignore_index=-100, eps=0.0, smoothing="uniform"):
    n, c = x.shape
    a_y, a = ref_coefficients(y, n, c, weight, eps, smoothing, ignore_index)
    lq = ref_log_softmax(x)
    q = np.exp(lq)
    big_a = a.sum(axis=1, keepdims=True)
    r = np.broadcast_to(np.asarray(row_scale, dtype=np.float64), (n,))[:, None]
    with np.errstate(invalid="ignore"):
        g = r * (big_a * q - a)
    dead = (big_a[:, 0] == 0) | (r[:, 0] == 0)
    if y.ndim == 1:
        dead |= y == ignore_index
    g[dead] = 0.0
    return g


def run_terms(impl, x, y, **kw):
    f = kernels.softmax_terms if impl == "kernel" else kernels.blocked_softmax_terms
    return f(x, y, **kw)


def close(actual, expected, dtype):
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected, **TOL[dtype])


def make(rng, n, c, dtype, soft=False, zero_frac=0.0):
    x = rng.standard_normal((n, c)).astype(dtype) * 3
    if soft:
        y = rng.random((n, c)).astype(dtype)
        y[rng.random((n, c)) < zero_frac] = 0
        return x, y
    return x, rng.integers(0, c, n)


# ---------------------------------------------------------------- tests
def test_available_and_lazy_import():
    import subprocess
    import sys

    code = "import sys, crossentropy; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert kernels.available() is True


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "c"), [(0, 5), (1, 1), (7, 3), (33, 17), (5, 2100), (3, 4097)])
def test_index_plain(impl, dtype, n, c):
    rng = np.random.default_rng(n * 1000 + c)
    x, y = make(rng, n, c, dtype)
    if n > 2:
        y[1] = -100
    loss, wsum = run_terms(impl, x, y)
    assert loss.dtype == dtype and wsum.dtype == dtype and loss.shape == (n,)
    rl, rw = ref_terms(x, y)
    close(loss, rl, dtype)
    close(wsum, rw, dtype)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", ["uniform", "others"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
def test_index_weights_smoothing(impl, dtype, smoothing, eps):
    rng = np.random.default_rng(3)
    n, c = 41, 19
    x, y = make(rng, n, c, dtype)
    y[::7] = 5
    weight = rng.random(c) + 0.1
    weight[[2, 5]] = 0.0  # zero class weight: not a mask under smoothing
    s = rng.random(n)
    s[3] = 0.0
    kw = {"weight": weight, "label_smoothing": eps, "smoothing": smoothing, "sample_weight": s}
    loss, wsum = run_terms(impl, x, y, **kw)
    rl, rw = ref_terms(x, y, weight=weight, eps=eps, smoothing=smoothing, s=s)
    close(loss, rl, dtype)
    close(wsum, rw, dtype)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("smoothing", ["uniform", "others"])
def test_soft(impl, dtype, smoothing):
    rng = np.random.default_rng(4)
    n, c = 23, 13
    x, y = make(rng, n, c, dtype, soft=True, zero_frac=0.4)
    y[2] = 0  # all-zero row: a mask
    x[2] = np.nan
    x[5, 3] = -np.inf
    y[5, 3] = 0  # zero target on a -inf class: contributes 0
    weight = rng.random(c)
    s = rng.random(n)
    for eps in (0.0, 0.2):
        kw = {"weight": weight, "label_smoothing": eps, "smoothing": smoothing, "sample_weight": s}
        loss, wsum = run_terms(impl, x, y, **kw)
        rl, rw = ref_terms(x, y, weight=weight, eps=eps, smoothing=smoothing, s=s)
        close(loss, rl, dtype)
        close(wsum, rw, dtype)
        assert loss[2] == 0 and wsum[2] == 0
        assert np.isfinite(loss[5]) == (eps == 0)  # smoothing puts mass on the -inf class


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_rows(impl, dtype):
    c = 2500  # more than one online-LSE block
    x = np.random.default_rng(5).standard_normal((8, c)).astype(dtype)
    y = np.array([0, 2100, 2, 3, 4, 5, -100, 7])
    x[0] = -np.inf
    x[0, 0] = 1.5  # one finite value: log q = 0
    x[1, :2048] = -np.inf  # first block only -inf
    x[2, 100] = np.nan  # NaN poisons its row only
    x[3] = -np.inf  # all -inf: NaN
    x[4, 4] = -np.inf  # target on a -inf class: +inf
    x[5, 0], x[5, 1] = 1e30, -1e30  # extremes
    x[6] = np.nan  # ignored row: exactly 0 whatever it holds
    x[7, 2048:] = np.nan  # NaN only in the second block
    x[7, :2048] = -np.inf
    loss, wsum = run_terms(impl, x, y)
    assert loss[0] == 0.0
    assert np.isnan(loss[2]) and np.isnan(loss[3]) and np.isnan(loss[7])
    assert loss[4] == np.inf
    assert loss[6] == 0.0 and wsum[6] == 0.0
    rl, _ = ref_terms(x, y)
    close(loss, rl, dtype)  # NaN positions must agree as well
    assert np.isfinite(loss[[0, 1, 5]]).all()


@pytest.mark.parametrize("impl", IMPLS)
def test_shift_invariance(impl):
    rng = np.random.default_rng(6)
    x, y = make(rng, 16, 40, np.float64)
    base, _ = run_terms(impl, x, y)
    for shift in (-1e4, 1e3, 1e4):
        shifted, _ = run_terms(impl, x + shift, y)
        np.testing.assert_allclose(shifted, base, rtol=1e-12)


def test_lse():
    rng = np.random.default_rng(7)
    x, y = make(rng, 9, 3000, np.float64)
    y[0] = -100
    _, _, lse = kernels.softmax_terms(x, y, return_lse=True)
    _, _, lse_b = kernels.blocked_softmax_terms(x, y, return_lse=True)
    ref = np.log(np.exp(x).sum(axis=1))
    np.testing.assert_allclose(lse, ref, rtol=1e-12)
    np.testing.assert_allclose(lse_b, ref, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("eps", [0.0, 0.15])
def test_grad(dtype, soft, eps):
    rng = np.random.default_rng(8)
    n, c = 37, 2051
    x, y = make(rng, n, c, dtype, soft=soft, zero_frac=0.3)
    x[4, 7] = -np.inf
    x[6] = np.nan
    if soft:
        y[4, 7] = 0
        y[6] = 0  # masked NaN row
    else:
        y[4] = 3
        y[6] = -100
    weight = rng.random(c) + 0.5
    rs = rng.random(n)
    kw = {"weight": weight, "label_smoothing": eps, "smoothing": "uniform"}
    g = kernels.softmax_terms_grad(x, y, row_scale=rs, **kw)
    ref = ref_grad(x, y, rs, weight=weight, eps=eps)
    assert g.dtype == dtype and g.shape == x.shape
    close(g, ref, dtype)
    assert (g[6] == 0).all()  # masked row: exact zeros, even with NaN logits
    if eps == 0:
        assert g[4, 7] == 0.0  # -inf logit with zero target
    # the fused forward+backward: gradient of sum_i r_i loss_i (sample weight via loss_i)
    s = rng.random(n)
    loss, wsum, g2 = kernels.softmax_terms_and_grad(x, y, row_scale=rs, sample_weight=s, **kw)
    rl, rw = ref_terms(x, y, weight=weight, eps=eps, s=s)
    close(loss, rl, dtype)
    close(wsum, rw, dtype)
    close(g2, ref_grad(x, y, rs * s, weight=weight, eps=eps), dtype)


def test_grad_others_and_out_buffer():
    rng = np.random.default_rng(9)
    x, y = make(rng, 12, 9, np.float32)
    y[0] = -100
    out = np.full(x.shape, 7.0, dtype=np.float32)
    kw = {"label_smoothing": 0.3, "smoothing": "others"}
    g = kernels.softmax_terms_grad(x, y, row_scale=0.25, out=out, **kw)
    assert g is out
    close(g, ref_grad(x, y, 0.25, eps=0.3, smoothing="others"), np.float32)
    assert (g[0] == 0).all()
    _, _, g2 = kernels.softmax_terms_and_grad(x, y, row_scale=0.25, out=out, **kw)
    assert g2 is out
    for bad in (
        np.empty((12, 9), dtype=np.float64),
        np.empty((9, 12), dtype=np.float32).T,
        np.empty((12, 8), dtype=np.float32),
    ):
        with pytest.raises(ValueError, match="`out`"):
            kernels.softmax_terms_grad(x, y, row_scale=1.0, out=bad)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(10)
    base = rng.standard_normal((30, 50)).astype(np.float32)
    y_all = rng.integers(0, 50, 60)
    views = {
        "transposed": (np.ascontiguousarray(base.T).T, y_all[:30]),
        "step rows": (base[::2], y_all[::4][:15]),
        "step cols": (base[:, ::2], y_all[:30] % 25),
        "offset": (base[3:20, 5:], y_all[10:27] % 45),
        "reversed": (base[::-1], y_all[30:]),
    }
    for name, (x, y) in views.items():
        loss, wsum = kernels.softmax_terms(x, y)
        rl, rw = ref_terms(x, y)
        close(loss, rl, np.float32)
        g = kernels.softmax_terms_grad(x, y, row_scale=1.0)
        close(g, ref_grad(x, y, 1.0), np.float32)
        lb, _ = kernels.blocked_softmax_terms(x, y)
        close(lb, rl, np.float32), name


def test_inputs_not_written():
    rng = np.random.default_rng(11)
    x, y = make(rng, 20, 30, np.float32)
    x[2, 3] = np.nan
    ysoft = rng.random((20, 30)).astype(np.float32)
    w, s = rng.random(30), rng.random(20)
    copies = [a.copy() for a in (x, y, ysoft, w, s)]
    kw = {"weight": w, "label_smoothing": 0.1}
    kernels.softmax_terms(x, y, sample_weight=s, **kw)
    kernels.softmax_terms_grad(x, y, row_scale=s, **kw)
    kernels.softmax_terms_and_grad(x, ysoft, row_scale=s, sample_weight=s, **kw)
    kernels.blocked_softmax_terms(x, ysoft, sample_weight=s, **kw)
    for a, b in zip((x, y, ysoft, w, s), copies, strict=True):
        assert a.tobytes() == b.tobytes()


def test_thread_count_invariance():
    rng = np.random.default_rng(12)
    x, y = make(rng, 200, 3000, np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = kernels.softmax_terms_and_grad(x, y, row_scale=0.5)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = kernels.softmax_terms_and_grad(x, y, row_scale=0.5)
    finally:
        numba.set_num_threads(before)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def test_float16_is_computed_in_float32():
    rng = np.random.default_rng(13)
    x, y = make(rng, 10, 6, np.float16)
    loss, _ = kernels.softmax_terms(x, y)
    assert loss.dtype == np.float32
    close(loss, ref_terms(x, y)[0], np.float32)


def test_argument_errors():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="smoothing"):
        kernels.softmax_terms(x, np.zeros(3, dtype=int), smoothing="fair")
    with pytest.raises(ValueError, match="`label_smoothing`"):
        kernels.blocked_softmax_terms(x, np.zeros(3, dtype=int), label_smoothing=1.5)
    with pytest.raises(ValueError, match="2 classes"):
        kernels.softmax_terms(
            np.zeros((3, 1)), np.zeros(3, dtype=int), label_smoothing=0.1, smoothing="others"
        )
    with pytest.raises(ValueError, match="`target`"):
        kernels.softmax_terms(x, np.zeros(4, dtype=int))
    with pytest.raises(TypeError, match="`logits`"):
        kernels.softmax_terms(x.astype(int), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="`weight`"):
        kernels.softmax_terms(x, np.zeros(3, dtype=int), weight=np.ones(3))


def test_out_of_range_target_gives_nan():
    loss, _ = kernels.softmax_terms(np.zeros((2, 3)), np.array([3, -1]))
    assert np.isnan(loss).all()


def test_blocked_memory_is_one_block():
    import tracemalloc

    rng = np.random.default_rng(14)
    x, y = make(rng, 4000, 500, np.float32)  # 8 MB of logits
    kernels.blocked_softmax_terms(x, y, block_bytes=1 << 18)
    tracemalloc.start()
    kernels.blocked_softmax_terms(x, y, block_bytes=1 << 18, label_smoothing=0.1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < x.nbytes / 4


# ---------------------------------------------------------------- against the core
@pytest.mark.parametrize("soft", [False, True])
def test_against_core_array_api(soft):
    chain = pytest.importorskip("crossentropy.chain")
    rng = np.random.default_rng(16)
    x, y = make(rng, 50, 11, np.float64, soft=soft, zero_frac=0.3)
    if soft:
        y /= np.maximum(y.sum(axis=1, keepdims=True), 1e-300)
        y[4] = 0
    else:
        y[4] = -100
    weight = rng.random(11) + 0.1
    s = rng.random(50)
    kw = {"weight": weight, "sample_weight": s, "label_smoothing": 0.1}
    ref = chain.loss_terms(x, y, impl="array_api", **kw)
    loss, wsum = kernels.softmax_terms(x, y, **kw)
    np.testing.assert_allclose(loss, np.asarray(ref.loss), rtol=1e-12)
    np.testing.assert_allclose(wsum, np.asarray(ref.weight), rtol=1e-12)
