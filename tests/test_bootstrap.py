"""Poisson bootstrap: counter-based weights, exact replicate sums, split-invariant intervals."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from crossentropy.accumulate import Accumulator, evaluate
from crossentropy.bootstrap import (
    ReplicateSums,
    percentile_interval,
    poisson_weights,
    uniform53,
)


def test_weights_are_a_pure_function_of_seed_unit_replicate():
    a = poisson_weights(5, np.arange(1000), 30)
    b = np.vstack(
        [poisson_weights(5, np.arange(s, min(1000, s + 77)), 30) for s in range(0, 1000, 77)]
    )
    assert np.array_equal(a, b)
    assert np.array_equal(
        poisson_weights(5, np.arange(1000), 10), a[:, :10]
    )  # replicate k keyed alone
    assert not np.array_equal(a, poisson_weights(6, np.arange(1000), 30))
    with pytest.raises(ValueError, match="seed"):
        poisson_weights(-1, np.arange(3), 2)


def test_poisson_one_distribution():
    w = poisson_weights(0, np.arange(200_000), 2).ravel()
    k = np.arange(6)
    pmf = np.exp(-1.0) / np.array([math.factorial(int(i)) for i in k])
    freq = np.bincount(w.astype(int), minlength=6)[:6] / w.size
    # 400k draws: standard error of each frequency < 1.1e-3
    np.testing.assert_allclose(freq, pmf, atol=5e-3)
    u = uniform53(0, np.arange(100_000), 1).ravel()
    assert abs(u.mean() - 0.5) < 0.005 and u.min() >= 0 and u.max() < 1


def _exact(weights, values):
    out = []
    for k in range(weights.shape[1]):
        out.append(
            float(
                sum(
                    Fraction(int(r)) * Fraction(v)
                    for r, v in zip(weights[:, k], values, strict=False)
                )
            )
        )
    return np.array(out)


def test_replicate_sums_are_exact_and_order_free(rng):
    n, K = 300, 5
    vals = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n)
    r = poisson_weights(1, np.arange(n), K)
    s = ReplicateSums.zeros(K, 1)
    s.add(r, vals[:, None])
    # exact up to the documented 2**-64 per-unit quantisation (truncation towards zero)
    q = np.trunc(vals * 2.0**64) / 2.0**64
    np.testing.assert_array_equal(s.values()[:, 0], _exact(r, q))
    perm = rng.permutation(n)
    parts = [ReplicateSums.zeros(K, 1) for _ in range(3)]
    for i, chunk in enumerate(np.array_split(perm, 3)):
        parts[i].add(r[chunk], vals[chunk, None])
    merged = parts[2].merge(parts[0]).merge(parts[1])
    assert np.array_equal(merged.values(), s.values())  # bit-identical


def test_non_finite_rules():
    r = np.array([[1.0, 0.0, 2.0], [1.0, 1.0, 0.0]])
    s = ReplicateSums.zeros(3, 1)
    s.add(r, np.array([[np.inf], [np.nan]]))
    v = s.values()[:, 0]
    assert math.isnan(v[0]) and math.isnan(v[1]) and v[2] == math.inf


def test_percentile_interval():
    assert percentile_interval(np.arange(1.0, 201.0), 0.95) == (5.0, 196.0)
    assert all(math.isnan(v) for v in percentile_interval(np.array([1.0, np.nan])))
    with pytest.raises(ValueError, match="level"):
        percentile_interval(np.ones(3), 1.5)


def test_same_seed_same_interval_for_any_split_and_merge_order(rng):
    n, C = 500, 4
    x = rng.normal(size=(n, C))
    y = rng.integers(0, C, n)
    y[rng.random(n) < 0.1] = -100
    opts = {"bootstrap": 40, "seed": 11}
    one = evaluate(x, y, **opts).intervals
    assert evaluate(x, y, block_rows=13, **opts).intervals == one
    cuts = [0, 1, 1, 77, 300, 301, n]
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=False):
        acc = Accumulator(**opts)
        acc.update(x[a:b], y[a:b], row_offset=a)
        parts.append(acc)
    for order in (range(len(parts)), reversed(range(len(parts))), rng.permutation(len(parts))):
        order = list(order)
        m = parts[order[0]]
        for i in order[1:]:
            m = m.merge(parts[i])
        assert m.finalize().intervals == one  # bit-identical
    assert evaluate(x, y, bootstrap=40, seed=12).intervals != one


def test_intervals_bracket_the_estimate_and_sequences_resample_whole_units(rng):
    B, T, V = 40, 9, 7
    x = rng.normal(size=(B, T, V))
    y = rng.integers(0, V, (B, T))
    r = evaluate(x, y, bootstrap=100, seed=0, sequence_axis=1, block_rows=6)
    for name in ("cross_entropy", "perplexity", "accuracy", "brier", "ece"):
        lo, hi = r.intervals[name]
        assert lo <= hi
    lo, hi = r.intervals["cross_entropy"]
    assert lo < r.cross_entropy < hi
    assert math.isclose(r.intervals["perplexity"][0], math.exp(lo), rel_tol=1e-15)
    assert r.intervals == evaluate(x, y, bootstrap=100, seed=0, sequence_axis=1).intervals


def test_quantile_strategy_has_no_ece_interval(rng):
    x = rng.normal(size=(50, 3))
    r = evaluate(x, rng.integers(0, 3, 50), bootstrap=10, strategy="quantile")
    assert "ece" not in r.intervals and "cross_entropy" in r.intervals
