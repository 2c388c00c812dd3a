r"""The walk-through of a binary or multi-label task: the seed's Bernoulli likelihood.

The seed starts here (its equations 1 and 2): each label is a coin with ``P(y=1) = p``, so

    likelihood     = Π_i p_i^{y_i} (1 − p_i)^{1 − y_i}
    log-likelihood = Σ_i s_i [y_i log p_i + (1 − y_i) log(1 − p_i)]
    cross-entropy  = NLL / Σ_i w_i

and a multi-label row is K such coins (docs/semantics.md §10.1): the likelihood is the
product over rows *and* labels, and the cross-entropy is the mean over the N·K cells, the
mean of the K per-label binary cross-entropies (the number ``evaluate`` reports).

:func:`bernoulli_walkthrough` computes the steps with the library's
:func:`crossentropy.binary_cross_entropy` and checks them against the seed's formula written
out in float64 NumPy and against the two-class softmax cross-entropy; the answers that have
no meaning for 0/1 labels (soft labels, training) say so in one line.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..binary import binary_cross_entropy
from ..chain import cross_entropy
from ..gradients import binary_cross_entropy_grad
from ._data import (
    _IMPL,
    RTOL,
    TEMPERATURES,
    Data,
    Identity,
    Section,
    Step,
    Walkthrough,
    _f,
    _identity,
    _log10_text,
)
from ._sections import _NOTHING_COUNTS, _ON_MEANS, CONFIDENT_MISTAKES, _section8

__all__ = ["bernoulli_walkthrough", "cells"]


def cells(data: Data) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(log p, log(1 − p), y, s, counted)`` of a binary / multi-label :class:`Data` in float64
    NumPy, written out from the prediction's kind (not through the library): (N, K) arrays (a
    binary task has K = 1), the row weights ``s`` (N,) and the rows that count (N,).

    >>> import numpy as np
    >>> d = Data(np.array([0.8, 0.4]), np.array([1, 0]), "probs", "t", task="binary")
    >>> lp, l1p, y, s, counted = cells(d)
    >>> float(np.exp(lp[0, 0])), float(np.exp(l1p[1, 0])), y[:, 0].tolist(), counted.tolist()
    (0.8, 0.6, [1.0, 0.0], [True, True])
    """
    x = np.asarray(data.pred, dtype=np.float64)
    t = np.asarray(data.target)
    if x.ndim == 1:
        x, t = x[:, None], t[:, None]
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if data.kind == "logits":
            lp, l1p = -np.logaddexp(0.0, -x), -np.logaddexp(0.0, x)
        elif data.kind == "probs":
            lp, l1p = np.log(x), np.log1p(-x)
        else:
            lp, l1p = x, np.log(-np.expm1(x))
    n = x.shape[0]
    counted = np.ones(n, dtype=bool)
    if data.task == "binary":
        counted &= t[:, 0] != data.ignore_index
    s = np.ones(n) if data.sample_weight is None else np.asarray(data.sample_weight, np.float64)
    counted &= s > 0
    y = np.where(counted[:, None], t, 0).astype(np.float64)
    return lp, l1p, y, s, counted


def _log_q(lp: np.ndarray, l1p: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log of each cell's observed probability: log p where y = 1, log(1 − p) where y = 0."""
    return np.where(y == 1, lp, l1p)


def _logit(lp: np.ndarray, l1p: np.ndarray) -> np.ndarray:
    """The logit log p − log(1 − p) of each cell (±inf at p = 1 or 0)."""
    with np.errstate(invalid="ignore"):
        return lp - l1p


def _label(data: Data, k: int) -> str:
    names = data.label_names
    return names[k] if names is not None and k < len(names) else f"label {k}"


class _Ctx:
    """The numbers every answer shares."""

    def __init__(self, data: Data):
        self.data = data
        self.lp, self.l1p, self.y, self.s, self.counted = cells(data)
        self.K = self.lp.shape[1]
        self.x = _logit(self.lp, self.l1p)
        self.o: dict[str, Any] = {"sample_weight": data.sample_weight}
        if data.task == "binary":
            self.o["ignore_index"] = data.ignore_index
        self.W = float(self.s[self.counted].sum())

    def bce(self, pred: np.ndarray, **kw) -> float:
        """The library's mean (or ``reduction=``) binary CE of logits ``pred`` (data's shape)."""
        p = pred[:, 0] if self.data.task == "binary" else pred
        return float(binary_cross_entropy(p, self.data.target, kind="logits", **self.o, **kw))


# ----------------------------------------------------------------------------- the chain
def _chain(c: _Ctx) -> tuple[tuple[Step, ...], tuple[Identity, ...]]:
    data, K = c.data, c.K
    kw = {"kind": data.kind, **c.o}
    nll_ = float(binary_cross_entropy(data.pred, data.target, reduction="sum", **kw))
    ce = float(binary_cross_entropy(data.pred, data.target, **kw))
    bits = float(binary_cross_entropy(data.pred, data.target, base=2, **kw))
    ll = -nll_
    lik = math.exp(ll) if ll < 710 else math.inf
    ppl = math.inf if ce > 709 else math.exp(ce)
    lq = _log_q(c.lp, c.l1p, c.y)
    with np.errstate(invalid="ignore"):
        terms = np.where(c.counted[:, None], c.s[:, None] * lq, 0.0)  # the seed's eq. 2, per cell
    seed_ll = float(terms.sum())
    empty = not c.W > 0
    q_obs = np.exp(lq[c.counted]).ravel()
    per = "per cell (row, label)" if K > 1 else "per example"
    kk = "K · " if K > 1 else ""
    steps = [
        Step(
            "q(y_i|x_i)" if K == 1 else "q(y_ik|x_i)",
            f"p^y (1 − p)^(1 − y): probability of what was observed, {per}",
            float(np.median(q_obs)) if q_obs.size else math.nan,
            f"median over {q_obs.size} {'cells' if K > 1 else 'examples'}; "
            f"min {_f(q_obs.min() if q_obs.size else math.nan)}",
        ),
        Step(
            "likelihood",
            "Π_i " + ("Π_k " if K > 1 else "") + "p^y (1 − p)^(1 − y) = exp(log-likelihood)",
            lik,
            f"= {_log10_text(ll)}"
            + ("" if lik > 0 or math.isinf(ll) else "  (underflows to 0.0 in float64)"),
        ),
        Step(
            "log-likelihood",
            "Σ_i " + ("Σ_k " if K > 1 else "") + "[y log p + (1 − y) log(1 − p)]",
            ll,
        ),
        Step("NLL", "−log-likelihood", nll_),
        Step(
            "cross-entropy",
            f"NLL / ({kk}Σ_i w_i)" if K > 1 else "NLL / Σ_i w_i",
            ce,
            f"Σ w_i = {_f(c.W)}"
            + (f", K = {K}: the mean per-label binary cross-entropy" if K > 1 else "")
            + (": no example counts (all ignored or weight 0), so 0/0 = NaN" if empty else ""),
        ),
        Step("perplexity", "exp(cross-entropy)", ppl, "a fair coin (p = ½ always) gives 2"),
        Step("bits", "cross-entropy / ln 2", bits, "per label" if K > 1 else "per example"),
    ]
    u = {"undefined": empty}
    ids = [
        _identity(
            "log-likelihood = Σ s_i [y log p + (1 − y) log(1 − p)] (the seed's eq. 2)",
            ll,
            seed_ll,
            scale=float(np.sum(np.abs(terms))),
        ),
        _identity(
            f"cross-entropy = NLL / ({kk}Σ w_i)" if K > 1 else "cross-entropy = NLL / Σ w_i",
            ce,
            nll_ / (K * c.W) if c.W else math.nan,
            **u,
        ),
        _identity("bits = cross-entropy / ln 2", bits, ce / math.log(2), **u),
        _identity(
            "cross-entropy = categorical CE of the two classes (1 − p, p)", ce, _two_class(c), **u
        ),
    ]
    if K > 1:
        per_label = [
            float(binary_cross_entropy(data.pred[:, k], data.target[:, k], kind=data.kind, **c.o))
            for k in range(K)
        ]
        ids.append(
            _identity(
                "cross-entropy = mean over labels of each label's CE",
                ce,
                float(np.mean(per_label)),
                **u,
            )
        )
    with np.errstate(under="ignore"):
        product = float(np.prod(q_obs)) if data.sample_weight is None else math.nan
    if not math.isnan(product) and product > np.finfo(np.float64).tiny:
        tol = 4 * np.finfo(np.float64).eps * (q_obs.size + abs(ll) + 1)
        ids.append(
            _identity(
                "likelihood = float64 product of the factors", lik, product, rtol=max(RTOL, tol)
            )
        )
    return tuple(steps), tuple(ids)


def _two_class(c: _Ctx) -> float:
    """The categorical cross-entropy (``chain.cross_entropy``) of each cell's two classes
    ``(1 − p, p)`` as log-probabilities: a Bernoulli label is the C = 2 case of the categorical
    one (softmax over the logits ``[0, x]`` is ``(1 − σ(x), σ(x))``)."""
    n, K = c.x.shape
    z = np.stack([c.l1p.ravel(), c.lp.ravel()], axis=1)
    y = np.where(np.repeat(c.counted, K), c.y.ravel().astype(np.int64), -100)
    sw = None if c.data.sample_weight is None else np.repeat(c.s, K)
    with np.errstate(invalid="ignore"):
        return float(
            cross_entropy(z, y, kind="log_probs", sample_weight=sw, ignore_index=-100, impl=_IMPL)
        )


# ----------------------------------------------------------------------------- the answers
def _s1(c: _Ctx) -> Section:
    lq = (c.s[:, None] * _log_q(c.lp, c.l1p, c.y))[c.counted].ravel()
    n = int(lq.size)
    with np.errstate(under="ignore"):
        running = np.cumprod(np.exp(lq))
        half = np.cumprod(np.full(n, 0.5))
    prod = float(running[-1]) if n else 1.0
    ll = float(lq.sum())
    own_zero = int(np.argmax(running == 0.0)) + 1 if n and running[-1] == 0.0 else None
    zero_at = int(np.argmax(half == 0.0)) + 1 if n and half[-1] == 0.0 else None
    uni = -n * math.log(2)
    what = "example" if c.K == 1 else f"cell (row × label; {c.K} labels a row)"
    lines = [
        f"The {n} factors are taken as independent, so the likelihood is the product of one",
        f"Bernoulli probability p^y (1 − p)^(1 − y) per {what}.",
        f"float64 product of the {n} factors: {_f(prod)}"
        + (f"  (0.0 from factor {own_zero} on)" if own_zero else "")
        + f";  log-likelihood: {_f(ll)} (= {_log10_text(ll)})",
        f"A coin (p = ½ for every label) on the same {n} factors: product "
        + (f"0.0 from factor {zero_at} on" if zero_at else _f(float(half[-1]) if n else 1.0))
        + f";  log-likelihood {_f(uni)} (= {_log10_text(uni)}), no underflow.",
        "Each factor is ≤ 1, so the product shrinks geometrically; the sum of logs does not.",
    ]
    values = {"n": n, "product": prod, "log_likelihood": ll, "uniform_log_likelihood": uni}
    return Section(
        1,
        "The likelihood is a product over i.i.d. examples, and it underflows",
        tuple(lines),
        values,
    )


def _s2(c: _Ctx) -> Section:
    keep = c.counted
    pos = (c.y == 1) & keep[:, None]
    neg = (c.y == 0) & keep[:, None]
    g = np.asarray(
        binary_cross_entropy_grad(
            c.x[:, 0] if c.K == 1 else c.x, c.data.target, reduction="sum", **c.o
        )
    ).reshape(c.x.shape)
    with np.errstate(invalid="ignore"):
        lp_pos = float(np.mean(c.lp[pos])) if pos.any() else math.nan
        l1p_neg = float(np.mean(c.l1p[neg])) if neg.any() else math.nan
    lines = [
        "Each factor p^y (1 − p)^(1 − y) has two switches: y = 1 keeps p (1 − p is raised to 0),",
        f"y = 0 keeps 1 − p. Here {int(pos.sum())} positive and {int(neg.sum())} negative "
        + ("labels (cells)" if c.K > 1 else "examples")
        + ":",
        f"  mean log p on the positives {_f(lp_pos)}, mean log(1 − p) on the negatives "
        f"{_f(l1p_neg)}.",
        "Are higher probabilities raised to higher powers encouraged? No: the exponents are",
        "switches, never rewards. What moves p is training: the gradient of the NLL with",
        "respect to the logit is p − y, negative on a positive (a descent step raises p) and",
        "positive on a negative (it lowers p); the push fades only as p → y.",
    ]
    values: dict[str, float] = {"log_p_positive": lp_pos, "log_1mp_negative": l1p_neg}
    if pos.any() and neg.any():
        gp, gn = float(np.mean(g[pos] < 0)), float(np.mean(g[neg] > 0))
        lines.append(
            f"  here: p − y < 0 on {gp:.0%} of the positives and > 0 on {gn:.0%} of the negatives"
        )
        values.update({"grad_positive_negative": gp, "grad_negative_positive": gn})
    p = np.array(CONFIDENT_MISTAKES)
    xm = np.log(p / (1 - p))
    cost = np.asarray(binary_cross_entropy(xm, np.zeros(3), reduction="none"))
    gb = np.asarray(binary_cross_entropy_grad(xm, np.zeros(3), reduction="sum"))
    lines += [
        "What does multiplying both terms induce? Maximising the product pulls p up on the",
        "positives and down on the negatives with a bounded gradient (−1 ≤ p − y ≤ 1), but a",
        "confident mistake costs without bound: a negative given p = "
        + ", ".join(f"{v:g}" for v in p)
        + " costs",
        "  −log(1 − p) = "
        + ", ".join(_f(float(v), 4) for v in cost)
        + " nats, while its gradient p − y stays "
        + ", ".join(_f(float(v), 6) for v in gb)
        + ".",
    ]
    values.update({f"mistake_cost_{v:g}": float(k) for v, k in zip(p, cost, strict=True)})
    return Section(2, "The exponents are switches", tuple(lines), values)


def _s3(c: _Ctx) -> tuple[Section, dict]:
    ce_t = [c.bce(c.x * t) for t in TEMPERATURES]
    rows = [f"  {_f(t, 3):>6}  {_f(v):>14}" for t, v in zip(TEMPERATURES, ce_t, strict=True)]
    lines = [
        "The likelihood is maximal (= 1) when every p = y: all the mass on the observed labels.",
        "Sharpening these predictions (each logit log(p / (1 − p)) times s):",
        "  s         NLL/" + ("label" if c.K > 1 else "example"),
        *rows,
        "On data the model was not fitted to, confidence pays off only while it is right;",
        "every mistake costs ∝ s.",
    ]
    curves = {"sharpness": np.asarray(TEMPERATURES), "sharpness_heldout": np.asarray(ce_t)}
    values = {f"ce_s{t:g}": v for t, v in zip(TEMPERATURES, ce_t, strict=True)}
    return Section(
        3,
        "Maximal likelihood: all mass on the observed labels — over-confident",
        tuple(lines),
        values,
    ), curves


def _s4(c: _Ctx) -> Section:
    data = c.data
    ce = c.bce(c.x)
    two = _two_class(c)
    with np.errstate(invalid="ignore"):
        t = np.where(c.counted[:, None], c.s[:, None] * _log_q(c.lp, c.l1p, c.y), 0.0)
        seed = float(-t.sum() / (c.K * c.W)) if c.W else math.nan
    if c.K == 1:
        lines = [
            "A binary label is the C = 2 case of the categorical likelihood Π_i Π_c q_ic^{y_ic}:",
            "softmax over the logits [0, x] gives (1 − p, p) with p = σ(x).",
            f"Here: binary CE {_f(ce, 12)}; categorical CE of (1 − p, p) {_f(two, 12)};",
            f"the notes' formula −mean[y log p + (1−y) log(1−p)]: {_f(seed, 12)}.",
        ]
        return Section(
            4,
            "Many classes: the categorical likelihood, binary as C = 2",
            tuple(lines),
            {"binary": ce, "categorical": two, "seed_formula": seed},
        )
    per = []
    for k in range(c.K):
        col = float(
            binary_cross_entropy(
                data.pred[:, k], data.target[:, k], kind=data.kind, sample_weight=data.sample_weight
            )
        )
        per.append((k, float((c.s * c.y[:, k])[c.counted].sum()), col))
    width = max(12, *(len(_label(data, k)) for k in range(c.K)))
    lines = [
        f"Not one categorical label: {c.K} independent Bernoulli labels a row, so the likelihood",
        "is Π_i Π_k p_ik^y_ik (1 − p_ik)^(1 − y_ik) and each label has its own binary CE:",
        f"  {'label':<{width}} {'positives':>10} {'binary CE':>14}",
        *(f"  {_label(data, k):<{width}} {_f(w):>10} {_f(v):>14}" for k, w, v in per[:50]),
        f"  {'mean':<{width}} {'':>10} {_f(float(np.mean([v for _, _, v in per]))):>14}"
        f"   = the cross-entropy above (what `evaluate` reports)",
        "A row with no positive label is a row like any other: its K negatives count.",
    ]
    values = {f"label_{k}": v for k, _, v in per}
    values["mean"] = float(np.mean([v for _, _, v in per]))
    return Section(4, "Many labels: K independent Bernoulli likelihoods", tuple(lines), values)


def _s5(c: _Ctx) -> Section:
    data = c.data
    perm = np.random.default_rng(0).permutation(c.x.shape[0])
    sw = None if data.sample_weight is None else data.sample_weight[perm]
    o: dict[str, Any] = {k: v for k, v in c.o.items() if k != "sample_weight"}
    x = c.x[:, 0] if c.K == 1 else c.x

    def ll(pred: np.ndarray, target: np.ndarray) -> float:
        return -float(binary_cross_entropy(pred, target, reduction="sum", sample_weight=sw, **o))

    pairs = ll(x[perm], data.target[perm])
    broken = ll(x, data.target[perm])
    p = np.exp(c.lp[c.counted])
    freq = c.y[c.counted]
    gap = float(np.abs(p.mean(axis=0) - freq.mean(axis=0)).max()) if p.size else math.nan
    lines = [
        "The model is a conditional distribution: P(y = 1 | x) = p(x) for each input x. The",
        "inputs are given, not modelled — no p(x) of the inputs appears anywhere.",
        f"Shuffling the (x_i, y_i) pairs together leaves the log-likelihood as it is: "
        f"{_f(-c.bce(c.x, reduction='sum'), 12)} vs {_f(pairs, 12)};",
        f"breaking the pairing (labels shuffled against the inputs) gives {_f(broken)}.",
        "Averaged over x, p matches the positive rate: max |mean_x p − freq(y = 1)| = "
        f"{_f(gap, 3)}" + (" (over the labels)." if c.K > 1 else "."),
    ]
    return Section(
        5,
        "What the distribution is: q(y | x), with x given",
        tuple(lines),
        {"shuffled_pairs": pairs, "broken_pairs": broken, "mean_gap": gap},
    )


def _s6(c: _Ctx) -> Section:
    line = (
        f"Does not apply here: the labels of a {c.data.task} task are 0/1, so H(y) = 0 and "
        "CE = KL (run `crossentropy explain` without a file for soft labels)."
    )
    return Section(6, "Soft labels: CE = H(y) + KL(y ‖ q), minimal at q = y", (line,))


def _s7(c: _Ctx) -> Section:
    data = c.data
    n = c.x.shape[0]
    hide = np.zeros(n, dtype=bool)
    hide[np.flatnonzero(c.counted)[::10]] = True
    x = c.x[:, 0] if c.K == 1 else c.x
    o: dict[str, Any] = {k: v for k, v in c.o.items() if k != "sample_weight"}

    def ce(pred, target, sw) -> float:
        return float(binary_cross_entropy(pred, target, sample_weight=sw, **o))

    zero_w = ce(x, data.target, np.where(hide, 0.0, c.s))
    sel = c.counted & ~hide
    dropped = ce(x[sel], data.target[sel], None if data.sample_weight is None else c.s[sel])
    half = ce(x, data.target, np.where(hide, 0.5 * c.s, c.s))
    lines = [f"Hide every tenth counted example ({int(hide.sum())} of {int(c.counted.sum())}):"]
    values = {"sample_weight_zero": zero_w, "dropped": dropped, "half_weight": half}
    if data.task == "binary":
        t = data.target.copy()
        t[hide] = data.ignore_index
        ign = ce(x, t, data.sample_weight)
        lines.append(f"  hard mask, ignore_index:       {ign:.12f}")
        values["ignore_index"] = ign
    lines += [
        f"  hard mask, sample_weight = 0:  {zero_w:.12f}",
        f"  rows dropped:                  {dropped:.12f}",
        "  (each divides by the weight of the rows that count"
        + (", times K labels)" if c.K > 1 else ")"),
        f"  soft mask, sample_weight 0.5:  {half:.12f}  = Σ s_i ℓ_i / Σ s_i",
    ]
    return Section(7, "Hard and soft masking: what the mean divides by", tuple(lines), values)


def _s9(c: _Ctx) -> Section:
    ce = c.bce(c.x)
    p = np.exp(c.lp[c.counted])

    def h(lp: np.ndarray, l1p: np.ndarray) -> float:  # mean Bernoulli entropy, 0·log 0 = 0
        with np.errstate(invalid="ignore", under="ignore"):
            a = np.where(lp == -np.inf, 0.0, np.exp(lp) * lp)
            b = np.where(l1p == -np.inf, 0.0, np.exp(l1p) * l1p)
        return float(-np.mean(a + b)) if lp.size else math.nan

    s = 8.0
    hq = h(c.lp[c.counted], c.l1p[c.counted])
    xs = c.x * s
    hq_s = h(-np.logaddexp(0.0, -xs)[c.counted], -np.logaddexp(0.0, xs)[c.counted])
    ce_s = c.bce(xs)
    lines = [
        "The notes end: summing log-probabilities gives 'the entropy of the estimated",
        "distribution', which training minimises. Not so: training minimises the",
        "cross-entropy of the labels under the model; with 0/1 labels H(y) = 0, so CE = KL.",
        f"On these data: CE {_f(ce)};  mean entropy of the predictions H(p) {_f(hq)}"
        f"  (−[p log p + (1 − p) log(1 − p)], {int(p.size)} "
        + ("cells)." if c.K > 1 else "examples)."),
        f"Lowering H(p) is not the goal: sharpening the logits ×{_f(s)} gives H(p) {_f(hq_s)} "
        f"but CE {_f(ce_s)}",
        f"({'worse' if ce_s > ce else 'better' if ce_s < ce else 'no better'}). A model that "
        "minimised H(p) would say 0 or 1 whatever the label.",
    ]
    return Section(
        9,
        "The misconception: training minimises CE, not the entropy of q",
        tuple(lines),
        {"cross_entropy": ce, "entropy_q": hq, "sharpened_ce": ce_s, "sharpened_entropy_q": hq_s},
    )


def _notes(c: _Ctx) -> tuple[str, ...]:
    """Why the chain is infinite when an observed label has probability exactly 0."""
    lq = _log_q(c.lp, c.l1p, c.y)
    bad = np.isneginf(lq) & c.counted[:, None]
    rows = np.flatnonzero(bad.any(axis=1))
    if not rows.size:
        return ()
    shown = ", ".join(str(int(r)) for r in rows[:5]) + (" …" if rows.size > 5 else "")
    return (
        f"{rows.size} row{'s' if rows.size > 1 else ''} ({shown}) give probability exactly 0 to a "
        "label that was observed (p = 0 on a positive or p = 1 on a negative).",
        "log 0 = −inf, so the log-likelihood is −inf and the NLL, cross-entropy and perplexity",
        "are +inf (the likelihood is 0). That is the true value, not a failure; give the",
        "model's logits instead if the 0s and 1s come from rounding (nothing is clipped).",
    )


def bernoulli_walkthrough(data: Data) -> tuple[Walkthrough, tuple[Identity, ...]]:
    """The walk-through of a binary or multi-label :class:`Data` and its identities (the
    caller checks them). Warnings of means over nothing are the text's to explain."""
    c = _Ctx(data)
    steps, ids = _chain(c)
    counted = bool(c.counted.any())
    with warnings.catch_warnings():
        if not counted:
            warnings.simplefilter("ignore", RuntimeWarning)
        s3, curves = _s3(c)
        s8, _ = _section8(data)  # training needs the inputs: the file has none
        secs: tuple[Section, ...] = (_s1(c), _s2(c), s3, _s4(c), _s5(c), _s6(c), _s7(c), s8, _s9(c))
    if not counted:
        secs = tuple(
            Section(s.number, s.title, _NOTHING_COUNTS)
            if s.number in _ON_MEANS and s.number != 6
            else s
            for s in secs
        )
    lq = (c.s[:, None] * _log_q(c.lp, c.l1p, c.y))[c.counted].ravel()
    curves = {**curves, "log_q_observed": lq}
    w = Walkthrough(
        data.source,
        int(c.x.shape[0]),
        2 if data.task == "binary" else c.K,
        data.kind,
        steps,
        ids,
        secs,
        curves,
        _notes(c),
        data.task,
    )
    return w, ids
