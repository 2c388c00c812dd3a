"""The reduction-fused kernel entry (``_dispatch.fused_sums``) equals the general path.

``cross_entropy``, ``nll`` and ``cross_entropy_grad(return_loss=True)`` on plain calls (NumPy
logits, int32/int64 labels, no weights) take one compiled pass that returns ``Σℓ`` and ``Σw``
(issue 14). The general path (``prepare`` → ``Rows`` → per-row terms → one reduction), itself
checked against independent oracles in tests/test_parity.py, is the oracle here: the fused
path is turned off (``_dispatch._plain`` → False) and the results must agree within the
tolerance policy (fp64 rtol 1e-12; fp32 rtol 1e-5, atol 1e-6; a gradient's entries also within
rtol × its largest entry or 1/N, as ``A q − a`` cancels), with the same result type,
the same NaN, the same error messages and the same warnings. Rows far below their block's
maximum, NaN and ``-inf`` logits, ignored, all-ignored and out-of-range labels are included;
one case is also checked against a float64 NumPy formula.
"""

from __future__ import annotations

import contextlib
import warnings
import zlib

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import _dispatch, kernels
from crossentropy._options import LossOptions, ReductionOptions

pytestmark = pytest.mark.skipif(not kernels.available(), reason="the fused kernels need numba")

TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 0.0}}


@contextlib.contextmanager
def general():
    """Every call through the general path (the fused entry turned off)."""
    saved = _dispatch._plain
    _dispatch._plain = lambda *args: False
    try:
        yield
    finally:
        _dispatch._plain = saved


def _outcome(fn, *args, **kwargs):
    """(result, error as (type, message) or None, warning messages)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            return None, (type(exc), str(exc)), [str(w.message) for w in caught]
    return out, None, [str(w.message) for w in caught]


def _logits(rng, n, c, dtype, *, nan_row, far_row, shift):
    x = rng.standard_normal((n, c)) * 3 + shift
    if n > 3:
        x[1, : max(1, c // 2)] = -np.inf  # a row with -inf entries
        if far_row:
            x[2] -= 200.0  # far below the block's maximum: the per-row fallback
        if nan_row:
            x[3, 0] = np.nan
    return x.astype(dtype)


def _labels(rng, n, c, dtype, ignore_index, case):
    y = rng.integers(0, c, n)
    if case in ("ignored", "bad") and ignore_index is not None:
        y[rng.random(n) < 0.3] = ignore_index
    if case == "all_ignored" and ignore_index is not None:
        y[:] = ignore_index
    if case == "bad":
        y[n // 2] = c + 3
    return y.astype(dtype)


def _close(a, b, dtype):
    """Same type, dtype and shape; NaN where NaN; values within the dtype's tolerance."""
    assert type(a) is type(b)
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    tol = dict(TOL[dtype])
    if b.ndim:  # a gradient: entries that cancel (A q − a) are compared at the gradient's scale,
        finite = np.abs(b[np.isfinite(b)])  # its largest entry, at least 1/N (|q − y'| / Σw ≤ 1/Σw)
        top = max(float(finite.max()) if finite.size else 0.0, 1.0 / len(b))
        tol["atol"] = max(tol["atol"], tol["rtol"] * top)
    np.testing.assert_allclose(a, b, equal_nan=True, **tol)


def _calls(x, y, *, impl, ignore_index, validate, reduction, empty, eps, smoothing):
    common = dict(
        ignore_index=ignore_index, validate=validate, impl=impl, label_smoothing=eps,
        smoothing=smoothing,
    )  # fmt: skip
    value = ce.cross_entropy(x, y, reduction=reduction, empty=empty, **common)
    bits = ce.nll(x, y, base=2, **common)
    loss, g = ce.cross_entropy_grad(
        x, y, reduction=reduction, empty=empty, return_loss=True, out=np.empty_like(x), **common
    )
    fresh = ce.cross_entropy_grad(x, y, reduction=reduction, empty=empty, **common)
    return value, bits, loss, g, fresh


SHAPES = [(300, 10), (40, 100), (5, 1)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["plain", "ignored", "all_ignored", "bad"])
@pytest.mark.parametrize(
    ("ignore_index", "ydtype"), [(-100, np.int64), (None, np.int64), (2, np.int32)]
)
def test_fused_equals_general(shape, dtype, ydtype, case, ignore_index):
    n, c = shape
    rng = np.random.default_rng(zlib.crc32(repr((shape, dtype, case, ignore_index)).encode()))
    y = _labels(rng, n, c, ydtype, ignore_index, case)
    reductions = [("mean", "nan"), ("sum", "nan")]
    if case == "all_ignored":
        reductions.append(("mean", "zero"))
    for nan_row, far_row, shift in ((False, True, 0.0), (True, False, 1e4)):
        x = _logits(rng, n, c, dtype, nan_row=nan_row, far_row=far_row, shift=shift)
        for validate in (True, False):
            for reduction, empty in reductions:
                for eps, smoothing in ((0.0, "uniform"), (0.2, "others")):
                    if c < 2 and smoothing == "others":
                        continue
                    kw = dict(
                        impl="kernel", ignore_index=ignore_index, validate=validate,
                        reduction=reduction, empty=empty, eps=eps, smoothing=smoothing,
                    )  # fmt: skip
                    fast = _outcome(_calls, x, y, **kw)
                    with general():
                        slow = _outcome(_calls, x, y, **kw)
                    assert fast[1] == slow[1]  # the same error, word for word (or none)
                    assert fast[2] == slow[2]  # the same warnings
                    if fast[0] is not None:
                        for a, b in zip(fast[0], slow[0], strict=True):
                            _close(a, b, dtype)


def test_plain_calls_take_the_fused_path():
    """The dispatch: plain calls give sums; anything else (weights, 'none', floats labels…) None."""
    x = np.zeros((8, 4), dtype=np.float32)
    y = np.arange(8) % 4
    opts, red = LossOptions(impl="kernel"), ReductionOptions("mean")
    assert _dispatch.fused_sums(x, y, opts, red) is not None
    assert _dispatch.fused_sums(x, y.astype(np.int32), opts, red) is not None
    assert _dispatch.fused_sums(x, y, opts, red, weight=np.ones(4)) is None
    assert _dispatch.fused_sums(x, y, opts, red, sample_weight=np.ones(8)) is None
    assert _dispatch.fused_sums(x, y, opts, ReductionOptions("none")) is None
    assert _dispatch.fused_sums(x, y, opts, ReductionOptions(normalizer=3.0)) is None
    assert _dispatch.fused_sums(x, y.astype(np.float64), opts, red) is None
    assert _dispatch.fused_sums(x, y.astype(np.int16), opts, red) is None
    assert _dispatch.fused_sums(np.asfortranarray(x), y, opts, red) is None
    assert _dispatch.fused_sums(x, y, LossOptions(impl="blocked"), red) is None
    assert _dispatch.fused_sums(x, y, LossOptions(kind="probs"), red) is None
    assert _dispatch.fused_sums(x, y, LossOptions(), red) is None  # auto: below 2^18 elements
    big = np.zeros((1 << 15, 8), dtype=np.float32)
    assert _dispatch.fused_sums(big, np.zeros(1 << 15, dtype=np.int64), LossOptions(), red)
    # an out= the kernel cannot write into goes to the general path (which says why)
    grad = dict(grad=True, out=np.empty((4, 8), dtype=np.float32).T)
    assert _dispatch.fused_sums(x, y, opts, red, **grad) is None


def test_batch_axes_and_out_errors_unchanged():
    """(B, T, C) logits flatten; a wrong ``out=`` raises the general path's message."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 10)).astype(np.float32)
    y = rng.integers(0, 10, (4, 6))
    fast = ce.cross_entropy(x, y, impl="kernel")
    with general():
        slow = ce.cross_entropy(x, y, impl="kernel")
    _close(fast, slow, np.float32)
    with pytest.raises(ValueError, match="`out` cannot hold the gradient: shape"):
        ce.cross_entropy_grad(x, y, impl="kernel", out=np.empty((4, 6), dtype=np.float32))


def test_short_rows_match_float64_formula():
    """C = 10 (the block-shift path) against a float64 NumPy reference, with a far row and ignored rows."""
    rng = np.random.default_rng(11)
    n, c = 5000, 10
    x = (rng.standard_normal((n, c)) * 4).astype(np.float32)
    x[::97] -= 300.0  # rows whose maximum is far below their block's
    y = rng.integers(0, c, n)
    y[::7] = -100
    x64 = x.astype(np.float64)
    m = x64.max(1, keepdims=True)
    lse = (m + np.log(np.exp(x64 - m).sum(1, keepdims=True)))[:, 0]
    keep = y != -100
    ref = np.mean(lse[keep] - x64[keep, y[keep]])
    np.testing.assert_allclose(float(ce.cross_entropy(x, y, impl="kernel")), ref, rtol=1e-5)
    value, g = ce.cross_entropy_grad(x, y, impl="kernel", return_loss=True)
    np.testing.assert_allclose(float(value), ref, rtol=1e-5)
    q = np.exp(x64 - lse[:, None])
    q[np.arange(n)[keep], y[keep]] -= 1
    q[~keep] = 0
    np.testing.assert_allclose(g, q / keep.sum(), rtol=1e-5, atol=1e-9)
