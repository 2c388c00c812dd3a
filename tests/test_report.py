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
        "class_names",
    ):
        assert key in back
    assert back["class_names"] is None  # an in-memory evaluate knows no names
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


def test_records_live_with_their_concept_and_old_paths_still_work():
    import ast
    import inspect

    import crossentropy as ce
    from crossentropy import _json, calibration, report, temperature

    assert report.Bin is calibration.Bin is ce.Bin
    assert report.Calibration is calibration.Calibration is ce.Calibration
    assert report.Temperature is temperature.Temperature is ce.Temperature
    for name in ("fit_temperature", "fit_log_temperature", "temperature_sums", "TemperatureSums"):
        assert getattr(calibration, name) is getattr(temperature, name)  # the lazy old path
    assert calibration.Temperature is temperature.Temperature
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        calibration.nope  # noqa: B018
    # calibration sits below report and temperature: at import time it imports neither (the
    # records moved the other way; only the lazy __getattr__ reaches temperature, on demand)
    tree = ast.parse(inspect.getsource(calibration))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    names = {n.module for n in top} | {a.name for n in top if n.module is None for a in n.names}
    assert "chain" in names and not names & {"report", "temperature"}
    assert report.jsonable is _json.encode


def test_json_encode_decode_round_trip():
    from crossentropy._json import decode, encode

    a = np.array([[0.5, -np.inf], [np.nan, np.inf]])
    e = encode(a)
    assert e == [[0.5, "-inf"], ["nan", "inf"]]
    assert json.loads(json.dumps(e, allow_nan=False)) == e
    np.testing.assert_array_equal(np.asarray(decode(e), dtype=float), a)
    assert decode("label") == "label" and encode((np.int64(3), np.bool_(True))) == [3, True]
