"""Every public entry point checks its arrays the same way (docs/semantics.md §2, §4).

One table names how to call each public function of ``crossentropy.__all__`` and the
functional losses and modules of ``crossentropy.torch.__all__``; a test keeps the table
complete, so a new entry point must say how it is called before it ships. Over that table:

- a target (or teacher) whose shape does not cover exactly the prediction's examples
  raises ``ValueError``/``TypeError`` naming the argument and both shapes — no function may
  silently report on fewer rows (the row-block walkers used to cut a longer target);
- a ``sample_weight`` of the wrong length raises naming ``sample_weight``;
- array-likes whose meaning a plain array would drop (NumPy masked arrays, ``np.matrix``,
  pandas nullable arrays with ``pd.NA``) raise ``TypeError`` naming the fix, whichever
  argument holds them.
"""

from __future__ import annotations

import inspect
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

import crossentropy as ce
import crossentropy.torch as cet

RNG = np.random.default_rng(7)
N, C, H = 4, 3, 5
X = RNG.normal(size=(N, C))
Y = np.array([0, 2, 1, 1])
SOFT = np.full((N, C), 1.0 / C)
BIN = (RNG.random((N, C)) > 0.5).astype(float)
HIDDEN = RNG.normal(size=(N, H))
W_OUT = RNG.normal(size=(C, H))

# ---------------------------------------------------------------------------- the table
# name -> (call(pred, target, **options), what the target is, whether it takes sample_weight)
# target kinds: "labels" (class indices or distributions), "binary" (the prediction's shape),
# "teacher" (a distribution with the student's shape), None (a prediction only)


def _acc_update(p, t, **kw):
    ce.Accumulator().update(p, t, **kw)


CORE = {
    "cross_entropy": (ce.cross_entropy, "labels", True),
    "nll": (ce.nll, "labels", True),
    "log_likelihood": (ce.log_likelihood, "labels", True),
    "likelihood": (ce.likelihood, "labels", True),
    "log_prob": (ce.log_prob, "labels", False),
    "loss_terms": (ce.loss_terms, "labels", True),
    "perplexity": (ce.perplexity, "labels", True),
    "cross_entropy_grad": (ce.cross_entropy_grad, "labels", True),
    "decompose": (ce.decompose, "labels", True),
    "kl_divergence": (ce.kl_divergence, "labels", True),
    "calibration_bins": (ce.calibration_bins, "labels", True),
    "calibration_error": (ce.calibration_error, "labels", True),
    "fit_temperature": (ce.fit_temperature, "labels", True),
    "evaluate": (ce.evaluate, "labels", True),
    "Accumulator": (_acc_update, "labels", True),
    "binary_cross_entropy": (ce.binary_cross_entropy, "binary", True),
    "binary_cross_entropy_grad": (ce.binary_cross_entropy_grad, "binary", True),
    "distillation_loss": (getattr(ce, "distillation_loss", None), "teacher", False),
    "distillation_grad": (getattr(ce, "distillation_grad", None), "teacher", False),
    "entropy": (lambda p, t=None, **kw: ce.entropy(p, kind="logits", **kw), None, False),
    "infer_kind": (lambda p, t=None, **kw: ce.infer_kind(p, **kw), None, False),
    "to_log_probs": (lambda p, t=None, **kw: ce.to_log_probs(p, **kw), None, False),
    "token_stats": (ce.token_stats, "labels", True),
    "sequence_log_prob": (lambda p, t=None, **kw: ce.sequence_log_prob(p, **kw), None, False),
}


def _t(a, dtype=None):
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def _linear(p, t, **kw):
    return cet.linear_cross_entropy(_t(HIDDEN), _t(W_OUT), _t(t), **_torch_kw(kw))


def _vocab_parallel(p, t, **kw):
    return cet.vocab_parallel_cross_entropy(_t(p), _t(t), vocab_start=0, **_torch_kw(kw))


def _vocab_parallel_linear(p, t, **kw):
    return cet.vocab_parallel_linear_cross_entropy(
        _t(HIDDEN), _t(W_OUT), _t(t), vocab_start=0, **_torch_kw(kw)
    )


def _linear_distillation(p, t, **kw):
    return cet.linear_distillation_loss(_t(HIDDEN), _t(W_OUT), _t(t), **_torch_kw(kw))


def _linear_distillation_module(p, t, **kw):
    return cet.LinearDistillationLoss(H, C)(_t(HIDDEN, torch.float32), _t(t))


def _vocab_parallel_linear_distillation(p, t, **kw):
    return cet.vocab_parallel_linear_distillation_loss(
        _t(HIDDEN), _t(W_OUT), _t(t), **_torch_kw(kw)
    )


def _torch_kw(kw):
    return {k: _t(v) for k, v in kw.items()}


def _torch(fn):
    return lambda p, t, **kw: fn(_t(p), _t(t), **_torch_kw(kw))


def _log_probs(fn):
    return lambda p, t, **kw: fn(torch.log_softmax(p, -1), t, **kw)


TORCH = {
    "cross_entropy": (_torch(cet.cross_entropy), "labels", True),
    "nll_loss": (_torch(_log_probs(cet.nll_loss)), "labels", True),
    "binary_cross_entropy_with_logits": (
        _torch(cet.binary_cross_entropy_with_logits),
        "binary",
        False,
    ),
    "linear_cross_entropy": (_linear, "labels", True),
    "vocab_parallel_cross_entropy": (_vocab_parallel, "labels", True),
    "vocab_parallel_linear_cross_entropy": (_vocab_parallel_linear, "labels", True),
    "linear_distillation_loss": (_linear_distillation, "teacher", True),
    "vocab_parallel_linear_distillation_loss": (
        _vocab_parallel_linear_distillation,
        "teacher",
        True,
    ),
    "CrossEntropyLoss": (_torch(lambda p, t, **kw: cet.CrossEntropyLoss()(p, t)), "labels", False),
    "NLLLoss": (_torch(_log_probs(lambda p, t, **kw: cet.NLLLoss()(p, t))), "labels", False),
    "BCEWithLogitsLoss": (
        _torch(lambda p, t, **kw: cet.BCEWithLogitsLoss()(p, t)),
        "binary",
        False,
    ),
    "LinearCrossEntropyLoss": (
        lambda p, t, **kw: cet.LinearCrossEntropyLoss(H, C)(_t(HIDDEN, torch.float32), _t(t)),
        "labels",
        False,
    ),
    "LinearDistillationLoss": (_linear_distillation_module, "teacher", False),
}
#: public torch names that take no prediction (a weight schedule), with what they check instead
TORCH_NO_PREDICTION = {"step_weight"}


def _public(module):
    """The names of ``module.__all__`` that compute (records and warnings are classes that don't)."""
    out = set()
    for name in module.__all__:
        obj = getattr(module, name)
        computes = obj is ce.Accumulator or (
            inspect.isclass(obj) and issubclass(obj, torch.nn.Module)
        )
        if computes or not inspect.isclass(obj):
            out.add(name)
    return out


@pytest.fixture(scope="module", autouse=True)
def _one_process_group():
    """The vocabulary-parallel losses need a process group; one rank suffices here."""
    if dist.is_initialized():
        yield
        return
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_the_table_covers_every_public_entry_point():
    core = {n for n in _public(ce)}
    assert core == set(CORE), ("add to CORE", core ^ set(CORE))
    torch_names = _public(cet) - TORCH_NO_PREDICTION
    assert torch_names == set(TORCH), ("add to TORCH", torch_names ^ set(TORCH))


#: entry points whose target argument has its own name (the teacher's logits of a fused loss)
TARGET_NAMES = {
    _linear_distillation: "teacher_logits",
    _linear_distillation_module: "teacher_logits",
    _vocab_parallel_linear_distillation: "local_teacher_logits",
}


def _target_name(entry) -> str:
    if entry[0] in TARGET_NAMES:
        return TARGET_NAMES[entry[0]]
    return {"labels": "target", "binary": "target", "teacher": "teacher"}[entry[1]]


def _good_target(kind):
    return {"labels": Y, "binary": BIN, "teacher": SOFT}[kind]


def _bad_targets(kind):
    """Targets that do not cover the prediction's N = 4 examples exactly."""
    if kind == "labels":
        return [Y[:3], np.array([0, 2, 1, 1, 0]), SOFT[:3], Y[:, None], np.full((5, C), 1 / C)]
    if kind == "binary":
        return [BIN[:3], np.vstack([BIN, BIN[:1]]), BIN[:, :2], BIN[:, 0]]
    return [SOFT[:3], np.vstack([SOFT, SOFT[:1]]), SOFT[:, :2]]


def _entries():
    for name, entry in CORE.items():
        if entry[1] is not None and entry[0] is not None:
            yield pytest.param(entry, id=name)
    for name, entry in TORCH.items():
        yield pytest.param(entry, id=f"torch.{name}")


@pytest.mark.parametrize("entry", _entries())
def test_a_target_that_does_not_cover_the_examples_raises_naming_both_shapes(entry):
    call, kind, _ = entry
    name = _target_name(entry)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call(X, _good_target(kind))  # the good call works: the failures below are the target's
        for bad in _bad_targets(kind):
            with pytest.raises((ValueError, TypeError)) as e:
                call(X, bad)
            msg = str(e.value)
            assert f"`{name}`" in msg, msg
            assert str(tuple(bad.shape)) in msg, (tuple(bad.shape), msg)
            assert re.search(r"\(4, [35]\)|\(4,\)", msg), msg  # the prediction's side


@pytest.mark.parametrize("entry", [p for p in _entries() if p.values[0][2]])
@pytest.mark.parametrize("length", [3, 5])
def test_a_sample_weight_of_the_wrong_length_raises(entry, length):
    call, kind, _ = entry
    with pytest.raises((ValueError, TypeError), match=r"`sample_weight`"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call(X, _good_target(kind), sample_weight=np.ones(length))


# ---------------------------------------------------------------------------- lossy array-likes


def _masked(a):
    m = np.zeros(np.shape(a), dtype=bool)
    m.flat[0] = True
    return np.ma.masked_array(a, mask=m)


LOSSY = {
    "masked": (_masked, r"masked array.*`ignore_index`.*sample_weight=0.*filled"),
    "matrix": (np.matrix, r"np\.matrix.*np\.asarray"),  # a 1-d input becomes a (1, n) matrix
}


def _core_entries():
    for name, entry in CORE.items():
        if entry[0] is not None:
            yield pytest.param(entry, id=name)


def _lossy_cases():
    """(entry, argument, lossy kind) for every argument each core entry point takes."""
    for name, entry in CORE.items():
        if entry[0] is None:
            continue
        places = (
            ["pred"] + (["target"] if entry[1] else []) + (["sample_weight"] if entry[2] else [])
        )
        for where in places:
            for lossy in LOSSY:
                yield pytest.param(entry, where, lossy, id=f"{name}-{where}-{lossy}")


@pytest.mark.parametrize("entry, where, lossy", _lossy_cases())
def test_masked_arrays_and_matrices_are_refused_naming_the_fix(entry, where, lossy):
    call, kind, _ = entry
    make, pattern = LOSSY[lossy]
    args = {"pred": X, "target": None if kind is None else _good_target(kind), "kw": {}}
    if where == "sample_weight":
        args["kw"] = {"sample_weight": make(np.ones(N))}
    else:
        args[where] = make(args[where])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match=pattern):
            call(args["pred"], args["target"], **args["kw"])


@pytest.mark.parametrize("entry", [p for p in _core_entries() if p.values[0][1] == "labels"])
def test_pandas_missing_values_are_refused_naming_the_fix(entry):
    call, _, takes_weight = entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError, match=r"`target`.*pd\.NA.*ignore_index.*sample_weight=0"):
            call(X, pd.array([0, None, 1, 1], dtype="Int64"))
        if not takes_weight:
            return
        with pytest.raises(TypeError, match=r"`sample_weight`.*pd\.NA"):
            call(X, Y, sample_weight=pd.array([1.0, None, 1.0, 1.0], dtype="Float64"))


def test_class_weights_are_refused_the_same_way():
    for lossy, (make, pattern) in LOSSY.items():
        w = make(np.ones(C)) if lossy == "masked" else np.matrix(np.ones(C))
        for fn in (ce.cross_entropy, ce.cross_entropy_grad, ce.decompose, ce.fit_temperature):
            with pytest.raises(TypeError, match=pattern if lossy == "masked" else r"np\.matrix"):
                fn(X, Y, weight=w)
        with pytest.raises(TypeError, match=pattern if lossy == "masked" else r"np\.matrix"):
            ce.evaluate(X, Y, weight=w)


def test_plain_pandas_and_masked_arrays_without_their_meaning_are_fine_after_conversion():
    # the fixes the messages name work: .filled(), np.asarray(matrix), .to_numpy()
    want = float(ce.cross_entropy(X, Y))
    assert float(ce.cross_entropy(_masked(X).filled(0.0)[1:], Y[1:])) == float(
        ce.cross_entropy(X[1:], Y[1:])
    )
    assert float(ce.cross_entropy(np.asarray(np.matrix(X)), Y)) == want
    s = pd.Series(Y, dtype="Int64")
    assert float(ce.cross_entropy(X, s.to_numpy(dtype=np.int64))) == want
    assert float(ce.cross_entropy(X, Y, sample_weight=pd.Series(np.ones(N)))) == want
