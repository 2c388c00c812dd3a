"""crossentropy.pipeline: options hold their defaults once, the row filter rejects exactly the rows
the core's raising checks refuse, and a run equals the in-memory evaluate.

Oracles: the raising checks of ``_validate`` applied to each row alone, and
``crossentropy.evaluate`` on the same arrays in memory.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from crossentropy import _validate as v
from crossentropy import io, pipeline
from crossentropy.accumulate import evaluate

EPS = np.finfo(np.float64).eps


def _raises(check, *args, **kw) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", v.NotNormalizedWarning)  # rows here need not sum to 1
        try:
            check(*args, **kw)
        except (ValueError, TypeError):
            return True
    return False


def _near_bounds(rng, n: int, centre: float) -> np.ndarray:
    """Values within a few 10·eps of ``centre`` on both sides, and the exact tolerance edges."""
    x = centre + rng.integers(-40, 41, size=(n, 3)) * EPS
    x[0, 0], x[1, 0] = centre + 10 * EPS, centre - 10 * EPS
    return x


def test_row_masks_agree_with_the_raising_checks(rng):
    """Each row is flagged exactly when the core's check, given that row alone, raises."""
    for x in (_near_bounds(rng, 60, 0.0), _near_bounds(rng, 60, 1.0)):
        mask, reason = v.bad_prob_rows(x)
        want = [_raises(v.check_probs, np, x[i : i + 1]) for i in range(len(x))]
        assert mask.tolist() == want and any(want) and not all(want)
        assert reason == "probability outside [0, 1]"
    lp = _near_bounds(rng, 60, 0.0)
    mask, _ = v.bad_log_prob_rows(lp)
    want = [_raises(v.check_log_probs, np, lp[i : i + 1], np.zeros(1)) for i in range(len(lp))]
    assert mask.tolist() == want and any(want) and not all(want)
    t = np.array([0, 2, 3, -1, -100, 7])
    mask, reason = v.bad_label_rows(t, 3, -100)
    want = [_raises(v.check_index_target, np, t[i : i + 1], 3, -100, (1,)) for i in range(len(t))]
    assert mask.tolist() == want and reason == "label out of range [0, 3)"
    w = np.array([1.0, 0.0, -1e-300, np.nan, np.inf, 2.0])
    mask, _ = v.bad_weight_rows(w)
    assert mask.tolist() == [
        _raises(v.check_sample_weight, np, w[i : i + 1], (1,)) for i in range(6)
    ]
    soft = np.array([[0.5, 0.5], [1.5, -0.5], [np.nan, 1.0], [0.0, 0.0]])
    mask, _ = v.bad_soft_target_rows(soft)
    assert mask.tolist() == [
        _raises(v.check_soft_target, np, soft[i : i + 1], validate=True) for i in range(4)
    ]


def _batch(pred, target, weight=None, **kw) -> io.Batch:
    return io.Batch(np.asarray(pred, float), np.asarray(target), weight, "f.npz", 10, **kw)


def test_row_filter_rejects_counts_and_raises():
    pred = [[0.5, 0.5], [1.2, -0.2], [np.nan, 0.5], [0.3, 0.7], [0.1, 0.9]]
    batch = _batch(pred, [0, 1, 0, 5, -100], np.array([1.0, 1.0, 1.0, 1.0, -2.0]))
    skip = pipeline.EvaluateOptions(on_invalid="skip")
    counts = pipeline.Counts()
    p, t, w = pipeline.RowFilter("probs", 2, skip)(batch, counts)
    assert p.tolist() == [[0.5, 0.5]] and t.tolist() == [0] and w.tolist() == [1.0]
    assert counts.rejected == 4
    assert counts.by_reason == {
        "prediction is NaN": 1,
        "probability outside [0, 1]": 1,
        "label out of range [0, 2)": 1,
        "sample weight negative or non-finite": 1,
    }
    with pytest.raises(io.DataError) as e:
        pipeline.RowFilter("probs", 2)(batch, pipeline.Counts())
    # the first reason, its rows in the file's numbering (offset 10), and the fix
    assert str(e.value) == (
        "f.npz: prediction is NaN at row 12 (and 3 other problems); "
        "fix the file or pass --on-invalid skip to reject such rows"
    )


def test_missing_labels_become_ignored_rows():
    batch = _batch([[1.0, 0.0], [0.0, 1.0]], np.array([0, 0]), missing=np.array([False, True]))
    counts = pipeline.Counts()
    opts = pipeline.EvaluateOptions(missing_labels="ignore")
    _, t, _ = pipeline.RowFilter("logits", 2, opts)(batch, counts)
    assert t.tolist() == [0, -100] and counts.missing_labels == 1 and counts.rejected == 0
    with pytest.raises(io.DataError, match="label is missing"):
        pipeline.RowFilter("logits", 2)(batch, pipeline.Counts())


def test_options_validate_and_normalise():
    assert pipeline.EvaluateOptions(base="2").base == 2
    assert pipeline.EvaluateOptions(base=2).base == 2
    with pytest.raises(
        pipeline.OptionError, match=r"`bins` must be an integer in \[1, 4096\]; got 0"
    ):
        pipeline.EvaluateOptions(bins=0)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        pipeline.EvaluateOptions(kind="softmax")
    with pytest.raises(ValueError, match="base"):
        pipeline.EvaluateOptions(base=1)


def test_run_equals_in_memory_evaluate_with_temperature(tmp_path, rng):
    x = rng.normal(size=(300, 4)) * 2
    y = rng.integers(0, 4, 300)
    y[::13] = -100
    w = rng.uniform(0.5, 2.0, 300)
    for k, sl in enumerate((slice(0, 120), slice(120, 300))):
        np.savez(tmp_path / f"{k}.npz", logits=x[sl], target=y[sl], w=w[sl])
    opts = pipeline.EvaluateOptions(kind="logits", batch_size=37, bootstrap=8, temperature=True)
    src = pipeline.Source([str(tmp_path / "0.npz"), str(tmp_path / "1.npz")], io.Schema(weight="w"))
    ev = pipeline.run(opts, src, pipeline.LocalEngine())
    ref = evaluate(x, y, sample_weight=w, bootstrap=8, temperature=True)
    got = ev.report
    assert got.cross_entropy == pytest.approx(ref.cross_entropy, rel=1e-12)
    assert got.n_ignored == ref.n_ignored == int((y == -100).sum())
    assert got.temperature.T == pytest.approx(ref.temperature.T, rel=1e-8)
    assert ev.after.cross_entropy == pytest.approx(got.temperature.nll_after, rel=1e-12)
    assert (ev.counts.read, ev.counts.evaluated, ev.counts.rejected) == (300, 300, 0)
    d = ev.to_dict()
    assert d["rows"]["ignored"] == int((y == -100).sum()) and d["source"]["weight"] == "w"


def test_read_all_drops_rejected_rows(tmp_path):
    X = np.array([[0.0, 1.0], [np.nan, 0.0], [2.0, 0.0]])
    np.savez(tmp_path / "a.npz", logits=X, target=np.array([1, 0, 0]))
    src = pipeline.Source([str(tmp_path / "a.npz")], io.Schema())
    opts = pipeline.EvaluateOptions(kind="logits", on_invalid="skip")
    P, T, W, counts = pipeline.read_all(opts, src)
    assert P.tolist() == [[0.0, 1.0], [2.0, 0.0]] and T.tolist() == [1, 0] and W is None
    assert counts.by_reason == {"prediction is NaN": 1}
    with pytest.raises(io.DataError, match="prediction is NaN at row 1"):
        pipeline.read_all(dataclasses.replace(opts, on_invalid="error"), src)


@pytest.mark.parametrize("classes", [1, 2, 5, 300])
def test_rows_with_no_finite_logit_are_rejected_exactly(rng, classes):
    """A row whose every logit is −inf has no distribution (the core's NaN): the filter
    rejects exactly those rows, whichever screening path finds them; a row with one finite
    logit, or with NaN/+inf (their own reasons), is not one of them."""
    x = rng.normal(size=(40, classes))
    x[rng.random(x.shape) < 0.5] = -np.inf
    x[3] = -np.inf
    x[7, 0] = np.nan
    x[9, -1] = np.inf
    x[11] = -np.inf
    x[11, classes // 2] = 0.0
    want = np.array([np.isneginf(r).all() for r in x])
    assert want[3] and not want[7] and not want[9] and not want[11]
    counts = pipeline.Counts()
    skip = pipeline.RowFilter("logits", classes, pipeline.EvaluateOptions(on_invalid="skip"))
    kept, _, _ = skip(_batch(x, np.zeros(40, dtype=np.int64)), counts)
    assert counts.by_reason.get("no finite logit", 0) == int(want.sum())
    assert kept.shape[0] == 40 - counts.rejected
    mask, reason = v.no_finite_logit_rows(x)
    assert mask.tolist() == want.tolist() and "no finite logit" in reason
    x[[0, 1, 2, 4], 0] = 1.0  # only row 3 of these: named as row 13 of the file (offset 10)
    with pytest.raises(io.DataError, match="no finite logit .*at row 13;"):
        pipeline.RowFilter("logits", classes)(
            _batch(x[:5], np.zeros(5, dtype=np.int64)), pipeline.Counts()
        )


def test_no_finite_logit_is_a_logit_rule_only():
    """Log-probabilities all −inf are probabilities 0 (a true class there costs +inf, legal)."""
    lp = np.full((2, 3), -np.inf)
    lp[1] = np.log([0.2, 0.3, 0.5])
    counts = pipeline.Counts()
    pipeline.RowFilter("log_probs", 3)(_batch(lp, np.array([0, 1])), counts)
    assert counts.rejected == 0


@pytest.mark.parametrize(
    "name,value",
    [
        ("ignore_index", 2**63),
        ("ignore_index", -(2**63) - 1),
        ("batch_size", 2**63),
        ("batch_size", 0),
        ("bins", 4097),
        ("bins", 2.0),
        ("seed", 2**64),
        ("seed", -1),
        ("bootstrap", 2**31),
        ("bootstrap", True),
    ],
)
def test_integer_options_out_of_range(name, value):
    with pytest.raises(pipeline.OptionError, match=f"`{name}` must be an integer in"):
        pipeline.EvaluateOptions(**{name: value})


@pytest.mark.parametrize("name", ["ignore_index", "batch_size", "bins", "seed", "bootstrap"])
def test_integer_options_at_their_bounds(name):
    from crossentropy.evaluate_options import INTEGER_RANGES

    low, high, _ = INTEGER_RANGES[name]
    for value in (low, high, np.int64(max(low, min(high, 7)))):
        assert pipeline.EvaluateOptions(**{name: value}).__getattribute__(name) == int(value)


@pytest.mark.parametrize("offset", [2**64, 2**63, -1, 1.5, True, np.uint64(2**64 - 1)])
def test_row_offset_out_of_range_is_a_value_error(offset):
    from crossentropy import Accumulator

    acc = Accumulator(bootstrap=4)
    with pytest.raises(ValueError, match="`row_offset` must be an integer in"):
        acc.update(np.zeros((2, 3)), np.array([0, 1]), row_offset=offset)
    acc.update(np.zeros((2, 3)), np.array([0, 1]), row_offset=2**63 - 2)  # the last that fits
    assert acc.finalize().n_rows == 2
