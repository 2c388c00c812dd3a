"""Parity matrix: one grid of inputs through every path, one set of numbers (docs/semantics.md).

Paths: the core (``cross_entropy``, ``nll``, ``loss_terms``, ``log_prob``, ``cross_entropy_grad``)
under ``impl="array_api"``, ``"blocked"`` and ``"kernel"``; ``crossentropy.torch`` (functional and
modules, values and autograd gradients); the core on JAX arrays (values, errors, warnings, and
``jax.grad`` against ``cross_entropy_grad``); ``crossentropy.dask`` (lazy losses on row-chunked arrays,
``evaluate``); ``crossentropy.Accumulator`` fed random batch splits and merged, ``crossentropy.evaluate``;
the command line ``crossentropy evaluate --format json``; binary cross-entropy on the core, torch
and dask paths. Only the public API is used.

Oracles: ``impl="array_api"`` is checked against an independent float64 reference written from
the formulas of docs/semantics.md §3–5, §8, §9 (tests/parity_cases.py); every other path is
compared with ``impl="array_api"`` — values to 1e-12 relative in float64 (oracles.TOL), NaN where
it is NaN, ±inf where it is ±inf, masked rows' gradients exactly 0, the same exception class
where it raises and the same library warnings.

The grid (tests/parity_cases.py) is a seeded 3-wise covering design over reduction × empty ×
divide_by × class weight × sample weight × ignore_index × label_smoothing × smoothing × target
kind × validate × base, padded with seeded random cases (200 in all), plus non-finite logits,
out-of-range labels under ``validate=False``, and empty batches (N = 0). The named tests pin the
seven cases of the architecture review's behaviour table; others pin one exception class per bad
input across paths, float32 within oracles.TOL, and lazy dask graphs that do not collide.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

import dask
import dask.array as da
import numpy as np
import pytest
import torch
from scipy.special import logsumexp

import crossentropy as ce
import crossentropy.dask as ced
import crossentropy.torch as ct
import parity_cases as pc
from crossentropy import CrossEntropyWarning, EmptyReductionWarning, cli

from oracles import TOL

RTOL = TOL[np.dtype(np.float64)]["rtol"]
IMPLS = ["array_api", "blocked", "kernel"]
LN = {"e": 1.0, 2: math.log(2.0)}

GRID = pc.grid_cases(200)
SPECIAL = pc.special_cases()
OUT_OF_RANGE = pc.out_of_range_cases()
EMPTY_N0 = pc.empty_batch_cases()
MATRIX = GRID + SPECIAL + OUT_OF_RANGE + EMPTY_N0
BY_NAME = {c.name: c for c in MATRIX}
assert len(BY_NAME) == len(MATRIX)


def case_param(cases: list[pc.Case]) -> Any:
    return pytest.mark.parametrize("name", [c.name for c in cases])


# ----------------------------------------------------------------------------- outcomes
@dataclass
class Outcome:
    """What a call did: a value (NumPy float64 array or float), or an exception; and the library warnings."""

    value: Any = None
    exc: BaseException | None = None
    warns: tuple = ()

    def describe(self) -> str:
        if self.exc is not None:
            return f"raises {type(self.exc).__name__}: {self.exc}"
        return f"{np.array2string(np.asarray(self.value), precision=17)} warns {self.warn_names()}"

    def warn_names(self) -> list[str]:
        return sorted({w[0] for w in self.warns})


def to_numpy(v: Any) -> Any:
    if isinstance(v, tuple):  # Terms
        return tuple(to_numpy(a) for a in v)
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy().astype(np.float64)
    if hasattr(v, "compute"):
        v = v.compute()
    return np.asarray(v, dtype=np.float64)


def run(fn) -> Outcome:
    """Call ``fn`` (everything lazy is computed inside it), recording the library's warnings."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            value = fn()
        except Exception as e:  # the outcome is compared
            exc, value = e, None
        else:
            exc = None
    warns = tuple(
        (w.category.__name__, str(w.message))
        for w in rec
        if issubclass(w.category, CrossEntropyWarning)
    )
    return Outcome(value=value, exc=exc, warns=warns)


def expect(ok: Any, message: str) -> None:
    """``assert ok, message`` without pytest's introspection of big arrays; hidden from tracebacks."""
    __tracebackhide__ = True
    if not ok:
        raise AssertionError(message)


def builtin_class(e: BaseException) -> type:
    """The exception's first built-in class (ValueError for an InputError(ValueError), ...)."""
    return next(c for c in type(e).__mro__ if c.__module__ == "builtins")


def assert_values(got: Any, want: Any, what: str, *, rtol: float = RTOL, hint: str = "") -> None:
    """Same shape; NaN where NaN; ±inf where ±inf; finite values to ``rtol`` (relative, no atol)."""
    __tracebackhide__ = True
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64)
    expect(g.shape == w.shape, f"{what}: shape {g.shape}, expected {w.shape}{hint}")
    with np.errstate(invalid="ignore"):
        ok = np.where(
            np.isnan(w),
            np.isnan(g),
            np.where(np.isinf(w), g == w, np.abs(g - w) <= rtol * np.abs(w)),
        )
    if not ok.all():
        where = np.argwhere(~ok)[:6].tolist() if g.ndim else "scalar"
        raise AssertionError(
            f"{what}: got {np.array2string(g, precision=17)}\n"
            f"  expected {np.array2string(w, precision=17)}\n  differs at {where}{hint}"
        )


def assert_outcome(
    got: Outcome,
    want: Outcome,
    what: str,
    *,
    rtol: float = RTOL,
    ref: Any = None,
    warn: bool = True,
) -> None:
    """``got`` matches the baseline ``want``: the same exception class, or the same values and warnings."""
    __tracebackhide__ = True
    hint = f"\n  independent reference: {ref}" if ref is not None else ""
    if want.exc is not None:
        expect(
            got.exc is not None,
            (
                f"{what}: expected {type(want.exc).__name__} ({want.exc}); got {got.describe()}{hint}"
            ),
        )
        expect(
            builtin_class(got.exc) is builtin_class(want.exc),
            (
                f"{what}: raises {type(got.exc).__name__} ({got.exc}); expected "
                f"{type(want.exc).__name__} ({want.exc})"
            ),
        )
        return
    if got.exc is not None:
        raise AssertionError(
            f"{what}: raises {type(got.exc).__name__}: {got.exc}\n  expected {want.describe()}{hint}"
        )
    if isinstance(want.value, tuple):
        for k, (g, w) in enumerate(zip(got.value, want.value, strict=True)):
            assert_values(g, w, f"{what}[{k}]", rtol=rtol, hint=hint)
    else:
        assert_values(got.value, want.value, what, rtol=rtol, hint=hint)
    if warn:
        expect(
            got.warn_names() == want.warn_names(),
            (
                f"{what}: warns {got.warn_names()}, expected {want.warn_names()} "
                f"({[m for _, m in got.warns + want.warns]})"
            ),
        )


class Mismatches:
    """Collects every failed check of one test, so that a failure lists all of them, not the first."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def check(self, fn: Any, *args: Any, **kwargs: Any) -> None:
        try:
            fn(*args, **kwargs)
        except AssertionError as e:
            self.messages.append(str(e))

    def done(self) -> None:
        __tracebackhide__ = True
        if self.messages:
            n = len(self.messages)
            raise AssertionError(f"{n} mismatch(es):\n" + "\n\n".join(self.messages))


def assert_masked_zero(got: Outcome, masked: np.ndarray, what: str) -> None:
    __tracebackhide__ = True
    if got.exc is None:
        g = np.asarray(got.value)
        expect(
            np.all(g[masked] == 0.0),
            f"{what}: masked rows {np.flatnonzero(masked)} not exactly 0: {g[masked]}",
        )


# ----------------------------------------------------------------------------- per-case data and baselines
@functools.cache
def data(name: str) -> dict:
    case = BY_NAME[name]
    d = pc.build(case)
    rng = np.random.default_rng(case.seed + 7)
    d["grad_output"] = rng.uniform(0.5, 1.5, case.n) if case.reduction == "none" else 0.75
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d["log_probs"] = d["x"] - logsumexp(d["x"], axis=1, keepdims=True)
    d["rows"] = pc.reference(
        d["x"],
        d["target"],
        weight=d["weight"],
        sample_weight=d["sample_weight"],
        ignore_index=case.ignore_index,
        label_smoothing=case.label_smoothing,
        smoothing=case.smoothing,
    )
    return d


def core_calls(case: pc.Case, d: dict, *, impl: str, kind: str = "logits") -> dict[str, Any]:
    """The core's quantities for one case, as zero-argument callables."""
    x = d["x"] if kind == "logits" else d["log_probs"]
    t = d["target"]
    opts = dict(pc.core_options(case, d), kind=kind, impl=impl)
    red = case.reduction
    lp_opts = dict(
        kind=kind,
        ignore_index=case.ignore_index,
        label_smoothing=case.label_smoothing,
        smoothing=case.smoothing,
        validate=case.validate,
        impl=impl,
    )
    terms_opts = {k: v for k, v in opts.items() if k not in ("empty", "divide_by")}
    calls = {
        "cross_entropy": lambda: ce.cross_entropy(x, t, reduction=red, **opts),
        "nll": lambda: ce.nll(x, t, reduction=red, **opts),
        "loss_terms": lambda: tuple(ce.loss_terms(x, t, **terms_opts)),
        "log_prob": lambda: ce.log_prob(x, t, **lp_opts),
        "cross_entropy_grad": lambda: ce.cross_entropy_grad(
            x, t, reduction=red, grad_output=d["grad_output"], **opts
        ),
    }
    if case.base != "e" and kind == "logits":
        calls[f"cross_entropy(base={case.base})"] = lambda: ce.cross_entropy(
            x, t, reduction=red, base=case.base, **opts
        )
        calls[f"nll(base={case.base})"] = lambda: ce.nll(
            x, t, reduction=red, base=case.base, **opts
        )
    return calls


def run_core(case: pc.Case, d: dict, *, impl: str, kind: str = "logits") -> dict[str, Outcome]:
    out = {}
    for k, fn in core_calls(case, d, impl=impl, kind=kind).items():
        o = run(fn)
        if o.exc is None:
            o.value = to_numpy(o.value)
        out[k] = o
    return out


@functools.cache
def baseline(name: str, kind: str = "logits") -> dict[str, Outcome]:
    """impl="array_api": the result every other path is compared with."""
    return run_core(BY_NAME[name], data(name), impl="array_api", kind=kind)


@functools.cache
def dataset_baseline(name: str) -> dict[str, Outcome]:
    """The core's mean (divide_by='weight', empty='nan') and sum in the case's base: a Report's numbers."""
    case, d = BY_NAME[name], data(name)
    opts = dict(pc.core_options(case, d), empty="nan", divide_by="weight", impl="array_api")
    x, t = d["x"], d["target"]
    terms_opts = {k: v for k, v in opts.items() if k not in ("empty", "divide_by")}
    return {
        "cross_entropy": run(lambda: float(ce.cross_entropy(x, t, base=case.base, **opts))),
        "nll": run(lambda: float(ce.nll(x, t, reduction="sum", base=case.base, **opts))),
        "weight_sum": run(lambda: float(np.sum(ce.loss_terms(x, t, **terms_opts).weight))),
    }


def reference_outcomes(case: pc.Case, d: dict) -> dict[str, Any]:
    """The reference's value of every core quantity, or EmptyRaise (a ValueError is due)."""
    rows = d["rows"]
    kw = dict(empty=case.empty, divide_by=case.divide_by)

    def value(fn):
        try:
            return fn()
        except pc.EmptyRaise:
            return pc.EmptyRaise

    out = {
        "cross_entropy": value(lambda: pc.ref_reduce(rows, case.reduction, **kw)),
        "nll": value(lambda: pc.ref_reduce(rows, case.reduction, **kw)),
        "loss_terms": (rows["loss"], rows["w"]),
        "log_prob": rows["log_prob"],
        "cross_entropy_grad": value(
            lambda: pc.ref_grad(rows, case.reduction, grad_output=d["grad_output"], **kw)
        ),
    }
    if case.base != "e":
        for k in ("cross_entropy", "nll"):
            v = out[k]
            out[f"{k}(base={case.base})"] = (
                v if v is pc.EmptyRaise else np.asarray(v) / LN[case.base]
            )
    return out


def expected_warnings(case: pc.Case, d: dict, quantity: str) -> list[str]:
    rows = d["rows"]
    den = rows["w" if case.divide_by == "weight" else "count"].sum()
    if (
        quantity.startswith(("cross_entropy", "nll"))
        and not quantity.startswith("cross_entropy_grad")
        and case.validate
        and case.empty == "nan"
        and case.reduction == "mean"
        and den == 0
    ):
        return ["EmptyReductionWarning"]
    return []


# ============================================================================= core
REF_CASES = [c for c in MATRIX if c.special != "pos_inf"]  # +inf logits: semantics.md is silent


def assert_reference(o: Outcome, want: Any, what: str, expected_warnings: list[str]) -> None:
    """One core quantity against the reference value (EmptyRaise: a ValueError is due)."""
    __tracebackhide__ = True
    if want is pc.EmptyRaise:
        expect(
            o.exc is not None and builtin_class(o.exc) is ValueError,
            f"{what}: expected ValueError (empty='raise', nothing to average); got {o.describe()}",
        )
        return
    expect(o.exc is None, f"{what}: raises {type(o.exc).__name__}: {o.exc}; expected {want}")
    if isinstance(want, tuple):
        for k, (g, w) in enumerate(zip(o.value, want, strict=True)):
            assert_values(g, w, f"{what}.{('loss', 'weight')[k]}")
    else:
        assert_values(o.value, want, what)
    expect(
        o.warn_names() == expected_warnings,
        f"{what}: warns {o.warn_names()}, expected {expected_warnings}",
    )


@case_param(REF_CASES)
def test_array_api_equals_reference(name):
    """impl='array_api' against the float64 reference of docs/semantics.md §3–5, §9."""
    case, d = BY_NAME[name], data(name)
    got = baseline(name)
    m = Mismatches()
    for q, want in reference_outcomes(case, d).items():
        what = f"array_api {q}"
        m.check(assert_reference, got[q], want, what, expected_warnings(case, d, q))
        if q == "cross_entropy_grad":
            m.check(assert_masked_zero, got[q], d["rows"]["masked"], what)
    m.done()


@pytest.mark.parametrize("impl", ["blocked", "kernel"])
@case_param(MATRIX)
def test_core_impl_equals_array_api(name, impl):
    case, d = BY_NAME[name], data(name)
    want = baseline(name)
    got = run_core(case, d, impl=impl)
    ref = reference_outcomes(case, d)
    m = Mismatches()
    for q in want:
        m.check(assert_outcome, got[q], want[q], f"impl={impl} {q}", ref=ref.get(q))
        if q == "cross_entropy_grad":
            m.check(assert_masked_zero, got[q], d["rows"]["masked"], f"impl={impl} {q}")
    m.done()


# ============================================================================= torch
TORCH_PATHS = ["cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss"]


def torch_run(case: pc.Case, d: dict, path: str) -> tuple[Outcome, Outcome]:
    """(value, autograd gradient) of one torch path; the gradient is that of ``Σ grad_output · loss``."""
    kind = "log_probs" if path in ("nll_loss", "NLLLoss") else "logits"
    x = d["x"] if kind == "logits" else d["log_probs"]
    X = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    T = torch.from_numpy(np.ascontiguousarray(d["target"]))
    W = None if d["weight"] is None else torch.from_numpy(d["weight"])
    S = None if d["sample_weight"] is None else torch.from_numpy(d["sample_weight"])
    common = dict(
        weight=W,
        ignore_index=case.ignore_index,
        reduction=case.reduction,
        label_smoothing=case.label_smoothing,
        smoothing=case.smoothing,
        empty=case.empty,
        divide_by=case.divide_by,
        validate=case.validate,
    )

    def forward():
        if path == "cross_entropy":
            return ct.cross_entropy(X, T, sample_weight=S, **common)
        if path == "nll_loss":
            return ct.nll_loss(X, T, sample_weight=S, **common)
        module = ct.CrossEntropyLoss if path == "CrossEntropyLoss" else ct.NLLLoss
        return module(**common)(X, T, sample_weight=S)

    value = run(forward)
    if value.exc is not None:
        return value, Outcome(exc=value.exc)
    loss = value.value
    value.value = to_numpy(loss)

    def backward():
        go = torch.as_tensor(d["grad_output"], dtype=torch.float64)
        (loss * go).sum().backward()
        assert X.grad is not None, "no gradient reached the input"
        return to_numpy(X.grad)

    return value, run(backward)


@pytest.mark.parametrize("path", TORCH_PATHS)
@case_param(MATRIX)
def test_torch_equals_core(name, path):
    """crossentropy.torch value and autograd gradient vs the core's value and closed-form gradient."""
    case, d = BY_NAME[name], data(name)
    kind = "log_probs" if path in ("nll_loss", "NLLLoss") else "logits"
    want = baseline(name, kind)
    value, grad = torch_run(case, d, path)
    m = Mismatches()
    m.check(assert_outcome, value, want["cross_entropy"], f"torch.{path} value")
    if value.exc is None:  # no forward value, no autograd gradient: the value check covers it
        what = f"torch.{path} autograd gradient"
        m.check(assert_outcome, grad, want["cross_entropy_grad"], what, warn=False)
        m.check(assert_masked_zero, grad, d["rows"]["masked"], what)
    m.done()


# ============================================================================= dask (lazy)
def random_chunks(rng: np.random.Generator, n: int, k: int) -> tuple[int, ...]:
    """k chunk sizes summing to n, uneven, some possibly empty."""
    cuts = np.sort(rng.integers(0, n + 1, k - 1))
    return tuple(int(s) for s in np.diff(np.concatenate([[0], cuts, [n]])))


def dask_inputs(case: pc.Case, d: dict) -> tuple:
    rng = np.random.default_rng(case.seed + 11)
    n = case.n
    X = da.from_array(d["x"], chunks=(random_chunks(rng, n, 3), (2, pc.C - 2)))
    tchunks = (random_chunks(rng, n, 2),) + ((pc.C,) if d["target"].ndim == 2 else ())
    T = da.from_array(d["target"], chunks=tchunks)
    s = d["sample_weight"]
    S = None if s is None else da.from_array(s, chunks=random_chunks(rng, n, 2))
    return X, T, S


@case_param(MATRIX)
def test_dask_lazy_equals_core(name):
    case, d = BY_NAME[name], data(name)
    want = baseline(name)
    X, T, S = dask_inputs(case, d)
    opts = dict(pc.core_options(case, d), sample_weight=S)
    red = case.reduction
    terms_opts = {k: v for k, v in opts.items() if k not in ("empty", "divide_by")}
    lp_opts = {
        k: terms_opts[k] for k in ("ignore_index", "label_smoothing", "smoothing", "validate")
    }
    graphs = {
        "cross_entropy": lambda: ced.cross_entropy(X, T, reduction=red, **opts),
        "nll": lambda: ced.nll(X, T, reduction=red, **opts),
        "loss_terms": lambda: tuple(ced.loss_terms(X, T, **terms_opts)),
        "log_prob": lambda: ced.log_prob(X, T, **lp_opts),
    }
    if case.base != "e":
        graphs[f"cross_entropy(base={case.base})"] = lambda: ced.cross_entropy(
            X, T, reduction=red, base=case.base, **opts
        )
        graphs[f"nll(base={case.base})"] = lambda: ced.nll(
            X, T, reduction=red, base=case.base, **opts
        )
    ref = reference_outcomes(case, d)
    with dask.config.set(scheduler="sync"):
        # one compute for all (graph keys must not collide: see
        # test_dask_graphs_of_different_options_computed_together); one compute each when
        # something raises or warns, so that each outcome is its own
        together = run(lambda: dask.compute({k: g() for k, g in graphs.items()})[0])
        if together.exc is None and not together.warns:
            got = {k: Outcome(value=to_numpy(v)) for k, v in together.value.items()}
        else:
            got = {k: run(lambda g=g: to_numpy(dask.compute(g())[0])) for k, g in graphs.items()}
    m = Mismatches()
    for q, o in got.items():
        m.check(assert_outcome, o, want[q], f"dask.{q}", ref=ref.get(q))
    m.done()


def test_dask_graphs_of_different_options_computed_together():
    """Lazy losses with different options in one dask.compute give the numbers each gives alone."""
    case = pc.Case(name="together", sample_weight="zero", seed=17)
    d = pc.build(case)
    X, T, S = dask_inputs(case, d)
    w = pc.CLASS_WEIGHT
    graphs = {
        "cross_entropy(weight=None)": ced.cross_entropy(X, T, sample_weight=S),
        "cross_entropy(weight=w)": ced.cross_entropy(X, T, sample_weight=S, weight=w),
        "cross_entropy(weight=w, ls=0.1)": ced.cross_entropy(X, T, weight=w, label_smoothing=0.1),
        "loss_terms(weight=None).loss": ced.loss_terms(X, T)[0],
        "loss_terms(weight=w).loss": ced.loss_terms(X, T, weight=w)[0],
        "log_prob": ced.log_prob(X, T),
    }
    with dask.config.set(scheduler="sync"):
        alone = {k: g.compute() for k, g in graphs.items()}
        together = dict(zip(graphs, dask.compute(*graphs.values()), strict=True))
    wrong = [k for k in graphs if not np.allclose(together[k], alone[k], rtol=RTOL, equal_nan=True)]
    assert not wrong, f"computed together, these differ from their value alone: {wrong}"


# ============================================================================= Accumulator, evaluate, dask.evaluate
def _dataset_key(c: pc.Case) -> tuple:
    return (
        c.class_weight,
        c.sample_weight,
        c.ignore,
        c.label_smoothing,
        c.smoothing if c.label_smoothing else "-",
        c.target,
        c.validate,
        c.base,
        c.special,
        c.bad_label,
        c.n,
    )


def _unique(cases: list[pc.Case], key) -> list[pc.Case]:
    seen, out = set(), []
    for c in cases:
        if key(c) not in seen:
            seen.add(key(c))
            out.append(c)
    return out


DATASET = _unique(MATRIX, _dataset_key)  # reduction, empty and divide_by do not enter a Report


def accumulator_options(case: pc.Case, d: dict) -> dict[str, Any]:
    return dict(
        kind="logits",
        ignore_index=case.ignore_index,
        label_smoothing=case.label_smoothing,
        smoothing=case.smoothing,
        weight=d["weight"],
        base=case.base,
        validate=case.validate,
    )


REPORT_NUMBERS = ("cross_entropy", "nll", "weight_sum")


def report_numbers(r: Any) -> dict[str, float]:
    return {k: float(getattr(r, k)) for k in REPORT_NUMBERS}


def run_accumulator(case: pc.Case, d: dict) -> dict:
    """Random batch splits (an empty batch included) into two accumulators, then merged."""
    rng = np.random.default_rng(case.seed + 13)
    n, s = case.n, d["sample_weight"]
    cuts = np.sort(rng.integers(0, n + 1, 4))
    bounds = [0, *cuts.tolist(), n]
    accs = [ce.Accumulator(**accumulator_options(case, d)) for _ in range(2)]
    for k, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        accs[k % 2].update(
            d["x"][a:b], d["target"][a:b], sample_weight=None if s is None else s[a:b], row_offset=a
        )
    return report_numbers(accs[1].merge(accs[0]).finalize())


def run_evaluate(case: pc.Case, d: dict) -> dict:
    r = ce.evaluate(
        d["x"],
        d["target"],
        sample_weight=d["sample_weight"],
        block_rows=4,
        **accumulator_options(case, d),
    )
    return report_numbers(r)


def run_dask_evaluate(case: pc.Case, d: dict) -> dict:
    X, T, S = dask_inputs(case, d)
    with dask.config.set(scheduler="sync"):
        r = ced.evaluate(X, T, sample_weight=S, **accumulator_options(case, d))
    return report_numbers(r)


DATASET_PATHS = {
    "Accumulator": run_accumulator,
    "evaluate": run_evaluate,
    "dask.evaluate": run_dask_evaluate,
}


@pytest.mark.parametrize("path", list(DATASET_PATHS))
@case_param(DATASET)
def test_report_equals_core(name, path):
    """report.cross_entropy = the core's mean, report.nll = its sum (same options, same base),
    report.weight_sum = Σ loss_terms(...).weight."""
    case, d = BY_NAME[name], data(name)
    want = dataset_baseline(name)
    got = run(lambda: DATASET_PATHS[path](case, d))
    if got.exc is not None or any(w.exc is not None for w in want.values()):
        assert_outcome(got, want["cross_entropy"], f"{path} report", warn=False)
        return
    m = Mismatches()
    for q in REPORT_NUMBERS:
        m.check(
            assert_outcome, Outcome(value=got.value[q]), want[q], f"{path} report.{q}", warn=False
        )
    m.done()


# ============================================================================= command line
def _cli_key(c: pc.Case) -> tuple:
    return (c.sample_weight, c.ignore, c.target, c.base)


CLI_CASES = _unique([c for c in GRID if not c.class_weight and c.label_smoothing == 0.0], _cli_key)


def write_npz(path, d: dict) -> list[str]:
    """The case as NPZ columns logit_0.., y (or t_0.. for a distribution), w; the CLI's column options."""
    cols = {f"logit_{j}": d["x"][:, j] for j in range(pc.C)}
    args = ["--pred", "logit_*"]
    t = d["target"]
    if t.ndim == 2:
        cols.update({f"t_{j}": t[:, j] for j in range(pc.C)})
        args += ["--target", ",".join(f"t_{j}" for j in range(pc.C))]
    else:
        cols["y"] = t
        args += ["--target", "y"]
    if d["sample_weight"] is not None:
        cols["w"] = d["sample_weight"]
        args += ["--weight-col", "w"]
    np.savez(path, **cols)
    return args


def run_cli_json(argv: list, capsys) -> dict:
    """``crossentropy evaluate ... --format json`` in-process; the parsed JSON, or an error naming the exit."""
    try:
        code = cli.main([str(a) for a in argv] + ["--format", "json"])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    if code != 0:
        raise RuntimeError(f"crossentropy exited {code}: {err.strip()[-500:]}")
    return json.loads(out)


def json_float(v: Any) -> float:
    return float(v)  # "nan", "inf", "-inf" are written as strings


@case_param(CLI_CASES)
def test_cli_equals_core(name, tmp_path, capsys):
    case, d = BY_NAME[name], data(name)
    want = dataset_baseline(name)
    args = write_npz(tmp_path / "d.npz", d)
    argv = ["evaluate", tmp_path / "d.npz", *args, "--kind", "logits", "--batch-size", "4"]
    argv += ["--base", str(case.base)]
    got = run(lambda: run_cli_json(argv, capsys)["report"])
    if got.exc is not None:
        assert_outcome(got, want["cross_entropy"], "CLI report", warn=False)
        return
    m = Mismatches()
    for q in REPORT_NUMBERS:
        o = Outcome(value=json_float(got.value[q]))
        m.check(assert_outcome, o, want[q], f"CLI report.{q}", warn=False)
    m.done()


# ============================================================================= binary
BINARY = pc.binary_cases()
BIN_BY_NAME = {c.name: c for c in BINARY}


@functools.cache
def bin_data(name: str) -> dict:
    case = BIN_BY_NAME[name]
    d = pc.build_binary(case)
    d["grad_output"] = (
        np.random.default_rng(case.seed).uniform(0.5, 1.5, d["x"].shape)
        if case.reduction == "none"
        else 0.75
    )
    d["ref"] = pc.binary_reference(
        d["x"],
        d["target"],
        weight=d["weight"],
        pos_weight=d["pos_weight"],
        sample_weight=d["sample_weight"],
        ignore_index=case.ignore_index,
        eps=case.label_smoothing,
    )
    return d


def bin_options(case: pc.BinCase, d: dict) -> dict[str, Any]:
    return dict(
        weight=d["weight"],
        pos_weight=d["pos_weight"],
        sample_weight=d["sample_weight"],
        ignore_index=case.ignore_index,
        label_smoothing=case.label_smoothing,
        reduction=case.reduction,
        empty=case.empty,
        validate=case.validate,
    )


@functools.cache
def bin_baseline(name: str) -> dict[str, Outcome]:
    case, d = BIN_BY_NAME[name], bin_data(name)
    opts = bin_options(case, d)
    out = {
        "value": run(lambda: to_numpy(ce.binary_cross_entropy(d["x"], d["target"], **opts))),
        "grad": run(
            lambda: to_numpy(
                ce.binary_cross_entropy_grad(
                    d["x"], d["target"], grad_output=d["grad_output"], **opts
                )
            )
        ),
    }
    return out


def bin_reference(case: pc.BinCase, d: dict) -> dict[str, Any]:
    r = d["ref"]
    den = r["den"].sum()
    empty = den == 0
    if case.reduction == "none":
        value = r["loss"]
        grad = r["grad"] * d["grad_output"]
    elif case.empty == "raise" and empty:
        return {"value": pc.EmptyRaise, "grad": pc.EmptyRaise}
    elif case.reduction == "sum":
        value, grad = r["loss"].sum(), r["grad"] * 0.75
    else:
        value = (math.nan if case.empty == "nan" else 0.0) if empty else r["loss"].sum() / den
        grad = np.zeros_like(r["grad"]) if empty else r["grad"] / den * 0.75
    return {"value": value, "grad": grad}


@pytest.mark.parametrize("name", [c.name for c in BINARY])
def test_binary_core_equals_reference(name):
    case, d = BIN_BY_NAME[name], bin_data(name)
    got = bin_baseline(name)
    m = Mismatches()
    for q, want in bin_reference(case, d).items():
        warns = (
            ["EmptyReductionWarning"]
            if q == "value"
            and case.validate
            and case.empty == "nan"
            and case.reduction == "mean"
            and d["ref"]["den"].sum() == 0
            else []
        )
        m.check(assert_reference, got[q], want, f"binary_cross_entropy {q}", warns)
        if q == "grad":
            m.check(assert_masked_zero, got[q], d["ref"]["masked"], "binary_cross_entropy grad")
    m.done()


def bin_torch_run(case: pc.BinCase, d: dict, path: str) -> tuple[Outcome, Outcome]:
    X = torch.tensor(d["x"], requires_grad=True)
    T = torch.from_numpy(d["target"])
    common = dict(
        weight=None if d["weight"] is None else torch.from_numpy(d["weight"]),
        pos_weight=None if d["pos_weight"] is None else torch.from_numpy(d["pos_weight"]),
        reduction=case.reduction,
        label_smoothing=case.label_smoothing,
        ignore_index=case.ignore_index,
        empty=case.empty,
        validate=case.validate,
    )

    def forward():
        if path == "binary_cross_entropy_with_logits":
            return ct.binary_cross_entropy_with_logits(X, T, **common)
        return ct.BCEWithLogitsLoss(**common)(X, T)

    value = run(forward)
    if value.exc is not None:
        return value, Outcome(exc=value.exc)
    loss = value.value
    value.value = to_numpy(loss)

    def backward():
        (loss * torch.as_tensor(d["grad_output"])).sum().backward()
        assert X.grad is not None, "no gradient reached the input"
        return to_numpy(X.grad)

    return value, run(backward)


# torch's BCE has no sample_weight: the cases without one
BIN_TORCH = [c.name for c in BINARY if c.sample_weight == "none"]


@pytest.mark.parametrize("path", ["binary_cross_entropy_with_logits", "BCEWithLogitsLoss"])
@pytest.mark.parametrize("name", BIN_TORCH)
def test_binary_torch_equals_core(name, path):
    case, d = BIN_BY_NAME[name], bin_data(name)
    want = bin_baseline(name)
    value, grad = bin_torch_run(case, d, path)
    m = Mismatches()
    m.check(assert_outcome, value, want["value"], f"torch.{path} value")
    if value.exc is None:
        what = f"torch.{path} autograd gradient"
        m.check(assert_outcome, grad, want["grad"], what, warn=False)
        m.check(assert_masked_zero, grad, d["ref"]["masked"], what)
    m.done()


@pytest.mark.parametrize("name", [c.name for c in BINARY])
def test_binary_dask_equals_core(name):
    case, d = BIN_BY_NAME[name], bin_data(name)
    want = bin_baseline(name)
    rng = np.random.default_rng(case.seed + 3)
    rows = random_chunks(rng, pc.N, 3)
    opts = bin_options(case, d)
    X = da.from_array(d["x"], chunks=(rows, pc.L))
    T = da.from_array(d["target"], chunks=(rows, pc.L))
    s = d["sample_weight"]
    if s is not None:
        opts["sample_weight"] = da.from_array(s, chunks=(rows,) + ((pc.L,) if s.ndim == 2 else ()))
    with dask.config.set(scheduler="sync"):
        got = run(lambda: to_numpy(ced.binary_cross_entropy(X, T, **opts).compute()))
    assert_outcome(got, want["value"], "dask.binary_cross_entropy value")


# ============================================================================= float32
F32_CASES = [
    c for c in GRID if c.sample_weight != "all_zero" and c.empty != "raise" and c.validate
][:6]


@pytest.mark.parametrize(
    "path", ["array_api", "blocked", "kernel", "torch.cross_entropy", "dask.cross_entropy"]
)
@case_param(F32_CASES)
def test_float32_within_tol(name, path):
    """float32 in, float32 out, within oracles.TOL[float32] of the float64 baseline."""
    case, d = BY_NAME[name], data(name)
    want = baseline(name)["cross_entropy"]
    x32 = d["x"].astype(np.float32)
    opts = pc.core_options(case, d)
    if path in IMPLS:
        got = ce.cross_entropy(x32, d["target"], reduction=case.reduction, impl=path, **opts)
        dtype = got.dtype
    elif path == "torch.cross_entropy":
        t = torch.from_numpy(d["target"])
        if t.is_floating_point():
            t = t.float()
        got = ct.cross_entropy(
            torch.from_numpy(x32),
            t,
            weight=None if d["weight"] is None else torch.from_numpy(d["weight"]).float(),
            ignore_index=case.ignore_index,
            reduction=case.reduction,
            label_smoothing=case.label_smoothing,
            smoothing=case.smoothing,
            empty=case.empty,
            divide_by=case.divide_by,
            sample_weight=None
            if d["sample_weight"] is None
            else torch.from_numpy(d["sample_weight"]).float(),
            validate=case.validate,
        )
        dtype = np.dtype(str(got.dtype).removeprefix("torch."))
    else:
        X, T, S = dask_inputs(case, d)
        with dask.config.set(scheduler="sync"):
            got = ced.cross_entropy(
                X.astype(np.float32), T, reduction=case.reduction, **dict(opts, sample_weight=S)
            ).compute()
        dtype = got.dtype
    assert dtype == np.float32, f"{path}: float32 input gave {dtype}"
    tol = TOL[np.dtype(np.float32)]
    np.testing.assert_allclose(
        to_numpy(got), want.value, equal_nan=True, err_msg=f"{path} float32", **tol
    )


# ============================================================================= bad inputs: one exception class
_rng = np.random.default_rng(99)
_X = _rng.normal(size=(5, pc.C))
_Y = np.array([0, 1, 2, 3, 1])
_P = _rng.dirichlet(np.ones(pc.C), 5)

BAD = {
    "label_out_of_range": dict(target=np.array([0, 7, 1, 2, 3])),
    "label_negative": dict(target=np.array([0, -1, 1, 2, 3])),
    "ignored_label_with_ignore_index_None": dict(
        target=np.array([0, -100, 1, 2, 3]), ignore_index=None
    ),
    "float_label_not_integer": dict(target=np.array([0.0, 1.5, 2.0, 3.0, 1.0])),
    "float_label_nan": dict(target=np.array([0.0, np.nan, 2.0, 3.0, 1.0])),
    "bool_target": dict(target=np.array([True, False, True, False, True])),
    "int_one_hot_target": dict(target=np.eye(pc.C, dtype=np.int64)[_Y]),
    "soft_target_negative": dict(target=np.vstack([_P[:4], [[-0.1, 0.6, 0.3, 0.2]]])),
    "soft_target_nan": dict(target=np.where(np.eye(pc.C)[_Y] > 0, np.nan, _P)),
    "target_wrong_length": dict(target=_Y[:4]),
    "weight_wrong_length": dict(weight=np.ones(pc.C - 1)),
    "weight_negative": dict(weight=np.array([1.0, -1.0, 1.0, 1.0])),
    "weight_nan": dict(weight=np.array([1.0, np.nan, 1.0, 1.0])),
    "sample_weight_negative": dict(sample_weight=np.array([1.0, -0.5, 1.0, 1.0, 1.0])),
    "sample_weight_nan": dict(sample_weight=np.array([1.0, np.nan, 1.0, 1.0, 1.0])),
    "sample_weight_wrong_shape": dict(sample_weight=np.ones(4)),
    "label_smoothing_above_1": dict(label_smoothing=1.5),
    "label_smoothing_negative": dict(label_smoothing=-0.1),
    "smoothing_unknown": dict(smoothing="bogus"),
    "reduction_unknown": dict(reduction="avg"),
    "empty_unknown": dict(empty="bogus"),
    "divide_by_unknown": dict(divide_by="bogus"),
    "integer_pred": dict(x=np.arange(5 * pc.C).reshape(5, pc.C)),
}

LOSS_ONLY = {"reduction", "empty", "divide_by"}  # options of a loss, not of a Report


def bad_call(path: str, kw: dict) -> Any:
    kw = dict(kw)
    x = kw.pop("x", _X)
    t = kw.pop("target", _Y)
    if path.startswith("core."):
        return ce.cross_entropy(x, t, impl=path.removeprefix("core."), **kw)
    if path == "cross_entropy_grad":
        return ce.cross_entropy_grad(x, t, impl="array_api", **kw)
    if path == "loss_terms":
        kw = {k: v for k, v in kw.items() if k not in LOSS_ONLY}
        return tuple(ce.loss_terms(x, t, impl="array_api", **kw))
    if path.startswith("torch."):
        X = torch.from_numpy(np.asarray(x))
        T = torch.from_numpy(np.asarray(t))
        for k in ("weight", "sample_weight"):
            if k in kw:
                kw[k] = torch.from_numpy(kw[k])
        if path == "torch.cross_entropy":
            return ct.cross_entropy(X, T, **kw)
        s = kw.pop("sample_weight", None)
        return ct.CrossEntropyLoss(**kw)(X, T, sample_weight=s)
    if path == "dask.cross_entropy":
        with dask.config.set(scheduler="sync"):
            return ced.cross_entropy(da.from_array(x, chunks=(2, pc.C)), t, **kw).compute()
    s = kw.pop("sample_weight", None)
    if path == "evaluate":
        return ce.evaluate(x, t, sample_weight=s, block_rows=2, **kw)
    if path == "dask.evaluate":
        with dask.config.set(scheduler="sync"):
            return ced.evaluate(da.from_array(x, chunks=(2, pc.C)), t, sample_weight=s, **kw)
    raise AssertionError(path)


BAD_PATHS = [
    "core.blocked",
    "core.kernel",
    "cross_entropy_grad",
    "loss_terms",
    "torch.cross_entropy",
    "torch.CrossEntropyLoss",
    "dask.cross_entropy",
    "evaluate",
    "dask.evaluate",
]


def _bad_params() -> list:
    out = []
    for bad, kw in BAD.items():
        for path in BAD_PATHS:
            if path in ("evaluate", "dask.evaluate", "loss_terms") and LOSS_ONLY & set(kw):
                continue
            out.append(pytest.param(bad, path, id=f"{bad}-{path}"))
    return out


@pytest.mark.parametrize(("bad", "path"), _bad_params())
def test_bad_input_same_exception_class(bad, path):
    """Every path rejects the input with core.array_api's exception class (validate=True)."""
    want = run(lambda: bad_call("core.array_api", BAD[bad]))
    assert want.exc is not None, f"core.array_api accepts {bad}: {want.describe()}"
    got = run(lambda: bad_call(path, BAD[bad]))
    assert got.exc is not None, (
        f"{path} accepts {bad} (core raises {type(want.exc).__name__}: {want.exc}); got {got.describe()}"
    )
    assert builtin_class(got.exc) is builtin_class(want.exc), (
        f"{path}: {bad} raises {type(got.exc).__name__} ({got.exc}); the core raises "
        f"{type(want.exc).__name__} ({want.exc})"
    )


# ============================================================================= the review's behaviour table
def multiclass_paths(x, t, **kw) -> dict[str, Any]:
    """name → zero-argument callable computing the loss on every multi-class path."""
    X = torch.from_numpy(x)
    T = torch.from_numpy(t)
    LP = torch.log_softmax(X, -1)
    paths: dict[str, Any] = {}
    for impl in IMPLS:
        paths[f"core.cross_entropy[{impl}]"] = lambda impl=impl: ce.cross_entropy(
            x, t, impl=impl, **kw
        )
        paths[f"core.nll[{impl}]"] = lambda impl=impl: ce.nll(
            x, t, impl=impl, **dict(kw, reduction=kw.get("reduction", "mean"))
        )
    paths["core.cross_entropy_grad"] = lambda: ce.cross_entropy_grad(x, t, **kw)
    paths["torch.cross_entropy"] = lambda: ct.cross_entropy(X, T, **kw)
    paths["torch.CrossEntropyLoss"] = lambda: ct.CrossEntropyLoss(**kw)(X, T)
    paths["torch.nll_loss"] = lambda: ct.nll_loss(LP, T, **kw)
    paths["torch.NLLLoss"] = lambda: ct.NLLLoss(**kw)(LP, T)

    def lazy():
        with dask.config.set(scheduler="sync"):
            return ced.cross_entropy(da.from_array(x, chunks=(1, x.shape[1])), t, **kw).compute()

    paths["dask.cross_entropy"] = lazy
    return paths


def test_case1_out_of_range_labels_give_nan_on_every_path():
    """Review case 1: cross_entropy(x, [5, 7], validate=False, empty='zero') is NaN, w_i NaN."""
    x = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    t = np.array([5, 7])
    got = {}
    for red in ("mean", "sum"):
        for path, fn in multiclass_paths(x, t, validate=False, empty="zero", reduction=red).items():
            if path == "core.cross_entropy_grad":
                continue
            o = run(lambda fn=fn: to_numpy(fn()))
            got[f"{path} {red}"] = o.describe() if o.exc else float(o.value)
    for impl in IMPLS:
        terms = ce.loss_terms(x, t, validate=False, impl=impl)
        got[f"core.loss_terms[{impl}].weight"] = np.asarray(terms.weight).tolist()
    with dask.config.set(scheduler="sync"):
        got["dask.loss_terms.weight"] = (
            ced.loss_terms(x, t, validate=False).weight.compute().tolist()
        )
    bad = {
        k: v
        for k, v in got.items()
        if not (
            (isinstance(v, float) and math.isnan(v))
            or (isinstance(v, list) and all(math.isnan(w) for w in v))
        )
    }
    assert not bad, f"not NaN: {bad}"


@pytest.mark.parametrize("path", ["evaluate", "Accumulator", "dask.evaluate"])
def test_case5_evaluate_out_of_range_labels_is_nan_not_index_error(path):
    """Review cases 1/5: evaluate(x, [0, 7], validate=False) reports NaN (no IndexError)."""
    x = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    t = np.array([0, 7])

    def go():
        if path == "evaluate":
            return ce.evaluate(x, t, validate=False)
        if path == "Accumulator":
            acc = ce.Accumulator(validate=False)
            acc.update(x, t)
            return acc.finalize()
        with dask.config.set(scheduler="sync"):
            return ced.evaluate(da.from_array(x, chunks=(1, 3)), t, validate=False)

    o = run(go)
    assert o.exc is None, f"{path}: raises {type(o.exc).__name__}: {o.exc}"
    assert math.isnan(o.value.cross_entropy), f"{path}: cross_entropy {o.value.cross_entropy}"
    assert math.isnan(o.value.nll), f"{path}: nll {o.value.nll}"


@pytest.mark.parametrize(
    "path",
    [
        "core.binary_cross_entropy",
        "core.binary_cross_entropy_grad",
        "torch.binary_cross_entropy_with_logits",
        "torch.BCEWithLogitsLoss",
        "dask.binary_cross_entropy",
    ],
)
def test_case2_binary_float_target_with_ignore_index_raises(path):
    """Review case 2: ignore_index applies to integer targets; a float target with one is a ValueError."""
    x = np.array([[0.3, -0.2], [1.0, 2.0]])
    y = np.array([[1.0, 0.0], [0.25, 1.0]])

    def go():
        if path == "core.binary_cross_entropy":
            return ce.binary_cross_entropy(x, y, ignore_index=-100)
        if path == "core.binary_cross_entropy_grad":
            return ce.binary_cross_entropy_grad(x, y, ignore_index=-100)
        if path == "torch.binary_cross_entropy_with_logits":
            return ct.binary_cross_entropy_with_logits(
                torch.from_numpy(x), torch.from_numpy(y), ignore_index=-100
            )
        if path == "torch.BCEWithLogitsLoss":
            return ct.BCEWithLogitsLoss(ignore_index=-100)(torch.from_numpy(x), torch.from_numpy(y))
        with dask.config.set(scheduler="sync"):
            return ced.binary_cross_entropy(
                da.from_array(x, chunks=(1, 2)), y, ignore_index=-100
            ).compute()

    o = run(go)
    assert o.exc is not None and builtin_class(o.exc) is ValueError, (
        f"{path}: expected ValueError; got {o.describe()}"
    )


def temperature_data(n: int = 240, c: int = 4, seed: int = 31) -> tuple:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.normal(size=(n, c))
    x[np.arange(n), y] += 1.5
    x *= 3.0  # over-confident: T > 1
    y[::11] = -100
    s = rng.uniform(0.2, 2.0, n)
    return x, y, s


TEMPERATURE_OPTIONS = {
    "plain-base=e": dict(base="e"),
    "plain-base=2": dict(base=2),
    "sample_weight-base=2": dict(base=2, sample_weight=True),
    "weight+smoothing-base=e": dict(base="e", weight=True, label_smoothing=0.1),
    "weight+smoothing-base=2": dict(base=2, weight=True, label_smoothing=0.1, sample_weight=True),
}


def _temperature_params() -> list:
    out = []
    for opt, o in TEMPERATURE_OPTIONS.items():
        paths = ["evaluate", "dask.evaluate"]
        if "weight" not in o and "label_smoothing" not in o:  # options the CLI has
            paths += ["CLI", "dask.evaluate_files"]
        out += [pytest.param(opt, p, id=f"{opt}-{p}") for p in paths]
    return out


@pytest.mark.parametrize(("opt", "path"), _temperature_params())
def test_case3_4_temperature_nll_before_is_the_report_cross_entropy(opt, path, tmp_path, capsys):
    """Review cases 3/4: Temperature.nll_before is the report's cross-entropy (its base, its options);
    every path gives evaluate()'s numbers."""
    x, y, s = temperature_data()
    o = TEMPERATURE_OPTIONS[opt]
    sw = s if o.get("sample_weight") else None
    opts = dict(base=o["base"], label_smoothing=o.get("label_smoothing", 0.0))
    if o.get("weight"):
        opts["weight"] = np.array([0.5, 2.0, 1.0, 1.5])
    want = ce.evaluate(x, y, sample_weight=sw, temperature=True, kind="logits", **opts)
    if path == "evaluate":
        got = {"cross_entropy": want.cross_entropy, **vars(want.temperature)}
    elif path == "dask.evaluate":
        with dask.config.set(scheduler="sync"):
            r = ced.evaluate(
                da.from_array(x, chunks=(70, 4)), y, sample_weight=sw, temperature=True, **opts
            )
        got = {"cross_entropy": r.cross_entropy, **vars(r.temperature)}
    else:
        cols = {f"logit_{j}": x[:, j] for j in range(4)}
        cols["y"] = y
        if sw is not None:
            cols["w"] = sw
        np.savez(tmp_path / "t.npz", **cols)
        if path == "CLI":
            argv = ["evaluate", tmp_path / "t.npz", "--pred", "logit_*", "--target", "y"]
            argv += ["--kind", "logits", "--temperature", "--batch-size", "50"]
            argv += ["--base", str(o["base"])] + (["--weight-col", "w"] if sw is not None else [])
            rep = run_cli_json(argv, capsys)["report"]
            got = {"cross_entropy": json_float(rep["cross_entropy"]), **rep["temperature"]}
        else:
            with dask.config.set(scheduler="sync"):
                r = ced.evaluate_files(
                    str(tmp_path / "t.npz"),
                    target="y",
                    pred="logit_*",
                    weight="w" if sw is not None else None,
                    kind="logits",
                    temperature=True,
                    base=o["base"],
                    batch_size=50,
                )
            got = {"cross_entropy": r.cross_entropy, **vars(r.temperature)}
    core = ce.cross_entropy(x, y, sample_weight=sw, **opts)
    m = Mismatches()
    m.check(assert_values, got["cross_entropy"], core, f"{path}: report.cross_entropy vs core")
    m.check(
        assert_values,
        got["nll_before"],
        got["cross_entropy"],
        f"{path}: temperature.nll_before vs its report.cross_entropy (base {o['base']})",
    )
    m.check(expect, got["nll_after"] <= got["nll_before"], f"{path}: nll_after > nll_before")
    if path != "evaluate":  # the fit (in the report's unit) equals evaluate()'s
        ref = vars(want.temperature)
        m.check(assert_values, got["T"], ref["T"], f"{path}: T vs evaluate()'s", rtol=1e-8)
        for k in ("nll_before", "nll_after"):
            m.check(assert_values, got[k], ref[k], f"{path}: {k} vs evaluate()'s", rtol=1e-9)
    m.done()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_case6_all_ignored_empty_raise_one_message(reduction):
    """Review case 6: every path raises ValueError with one message text."""
    x = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    t = np.array([-100, -100])
    got = {
        path: run(fn)
        for path, fn in multiclass_paths(x, t, empty="raise", reduction=reduction).items()
    }
    wrong = {p: o.describe() for p, o in got.items() if not isinstance(o.exc, ValueError)}
    assert not wrong, f"not a ValueError: {wrong}"
    texts: dict[str, list[str]] = {}
    for p, o in got.items():
        texts.setdefault(str(o.exc), []).append(p)
    assert len(texts) == 1, "different messages:\n" + "\n".join(
        f"  {ps}: {m}" for m, ps in texts.items()
    )


def test_case6_all_ignored_empty_nan_warns_one_message():
    """Review case 6: with empty='nan' (validate=True) every path warns EmptyReductionWarning, one text."""
    x = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    t = np.array([-100, -100])
    got = {
        p: run(fn)
        for p, fn in multiclass_paths(x, t, empty="nan").items()
        if p != "core.cross_entropy_grad"
    }
    texts: dict[str, list[str]] = {}
    for p, o in got.items():
        assert o.exc is None, f"{p}: raises {o.exc!r}"
        assert np.isnan(to_numpy(o.value)), f"{p}: {o.value}"
        msgs = [m for c, m in o.warns if c == EmptyReductionWarning.__name__]
        assert len(msgs) == 1, f"{p}: EmptyReductionWarning texts {msgs} (all: {o.warns})"
        texts.setdefault(msgs[0], []).append(p)
    assert len(texts) == 1, "different warning texts:\n" + "\n".join(
        f"  {ps}: {m}" for m, ps in texts.items()
    )


@pytest.mark.parametrize(
    "path",
    [
        "core.cross_entropy[array_api]",
        "core.cross_entropy[blocked]",
        "core.cross_entropy[kernel]",
        "core.nll[array_api]",
        "core.cross_entropy_grad",
        "torch.cross_entropy",
        "torch.CrossEntropyLoss",
        "torch.nll_loss",
        "torch.NLLLoss",
        "dask.cross_entropy",
        "evaluate",
    ],
)
def test_case7_integer_one_hot_target_is_a_type_error(path):
    """Review case 7: an integer target of the prediction's shape is a TypeError on every path."""
    x = np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])
    t = np.array([[0, 1, 0], [1, 0, 0]])
    if path == "evaluate":
        o = run(lambda: ce.evaluate(x, t))
    else:
        o = run(multiclass_paths(x, t)[path])
    assert o.exc is not None and builtin_class(o.exc) is TypeError, (
        f"{path}: expected TypeError; got {o.describe()}"
    )


@pytest.mark.parametrize(
    "path",
    [
        "core.binary_cross_entropy",
        "core.binary_cross_entropy_grad",
        "torch.binary_cross_entropy_with_logits",
        "torch.BCEWithLogitsLoss",
        "dask.binary_cross_entropy",
    ],
)
def test_binary_bool_target_is_zero_one_on_every_path(path):
    """A bool binary target is the 0/1 integer target (a multi-label mask) on every path."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 3)) * 2
    y = rng.random((6, 3)) < 0.5
    pw = np.array([1.5, 0.5, 2.0])

    def go(t):
        if path == "core.binary_cross_entropy":
            return ce.binary_cross_entropy(x, t, pos_weight=pw)
        if path == "core.binary_cross_entropy_grad":
            return ce.binary_cross_entropy_grad(x, t, pos_weight=pw)
        X, T, PW = torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(pw)
        if path == "torch.binary_cross_entropy_with_logits":
            return ct.binary_cross_entropy_with_logits(X, T, pos_weight=PW)
        if path == "torch.BCEWithLogitsLoss":
            return ct.BCEWithLogitsLoss(pos_weight=PW)(X, T)
        with dask.config.set(scheduler="sync"):
            X = da.from_array(x, chunks=(2, 3))
            return ced.binary_cross_entropy(X, t, pos_weight=pw).compute()

    want = run(lambda: to_numpy(go(y.astype(np.int64))))
    got = run(lambda: to_numpy(go(y)))
    assert_outcome(got, want, f"{path} bool target vs its 0/1 integer target")


# ============================================================================= JAX (eager and jit)
def _jax_data(d: dict) -> dict:
    import jax.numpy as jnp

    return {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in d.items()}


@case_param(MATRIX)
def test_jax_equals_core(name):
    """The core on JAX arrays (float64 enabled) gives the array-API path's outcomes: values,
    errors and warnings; and ``jax.grad`` of the reduced loss is ``cross_entropy_grad`` (§9)."""
    import jax

    case, d = BY_NAME[name], data(name)
    want = baseline(name)
    ref = reference_outcomes(case, d)
    m = Mismatches()
    with jax.enable_x64(True):
        dj = _jax_data(d)
        got = {}
        for k, fn in core_calls(case, dj, impl="array_api").items():
            o = run(fn)
            if o.exc is None:
                o.value = to_numpy(o.value)
            got[k] = o
        for q in want:
            m.check(assert_outcome, got[q], want[q], f"jax {q}", ref=ref.get(q))
        grad_want = want["cross_entropy_grad"]
        value = want["cross_entropy"]
        quiet = all(o.exc is None and not o.warns for o in (grad_want, value))
        if case.reduction != "none" and quiet:
            opts = dict(pc.core_options(case, dj), impl="array_api")
            g = d["grad_output"]
            scale = 1.0 if g is None else float(np.asarray(g))
            fn = jax.grad(
                lambda x: ce.cross_entropy(x, dj["target"], reduction=case.reduction, **opts)
            )
            o = run(lambda: to_numpy(fn(dj["x"])) * scale)
            m.check(
                assert_outcome,
                o,
                grad_want,
                "jax.grad cross_entropy",
                ref=ref.get("cross_entropy_grad"),
            )
    m.done()
