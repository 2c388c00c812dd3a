"""crossentropy.dask: lazy losses equal the core, evaluate equals in-memory evaluate, files and CLI on a cluster.

Oracles: the core functions and ``crossentropy.evaluate`` on the same data in memory (NumPy float64),
and the single-process command line for the file engine.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import crossentropy as ce  # noqa: E402
import crossentropy.dask as ced  # noqa: E402
from crossentropy import cli  # noqa: E402

RTOL = 1e-12


# ----------------------------------------------------------------------------- helpers
def random_chunks(rng, n: int, k: int, *, empty: bool = True) -> tuple[int, ...]:
    """k chunk sizes summing to n, uneven, some empty when ``empty``."""
    cuts = np.sort(rng.integers(0, n + 1, k - 1))
    sizes = np.diff(np.concatenate([[0], cuts, [n]])).tolist()
    if not empty:
        sizes = [s for s in sizes if s > 0] or [n]
    return tuple(int(s) for s in sizes)


def close(a, b, rtol=RTOL, path="") -> None:
    """Recursive equality: floats to ``rtol`` (NaN == NaN, inf == inf), everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            close(a[k], b[k], rtol, f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: length {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, rtol, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(b, bool):
        assert isinstance(b, (float, int)), f"{path}: {a!r} vs {b!r}"
        if math.isnan(a):
            assert math.isnan(b), f"{path}: {a} vs {b}"
        elif math.isinf(a) or a == 0:
            assert a == b, f"{path}: {a} vs {b}"
        else:
            assert abs(a - b) <= rtol * abs(a), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def data(rng, n=600, C=5, *, ignore=0.1):
    y = rng.integers(0, C, n)
    x = rng.normal(size=(n, C)) * 2
    x[np.arange(n), y] += 1.0
    y[rng.random(n) < ignore] = -100
    return x, y


# ----------------------------------------------------------------------------- lazy losses
CASES = {
    "plain": {},
    "weights+smoothing": {
        "weight": np.array([0.5, 1.0, 2.0, 0.0, 1.5]),
        "label_smoothing": 0.1,
        "sample_weight": True,
    },
    "others": {"label_smoothing": 0.2, "smoothing": "others"},
    "probs": {"kind": "probs"},
    "log_probs": {"kind": "log_probs"},
}


@pytest.mark.parametrize("case", list(CASES))
def test_lazy_chain_equals_core_on_random_chunks(case):
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x, y = data(rng)
    opts = dict(CASES[case])
    if opts.pop("sample_weight", False):
        opts["sample_weight"] = rng.random(len(y)) * 2
    if opts.get("kind") == "probs":
        x = np.exp(ce.special.log_softmax(x))
    elif opts.get("kind") == "log_probs":
        x = ce.special.log_softmax(x)
    rows = random_chunks(rng, len(y), 6)
    X = da.from_array(x, chunks=(rows, (2, 3)))  # the class axis split on purpose: rechunked
    Y = da.from_array(y, chunks=random_chunks(rng, len(y), 4))
    dopts = dict(opts)
    if "sample_weight" in dopts:
        dopts["sample_weight"] = da.from_array(
            opts["sample_weight"], chunks=random_chunks(rng, len(y), 3)
        )
    for fn in ("cross_entropy", "nll", "log_likelihood", "likelihood"):
        for red in ("mean", "sum", "none"):
            got = getattr(ced, fn)(X, Y, reduction=red, **dopts)
            assert isinstance(got, da.Array) and got.ndim == (1 if red == "none" else 0)
            want = getattr(ce, fn)(x, y, reduction=red, **opts)
            np.testing.assert_allclose(got.compute(), want, rtol=RTOL, err_msg=f"{fn} {red}")
    for red in ("mean", "none"):
        np.testing.assert_allclose(
            ced.perplexity(X, Y, reduction=red, **dopts).compute(),
            ce.perplexity(x, y, reduction=red, **opts),
            rtol=RTOL,
        )
    np.testing.assert_allclose(
        ced.cross_entropy(X, Y, base=2, **dopts).compute(),
        ce.cross_entropy(x, y, base=2, **opts),
        rtol=RTOL,
    )
    lp_opts = {k: v for k, v in opts.items() if k not in ("weight", "sample_weight")}
    np.testing.assert_allclose(
        ced.log_prob(X, Y, **lp_opts).compute(), ce.log_prob(x, y, **lp_opts), rtol=RTOL
    )
    t = ced.loss_terms(X, Y, **dopts)
    t0 = ce.chain.loss_terms(x, y, **opts)
    np.testing.assert_allclose(t.loss.compute(), t0.loss, rtol=RTOL)
    np.testing.assert_array_equal(t.weight.compute(), t0.weight)


@pytest.mark.filterwarnings("ignore::crossentropy.NotNormalizedWarning")  # masses ≠ 1 on purpose
def test_soft_targets_kdim_count_divisor_and_float32():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4, 7))  # (N, C, d) with axis=1, PyTorch's layout
    y = rng.random((6, 4, 7))
    y[1, :, 2] = 0  # an all-zero target row: masked
    w = np.array([1.0, 2.0, 0.5, 0.0])
    X = da.from_array(x, chunks=(4, 2, 3))
    Y = da.from_array(y, chunks=(3, 4, 7))
    for red in ("mean", "sum", "none"):
        for div in ("weight", "count"):
            got = ced.cross_entropy(X, Y, axis=1, weight=w, reduction=red, divide_by=div).compute()
            want = ce.cross_entropy(x, y, axis=1, weight=w, reduction=red, divide_by=div)
            np.testing.assert_allclose(got, want, rtol=RTOL)
    # float32 stays float32; the float64 block sums are at least as accurate as the core's
    x32 = x.astype(np.float32)
    got = ced.cross_entropy(da.from_array(x32, chunks=(2, 4, 7)), y.astype(np.float32), axis=1)
    assert got.dtype == np.float32
    want = ce.cross_entropy(x32, y.astype(np.float32), axis=1)
    assert got.compute().dtype == np.float32
    np.testing.assert_allclose(got.compute(), want, rtol=1e-5, atol=1e-6)
    # float16 is computed in float32 (docs/semantics.md §6)
    assert (
        ced.cross_entropy(da.from_array(x.astype(np.float16)), y.astype(np.float16), axis=1).dtype
        == np.float32
    )


@pytest.mark.parametrize(
    "scale, dtype",
    [
        (1e308, np.float64),  # Σw overflows at the caller's scale
        (2.0**1023, np.float64),
        (5e-324, np.float64),  # the smallest subnormal: one digit
        (1e-320, np.float64),
        (1e-50, np.float32),  # float64 weights that are 0 in float32
        (1e300, np.float32),  # ... and inf in float32
    ],
)
@pytest.mark.parametrize("which", ["weight", "sample_weight", "both"])
def test_lazy_means_with_extreme_weights_equal_the_core(scale, dtype, which):
    # docs/semantics.md §4: a mean does not depend on the weights' common scale. Every lazy
    # reduction gives the core's number on the same arrays, and the core's cross-entropy is
    # the one of the same weights at scale 1 (the independent check).
    rng = np.random.default_rng(17)
    x, y = data(rng, n=40, C=4)
    y[:7] = -100  # the first block is all masked: its sums are 0 at no particular scale
    x = x.astype(dtype)
    big = scale >= 1  # bases whose products with the scale are exact and non-zero
    cw = np.array([1.0, 0.5, 0.25, 0.75]) if big else np.array([1.0, 2.0, 4.0, 3.0])
    sw = 2.0 ** rng.integers(-2, 1, 40) if big else 2.0 ** rng.integers(0, 3, 40)

    def kw(f: float) -> dict:
        out = {}
        if which in ("weight", "both"):
            out["weight"] = cw * f
        if which in ("sample_weight", "both"):
            out["sample_weight"] = sw * f
        return out

    X = da.from_array(x, chunks=((7, 0, 13, 20), (4,)))
    tol = {np.float64: dict(rtol=RTOL), np.float32: dict(rtol=1e-5, atol=1e-6)}[dtype]
    runs = {
        "cross_entropy": dict(),
        "cross_entropy count": dict(divide_by="count"),
        "cross_entropy smoothed": dict(label_smoothing=0.1),
        "nll": dict(reduction="mean"),
        "log_likelihood": dict(reduction="mean"),
        "likelihood": dict(reduction="mean"),
        "perplexity": dict(),
        "perplexity none": dict(reduction="none"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or empty-mean warning either
        for label, opts in runs.items():
            name = label.split()[0]
            got = getattr(ced, name)(X, y, **opts, **kw(scale)).compute()
            want = getattr(ce, name)(x, y, **opts, **kw(scale))
            assert got.dtype == dtype, label
            np.testing.assert_allclose(got, want, equal_nan=True, err_msg=label, **tol)
        plain = ce.cross_entropy(x, y, **kw(1.0))
        got = ced.cross_entropy(X, y, **kw(scale)).compute()
        np.testing.assert_allclose(got, plain, **tol)


def test_lazy_graph_computes_nothing_until_compute():
    calls = []

    def produce(block):
        if block.size:  # dask calls it on 0-size arrays to infer the output type
            calls.append(1)
        return block

    X = (
        da.random.default_rng(0)
        .normal(size=(100, 3), chunks=(25, 3))
        .map_blocks(produce, dtype=float)
    )
    Y = da.zeros(100, dtype=int, chunks=50)
    r = ced.cross_entropy(X, Y)
    n = ced.cross_entropy(X, Y, reduction="none")
    assert calls == [] and isinstance(r, da.Array) and r.shape == () and n.shape == (100,)
    r.compute()
    assert len(calls) == 4


def test_empty_and_all_masked_follow_semantics_at_compute_time():
    x = da.zeros((10, 3), chunks=(4, 3))
    y = np.full(10, -100)
    lazy = ced.cross_entropy(x, y)  # no warning yet
    with pytest.warns(ce.EmptyReductionWarning, match="all 10 examples are masked"):
        assert math.isnan(float(lazy.compute()))
    assert float(ced.cross_entropy(x, y, empty="zero").compute()) == 0.0
    assert float(ced.nll(x, y).compute()) == 0.0
    lazy = ced.cross_entropy(x, y, empty="raise")
    with pytest.raises(ValueError, match="empty='raise'"):
        lazy.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = ced.cross_entropy(da.zeros((0, 3), chunks=(1, 3)), np.zeros(0, dtype=int), empty="zero")
        assert float(z.compute()) == 0.0


def test_bad_input_errors_name_the_block():
    x = da.zeros((9, 4), chunks=(3, 4))
    y = np.array([0, 1, 2, 3, 0, 1, 2, 7, 0])
    lazy = ced.cross_entropy(x, y)  # values are checked when the blocks run
    with pytest.raises(ValueError, match=r"dask block \(2,\) \(elements 6–8") as e:
        lazy.compute()
    assert "7" in str(e.value)
    with pytest.raises(ValueError, match="kind='auto'"):
        ced.cross_entropy(x, y, kind="auto")
    with pytest.raises(TypeError, match="bool"):
        ced.cross_entropy(x, np.zeros(9, dtype=bool))
    with pytest.raises(ValueError, match="shape"):
        ced.cross_entropy(x, np.zeros(8, dtype=int))
    with pytest.raises(TypeError, match="floating"):
        ced.cross_entropy(da.zeros((3, 2), dtype=int), np.zeros(3, dtype=int))


def test_binary_cross_entropy_equals_core():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3, 6)) * 3
    y = (rng.random((40, 3, 6)) < 0.4).astype(int)
    y[rng.random((40, 3, 6)) < 0.1] = -1
    opts = dict(
        pos_weight=rng.random(6) * 2,
        weight=rng.random((3, 6)),
        sample_weight=rng.random(40),
        ignore_index=-1,
        label_smoothing=0.1,
        focal_gamma=2.0,
    )
    X = da.from_array(x, chunks=(random_chunks(rng, 40, 4), 2, 3))
    for red in ("mean", "sum", "none"):
        got = ced.binary_cross_entropy(X, y, reduction=red, **opts)
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(
            got.compute(), ce.binary_cross_entropy(x, y, reduction=red, **opts), rtol=RTOL
        )
    p = 1 / (1 + np.exp(-x))
    soft = rng.random(x.shape)
    np.testing.assert_allclose(
        ced.binary_cross_entropy(
            da.from_array(p, chunks=(7, 3, 6)), soft, kind="probs", base=2
        ).compute(),
        ce.binary_cross_entropy(p, soft, kind="probs", base=2),
        rtol=RTOL,
    )
    with pytest.raises(ValueError, match="dask block"):
        ced.binary_cross_entropy(X, np.full(x.shape, 2)).compute()
    with pytest.raises(ValueError, match="kind='auto'"):
        ced.binary_cross_entropy(X, y, kind="auto")


def _outcome(fn, *args, **kwargs):
    """(value, (exception class, message) or None, EmptyReductionWarning messages) of ``fn(...)``."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            value, exc = np.asarray(fn(*args, **kwargs)), None
        except (ValueError, TypeError) as e:
            value, exc = None, e
    texts = [str(w.message) for w in rec if issubclass(w.category, ce.EmptyReductionWarning)]
    return value, None if exc is None else (type(exc), str(exc)), texts


def test_out_of_range_label_without_validation_is_nan_like_the_core():
    rng = np.random.default_rng(21)
    x = rng.normal(size=(8, 4))
    y = np.array([0, 1, 7, 2, -100, 3, -5, 1])  # 7 and -5 are out of range, -100 ignored
    X = da.from_array(x, chunks=(3, 4))
    t = ced.loss_terms(X, y, validate=False)
    t0 = ce.loss_terms(x, y, validate=False)
    bad = np.array([False, False, True, False, False, False, True, False])
    loss, w = t.loss.compute(), t.weight.compute()
    assert np.isnan(loss[bad]).all() and np.isnan(w[bad]).all()  # loss AND weight
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(t0.loss))
    np.testing.assert_allclose(loss[~bad], t0.loss[~bad], rtol=RTOL)
    np.testing.assert_array_equal(w, t0.weight)
    for empty in ("nan", "zero", "raise"):  # NaN whatever empty= says
        for red in ("mean", "sum"):
            got = ced.cross_entropy(X, y, validate=False, empty=empty, reduction=red).compute()
            assert math.isnan(float(got)), (empty, red)
            assert math.isnan(
                float(ce.cross_entropy(x, y, validate=False, empty=empty, reduction=red))
            )


def test_empty_reduction_error_and_warning_have_the_core_text():
    cases = {
        "all masked": (np.zeros((5, 3)), np.full(5, -100)),
        "no example": (np.zeros((0, 3)), np.zeros(0, dtype=int)),
    }
    for what, (x, y) in cases.items():
        X = da.from_array(x, chunks=(2, 3))
        for fn in ("cross_entropy", "nll", "perplexity"):
            for empty in ("nan", "zero", "raise"):
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # building neither raises nor warns
                    lazy = getattr(ced, fn)(X, y, empty=empty)
                got = _outcome(lazy.compute)
                want = _outcome(getattr(ce, fn), x, y, empty=empty)
                assert got[1:] == want[1:], (what, fn, empty)
                np.testing.assert_array_equal(got[0], want[0])
    # binary: the same policy and text
    x, y = np.zeros((3, 2)), np.full((3, 2), -1)
    for empty in ("nan", "raise"):
        got = _outcome(ced.binary_cross_entropy(x, y, ignore_index=-1, empty=empty).compute)
        want = _outcome(ce.binary_cross_entropy, x, y, ignore_index=-1, empty=empty)
        assert got[1:] == want[1:] and (got[1] or got[2]), empty


def test_two_lazy_results_computed_together_keep_their_own_data():
    """Graph keys come from the inputs: two calls with different data never share a task."""
    rng = np.random.default_rng(8)
    (x1, y1), (x2, y2) = data(rng, n=50), data(rng, n=50)
    X1, X2 = da.from_array(x1, chunks=(20, 5)), da.from_array(x2, chunks=(20, 5))
    a, b = dask.compute(ced.cross_entropy(X1, y1), ced.cross_entropy(X2, y2))
    np.testing.assert_allclose(
        [a, b], [ce.cross_entropy(x1, y1), ce.cross_entropy(x2, y2)], rtol=RTOL
    )
    a, b = dask.compute(ced.binary_cross_entropy(X1, x1 > 0), ced.binary_cross_entropy(X2, x2 > 0))
    want = [ce.binary_cross_entropy(x1, x1 > 0), ce.binary_cross_entropy(x2, x2 > 0)]
    np.testing.assert_allclose([a, b], want, rtol=RTOL)


def test_lazy_signatures_are_the_core_signatures():
    """Same option names, order, kinds and defaults as the in-memory functions."""
    import inspect

    def params(fn):
        return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]

    for name in ("loss_terms", "log_prob", "nll", "log_likelihood", "likelihood", "cross_entropy"):
        assert params(getattr(ced, name)) == params(getattr(ce, name)), name
    assert params(ced.perplexity) == params(ce.perplexity)
    assert params(ced.binary_cross_entropy) == params(ce.binary_cross_entropy)


# ----------------------------------------------------------------------------- evaluate (arrays)
def test_evaluate_equals_in_memory_for_random_chunkings():
    rng = np.random.default_rng(7)
    x, y = data(rng, n=900, C=6)
    y[300:360] = -100  # a partition of only ignored rows in some chunkings
    s = rng.random(900) * 3
    want = ce.evaluate(x, y, sample_weight=s, bootstrap=30, seed=5, bins=10).to_dict()
    for trial in range(3):
        rows = random_chunks(rng, 900, 2 + 3 * trial)
        if trial == 1:
            rows = (0, 300, 60, 0, 540)  # empty partitions and one of ignored rows only
        got = ced.evaluate(
            da.from_array(x, chunks=(rows, 6)),
            da.from_array(y, chunks=random_chunks(rng, 900, 3)),
            sample_weight=s,
            bootstrap=30,
            seed=5,
            bins=10,
        )
        close(want, got.to_dict())


def test_evaluate_soft_targets_sequences_and_temperature():
    rng = np.random.default_rng(11)
    B, T, V = 12, 9, 5
    x = rng.normal(size=(B, T, V)) * 3
    y = rng.integers(0, V, (B, T))
    y[2, :] = -100  # a sequence with no valid token
    want = ce.evaluate(x, y, sequence_axis=1, bootstrap=20).to_dict()
    got = ced.evaluate(da.from_array(x, chunks=(5, 4, 2)), y, sequence_axis=1, bootstrap=20)
    close(want, got.to_dict())
    p = rng.dirichlet(np.ones(V), size=300)
    x2 = rng.normal(size=(300, V)) * 2
    want = ce.evaluate(x2, p, strategy="quantile").to_dict()
    close(want, ced.evaluate(da.from_array(x2, chunks=(77, V)), p, strategy="quantile").to_dict())
    x3, y3 = data(rng, n=500, C=4, ignore=0.05)
    x3 = x3 * 3  # over-confident: T > 1
    want = ce.evaluate(x3, y3, temperature=True).to_dict()
    got = ced.evaluate(da.from_array(x3, chunks=(123, 4)), y3, temperature=True).to_dict()
    close(
        want, got, rtol=1e-9
    )  # the fit stops at tol 1e-10: sums that differ by rounding may move T by ~1e-12
    assert got["temperature"]["T"] > 1


def test_evaluate_errors_name_the_partition():
    x = da.zeros((30, 3), chunks=(10, 3))
    y = np.zeros(30, dtype=int)
    y[25] = 3
    with pytest.raises(ValueError, match=r"partition 2 of 3 \(units 20–29 on axis 0\)"):
        ced.evaluate(x, y)
    with pytest.raises(ValueError, match="bins"):
        ced.evaluate(x, y, bins=0)


def test_unknown_chunk_sizes_raise_naming_the_argument_and_the_fix():
    # boolean indexing leaves NaN chunk sizes: rows cannot be lined up, so every entry point
    # says which argument and how to fix it (no RuntimeWarning, no negative row offset)
    rng = np.random.default_rng(5)
    x, y = data(rng, n=40, C=3, ignore=0.0)
    X, Y = da.from_array(x, chunks=(10, 3)), da.from_array(y, chunks=10)
    keep = Y != 1
    runs = {
        "pred": lambda: ced.evaluate(X[keep], y[y != 1]),
        "target": lambda: ced.evaluate(X, Y[Y >= 0]),
        "sample_weight": lambda: ced.evaluate(
            X, Y, sample_weight=da.ones(41, chunks=20)[:-1][Y >= 0]
        ),
        "pred ": lambda: ced.cross_entropy(X[keep], y[y != 1]),
        "target ": lambda: ced.binary_cross_entropy(X[:, 0], (Y > 0)[Y >= 0], kind="logits"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, run in runs.items():
            fix = rf"`{name.strip()}` has unknown chunk sizes.*`{name.strip()}\.compute_chunk_sizes\(\)`"
            with pytest.raises(ValueError, match=fix):
                run()
        # the fix works and gives the in-memory report
        got = ced.evaluate(X[keep].compute_chunk_sizes(), Y[keep].compute_chunk_sizes())
    assert got.cross_entropy == pytest.approx(
        ce.evaluate(x[y != 1], y[y != 1]).cross_entropy, rel=RTOL
    )


# ----------------------------------------------------------------------------- files and cluster
N_CLASSES = 4


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Parquet shards: uneven, one empty, one with only ignored labels, a weight column."""
    d = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(2024)
    xs, ys, ws = [], [], []
    for k, n in enumerate([250, 0, 40, 600, 1, 333]):
        x, y = data(rng, n=n, C=N_CLASSES)
        if k == 2:
            y[:] = -100
        w = rng.random(n) + 0.5
        cols = {"y": pa.array(y, type=pa.int64()), "w": w}
        cols.update({f"logit_{j}": x[:, j] for j in range(N_CLASSES)})
        pq.write_table(pa.table(cols), d / f"part-{k:02d}.parquet", row_group_size=128)
        xs.append(x), ys.append(y), ws.append(w)
    files = sorted(str(p) for p in d.glob("*.parquet"))
    return d, files, np.concatenate(xs), np.concatenate(ys), np.concatenate(ws)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_evaluate_files_threaded_equals_in_memory(shards):
    d, files, x, y, w = shards
    want = ce.evaluate(x, y, sample_weight=w, bootstrap=25, seed=3, kind="logits").to_dict()
    with dask.config.set(scheduler="threads"):
        got = ced.evaluate_files(
            str(d / "*.parquet"),
            target="y",
            pred="logit_*",
            weight="w",
            bootstrap=25,
            seed=3,
            kind="logits",
            batch_size=100,
        )
    close(want, got.to_dict() | {"options": want["options"]})  # the report's options: CLI defaults
    assert got.n_rows == len(y) and got.n_ignored == int((y == -100).sum())


def test_file_engine_equals_the_local_engine_counts_included(tmp_path):
    """The Dask file engine is the pipeline's: the same JSON object as the local engine, the
    rejected rows and the zero-probability and clamped cells counted on the workers too."""
    from crossentropy import io, pipeline

    rng = np.random.default_rng(11)
    eps = np.finfo(np.float64).eps
    for k in range(3):
        p = rng.dirichlet(np.ones(3), size=40)
        p[k, :] = [1.0 + 2 * eps, 0.0, 0.0]  # clamped and zero cells
        p[10 + k, :] = [1.5, -0.5, 0.0]  # rejected
        np.savez(tmp_path / f"p{k}.npz", probs=p, target=rng.integers(0, 3, 40))
    opts = pipeline.EvaluateOptions(
        kind="probs", on_invalid="skip", temperature=True, bootstrap=5, batch_size=9
    )
    files = [str(tmp_path / f"p{k}.npz") for k in range(3)]
    local = pipeline.run(opts, pipeline.Source(files, io.Schema()), pipeline.LocalEngine())
    with dask.config.set(scheduler="threads"):
        dist = pipeline.run(opts, pipeline.Source(files, io.Schema()), ced.DaskEngine())
    assert local.counts.neg_inf_cells == 6 and local.counts.clamped_cells == 3
    assert local.counts.rejected == 3
    close(local.to_dict(), dist.to_dict())


def run_cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cluster_evaluate_arrays_and_files_and_cli_json(shards, client, capsys):
    d, files, x, y, w = shards
    # arrays on 2 worker processes
    rng = np.random.default_rng(9)
    X = da.from_array(x, chunks=(random_chunks(rng, len(y), 7), N_CLASSES))
    with client.as_current():
        got = ced.evaluate(X, y, sample_weight=w, bootstrap=25, seed=3)
        lazy = ced.cross_entropy(X, y, sample_weight=w).compute()
    close(ce.evaluate(x, y, sample_weight=w, bootstrap=25, seed=3).to_dict(), got.to_dict())
    np.testing.assert_allclose(lazy, ce.cross_entropy(x, y, sample_weight=w), rtol=RTOL)
    # the command line: --engine dask on the directory == the single-process command on the files
    common = [
        "--target",
        "y",
        "--pred",
        "logit_*",
        "--weight-col",
        "w",
        "--bootstrap",
        "20",
        "--temperature",
        "--batch-size",
        "97",
        "--format",
        "json",
    ]
    code, out, err = run_cli(["evaluate", *files, *common], capsys)
    assert code == 0, err
    local = json.loads(out)
    code, out, err2 = run_cli(
        [
            "evaluate",
            d,
            *common,
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
            "--progress",
        ],
        capsys,
    )
    assert code == 0, err2
    close(
        local, json.loads(out), rtol=1e-9
    )  # stdout is only JSON; temperature: see test_evaluate_soft_...
    assert err.splitlines()[0] == err2.splitlines()[0]  # the same kind decision note
    assert "100% Completed" in err2  # Dask's progress bar, on stderr


def test_cluster_file_errors_and_skip_match_single_process(shards, client, capsys, tmp_path):
    d, files, x, y, w = shards
    rng = np.random.default_rng(1)
    bad = []
    for k in range(3):
        xx, yy = data(rng, n=50, C=N_CLASSES)
        if k == 1:
            yy[[3, 17]] = 9  # out of range
            xx[5, 0] = np.nan
        cols = {"y": yy} | {f"logit_{j}": xx[:, j] for j in range(N_CLASSES)}
        p = tmp_path / f"b{k}.parquet"
        pq.write_table(pa.table(cols), p)
        bad.append(str(p))
    common = ["--target", "y", "--pred", "logit_*", "--kind", "logits", "--format", "json"]
    dask_opts = ["--engine", "dask", "--scheduler", client.scheduler.address]
    code1, out1, err1 = run_cli(["evaluate", *bad, *common], capsys)
    code2, out2, err2 = run_cli(
        ["evaluate", str(tmp_path / "b*.parquet"), *common, *dask_opts], capsys
    )
    assert code1 == code2 == 3
    assert err1 == err2 and "b1.parquet" in err2 and "row" in err2
    code1, out1, err1 = run_cli(["evaluate", *bad, *common, "--on-invalid", "skip"], capsys)
    code2, out2, err2 = run_cli(
        ["evaluate", str(tmp_path / "b*.parquet"), *common, "--on-invalid", "skip", *dask_opts],
        capsys,
    )
    assert code1 == code2 == 0
    a, b = json.loads(out1), json.loads(out2)
    assert (
        b["rows"]["rejected"] == 3
        and b["rows"]["rejected_by_reason"] == a["rows"]["rejected_by_reason"]
    )
    close(a, b)
    # mixed schemas: the same message
    pq.write_table(pa.table({"y": [0], "logit_0": [0.0]}), tmp_path / "b9.parquet")
    code1, _, err1 = run_cli(["evaluate", *bad, str(tmp_path / "b9.parquet"), *common], capsys)
    code2, _, err2 = run_cli(
        ["evaluate", str(tmp_path / "b*.parquet"), *common, *dask_opts], capsys
    )
    assert code1 == code2 != 0 and "b1.parquet" in err2  # the earlier file's bad label comes first
    code1, _, err1 = run_cli(["evaluate", bad[0], str(tmp_path / "b9.parquet"), *common], capsys)
    code2, _, err2 = run_cli(
        ["evaluate", bad[0], str(tmp_path / "b9.parquet"), *common, *dask_opts], capsys
    )
    assert code1 == code2 == 2 and err1 == err2 and "mixed schemas" in err2
    code, _, err = run_cli(["evaluate", *bad, *common, "--workers", "2"], capsys)
    assert code == 2 and "--engine dask" in err


def test_paths_and_client_arguments(tmp_path):
    from crossentropy import io as _io

    with pytest.raises(_io.FileError, match="no file matches"):
        ced.evaluate_files(str(tmp_path / "*.parquet"))
    with pytest.raises(ValueError, match="not both"):
        ced.client_for("tcp://127.0.0.1:1", 2)
    with pytest.raises(TypeError, match="unknown option"):
        ced.evaluate_files(str(tmp_path), bogus=1)


def _slow(block):
    time.sleep(0.15)
    return block


def test_killed_worker_is_recovered_exactly(client):
    rng = np.random.default_rng(5)
    x, y = data(rng, n=2000, C=5)
    X = da.from_array(x, chunks=(80, 5)).map_blocks(
        _slow, dtype=float
    )  # 25 partitions of ~0.15 s, 2 workers
    want = ce.evaluate(x, y, bootstrap=10).to_dict()
    killed = []

    def killer():
        deadline = time.time() + 30
        while time.time() < deadline:
            busy = {w: ts for w, ts in client.processing().items() if ts}
            if busy and sum(len(v) for v in busy.values()) >= 1 and len(killed) == 0:
                victim = sorted(busy)[0]
                try:
                    client.run(os._exit, 1, workers=[victim])
                except Exception:  # noqa: BLE001 - the worker dies before it answers
                    pass
                killed.append(victim)
                return
            time.sleep(0.05)

    th = threading.Thread(target=killer)
    with client.as_current():
        th.start()
        got = ced.evaluate(X, y, bootstrap=10)
    th.join()
    assert killed, "no worker was busy: the test did not kill anything"
    close(want, got.to_dict())


def _worker_numba_threads():
    import os

    import numba

    return os.environ.get("NUMBA_NUM_THREADS"), int(numba.config.NUMBA_NUM_THREADS)


def test_local_cluster_pins_worker_threads_without_touching_this_process(monkeypatch):
    """client_for gives each worker one numba thread, and leaves this process's environment alone.

    (A `pre-spawn-environ` setting is written by the nanny into the parent's os.environ; numba then
    refuses to compile here once its threads run with another count.)
    """
    import os

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    c = ced.client_for(workers=1)
    try:
        assert "NUMBA_NUM_THREADS" not in os.environ
        assert c.submit(_worker_numba_threads, pure=False).result() == ("1", 1)
    finally:
        ced.close_client(c)
    assert "NUMBA_NUM_THREADS" not in os.environ


@pytest.mark.parametrize("scale", [1.0, 1e300, 1e-300])
def test_lazy_normalizer_equals_the_core(scale):
    """``normalizer=`` divides the exactly scaled block sums once (§14), at any weight scale."""
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(9, 4)), rng.integers(0, 4, 9)
    s = rng.uniform(0.5, 2.0, 9) * scale
    want = float(ce.nll(x, y, sample_weight=s)) / (40.0 * scale)  # Σℓ / normalizer, by definition
    for fn in (ced.cross_entropy, ced.nll):
        got = fn(da.from_array(x, chunks=(4, 4)), y, sample_weight=s, reduction="mean",
                 normalizer=40.0 * scale)  # fmt: skip
        assert math.isclose(float(got.compute()), want, rel_tol=1e-12)


# ----------------------------------------------------------------------------- the engine's own client
def _global_scheduler():
    """What decides where an unadorned ``.compute()`` runs: dask's configured scheduler and
    distributed's default client (``None`` when there is none)."""
    try:
        default = distributed.default_client()
    except ValueError:
        default = None
    return dask.config.get("scheduler", None), default


def _tasks_seen(client) -> int:
    """Task transitions the cluster's scheduler has logged (0 before any task ran there)."""
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.transition_log))


def test_client_for_never_becomes_the_default_scheduler(tmp_path):
    """``client_for`` makes a client that the caller passes explicitly: while it is open and after it
    is closed, dask's global scheduler and the default client are what they were before, and
    ``evaluate_files(client=...)`` runs on its cluster (the scheduler's log) with the report of the
    single-process engine (the oracle: ``pipeline.LocalEngine`` on the same files)."""
    from crossentropy import io, pipeline

    rng = np.random.default_rng(3)
    files = []
    for k in range(2):
        files.append(str(tmp_path / f"p{k}.npz"))
        np.savez(files[-1], logits=rng.normal(size=(30, 4)), target=rng.integers(0, 4, 30))
    opts = pipeline.EvaluateOptions(kind="logits")
    want = pipeline.run(opts, pipeline.Source(files, io.Schema()), pipeline.LocalEngine())
    before = _global_scheduler()
    c = ced.client_for(workers=1)
    try:
        assert _global_scheduler() == before
        seen = _tasks_seen(c)
        got = ced.evaluate_files(files, kind="logits", client=c)
        assert _tasks_seen(c) > seen, "the tasks did not run on the client's cluster"
        assert _global_scheduler() == before
    finally:
        ced.close_client(c)
    assert _global_scheduler() == before
    close(want.report.to_dict(), got.to_dict())


@pytest.mark.parametrize("progress", [[], ["--progress"]])
def test_cli_dask_engine_passes_its_client_and_leaves_dask_config_alone(
    progress, tmp_path, capsys, monkeypatch
):
    """``crossentropy evaluate --engine dask --workers 1`` in-process: each compute of the engine
    gets the engine's client explicitly (with ``--progress`` too: the bar follows that client, not
    a default one), dask's global scheduler is never switched to it (checked while the pass runs
    and after), and the JSON equals the single-process command's."""
    from crossentropy.dask import _tree

    rng = np.random.default_rng(4)
    path = str(tmp_path / "p.npz")
    np.savez(path, logits=rng.normal(size=(50, 3)), target=rng.integers(0, 3, 50))
    seen = []
    compute = _tree._compute

    def spy(obj, progress=False, client=None):
        seen.append((client, _global_scheduler()))
        return compute(obj, progress, client)

    monkeypatch.setattr(_tree, "_compute", spy)
    monkeypatch.setattr("crossentropy.dask._files._compute", spy)
    before = _global_scheduler()
    common = [path, "--kind", "logits", "--format", "json", "--bootstrap", "3"]
    argv = ["evaluate", *common, "--engine", "dask", "--workers", "1", *progress]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert _global_scheduler() == before
    assert seen, "the engine computed nothing"
    for client, during in seen:
        assert isinstance(client, distributed.Client)
        assert during == before
    code, local, _ = run_cli(["evaluate", *common], capsys)
    assert code == 0
    close(json.loads(local)["report"], json.loads(out)["report"])
