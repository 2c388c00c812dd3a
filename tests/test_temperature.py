"""Temperature scaling: brute-force grid oracle, P8 (never worse, accuracy kept, order-free, T > 0)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import crossentropy as ce
from crossentropy.accumulate import evaluate
from crossentropy.calibration import (
    calibration_error,
    fit_log_temperature,
    fit_temperature,
    temperature_sums,
)


def _nll_grid(x, y, log_T, s=None):
    """float64 reference: mean NLL of softmax(x / T) for every T = exp(log_T) (brute force)."""
    z = x[None, :, :] / np.exp(log_T)[:, None, None]
    m = z.max(-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(z - m).sum(-1))
    nll = lse - np.take_along_axis(z, y[None, :, None], -1)[..., 0]
    s = np.ones(len(y)) if s is None else s
    return (nll * s).sum(1) / s.sum()


def _miscalibrated(rng, n=400, C=4, scale=3.0):
    y = rng.integers(0, C, n)
    x = rng.normal(size=(n, C))
    x[np.arange(n), y] += 1.0
    return scale * x, y


@pytest.mark.parametrize("scale", [3.0, 0.3])  # over- and under-confident
def test_matches_brute_force_grid(rng, scale):
    x, y = _miscalibrated(rng, scale=scale)
    fit = fit_temperature(x, y)
    coarse = np.linspace(-4, 4, 801)
    g = _nll_grid(x, y, coarse)
    c = coarse[np.argmin(g)]
    fine = np.linspace(c - 0.02, c + 0.02, 4001)
    gf = _nll_grid(x, y, fine)
    t_grid = fine[np.argmin(gf)]
    assert fit.converged
    assert abs(math.log(fit.T) - t_grid) <= 2e-5
    assert fit.nll_after <= gf.min() * (1 + 1e-12)
    assert (fit.T > 1) == (scale > 1)
    assert math.isclose(fit.nll_before, ce.cross_entropy(x, y), rel_tol=1e-12)
    assert math.isclose(fit.nll_after, ce.cross_entropy(x / fit.T, y), rel_tol=1e-10)


def test_p8_never_worse_accuracy_kept_order_free(rng):
    for _trial in range(5):
        x, y = _miscalibrated(rng, n=int(rng.integers(5, 300)), scale=float(rng.uniform(0.1, 5)))
        y[rng.random(len(y)) < 0.1] = -100
        s = rng.random(len(y))
        fit = fit_temperature(x, y, sample_weight=s)
        assert fit.T > 0
        assert fit.nll_after <= fit.nll_before * (1 + 1e-9)
        a = evaluate(x, y, sample_weight=s)
        b = evaluate(x / fit.T, y, sample_weight=s)
        assert a.accuracy == b.accuracy
        perm = rng.permutation(len(y))
        fit2 = fit_temperature(x[perm], y[perm], sample_weight=s[perm], block_rows=7)
        assert math.isclose(fit2.T, fit.T, rel_tol=1e-8)
        assert math.isclose(
            fit.ece_after, calibration_error(x / fit.T, y, sample_weight=s), rel_tol=1e-12
        )


def test_sums_are_additive_and_derivatives_match_finite_differences(rng):
    x, y = _miscalibrated(rng, n=120)
    t = 0.3
    whole = temperature_sums(x, y, t)
    parts = [temperature_sums(x[a:b], y[a:b], t) for a, b in ((0, 50), (50, 51), (51, 120))]
    for k in range(4):
        assert math.isclose(whole[k], sum(p[k] for p in parts), rel_tol=1e-12)
    h = 1e-5
    up, dn = temperature_sums(x, y, t + h), temperature_sums(x, y, t - h)
    assert math.isclose(whole.grad, (up.nll - dn.nll) / (2 * h), rel_tol=1e-6)
    assert math.isclose(whole.hess, (up.grad - dn.grad) / (2 * h), rel_tol=1e-6)
    assert math.isclose(whole.nll, ce.nll(x / math.exp(t), y), rel_tol=1e-12)


def test_soft_targets_derivatives(rng):
    x = rng.normal(size=(50, 3)) * 2
    y = rng.dirichlet(np.ones(3), 50)
    t = -0.2
    s = temperature_sums(x, y, t)
    h = 1e-5
    fd = (temperature_sums(x, y, t + h).nll - temperature_sums(x, y, t - h).nll) / (2 * h)
    assert math.isclose(s.grad, fd, rel_tol=1e-6)


def test_log_probs_equal_logits_and_probs_raise(rng):
    x, y = _miscalibrated(rng, n=200)
    lp = x - np.log(np.exp(x).sum(1, keepdims=True))
    a = fit_temperature(x, y)
    b = fit_temperature(lp, y, kind="log_probs")
    assert math.isclose(a.T, b.T, rel_tol=1e-8)
    with pytest.raises(ValueError, match="kind='log_probs'"):
        fit_temperature(np.exp(lp), y, kind="probs")


def test_separable_data_stays_feasible():
    x = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, -1.0]])
    y = np.array([0, 1, 0])
    fit = fit_temperature(x, y)
    assert fit.T > 0 and fit.nll_after <= fit.nll_before
    assert not fit.converged  # T runs to the lower bound: reported, not hidden


def test_optimum_at_infinite_T_is_reported_not_converged():
    x = np.array([[5.0, 0.0, -5.0]])  # target in the middle: NLL falls as T → ∞
    fit = fit_temperature(x, np.array([1]))
    assert not fit.converged and math.isclose(fit.T, 1e4) and fit.nll_after <= fit.nll_before


def test_all_ignored_returns_T_1():
    fit = fit_temperature(np.zeros((3, 2)), np.full(3, -100))
    assert fit.T == 1.0 and not fit.converged and math.isnan(fit.nll_before)


def test_generic_driver_on_a_small_problem():
    # f(a) = 2·lse(a·x) − 5a is convex in a = 1/T with an interior minimum
    x = np.array([[5.0, 0.0, -5.0], [5.0, 0.0, -5.0]])
    y = np.array([0, 1])
    t, f0, f, w, it, ok = fit_log_temperature(lambda t: temperature_sums(x, y, t, validate=False))
    assert f <= f0 and ok
    assert math.isclose(temperature_sums(x, y, t).grad, 0.0, abs_tol=1e-9)


def test_evaluate_attaches_temperature(rng):
    x, y = _miscalibrated(rng)
    r = evaluate(x, y, temperature=True)
    assert r.temperature is not None and r.temperature.T > 1
    assert math.isclose(r.temperature.nll_before, r.cross_entropy, rel_tol=1e-12)
    assert math.isclose(r.temperature.ece_before, r.calibration.ece, rel_tol=1e-12)
    assert "temperature T" in str(r)
