"""Dask arrays through the main API: lazy results, no compute during the call, equal to NumPy.

docs/semantics.md §4 (validation under tracing and lazy arrays). Oracles: the same functions on
the NumPy arrays the Dask arrays are made of (float64, rtol 1e-12), and for ``evaluate`` the
Dask engine (``crossentropy.dask.evaluate``) on the same arrays.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

import crossentropy as ce  # noqa: E402

from oracles import assert_close  # noqa: E402

RNG = np.random.default_rng(3)
N, C = 11, 5
ROWS = ((4, 5, 2),)  # uneven chunks
X = RNG.normal(size=(N, C)) * 2
Y = RNG.integers(0, C, N)
Y[3] = -100
SOFT = RNG.dirichlet(np.ones(C), N)
W = RNG.uniform(0.5, 2.0, C)
SW = RNG.uniform(0.0, 2.0, N)
YB = (RNG.uniform(size=(N, C)) > 0.5).astype(np.int64)
P = np.exp(X) / np.exp(X).sum(axis=1, keepdims=True)


def _lazy(a):
    """A Dask array of ``a``: uneven row chunks for per-example arrays, one chunk for classes."""
    if a.shape[0] != N:
        return da.from_array(a, chunks=a.shape)
    return da.from_array(a, chunks=ROWS + ((a.shape[1],) if a.ndim == 2 else ()))


def _computing_raises(*args, **kwargs):
    raise AssertionError("a Dask graph was computed during the call")


#: name -> f(x, y, soft, w, sw, yb, p): the same call on NumPy and on Dask arrays
CALLS = {
    "cross_entropy": lambda x, y, s, w, sw, yb, p: ce.cross_entropy(x, y),
    "cross_entropy weighted": lambda x, y, s, w, sw, yb, p: ce.cross_entropy(
        x, y, weight=w, sample_weight=sw, label_smoothing=0.1
    ),
    "cross_entropy soft": lambda x, y, s, w, sw, yb, p: ce.cross_entropy(x, s, weight=w),
    "cross_entropy probs": lambda x, y, s, w, sw, yb, p: ce.cross_entropy(p, y, kind="probs"),
    "nll": lambda x, y, s, w, sw, yb, p: ce.nll(x, y, weight=w),
    "nll none": lambda x, y, s, w, sw, yb, p: ce.nll(x, y, reduction="none", sample_weight=sw),
    "log_likelihood": lambda x, y, s, w, sw, yb, p: ce.log_likelihood(x, y),
    "perplexity": lambda x, y, s, w, sw, yb, p: ce.perplexity(x, y, weight=w),
    "perplexity none": lambda x, y, s, w, sw, yb, p: ce.perplexity(x, y, reduction="none"),
    "log_prob": lambda x, y, s, w, sw, yb, p: ce.log_prob(x, y),
    "binary_cross_entropy": lambda x, y, s, w, sw, yb, p: ce.binary_cross_entropy(
        x, yb, weight=w, sample_weight=sw
    ),
    "entropy": lambda x, y, s, w, sw, yb, p: ce.entropy(s),
    "kl_divergence": lambda x, y, s, w, sw, yb, p: ce.kl_divergence(x, s, sample_weight=sw),
    "cross_entropy_grad": lambda x, y, s, w, sw, yb, p: ce.cross_entropy_grad(x, y, weight=w),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_top_level_functions_on_dask_arrays_are_lazy_and_equal_numpy(name):
    fn = CALLS[name]
    arrays = (X, Y, SOFT, W, SW, YB, P)
    expected = fn(*arrays)
    lazy = tuple(_lazy(a) for a in arrays)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dask.config.set(scheduler=_computing_raises):
            out = fn(*lazy)
    assert not caught, [str(w.message) for w in caught]
    assert isinstance(out, da.Array)
    assert_close(out.compute(scheduler="sync"), expected)


def test_class_weights_may_be_dask_arrays_too():
    with dask.config.set(scheduler=_computing_raises):
        out = ce.cross_entropy(_lazy(X), _lazy(Y), weight=da.from_array(W, chunks=2))
    assert_close(out.compute(scheduler="sync"), ce.cross_entropy(X, Y, weight=W))


def test_a_label_that_is_not_a_class_is_a_nan_row_on_dask():
    y = Y.copy()
    y[5] = 9  # the values are not read during the call: the documented NaN row (§4)
    out = ce.cross_entropy(_lazy(X), _lazy(y), reduction="none").compute(scheduler="sync")
    expected = ce.cross_entropy(X, y, reduction="none", validate=False)
    assert np.isnan(out[5])
    assert_close(out, expected)


def test_evaluate_on_dask_arrays_equals_the_dask_engines_report():
    ced = pytest.importorskip("crossentropy.dask")
    local = ce.evaluate(_lazy(X), _lazy(Y))
    engine = ced.evaluate(_lazy(X), _lazy(Y))
    for field in ("cross_entropy", "perplexity", "nll", "accuracy", "brier", "n_rows", "n_valid"):
        a, b = getattr(local, field, None), getattr(engine, field, None)
        assert a is not None
        assert_close(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    assert_close(local.cross_entropy, ce.cross_entropy(X, Y))
