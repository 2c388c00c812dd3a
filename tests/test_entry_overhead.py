"""The NumPy fast path of ``_rows.prepare_rows`` (integer labels, no weights) equals the general path.

The fast path (issue 14's entry overhead) builds :class:`crossentropy._rows.Rows` with NumPy
directly; these tests turn it off (``_rows._plain_numpy_labels`` → False) and require the same
rows bit for bit, the same public results bit for bit (losses, means, gradients) and the same
error messages, on random labels with ignored rows, out-of-range labels, NaN rows and
all-ignored batches. The general path itself is checked against independent oracles in
tests/test_parity.py; here it is the oracle.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import crossentropy as ce
from crossentropy import _dispatch, _rows, kernels
from crossentropy._rows import prepare_rows

ROW_FIELDS = ("index", "active", "bad", "s", "u", "m")
#: the fused kernel needs numba (the `fast` extra); every other path runs everywhere
IMPLS = ["auto", "blocked", "array_api"] + (["kernel"] if kernels.available() else [])


@contextlib.contextmanager
def general_path():
    """Route every call through the general (array-API) index branch of ``prepare_rows``."""
    saved = _rows._plain_numpy_labels
    _rows._plain_numpy_labels = lambda xp, target: False
    try:
        yield
    finally:
        _rows._plain_numpy_labels = saved


@contextlib.contextmanager
def without_fused_entry():
    """Past the reduction-fused entry (``_dispatch.fused_sums``, which builds no ``Rows``;
    held equal to the general path in tests/test_fused_sums.py), so that ``Rows`` are used."""
    saved = _dispatch._plain
    _dispatch._plain = lambda *args: False
    try:
        yield
    finally:
        _dispatch._plain = saved


def _labels(rng, n, c, *, ignore_index, out_of_range, all_ignored, dtype):
    """Labels in [0, c); ``out_of_range`` or ``all_ignored`` = None: none ignored (the in-range case)."""
    y = rng.integers(0, c, n).astype(dtype)
    if all_ignored and ignore_index is not None:
        y[:] = ignore_index
        return y
    if ignore_index is not None and n and all_ignored is not None:
        y[rng.random(n) < 0.3] = ignore_index
    if out_of_range and n:
        y[rng.integers(0, n)] = c + int(rng.integers(0, 5))
        if np.issubdtype(dtype, np.signedinteger):
            y[rng.integers(0, n)] = -int(rng.integers(1, 50))
    return y


def _same(a, b):
    """Bit for bit: same dtype, same shape, same bytes (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def _outcome(fn, *args, **kwargs):
    """(result, None, warnings) or (None, (exception type, message), warnings) of ``fn(*args, **kwargs)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            return None, (type(exc), str(exc)), [str(w.message) for w in caught]
    return out, None, [str(w.message) for w in caught]


CASES = [
    # (n, c, dtype of labels, ignore_index, out_of_range, all_ignored: None = no row ignored)
    (64, 5, np.int64, -100, False, False),
    (64, 5, np.int64, -100, True, False),
    (33, 7, np.int32, 3, False, False),  # ignore_index is a class
    (33, 7, np.int32, None, True, False),
    (40, 4, np.uint8, 255, True, False),
    (40, 4, np.uint64, None, True, False),
    (17, 3, np.int16, -1, False, True),  # every row ignored
    (0, 3, np.int64, -100, False, False),  # empty batch
    (50, 9, np.int8, -100, False, False),
    # every label a class (no ignored row): the min/max shortcut
    (64, 5, np.int64, -100, False, None),
    (64, 5, np.uint16, None, False, None),
    (30, 6, np.int32, 2, False, None),  # ignore_index a class: the masks are computed
    (1, 1, np.int64, -100, False, None),
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("validate", [True, False])
def test_rows_bit_identical(case, validate, seed):
    n, c, dtype, ignore_index, out_of_range, all_ignored = case
    rng = np.random.default_rng(seed)
    y = _labels(
        rng, n, c, ignore_index=ignore_index, out_of_range=out_of_range,
        all_ignored=all_ignored, dtype=dtype,
    )  # fmt: skip
    for fdtype in (np.float32, np.float64):
        kw = dict(
            num_classes=c, batch_shape=(n,), dtype=fdtype, ignore_index=ignore_index,
            validate=validate, soft=False, rescale=True,
        )  # fmt: skip
        fast = _outcome(prepare_rows, np, y, **kw)
        with general_path():
            slow = _outcome(prepare_rows, np, y, **kw)
        assert fast[1] == slow[1]  # the same error, word for word (or none)
        assert fast[2] == slow[2]
        if fast[0] is None:
            continue
        for f in ROW_FIELDS:
            _same(getattr(fast[0], f), getattr(slow[0], f))
        for by in ("weight", "count"):
            _same(fast[0].divisor_weights(by), slow[0].divisor_weights(by))
        _same(fast[0].coefficients(), slow[0].coefficients())
        assert fast[0].scales("loss") == slow[0].scales("loss") == ()


def test_rows_do_not_alias_labels():
    y = np.array([0, 1, 2], dtype=np.int64)
    r = prepare_rows(np, y, num_classes=3, dtype=np.float64, soft=False)
    r.index[0] = 2
    assert y[0] == 0


def _public(x, y, impl, ignore_index, validate, reduction, empty, buf):
    common = dict(ignore_index=ignore_index, validate=validate, impl=impl)
    loss = ce.cross_entropy(x, y, reduction=reduction, empty=empty, **common)
    total = ce.nll(x, y, **common)
    value, g = ce.cross_entropy_grad(
        x, y, reduction=reduction, empty=empty, return_loss=True, out=buf, **common
    )
    return loss, total, value, np.array(g)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("case", [c for c in CASES if c[0] > 0])
def test_public_results_bit_identical(case, impl, seed):
    """cross_entropy, nll and cross_entropy_grad(return_loss=True, out=) with and without the fast path."""
    n, c, dtype, ignore_index, out_of_range, all_ignored = case
    rng = np.random.default_rng(100 + seed)
    y = _labels(
        rng, n, c, ignore_index=ignore_index, out_of_range=out_of_range,
        all_ignored=all_ignored, dtype=dtype,
    )  # fmt: skip
    for fdtype in (np.float32, np.float64):
        x = rng.standard_normal((n, c)).astype(fdtype) * 3
        if n > 2:
            x[1] = np.nan  # a NaN row: NaN loss wherever it counts, in both paths
        for validate in (True, False):
            for reduction, empty in (
                ("mean", "nan"),
                ("mean", "zero"),
                ("sum", "nan"),
                ("none", "nan"),
            ):
                args = (x, y, impl, ignore_index, validate, reduction, empty)
                with without_fused_entry():
                    fast = _outcome(_public, *args, np.empty_like(x))
                    with general_path():
                        slow = _outcome(_public, *args, np.empty_like(x))
                assert fast[1] == slow[1]
                assert fast[2] == slow[2]
                if fast[0] is not None:
                    for a, b in zip(fast[0], slow[0], strict=True):
                        _same(a, b)


def test_out_of_range_message_names_the_label():
    """The fast path's error for an out-of-range label is the general path's message."""
    x = np.zeros((4, 3), dtype=np.float32)
    y = np.array([0, 1, 7, 2])
    with pytest.raises(
        ValueError, match=r"class indices must be in \[0, 2\].*at index 2 \(value 7\)"
    ):
        ce.cross_entropy(x, y)


def test_large_call_matches_float64_reference():
    """A kernel-sized call (2^18 elements) through the fast path against a float64 NumPy reference."""
    rng = np.random.default_rng(7)
    n, c = 2048, 128
    x = rng.standard_normal((n, c)).astype(np.float32)
    y = rng.integers(0, c, n)
    y[::5] = -100
    x64 = x.astype(np.float64)
    lse = np.log(np.exp(x64 - x64.max(1, keepdims=True)).sum(1)) + x64.max(1)
    keep = y != -100
    ref = np.mean(lse[keep] - x64[keep, y[keep]])
    np.testing.assert_allclose(float(ce.cross_entropy(x, y)), ref, rtol=1e-5, atol=1e-6)
    value, g = ce.cross_entropy_grad(x, y, return_loss=True, out=np.empty_like(x))
    np.testing.assert_allclose(float(value), ref, rtol=1e-5, atol=1e-6)
    q = np.exp(x64 - lse[:, None])
    q[np.arange(n)[keep], y[keep]] -= 1
    q[~keep] = 0
    np.testing.assert_allclose(g, q / keep.sum(), rtol=1e-5, atol=1e-6)
