r"""The chain walked through on real data: ``crossentropy explain``.

The project grew from a learner's notes that follow the chain

    likelihood → log-likelihood → negative log-likelihood → cross-entropy

and ask nine questions on the way. This module answers them with numbers
computed by the library itself, on the bundled digits example (held-out logits
of a softmax regression, with the pixels it was fitted on) or on a user's
prediction file:

1. the likelihood is a product over i.i.d. examples and underflows;
2. the exponents are switches: only the observed class's probability enters;
3. the likelihood is maximal with all mass on the observed labels, which is
   over-confident on held-out data;
4. the categorical likelihood ``Π_i q_{i,y_i}``, with binary as its C = 2 case;
5. the model is a conditional distribution ``q(y | x)``; ``x`` is not modelled;
6. soft labels: ``CE(y, q) = H(y) + KL(y ‖ q)``, minimal at ``q = y``;
7. hard and soft masks: ``ignore_index`` and sample weights in the mean;
8. training minimises cross-entropy, i.e. maximises the likelihood;
9. what training minimises is the cross-entropy, not the entropy of the
   predictions.

Everything is a pure function returning plain data (:class:`Step`,
:class:`Identity`, :class:`Section`, :class:`Walkthrough`);
:func:`render` turns it into text and :func:`plot` into PNG files. The
identities of the chain are checked live by :func:`check_identities`, which
raises :class:`IdentityError` when one fails (the command exits with status 1).

>>> import numpy as np
>>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
>>> steps, identities = chain_steps(logits, np.array([0, 1, 2]))
>>> [s.name for s in steps][:4]
['q(y_i|x_i)', 'likelihood', 'log-likelihood', 'NLL']
>>> all(i.holds for i in identities)
True
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from . import io as _io
from .binary import binary_cross_entropy
from .chain import cross_entropy, likelihood, log_likelihood, log_prob, nll, perplexity
from .gradients import cross_entropy_grad
from .information import decompose, entropy
from .kinds import infer_kind, to_log_probs

__all__ = [
    "Data",
    "Identity",
    "IdentityError",
    "Section",
    "Step",
    "Walkthrough",
    "add_arguments",
    "bundled_data",
    "chain_steps",
    "check_identities",
    "fit_softmax_regression",
    "class_distances",
    "nearest_neighbour_logits",
    "plot",
    "read_data",
    "render",
    "run",
    "sections",
    "walkthrough",
]

# The reference (array-API) path: exact, and no compiled kernel to load for a short run.
_IMPL = "array_api"
RTOL = 1e-12
SHARPNESS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TRAIN_STEPS = 200
TRAIN_LR = 2.0
TRAIN_SHOWN = (0, 1, 2, 5, 10, 20, 50, 100, 200)


class IdentityError(Exception):
    """An identity of the chain did not hold on the data (a bug: please report it)."""

    exit_code = 1


# ----------------------------------------------------------------------------- data types
@dataclass(frozen=True)
class Step:
    """One link of the chain: its name, its formula and its value on the data."""

    name: str
    formula: str
    value: float
    note: str = ""


@dataclass(frozen=True)
class Identity:
    """``lhs == rhs`` (to ``RTOL`` of ``scale``), evaluated on the data."""

    name: str
    lhs: float
    rhs: float
    holds: bool


@dataclass(frozen=True)
class Section:
    """The answer to one of the notes' questions: text lines and the numbers in them."""

    number: int
    title: str
    lines: tuple[str, ...]
    values: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Data:
    """What the walk-through runs on.

    ``pred`` (N, C) float64 of kind ``kind``; ``target`` (N,) integer labels or (N, C)
    distributions; ``sample_weight`` (N,) or None. For the bundled example also the
    features and labels of both splits (``X_train`` ... ``y_test``), which sections 3
    and 8 use to fit models.
    """

    pred: np.ndarray
    target: np.ndarray
    kind: str
    source: str
    sample_weight: np.ndarray | None = None
    ignore_index: int = -100
    bundled: bool = False
    X_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None

    @property
    def hard(self) -> bool:
        return self.target.ndim == 1


@dataclass(frozen=True)
class Walkthrough:
    """The whole walk-through: the chain's steps, its identities and the nine answers."""

    source: str
    n: int
    num_classes: int
    kind: str
    steps: tuple[Step, ...]
    identities: tuple[Identity, ...]
    sections: tuple[Section, ...]
    curves: Mapping[str, np.ndarray] = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers
def _f(x: float, digits: int = 6) -> str:
    """A number for the text: ``digits`` significant digits, ``inf``/``nan`` spelled out."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def _fixed(x: float, width: int = 10, decimals: int = 6) -> str:
    """Fixed-point display; a value that rounds to zero shows as 0 whatever its sign."""
    text = f"{float(x):{width}.{decimals}f}"
    return text.replace("-0." + "0" * decimals, " 0." + "0" * decimals)


def _close(a: float, b: float, *, scale: float | None = None, rtol: float = RTOL) -> bool:
    """``a == b`` up to ``rtol`` relative to ``max(|a|, |b|, |scale|)``; equal infinities hold."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return False
    if math.isinf(a) or math.isinf(b):
        return a == b
    s = max(abs(a), abs(b)) if scale is None else max(abs(a), abs(b), abs(scale))
    return abs(a - b) <= rtol * s or a == b


def _identity(
    name: str, lhs: float, rhs: float, *, scale: float | None = None, rtol: float = RTOL
) -> Identity:
    return Identity(name, float(lhs), float(rhs), _close(lhs, rhs, scale=scale, rtol=rtol))


def _opts(sample_weight, ignore_index):
    return {"sample_weight": sample_weight, "ignore_index": ignore_index}


def _log10_text(log_e: float) -> str:
    """``exp(log_e)`` written as ``10^k`` (exact where the float would underflow)."""
    if math.isinf(log_e):
        return "0" if log_e < 0 else "inf"
    return f"10^{log_e / math.log(10):.2f}"


def _probs(data: Data) -> np.ndarray:
    return np.exp(np.asarray(to_log_probs(data.pred, kind=data.kind)))


def _observed_mask(data: Data) -> np.ndarray:
    """Rows that count (not ignored, nonzero weight)."""
    keep = np.ones(data.pred.shape[0], dtype=bool)
    if data.hard:
        keep &= data.target != data.ignore_index
    else:
        keep &= data.target.sum(axis=1) > 0
    if data.sample_weight is not None:
        keep &= data.sample_weight > 0
    return keep


# ----------------------------------------------------------------------------- the chain
def chain_steps(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    kind: str = "logits",
    sample_weight: np.ndarray | None = None,
    ignore_index: int = -100,
) -> tuple[tuple[Step, ...], tuple[Identity, ...]]:
    r"""Every link of the chain on ``(pred, target)`` and the identities between them.

    With ``ℓ_i = −s_i log q(y_i|x_i)`` and ``w_i = s_i`` (docs/semantics.md §4)::

        likelihood = Π_i q(y_i|x_i) = exp(log-likelihood)
        log-likelihood = −Σ ℓ_i,   NLL = Σ ℓ_i,   CE = NLL / Σ w_i
        perplexity = exp(CE),   bits = CE / ln 2,   CE = H(y) + KL(y ‖ q)

    Returns ``(steps, identities)``; each identity compares two independent
    computations (separate library calls) to a relative ``1e-12``.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> steps, ids = chain_steps(p, np.array([0, 1]), kind="probs")
    >>> {s.name: round(s.value, 6) for s in steps}["likelihood"]     # 0.5 · 0.75
    0.375
    >>> [i.name for i in ids if not i.holds]
    []
    """
    o = _opts(sample_weight, ignore_index)
    k = {"kind": kind, "impl": _IMPL}
    lp = np.asarray(log_prob(pred, target, kind=kind, ignore_index=ignore_index, impl=_IMPL))
    ll = float(log_likelihood(pred, target, **k, **o))
    lik = float(likelihood(pred, target, **k, **o))
    nll_ = float(nll(pred, target, **k, **o))
    ce = float(cross_entropy(pred, target, **k, **o))
    ppl = float(perplexity(pred, target, **k, **o))
    bits = float(cross_entropy(pred, target, base=2, **k, **o))
    d = decompose(pred, target, kind=kind, **o)
    h, kl, ce_d = float(d.entropy), float(d.kl), float(d.cross_entropy)
    s = np.ones(lp.shape) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if target.ndim == 1:
        counted = (target != ignore_index) & (s > 0)
        w = np.where(counted, s, 0.0)
    else:
        w = s * np.asarray(target, dtype=np.float64).sum(axis=1)
    wsum = float(w.sum())
    q_obs = np.exp(lp[w > 0])
    with np.errstate(under="ignore"):
        product = float(np.prod(q_obs)) if target.ndim == 1 and sample_weight is None else math.nan
    steps = [
        Step(
            "q(y_i|x_i)",
            "probability of what was observed, per example",
            float(np.median(q_obs)) if q_obs.size else math.nan,
            f"median over {q_obs.size} examples; min {_f(q_obs.min() if q_obs.size else math.nan)}",
        ),
        Step(
            "likelihood",
            "Π_i q(y_i|x_i) = exp(log-likelihood)",
            lik,
            f"= {_log10_text(ll)}"
            + ("" if lik > 0 or math.isinf(ll) else "  (underflows to 0.0 in float64)"),
        ),
        Step("log-likelihood", "Σ_i log q(y_i|x_i)", ll),
        Step("NLL", "−Σ_i log q(y_i|x_i)", nll_),
        Step("cross-entropy", "NLL / Σ_i w_i", ce, f"Σ w_i = {_f(wsum)}"),
        Step(
            "perplexity", "exp(cross-entropy)", ppl, "as unsure as this many equally likely classes"
        ),
        Step("bits", "cross-entropy / ln 2", bits, "per example"),
        Step(
            "H(y)",
            "entropy of the targets, −Σ_c y_c log y_c",
            h,
            "0 for hard labels" if target.ndim == 1 else "soft labels",
        ),
        Step("KL(y ‖ q)", "Σ_c y_c log(y_c / q_c)", kl),
    ]
    ids = [
        _identity("likelihood = exp(log-likelihood)", lik, math.exp(ll)),
        _identity("NLL = −log-likelihood", nll_, -ll),
        _identity(
            "log-likelihood = Σ_i s_i log q(y_i|x_i)",
            ll,
            float(np.sum(s * lp)),
            scale=float(np.sum(np.abs(s * lp))),
        ),
        _identity("cross-entropy = NLL / Σ w_i", ce, nll_ / wsum if wsum else math.nan),
        _identity("perplexity = exp(cross-entropy)", ppl, math.exp(ce) if ce < 709 else math.inf),
        _identity("bits = cross-entropy / ln 2", bits, ce / math.log(2)),
        _identity("cross-entropy = H(y) + KL(y ‖ q)", ce, h + kl, scale=max(abs(h), abs(kl))),
        _identity("decompose's cross-entropy = cross_entropy", ce_d, ce),
    ]
    if not math.isnan(product) and product > np.finfo(np.float64).tiny:
        # n roundings in the product and |log-likelihood| ulps in exp: a looser, derived tolerance
        tol = 4 * np.finfo(np.float64).eps * (q_obs.size + abs(ll) + 1)
        ids.append(
            _identity(
                "likelihood = float64 product Π_i q(y_i|x_i)", lik, product, rtol=max(RTOL, tol)
            )
        )
    return tuple(steps), tuple(ids)


def check_identities(identities: Sequence[Identity]) -> None:
    """Raise :class:`IdentityError` naming every identity that does not hold.

    >>> check_identities([Identity("1 = 1", 1.0, 1.0, True)])
    >>> check_identities([Identity("1 = 2", 1.0, 2.0, False)])
    Traceback (most recent call last):
    ...
    crossentropy.explain.IdentityError: identity failed: 1 = 2 (1 vs 2)
    """
    bad = [i for i in identities if not i.holds]
    if bad:
        what = "; ".join(f"{i.name} ({_f(i.lhs, 17)} vs {_f(i.rhs, 17)})" for i in bad)
        raise IdentityError(f"identity failed: {what}")


# ----------------------------------------------------------------------------- models
def class_distances(
    X_ref: np.ndarray, y_ref: np.ndarray, X: np.ndarray, *, num_classes: int, scale: float = 16.0
) -> np.ndarray:
    r"""``D_ic = min_{j: y_j = c} ‖x_i − x_j‖²``: squared distance to the nearest reference of each class.

    Computed exactly on the integer pixel values ``x · scale`` (the digits' pixels
    are multiples of 1/16), so an image's distance to itself is exactly 0. A class
    with no reference image gets ``+inf``.

    >>> import numpy as np
    >>> Xr = np.array([[0.0, 0.0], [1.0, 1.0]]); yr = np.array([0, 1])
    >>> class_distances(Xr, yr, Xr, num_classes=2, scale=1.0)
    array([[0., 2.],
           [2., 0.]])
    """
    A = np.rint(np.asarray(X, dtype=np.float64) * scale)
    B = np.rint(np.asarray(X_ref, dtype=np.float64) * scale)
    with _one_blas_thread():
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * (A @ B.T)  # exact integers
    d2 /= scale * scale
    out = np.full((A.shape[0], num_classes), np.inf)
    for c in range(num_classes):
        sel = y_ref == c
        if sel.any():
            out[:, c] = d2[:, sel].min(axis=1)
    return out


def nearest_neighbour_logits(distances: np.ndarray, sharpness: float) -> np.ndarray:
    r"""Logits ``−s · D_ic`` of a nearest-neighbour model of sharpness ``s`` (see :func:`class_distances`).

    On its own training set every image is at distance 0 from itself, so as
    ``s → ∞`` the model puts all the mass on the observed labels (likelihood → 1).

    >>> import numpy as np
    >>> nearest_neighbour_logits(np.array([[0.0, 2.0]]), 3.0)
    array([[-0., -6.]])
    """
    return -float(sharpness) * np.asarray(distances)


class _one_blas_thread:
    """Run small matrix products on one BLAS thread when threadpoolctl is installed: on a
    busy machine, BLAS threads fighting over cores make 1258×64 products 30× slower."""

    def __enter__(self):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - optional
            self._ctx = None
            return self
        self._ctx = threadpool_limits(limits=1, user_api="blas")
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            self._ctx.unregister()
        return False


def fit_softmax_regression(
    X: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = TRAIN_STEPS,
    lr: float = TRAIN_LR,
    record: Sequence[int] = TRAIN_SHOWN,
    num_classes: int | None = None,
) -> dict[str, np.ndarray]:
    r"""Gradient descent on the mean cross-entropy of ``logits = X W + b`` from ``W = 0``.

    The gradient is the library's closed form ``∂CE/∂logits = (softmax − onehot) / N``
    (:func:`crossentropy.cross_entropy_grad`), chained through the linear map:
    ``∂CE/∂W = Xᵀ G``, ``∂CE/∂b = Σ_i G_i``. Returns, at each step in ``record``,
    the NLL, the log10-likelihood and the mean entropy of the predictions, and the
    final ``W``, ``b``.

    >>> import numpy as np
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0]]); y = np.array([0, 1])
    >>> h = fit_softmax_regression(X, y, steps=20, lr=1.0, record=(0, 20))
    >>> bool(h["nll"][1] < h["nll"][0])
    True
    """
    C = int(num_classes if num_classes is not None else y.max() + 1)
    W = np.zeros((X.shape[1], C))
    b = np.zeros(C)
    rec = sorted(set(int(r) for r in record if 0 <= r <= steps))
    out = {k: [] for k in ("step", "nll", "log10_likelihood", "cross_entropy", "entropy_q")}
    with _one_blas_thread():
        W, b = _descend(X, y, W, b, steps, lr, rec, out)
    res = {k: np.asarray(v) for k, v in out.items()}
    res["W"], res["b"] = W, b
    return res


def _descend(X, y, W, b, steps, lr, rec, out):
    XT = np.ascontiguousarray(X.T)
    for t in range(steps + 1):
        z = X @ W + b
        if t in rec:
            n_ = float(nll(z, y, impl=_IMPL))
            out["step"].append(t)
            out["nll"].append(n_)
            out["log10_likelihood"].append(-n_ / math.log(10))
            out["cross_entropy"].append(n_ / len(y))
            out["entropy_q"].append(float(entropy(z, kind="logits", reduction="mean")))
        if t == steps:
            break
        g = np.asarray(cross_entropy_grad(z, y, impl=_IMPL))
        W = W - lr * (XT @ g)
        b = b - lr * g.sum(axis=0)
    return W, b


# ----------------------------------------------------------------------------- sections
def _section1(data: Data) -> Section:
    lp = np.asarray(
        log_prob(data.pred, data.target, kind=data.kind, ignore_index=data.ignore_index, impl=_IMPL)
    )
    keep = _observed_mask(data)
    sw = np.ones(lp.shape) if data.sample_weight is None else data.sample_weight
    lq = (sw * lp)[keep]  # log of each example's factor q_i^{s_i}
    q = np.exp(lq)
    n = int(q.size)
    with np.errstate(under="ignore"):
        running = np.cumprod(q)
        prod = float(running[-1]) if n else 1.0
    ll = float(np.sum(lq))
    C = data.pred.shape[1]
    with np.errstate(under="ignore"):
        uni_running = np.cumprod(np.full(n, 1.0 / C))
    zero_at = int(np.argmax(uni_running == 0.0)) + 1 if n and uni_running[-1] == 0.0 else None
    own_zero = int(np.argmax(running == 0.0)) + 1 if n and running[-1] == 0.0 else None
    uni_ll = -n * math.log(C)
    lines = [
        f"The {n} examples are taken as independent, so the likelihood of the data is the",
        "product of one probability per example: Π_i q(y_i|x_i)"
        + (" (weighted: Π_i q(y_i|x_i)^s_i)." if data.sample_weight is not None else "."),
        f"float64 product of the {n} probabilities: {_f(prod)}"
        + (f"  (0.0 from example {own_zero} on)" if own_zero else "")
        + f";  log-likelihood: {_f(ll)} (= {_log10_text(ll)})",
        f"An untrained model (q = 1/{C} for every class) on the same {n} examples: product "
        + (
            f"0.0 from example {zero_at} on"
            if zero_at
            else _f(float(uni_running[-1]) if n else 1.0)
        )
        + f";  log-likelihood {_f(uni_ll)} (= {_log10_text(uni_ll)}), no underflow.",
        "Each factor is ≤ 1, so the product shrinks geometrically; the sum of logs does not.",
    ]
    values = {
        "n": n,
        "product": prod,
        "log_likelihood": ll,
        "uniform_log_likelihood": uni_ll,
        "uniform_zero_at": float(zero_at) if zero_at else math.nan,
    }
    return Section(
        1,
        "The likelihood is a product over i.i.d. examples, and it underflows",
        tuple(lines),
        values,
    )


def _spread_unobserved(q: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Move probability among the classes without target mass: spread it evenly over them.

    The probabilities of the observed classes are kept bit for bit.
    """
    free = ~observed
    k = free.sum(axis=1, keepdims=True)
    rest = np.where(free, q, 0.0).sum(axis=1, keepdims=True)
    even = rest / np.maximum(k, 1)
    return np.where(free, even, q)


def _onehot_mask(data: Data) -> np.ndarray:
    C = data.pred.shape[1]
    if data.hard:
        return np.arange(C)[None, :] == data.target[:, None]
    return data.target > 0


def _section2(data: Data) -> Section:
    q = _probs(data)
    observed = _onehot_mask(data)
    q2 = _spread_unobserved(q, observed)
    o = _opts(data.sample_weight, data.ignore_index)
    ce1 = float(cross_entropy(q, data.target, kind="probs", impl=_IMPL, **o))
    ce2 = float(cross_entropy(q2, data.target, kind="probs", impl=_IMPL, **o))
    h1 = float(entropy(q, reduction="mean"))
    h2 = float(entropy(q2, reduction="mean"))
    moved = float(np.abs(q2 - q).sum(axis=1).mean()) / 2
    lines = [
        "With a hard label the exponents y_ic are 1 for the observed class and 0 for every",
        "other: q^0 = 1, so only q(y_i|x_i) enters (binary: y picks p, 1 − y picks 1 − p).",
        "Spreading each example's wrong-class probability evenly over the wrong classes",
        f"(moves {_f(moved, 4)} of probability per example on average):",
        f"  cross-entropy before {_f(ce1, 12)}, after {_f(ce2, 12)}  (identical: {ce1 == ce2})",
        f"  while the mean entropy of the predictions changes: {_f(h1)} → {_f(h2)}",
    ]
    if moved == 0:
        lines.append(
            "  (here every class has some target mass: no switch is fully off; soft labels, "
            "section 6)"
        )
    return Section(
        2,
        "The exponents are switches",
        tuple(lines),
        {
            "ce_before": ce1,
            "ce_after": ce2,
            "moved": moved,
            "entropy_before": h1,
            "entropy_after": h2,
        },
    )


def _section3(data: Data) -> tuple[Section, dict]:
    curves: dict[str, np.ndarray] = {}
    if data.X_train is not None:
        C = data.pred.shape[1]
        rows, tr, te = [], [], []
        d_train = class_distances(data.X_train, data.y_train, data.X_train, num_classes=C)
        d_test = class_distances(data.X_train, data.y_train, data.X_test, num_classes=C)
        for s in SHARPNESS:
            lt = nearest_neighbour_logits(d_train, s)
            a = float(cross_entropy(lt, data.y_train, impl=_IMPL))
            b = float(cross_entropy(nearest_neighbour_logits(d_test, s), data.y_test, impl=_IMPL))
            tr.append(a)
            te.append(b)
            rows.append(f"  {_f(s, 3):>6}  {_f(a):>14}  {_f(b):>14}")
        best = SHARPNESS[int(np.argmin(te))]
        lik_train = float(likelihood(lt, data.y_train, impl=_IMPL))
        lines = [
            "The likelihood Π q(y_i|x_i) ≤ 1 is maximal (= 1) when every q(y_i|x_i) = 1: all the",
            "mass on the observed labels. A nearest-neighbour model of sharpness s,",
            "logit_c = −s · (squared distance to the nearest training image of class c), does",
            "exactly that on its training images as s grows:",
            "  sharpness   train NLL/ex.   held-out NLL/ex.",
            *rows,
            f"At s = {_f(SHARPNESS[-1], 3)} the training likelihood is {_f(lik_train)}; held-out NLL is best at "
            f"s = {_f(best, 3)} and then grows",
            "without bound: every held-out mistake costs ∝ s. Maximal likelihood on the training",
            "set is over-confidence on new data.",
        ]
        curves["sharpness"] = np.asarray(SHARPNESS)
        curves["sharpness_train"] = np.asarray(tr)
        curves["sharpness_heldout"] = np.asarray(te)
        values = {
            "train_likelihood_max_s": lik_train,
            "best_sharpness": best,
            **{f"train_s{s:g}": a for s, a in zip(SHARPNESS, tr, strict=True)},
            **{f"heldout_s{s:g}": b for s, b in zip(SHARPNESS, te, strict=True)},
        }
    else:
        lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
        o = _opts(data.sample_weight, data.ignore_index)
        ce_t = [float(cross_entropy(lq * t, data.target, impl=_IMPL, **o)) for t in TEMPERATURES]
        rows = [f"  {_f(t, 3):>6}  {_f(c):>14}" for t, c in zip(TEMPERATURES, ce_t, strict=True)]
        lines = [
            "The likelihood Π q(y_i|x_i) ≤ 1 is maximal (= 1) when every q(y_i|x_i) = 1: all the",
            "mass on the observed labels. Sharpening these predictions (log q · s, renormalised):",
            "  s         NLL/example",
            *rows,
            "On data the model was not fitted to, pushing mass to its own guesses pays off only",
            "while they are right; every mistake costs ∝ s. (The bundled example, which has the",
            "training images, shows train vs held-out.)",
        ]
        curves["sharpness"] = np.asarray(TEMPERATURES)
        curves["sharpness_heldout"] = np.asarray(ce_t)
        values = {f"ce_s{t:g}": c for t, c in zip(TEMPERATURES, ce_t, strict=True)}
    return Section(
        3,
        "Maximal likelihood: all mass on the observed labels — over-confident",
        tuple(lines),
        values,
    ), curves


def _section4(data: Data) -> Section:
    C = data.pred.shape[1]
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    if not data.hard or C < 2:
        lines = [
            "Categorical likelihood: Π_i Π_c q_ic^{y_ic}; with soft targets the exponents are",
            "fractions (section 6). The binary comparison needs hard labels.",
        ]
        return Section(4, "Many classes: the categorical likelihood", tuple(lines), {})
    keep = _observed_mask(data)
    counts = np.bincount(data.target[keep], minlength=C)
    a, b = (int(c) for c in sorted(np.argsort(-counts, kind="stable")[:2]))
    rows = keep & ((data.target == a) | (data.target == b))
    two = lq[rows][:, [a, b]]
    y01 = (data.target[rows] == b).astype(np.int64)
    ce_cat = float(cross_entropy(two, y01, impl=_IMPL))
    x = two[:, 1] - two[:, 0]  # the binary logit: log q_b − log q_a
    ce_bin = float(binary_cross_entropy(x, y01.astype(np.float64)))
    p = 1.0 / (1.0 + np.exp(-x))
    seed = float(-np.mean(y01 * np.log(p) + (1 - y01) * np.log1p(-p)))
    lines = [
        "With C classes the likelihood is Π_i q_{i,y_i} = Π_i Π_c q_ic^{y_ic} (one switch per class).",
        f"Binary is the C = 2 case. Classes {a} and {b} ({int(rows.sum())} examples), model renormalised",
        f"to the two: categorical CE {_f(ce_cat, 12)}; binary CE on the logit log q_{b} − log q_{a}: "
        f"{_f(ce_bin, 12)};",
        f"the notes' formula −mean[y log p + (1−y) log(1−p)]: {_f(seed, 12)}.",
    ]
    return Section(
        4,
        "Many classes: the categorical likelihood, binary as C = 2",
        tuple(lines),
        {
            "categorical": ce_cat,
            "binary": ce_bin,
            "seed_formula": seed,
            "class_a": a,
            "class_b": b,
            "n": int(rows.sum()),
        },
    )


def _section5(data: Data) -> Section:
    q = _probs(data)
    o = _opts(data.sample_weight, data.ignore_index)
    rowsum_err = float(np.abs(q.sum(axis=1) - 1).max()) if q.size else 0.0
    rng = np.random.default_rng(0)
    perm = rng.permutation(q.shape[0])
    ll = float(log_likelihood(data.pred, data.target, kind=data.kind, impl=_IMPL, **o))
    sw = None if data.sample_weight is None else data.sample_weight[perm]
    ll_pairs = float(
        log_likelihood(
            data.pred[perm],
            data.target[perm],
            kind=data.kind,
            impl=_IMPL,
            sample_weight=sw,
            ignore_index=data.ignore_index,
        )
    )
    ll_broken = float(
        log_likelihood(
            data.pred,
            data.target[perm],
            kind=data.kind,
            impl=_IMPL,
            sample_weight=sw,
            ignore_index=data.ignore_index,
        )
    )
    keep = _observed_mask(data)
    if data.hard:
        freq = np.bincount(data.target[keep], minlength=q.shape[1]) / max(int(keep.sum()), 1)
    else:
        t = data.target[keep]
        freq = t.sum(axis=0) / max(float(t.sum()), 1e-300)
    mean_q = q[keep].mean(axis=0) if keep.any() else np.full(q.shape[1], math.nan)
    lines = [
        "The model is a conditional distribution q(y | x): one distribution over the classes",
        "for each input x. The inputs are given, not modelled — no p(x) appears anywhere.",
        f"Each row sums to 1 over the classes (every row within 1e-12: {rowsum_err < 1e-12}).",
        f"Shuffling the (x_i, y_i) pairs together leaves the log-likelihood as it is: {_f(ll, 12)} vs {_f(ll_pairs, 12)};",
        f"breaking the pairing (labels shuffled against the inputs) gives {_f(ll_broken)}.",
        f"Averaged over x, q matches the label frequencies: max |mean_x q(c|x) − freq(c)| = "
        f"{_f(float(np.abs(mean_q - freq).max()), 3)}.",
    ]
    return Section(
        5,
        "What the distribution is: q(y | x), with x given",
        tuple(lines),
        {
            "log_likelihood": ll,
            "shuffled_pairs": ll_pairs,
            "broken_pairs": ll_broken,
            "rowsum_err": rowsum_err,
        },
    )


def _section6(data: Data) -> Section:
    C = data.pred.shape[1]
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    keep = _observed_mask(data)
    eps = 0.1
    lines = [
        "A soft label y_i is a distribution: the exponents y_ic are fractions and",
        "CE(y, q) = −Σ_c y_c log q_c = H(y) + KL(y ‖ q) ≥ H(y), equality only at q = y.",
    ]
    values: dict[str, float] = {}
    if data.hard:
        y = np.eye(C)[data.target[keep]]
        soft = (1 - eps) * y + eps / C
        ls = float(cross_entropy(lq[keep], data.target[keep], label_smoothing=eps, impl=_IMPL))
        ss = float(cross_entropy(lq[keep], soft, impl=_IMPL))
        d = decompose(lq[keep], soft)
        lines += [
            f"Label smoothing ε = {eps} is the soft target (1 − ε)·onehot + ε/C: CE {_f(ls, 12)} with",
            f"label_smoothing=0.1, {_f(ss, 12)} with the soft target; H(y') = {_f(float(d.entropy))}, "
            f"KL = {_f(float(d.kl))}.",
        ]
        values.update(
            smoothing=ls, soft_target=ss, smoothed_entropy=float(d.entropy), smoothed_kl=float(d.kl)
        )
        teacher_lq = lq[keep] / 2.0  # temperature 2
        teacher = np.exp(np.asarray(to_log_probs(teacher_lq, kind="logits")))
        name = "teacher = these predictions at temperature T = 2"
    else:
        teacher = data.target[keep] / data.target[keep].sum(axis=1, keepdims=True)
        teacher_lq = np.log(teacher)
        name = "the file's soft targets"
    # the minimum at q = y: students at other temperatures of the teacher's logits
    rows = []
    for m in (2.0, 1.0, 0.5):
        dd = decompose(teacher_lq * m, teacher)
        rows.append((m, float(dd.cross_entropy), float(dd.entropy), float(dd.kl)))
    lines += [
        f"Distillation ({name}): targets are the teacher's probabilities.",
        "  student                              CE        H(y)   KL(y ‖ q)",
    ]
    for m, c, h, k in rows:
        who = (
            "q = y (the teacher)"
            if m == 1.0
            else (
                f"sharper (teacher logits ×{_f(m, 2)})"
                if m > 1
                else f"flatter (teacher logits ×{_f(m, 2)})"
            )
        )
        lines.append(f"  {who:<30} {_fixed(c)}  {_fixed(h)}  {_fixed(k)}")
    lines.append("The minimum is at q = y (KL = 0, CE = H(y)), not at a one-hot q.")
    values.update(
        student_ce_at_teacher=rows[1][1],
        teacher_entropy=rows[1][2],
        student_kl_at_teacher=rows[1][3],
        student_ce_sharper=rows[0][1],
        student_ce_flatter=rows[2][1],
    )
    return Section(6, "Soft labels: CE = H(y) + KL(y ‖ q), minimal at q = y", tuple(lines), values)


def _section7(data: Data) -> Section:
    n = data.pred.shape[0]
    keep = _observed_mask(data)
    hide = np.zeros(n, dtype=bool)
    hide[np.flatnonzero(keep)[::10]] = True
    sw = np.ones(n) if data.sample_weight is None else data.sample_weight
    kw = {"kind": data.kind, "impl": _IMPL}
    terms = np.asarray(
        nll(
            data.pred,
            data.target,
            reduction="none",
            sample_weight=data.sample_weight,
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    soft_w = np.where(hide, 0.5 * sw, sw)
    weighted = float(
        cross_entropy(
            data.pred, data.target, sample_weight=soft_w, ignore_index=data.ignore_index, **kw
        )
    )
    zero_w = float(
        cross_entropy(
            data.pred,
            data.target,
            sample_weight=np.where(hide, 0.0, sw),
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    sel = keep & ~hide
    dropped = float(
        cross_entropy(
            data.pred[sel],
            data.target[sel],
            sample_weight=None if data.sample_weight is None else sw[sel],
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    wrong = float(np.where(hide, 0.0, terms).sum() / keep.sum())
    lines = [f"Hide every tenth counted example ({int(hide.sum())} of {int(keep.sum())}):"]
    values = {
        "sample_weight_zero": zero_w,
        "dropped": dropped,
        "zeroed_over_n": wrong,
        "half_weight": weighted,
    }
    if data.hard:
        t = data.target.copy()
        t[hide] = data.ignore_index
        ign = float(
            cross_entropy(
                data.pred, t, sample_weight=data.sample_weight, ignore_index=data.ignore_index, **kw
            )
        )
        lines.append(f"  hard mask, ignore_index:       {ign:.12f}")
        values["ignore_index"] = ign
    else:
        t = np.where(hide[:, None], 0.0, data.target)
        ign = float(cross_entropy(data.pred, t, sample_weight=data.sample_weight, **kw))
        lines.append(f"  hard mask, all-zero target row: {ign:.12f}")
        values["ignore_index"] = ign
    lines += [
        f"  hard mask, sample_weight = 0:  {zero_w:.12f}",
        f"  rows dropped:                  {dropped:.12f}",
        "  (all three divide by the number of rows that count; zeroing their losses but",
        f"  dividing by all N would give {wrong:.12f}, biased low)",
        f"  soft mask, sample_weight 0.5:  {weighted:.12f}  = Σ s_i ℓ_i / Σ s_i",
    ]
    return Section(7, "Hard and soft masking: what the mean divides by", tuple(lines), values)


def _section8(data: Data) -> tuple[Section, dict]:
    if data.X_train is None:
        lines = [
            "Training needs the inputs x; a prediction file holds only q. Run",
            "`crossentropy explain` without a file to see a softmax regression trained on the",
            "bundled digits with the library's gradient.",
        ]
        return Section(
            8, "Training minimises cross-entropy = maximises likelihood", tuple(lines)
        ), {}
    h = fit_softmax_regression(data.X_train, data.y_train, num_classes=data.pred.shape[1])
    lines = [
        "Softmax regression on the training digits, gradient descent from W = 0 with the",
        f"library's closed-form gradient softmax − onehot (learning rate {_f(TRAIN_LR)}):",
        "  step        NLL    log10 likelihood   CE/example   mean H(q)",
    ]
    for s, n_, l10, c, hq in zip(
        h["step"], h["nll"], h["log10_likelihood"], h["cross_entropy"], h["entropy_q"], strict=True
    ):
        lines.append(f"  {int(s):>4} {n_:10.4f} {l10:16.4f}   {_fixed(c)}  {_fixed(hq)}")
    falls = bool(np.all(np.diff(h["nll"]) < 0))
    lines.append(
        f"NLL falls at every recorded step ({falls}); the likelihood rises by the same amount "
        "in log10 / ln 10."
    )
    curves = {
        "train_step": h["step"],
        "train_nll": h["nll"],
        "train_log10_likelihood": h["log10_likelihood"],
        "train_entropy_q": h["entropy_q"],
        "train_ce": h["cross_entropy"],
    }
    return Section(
        8,
        "Training minimises cross-entropy = maximises likelihood",
        tuple(lines),
        {"nll_start": float(h["nll"][0]), "nll_end": float(h["nll"][-1]), "monotone": float(falls)},
    ), curves


def _section9(data: Data, curves: Mapping[str, np.ndarray]) -> Section:
    o = _opts(data.sample_weight, data.ignore_index)
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    keep = _observed_mask(data)
    ce = float(cross_entropy(lq, data.target, impl=_IMPL, **o))
    hq = float(entropy(lq[keep], kind="log_probs", reduction="mean"))
    hy = (
        0.0
        if data.hard
        else float(
            entropy(
                data.target[keep] / data.target[keep].sum(axis=1, keepdims=True), reduction="mean"
            )
        )
    )
    s = 8.0
    ce_s = float(cross_entropy(lq * s, data.target, impl=_IMPL, **o))
    hq_s = float(entropy(lq[keep] * s, kind="logits", reduction="mean"))
    lines = [
        "The notes end: summing log-probabilities gives 'the entropy of the estimated",
        "distribution', which training minimises. Not so: training minimises the",
        "cross-entropy CE(y, q) = H(y) + KL(y ‖ q) of the targets under the model. H(y) is",
        "fixed by the data (0 for hard labels), so training drives KL → 0, i.e. q → y.",
        f"On these data: CE {_f(ce)};  entropy of the predictions H(q) {_f(hq)};  entropy of the "
        f"targets H(y) {_f(hy)}.",
        f"Lowering H(q) is not the goal: sharpening the logits ×{_f(s)} gives H(q) {_f(hq_s)} "
        f"but CE {_f(ce_s)}",
        f"({'worse' if ce_s > ce else 'better'}). A model that minimised H(q) would put all mass on "
        "one class whatever the label.",
    ]
    if "train_ce" in curves:
        lines.append(
            f"During training (section 8) CE went {_f(curves['train_ce'][0])} → "
            f"{_f(curves['train_ce'][-1])} and H(q) {_f(curves['train_entropy_q'][0])} → "
            f"{_f(curves['train_entropy_q'][-1])}: H(q) stays above CE's"
        )
        lines.append("floor H(y) = 0 and falls only as a side effect of fitting the labels.")
    return Section(
        9,
        "The misconception: training minimises CE, not the entropy of q",
        tuple(lines),
        {
            "cross_entropy": ce,
            "entropy_q": hq,
            "entropy_y": hy,
            "sharpened_ce": ce_s,
            "sharpened_entropy_q": hq_s,
        },
    )


def sections(data: Data) -> tuple[tuple[Section, ...], dict]:
    """The nine answers on ``data`` and the curves the figures draw."""
    curves: dict[str, np.ndarray] = {}
    s3, c3 = _section3(data)
    s8, c8 = _section8(data)
    curves.update(c3)
    curves.update(c8)
    out = (
        _section1(data),
        _section2(data),
        s3,
        _section4(data),
        _section5(data),
        _section6(data),
        _section7(data),
        s8,
        _section9(data, curves),
    )
    return out, curves


def walkthrough(data: Data) -> Walkthrough:
    """Steps, identities and the nine answers on ``data``; identities are checked (may raise)."""
    steps, ids = chain_steps(
        data.pred,
        data.target,
        kind=data.kind,
        sample_weight=data.sample_weight,
        ignore_index=data.ignore_index,
    )
    check_identities(ids)
    secs, curves = sections(data)
    lp = np.asarray(
        log_prob(data.pred, data.target, kind=data.kind, ignore_index=data.ignore_index, impl=_IMPL)
    )
    curves = dict(curves)
    curves["log_q_observed"] = lp[_observed_mask(data)]
    return Walkthrough(
        data.source,
        int(data.pred.shape[0]),
        int(data.pred.shape[1]),
        data.kind,
        steps,
        ids,
        secs,
        curves,
    )


# ----------------------------------------------------------------------------- output
def render(w: Walkthrough) -> str:
    """The walk-through as text (what ``crossentropy explain`` prints)."""
    out = [
        w.source,
        "",
        f"{w.n} examples, {w.num_classes} classes, prediction kind: {w.kind}",
        "",
        "The chain: likelihood → log-likelihood → negative log-likelihood → cross-entropy",
    ]
    for s in w.steps:
        out.append(
            f"  {s.name:<15} {_f(s.value):>14}   {s.formula}" + (f"  [{s.note}]" if s.note else "")
        )
    out += ["", "Identities, checked on these numbers (relative tolerance 1e-12):"]
    for i in w.identities:
        out.append(f"  {'ok' if i.holds else 'FAILED'}  {i.name}")
    for sec in w.sections:
        out += ["", f"{sec.number}. {sec.title}"]
        out += [f"   {line}" for line in sec.lines]
    return "\n".join(out) + "\n"


def plot(w: Walkthrough, directory: str) -> list[str]:
    """Write the walk-through's figures as PNG files into ``directory``; returns their paths."""
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        msg = "--plot needs matplotlib: pip install 'crossentropy[plot]'"
        raise ImportError(msg) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(directory, exist_ok=True)
    paths = []
    c = w.curves
    lp = np.asarray(c["log_q_observed"])
    fig, ax = plt.subplots(figsize=(6, 4))
    i = np.arange(1, lp.size + 1)
    ax.plot(i, np.cumsum(lp) / math.log(10), label="log10 of the running product (sum of logs)")
    with np.errstate(under="ignore", divide="ignore"):
        prod = np.log10(np.cumprod(np.exp(lp)))
    ax.plot(
        i,
        np.where(np.isfinite(prod), prod, np.nan),
        "--",
        label="log10 of the float64 running product",
    )
    ax.axhline(math.log10(np.finfo(np.float64).smallest_subnormal), color="grey", lw=0.8)
    ax.set(
        xlabel="examples multiplied",
        ylabel="log10 likelihood",
        title="1. The likelihood is a product",
    )
    ax.legend(fontsize=8)
    paths.append(_save(fig, directory, "1_likelihood_product.png"))
    if "sharpness" in c:
        fig, ax = plt.subplots(figsize=(6, 4))
        if "sharpness_train" in c:
            ax.plot(c["sharpness"], c["sharpness_train"], "o-", label="training")
        ax.plot(c["sharpness"], c["sharpness_heldout"], "o-", label="held-out")
        ax.set(
            xscale="log",
            xlabel="sharpness s",
            ylabel="NLL per example",
            title="3. Maximal likelihood is over-confident",
        )
        ax.legend()
        paths.append(_save(fig, directory, "3_sharpening.png"))
    if "train_step" in c:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
        a1.plot(c["train_step"], c["train_nll"], "o-")
        a1.set(xlabel="step", ylabel="NLL (sum)", title="8. NLL falls")
        a2.plot(c["train_step"], c["train_log10_likelihood"], "o-", color="C1")
        a2.set(xlabel="step", ylabel="log10 likelihood", title="… the likelihood rises")
        paths.append(_save(fig, directory, "8_training.png"))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(c["train_step"], c["train_ce"], "o-", label="cross-entropy (minimised)")
        ax.plot(
            c["train_step"], c["train_entropy_q"], "o-", label="entropy of the predictions H(q)"
        )
        ax.axhline(0.0, color="grey", lw=0.8, label="entropy of the targets H(y)")
        ax.set(xlabel="step", ylabel="nats per example", title="9. What training minimises")
        ax.legend()
        paths.append(_save(fig, directory, "9_ce_vs_entropy.png"))
    return paths


def _save(fig, directory: str, name: str) -> str:
    import matplotlib.pyplot as plt

    path = os.path.join(directory, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- inputs
BUNDLED_FIRST_LINE = (
    "Explaining the bundled example: 539 held-out UCI handwritten digits scored by a softmax "
    "regression (run `crossentropy explain YOUR_FILE --target COL --pred 'COLS'` for your own "
    "predictions)."
)


def bundled_data() -> Data:
    """The bundled digits example as :class:`Data` (held-out logits plus both splits' pixels)."""
    from .examples import load_example

    ex = load_example()
    return Data(
        pred=ex.logits,
        target=ex.target,
        kind="logits",
        source=BUNDLED_FIRST_LINE,
        bundled=True,
        X_train=ex.X_train,
        y_train=ex.y_train,
        X_test=ex.X_test,
        y_test=ex.y_test,
    )


def read_data(
    path: str,
    *,
    target: str | None = None,
    pred: str | None = None,
    weight: str | None = None,
    kind: str = "auto",
    ignore_index: int = -100,
    input_format: str = "auto",
) -> Data:
    """Read a whole prediction file (the formats of ``crossentropy evaluate``) into :class:`Data`.

    Raises the reader's :class:`crossentropy.io.InputError` subclasses (exit status in
    ``exit_code``); labels that are missing or not class indices are a ``DataError``.
    """
    schema = _io.Schema(target=target, pred=pred, weight=weight)
    preds, targets, weights = [], [], []
    for b in _io.read_batches([path], schema, input_format=input_format):
        if b.bad_labels is not None and b.bad_labels.any():
            rows = np.flatnonzero(b.bad_labels)
            raise _io.DataError(
                f"{path}: label is not a class index at {_io.format_rows(rows, b.offset)} "
                f"(found {', '.join(repr(x) for x in b.bad_label_values)})"
            )
        if b.missing is not None and b.missing.any():
            rows = np.flatnonzero(b.missing)
            raise _io.DataError(f"{path}: label is missing at {_io.format_rows(rows, b.offset)}")
        preds.append(b.pred)
        targets.append(b.target)
        if b.weight is not None:
            weights.append(b.weight)
    if not preds:
        raise _io.DataError(f"{path}: no rows; nothing to explain")
    P = np.concatenate(preds)
    T = np.concatenate(targets)
    W = np.concatenate(weights) if weights else None
    if not np.isfinite(P).all() and kind != "probs":
        bad = np.flatnonzero(
            ~np.isfinite(P).all(axis=1) & ~(np.isneginf(P) | np.isfinite(P)).all(axis=1)
        )
        if bad.size:
            raise _io.DataError(f"{path}: non-finite prediction at {_io.format_rows(bad)}")
    if kind == "auto":
        try:
            kind, reason = infer_kind(P)
        except ValueError as e:
            raise _io.DataError(
                f"{path}: --kind auto could not decide: {e}. Pass --kind logits|probs|log_probs"
            ) from None
        print(f"kind: {kind} ({reason}); pass --kind to set it", file=sys.stderr)
    if T.ndim == 1:
        C = P.shape[1]
        out = ((T < 0) | (T >= C)) & (T != ignore_index)
        if out.any():
            raise _io.DataError(
                f"{path}: label out of range [0, {C}) at "
                f"{_io.format_rows(np.flatnonzero(out))} (--ignore-index is {ignore_index})"
            )
    first = (
        f"Explaining {path}: {P.shape[0]} examples, {P.shape[1]} classes "
        f"(run `crossentropy explain` without a file for the bundled example)."
    )
    return Data(
        pred=P, target=T, kind=kind, source=first, sample_weight=W, ignore_index=ignore_index
    )


# ----------------------------------------------------------------------------- command line
def add_arguments(p) -> None:
    """The ``explain`` subcommand's options (registered by :mod:`crossentropy.cli`)."""
    p.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="prediction file (CSV, Parquet, Arrow IPC, NPZ, NPY). None: the bundled "
        "digits example",
    )
    p.add_argument("--target", metavar="COL", help="label column (default: target/label/y)")
    p.add_argument(
        "--pred",
        metavar="COLS|GLOB",
        help="prediction columns (default: logits/probs/… if present, else every other column)",
    )
    p.add_argument("--weight-col", metavar="COL", help="sample-weight column")
    p.add_argument(
        "--kind",
        choices=["auto", "logits", "probs", "log_probs"],
        default="auto",
        help="what the prediction holds (default auto)",
    )
    p.add_argument(
        "--ignore-index",
        type=int,
        default=-100,
        metavar="I",
        help="label value that marks an ignored row (default -100)",
    )
    p.add_argument(
        "--input-format",
        choices=["auto", *_io.FORMATS],
        default="auto",
        help="file format (default: from the extension)",
    )
    p.add_argument("--plot", metavar="DIR", help="write the figures as PNG files into DIR")


def run(args) -> int:
    """Run ``crossentropy explain``: print the walk-through; 1 when an identity fails."""
    if args.file is None:
        if args.target or args.pred or args.weight_col:
            raise _io.SchemaError("--target/--pred/--weight-col need a FILE")
        data = bundled_data()
    else:
        data = read_data(
            args.file,
            target=args.target,
            pred=args.pred,
            weight=args.weight_col,
            kind=args.kind,
            ignore_index=args.ignore_index,
            input_format=args.input_format,
        )
    import warnings

    from ._validate import CrossEntropyWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CrossEntropyWarning)
            w = walkthrough(data)
    except IdentityError as e:
        print(f"crossentropy explain: error: {e} (a bug: please report it)", file=sys.stderr)
        return IdentityError.exit_code
    except ValueError as e:
        raise _io.DataError(f"{args.file or 'bundled example'}: {e}") from None
    sys.stdout.write(render(w))
    sys.stdout.flush()
    if args.plot:
        paths = plot(w, args.plot)
        print(f"wrote {len(paths)} figures to {args.plot}", file=sys.stderr)
    return 0
