"""One explicit example per row of the bad-input checklist, and the defined edge-case values.

Each error test checks the exception type *and* that the message names the
argument, the offending value or position, and the fix; each documented value
is derived in a comment (never copied from another library's output).
Rows 14 (offsets beyond 2³¹, a GPU test) and the CLI file pitfalls are tested
elsewhere.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.special import log_softmax as sp_log_softmax

import crossentropy as ce
import crossentropy.torch as cet

from oracles import TOL, assert_close, ref_cross_entropy, ref_grad_logits, ref_terms, to_np

LOG2 = math.log(2.0)


@contextlib.contextmanager
def quiet():
    """Silence the library's own warnings where they are not the point."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ce.CrossEntropyWarning)
        yield


# --------------------------------------------------------------------------- defined values


def test_defined_values_neginf_class_with_zero_target():
    # row [−inf, 0, 0]: q = [0, ½, ½]; target [0, ½, ½]: −(½ log ½ + ½ log ½) = log 2, and the
    # −inf class with zero mass contributes exactly 0
    x = np.array([[-np.inf, 0.0, 0.0]])
    out = ce.cross_entropy(x, np.array([[0.0, 0.5, 0.5]]), reduction="none")
    assert_close(out, [LOG2])
    g = ce.cross_entropy_grad(x, np.array([[0.0, 0.5, 0.5]]), reduction="none")
    assert g[0, 0] == 0.0  # exactly 0 on the masked class
    assert_close(g, [[0.0, 0.0, 0.0]], atol=1e-15)  # q − y = [0, ½ − ½, ½ − ½]


def test_defined_values_target_mass_on_neginf_class_is_inf():
    # same row with target [.4, .3, .3]: 0.4 · log q_0 = 0.4 · (−inf) → the loss is +inf
    x = np.array([[-np.inf, 0.0, 0.0]])
    assert float(ce.cross_entropy(x, np.array([[0.4, 0.3, 0.3]]))) == math.inf
    assert float(ce.cross_entropy(x, np.array([0]))) == math.inf  # hard label on the −inf class


def test_defined_values_single_finite_class_gives_zero():
    # row [−inf, 0, −inf]: q = [0, 1, 0]; target on the finite class: −log 1 = 0
    x = np.array([[-np.inf, 0.0, -np.inf]])
    assert float(ce.cross_entropy(x, np.array([1]))) == 0.0
    assert float(ce.cross_entropy(x, np.array([[0.0, 1.0, 0.0]]))) == 0.0
    g = ce.cross_entropy_grad(x, np.array([1]))
    assert g.tolist() == [[0.0, 0.0, 0.0]]


def test_defined_values_all_neginf_row_is_nan_only_there():
    x = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    out = ce.cross_entropy(x, np.array([0, 0]), reduction="none")
    assert np.isnan(out[0]) and out[1] == pytest.approx(LOG2, rel=1e-15)


# --------------------------------------------------------------------------- 1: shapes, C = 0


def test_row1_batch_mismatch_raises():
    with pytest.raises(
        ValueError, match=r"`target` shape \(2,\).*class indices \(3,\).*distribution \(3, 4\)"
    ):
        ce.cross_entropy(np.zeros((3, 4)), np.array([0, 1]))


def test_row1_wrong_rank_raises():
    with pytest.raises(ValueError, match=r"`target` shape \(3, 1\).*\(3,\)"):
        ce.cross_entropy(np.zeros((3, 4)), np.zeros((3, 1), dtype=np.int64))


def test_row1_class_dim_mismatch_of_soft_target_raises():
    with pytest.raises(ValueError, match=r"`target` shape \(3, 5\).*distribution \(3, 4\)"):
        ce.cross_entropy(np.zeros((3, 4)), np.full((3, 5), 0.2))


def test_row1_integer_target_with_prediction_shape_is_a_type_error():
    # hard vs soft is decided by dtype, never guessed from the shape
    with pytest.raises(TypeError, match=r"`target`.*integer dtype.*astype\(float\)"):
        ce.cross_entropy(np.zeros((2, 3)), np.zeros((2, 3), dtype=np.int64))


def test_row1_kdim_axis1_shape_error():
    x = np.zeros((2, 3, 4, 5))  # (N, C, d1, d2), classes on axis 1
    with pytest.raises(
        ValueError, match=r"`target` shape \(2, 4, 4\).*class indices \(2, 4, 5\).*axis 1"
    ):
        ce.cross_entropy(x, np.zeros((2, 4, 4), dtype=np.int64), axis=1)
    # the right shape works and equals the channels-last computation
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    t = rng.integers(0, 3, size=(2, 4, 5))
    a = ce.cross_entropy(x, t, axis=1, reduction="none")
    assert a.shape == (2, 4, 5)
    b = ref_terms(np.moveaxis(x, 1, -1).reshape(-1, 3), t.reshape(-1))[0].reshape(2, 4, 5)
    assert_close(a, b)


def test_row1_zero_classes_raises():
    with pytest.raises(
        ValueError, match=r"`pred` has no classes.*size 0 along axis 1.*at least one class"
    ):
        ce.cross_entropy(np.zeros((3, 0)), np.zeros(3, dtype=np.int64))


def test_row1_scalar_prediction_raises():
    with pytest.raises(ValueError, match=r"`pred` must have a class axis"):
        ce.cross_entropy(np.float64(1.0), np.int64(0))


# --------------------------------------------------------------------------- 2, 3: label range


def test_row2_label_at_or_above_c_raises_with_positions():
    msg = r"`target`.*\[0, 3\].*ignore_index.*1 entry, at index 2 \(value 4\).*prediction has 4"
    with pytest.raises(ValueError, match=msg):
        ce.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 4]))


def test_row2_many_bad_labels_counted():
    t = np.array([9, 0, 9, 9, 9, 9, 9, 9])
    with pytest.raises(ValueError, match=r"7 entries, at index 0 \(value 9\), 2 \(value 9\)"):
        ce.cross_entropy(np.zeros((8, 3)), t)


def test_row2_label_out_of_range_without_validation_is_nan_not_plausible(impl):
    out = ce.cross_entropy(
        np.zeros((2, 3)), np.array([0, 7]), validate=False, reduction="none", impl=impl
    )
    assert out[0] == pytest.approx(math.log(3), rel=1e-15) and np.isnan(out[1])


def test_row3_negative_label_other_than_ignore_index_raises():
    with pytest.raises(ValueError, match=r"`target`.*ignore_index` \(-100\).*index 1 \(value -1\)"):
        ce.cross_entropy(np.zeros((3, 4)), np.array([0, -1, 2]))
    # the exact ignore_index value is exempt, also a custom one
    out = ce.cross_entropy(
        np.zeros((3, 4)), np.array([0, -1, 2]), ignore_index=-1, reduction="none"
    )
    assert out.tolist()[1] == 0.0


# --------------------------------------------------------------------------- 4: label dtypes


def test_row4_float_labels_exact_integers_accepted():
    x = np.random.default_rng(1).normal(size=(3, 4))
    a = ce.cross_entropy(x, np.array([0.0, 3.0, 2.0]))
    b = ce.cross_entropy(x, np.array([0, 3, 2]))
    assert float(a) == float(b)


def test_row4_fractional_float_label_raises_never_truncates():
    with pytest.raises(
        ValueError, match=r"`target`.*finite whole number.*index 1 \(value 0.9\).*never truncated"
    ):
        ce.cross_entropy(np.zeros((3, 4)), np.array([0.0, 0.9, 2.0]))
    with pytest.raises(ValueError, match=r"`target`.*finite whole number.*index 2 \(value nan\)"):
        ce.cross_entropy(np.zeros((3, 4)), np.array([0.0, 1.0, np.nan]))


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16])
def test_row4_every_integer_dtype_accepted(dtype):
    x = np.random.default_rng(2).normal(size=(3, 4))
    t = np.array([0, 3, 2], dtype=dtype)
    assert_close(ce.cross_entropy(x, t), ref_cross_entropy(x, t.astype(np.int64)))


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_row4_bool_target_raises(lib):
    t = np.array([True, False, True])
    x = np.zeros((3, 2))
    if lib == "torch":
        t, x = torch.as_tensor(t), torch.as_tensor(x)
    with pytest.raises(TypeError, match=r"`target` has dtype bool.*astype\(int\)"):
        ce.cross_entropy(x, t)


# --------------------------------------------------------------------------- 5: NaN / inf logits


def test_row5_nan_logit_poisons_only_its_row(impl):
    x = np.array([[0.0, np.nan, 1.0], [2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    t = np.array([0, 0, 2])
    out = ce.cross_entropy(x, t, reduction="none", impl=impl)
    assert np.isnan(out[0])
    assert_close(out[1:], ref_terms(x[1:], t[1:])[0])
    assert np.isnan(float(ce.cross_entropy(x, t, impl=impl)))  # and the mean says so
    g = ce.cross_entropy_grad(x, t, reduction="sum", impl=impl)
    assert np.all(np.isnan(g[0]))
    assert_close(g[1:], ref_grad_logits(x[1:], t[1:], reduction="sum"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_row5_ignored_row_with_nonfinite_logits_gives_zero_and_zero_gradient(impl, bad):
    x = np.array([[0.0, bad, 1.0], [2.0, 0.0, 1.0]])
    t = np.array([-100, 0])
    out = ce.cross_entropy(x, t, reduction="none", impl=impl)
    assert out[0] == 0.0
    assert_close(out[1], ref_terms(x[1:], t[1:])[0][0])
    assert_close(ce.cross_entropy(x, t, impl=impl), ref_terms(x[1:], t[1:])[0][0])
    g = ce.cross_entropy_grad(x, t, impl=impl)
    assert g[0].tolist() == [0.0, 0.0, 0.0]
    assert_close(g[1:], ref_grad_logits(x[1:], t[1:]))
    # the same through sample_weight = 0
    s = np.array([0.0, 1.0])
    g = ce.cross_entropy_grad(x, np.array([0, 0]), sample_weight=s, impl=impl)
    assert g[0].tolist() == [0.0, 0.0, 0.0]


def test_row5_plus_inf_logit():
    # [+inf, 0]: q = [1, 0]; target 0 → 0? log_softmax(+inf) = inf − inf = NaN: no distribution.
    # The row is undefined; it must not leak into other rows.
    x = np.array([[np.inf, 0.0], [0.0, 0.0]])
    with quiet():
        out = ce.cross_entropy(x, np.array([1, 0]), reduction="none")
    assert out[1] == pytest.approx(LOG2, rel=1e-15)
    assert not np.isfinite(out[0]) or out[0] == math.inf


# --------------------------------------------------------------------------- 6: probabilities range


@pytest.mark.parametrize(
    "value, where", [(1.2, r"\(0, 1\) \(value 1.2"), (-0.1, r"\(0, 0\) \(value -0.1")]
)
def test_row6_probabilities_outside_unit_interval_raise(value, where):
    p = np.array([[0.5, 0.5], [0.3, 0.7]])
    p[0, 1 if value > 1 else 0] = value
    msg = r"`pred` with kind='probs'.*\[0, 1\].*" + where + r".*kind='logits'"
    with pytest.raises(ValueError, match=msg):
        ce.cross_entropy(p, np.array([0, 1]), kind="probs")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row6_probabilities_within_tolerance_are_set_to_the_bound(dtype):
    e = np.finfo(dtype).eps
    p = np.array([[1 + 2 * e, -2 * e]], dtype=dtype)  # within 10·eps of [1, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ce.CrossEntropyWarning)  # sums to 1: no warning
        assert float(ce.cross_entropy(p, np.array([0]), kind="probs")) == 0.0  # −log 1
        assert float(ce.cross_entropy(p, np.array([1]), kind="probs")) == math.inf  # −log 0
    assert p[0, 0] == dtype(1 + 2 * e)  # the caller's array is untouched
    with pytest.raises(ValueError, match="kind='probs'"):
        ce.cross_entropy(
            np.array([[1 + 20 * e, -20 * e]], dtype=dtype), np.array([0]), kind="probs"
        )


def test_row6_binary_probabilities_outside_unit_interval_raise():
    with pytest.raises(ValueError, match=r"`pred` with kind='probs'.*index 1 \(value 1.5\)"):
        ce.binary_cross_entropy(np.array([0.2, 1.5]), np.array([0.0, 1.0]), kind="probs")


# --------------------------------------------------------------------------- 7, 8: normalisation


def test_row7_unnormalised_probabilities_warn_and_are_not_renormalised():
    p = np.array([[0.5, 0.2, 0.1], [0.2, 0.3, 0.5]])
    with pytest.warns(
        ce.NotNormalizedWarning,
        match=r"`pred`.*do not sum to 1.*index 0 \(value 0\.(8|79).*not renormalised",
    ):
        out = ce.cross_entropy(p, np.array([0, 2]), kind="probs", reduction="none")
    assert_close(out, [-math.log(0.5), -math.log(0.5)])  # not −log(0.5 / 0.8)


def test_row7_unnormalised_log_probs_warn_and_are_not_renormalised():
    lp = np.log(np.array([[0.5, 0.2, 0.1]]))
    with pytest.warns(
        ce.NotNormalizedWarning,
        match=r"`pred`.*kind='log_probs'.*log-sum-exp to 0.*not renormalised",
    ):
        out = ce.cross_entropy(lp, np.array([0]), kind="log_probs")
    assert_close(out, -math.log(0.5))


def test_row7_positive_log_probs_raise():
    with pytest.raises(
        ValueError,
        match=r"`pred` with kind='log_probs' must be ≤ 0.*index \(0, 0\) \(value 0.1\).*kind='logits'",
    ):
        ce.cross_entropy(np.array([[0.1, -1.0]]), np.array([0]), kind="log_probs")


def test_row8_unnormalised_soft_targets_warn_and_count_with_their_mass():
    x = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 1.0]])
    lq = sp_log_softmax(x, axis=-1)
    l0 = -(0.5 * lq[0, 0] + 0.2 * lq[0, 1])
    l1 = -lq[1, 2]
    with pytest.warns(
        ce.NotNormalizedWarning, match=r"`target` rows do not sum to 1.*index 0 \(value 0.7"
    ):
        mean = ce.cross_entropy(x, y)
    assert_close(mean, (l0 + l1) / (0.7 + 1.0))  # each row counts with its mass, no renormalising
    with quiet():
        assert_close(ce.cross_entropy(x, y, reduction="none"), [l0, l1])


def test_row8_negative_or_nonfinite_soft_target_raises():
    with pytest.raises(
        ValueError,
        match=r"`target` distributions must be finite and non-negative.*index \(0, 1\) \(value -0.2\)",
    ):
        ce.cross_entropy(np.zeros((1, 3)), np.array([[1.2, -0.2, 0.0]]))
    with pytest.raises(ValueError, match=r"`target`.*index \(0, 2\) \(value nan\)"):
        ce.cross_entropy(np.zeros((1, 3)), np.array([[0.5, 0.5, np.nan]]))


def test_row8_all_zero_soft_rows_are_masks():
    x = np.array([[1.0, 0.0], [5.0, np.nan]])
    y = np.array([[1.0, 0.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ce.NotNormalizedWarning)  # a mask is not reported
        out = ce.cross_entropy(x, y, reduction="none")
        mean = ce.cross_entropy(x, y)
    assert out[1] == 0.0
    assert_close(mean, -sp_log_softmax(x[0])[0])
    assert ce.cross_entropy_grad(x, y)[1].tolist() == [0.0, 0.0]


# --------------------------------------------------------------------------- 9, 10: empty, all ignored


def test_row9_empty_batch_mean_is_nan_and_warns(impl):
    x, t = np.zeros((0, 3)), np.zeros(0, dtype=np.int64)
    with pytest.warns(ce.EmptyReductionWarning, match=r"N = 0.*NaN.*empty='zero'"):
        assert np.isnan(float(ce.cross_entropy(x, t, impl=impl)))
    assert float(ce.cross_entropy(x, t, empty="zero", impl=impl)) == 0.0
    assert float(ce.cross_entropy(x, t, reduction="sum", impl=impl)) == 0.0
    none = ce.cross_entropy(x, t, reduction="none", impl=impl)
    assert none.shape == (0,)
    g = ce.cross_entropy_grad(x, t, impl=impl)
    assert g.shape == (0, 3)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_row9_empty_batch_raise(reduction):
    msg = r"N = 0.*empty='raise'.*use empty='nan' or 'zero'"
    with pytest.raises(ValueError, match=msg):
        ce.cross_entropy(
            np.zeros((0, 3)), np.zeros(0, dtype=np.int64), reduction=reduction, empty="raise"
        )


def test_row9_empty_batch_torch():
    x, t = torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64)
    with pytest.warns(ce.EmptyReductionWarning):
        out = ce.cross_entropy(x, t)
    assert isinstance(out, torch.Tensor) and torch.isnan(out)
    ref = torch.nn.functional.cross_entropy(x, t)  # PyTorch gives NaN as well
    assert torch.isnan(ref)


@pytest.mark.parametrize("empty", ["nan", "zero"])
def test_row10_all_ignored(impl, empty):
    x = np.array([[np.nan, 1.0, 0.0], [np.inf, -np.inf, 0.0]])
    t = np.array([-100, -100])
    if empty == "nan":
        with pytest.warns(ce.EmptyReductionWarning, match=r"all 2 examples are masked"):
            out = ce.cross_entropy(x, t, impl=impl)
        assert np.isnan(float(out))
        # PyTorch gives NaN as well (0/0), on the same input
        assert torch.isnan(
            torch.nn.functional.cross_entropy(torch.as_tensor(x), torch.as_tensor(t))
        )
    else:
        assert float(ce.cross_entropy(x, t, empty=empty, impl=impl)) == 0.0
    assert float(ce.cross_entropy(x, t, reduction="sum", impl=impl, empty=empty)) == 0.0
    assert ce.cross_entropy(x, t, reduction="none", impl=impl, empty=empty).tolist() == [0.0, 0.0]
    g = ce.cross_entropy_grad(x, t, impl=impl, empty=empty)
    assert g.tolist() == [[0.0] * 3] * 2  # exact zeros, never NaN


def test_row10_all_ignored_raise():
    with pytest.raises(
        ValueError, match=r"all 2 examples are masked.*empty='raise'.*empty='nan' or 'zero'"
    ):
        ce.cross_entropy(np.zeros((2, 3)), np.array([-100, -100]), empty="raise")


# --------------------------------------------------------------------------- 11: extreme logits


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row11_extreme_logits_stay_finite(impl, dtype):
    x = np.array([[1e4, -1e4], [1e30, 0.0], [-1e30, 1e30]], dtype=dtype)
    t = np.array([1, 1, 0])
    out = ce.cross_entropy(x, t, reduction="none", impl=impl)
    assert out.dtype == dtype and np.all(np.isfinite(out))
    # loss of a confident miss grows linearly: logit gap − 0
    np.testing.assert_allclose(out, [2e4, 1e30, 2e30], rtol=1e-6)
    right = ce.cross_entropy(x, np.array([0, 0, 1]), reduction="none", impl=impl)
    assert np.all(right == 0.0)
    g = ce.cross_entropy_grad(x, t, reduction="sum", impl=impl)
    assert np.all(np.isfinite(g))
    assert_close(g, [[1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]], dtype)


# --------------------------------------------------------------------------- 12: fp16 / bf16


def _naive_same_dtype(x, t):
    """Textbook log-softmax CE evaluated entirely in the input's low precision (NumPy fp16)."""
    m = x.max(-1, keepdims=True)
    z = x - m
    lse = np.log(np.exp(z).sum(-1, keepdims=True))
    return -(z - lse)[np.arange(len(t)), t]


def _low_precision_bound(err, naive, tol):
    return np.all((err <= 4 * naive) | (err <= naive + tol))


def test_row12_float16_computed_and_returned_in_float32(impl):
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(64, 50)) * 4).astype(np.float16)
    x[::7, 0] = x[::7].max(-1) + 10  # confident rows
    t = rng.integers(0, 50, size=64)
    t[::7] = 0
    out = ce.cross_entropy(
        x, t, reduction="none", impl="array_api" if impl == "array_api" else "auto"
    )
    assert out.dtype == np.float32
    exact = ref_terms(x.astype(np.float64), t)[0]
    err = np.abs(out.astype(np.float64) - exact)
    naive = np.abs(_naive_same_dtype(x, t).astype(np.float64) - exact)
    assert _low_precision_bound(err, naive, 1e-3), (err.max(), naive.max())
    assert ce.cross_entropy(x, t).dtype == np.float32
    assert ce.cross_entropy_grad(x, t).dtype == np.float32


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_row12_torch_low_precision_computed_in_float32(dtype):
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(64, 50, generator=g) * 4).to(dtype)
    t = torch.randint(0, 50, (64,), generator=g)
    out = ce.cross_entropy(x, t, reduction="none")
    assert out.dtype == torch.float32
    exact = ref_terms(x.double().numpy(), t.numpy())[0]
    # naive: the same formula in the low dtype, op by op
    m = x.max(-1, keepdim=True).values
    z = x - m
    naive_loss = -(z - z.exp().sum(-1, keepdim=True).log()).gather(-1, t[:, None])[:, 0]
    err = np.abs(out.double().numpy() - exact)
    naive = np.abs(naive_loss.double().numpy() - exact)
    tol = 1e-3 if dtype == torch.float16 else 1e-2
    assert _low_precision_bound(err, naive, tol), (err.max(), naive.max())
    # and well inside float32's own accuracy for these inputs
    np.testing.assert_allclose(out.double().numpy(), exact, rtol=1e-5, atol=1e-5)
    assert ce.cross_entropy_grad(x, t).dtype == torch.float32


# --------------------------------------------------------------------------- 13: strides


def _views():
    rng = np.random.default_rng(5)
    base = rng.normal(size=(9, 7))
    lab = rng.integers(0, 5, size=9)
    return {
        "transposed": (np.ascontiguousarray(base[:, :5].T).T, lab),
        "fortran": (np.asfortranarray(base[:, :5]), lab),
        "step-sliced": (base[::2, :5], lab[::2]),
        "negative-stride": (base[::-1, :5], lab[::-1]),
        "column-offset": (base[:, 1:6], lab),
        "row-offset": (base[1:, 2:7], lab[1:]),
        "class-step": (base[:, ::-1][:, 1:6], lab),
        "broadcast": (np.broadcast_to(base[0, :5], (9, 5)), lab),
    }


@pytest.mark.parametrize("name", list(_views()))
def test_row13_non_contiguous_numpy_equals_contiguous(impl, name):
    x, t = _views()[name]
    xc, tc = np.ascontiguousarray(x), np.ascontiguousarray(t)
    t_view = t
    for red in ("none", "mean"):
        assert_close(
            ce.cross_entropy(x, t_view, reduction=red, impl=impl),
            ce.cross_entropy(xc, tc, reduction=red, impl=impl),
        )
    assert_close(
        ce.cross_entropy_grad(x, t_view, impl=impl), ce.cross_entropy_grad(xc, tc, impl=impl)
    )
    assert_close(ce.cross_entropy(x, t_view, impl=impl), ref_cross_entropy(xc, tc))


def test_row13_non_contiguous_soft_targets_and_weights(impl):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(8, 10))[:, ::2]
    y = rng.dirichlet(np.ones(5), size=16)[::2]
    w = rng.uniform(0.5, 2, size=10)[::2]
    s = rng.uniform(0.5, 2, size=16)[::-2]
    a = ce.cross_entropy(x, y, weight=w, sample_weight=s, impl=impl)
    b = ce.cross_entropy(
        *(np.ascontiguousarray(v) for v in (x, y)),
        weight=np.ascontiguousarray(w),
        sample_weight=np.ascontiguousarray(s),
        impl=impl,
    )
    assert_close(a, b)


@pytest.mark.parametrize(
    "name", ["expanded", "transposed", "step-sliced", "offset", "expanded-target"]
)
def test_row13_non_contiguous_torch_equals_contiguous(name):
    g = torch.Generator().manual_seed(7)
    base = torch.randn(10, 8, generator=g, dtype=torch.float64)
    lab = torch.randint(0, 5, (10,), generator=g)
    if name == "expanded":
        x, t = base[0, :5].expand(10, 5), lab  # stride 0
    elif name == "transposed":
        x, t = base[:, :5].t().contiguous().t(), lab  # column-major
    elif name == "step-sliced":
        x, t = base[::2, :5], lab[::2]
    elif name == "offset":
        x, t = base[1:, 1:6], lab[1:]
    else:
        x, t = base[:, :5], lab[:1].expand(10)
    assert not x.is_contiguous() or not t.is_contiguous()
    xc, tc = x.contiguous(), t.contiguous()
    a = ce.cross_entropy(x, t, reduction="none")
    assert_close(a, ce.cross_entropy(xc, tc, reduction="none"))
    assert_close(ce.cross_entropy_grad(x, t), ce.cross_entropy_grad(xc, tc))
    assert_close(a, torch.nn.functional.cross_entropy(xc, tc, reduction="none"))


# --------------------------------------------------------------------------- 15: dtypes


def test_row15_dtype_promotion_and_rejection():
    x32 = np.zeros((2, 3), dtype=np.float32)
    out = ce.cross_entropy(x32, np.array([0, 1]), weight=np.ones(3), sample_weight=np.ones(2))
    assert out.dtype == np.float32  # weights are cast to the compute dtype
    with pytest.raises(
        TypeError, match=r"`pred` must be a floating-point array.*int64.*astype\(float\)"
    ):
        ce.cross_entropy(np.zeros((2, 3), dtype=np.int64), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"`pred` must be real floating point.*complex"):
        ce.cross_entropy(np.zeros((2, 3), dtype=np.complex128), np.array([0, 1]))


# --------------------------------------------------------------------------- 16: label smoothing


@pytest.mark.parametrize("eps", [-0.1, 1.1, math.nan])
def test_row16_label_smoothing_out_of_range_raises(eps):
    with pytest.raises(ValueError, match=r"`label_smoothing` must be in \[0, 1\]; got " + str(eps)):
        ce.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=eps)


def test_row16_smoothing_others_needs_two_classes():
    with pytest.raises(ValueError, match=r"`smoothing='others'`.*at least 2 classes"):
        ce.cross_entropy(
            np.zeros((2, 1)), np.array([0, 0]), label_smoothing=0.1, smoothing="others"
        )


def test_row16_smoothing_with_ignore_and_weights_matches_torch(impl):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(6, 4))
    t = np.array([0, -100, 3, 2, -100, 1])
    w = np.array([0.5, 2.0, 1.0, 0.0])
    out = ce.cross_entropy(x, t, weight=w, label_smoothing=0.2, impl=impl)
    ref = torch.nn.functional.cross_entropy(
        torch.as_tensor(x), torch.as_tensor(t), weight=torch.as_tensor(w), label_smoothing=0.2
    )
    assert_close(out, ref.item())
    assert_close(out, ref_cross_entropy(x, t, weight=w, label_smoothing=0.2))


# --------------------------------------------------------------------------- 17: weights


def test_row17_class_weight_wrong_length_or_negative_raises():
    x, t = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(
        ValueError, match=r"`weight` must have one entry per class, shape \(3,\); got \(2,\)"
    ):
        ce.cross_entropy(x, t, weight=np.ones(2))
    with pytest.raises(
        ValueError, match=r"`weight` must be finite and non-negative.*index 1 \(value -1.0\)"
    ):
        ce.cross_entropy(x, t, weight=np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"`weight`.*index 2 \(value nan\)"):
        ce.cross_entropy(x, t, weight=np.array([1.0, 1.0, np.nan]))


def test_row17_sample_weight_wrong_shape_or_negative_raises():
    x, t = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(
        ValueError,
        match=r"`sample_weight` must have one entry per example, shape \(2,\); got \(3,\)",
    ):
        ce.cross_entropy(x, t, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"`sample_weight`.*index 1 \(value -1.0\).*Use 0 to mask"):
        ce.cross_entropy(x, t, sample_weight=np.array([1.0, -1.0]))


def test_row17_zero_total_class_weight_follows_the_all_ignored_rule():
    x, t = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0, 1])
    with pytest.warns(ce.EmptyReductionWarning):
        assert np.isnan(float(ce.cross_entropy(x, t, weight=np.zeros(2))))
    assert float(ce.cross_entropy(x, t, weight=np.zeros(2), empty="zero")) == 0.0
    assert ce.cross_entropy_grad(x, t, weight=np.zeros(2)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


# --------------------------------------------------------------------------- 18: input kinds


def test_row18_auto_decides_probs_and_says_so():
    p = np.array([[0.2, 0.8], [1.0, 0.0]])
    with pytest.warns(ce.KindDecisionWarning, match=r"kind='auto' decided kind='probs'"):
        out = ce.cross_entropy(p, np.array([1, 0]), kind="auto")
    assert_close(out, -math.log(0.8) / 2)  # (−log 0.8 − log 1) / 2
    assert ce.infer_kind(p)[0] == "probs"


def test_row18_auto_decides_log_probs_and_logits():
    lp = np.log(np.array([[0.25, 0.75]]))
    with pytest.warns(ce.KindDecisionWarning, match=r"decided kind='log_probs'"):
        assert_close(ce.cross_entropy(lp, np.array([1]), kind="auto"), -math.log(0.75))
    x = np.array([[2.0, -1.0, 0.5]])
    with pytest.warns(ce.KindDecisionWarning, match=r"decided kind='logits'"):
        assert_close(ce.cross_entropy(x, np.array([0]), kind="auto"), -sp_log_softmax(x[0])[0])


def test_row18_auto_ambiguous_mixed_rows_raise():
    p = np.array([[0.2, 0.8], [1.0, 3.0]])  # row 0 a distribution, row 1 not
    with pytest.raises(
        ValueError, match=r"kind='auto' is ambiguous.*index 0.*Pass kind= explicitly"
    ):
        ce.cross_entropy(p, np.array([0, 1]), kind="auto")


def test_row18_auto_single_class_raises():
    with pytest.raises(
        ValueError, match=r"kind='auto' cannot decide for a single class \(C = 1\).*Pass kind="
    ):
        ce.cross_entropy(np.array([[0.2], [1.0]]), np.array([0, 0]), kind="auto")


def test_row18_double_softmax_warning():
    p = np.array([[0.2, 0.8], [0.5, 0.5]])
    with pytest.warns(
        ce.DoubleSoftmaxWarning, match=r"`pred`.*kind='logits'.*double softmax.*kind='probs'"
    ):
        out = ce.cross_entropy(p, np.array([1, 0]))
    assert_close(out, ref_cross_entropy(p, np.array([1, 0])))  # computed as logits, as asked
    with warnings.catch_warnings():
        warnings.simplefilter("error", ce.DoubleSoftmaxWarning)
        ce.cross_entropy(
            np.array([[0.2, 0.7], [0.5, 0.5]]), np.array([1, 0])
        )  # not every row: silent


# --------------------------------------------------------------------------- 19: single-class ground truth


def test_row19_classes_come_from_the_prediction_not_the_labels():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(5, 4))
    for only in (0, 3):
        t = np.full(5, only)
        out = ce.cross_entropy(x, t)
        assert_close(out, -sp_log_softmax(x, axis=-1)[:, only].mean())  # log over 4 classes, not 1
    with pytest.raises(ValueError, match=r"prediction has 4"):
        ce.cross_entropy(x, np.full(5, 4))
    # a soft one-class target is equally fine
    y = np.zeros((5, 4))
    y[:, 2] = 1
    assert_close(ce.cross_entropy(x, y), -sp_log_softmax(x, axis=-1)[:, 2].mean())


# --------------------------------------------------------------------------- 20: perplexity overflow


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row20_perplexity_overflow_gives_inf(dtype):
    # mean NLL 800 nats: e^800 overflows float64 (max ~e^709.78) and float32 (~e^88.7)
    x = np.array([[0.0, 800.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert float(ce.perplexity(x, np.array([0]))) == math.inf
    assert float(ce.cross_entropy(x, np.array([0]))) == pytest.approx(
        800.0, rel=TOL[np.dtype(dtype)]["rtol"]
    )


# --------------------------------------------------------------------------- mixed array libraries


def test_mixed_libraries_numpy_weights_with_torch_prediction():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 3))
    t = np.array([0, 2, 1, -100])
    w = np.array([1.0, 2.0, 0.5])
    s = np.array([1.0, 0.5, 2.0, 1.0])
    out = ce.cross_entropy(torch.as_tensor(x), torch.as_tensor(t), weight=w, sample_weight=s)
    assert isinstance(out, torch.Tensor)
    assert_close(out, ref_cross_entropy(x, t, weight=w, sample_weight=s))
    out2 = ce.cross_entropy(torch.as_tensor(x), t, weight=list(w))  # NumPy target, list weight
    assert isinstance(out2, torch.Tensor)
    assert_close(out2, ref_cross_entropy(x, t, weight=w))


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    "option, value",
    [
        ("reduction", "avg"),
        ("kind", "prob"),
        ("empty", "none"),
        ("smoothing", "gauss"),
        ("divide_by", "n"),
    ],
)
def test_unknown_option_names_the_choices(option, value):
    with pytest.raises(ValueError, match=rf"`{option}` must be one of .*; got '{value}'"):
        ce.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), **{option: value})


# --------------------------------------------------------------------------- labels in their own width
# A label is read in its own dtype: no value may wrap (uint64) or round (float) onto a class or
# onto ignore_index. Validated: a ValueError naming the true value; unvalidated: a NaN row.

_X2 = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])  # row 0 alone: −log softmax(x0)[0]


@pytest.mark.parametrize(
    "dtype, value, ignore_index",
    [
        (np.uint64, 2**64 - 100, -100),  # wraps onto −100 in a cast to int64
        (np.uint64, 2**64 - 1, -1),  # wraps onto −1
        (np.uint64, 2**64 - 7, None),
        (np.uint64, 2**63, -100),  # the smallest value that wraps: −2**63
        (np.uint32, 2**32 - 100, -100),
        (np.int64, 2**63 - 1, -100),
        (np.int8, -128, -100),
        (np.uint8, 156, -100),  # 156 = −100 as int8 bits
    ],
)
@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_integer_labels_are_checked_in_their_own_width(impl, dtype, value, ignore_index, lib):
    t = np.array([0, value], dtype=dtype)
    x = _X2
    if lib == "torch":
        t, x, impl = torch.from_numpy(t), torch.as_tensor(x), "auto"  # impl= picks NumPy paths
    # validated: the message names the value as given (digits of a Python int), and its position
    with pytest.raises(ValueError, match=rf"index 1 \(value {value}\)"):
        ce.cross_entropy(x, t, ignore_index=ignore_index, impl=impl)
    # unvalidated: a bad row (NaN loss and weight), never the mean of row 0 alone
    with quiet():
        kw = dict(ignore_index=ignore_index, validate=False, impl=impl)
        rows = to_np(ce.cross_entropy(x, t, reduction="none", **kw))
        mean = float(ce.cross_entropy(x, t, **kw))
    row0 = -sp_log_softmax(_X2[0])[0]
    assert rows[0] == pytest.approx(row0, rel=1e-12) and np.isnan(rows[1]) and np.isnan(mean)


@pytest.mark.parametrize("value", [1.5, -0.5, 2.25, 3.0, -3.0, 1e300, -1e20, np.inf, np.nan])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unvalidated_non_class_float_labels_are_nan_rows(impl, value, dtype):
    # §2: labels are never truncated; §4: without validation a label that is not a class gives
    # NaN for its row, never a plausible number (1.5 used to be class 1)
    t = np.array([0.0, value], dtype=dtype)
    with quiet():
        rows = ce.cross_entropy(_X2, t, reduction="none", validate=False, impl=impl)
        grad = ce.cross_entropy_grad(_X2, t, reduction="none", validate=False, impl=impl)
        torch_rows = cet.cross_entropy(
            torch.as_tensor(_X2), torch.as_tensor(t), reduction="none", validate=False
        )
    for r in (rows, to_np(torch_rows)):
        assert r[0] == pytest.approx(-sp_log_softmax(_X2[0])[0], rel=1e-12) and np.isnan(r[1])
    assert np.isnan(grad[1]).all() and np.isfinite(grad[0]).all()
    # validated: a ValueError naming the position and the value
    shown = f"{float(np.asarray(value, dtype=dtype))!r}".replace("+", r"\+")
    with pytest.raises(ValueError, match=rf"index 1 \(value {shown}\)"):
        ce.cross_entropy(_X2, t)


@pytest.mark.parametrize("dtype", [np.uint64, np.int64, np.uint8, np.bool_])
def test_integer_and_bool_weights_are_read_before_any_cast(dtype):
    # integer sample/class weights are numbers: a uint64 weight is never wrapped negative
    big = {np.uint64: 2**64 - 1, np.int64: 2**63 - 1, np.uint8: 255, np.bool_: True}[dtype]
    s = np.array([big, big], dtype=dtype)
    w = np.array([big, big, big], dtype=dtype)
    plain = float(ce.cross_entropy(_X2, np.array([0, 2])))
    for kw in (dict(sample_weight=s), dict(weight=w), dict(sample_weight=s, weight=w)):
        assert float(ce.cross_entropy(_X2, np.array([0, 2]), **kw)) == pytest.approx(
            plain, rel=1e-12
        )


# --------------------------------------------------------------------------- the weights' scale
# A weighted mean Σℓ/Σw does not depend on a common factor of the weights (§4): the core rescales
# them by a power of two before the cast to the compute dtype. Expected values: the mean with the
# unscaled base weights (the product base·scale is exact in float64).

_XW = np.random.default_rng(41).normal(size=(5, 4)) * 3
_TW = np.array([0, 3, 1, 1, 2])
_BIG = np.array([0.25, 1.0, 0.5, 0.125])  # base weights for a large scale (products ≤ scale)
_SMALL = np.array([4.0, 1.0, 2.0, 8.0])  # base weights for a tiny scale (products ≥ scale)


def _scaled(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(class base, sample base) whose product with ``scale`` is exact and non-zero in float64."""
    base = _BIG if scale >= 1 else _SMALL
    return base, np.concatenate([base, base[:1]])


@pytest.mark.parametrize(
    "scale, dtype",
    [
        (1e308, np.float64),
        (2.0**1023, np.float64),
        (3e301, np.float64),
        (5e-324, np.float64),  # the smallest subnormal
        (1e-320, np.float64),
        (2.0**-1060, np.float64),
        (1e-300, np.float64),
        (1e-50, np.float32),  # float64 weights below float32's range
        (1e300, np.float32),  # float64 weights above float32's range
        (1e-40, np.float32),
    ],
)
@pytest.mark.parametrize("which", ["weight", "sample_weight", "both"])
def test_weighted_mean_is_invariant_to_the_weights_scale(impl, scale, dtype, which):
    cw, sw = _scaled(scale)
    x = _XW.astype(dtype)

    def kw(f):
        out = {}
        if which in ("weight", "both"):
            out["weight"] = cw * f
        if which in ("sample_weight", "both"):
            out["sample_weight"] = sw * f
        return out

    tol = TOL[np.dtype(dtype)]["rtol"]
    for smoothing in (0.0, 0.2):
        want = float(ce.cross_entropy(x, _TW, label_smoothing=smoothing, impl=impl, **kw(1.0)))
        got = float(ce.cross_entropy(x, _TW, label_smoothing=smoothing, impl=impl, **kw(scale)))
        assert got == pytest.approx(want, rel=tol), (smoothing, got, want)
    g1 = ce.cross_entropy_grad(x, _TW, impl=impl, **kw(1.0))
    g2 = ce.cross_entropy_grad(x, _TW, impl=impl, **kw(scale))
    assert_close(g2, g1, dtype, atol=TOL[np.dtype(dtype)]["atol"])
    d1, d2 = (ce.decompose(x, np.eye(4)[_TW] * 0.9 + 0.025, **kw(f)) for f in (1.0, scale))
    for a, b in zip(d2, d1, strict=True):
        assert float(a) == pytest.approx(float(b), rel=tol)
    p1, p2 = (float(ce.perplexity(x, _TW, **kw(f))) for f in (1.0, scale))
    assert p2 == pytest.approx(p1, rel=tol)
    # "sum" and "none" keep the caller's scale: they may over- or underflow, never turn NaN
    total = float(ce.nll(x, _TW, reduction="sum", impl=impl, **kw(scale)))
    assert not math.isnan(total)
    if math.isfinite(total) and total != 0 and scale >= 1:
        base = float(ce.nll(x, _TW, reduction="sum", impl=impl, **kw(1.0)))
        f = scale * scale if which == "both" else scale
        if math.isfinite(f):
            assert total / f == pytest.approx(base, rel=tol)


@pytest.mark.parametrize("tiny", [1e-50, 1e-45, 1e-300])
def test_a_tiny_sample_weight_never_masks_its_row(impl, tiny):
    # float32 prediction, float64 sample weight below float32's range: the row is weighted (its
    # NaN prediction poisons the mean), not silently masked as a zero weight would be
    x = _X2.astype(np.float32)
    s = np.array([tiny, 1.0])
    want = -sp_log_softmax(_X2[1])[2]  # row 0 weighs nothing next to row 1
    got = float(ce.cross_entropy(x, np.array([0, 2]), sample_weight=s, impl=impl))
    assert got == pytest.approx(want, rel=1e-5)
    x_nan = x.copy()
    x_nan[0, 1] = np.nan
    assert np.isnan(float(ce.cross_entropy(x_nan, np.array([0, 2]), sample_weight=s, impl=impl)))
    both = np.array([tiny, tiny])  # every weight tiny: the plain mean, not an empty one
    with warnings.catch_warnings():
        warnings.simplefilter("error", ce.EmptyReductionWarning)
        plain = float(ce.cross_entropy(x, np.array([0, 2]), impl=impl))
        assert float(
            ce.cross_entropy(x, np.array([0, 2]), sample_weight=both, impl=impl)
        ) == pytest.approx(plain, rel=1e-5)


@pytest.mark.parametrize("scale", [1e308, 1e300, 1e-320, 5e-324, 1e-50, 1e100, 1e-280])
def test_dataset_level_paths_give_the_mean_or_a_clear_error(scale):
    # the Accumulator and the temperature fit sum in float64 at the weights' own scale, and the
    # PyTorch adapters compute in the prediction's dtype without rescaling: each gives the mean
    # of unscaled weights or a ValueError that says to rescale, never a silent wrong number
    cw, sw = _scaled(scale)
    want = float(ce.cross_entropy(_XW, _TW, sample_weight=sw, weight=cw))
    for dtype in (np.float64, np.float32):
        x = _XW.astype(dtype)
        s = sw * scale
        runs = {
            "evaluate": lambda x, s: ce.evaluate(x, _TW, sample_weight=s, weight=cw).cross_entropy,
            "temperature": lambda x, s: ce.fit_temperature(
                x, _TW, sample_weight=s, weight=cw
            ).nll_before,
            "torch": lambda x, s: float(
                cet.cross_entropy(
                    torch.as_tensor(x), torch.as_tensor(_TW), weight=torch.as_tensor(cw),
                    sample_weight=torch.as_tensor(s),
                )
            ),
        }  # fmt: skip
        for name, run in runs.items():
            try:
                got = run(x, s)
            except ValueError as e:
                assert "sample_weight" in str(e) and "maximum" in str(e), (name, str(e))
                continue
            assert got == pytest.approx(want, rel=TOL[np.dtype(dtype)]["rtol"]), (name, dtype)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    "label, shown", [(1e300, "1e+300"), (-1e300, "-1e+300"), (3e19, "3e+19"), (7.0, "7.0")]
)
def test_label_too_large_names_position_and_value(label, shown):
    t = np.array([0.0, 1.0, label])
    with pytest.raises(
        ValueError, match=rf"`target`.*index 2 \(value {shown.replace('+', '[+]')}\)"
    ):
        ce.cross_entropy(np.zeros((3, 4)), t)


@pytest.mark.parametrize(
    "rows, labels, kind",
    [
        ([[0.5, 0.5], [np.nan, 0.5], [0.1, 0.9]], [0, 0, 1], "probs"),
        ([[np.log(0.5), np.log(0.5)], [0.0, np.nan]], [0, 1], "log_probs"),
        ([[3.0, -1.0], [np.nan, np.nan]], [0, 1], "logits"),
    ],
)
def test_auto_kind_leaves_nan_rows_out_and_says_so(rows, labels, kind):
    # a NaN row is NaN under every kind (§3), so it says nothing about the kind: the others decide
    x = np.array(rows)
    with pytest.warns(ce.KindDecisionWarning, match=rf"kind={kind!r}.*1 row holding NaN left out"):
        out = ce.cross_entropy(x, np.array(labels), kind="auto", reduction="none")
    assert np.isnan(out[1]) and np.isfinite(out[0])
    with pytest.raises(ValueError, match=r"every row holds NaN"):
        ce.infer_kind(np.full((2, 3), np.nan))


# --------------------------------------------------------------------------- lenient option types


@pytest.mark.parametrize(
    "kw, error",
    [
        (dict(label_smoothing=True), TypeError),
        (dict(label_smoothing=np.True_), TypeError),
        (dict(label_smoothing="0.1"), TypeError),
        (dict(label_smoothing=0.1j), TypeError),
        (dict(ignore_index=True), TypeError),
        (dict(ignore_index=1.0), TypeError),
        (dict(ignore_index="1"), TypeError),
        (dict(ignore_index=2**64), ValueError),
        (dict(axis=True), ValueError),
        (dict(axis=np.False_), ValueError),
        (dict(axis=1.0), ValueError),
        (dict(weight=np.array([1.0, 1.0, 1.0 + 0j])), TypeError),
        (dict(sample_weight=np.array([1.0, 1.0j])), TypeError),
        (dict(weight=np.array(["1", "1", "1"])), TypeError),
        (dict(base=-2.0), ValueError),
    ],
)
@pytest.mark.parametrize("fn", ["cross_entropy", "nll", "cross_entropy_grad", "perplexity"])
def test_lenient_option_types_are_refused(kw, error, fn):
    name = next(iter(kw))
    if fn == "cross_entropy_grad" and name == "base":
        return  # the gradient has no unit
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(error, match=rf"`{name}`"):
            getattr(ce, fn)(_X2, np.array([0, 2]), **kw)


def test_perplexity_takes_a_base_and_does_not_depend_on_it():
    # §7: perplexity is base-independent (2^bits = e^nats), so base is accepted and changes nothing
    t = np.array([0, 2])
    e = float(ce.perplexity(_X2, t))
    assert e == pytest.approx(math.exp(float(ce.cross_entropy(_X2, t))), rel=1e-15)
    assert float(ce.perplexity(_X2, t, base=2)) == e
    assert float(2 ** ce.cross_entropy(_X2, t, base=2)) == pytest.approx(e, rel=1e-14)
    none = ce.perplexity(_X2, t, base=10, reduction="none")
    assert_close(none, ce.perplexity(_X2, t, reduction="none"))


@pytest.mark.parametrize(
    "dtype, kw",
    [
        (torch.float64, dict(weight=[1e308, 1.0, 1.0, 1.0])),  # Σ w_i = 2e308 over two rows
        (torch.float64, dict(sample_weight=[1e308, 1e308])),
        (torch.float64, dict(sample_weight=[1e-320, 1.0])),  # subnormal: few digits left
        (torch.float32, dict(sample_weight=[1e-50, 1e-50])),  # 0 in float32
        (torch.float32, dict(weight=[1e39, 1.0, 1.0, 1.0])),  # inf in float32
    ],
)
def test_torch_adapters_raise_for_weights_they_cannot_hold(dtype, kw):
    # the drop-in losses compute in the prediction's dtype without rescaling (§4): a weight the
    # compute dtype cannot hold raises instead of giving a mean of 0, NaN or a masked row
    x = torch.zeros((2, 4), dtype=dtype)
    t = torch.tensor([0, 0])
    kw = {k: torch.tensor(v, dtype=torch.float64) for k, v in kw.items()}
    with pytest.raises(ValueError, match=r"`(sample_weight|weight)`.*divide them by their maximum"):
        cet.cross_entropy(x, t, **kw)
    core = ce.cross_entropy(x, t, **kw)  # the core rescales: the mean of weights of 1, log 4
    assert float(core) == pytest.approx(math.log(4), rel=1e-6)


@pytest.mark.parametrize(
    "kw,name",
    [
        ({"weight": np.ones(2)}, "weight"),
        ({"weight": np.ones((3, 1))}, "weight"),
        ({"pos_weight": np.ones(4)}, "pos_weight"),
        ({"pos_weight": np.ones((2, 2))}, "pos_weight"),
    ],
)
def test_binary_weights_that_do_not_broadcast_are_named(kw, name):
    """A BCE weight of the wrong shape names the argument and both shapes, not numpy's message."""
    x, y = np.zeros((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match=rf"`{name}` of shape .* prediction's shape \(2, 3\)"):
        ce.binary_cross_entropy(x, y, **kw)


@pytest.mark.parametrize("gamma", [np.inf, float("nan"), -0.5, "2", True])
def test_binary_focal_gamma_is_a_finite_number(gamma):
    """γ = inf would make every loss 0; NaN, negatives and non-numbers are refused too."""
    x, y = np.array([0.3, -1.0]), np.array([1.0, 0.0])
    with pytest.raises((ValueError, TypeError), match="focal_gamma"):
        ce.binary_cross_entropy(x, y, focal_gamma=gamma)
