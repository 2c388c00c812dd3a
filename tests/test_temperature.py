"""Temperature scaling: brute-force grid oracle, P8 (never worse, accuracy kept, order-free, T > 0),
derivatives with every loss option vs finite differences, and one record (one unit) for every engine."""

from __future__ import annotations

import inspect
import json
import math

import numpy as np
import pytest

import crossentropy as ce
from crossentropy.accumulate import Accumulator, evaluate
from crossentropy.calibration import calibration_error
from crossentropy.temperature import (
    LOSS_OPTIONS,
    Temperature,
    fit_from_passes,
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


# ---- every loss option: the sums, their derivatives, and the one record ----------------------


def _oracle_nll(x, y, T, *, weight=None, eps=0.0, s=None, ignore_index=-100):
    """float64 reference, written out: Σ_i −s_i Σ_c weight_c y'_ic log softmax(x_i / T)_c with
    y' = (1 − ε) onehot(y) + ε/C (PyTorch's label smoothing), and Σ_i s_i weight[y_i]."""
    n, C = x.shape
    weight = np.ones(C) if weight is None else weight
    s = np.ones(n) if s is None else s
    keep = y != ignore_index
    z = x[keep] / T
    lq = z - z.max(1, keepdims=True)
    lq = lq - np.log(np.exp(lq).sum(1, keepdims=True))
    yp = (1 - eps) * np.eye(C)[y[keep]] + eps / C
    total = -(s[keep] * (yp * weight * lq).sum(1)).sum()
    return total, (s[keep] * weight[y[keep]]).sum()


OPTION_CASES = [
    {"weight": np.array([1.0, 2.0, 0.5, 3.0]), "label_smoothing": 0.1},
    {"weight": np.array([1.0, 0.0, 0.5, 3.0]), "label_smoothing": 0.2},  # zero class weight
    {"label_smoothing": 0.3, "smoothing": "others"},
    {"weight": np.array([0.5, 2.0, 1.0, 1.0]), "label_smoothing": 0.1, "ignore_index": 3},
]


@pytest.mark.parametrize("opts", OPTION_CASES)
@pytest.mark.parametrize("t", [-0.4, 0.0, 0.7])
def test_sums_with_loss_options_match_finite_differences(rng, opts, t):
    x, y = _miscalibrated(rng, n=150)
    ii = opts.get("ignore_index", -100)
    y[:7] = ii
    s = rng.random(len(y)) + 0.1
    kw = {"sample_weight": s, **opts}
    got = temperature_sums(x, y, t, **kw)
    h = 1e-5
    up, dn = temperature_sums(x, y, t + h, **kw), temperature_sums(x, y, t - h, **kw)
    assert math.isclose(got.grad, (up.nll - dn.nll) / (2 * h), rel_tol=1e-6)
    assert math.isclose(got.hess, (up.grad - dn.grad) / (2 * h), rel_tol=1e-6)
    T = math.exp(t)
    assert math.isclose(got.nll, ce.nll(x / T, y, **kw), rel_tol=1e-12)
    assert math.isclose(got.weight, float(ce.loss_terms(x, y, **kw).weight.sum()), rel_tol=1e-12)
    if opts.get("smoothing", "uniform") == "uniform":  # the written-out oracle
        ref, wref = _oracle_nll(
            x, y, T, weight=opts.get("weight"), eps=opts["label_smoothing"], s=s, ignore_index=ii
        )
        assert math.isclose(got.nll, ref, rel_tol=1e-12)
        assert math.isclose(got.weight, wref, rel_tol=1e-12)


@pytest.mark.filterwarnings("ignore::crossentropy.NotNormalizedWarning")  # mass ≠ 1 on purpose
def test_soft_targets_with_weight_and_smoothing_match_finite_differences(rng):
    x = rng.normal(size=(60, 3)) * 2
    y = rng.dirichlet(np.ones(3), 60) * rng.uniform(0.5, 2.0, (60, 1))  # unnormalised mass
    y[:3] = 0.0  # all-zero rows are masked
    kw = {"weight": np.array([2.0, 0.5, 1.0]), "label_smoothing": 0.15, "smoothing": "others"}
    s, h = temperature_sums(x, y, 0.2, **kw), 1e-5
    up, dn = temperature_sums(x, y, 0.2 + h, **kw), temperature_sums(x, y, 0.2 - h, **kw)
    assert math.isclose(s.grad, (up.nll - dn.nll) / (2 * h), rel_tol=1e-6)
    assert math.isclose(s.hess, (up.grad - dn.grad) / (2 * h), rel_tol=1e-6)
    assert math.isclose(s.nll, ce.nll(x / math.exp(0.2), y, **kw), rel_tol=1e-12)


def test_masked_rows_add_nothing_whatever_they_hold(rng):
    x, y = _miscalibrated(rng, n=40)
    y[:5] = -100
    x2 = x.copy()
    x2[:5] = np.nan  # an ignored row's prediction does not matter
    kw = {"weight": np.array([1.0, 2.0, 0.5, 3.0]), "label_smoothing": 0.1}
    a = temperature_sums(x, y, 0.3, **kw)
    b = temperature_sums(x2, y, 0.3, validate=False, **kw)
    assert all(math.isclose(u, v, rel_tol=1e-12) for u, v in zip(a, b, strict=True))


def test_evaluate_fits_the_loss_it_reports(rng):
    x, y = _miscalibrated(rng, n=500)
    y[:20] = -100
    s = rng.random(len(y)) + 0.1
    w = np.array([1.0, 4.0, 0.5, 2.0])
    kw = {"weight": w, "label_smoothing": 0.1, "sample_weight": s}
    for base in ("e", 2):
        r = evaluate(x, y, temperature=True, base=base, block_rows=97, **kw)
        t = r.temperature
        assert t.base == base
        assert math.isclose(t.nll_before, r.cross_entropy, rel_tol=1e-12)
        lnb = 1.0 if base == "e" else math.log(2)
        after = ce.cross_entropy(x / t.T, y, **kw) / lnb
        assert math.isclose(t.nll_after, after, rel_tol=1e-10)
        # the fitted T is the optimum of this (weighted, smoothed) loss, not of the plain one
        assert abs(temperature_sums(x, y, math.log(t.T), **kw).grad) < 1e-6 * r.weight_sum
        plain = fit_temperature(x, y, sample_weight=s)
        assert abs(math.log(plain.T) - math.log(t.T)) > 1e-3
    assert not math.isclose(t.nll_before, ce.cross_entropy(x, y) / math.log(2), rel_tol=1e-3)


def test_fit_temperature_accepts_every_loss_option_of_the_report():
    core = set(inspect.signature(ce.loss_terms).parameters) - {"pred", "target", "sample_weight"}
    core.discard("impl")  # how to compute, not what
    assert set(LOSS_OPTIONS) == core
    assert set(LOSS_OPTIONS) <= set(inspect.signature(temperature_sums).parameters)
    assert set(LOSS_OPTIONS) <= set(inspect.signature(fit_temperature).parameters)
    assert set(LOSS_OPTIONS) <= set(Accumulator().options)


def test_fit_from_passes_builds_the_record_in_the_unit_of_base(rng):
    x, y = _miscalibrated(rng, n=200)
    seen = []

    def ece_at(T):
        seen.append(T)
        return calibration_error(x / T, y)

    e = fit_from_passes(lambda t: temperature_sums(x, y, t), ece_at=ece_at)
    b = fit_from_passes(lambda t: temperature_sums(x, y, t), base=2)
    assert isinstance(e, Temperature) and e.base == "e" and b.base == 2
    assert seen == [1.0, e.T]
    assert e.T == b.T and e.iterations == b.iterations
    assert math.isclose(b.nll_before * math.log(2), e.nll_before, rel_tol=1e-15)
    assert math.isclose(b.nll_after * math.log(2), e.nll_after, rel_tol=1e-15)
    assert math.isnan(b.ece_before) and math.isnan(b.ece_after)
    assert e.ece_before == calibration_error(x, y)
    with pytest.raises(ValueError, match="base"):
        fit_from_passes(lambda t: temperature_sums(x, y, t), base=1)


def _cli_json(argv, capsys):
    from crossentropy import cli

    code = cli.main([str(a) for a in [*argv, "--format", "json"]])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_every_engine_reports_nll_in_the_base_of_the_report(rng, tmp_path, capsys):
    """CLI, evaluate, dask.evaluate and dask.evaluate_files: nll_before == cross_entropy, base 2."""
    x, y = _miscalibrated(rng, n=300)
    y[:9] = -100
    s = rng.random(len(y)) + 0.5
    np.savez(tmp_path / "d.npz", logits=x, target=y, w=s)
    cols = ["--target", "target", "--pred", "logits", "--weight-col", "w", "--kind", "logits"]
    d = _cli_json(
        ["evaluate", tmp_path / "d.npz", *cols, "--base", "2", "--temperature", "--batch-size", 64],
        capsys,
    )
    t_cli = d["report"]["temperature"]
    assert t_cli["base"] == 2
    assert math.isclose(t_cli["nll_before"], d["report"]["cross_entropy"], rel_tol=1e-12)
    assert math.isclose(t_cli["nll_after"], d["temperature_scaled"]["cross_entropy"], rel_tol=1e-12)
    ref = evaluate(x, y, sample_weight=s, base=2, temperature=True)
    assert math.isclose(ref.temperature.nll_before, ref.cross_entropy, rel_tol=1e-12)
    assert math.isclose(t_cli["T"], ref.temperature.T, rel_tol=1e-8)
    assert math.isclose(t_cli["nll_before"], ref.temperature.nll_before, rel_tol=1e-12)
    assert math.isclose(t_cli["nll_after"], ref.temperature.nll_after, rel_tol=1e-10)
    assert math.isclose(t_cli["ece_before"], ref.temperature.ece_before, rel_tol=1e-12)

    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    import crossentropy.dask as ced

    kw = {"weight": np.array([1.0, 3.0, 0.5, 2.0]), "label_smoothing": 0.1, "base": 2}
    want = evaluate(x, y, sample_weight=s, temperature=True, **kw)
    with dask.config.set(scheduler="sync"):
        got = ced.evaluate(
            da.from_array(x, chunks=(70, 4)), y, sample_weight=s, temperature=True, **kw
        )
        files = ced.evaluate_files(
            str(tmp_path / "d.npz"),
            target="target",
            pred="logits",
            weight="w",
            kind="logits",
            base=2,
            temperature=True,
        )
    for r, w in ((got, want), (files, ref)):
        assert r.temperature.base == 2
        assert math.isclose(r.temperature.nll_before, r.cross_entropy, rel_tol=1e-12)
        assert math.isclose(r.temperature.T, w.temperature.T, rel_tol=1e-8)
        assert math.isclose(r.temperature.nll_before, w.temperature.nll_before, rel_tol=1e-12)
        assert math.isclose(r.temperature.nll_after, w.temperature.nll_after, rel_tol=1e-10)


def test_cli_on_probabilities_fits_log_p_as_the_report_reads_p(rng, tmp_path, capsys):
    x, y = _miscalibrated(rng, n=200, C=3)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[0] = [1.0, 0.0, 0.0]
    p[0, 1] = -1e-16  # within 10·eps below 0: the core reads it as 0 (counted as clamped)
    y[0] = 0
    np.savez(tmp_path / "p.npz", probs=p, target=y)
    cols = ["--target", "target", "--pred", "probs", "--kind", "probs"]
    d = _cli_json(["evaluate", tmp_path / "p.npz", *cols, "--base", "2", "--temperature"], capsys)
    t = d["report"]["temperature"]
    assert d["rows"]["clamped_cells"] == 1
    assert math.isclose(t["nll_before"], d["report"]["cross_entropy"], rel_tol=1e-12)
    with np.errstate(divide="ignore"):
        lp = np.log(np.clip(p, 0, 1))
    ref = fit_temperature(lp, y, kind="log_probs", base=2)
    assert math.isclose(t["T"], ref.T, rel_tol=1e-8) and t["T"] != 1.0
