"""The fused evaluation row pass (crossentropy.kernels.rowstats) against the NumPy path.

Oracle: the Accumulator's NumPy path (``impl="array_api"``: per-example terms from the
core, the other per-row numbers from the full ``log q``), itself checked against
scikit-learn in test_accumulate; and a float64 NumPy reference for the per-row numbers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import crossentropy as ce_mod
import crossentropy._dispatch as dispatch
import crossentropy.accumulate as accumulate_mod
from crossentropy import kernels
from crossentropy._batchrows import BatchRows, Binning, batch_rows
from crossentropy._options import LossOptions
from crossentropy._prepare import prepare
from crossentropy.accumulate import NLL_EDGES, Accumulator, evaluate
from crossentropy.stats import CalibrationStat, ClassSums, HistogramSums, LossSums, binning
from test_accumulate import assert_same

pytestmark = pytest.mark.skipif(not kernels.available(), reason="needs numba (the fast extra)")


@pytest.fixture
def fused_always(monkeypatch):
    """impl="auto" sends every NumPy logit batch to the fused pass."""
    monkeypatch.setattr(dispatch, "KERNEL_MIN_ELEMENTS", 0)


def _both(*args, **kw):
    a = evaluate(*args, impl="kernel", **kw).to_dict()
    b = evaluate(*args, impl="array_api", **kw).to_dict()
    return a, b


def _data(rng, n, C, dtype=np.float64, scale=2.0):
    x = (rng.normal(scale=scale, size=(n, C))).astype(dtype)
    y = rng.integers(0, C, n)
    y[rng.random(n) < 0.15] = -100
    return x, y


OPTIONS = [
    {},
    {"label_smoothing": 0.1, "weight": [1.0, 2.0, 0.5, 1.0, 3.0]},
    {"label_smoothing": 0.2, "smoothing": "others"},
    {"strategy": "quantile", "bins": 10, "base": 2},
    {"bootstrap": 20, "seed": 3, "bins": 7},
]


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_equals_numpy_path(rng, opts, dtype):
    x, y = _data(rng, 700, 5, dtype)
    s = rng.random(len(y)) * 2
    s[::13] = 0.0  # zero-weight rows are masked
    x[4, 2] = -np.inf  # a class with q = 0
    x[5] = [1.0, 1.0, 0.0, 0.0, 1.0]  # ties: the first maximum is the argmax
    x[6, 1] = 1e30  # huge logits (log q formed as (x - M) - log S)
    a, b = _both(x, y, sample_weight=s, block_rows=97, **opts)
    if dtype == np.float64:
        assert_same(a, b, rtol=1e-12)
    else:
        assert_same(a, b, rtol=1e-5)  # the NumPy path computes float32 statistics in float32


def test_non_finite_rows(rng):
    x, y = _data(rng, 300, 4)
    x[3] = -np.inf  # no finite logit: ℓ NaN, confidence NaN
    y[3] = 1
    x[7, 2] = np.nan  # a NaN logit poisons its row
    y[7] = 0
    x[9, :] = [-np.inf, 3.0, -np.inf, -np.inf]  # one finite logit: q = 1 there
    y[9] = 1
    a, b = _both(x, y)
    assert_same(a, b, rtol=1e-12)
    assert a["cross_entropy"] == "nan" and a["accuracy"] == "nan"  # to_dict writes NaN as "nan"
    assert a["n_valid"] == int((y != -100).sum())


def test_many_classes_online_rescale(rng):
    # C > BLOCK (2048): the running maximum grows across blocks, S and S2 are rescaled
    n, C = 40, 5000
    x = rng.normal(size=(n, C))
    x[:, 3000:] += np.linspace(0, 30, 2000)  # larger logits in later blocks
    y = rng.integers(0, C, n)
    a, b = _both(x, y, bins=5)
    assert_same(a, b, rtol=1e-12)


def test_per_row_numbers_vs_float64_reference(rng):
    x, y = _data(rng, 500, 6)
    valid = y != -100
    true = np.where(valid, y, 0)
    rows, binned, n_nan, _ = kernels.eval_rows(x, true, valid, nll_inner_edges=NLL_EDGES[1:-1])
    m = x.max(1, keepdims=True)
    lq = (x - m) - np.log(np.exp(x - m).sum(1, keepdims=True))
    q = np.exp(lq)
    i = np.arange(len(y))
    np.testing.assert_allclose(rows["ell"][valid], -lq[i, true][valid], rtol=1e-12)
    assert np.all(rows["ell"][~valid] == 0) and np.all(rows["w"] == valid)
    np.testing.assert_allclose(rows["conf"][valid], q.max(1)[valid], rtol=1e-13)
    np.testing.assert_allclose(rows["q_true"][valid], q[i, true][valid], rtol=1e-12)
    brier = ((q - np.eye(6)[true]) ** 2).sum(1)
    np.testing.assert_allclose(rows["wb"][valid], brier[valid], rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(rows["wc"], (valid & (q.argmax(1) == true)).astype(float))
    np.testing.assert_array_equal(binned["per_class"][0], np.bincount(y[valid], minlength=6))
    assert n_nan == 0


def test_exp_sum_accuracy_float64(rng):
    # the vectorised exp of the float64 exp-sums: within 1 ulp of np.exp on [-708, 0]
    from numba import njit

    from crossentropy.kernels.rowstats import sexp

    @njit
    def run(a, out):
        for i in range(a.shape[0]):
            out[i] = sexp(a[i])

    a = -np.concatenate([rng.random(200_000) * 708, rng.random(1000) * 1e-9, [0.0, 708.0]])
    out = np.empty_like(a)
    run(a, out)
    ref = np.exp(a)
    assert np.max(np.abs(out - ref) / ref) <= 2.3e-16
    special = np.array([-np.inf, np.nan, -709.0, -1e300])
    out = np.empty_like(special)
    run(special, out)
    assert out[0] == 0 and math.isnan(out[1]) and out[2] == 0 and out[3] == 0


def test_thread_count_does_not_change_the_numbers(rng, fused_always):
    import numba

    x, y = _data(rng, 5000, 8)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = evaluate(x, y, bootstrap=5).to_dict()
        numba.set_num_threads(before)
        many = evaluate(x, y, bootstrap=5).to_dict()
    finally:
        numba.set_num_threads(before)
    assert one == many


def test_default_threshold_sends_large_batches_to_the_fused_pass(rng, monkeypatch):
    calls = []
    real = kernels.eval_rows

    def spy(*a, **k):
        calls.append(a[0].shape)
        return real(*a, **k)

    monkeypatch.setattr(kernels, "eval_rows", spy)
    x, y = _data(rng, 30_000, 10, np.float32)  # 300,000 elements >= 2**18
    big = evaluate(x, y).to_dict()
    assert calls == [(30_000, 10)]
    small = evaluate(x[:1000], y[:1000])  # below the threshold: the NumPy path
    assert len(calls) == 1 and small.n_rows == 1000
    ref = evaluate(x, y, impl="array_api").to_dict()  # never the fused pass
    assert len(calls) == 1
    assert_same(big, ref, rtol=1e-5)
    evaluate(x[:10], y[:10], impl="kernel")  # asked for: the fused pass at any size
    assert calls[-1] == (10, 10)


def test_unvalidated_out_of_range_target_gives_nan_not_a_crash(rng, fused_always):
    x, y = _data(rng, 50, 4)
    y[2] = 7
    acc = Accumulator(validate=False)
    acc.update(x, y)
    r = acc.finalize()
    assert math.isnan(r.cross_entropy) and r.n_rows == 50


def test_numpy_only_path_without_numba(rng, monkeypatch, fused_always):
    x, y = _data(rng, 400, 5)
    fused = evaluate(x, y).to_dict()
    monkeypatch.setattr(kernels, "_AVAILABLE", False)  # as if numba were not installed
    assert not kernels.available()
    plain = evaluate(x, y).to_dict()
    assert_same(fused, plain, rtol=1e-12)


def _record(x, y, impl, bins=None, **opts):
    kw = {k: opts.pop(k) for k in ("weight", "sample_weight") if k in opts}
    p = prepare(x, y, LossOptions(**opts), **kw)
    b = None if bins is None else binning(bins)
    return batch_rows(p, x, y, impl=impl, offset=5, binning=b, **kw)


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"validate": False},
        {"label_smoothing": 0.2, "smoothing": "others", "weight": np.array([1.0, 2, 0.5, 1, 3])},
    ],
)
def test_one_record_whichever_path(rng, opts):
    """BatchRows from the fused kernel and from log q agree field by field (float64 rounding)."""
    x, y = _data(rng, 200, 5)
    x[3] = -np.inf  # no finite logit
    x[7, 2] = np.nan
    if not opts.get("validate", True):
        y[[10, 11]] = [5, -3]  # out of range, unvalidated: bad rows
    s = rng.random(len(y))
    s[::17] = 0.0
    a = _record(x, y, "kernel", bins=15, sample_weight=s, **dict(opts))
    b = _record(x, y, "array_api", bins=15, sample_weight=s, **dict(opts))
    assert a.offset == b.offset == 5 and a.batch_shape == b.batch_shape == (200,)
    assert a.binned is not None and b.binned is None  # sums only from the kernel path
    for name in BatchRows.__dataclass_fields__:
        if name == "binned":
            continue
        u, v = getattr(a, name), getattr(b, name)
        if isinstance(u, np.ndarray):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-15, err_msg=name)
        else:
            assert u == v, name
    if not opts.get("validate", True):
        bad = [10, 11]
        assert a.valid[bad].all() and (a.true[bad] == -1).all()
        for name in ("ell", "w", "w_correct", "w_brier", "conf", "q_true"):
            assert np.isnan(getattr(a, name)[bad]).all(), name
    masked = (y == -100) | (s == 0)
    assert not a.valid[masked].any() and (a.ell[masked] == 0).all() and (a.true[masked] == -1).all()


def test_bad_rows_give_nan_means_and_stay_out_of_the_class_table(rng, fused_always):
    """validate=False with an out-of-range label: NaN loss and weight (the core's rule) on both
    paths; the row has no class, so the per-class table and histograms leave it out."""
    x, y = _data(rng, 60, 4)
    y[y == -100] = 0
    y[[2, 9]] = [4, 99]
    reports = [evaluate(x, y, validate=False, impl=impl) for impl in ("kernel", "array_api")]
    for r in reports:
        assert math.isnan(r.cross_entropy) and math.isnan(r.nll) and math.isnan(r.weight_sum)
        assert math.isnan(r.accuracy) and r.calibration is None
        assert r.n_valid == 60 and r.n_ignored == 0
        assert sum(c.count for c in r.per_class) == 58 == sum(r.histograms.p_true.count)
        good = np.ones(60, bool)
        good[[2, 9]] = False
        c1 = r.per_class[1]
        sel = good & (y == 1)
        assert c1.count == sel.sum()
        assert math.isclose(c1.nll_mean, ce_mod.cross_entropy(x[sel], y[sel]), rel_tol=1e-12)
    assert_same(reports[0].to_dict(), reports[1].to_dict(), rtol=1e-12)


def test_states_of_either_path_merge(rng):
    """impl= is not an option of the numbers: a fused-pass state merges with a NumPy-path one."""
    x, y = _data(rng, 400, 6)
    one = evaluate(x, y, bootstrap=8, impl="array_api").to_dict()
    a, b = Accumulator(bootstrap=8, impl="kernel"), Accumulator(bootstrap=8, impl="array_api")
    a.update(x[:150], y[:150])
    b.update(x[150:], y[150:], row_offset=150)
    assert_same(one, b.merge(a).finalize().to_dict(), rtol=1e-12)


def _binned_batch(rng, validate=True):
    """A kernel record with every kind of row: masked, NaN, no finite logit, tiny and huge ℓ."""
    x, y = _data(rng, 400, 5, scale=4.0)
    x[3] = -np.inf  # no finite logit: ℓ and confidence NaN
    x[7, 2] = np.nan  # a NaN logit
    x[9] = [-np.inf, 3.0, -np.inf, -np.inf, -np.inf]  # q = 1: ℓ = 0, below the first NLL edge
    y[9] = 1
    x[11] = [0.0, 0.0, 3000.0, 0.0, 0.0]  # ℓ ≈ 3000: above the last finite NLL edge
    y[11] = 0
    x[12] = [0.0, 0.0, 0.0, 0.0, 0.0]  # confidence 1/5 on a calibration edge (bins=5, 10)
    y[12] = 4
    if not validate:
        y[[20, 21]] = [5, -7]  # out of range, unvalidated: bad rows
    s = rng.random(len(y)) * 3
    s[::17] = 0.0
    w = np.array([1.0, 2.0, 0.0, 1.0, 3.0])  # class 2 has zero weight: valid rows with w_i = 0
    return x, y, {"sample_weight": s, "weight": w, "validate": validate}


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("bins", [1, 5, 15])
def test_kernel_binned_sums_equal_each_statistics_own_binning(rng, validate, bins):
    """The kernel's sums (rows.binned) give the same statistic states, exactly, as the
    statistics binning the same rows themselves (np.bincount, searchsorted)."""
    x, y, opts = _binned_batch(rng, validate)
    rows = _record(x, y, "kernel", bins=bins, **opts)
    assert rows.binned is not None and rows.binned.binning.calibration == bins
    plain = dataclasses.replace(rows, binned=None)
    C = x.shape[1]

    def fresh():
        return [
            LossSums(),
            ClassSums.zeros(C),
            HistogramSums(),
            CalibrationStat.zeros(bins, C, False),
        ]

    for with_sums, without in zip(fresh(), fresh(), strict=True):
        with_sums.update(rows)
        without.update(plain)
        assert with_sums.to_state() == without.to_state(), with_sums.name
    calib = fresh()[3]
    calib.update(rows)
    assert calib.n_nan >= 2 and calib.uniform[0].sum() == (rows.valid & ~np.isnan(rows.conf)).sum()
    hist = fresh()[2]
    hist.update(rows)
    assert hist.nll[0, 0] >= 1 and hist.nll[0, -1] >= 1  # ℓ = 0 and ℓ ≈ 3000 are counted


def test_statistics_bin_themselves_when_the_edges_differ(rng):
    """A record binned on other edges: each statistic ignores those sums and bins the rows."""
    x, y, opts = _binned_batch(rng)
    other = Binning(7, 10, np.array([0.0, 1.0, np.inf]))
    kw = {k: opts.pop(k) for k in ("weight", "sample_weight")}
    p = prepare(x, y, LossOptions(**opts), **kw)
    rows = batch_rows(p, x, y, impl="kernel", binning=other, **kw)
    assert rows.binned is not None and rows.binned.calibration.shape == (4, 7)
    plain = dataclasses.replace(rows, binned=None)
    for make in (HistogramSums, lambda: CalibrationStat.zeros(15, 5, False)):
        a, b = make(), make()
        a.update(rows)
        b.update(plain)
        assert a.to_state() == b.to_state()


@pytest.mark.parametrize("opts", [{}, {"bootstrap": 6, "bins": 4}, {"strategy": "quantile"}])
def test_accumulator_state_is_the_same_with_or_without_the_kernel_sums(rng, monkeypatch, opts):
    """Whole evaluations over several batches: the kernel's binned sums leave every state
    exactly as the statistics' own binning of the same kernel rows."""
    x, y, kw = _binned_batch(rng, validate=False)
    kw.pop("validate")
    run = {"impl": "kernel", "validate": False, "block_rows": 97, **opts}
    with_sums = evaluate(x, y, sample_weight=kw["sample_weight"], weight=kw["weight"], **run)
    monkeypatch.setattr(accumulate_mod, "binning", lambda bins: None)  # no sums: stats bin
    without = evaluate(x, y, sample_weight=kw["sample_weight"], weight=kw["weight"], **run)
    assert with_sums.to_dict() == without.to_dict()


def test_nll_edge_search_is_searchsorted_right():
    from numba import njit

    from crossentropy.kernels.rowstats import _search_right

    @njit
    def run(edges, v, out):
        for i in range(v.shape[0]):
            out[i] = _search_right(edges, v[i])

    inner = np.ascontiguousarray(NLL_EDGES[1:-1])
    v = np.concatenate(
        [inner, np.nextafter(inner, 0), np.nextafter(inner, np.inf), [0.0, -0.0, np.inf, 1e-300]]
    )
    v = np.concatenate([v, np.geomspace(1e-8, 1e5, 1000), [np.nan]])
    for edges in (inner, inner[:1], inner[:0], np.array([1.0, 1.0, 2.0])):
        out = np.empty(len(v), dtype=np.int64)
        run(edges, v, out)
        np.testing.assert_array_equal(out, np.searchsorted(edges, v, side="right"))
