"""Report: frozen dataclass, JSON-safe dict, readable text, empty reports."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from crossentropy.accumulate import evaluate
from crossentropy.report import Report, jsonable


@pytest.fixture
def report(rng):
    x = rng.normal(size=(300, 4))
    y = rng.integers(0, 4, 300)
    y[:20] = -100
    return evaluate(x, y, bootstrap=10, classwise=True)


def test_frozen_and_versioned(report):
    assert Report.schema_version == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.nll = 0.0


def test_to_dict_is_json_safe_and_complete(report):
    d = report.to_dict()
    s = json.dumps(d, allow_nan=False)
    back = json.loads(s)
    assert back["schema_version"] == 1 and back["empty"] is False
    for key in (
        "n_rows",
        "n_ignored",
        "n_valid",
        "weight_sum",
        "num_classes",
        "kind",
        "base",
        "log_likelihood",
        "nll",
        "cross_entropy",
        "perplexity",
        "bits_per_example",
        "entropy",
        "kl",
        "accuracy",
        "brier",
        "per_class",
        "calibration",
        "histograms",
        "temperature",
        "intervals",
        "sequence_perplexity",
    ):
        assert key in back
    assert back["n_rows"] == 300 and back["n_ignored"] == 20
    assert len(back["calibration"]["bins"]) == 15
    assert back["calibration"]["bins"][0]["gap"] == "nan" or isinstance(
        back["calibration"]["bins"][0]["gap"], float
    )
    assert report.to_json() == json.dumps(d, allow_nan=False)


def test_jsonable_rules():
    assert jsonable(
        [math.inf, -math.inf, math.nan, np.float32(1.5), np.int64(3), None, (1, 2)]
    ) == ["inf", "-inf", "nan", 1.5, 3, None, [1, 2]]


def test_text_table(report):
    text = str(report)
    for word in (
        "cross_entropy",
        "perplexity (corpus)",
        "accuracy",
        "brier",
        "ece",
        "calibration bins",
        "per class",
        "intervals",
    ):
        assert word in text
    assert "nan" not in text.lower()


def test_base_2_report_is_in_bits(rng):
    x = rng.normal(size=(50, 3))
    y = rng.integers(0, 3, 50)
    e, b = evaluate(x, y), evaluate(x, y, base=2)
    assert math.isclose(b.cross_entropy, e.cross_entropy / math.log(2), rel_tol=1e-14)
    assert math.isclose(b.bits_per_example, e.bits_per_example, rel_tol=1e-14)
    assert math.isclose(b.perplexity, e.perplexity, rel_tol=1e-14)
    assert "bits" in str(b)


def test_perplexity_overflow_is_inf(rng):
    x = np.array([[0.0, -800.0], [0.0, -800.0]])
    r = evaluate(x, np.array([1, 1]))
    assert r.cross_entropy == pytest.approx(800.0) and r.perplexity == math.inf
    assert r.to_dict()["perplexity"] == "inf"
