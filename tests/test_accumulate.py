"""Accumulator / evaluate: exactness under any split and merge order, invariances, oracles."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

import crossentropy as ce
from crossentropy import kernels
from crossentropy.accumulate import Accumulator, evaluate

RTOL = 1e-12


def assert_same(a, b, rtol=RTOL, path="report"):
    """Recursive comparison of two to_dict() trees: floats to rtol, everything else exactly."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], rtol, f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            assert_same(x, y, rtol, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=1e-300) or abs(a - b) <= rtol * 1e-3, (
            path,
            a,
            b,
        )
    else:
        assert a == b, (path, a, b)


def _data(rng, n=200, C=5, soft=False):
    x = rng.normal(scale=2.0, size=(n, C))
    if soft:
        y = rng.dirichlet(np.ones(C), size=n)
        y[rng.random(n) < 0.1] = 0.0  # masked rows
        return x, y
    y = rng.integers(0, C, n)
    y[rng.random(n) < 0.15] = -100
    return x, y


def _split_points(rng, n):
    cuts = sorted(set(rng.integers(0, n + 1, size=6).tolist()) | {0, n})
    cuts = sorted(cuts + [cuts[1]] + [min(n, cuts[1] + 1)])  # an empty and a one-row batch
    return list(zip(cuts[:-1], cuts[1:], strict=False))


OPTIONS = [
    {},
    {"label_smoothing": 0.1, "weight": [1.0, 2.0, 0.5, 1.0, 3.0]},
    {"strategy": "quantile", "bins": 10, "base": 2},
    {"classwise": True, "bootstrap": 20, "seed": 3},
]


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("soft", [False, True])
def test_any_split_any_merge_order_equals_one_pass(rng, opts, soft):
    x, y = _data(rng, soft=soft)
    s = rng.random(len(x)) * 2
    one = evaluate(x, y, sample_weight=s, **opts).to_dict()
    parts = []
    for a, b in _split_points(rng, len(x)):
        acc = Accumulator(**opts)
        acc.update(x[a:b], y[a:b], sample_weight=s[a:b], row_offset=a)
        parts.append(acc)
    # left fold, right fold and a random tree
    left = parts[0]
    for p in parts[1:]:
        left = left.merge(p)
    right = parts[-1]
    for p in parts[-2::-1]:
        right = p.merge(right)
    pool = list(parts)
    while len(pool) > 1:
        i, j = sorted(rng.choice(len(pool), 2, replace=False))
        merged = pool[j].merge(pool[i])
        pool = [p for k, p in enumerate(pool) if k not in (i, j)] + [merged]
    seq = Accumulator(**opts)
    for a, b in _split_points(rng, len(x)):
        seq.update(x[a:b], y[a:b], sample_weight=s[a:b])
    for acc in (left, right, pool[0], seq):
        assert_same(one, acc.finalize().to_dict())


def test_matches_the_core_chain(rng):
    x, y = _data(rng)
    s = rng.random(len(x))
    w = np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    kw = dict(sample_weight=s, weight=w, label_smoothing=0.2)
    r = evaluate(x, y, **kw)
    assert math.isclose(r.cross_entropy, ce.cross_entropy(x, y, **kw), rel_tol=RTOL)
    assert math.isclose(r.nll, ce.nll(x, y, **kw), rel_tol=RTOL)
    assert math.isclose(r.log_likelihood, ce.log_likelihood(x, y, **kw), rel_tol=RTOL)
    assert math.isclose(r.perplexity, ce.perplexity(x, y, **kw), rel_tol=RTOL)
    assert math.isclose(r.bits_per_example, r.cross_entropy / math.log(2), rel_tol=RTOL)
    terms = ce.loss_terms(x, y, **kw)
    assert math.isclose(r.weight_sum, terms.weight.sum(), rel_tol=RTOL)  # P11: sum = Σ none
    assert r.n_ignored == int((y == -100).sum()) and r.n_valid + r.n_ignored == r.n_rows


def test_soft_targets_entropy_plus_kl(rng):
    x, y = _data(rng, soft=True)
    r = evaluate(x, y)
    d = ce.decompose(x, y)
    assert math.isclose(r.cross_entropy, r.entropy + r.kl, rel_tol=1e-12)
    assert math.isclose(r.entropy, float(d.entropy), rel_tol=RTOL)
    assert math.isclose(r.kl, float(d.kl), rel_tol=RTOL)
    assert r.n_ignored == int((y.sum(1) == 0).sum())
    r2 = evaluate(x, y, base=2)
    assert math.isclose(r2.cross_entropy, r.cross_entropy / math.log(2), rel_tol=RTOL)


def test_index_equals_one_hot(rng):
    x, y = _data(rng)
    keep = y >= 0
    x, y = x[keep], y[keep]
    a = evaluate(x, y).to_dict()
    b = evaluate(x, np.eye(5)[y]).to_dict()
    for k in ("cross_entropy", "accuracy", "brier", "n_valid"):
        assert_same(a[k], b[k])
    assert_same(a["calibration"], b["calibration"])
    assert b["entropy"] == 0.0 and math.isclose(b["kl"], b["cross_entropy"], rel_tol=RTOL)


def test_integer_weights_equal_repetition(rng):
    x, y = _data(rng, n=80)
    k = rng.integers(0, 4, len(x))
    a = evaluate(x, y, sample_weight=k.astype(float)).to_dict()
    b = evaluate(np.repeat(x, k, axis=0), np.repeat(y, k)).to_dict()
    for key in ("cross_entropy", "accuracy", "brier", "weight_sum", "perplexity"):
        assert_same(a[key], b[key])
    for key in ("ece", "mce", "rmsce"):
        assert_same(a["calibration"][key], b["calibration"][key])
    assert [c["weight"] for c in a["per_class"]] == [float(c["count"]) for c in b["per_class"]]


def test_sample_order_and_class_permutation_invariance(rng):
    x, y = _data(rng)
    r = evaluate(x, y).to_dict()
    perm = rng.permutation(len(x))
    assert_same(r, evaluate(x[perm], y[perm]).to_dict(), rtol=1e-12)
    cp = rng.permutation(5)  # new column j holds old class cp[j]
    inv = np.argsort(cp)
    y2 = np.where(y >= 0, inv[np.where(y >= 0, y, 0)], y)
    r2 = evaluate(x[:, cp], y2).to_dict()
    for k in ("cross_entropy", "accuracy", "brier"):
        assert_same(r[k], r2[k])
    assert_same(r["calibration"], r2["calibration"])
    assert_same(r["per_class"][cp[0]]["nll_mean"], r2["per_class"][0]["nll_mean"])


def test_sklearn_log_loss_and_brier(rng):
    n, C = 300, 4
    p = rng.dirichlet(np.ones(C) * 2, size=n)
    y = rng.integers(0, C, n)
    s = rng.random(n)
    r = evaluate(p, y, kind="probs", sample_weight=s)
    assert math.isclose(
        r.cross_entropy, log_loss(y, p, sample_weight=s, labels=range(C)), rel_tol=1e-12
    )
    ref = brier_score_loss(y, p, sample_weight=s, labels=range(C), scale_by_half=False)
    assert math.isclose(r.brier, ref, rel_tol=1e-12)
    # binary: our multi-class Brier is twice sklearn's binary brier_score_loss
    pb = rng.random(n)
    yb = rng.integers(0, 2, n)
    rb = evaluate(np.stack([1 - pb, pb], 1), yb, kind="probs")
    assert math.isclose(rb.brier, 2 * brier_score_loss(yb, pb), rel_tol=1e-12)


def _torchmetrics_perplexity_ref(logits, target, ignore_index):
    """float64 reference of torchmetrics' Perplexity: softmax → p of the target → −log, masked mean, exp."""
    x = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    t = target.reshape(-1)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    mask = t != ignore_index
    tt = np.where(mask, t, 0)
    lp = -np.log(p[np.arange(len(t)), tt])[mask]
    return math.exp(lp.sum() / mask.sum())


def _hf_mean_perplexity_ref(logits, target, ignore_index):
    """HF evaluate's mean_perplexity: per text exp(masked mean NLL), then the plain mean."""
    out = []
    for b in range(logits.shape[0]):
        x = logits[b].astype(np.float64)
        lq = (
            x
            - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True))
            - x.max(1, keepdims=True)
        )
        m = target[b] != ignore_index
        if m.any():
            out.append(math.exp(-lq[np.arange(len(x)), np.where(m, target[b], 0)][m].mean()))
    return float(np.mean(out))


def test_sequence_perplexity_both_ways(rng):
    B, T, V = 6, 11, 13
    x = rng.normal(size=(B, T, V))
    y = rng.integers(0, V, (B, T))
    y[:, -3:] = -100
    y[2, :] = -100  # a sequence with no valid token
    r = evaluate(x, y, sequence_axis=1, block_rows=2)
    assert math.isclose(r.perplexity, _torchmetrics_perplexity_ref(x, y, -100), rel_tol=1e-12)
    assert math.isclose(r.perplexity, ce.perplexity(x, y), rel_tol=RTOL)
    assert math.isclose(r.sequence_perplexity, _hf_mean_perplexity_ref(x, y, -100), rel_tol=1e-12)
    assert r.n_sequences == B - 1 and r.n_rows == B * T
    assert "mean/seq" in str(r)
    with pytest.raises(ValueError, match="sequence_axis"):
        evaluate(x, y, sequence_axis=0)


def test_merge_with_mismatched_options_raises(rng):
    x, y = _data(rng, n=20)
    a, b = Accumulator(bins=10), Accumulator(bins=15)
    with pytest.raises(ValueError, match="bins: 10 vs 15"):
        a.merge(b)
    c, d = Accumulator(), Accumulator()
    c.update(x, y)
    d.update(x[:, :4], np.where(y >= 4, 0, y))
    with pytest.raises(ValueError, match="num_classes"):
        c.merge(d)
    with pytest.raises(ValueError, match="classes"):
        c.update(x[:, :4], np.where(y >= 4, 0, y))
    with pytest.raises(TypeError):
        c.merge(object())


def test_zero_valid_rows_says_so():
    x = np.zeros((4, 3))
    y = np.full(4, -100)
    r = evaluate(x, y)
    assert r.empty and r.n_valid == 0 and r.n_ignored == 4
    text = str(r)
    assert "no valid rows" in text and "nan" not in text.lower()
    d = r.to_dict()
    assert d["empty"] is True and d["calibration"] is None
    json.loads(r.to_json())
    r0 = Accumulator().finalize()  # nothing at all
    assert r0.empty and "no valid rows" in str(r0)
    assert json.loads(r0.to_json())["empty"] is True


def test_state_round_trip_through_json(rng):
    x, y = _data(rng)
    x[0, 0] = np.inf  # inf loss somewhere in the state (row 0 may be ignored; force it valid)
    y[0] = 1
    acc = Accumulator(bootstrap=10, classwise=True, sequence_axis=None)
    acc.update(x, y)
    st = json.loads(json.dumps(acc.to_state(), allow_nan=False))
    back = Accumulator.from_state(st)
    assert_same(acc.finalize().to_dict(), back.finalize().to_dict(), rtol=0.0)
    more = back.merge(acc)  # a rebuilt state merges like the original
    assert more.finalize().n_rows == 2 * acc.finalize().n_rows


def test_every_statistic_survives_a_json_round_trip(rng):
    """Soft targets, classwise bins, bootstrap and sequences: every statistic in the state."""
    B, T, C = 7, 5, 4
    x = rng.normal(size=(B, T, C))
    y = rng.dirichlet(np.ones(C), size=(B, T))
    y[0, 0] = 0.0  # a masked row
    opts = dict(classwise=True, bootstrap=6, seed=2, sequence_axis=1, label_smoothing=0.1)
    acc = Accumulator(**opts)
    acc.update(x[:3], y[:3])
    acc.update(x[3:], y[3:])
    st = json.loads(json.dumps(acc.to_state(), allow_nan=False))
    assert set(st["stats"]) == set(acc.stats) and len(acc.stats) == 9  # + top_k, confusion
    back = Accumulator.from_state(st)
    assert all(back.stats[k] == s for k, s in acc.stats.items())
    r = back.finalize()
    assert_same(acc.finalize().to_dict(), r.to_dict(), rtol=0.0)
    assert_same(evaluate(x, y, block_rows=2, **opts).to_dict(), r.to_dict())
    assert r.entropy is not None and r.intervals and r.calibration.classwise_ece is not None
    with pytest.raises(ValueError, match="schema_version 1"):
        Accumulator.from_state({**st, "schema_version": 1})


def test_statistics_merge_only_like_with_like():
    from crossentropy.stats import BootstrapSums, ClassSums, LossSums

    with pytest.raises(ValueError, match="seed: 0 vs 1"):
        BootstrapSums.zeros(3, 0, 5).merge(BootstrapSums.zeros(3, 1, 5))
    with pytest.raises(ValueError, match="shape"):
        ClassSums.zeros(3).merge(ClassSums.zeros(4))
    with pytest.raises(TypeError):
        LossSums().merge(ClassSums.zeros(3))


def test_out_of_range_label_unvalidated_is_nan_not_an_index_error():
    """docs/semantics.md §10: a bad row makes the loss sums NaN and is in no class."""
    r = ce.evaluate(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 7]), validate=False)
    assert math.isnan(r.cross_entropy) and math.isnan(r.nll) and math.isnan(r.accuracy)
    assert r.n_valid == 2 and [c.count for c in r.per_class] == [1, 0]
    assert r.per_class[0].nll_mean == pytest.approx(math.log(1 + math.exp(-1.0)), rel=1e-12)
    with pytest.raises(ValueError, match="7"):  # validated, the same label is an error
        ce.evaluate(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 7]))


def test_impl_is_not_an_option_of_the_report(rng):
    x, y = _data(rng, n=50)
    r = evaluate(x, y, impl="array_api")
    assert "impl" not in r.options
    assert_same(r.to_dict(), evaluate(x, y).to_dict())
    with pytest.raises(ValueError, match="impl"):
        Accumulator(impl="fast")


def test_torch_input_matches_numpy(rng):
    torch = pytest.importorskip("torch")
    x, y = _data(rng)
    a = evaluate(x, y).to_dict()
    b = evaluate(torch.as_tensor(x), torch.as_tensor(y)).to_dict()
    assert_same(a, b)


def test_float32_input_accumulates_in_float64(rng):
    x, y = _data(rng, n=500)
    r32 = evaluate(x.astype(np.float32), y)
    ref = ce.cross_entropy(x.astype(np.float32).astype(np.float64), y)
    assert math.isclose(r32.cross_entropy, ref, rel_tol=1e-5, abs_tol=1e-6)


def test_histograms_and_per_class_add_up(rng):
    x, y = _data(rng)
    r = evaluate(x, y)
    h = r.histograms
    assert sum(h.p_true.count) == r.n_valid == sum(h.nll.count) == sum(h.confidence.count)
    assert len(h.p_true.edges) == 51 and h.nll.edges[-1] == math.inf
    assert sum(c.count for c in r.per_class) == r.n_valid
    # per-class NLL from the core on the rows of that class
    c = r.per_class[2]
    sel = y == 2
    assert math.isclose(c.nll_mean, ce.cross_entropy(x[sel], y[sel]), rel_tol=RTOL)
    assert math.isclose(c.accuracy, float(np.mean(x[sel].argmax(1) == 2)), rel_tol=RTOL)


def test_confident_miss_gives_inf_not_an_error():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    r = evaluate(p, np.array([1, 0]), kind="probs")
    assert r.cross_entropy == math.inf and r.perplexity == math.inf
    d = r.to_dict()
    assert d["perplexity"] == "inf"
    json.loads(r.to_json())


def test_kind_auto_is_decided_once(rng):
    p = rng.dirichlet(np.ones(3), size=10)
    acc = Accumulator(kind="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.KindDecisionWarning)
        acc.update(p, rng.integers(0, 3, 10))
        with pytest.raises(ValueError, match="kind='auto' decided"):
            acc.update(rng.normal(size=(10, 3)) * 5, rng.integers(0, 3, 10))
    assert acc.finalize().kind == "probs"


def test_bad_options_raise():
    with pytest.raises(ValueError, match="bootstrap"):
        Accumulator(bootstrap=-1)
    with pytest.raises(ValueError, match="strategy"):
        Accumulator(strategy="equal")
    with pytest.raises(ValueError, match="bins"):
        Accumulator(bins=0)
    with pytest.raises(ValueError, match="kind"):
        Accumulator(kind="softmax")
    with pytest.raises(ValueError, match="row_offset"):
        Accumulator().update(np.zeros((2, 2)), np.array([0, 1]), row_offset=-1)


@pytest.mark.skipif(not kernels.available(), reason="needs numba (the fast extra)")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_row_pass_equals_the_to_log_probs_path(rng, dtype):
    x, y = _data(rng, n=300, C=7)
    x = x.astype(dtype)
    x[4, 2] = -np.inf  # a masked class
    if dtype == np.float64:
        x[3] = -np.inf  # a row with no finite logit: NaN, in both paths
        y[3] = 1
    s = rng.random(len(y))
    fused = evaluate(x, y, sample_weight=s, impl="kernel").to_dict()  # small input, still fused
    ref = evaluate(x, y, sample_weight=s, impl="array_api").to_dict()
    if dtype == np.float64:
        assert_same(fused, ref, rtol=1e-12)
    else:
        for k in ("cross_entropy", "accuracy", "brier"):
            assert math.isclose(fused[k], ref[k], rel_tol=1e-5, abs_tol=1e-6)
        assert math.isclose(
            fused["calibration"]["ece"], ref["calibration"]["ece"], rel_tol=1e-5, abs_tol=1e-6
        )
